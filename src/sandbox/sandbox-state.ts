/**
 * Everything one sandbox instance remembers: flows, clients, tokens, rate windows, fault rules, recorded
 * requests, executions and counters. One object per instance (no module state), so parallel tests each
 * get their own Genesys.
 */
import { z } from 'zod'
import { createFaultEngine, type FaultEngine } from './faults.js'
import { createTokenStore, type TokenStore } from './oauth.js'
import { createRateLimiter, type RateLimiter } from './rate-limit.js'
import { clientSchema, flowSchema, formatIssues } from './sandbox-config.js'
import type {
  RecordedRequest, SandboxClient, SandboxExecution, SandboxFlow, SandboxOptions, SandboxStats
} from './sandbox-types.js'

export const DEFAULT_RATE_LIMIT_PER_MINUTE = 300
const DEFAULT_MAX_RECORDED_REQUESTS = 10_000

export interface SandboxState {
  readonly flows: Map<string, SandboxFlow>
  readonly clients: Map<string, SandboxClient>
  readonly tokens: TokenStore
  readonly rateLimiter: RateLimiter
  readonly faults: FaultEngine
  readonly requests: RecordedRequest[]
  readonly executions: Map<string, SandboxExecution>
  readonly stats: SandboxStats
  readonly unknownInputs: 'reject' | 'ignore'
  readonly now: () => number
  /** Default `datePublished` of versions that do not set one. */
  readonly startedAt: string
  /** Validates, then adds or replaces a flow by id. Throws on an invalid flow. */
  upsertFlow (flow: SandboxFlow): SandboxFlow
  revokeTokens (clientId?: string): void
  record (entry: RecordedRequest): void
  /** Clears requests, executions, faults, rate windows and counters; flows, clients and tokens stay. */
  reset (): void
}

function validated<T> (schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value)
  if (!result.success) throw new Error(`invalid sandbox ${what}:\n${formatIssues(result.error)}`)
  return result.data
}

const zeroStats = (): SandboxStats => ({
  requests: 0, launches: 0, launchesRejected: 0, tokensIssued: 0, organic429: 0, injected429: 0, faultsApplied: 0
})

export function createSandboxState (options: SandboxOptions): SandboxState {
  const now = options.now ?? Date.now
  const maxRecorded = options.maxRecordedRequests ?? DEFAULT_MAX_RECORDED_REQUESTS
  const flows = new Map<string, SandboxFlow>()
  const clients = new Map<string, SandboxClient>()
  for (const client of options.clients) clients.set(client.clientId, validated(clientSchema, client, `client ${client.clientId}`))
  const tokens = createTokenStore(now)
  const rateLimiter = createRateLimiter(options.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE, now)
  const faults = createFaultEngine(options.random ?? Math.random)
  const requests: RecordedRequest[] = []
  const executions = new Map<string, SandboxExecution>()
  const stats = zeroStats()

  const state: SandboxState = {
    flows,
    clients,
    tokens,
    rateLimiter,
    faults,
    requests,
    executions,
    stats,
    unknownInputs: options.unknownInputs ?? 'reject',
    now,
    startedAt: new Date(now()).toISOString(),
    upsertFlow (flow) {
      const parsed = validated(flowSchema, flow, `flow ${String((flow as { id?: unknown }).id)}`)
      flows.set(parsed.id, parsed)
      return parsed
    },
    revokeTokens (clientId) {
      tokens.revoke(clientId)
    },
    record (entry) {
      stats.requests++
      requests.push(entry)
      // Trim in chunks: one splice per 10% overflow instead of a shift per request.
      if (requests.length > maxRecorded * 1.1) requests.splice(0, requests.length - maxRecorded)
    },
    reset () {
      // In place, so callers holding `sandbox.requests` / `sandbox.stats` keep valid references.
      requests.length = 0
      executions.clear()
      faults.clear()
      rateLimiter.reset()
      Object.assign(stats, zeroStats())
    }
  }
  for (const flow of options.flows) state.upsertFlow(flow)
  return state
}
