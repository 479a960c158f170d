/**
 * A local fake of the Genesys Cloud login and Platform API hosts, limited to what crm-flow-bridge uses:
 * client-credentials tokens, flow launches and execution status, flow/version/schema reads, the
 * per-client rate limit, plus faults on demand. One server plays both hosts, so point both
 * GENESYS_LOGIN_URL and GENESYS_API_URL at `sandbox.url`. See docs/sandbox.md.
 */
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { registerControlRoutes } from './control-routes.js'
import { registerExecutionRoutes } from './executions-routes.js'
import type { FaultControl } from './faults.js'
import { registerFlowsRoutes } from './flows-routes.js'
import { registerOAuthRoute } from './oauth.js'
import { installPipeline } from './request-pipeline.js'
import { createSandboxState, type SandboxState } from './sandbox-state.js'
import type { RecordedRequest, SandboxExecution, SandboxFlow, SandboxOptions, SandboxStats } from './sandbox-types.js'

export type {
  RecordedRequest, SandboxClient, SandboxExecution, SandboxFlow, SandboxFlowVersion, SandboxInputType,
  SandboxOptions, SandboxOutcome, SandboxScalarType, SandboxStats
} from './sandbox-types.js'
export type { ActiveFault, FaultControl, FaultRule, FaultTarget } from './faults.js'
export { createSandboxState, type SandboxState } from './sandbox-state.js'

export interface Sandbox {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string
  close (): Promise<void>
  faults: FaultControl
  /** Live array of recorded requests (oldest first); cleared in place by reset(). */
  requests: RecordedRequest[]
  executions: Map<string, SandboxExecution>
  /** Live counters; zeroed in place by reset(). */
  stats: SandboxStats
  /** Validates and adds or replaces a flow by id; throws on an invalid flow. */
  upsertFlow (flow: SandboxFlow): void
  /** Revokes all tokens, or those of one client. */
  revokeTokens (clientId?: string): void
  /** Clears requests, executions, faults, rate windows and stats. Flows, clients and tokens stay. */
  reset (): void
  app: FastifyInstance
}

export interface StartSandboxOptions extends SandboxOptions {
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
}

function isLoggerInstance (logger: unknown): logger is FastifyBaseLogger {
  return typeof logger === 'object' && logger !== null &&
    typeof (logger as { info?: unknown }).info === 'function' && typeof (logger as { child?: unknown }).child === 'function'
}

/** The Fastify app without listening, for `inject` tests. Pass `state` to inspect it from the test. */
export function buildSandboxApp (options: SandboxOptions, state: SandboxState = createSandboxState(options)): FastifyInstance {
  const logger = options.logger ?? false
  const app = Fastify({
    ...(isLoggerInstance(logger) ? { loggerInstance: logger } : { logger }),
    // The request id doubles as ININ-Correlation-Id and ErrorBody.contextId, which are UUIDs in Genesys.
    genReqId: () => randomUUID(),
    // Hung and delayed requests must not hold close() up.
    forceCloseConnections: true
  })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  // Any other media type is accepted raw so the routes, not Fastify, decide between 400 and 415.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  const pipeline = installPipeline(app, state)
  registerOAuthRoute(app, { clients: state.clients, tokens: state.tokens, stats: state.stats })
  registerExecutionRoutes(app, state, pipeline)
  registerFlowsRoutes(app, state)
  registerControlRoutes(app, state)
  return app
}

function urlOf (address: AddressInfo): string {
  // A wildcard bind is reachable on loopback; clients cannot connect to 0.0.0.0 everywhere.
  if (address.address === '0.0.0.0') return `http://127.0.0.1:${address.port}`
  if (address.address === '::') return `http://[::1]:${address.port}`
  return address.family === 'IPv6' ? `http://[${address.address}]:${address.port}` : `http://${address.address}:${address.port}`
}

export async function startSandbox (options: StartSandboxOptions): Promise<Sandbox> {
  const state = createSandboxState(options)
  const app = buildSandboxApp(options, state)
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 })
  const { faults } = state
  return {
    url: urlOf(app.server.address() as AddressInfo),
    close: () => app.close(),
    faults: {
      add: rule => faults.add(rule),
      remove: id => faults.remove(id),
      clear: () => faults.clear(),
      list: () => faults.list()
    },
    requests: state.requests,
    executions: state.executions,
    stats: state.stats,
    upsertFlow: flow => { state.upsertFlow(flow) },
    revokeTokens: clientId => state.revokeTokens(clientId),
    reset: () => state.reset(),
    app
  }
}
