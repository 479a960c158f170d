/**
 * `POST /api/v2/flows/executions` (launch) and `GET /api/v2/flows/executions/:flowExecutionId`.
 * The launch body is checked against the SDK's `FlowExecutionLaunchRequest` model exactly: fields outside
 * flowId/flowVersion/inputData/name (the forum-invented `data`, `inputs`, …) are a 400, not silently dropped.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { sendError, sendJson } from './error-body.js'
import { executionView, findVersion, launchResponseView, publishedVersionOf } from './flow-views.js'
import { checkInputData } from './input-schema.js'
import { mediaType } from './media-type.js'
import type { Pipeline, SandboxRouteConfig } from './request-pipeline.js'
import type { SandboxState } from './sandbox-state.js'
import type { SandboxExecution } from './sandbox-types.js'

interface LaunchRequest {
  flowId: string
  flowVersion?: string
  inputData: Record<string, unknown>
  name?: string
}

const LAUNCH_FIELDS = ['flowId', 'flowVersion', 'inputData', 'name']
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function parseLaunchRequest (body: unknown): { ok: true, value: LaunchRequest } | { ok: false, message: string } {
  const fail = (message: string) => ({ ok: false as const, message })
  if (!isObject(body)) return fail('The request body must be a FlowExecutionLaunchRequest JSON object.')
  const unknown = Object.keys(body).filter(key => !LAUNCH_FIELDS.includes(key))
  if (unknown.length > 0) {
    const hint = unknown.some(key => ['data', 'inputs', 'parameters', 'input'].includes(key)) ? ' Flow inputs go in "inputData".' : ''
    return fail(`Unrecognized field(s) ${unknown.map(key => `"${key}"`).join(', ')} in FlowExecutionLaunchRequest; allowed fields are ${LAUNCH_FIELDS.join(', ')}.${hint}`)
  }
  const { flowId, flowVersion, inputData, name } = body
  if (typeof flowId !== 'string' || flowId === '') return fail('flowId is required and must be a non-empty string.')
  if (flowVersion !== undefined && flowVersion !== null && typeof flowVersion !== 'string') return fail('flowVersion must be a string.')
  if (inputData !== undefined && inputData !== null && !isObject(inputData)) return fail('inputData must be a JSON object.')
  if (name !== undefined && name !== null && typeof name !== 'string') return fail('name must be a string.')
  return {
    ok: true,
    value: {
      flowId,
      // "Omit this value (or supply null/empty) to use the latest published version." (SDK model doc)
      ...(typeof flowVersion === 'string' && flowVersion !== '' ? { flowVersion } : {}),
      inputData: inputData ?? {},
      ...(typeof name === 'string' ? { name } : {})
    }
  }
}

export function registerExecutionRoutes (app: FastifyInstance, state: SandboxState, pipeline: Pipeline): void {
  const launchConfig: SandboxRouteConfig = { faultTarget: 'launch', auth: true }
  app.post('/api/v2/flows/executions', { config: launchConfig }, async (request, reply) => {
    const reject = (status: number, code?: string, message?: string): FastifyReply => {
      state.stats.launchesRejected++
      return sendError(reply, status, code, message)
    }
    if (mediaType(request) !== 'application/json') return reject(415)
    const parsed = parseLaunchRequest(request.body)
    if (!parsed.ok) return reject(400, 'bad.request', parsed.message)
    const { flowId, flowVersion, inputData, name } = parsed.value

    const flow = state.flows.get(flowId)
    if (flow === undefined) return reject(404, 'not.found', `Flow ${flowId} was not found.`)
    if (flow.type !== 'workflow') {
      return reject(400, 'flow.type.not.launchable',
        `Flow ${flowId} is of type ${flow.type.toUpperCase()}; only WORKFLOW flows can be launched with /api/v2/flows/executions.`)
    }
    const version = flowVersion !== undefined ? findVersion(flow, flowVersion) : publishedVersionOf(flow)
    if (version === undefined) {
      return flowVersion !== undefined
        ? reject(404, 'not.found', `Version ${flowVersion} of flow ${flowId} was not found.`)
        : reject(400, 'flow.not.published', `Flow ${flowId} has no published version; publish it or name a flowVersion.`)
    }
    const check = checkInputData(inputData, version, state.unknownInputs)
    if (!check.ok) {
      return reject(400, 'bad.request', `Invalid inputData for flow ${flowId} version ${version.id}: ${check.problems.join('; ')}`)
    }

    const execution: SandboxExecution = {
      id: randomUUID(),
      name: name ?? flow.name,
      flowId,
      flowName: flow.name,
      flowVersion: structuredClone(version),
      inputData: check.accepted,
      launchedAt: state.now(),
      clientId: pipeline.clientOf(request),
      correlationId: request.id,
      outcome: structuredClone(flow.outcome ?? { status: 'COMPLETED' })
    }
    state.executions.set(execution.id, execution)
    state.stats.launches++
    request.log.info({ executionId: execution.id, flowId, flowVersion: version.id }, 'flow launched')
    return sendJson(reply, 200, launchResponseView(execution))
  })

  const executionConfig: SandboxRouteConfig = { faultTarget: 'execution', auth: true }
  app.get<{ Params: { flowExecutionId: string } }>('/api/v2/flows/executions/:flowExecutionId', { config: executionConfig }, async (request, reply) => {
    const execution = state.executions.get(request.params.flowExecutionId)
    if (execution === undefined) return sendError(reply, 404, 'not.found', `Flow execution ${request.params.flowExecutionId} was not found.`)
    return sendJson(reply, 200, executionView(execution, state.now(), state.startedAt))
  })
}
