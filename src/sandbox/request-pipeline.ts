/**
 * Cross-cutting request handling, in the order a request meets it:
 *   1. onRequest: `ININ-Correlation-Id` (= Fastify's request id) and the request record.
 *   2. (Fastify parses the body; a parse failure is answered by the error handler below.)
 *   3. preValidation, on routes that declare a `faultTarget`: faults, then bearer auth and the rate limit
 *      on routes that declare `auth`. Faults come first because they stand for the network and gateway
 *      in front of Genesys; they run after parsing so the record still shows the body the client sent.
 *   4. onResponse: the status answered goes into the record (reset/hang faults leave it null).
 * @see https://fastify.dev/docs/latest/Reference/Lifecycle/
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BAD_CREDENTIALS, errorBody, rateLimitBody, sendError, sendJson } from './error-body.js'
import type { RouteFaultTarget, StatusFault } from './faults.js'
import type { SandboxState } from './sandbox-state.js'
import type { RecordedRequest } from './sandbox-types.js'

export interface SandboxRouteConfig {
  faultTarget?: RouteFaultTarget
  auth?: boolean
}

export interface Pipeline {
  /** The OAuth client behind an authenticated request. */
  clientOf (request: FastifyRequest): string
}

const CONTROL_PREFIX = '/__sandbox'
const SECRET_FIELDS = new Set(['client_secret', 'password', 'refresh_token'])

function recordedHeaders (request: FastifyRequest): RecordedRequest['headers'] {
  const headers: RecordedRequest['headers'] = { ...request.headers }
  if (headers['authorization'] !== undefined) headers['authorization'] = '[redacted]'
  return headers
}

function recordedBody (body: unknown): unknown {
  if (Buffer.isBuffer(body)) return body.toString('utf8')
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body
  const fields = body as Record<string, unknown>
  if (!Object.keys(fields).some(key => SECRET_FIELDS.has(key))) return body
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, SECRET_FIELDS.has(key) ? '[redacted]' : value]))
}

/** Whole seconds when `retryAfter` is a delta-seconds value, null for HTTP-dates and junk. */
function retryAfterSeconds (value: number | string | undefined): number | null {
  if (typeof value === 'number') return Number.isInteger(value) ? value : null
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null
}

function bearerToken (header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return match === null ? null : match[1] as string
}

export function installPipeline (app: FastifyInstance, state: SandboxState): Pipeline {
  const records = new WeakMap<FastifyRequest, RecordedRequest>()
  const clients = new WeakMap<FastifyRequest, string>()
  const hangs = new Map<NodeJS.Timeout, FastifyRequest>()

  app.addHook('onRequest', async (request, reply) => {
    reply.header('ININ-Correlation-Id', request.id)
    if (request.url.startsWith(CONTROL_PREFIX)) return
    const [path = '/'] = request.url.split('?')
    const entry: RecordedRequest = {
      method: request.method,
      path,
      query: { ...(request.query as Record<string, string | string[]>) },
      headers: recordedHeaders(request),
      body: undefined,
      time: new Date(state.now()).toISOString(),
      status: null,
      correlationId: request.id
    }
    records.set(request, entry)
    state.record(entry)
  })

  app.addHook('preValidation', async (request, reply) => {
    const entry = records.get(request)
    if (entry !== undefined) entry.body = recordedBody(request.body)
    const config = request.routeOptions.config as SandboxRouteConfig
    if (config.faultTarget === undefined) return
    if (await applyFaults(request, reply, config.faultTarget, entry)) return reply
    if (config.auth !== true) return

    const token = bearerToken(request.headers.authorization)
    if (token === null) return sendError(reply, 401)
    const grant = state.tokens.lookup(token)
    if (!grant.ok) return sendError(reply, 401, BAD_CREDENTIALS.code, BAD_CREDENTIALS.message)
    clients.set(request, grant.clientId)
    if (entry !== undefined) entry.clientId = grant.clientId

    const decision = state.rateLimiter.take(grant.clientId)
    if (!decision.ok) {
      state.stats.organic429++
      reply.header('retry-after', String(decision.retryAfterSeconds))
      return sendJson(reply, 429, rateLimitBody(decision.retryAfterSeconds, request.id))
    }
  })

  app.addHook('onResponse', async (request, reply) => {
    const entry = records.get(request)
    if (entry === undefined) return
    entry.status = reply.statusCode
    entry.body ??= recordedBody(request.body)
  })

  app.addHook('onClose', async () => {
    for (const [timer, request] of hangs) {
      clearTimeout(timer)
      request.raw.socket.destroy()
    }
    hangs.clear()
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    if (status === 500) request.log.error({ err: error }, 'sandbox failure')
    else request.log.debug({ err: error }, 'request rejected before routing')
    return sendError(reply, status)
  })

  app.setNotFoundHandler((request, reply) => sendError(reply, 404))

  /** True when a fault answered (or dropped) the request. */
  async function applyFaults (request: FastifyRequest, reply: FastifyReply, target: RouteFaultTarget, entry?: RecordedRequest): Promise<boolean> {
    const draw = state.faults.draw(target)
    if (draw.fired.length === 0) return false
    state.stats.faultsApplied += draw.fired.length
    if (entry !== undefined) entry.fault = draw.fired.map(rule => rule.kind).join('+')
    if (draw.delayMs > 0) await sleep(draw.delayMs)
    const fault = draw.terminal
    if (fault === null) return false
    if (fault.kind === 'status') {
      sendStatusFault(reply, fault)
      return true
    }
    reply.hijack()
    if (fault.kind === 'reset') {
      // An RST rather than a FIN, so clients see ECONNRESET like a dropped load-balancer connection.
      request.raw.socket.resetAndDestroy()
    } else if (fault.kind === 'hang') {
      const timer = setTimeout(() => {
        hangs.delete(timer)
        request.raw.socket.destroy()
      }, fault.ms)
      hangs.set(timer, request)
    }
    return true
  }

  function sendStatusFault (reply: FastifyReply, fault: StatusFault): void {
    const contextId = reply.request.id
    if (fault.status === 429) state.stats.injected429++
    reply.code(fault.status)
    if (fault.retryAfter !== undefined) reply.header('retry-after', String(fault.retryAfter))
    let payload: string
    if (typeof fault.body === 'string') {
      payload = fault.body
      if (payload !== '') reply.header('content-type', 'text/plain')
    } else {
      reply.header('content-type', 'application/json')
      const seconds = retryAfterSeconds(fault.retryAfter)
      payload = JSON.stringify(fault.body ?? (fault.status !== 429
        ? errorBody(fault.status, contextId)
        : seconds !== null
          ? rateLimitBody(seconds, contextId)
          : errorBody(429, contextId, 'too.many.requests', 'Rate limit exceeded the maximum')))
    }
    for (const [name, value] of Object.entries(fault.headers ?? {})) reply.header(name, value)
    // Buffers keep the content type exactly as configured; no payload at all keeps an empty body untyped.
    if (payload === '') reply.send()
    else reply.send(Buffer.from(payload))
  }

  return {
    clientOf (request) {
      const clientId = clients.get(request)
      if (clientId === undefined) throw new Error('clientOf called on a route without auth')
      return clientId
    }
  }
}
