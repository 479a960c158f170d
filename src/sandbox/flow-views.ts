/**
 * JSON shapes of `Flow`, `FlowVersion`, `FlowExecutionLaunchResponse` and `FlowRuntimeExecution`, with
 * field order and values following the real bodies quoted in the fact sheet and the Genesys blueprint
 * Postman collection (e.g. FlowVersion `name` equals its id, `type` is upper case in responses).
 */
import { buildInputSchema, buildOutputSchema } from './input-schema.js'
import type { SandboxExecution, SandboxFlow, SandboxFlowVersion } from './sandbox-types.js'

const flowUri = (flowId: string) => `/api/v2/flows/${encodeURIComponent(flowId)}`
const versionUri = (flowId: string, versionId: string) => `${flowUri(flowId)}/versions/${encodeURIComponent(versionId)}`
const executionUri = (executionId: string) => `/api/v2/flows/executions/${executionId}`

export function findVersion (flow: SandboxFlow, versionId: string): SandboxFlowVersion | undefined {
  return flow.versions.find(version => version.id === versionId)
}

export function publishedVersionOf (flow: SandboxFlow): SandboxFlowVersion | undefined {
  return flow.publishedVersion === null ? undefined : findVersion(flow, flow.publishedVersion)
}

export function flowVersionView (
  flowId: string,
  version: SandboxFlowVersion,
  defaultPublished: string,
  withSchemas = true
): Record<string, unknown> {
  return {
    id: version.id,
    name: version.id,
    commitVersion: version.id,
    secure: false,
    debug: false,
    configurationUri: `${versionUri(flowId, version.id)}/configuration`,
    ...(withSchemas
      ? { inputSchema: buildInputSchema(version.inputs), outputSchema: buildOutputSchema(version.outputs ?? {}) }
      : {}),
    datePublished: version.datePublished ?? defaultPublished,
    selfUri: versionUri(flowId, version.id)
  }
}

/** `inputSchema`/`outputSchema` only with `includeSchemas`, which is a parameter of the list route. */
export function flowView (flow: SandboxFlow, defaultPublished: string, includeSchemas: boolean): Record<string, unknown> {
  const published = publishedVersionOf(flow)
  return {
    id: flow.id,
    name: flow.name,
    type: flow.type.toUpperCase(),
    active: published !== undefined,
    system: false,
    deleted: false,
    ...(published !== undefined ? { publishedVersion: flowVersionView(flow.id, published, defaultPublished, false) } : {}),
    ...(includeSchemas && published !== undefined
      ? { inputSchema: buildInputSchema(published.inputs), outputSchema: buildOutputSchema(published.outputs ?? {}) }
      : {}),
    selfUri: flowUri(flow.id)
  }
}

export function launchResponseView (execution: SandboxExecution): Record<string, unknown> {
  return {
    id: execution.id,
    name: execution.name,
    flowVersion: { id: execution.flowVersion.id, selfUri: versionUri(execution.flowId, execution.flowVersion.id) },
    selfUri: executionUri(execution.id)
  }
}

const COMPLETION_REASON = { COMPLETED: 'Success', FAILED: 'Failure', ERROR: 'Error' } as const

function finishedFields (execution: SandboxExecution, doneAt: number): Record<string, unknown> {
  const { outcome, flowVersion } = execution
  const fields: Record<string, unknown> = {
    status: outcome.status,
    dateCompleted: new Date(doneAt).toISOString(),
    completionReason: COMPLETION_REASON[outcome.status]
  }
  if (outcome.status === 'COMPLETED') {
    // Genesys lists every declared output, null when the flow never set it.
    const declared = Object.fromEntries(Object.keys(flowVersion.outputs ?? {}).map(name => [`Flow.${name}`, null]))
    fields['outputData'] = { ...declared, ...outcome.outputData }
  } else {
    const message = outcome.errorMessage ?? `Flow execution ${outcome.status === 'FAILED' ? 'failed' : 'ended in error'} (sandbox outcome)`
    fields['flowErrorInfo'] = {
      message,
      code: outcome.errorCode ?? `error.sandbox.${outcome.status.toLowerCase()}`,
      messageWithParams: message,
      messageParams: {}
    }
  }
  return fields
}

export function executionView (execution: SandboxExecution, now: number, defaultPublished: string): Record<string, unknown> {
  const doneAt = execution.launchedAt + (execution.outcome.afterMs ?? 0)
  return {
    id: execution.id,
    name: execution.name,
    flowVersion: flowVersionView(execution.flowId, execution.flowVersion, defaultPublished),
    dateLaunched: new Date(execution.launchedAt).toISOString(),
    ...(now >= doneAt ? finishedFields(execution, doneAt) : { status: 'RUNNING' }),
    selfUri: executionUri(execution.id)
  }
}
