/**
 * Preview: the exact Genesys request(s) the bridge would send for a sample webhook, or why it would
 * send none. Runs the same steps as ingress and the dispatcher (content type, the source adapter's
 * signature check and parser, route matching, mapping with the flow's declared types) and launches
 * nothing. Used by `POST /admin/mappings/preview` and `crm-flow-bridge preview`.
 */
import type { InputType } from '../mapping/input-types.js'
import { buildLaunchRequest, executionName, type CompiledRoute, type InputProblem, type LaunchRequest } from '../mapping/mapping-engine.js'
import type { Mappings } from '../mapping/mappings.js'
import { SourceRejection, type IncomingWebhook } from '../sources/source-adapter.js'

export interface PreviewRequest {
  mappings: Mappings
  /** Route to preview; its source is used. */
  route?: string | undefined
  /** Source to preview (every route of it); needed when `route` is not given. */
  source?: string | undefined
  body: Buffer
  /** Header names in any case. */
  headers: Record<string, string | string[] | undefined>
  /** Base URL the CRM would post to (signatures of some CRMs cover it), e.g. `https://bridge.example.com`. */
  baseUrl: string
  /** Run the source's signature/credential check (default true). */
  checkAuth?: boolean
  /** Declared input types of a route's flow, when known (as the dispatcher uses them). */
  schemaTypes?: (route: CompiledRoute) => Promise<ReadonlyMap<string, InputType> | undefined>
  now?: Date
}

export interface RoutePreview {
  route: string
  matched: boolean
  /** The launch request body, exactly as the dispatcher would build it now. */
  request?: LaunchRequest
  /** Why the request cannot be built (the delivery would fail without a launch). */
  problems?: InputProblem[]
  /** Whether the flow's declared types were known for coercion. */
  flowTypesKnown?: boolean
}

export type PreviewResult =
  | { ok: true, source: string, events: Array<{ eventId: string, dedupeKey: string, recordId: string | null, routes: RoutePreview[] }>, launches: number }
  | { ok: false, stage: 'usage' | 'content_type' | 'authenticate' | 'parse', code: string, message: string, status?: number }

/** The execution name previews use in place of a delivery id, which only exists once stored. */
export const previewExecutionName = executionName('<delivery-id>')

export async function previewWebhook (input: PreviewRequest): Promise<PreviewResult> {
  const { mappings } = input
  let route: CompiledRoute | undefined
  if (input.route !== undefined) {
    route = mappings.route(input.route)
    if (route === undefined) return { ok: false, stage: 'usage', code: 'unknown_route', message: `no route named "${input.route}"; routes: ${mappings.routes.map(r => r.name).join(', ') || '(none)'}` }
    if (!route.enabled) return { ok: false, stage: 'usage', code: 'route_disabled', message: `route "${route.name}" is disabled (enabled: false): webhooks never reach it` }
    if (input.source !== undefined && input.source !== route.source) return { ok: false, stage: 'usage', code: 'source_mismatch', message: `route "${route.name}" belongs to source "${route.source}", not "${input.source}"` }
  }
  const sourceName = route?.source ?? input.source
  if (sourceName === undefined) return { ok: false, stage: 'usage', code: 'missing_route', message: 'give a route or a source' }
  const adapter = mappings.sources.get(sourceName)
  if (adapter === undefined) return { ok: false, stage: 'usage', code: 'unknown_source', message: `no source named "${sourceName}"; sources: ${[...mappings.sources.keys()].join(', ') || '(none)'}` }

  const headers = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v]))
  if (headers['content-type'] === undefined) headers['content-type'] = adapter.contentTypes[0]
  const contentType = String(headers['content-type']).split(';')[0]!.trim().toLowerCase()
  if (!adapter.contentTypes.includes(contentType)) {
    return { ok: false, stage: 'content_type', code: 'unsupported_content_type', status: 415, message: `content type "${contentType}" is not accepted by source "${sourceName}"; send ${adapter.contentTypes.join(' or ')}` }
  }
  const path = `/webhooks/${sourceName}`
  const webhook: IncomingWebhook = {
    method: 'POST',
    url: path,
    publicUrl: `${input.baseUrl.replace(/\/+$/, '')}${path}`,
    headers,
    query: {},
    rawBody: input.body,
    receivedAt: input.now ?? new Date(),
    remoteAddress: '127.0.0.1'
  }
  let events
  try {
    if (input.checkAuth !== false) adapter.authenticate(webhook)
  } catch (err) {
    if (!(err instanceof SourceRejection)) throw err
    return { ok: false, stage: 'authenticate', code: err.code, status: err.statusCode, message: err.message }
  }
  try {
    events = adapter.parse(webhook)
  } catch (err) {
    if (!(err instanceof SourceRejection)) throw err
    return { ok: false, stage: 'parse', code: err.code, status: err.statusCode, message: err.message }
  }

  const routes = route === undefined ? mappings.routesFor(sourceName) : [route]
  const types = new Map<string, ReadonlyMap<string, InputType> | undefined>()
  for (const r of routes) types.set(r.name, await input.schemaTypes?.(r))
  let launches = 0
  const previews = events.map(({ dedupeKey, event }) => ({
    eventId: event.event.id,
    dedupeKey,
    recordId: event.record.id,
    routes: routes.map((r): RoutePreview => {
      if (!r.matches(event)) return { route: r.name, matched: false }
      const schemaTypes = types.get(r.name)
      const mapped = buildLaunchRequest(r, event, previewExecutionName, schemaTypes)
      if (!mapped.ok) return { route: r.name, matched: true, problems: mapped.problems, flowTypesKnown: schemaTypes !== undefined }
      launches++
      return { route: r.name, matched: true, request: mapped.request, flowTypesKnown: schemaTypes !== undefined }
    })
  }))
  return { ok: true, source: sourceName, events: previews, launches }
}
