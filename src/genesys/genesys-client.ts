import { Agent, type Dispatcher } from 'undici'
import type { Log } from '../logging/log.js'
import type { LaunchRequest } from '../mapping/mapping-engine.js'
import { GenesysTokenError, toNetworkError } from './genesys-errors.js'
import type { RateLimiter } from './rate-limiter.js'

export interface GenesysResult {
  status: number
  headers: Record<string, string>
  /** Parsed JSON when the body is JSON, the text otherwise, null when empty. */
  body: unknown
  /** Raw body text, for logs and summaries. */
  text: string
  correlationId: string | null
  durationMs: number
}

export type GenesysOperation = 'token' | 'launch' | 'getFlow' | 'getFlowVersion' | 'getExecution'

export interface GenesysClientHooks {
  /** Every HTTP exchange with Genesys: status null when no answer came. */
  onCall?: (info: { operation: GenesysOperation, status: number | null, durationMs: number }) => void
  onTokenFetched?: (info: { expiresInSeconds: number }) => void
}

export interface GenesysClientOptions {
  apiUrl: string
  loginUrl: string
  clientId: string
  clientSecret: string
  timeoutMs: number
  rateLimiter: RateLimiter
  log: Log
  /** undici dispatcher; default an Agent with the timeouts above. Tests pass their own. */
  dispatcher?: Dispatcher
  hooks?: GenesysClientHooks
  now?: () => number
}

export interface GenesysClient {
  /** POST /api/v2/flows/executions. Any HTTP answer is returned; no answer throws GenesysNetworkError. */
  launch (request: LaunchRequest, signal?: AbortSignal): Promise<GenesysResult>
  getFlow (flowId: string, signal?: AbortSignal): Promise<GenesysResult>
  getFlowVersion (flowId: string, versionId: string, signal?: AbortSignal): Promise<GenesysResult>
  getExecution (executionId: string, signal?: AbortSignal): Promise<GenesysResult>
  /** Resolves when a token can be obtained (cached or fresh); for readiness checks. */
  checkToken (signal?: AbortSignal): Promise<void>
  close (): Promise<void>
}

interface CachedToken {
  value: string
  expiresAt: number
  refreshAt: number
}

/**
 * Genesys Cloud Platform API client: OAuth client credentials with a cached token shared by all
 * callers (one fetch in flight at a time, refreshed before expiry, fetched again once on a 401),
 * and the rate budget spent before every request. It does not retry: the dispatcher owns the
 * retry schedule, durably.
 */
export function createGenesysClient (options: GenesysClientOptions): GenesysClient {
  const now = options.now ?? Date.now
  const dispatcher = options.dispatcher ?? new Agent({
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connectTimeout: Math.min(options.timeoutMs, 10_000),
    keepAliveTimeout: 30_000
  })
  const ownsDispatcher = options.dispatcher === undefined
  const log = options.log
  let token: CachedToken | null = null
  let tokenFetch: Promise<CachedToken> | null = null

  async function exchange (operation: GenesysOperation, url: string, init: { method: 'GET' | 'POST', headers: Record<string, string>, body?: string }, signal?: AbortSignal): Promise<GenesysResult> {
    await options.rateLimiter.acquire(signal)
    const started = performance.now()
    const target = new URL(url)
    try {
      const response = await dispatcher.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: init.method,
        headers: init.headers,
        body: init.body,
        signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs
      })
      const text = await response.body.text()
      const durationMs = performance.now() - started
      const headers = flattenHeaders(response.headers)
      const result: GenesysResult = {
        status: response.statusCode,
        headers,
        body: parseBody(text, headers['content-type']),
        text,
        correlationId: headers['inin-correlation-id'] ?? null,
        durationMs
      }
      if (result.status === 429) options.rateLimiter.pause(new Date(now() + (parseRetryAfter(headers['retry-after'], now()) ?? 1000)))
      else options.rateLimiter.answered()
      options.hooks?.onCall?.({ operation, status: result.status, durationMs })
      return result
    } catch (err) {
      options.rateLimiter.answered()
      options.hooks?.onCall?.({ operation, status: null, durationMs: performance.now() - started })
      if (signal?.aborted === true) throw err
      throw toNetworkError(err, `${init.method} ${target.pathname}`)
    }
  }

  async function fetchToken (signal?: AbortSignal): Promise<CachedToken> {
    const basic = Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')
    let result: GenesysResult
    try {
      result = await exchange('token', `${options.loginUrl}/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: 'grant_type=client_credentials'
      }, signal)
    } catch (err) {
      throw new GenesysTokenError(`token request failed: ${(err as Error).message}`, null, 'token_unreachable', { cause: err })
    }
    const body = result.body as { access_token?: unknown, expires_in?: unknown, error?: unknown, error_description?: unknown } | null
    if (result.status !== 200 || typeof body?.access_token !== 'string') {
      const reason = typeof body?.error_description === 'string' ? body.error_description : typeof body?.error === 'string' ? body.error : result.text.slice(0, 200)
      const code = result.status === 401 || result.status === 400 ? 'token_rejected' : 'token_failed'
      throw new GenesysTokenError(`token request answered ${result.status}: ${reason}${code === 'token_rejected' ? ' (check GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION)' : ''}`, result.status, code)
    }
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 86_400
    // Refresh ahead of expiry by a tenth of the lifetime, at most 5 minutes, so no call carries a token about to lapse.
    const margin = Math.min(300, expiresIn / 10) * 1000
    const fetchedAt = now()
    log.info({ event: 'genesys.token_fetched', expiresInSeconds: expiresIn }, 'genesys token fetched')
    options.hooks?.onTokenFetched?.({ expiresInSeconds: expiresIn })
    return { value: body.access_token, expiresAt: fetchedAt + expiresIn * 1000, refreshAt: fetchedAt + expiresIn * 1000 - margin }
  }

  async function currentToken (signal?: AbortSignal): Promise<string> {
    if (token !== null && now() < token.refreshAt) return token.value
    if (tokenFetch === null) {
      tokenFetch = fetchToken(signal).then(fresh => {
        token = fresh
        return fresh
      }).finally(() => { tokenFetch = null })
    }
    return (await tokenFetch).value
  }

  async function authorized (operation: GenesysOperation, method: 'GET' | 'POST', path: string, body: unknown, signal?: AbortSignal): Promise<GenesysResult> {
    const send = async (bearer: string): Promise<GenesysResult> => await exchange(operation, `${options.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    }, signal)
    const bearer = await currentToken(signal)
    const result = await send(bearer)
    if (result.status !== 401) return result
    // Revoked or expired early: drop this token (unless a concurrent caller already replaced it) and try once more.
    log.warn({ event: 'genesys.token_rejected', operation }, 'genesys rejected the token; fetching a new one')
    if (token?.value === bearer) token = null
    return await send(await currentToken(signal))
  }

  return {
    launch: async (request, signal) => await authorized('launch', 'POST', '/api/v2/flows/executions', request, signal),
    getFlow: async (flowId, signal) => await authorized('getFlow', 'GET', `/api/v2/flows/${encodeURIComponent(flowId)}`, undefined, signal),
    getFlowVersion: async (flowId, versionId, signal) =>
      await authorized('getFlowVersion', 'GET', `/api/v2/flows/${encodeURIComponent(flowId)}/versions/${encodeURIComponent(versionId)}`, undefined, signal),
    getExecution: async (executionId, signal) => await authorized('getExecution', 'GET', `/api/v2/flows/executions/${encodeURIComponent(executionId)}`, undefined, signal),
    checkToken: async (signal) => { await currentToken(signal) },
    close: async () => { if (ownsDispatcher) await dispatcher.close() }
  }
}

function flattenHeaders (headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

function parseBody (text: string, contentType: string | undefined): unknown {
  if (text === '') return null
  if (contentType === undefined || contentType.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return text
}

/** Retry-After as delta-seconds or an HTTP date → ms from now; null when absent or unreadable. */
export function parseRetryAfter (value: string | undefined, now: number): number | null {
  if (value === undefined || value.trim() === '') return null
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? null : Math.max(0, date - now)
}
