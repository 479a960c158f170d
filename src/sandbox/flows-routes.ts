/**
 * Read-only Architect routes used to discover flows and their declared inputs (fact sheet §8):
 * `GET /api/v2/flows`, `/flows/:flowId`, `/flows/:flowId/versions` and `/flows/:flowId/versions/:versionId`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { sendError, sendJson } from './error-body.js'
import { findVersion, flowVersionView, flowView } from './flow-views.js'
import type { SandboxRouteConfig } from './request-pipeline.js'
import type { SandboxState } from './sandbox-state.js'
import type { SandboxFlow } from './sandbox-types.js'

type Query = Record<string, string | string[] | undefined>

const DEFAULT_PAGE_SIZE = 25
// The flows query limits are graduated up to pageSize 500 (fact sheet §6), so that is the largest page accepted.
const MAX_PAGE_SIZE = 500

const values = (raw: string | string[] | undefined): string[] =>
  (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap(value => value.split(',')).map(v => v.trim()).filter(v => v !== '')

function intParam (query: Query, name: string, fallback: number, max: number): number | string {
  const [raw] = values(query[name])
  if (raw === undefined) return fallback
  const value = Number(raw)
  return Number.isInteger(value) && value >= 1 && value <= max ? value : `${name} must be an integer between 1 and ${max}.`
}

/** Sends `{ entities, pageSize, pageNumber, total, pageCount, …Uri }` for one page of `items`. */
function sendPage<T> (reply: FastifyReply, query: Query, basePath: string, items: T[], view: (item: T) => unknown): FastifyReply {
  const pageSize = intParam(query, 'pageSize', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
  const pageNumber = intParam(query, 'pageNumber', 1, Number.MAX_SAFE_INTEGER)
  if (typeof pageSize === 'string') return sendError(reply, 400, 'bad.request', pageSize)
  if (typeof pageNumber === 'string') return sendError(reply, 400, 'bad.request', pageNumber)
  const pageCount = Math.ceil(items.length / pageSize)
  const uri = (page: number) => {
    const params = new URLSearchParams()
    for (const [key, raw] of Object.entries(query)) {
      if (key !== 'pageNumber' && key !== 'pageSize') for (const value of values(raw)) params.append(key, value)
    }
    params.set('pageSize', String(pageSize))
    params.set('pageNumber', String(page))
    return `${basePath}?${params.toString()}`
  }
  return sendJson(reply, 200, {
    entities: items.slice((pageNumber - 1) * pageSize, pageNumber * pageSize).map(view),
    pageSize,
    pageNumber,
    total: items.length,
    firstUri: uri(1),
    selfUri: uri(pageNumber),
    ...(pageNumber < pageCount ? { nextUri: uri(pageNumber + 1) } : {}),
    ...(pageNumber > 1 ? { previousUri: uri(pageNumber - 1) } : {}),
    lastUri: uri(Math.max(pageCount, 1)),
    pageCount
  })
}

function listFlows (flows: Iterable<SandboxFlow>, query: Query): SandboxFlow[] | string {
  const types = values(query['type']).map(type => type.toLowerCase())
  const ids = values(query['id'])
  const name = values(query['name'])[0]?.toLowerCase().replaceAll('*', '')
  const sortBy = values(query['sortBy'])[0] ?? 'id'
  const sortOrder = values(query['sortOrder'])[0]?.toLowerCase() ?? 'asc'
  if (sortBy !== 'id' && sortBy !== 'name') return 'sortBy must be id or name.'
  if (sortOrder !== 'asc' && sortOrder !== 'desc') return 'sortOrder must be asc or desc.'
  const selected = [...flows].filter(flow =>
    (types.length === 0 || types.includes(flow.type)) &&
    (ids.length === 0 || ids.includes(flow.id)) &&
    (name === undefined || flow.name.toLowerCase().includes(name)))
  selected.sort((a, b) => a[sortBy].localeCompare(b[sortBy]) * (sortOrder === 'asc' ? 1 : -1))
  return selected
}

export function registerFlowsRoutes (app: FastifyInstance, state: SandboxState): void {
  const config: SandboxRouteConfig = { faultTarget: 'flows', auth: true }
  const notFound = (reply: FastifyReply, what: string) => sendError(reply, 404, 'not.found', `${what} was not found.`)

  app.get<{ Querystring: Query }>('/api/v2/flows', { config }, async (request, reply) => {
    const flows = listFlows(state.flows.values(), request.query)
    if (typeof flows === 'string') return sendError(reply, 400, 'bad.request', flows)
    const includeSchemas = values(request.query['includeSchemas'])[0]?.toLowerCase() === 'true'
    return sendPage(reply, request.query, '/api/v2/flows', flows, flow => flowView(flow, state.startedAt, includeSchemas))
  })

  app.get<{ Params: { flowId: string } }>('/api/v2/flows/:flowId', { config }, async (request, reply) => {
    const flow = state.flows.get(request.params.flowId)
    if (flow === undefined) return notFound(reply, `Flow ${request.params.flowId}`)
    return sendJson(reply, 200, flowView(flow, state.startedAt, false))
  })

  app.get<{ Params: { flowId: string }, Querystring: Query }>('/api/v2/flows/:flowId/versions', { config }, async (request, reply) => {
    const flow = state.flows.get(request.params.flowId)
    if (flow === undefined) return notFound(reply, `Flow ${request.params.flowId}`)
    const basePath = `/api/v2/flows/${encodeURIComponent(flow.id)}/versions`
    return sendPage(reply, request.query, basePath, flow.versions, version => flowVersionView(flow.id, version, state.startedAt, false))
  })

  app.get<{ Params: { flowId: string, versionId: string } }>('/api/v2/flows/:flowId/versions/:versionId', { config }, async (request, reply) => {
    const { flowId, versionId } = request.params
    const flow = state.flows.get(flowId)
    if (flow === undefined) return notFound(reply, `Flow ${flowId}`)
    const version = findVersion(flow, versionId)
    if (version === undefined) return notFound(reply, `Version ${versionId} of flow ${flowId}`)
    return sendJson(reply, 200, flowVersionView(flow.id, version, state.startedAt))
  })
}
