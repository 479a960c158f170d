/**
 * Execution outcome tracking (route option `trackOutcome: true`). A launch answers 200 as soon as the
 * flow starts; whether it then failed on its inputs only shows in `GET /api/v2/flows/executions/{id}`.
 * After a successful launch this polls that with backoff (OUTCOME_POLL_BASE_MS doubling up to
 * OUTCOME_POLL_MAX_MS) until a final status, records it on the delivery (`store.setOutcome`) and logs
 * `delivery.outcome`, at error level for FAILED/ERROR. Polls go through the Genesys client, so they
 * spend the same rate budget as launches. After OUTCOME_TIMEOUT_MS without a final status the delivery
 * is recorded as TIMED_OUT. Tracking state lives in the store (succeeded, execution id, no outcome), so
 * a restart resumes it (`resume`).
 * @see /work/shared/genesys-api.md §2 (FlowRuntimeExecution, status enum)
 */
import type { GenesysClient } from '../genesys/genesys-client.js'
import type { Log } from '../logging/log.js'
import type { Store } from '../store/store.js'

export const finalExecutionStatuses = ['COMPLETED', 'FAILED', 'ERROR', 'TERMINATED'] as const
/** What gets recorded: a final Genesys status, or TIMED_OUT when none came within the timeout. */
export type RecordedOutcome = typeof finalExecutionStatuses[number] | 'TIMED_OUT'

export interface OutcomeTrackerOptions {
  store: Store
  genesys: GenesysClient
  log: Log
  baseMs: number
  maxMs: number
  timeoutMs: number
  now?: () => number
}

interface Tracked {
  deliveryId: string
  route: string
  executionId: string
  launchedAt: number
  polls: number
  lastStatus: string | null
  timer: NodeJS.Timeout | null
}

export class OutcomeTracker {
  readonly #o: Required<OutcomeTrackerOptions>
  readonly #tracked = new Map<string, Tracked>()
  readonly #abort = new AbortController()
  readonly #inFlight = new Set<Promise<void>>()
  #stopped = false

  constructor (options: OutcomeTrackerOptions) {
    this.#o = { now: Date.now, ...options }
  }

  /** Deliveries being tracked now. */
  get size (): number {
    return this.#tracked.size
  }

  /** Starts tracking one launched execution. */
  track (entry: { deliveryId: string, route: string, executionId: string, launchedAt?: Date }): void {
    if (this.#stopped || this.#tracked.has(entry.deliveryId)) return
    const tracked: Tracked = { deliveryId: entry.deliveryId, route: entry.route, executionId: entry.executionId, launchedAt: entry.launchedAt?.getTime() ?? this.#o.now(), polls: 0, lastStatus: null, timer: null }
    this.#tracked.set(entry.deliveryId, tracked)
    this.#o.log.debug({ event: 'delivery.outcome_tracking', deliveryId: entry.deliveryId, route: entry.route, executionId: entry.executionId }, 'tracking the execution outcome')
    this.#schedule(tracked)
  }

  /** Picks up, after a restart, launches of `routes` whose outcome was never recorded. */
  async resume (routes: string[]): Promise<number> {
    if (routes.length === 0) return 0
    const pending = await this.#o.store.pendingOutcomes({ routes, finishedAfter: new Date(this.#o.now() - this.#o.timeoutMs), limit: 10_000 })
    for (const p of pending) this.track({ deliveryId: p.id, route: p.route, executionId: p.executionId, launchedAt: p.finishedAt })
    if (pending.length > 0) this.#o.log.info({ event: 'delivery.outcome_resumed', count: pending.length }, 'resumed tracking execution outcomes after a restart')
    return pending.length
  }

  async stop (): Promise<void> {
    this.#stopped = true
    for (const tracked of this.#tracked.values()) if (tracked.timer !== null) clearTimeout(tracked.timer)
    this.#abort.abort(new Error('shutting down'))
    await Promise.allSettled([...this.#inFlight])
    this.#tracked.clear()
  }

  #schedule (tracked: Tracked): void {
    if (this.#stopped) return
    const backoff = Math.min(this.#o.maxMs, this.#o.baseMs * 2 ** tracked.polls)
    // The last poll lands on the deadline, so a slow execution still gets its final look.
    const untilDeadline = tracked.launchedAt + this.#o.timeoutMs - this.#o.now()
    const delay = Math.max(0, Math.min(backoff, untilDeadline))
    tracked.timer = setTimeout(() => {
      tracked.timer = null
      const poll = this.#poll(tracked).catch(err => {
        this.#o.log.error({ event: 'delivery.outcome_crashed', deliveryId: tracked.deliveryId, err }, 'outcome tracking failed unexpectedly')
        this.#tracked.delete(tracked.deliveryId)
      })
      this.#inFlight.add(poll)
      void poll.finally(() => this.#inFlight.delete(poll))
    }, delay)
    tracked.timer.unref()
  }

  async #poll (tracked: Tracked): Promise<void> {
    tracked.polls++
    let body: Record<string, unknown> | null = null
    try {
      const result = await this.#o.genesys.getExecution(tracked.executionId, this.#abort.signal)
      if (result.status >= 200 && result.status < 300 && typeof result.body === 'object' && result.body !== null) body = result.body as Record<string, unknown>
      else if (result.status !== 404 && result.status !== 429 && result.status < 500) {
        // 404: not visible yet right after the launch; 429/5xx: transient. Anything else is worth a line.
        this.#o.log.warn({ event: 'delivery.outcome_poll_failed', deliveryId: tracked.deliveryId, executionId: tracked.executionId, status: result.status, correlationId: result.correlationId }, 'polling the execution failed; will try again')
      }
    } catch (err) {
      if (this.#stopped) return
      this.#o.log.debug({ event: 'delivery.outcome_poll_failed', deliveryId: tracked.deliveryId, executionId: tracked.executionId, err: { message: (err as Error).message } }, 'polling the execution failed; will try again')
    }
    if (this.#stopped) return
    const status = typeof body?.status === 'string' ? body.status : null
    if (status !== null) tracked.lastStatus = status
    if (status !== null && (finalExecutionStatuses as readonly string[]).includes(status)) {
      await this.#record(tracked, status as RecordedOutcome, body!)
      return
    }
    if (this.#o.now() >= tracked.launchedAt + this.#o.timeoutMs) {
      await this.#record(tracked, 'TIMED_OUT', null)
      return
    }
    this.#schedule(tracked)
  }

  async #record (tracked: Tracked, outcome: RecordedOutcome, body: Record<string, unknown> | null): Promise<void> {
    this.#tracked.delete(tracked.deliveryId)
    const { store, log } = this.#o
    // A replay re-launches the delivery: an outcome of the old execution must not land on the new launch.
    const current = await store.getDelivery(tracked.deliveryId)
    if (current === null || current.state !== 'succeeded' || current.executionId !== tracked.executionId) return
    const flowErrorInfo = body?.flowErrorInfo ?? null
    const detail = {
      executionId: tracked.executionId,
      status: outcome,
      completionReason: body?.completionReason ?? null,
      dateLaunched: body?.dateLaunched ?? null,
      dateCompleted: body?.dateCompleted ?? null,
      flowErrorInfo,
      outputData: body?.outputData ?? null,
      polls: tracked.polls,
      ...(outcome === 'TIMED_OUT' ? { lastStatus: tracked.lastStatus, timeoutMs: this.#o.timeoutMs } : {})
    }
    await store.setOutcome(tracked.deliveryId, { status: outcome, detail, checkedAt: new Date(this.#o.now()) })
    const fields = {
      event: 'delivery.outcome',
      deliveryId: tracked.deliveryId,
      route: tracked.route,
      executionId: tracked.executionId,
      status: outcome,
      completionReason: detail.completionReason,
      flowErrorInfo: summarizeError(flowErrorInfo),
      polls: tracked.polls,
      elapsedMs: this.#o.now() - tracked.launchedAt
    }
    if (outcome === 'FAILED' || outcome === 'ERROR') log.error(fields, `the flow execution ended ${outcome}${fields.flowErrorInfo?.code === undefined ? '' : `: ${String(fields.flowErrorInfo.code)}`}`)
    else if (outcome === 'COMPLETED') log.info(fields, 'the flow execution completed')
    else log.warn(fields, outcome === 'TIMED_OUT' ? 'no final execution status before OUTCOME_TIMEOUT_MS; stopped tracking' : 'the flow execution was terminated')
  }
}

/** The ErrorBody fields worth a log line (not messageParams, which can carry input values). */
function summarizeError (info: unknown): { code?: unknown, message?: unknown } | null {
  if (typeof info !== 'object' || info === null) return null
  const { code, message } = info as { code?: unknown, message?: unknown }
  return { code, message }
}
