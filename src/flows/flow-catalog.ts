/**
 * Flows and their input schemas as Genesys publishes them, fetched through the Genesys client (so
 * every read spends the shared rate budget) and cached for a TTL. `GET /api/v2/flows/{id}` gives the
 * flow's type and published version; `GET /api/v2/flows/{id}/versions/{v}` gives that version's raw
 * `inputSchema`. Answers that say something about the flow (200, 404) are cached; failures to ask
 * (network, 401/403, 429, 5xx) are not, so the next look-up tries again.
 * @see /work/shared/genesys-api.md §8
 */
import type { GenesysClient, GenesysResult } from '../genesys/genesys-client.js'
import type { InputType } from '../mapping/input-types.js'
import { readInputSchema, schemaTypes, type FlowInputSchema } from './flow-schema.js'

export interface FlowInfo {
  id: string
  name: string | null
  /** As Genesys reports it, e.g. `WORKFLOW`, `INBOUNDCALL`. */
  type: string | null
  publishedVersion: string | null
}

export type FlowLookup =
  | { status: 'ok', flow: FlowInfo, versionId: string, schema: FlowInputSchema }
  | { status: 'flow_not_found', flowId: string }
  /** No version pinned and none published. */
  | { status: 'not_published', flow: FlowInfo }
  | { status: 'version_not_found', flow: FlowInfo, versionId: string }
  /** Genesys could not be asked or did not answer usefully; says nothing about the flow. */
  | { status: 'failed', flowId: string, message: string }

type Fetched<T> = { ok: true, value: T } | { ok: false, notFound: true } | { ok: false, notFound: false, message: string }

interface Entry<T> {
  at: number
  pending: Promise<Fetched<T>>
  settled?: Fetched<T>
}

interface VersionValue {
  schema: FlowInputSchema
  types: Map<string, InputType>
}

export interface FlowCatalogOptions {
  genesys: GenesysClient
  ttlMs: number
  now?: () => number
}

export class FlowCatalog {
  readonly #o: Required<FlowCatalogOptions>
  readonly #flows = new Map<string, Entry<FlowInfo>>()
  readonly #versions = new Map<string, Entry<VersionValue>>()

  constructor (options: FlowCatalogOptions) {
    this.#o = { now: Date.now, ...options }
  }

  /**
   * The flow and the input schema of `version` (or of the published version when null). Cached
   * answers younger than the TTL are used; with `since` (epoch ms), only answers fetched at or after it.
   */
  async lookup (flowId: string, version: string | null, options: { since?: number, signal?: AbortSignal } = {}): Promise<FlowLookup> {
    const { since, signal } = options
    const flow = await this.#get(this.#flows, flowId, since, async () => await this.#fetchFlow(flowId, signal))
    if (!flow.ok) return flow.notFound ? { status: 'flow_not_found', flowId } : { status: 'failed', flowId, message: flow.message }
    const versionId = version ?? flow.value.publishedVersion
    if (versionId === null) return { status: 'not_published', flow: flow.value }
    const fetched = await this.#get(this.#versions, `${flowId}@${versionId}`, since, async () => await this.#fetchVersion(flowId, versionId, signal))
    if (!fetched.ok) {
      return fetched.notFound ? { status: 'version_not_found', flow: flow.value, versionId } : { status: 'failed', flowId, message: fetched.message }
    }
    return { status: 'ok', flow: flow.value, versionId, schema: fetched.value.schema }
  }

  /**
   * Declared input types from the cache only (never waits on Genesys): what the dispatcher uses for
   * coercion. Undefined when the flow or version has not been read yet.
   */
  cachedTypes (flowId: string, version: string | null): ReadonlyMap<string, InputType> | undefined {
    const flow = this.#flows.get(flowId)?.settled
    if (flow === undefined || !flow.ok) return undefined
    const versionId = version ?? flow.value.publishedVersion
    if (versionId === null) return undefined
    const entry = this.#versions.get(`${flowId}@${versionId}`)?.settled
    return entry?.ok === true ? entry.value.types : undefined
  }

  /** Forgets what is cached about a flow, so the next look-up asks Genesys again. */
  invalidate (flowId: string): void {
    this.#flows.delete(flowId)
    for (const key of this.#versions.keys()) if (key.startsWith(`${flowId}@`)) this.#versions.delete(key)
  }

  async #get<T> (cache: Map<string, Entry<T>>, key: string, since: number | undefined, fetch: () => Promise<Fetched<T>>): Promise<Fetched<T>> {
    const now = this.#o.now()
    const cached = cache.get(key)
    // A fresh entry, or one being fetched right now, is shared by every caller.
    const fresh = cached !== undefined && (since === undefined ? cached.settled === undefined || now - cached.at < this.#o.ttlMs : cached.at >= since)
    if (fresh) return await cached.pending
    const entry: Entry<T> = { at: now, pending: fetch() }
    cache.set(key, entry)
    const result = await entry.pending
    if (cache.get(key) === entry) {
      // Keep the last good value while a refresh fails: a blip must not make routes look broken.
      if (!result.ok && !result.notFound && cached?.settled !== undefined) cache.set(key, cached)
      else if (!result.ok && !result.notFound) cache.delete(key)
      else entry.settled = result
    }
    return result
  }

  async #fetchFlow (flowId: string, signal?: AbortSignal): Promise<Fetched<FlowInfo>> {
    const result = await ask(async () => await this.#o.genesys.getFlow(flowId, signal))
    if (!isResult(result)) return result
    const body = (typeof result.body === 'object' && result.body !== null ? result.body : {}) as Record<string, unknown>
    const published = body.publishedVersion as { id?: unknown } | undefined
    return {
      ok: true,
      value: {
        id: flowId,
        name: typeof body.name === 'string' ? body.name : null,
        type: typeof body.type === 'string' ? body.type : null,
        publishedVersion: typeof published?.id === 'string' ? published.id : typeof published?.id === 'number' ? String(published.id) : null
      }
    }
  }

  async #fetchVersion (flowId: string, versionId: string, signal?: AbortSignal): Promise<Fetched<VersionValue>> {
    const result = await ask(async () => await this.#o.genesys.getFlowVersion(flowId, versionId, signal))
    if (!isResult(result)) return result
    const schema = readInputSchema((result.body as { inputSchema?: unknown } | null)?.inputSchema)
    return { ok: true, value: { schema, types: schemaTypes(schema) } }
  }
}

function isResult (value: GenesysResult | Fetched<never>): value is GenesysResult {
  return 'status' in value
}

/** One GET: a 2xx result, a 404, or why the flow could not be read. */
async function ask (call: () => Promise<GenesysResult>): Promise<GenesysResult | Fetched<never>> {
  let result: GenesysResult
  try {
    result = await call()
  } catch (err) {
    return { ok: false, notFound: false, message: (err as Error).message }
  }
  if (result.status >= 200 && result.status < 300) return result
  if (result.status === 404) return { ok: false, notFound: true }
  const body = result.body as { message?: unknown } | null
  const reason = typeof body?.message === 'string' ? body.message : result.text.slice(0, 200)
  const hint = result.status === 403 ? ' (the OAuth client\'s role needs architect:flow:view)' : ''
  return { ok: false, notFound: false, message: `Genesys answered ${result.status}${reason === '' ? '' : `: ${reason}`}${hint}` }
}
