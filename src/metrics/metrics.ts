/**
 * The service's Prometheus metrics, built by one factory so each app (and each test) owns its
 * registry. Names, labels and meanings are listed in docs/operations.md#metrics: treat them as an
 * API (rename only with a deprecation period). Every label is a bounded set — sources and routes
 * come from the mappings file, the rest are fixed in code (src/metrics/labels.ts) — never a record
 * id or free text.
 * @see https://github.com/siimon/prom-client
 * @see https://prometheus.io/docs/practices/naming/
 */
import { readFileSync } from 'node:fs'
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client'
import type { AttemptEvent } from '../dispatch/dispatcher.js'
import type { GenesysClientHooks } from '../genesys/genesys-client.js'
import type { Log } from '../logging/log.js'
import { deliveryStates, type QueueStats } from '../store/store.js'
import { cachedLoader, type CachedLoader } from './cached-loader.js'
import { createReasonLabel, operationLabel, statusClass } from './labels.js'

export const metricPrefix = 'crm_bridge_'

/** Seconds; launches take tens of ms to seconds, timeouts reach GENESYS_TIMEOUT_MS (15 s default). */
const durationBuckets = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60]
/** Seconds; a wait is a token-bucket refill (≈ 60 / GENESYS_RATE_LIMIT_PER_MINUTE s) or a 429 pause. */
const waitBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

export type WebhookEventOutcome = 'accepted' | 'duplicate' | 'unmatched'
export type MappingReloadResult = 'success' | 'rejected' | 'unchanged'

export interface MetricsOptions {
  /** How long (ms) a queue snapshot (`store.stats()`) is reused across scrapes; default 5000. */
  queueStatsTtlMs?: number
  /** Process and Node.js metrics (`process_*`, `nodejs_*`); default true. */
  defaultMetrics?: boolean
  log?: Log
  now?: () => number
}

/** What ingress saw for one webhook request, in label terms. */
export type WebhookObservation =
  | { source: string, outcome: 'rejected', reason: string }
  | { source: string, outcome: 'accepted', events: Record<WebhookEventOutcome, number>, routes: string[] }

export interface Metrics {
  readonly registry: Registry
  /** Counters and gauges other modules bump directly. */
  readonly mappingReloads: Counter<'result'>
  readonly validationProblems: Gauge
  /** The hooks `createGenesysClient({ hooks })` takes. */
  readonly genesysHooks: Required<GenesysClientHooks>
  /** The `onWait` `new TokenBucket({ onWait })` takes (ms waited). */
  readonly onRateLimitWait: (ms: number) => void
  /** Counts one webhook request (called from the metrics plugin's onResponse hook). */
  observeWebhook (observation: WebhookObservation): void
  /** Counts one attempt as the dispatcher reports it. */
  observeAttempt (event: AttemptEvent): void
  /** Records the checks of the last /readyz answer (1 ok, 0 failing). */
  observeReadiness (checks: Record<string, { ok: boolean }>): void
  /**
   * Subscribes to the dispatcher's `attempt` events and reads queue depth from the store on scrape.
   * Returns a function that unsubscribes.
   */
  watch (parts: { dispatcher: AttemptSource & { inFlight: number }, stats: () => Promise<QueueStats>, validationProblems?: () => number }): () => void
}

/** The part of the dispatcher metrics need (an EventEmitter emitting `attempt`). */
export interface AttemptSource {
  on (event: 'attempt', listener: (event: AttemptEvent) => void): unknown
  off (event: 'attempt', listener: (event: AttemptEvent) => void): unknown
}

export function createMetrics (registry: Registry, options: MetricsOptions = {}): Metrics {
  const registers = [registry]
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
  const reasonLabel = createReasonLabel()

  new Gauge({
    name: `${metricPrefix}build_info`,
    help: 'Always 1; labels give the service version and the Node.js version.',
    labelNames: ['version', 'node_version'] as const,
    registers
  }).set({ version: packageVersion(), node_version: process.version }, 1)

  // Ingress.
  const webhookRequests = new Counter({
    name: `${metricPrefix}webhook_requests_total`,
    help: 'Webhook requests answered, by source, outcome (accepted, rejected) and reason (the rejection code; "none" when accepted). Unknown sources count as source="(unknown)".',
    labelNames: ['source', 'outcome', 'reason'] as const,
    registers
  })
  const webhookEvents = new Counter({
    name: `${metricPrefix}webhook_events_total`,
    help: 'Events in accepted webhook requests, by source and outcome: accepted (new, stored), duplicate (seen before), unmatched (no route).',
    labelNames: ['source', 'outcome'] as const,
    registers
  })

  // Deliveries and attempts.
  const deliveries = new Counter({
    name: `${metricPrefix}deliveries_total`,
    help: 'Deliveries by route and outcome: queued when ingress stores them, then succeeded, failed (dead: not retried any more) or dry_run when they end.',
    labelNames: ['route', 'outcome'] as const,
    registers
  })
  const attempts = new Counter({
    name: `${metricPrefix}delivery_attempts_total`,
    help: 'Launch attempts by route and outcome: succeeded, retry, failed, dry_run, released (abandoned at shutdown), lease_lost.',
    labelNames: ['route', 'outcome'] as const,
    registers
  })
  const attemptDuration = new Histogram({
    name: `${metricPrefix}delivery_attempt_duration_seconds`,
    help: 'Time from claiming a delivery to recording its attempt (mapping, rate-limit wait, the Genesys call), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: durationBuckets,
    registers
  })
  let inFlight: () => number = () => 0
  new Gauge({
    name: `${metricPrefix}dispatcher_in_flight`,
    help: 'Deliveries this instance is launching right now.',
    registers,
    collect () { this.set(inFlight()) }
  })

  // Genesys.
  const genesysResponses = new Counter({
    name: `${metricPrefix}genesys_responses_total`,
    help: 'Genesys API calls by operation (token, launch, get_flow, get_flow_version, get_execution) and status class (2xx, 4xx, 5xx, network_error).',
    labelNames: ['operation', 'status_class'] as const,
    registers
  })
  const genesysDuration = new Histogram({
    name: `${metricPrefix}genesys_request_duration_seconds`,
    help: 'Duration of Genesys API calls by operation, answered or not (rate-limit waits excluded).',
    labelNames: ['operation'] as const,
    buckets: durationBuckets,
    registers
  })
  const genesysRateLimited = new Counter({
    name: `${metricPrefix}genesys_rate_limited_total`,
    help: 'Genesys answers with HTTP 429 (Too Many Requests), by operation. Each pauses every call until Retry-After.',
    labelNames: ['operation'] as const,
    registers
  })
  const tokenRefreshes = new Counter({
    name: `${metricPrefix}genesys_token_refreshes_total`,
    help: 'OAuth access tokens obtained from Genesys (at start, before expiry, and after a 401).',
    registers
  })
  const rateLimitWait = new Histogram({
    name: `${metricPrefix}rate_limit_wait_seconds`,
    help: 'Time Genesys calls waited for the client-side rate budget (GENESYS_RATE_LIMIT_PER_MINUTE) or a 429 pause; _count is the number of calls that waited.',
    buckets: waitBuckets,
    registers
  })

  // Queue depth, read from the store on scrape.
  let queue: CachedLoader<QueueStats> | null = null
  async function queueStats (): Promise<QueueStats | null> {
    if (queue === null) return null
    try {
      return await queue.get()
    } catch (err) {
      options.log?.warn({ event: 'metrics.queue_stats_failed', err: { message: (err as Error).message } }, 'reading queue depth for /metrics failed; gauges keep their last values')
      return null
    }
  }
  new Gauge({
    name: `${metricPrefix}queue_deliveries`,
    help: 'Deliveries in the store by state (queued, running, succeeded, failed, dry_run, superseded); finished ones until retention purges them.',
    labelNames: ['state'] as const,
    registers,
    async collect () {
      const stats = await queueStats()
      if (stats === null) return
      for (const state of deliveryStates) this.set({ state }, stats.byState[state] ?? 0)
    }
  })
  new Gauge({
    name: `${metricPrefix}queue_oldest_pending_age_seconds`,
    help: 'Age of the oldest queued or running delivery (0 when none is pending). Grows when deliveries are stuck or Genesys is refusing them.',
    registers,
    async collect () {
      const stats = await queueStats()
      if (stats === null) return
      this.set((stats.oldestPendingAgeMs ?? 0) / 1000)
    }
  })

  // Configuration: bumped by the mappings reloader and flow validation.
  const mappingReloads = new Counter({
    name: `${metricPrefix}mapping_reloads_total`,
    help: 'Mappings file reloads by result: success (swapped in), rejected (invalid; the previous mappings stay), unchanged.',
    labelNames: ['result'] as const,
    registers
  })
  let problemsInForce: (() => number) | null = null
  const validationProblems = new Gauge({
    name: `${metricPrefix}mapping_validation_problems`,
    help: 'Problems the last validation found in the mappings in force (routes that do not fit their flows); 0 when clean.',
    registers,
    collect () {
      if (problemsInForce !== null) this.set(problemsInForce())
    }
  })
  const readiness = new Gauge({
    name: `${metricPrefix}readiness_check`,
    help: 'Result of each /readyz check the last time it ran (1 ok, 0 failing), by check (store, mappings, genesys, …).',
    labelNames: ['check'] as const,
    registers
  })

  const observeAttempt = (event: AttemptEvent): void => {
    attempts.inc({ route: event.route, outcome: event.outcome })
    attemptDuration.observe({ outcome: event.outcome }, event.durationMs / 1000)
    if (event.outcome === 'succeeded' || event.outcome === 'failed' || event.outcome === 'dry_run') {
      deliveries.inc({ route: event.route, outcome: event.outcome })
    }
  }

  return {
    registry,
    mappingReloads,
    validationProblems,
    genesysHooks: {
      onCall ({ operation, status, durationMs }) {
        const op = operationLabel(operation)
        genesysResponses.inc({ operation: op, status_class: statusClass(status) })
        genesysDuration.observe({ operation: op }, durationMs / 1000)
        if (status === 429) genesysRateLimited.inc({ operation: op })
      },
      onTokenFetched () { tokenRefreshes.inc() }
    },
    onRateLimitWait (ms) { rateLimitWait.observe(Math.max(0, ms) / 1000) },
    observeWebhook (o) {
      if (o.outcome === 'rejected') {
        webhookRequests.inc({ source: o.source, outcome: 'rejected', reason: reasonLabel(o.reason) })
        return
      }
      webhookRequests.inc({ source: o.source, outcome: 'accepted', reason: 'none' })
      for (const [outcome, count] of Object.entries(o.events)) {
        if (count > 0) webhookEvents.inc({ source: o.source, outcome }, count)
      }
      for (const route of o.routes) deliveries.inc({ route, outcome: 'queued' })
    },
    observeAttempt,
    observeReadiness (checks) {
      for (const [check, { ok }] of Object.entries(checks)) readiness.set({ check }, ok ? 1 : 0)
    },
    watch ({ dispatcher, stats, validationProblems: problems }) {
      dispatcher.on('attempt', observeAttempt)
      if (problems !== undefined) problemsInForce = problems
      inFlight = () => dispatcher.inFlight
      queue = cachedLoader(stats, { ttlMs: options.queueStatsTtlMs ?? 5000, now: options.now ?? Date.now })
      return () => {
        dispatcher.off('attempt', observeAttempt)
        inFlight = () => 0
        queue = null
        problemsInForce = null
      }
    }
  }
}

function packageVersion (): string {
  try {
    // dist/metrics/metrics.js and src/metrics/metrics.ts both sit two levels below package.json.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    /* c8 ignore next - only when package.json is missing from the deployment */
    return 'unknown'
  }
}
