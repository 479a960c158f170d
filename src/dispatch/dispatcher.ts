import { EventEmitter } from 'node:events'
import type { Log } from '../logging/log.js'
import type { GenesysClient, GenesysResult } from '../genesys/genesys-client.js'
import { parseRetryAfter } from '../genesys/genesys-client.js'
import { GenesysNetworkError, GenesysTokenError } from '../genesys/genesys-errors.js'
import { describeGenesysError, hintForLaunchFailure } from '../genesys/hints.js'
import type { RateLimiter } from '../genesys/rate-limiter.js'
import type { InputType } from '../mapping/input-types.js'
import { buildLaunchRequest, executionName, redactLaunchRequest, type CompiledRoute, type LaunchRequest } from '../mapping/mapping-engine.js'
import type { Mappings } from '../mapping/mappings.js'
import { bounded, truncate } from '../logging/bounded.js'
import type { AttemptRecord, ClaimedDelivery, Store } from '../store/store.js'
import { decideRetry, isRetryableStatus, type RetryPolicy } from './retry-policy.js'

/** What the dispatcher tells metrics and tests about each attempt's end. */
export interface AttemptEvent {
  deliveryId: string
  route: string
  source: string
  attempt: number
  outcome: AttemptRecord['outcome'] | 'lease_lost' | 'released'
  status: number | null
  durationMs: number
}

/** Flow input schemas, when known (flow-aware validation): types for coercion, and a 400 to re-check. */
export interface FlowSchemaSource {
  inputTypes (route: CompiledRoute): ReadonlyMap<string, InputType> | undefined
  launchRejected (route: CompiledRoute): void
}

export interface DispatcherOptions {
  store: Store
  /** The mappings in force; read once per delivery, so a reload never changes a delivery mid-flight. */
  mappings: () => Mappings
  /** null in dry-run. */
  genesys: GenesysClient | null
  rateLimiter: RateLimiter | null
  log: Log
  owner: string
  concurrency: number
  leaseMs: number
  pollMs: number
  retry: RetryPolicy
  /** Bytes of request and response kept in logs and attempt records. */
  payloadLimitBytes: number
  flowSchemas?: FlowSchemaSource
  random?: () => number
  now?: () => Date
}

/**
 * Claims due deliveries from the store and launches them: map → (dry run | launch) → record the
 * attempt and its verdict (succeeded, retry at a time, failed). The retry schedule lives in the
 * store, so a restart resumes it. Runs as a loop between `start` and `stop`.
 */
export class Dispatcher extends EventEmitter {
  readonly #o: Required<Omit<DispatcherOptions, 'flowSchemas' | 'genesys' | 'rateLimiter'>> & Pick<DispatcherOptions, 'flowSchemas' | 'genesys' | 'rateLimiter'>
  readonly #inFlight = new Map<string, { delivery: ClaimedDelivery, abort: AbortController, done: Promise<void> }>()
  /** Deliveries whose Genesys call is over and whose attempt is being recorded: they hold no slot. */
  readonly #recording = new Set<string>()
  /** Claimed ahead (leased, not launched yet), oldest first: launched as slots free. */
  #ready: ClaimedDelivery[] = []
  #running = false
  #claimFailingSince: number | null = null
  #loop: Promise<void> | null = null
  #wakeUp: (() => void) | null = null
  #stopSignal = new AbortController()

  constructor (options: DispatcherOptions) {
    super()
    this.#o = { random: Math.random, now: () => new Date(), ...options }
  }

  get inFlight (): number {
    return this.#inFlight.size
  }

  start (): void {
    if (this.#running) return
    this.#running = true
    this.#stopSignal = new AbortController()
    this.#loop = this.#run()
  }

  /** Nudges the loop to claim now (new work was committed) instead of at the next poll. */
  wake (): void {
    this.#wakeUp?.()
  }

  /**
   * Stops claiming; waits up to `graceMs` for launches in flight, then aborts the rest and gives
   * their leases back so another instance (or the next start) takes them up at once.
   */
  async stop (graceMs = 10_000): Promise<void> {
    this.#running = false
    this.#stopSignal.abort()
    this.wake()
    await this.#loop
    await this.#releaseReady()
    const pending = [...this.#inFlight.values()]
    if (pending.length === 0) return
    const timer = new Promise<'timeout'>(resolve => setTimeout(() => resolve('timeout'), graceMs).unref())
    const finished = await Promise.race([Promise.all(pending.map(p => p.done)).then(() => 'done' as const), timer])
    if (finished === 'timeout') {
      for (const entry of this.#inFlight.values()) entry.abort.abort(new Error('shutting down'))
      await Promise.all([...this.#inFlight.values()].map(p => p.done))
    }
  }

  async #run (): Promise<void> {
    while (this.#running) {
      let waitMs = this.#o.pollMs
      try {
        const limiter = this.#o.rateLimiter
        const budgetWait = limiter === null ? 0 : limiter.msUntilAvailable()
        if (this.#slotsUsed() < this.#o.concurrency && budgetWait === 0) {
          let claimed = 0
          if (this.#ready.length <= this.#o.concurrency / 2) {
            const page = await this.#claim()
            if (this.#claimFailingSince !== null) {
              this.#o.log.info({ event: 'dispatcher.claim_recovered', failedForMs: Date.now() - this.#claimFailingSince }, 'claiming works again')
              this.#claimFailingSince = null
            }
            this.#ready.push(...page)
            claimed = page.length
          }
          // stop() during the claim: what it brought is given back, not launched.
          if (this.#running) await this.#launchReady()
          // A full page means more is probably due: go again as soon as a slot frees.
          if ((claimed > 0 || this.#ready.length > 0) && this.#slotsUsed() < this.#o.concurrency) waitMs = 0
        } else if (budgetWait > 0) {
          waitMs = Math.min(budgetWait, this.#o.pollMs)
        }
      } catch (err) {
        // One error line per outage, not one per poll; the recovery line closes it.
        if (this.#claimFailingSince === null) {
          this.#claimFailingSince = Date.now()
          this.#o.log.error({ event: 'dispatcher.claim_failed', err }, 'claiming deliveries failed; retrying at every poll')
        } else {
          this.#o.log.debug({ event: 'dispatcher.claim_failed', err }, 'claiming deliveries still failing')
        }
      }
      if (waitMs > 0 || this.#slotsUsed() >= this.#o.concurrency) await this.#sleep(waitMs)
    }
  }

  async #sleep (ms: number): Promise<void> {
    if (!this.#running) return
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, ms)
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wakeUp = () => {
        this.#wakeUp = null
        done()
      }
    })
  }

  /**
   * Claims enough to fill the free slots and as many again ahead of them, so a slot freeing takes a
   * claimed delivery instead of a claim of one: a claim has a fixed cost (a query and a commit) of
   * several deliveries' worth (docs/benchmarks.md). The loop claims again only once half of those
   * ahead are launched. Never more than the rate limit has tokens for.
   */
  async #claim (): Promise<ClaimedDelivery[]> {
    const limiter = this.#o.rateLimiter
    const wanted = 2 * this.#o.concurrency - this.#slotsUsed() - this.#ready.length
    const limit = Math.min(wanted, limiter === null ? wanted : limiter.available() - this.#ready.length)
    if (limit <= 0) return []
    return await this.#o.store.claim({ owner: this.#o.owner, limit, leaseMs: this.#o.leaseMs, now: this.#o.now() })
  }

  /**
   * Launches claimed deliveries into the free slots. One that waited so long that less than half its
   * lease is left (slots held by hung calls) is given back instead: launched that late, its lease
   * could run out mid-call and another instance launch it too.
   */
  async #launchReady (): Promise<void> {
    const stale: string[] = []
    const freshAfter = this.#o.now().getTime() + this.#o.leaseMs / 2
    while (this.#ready.length > 0 && this.#slotsUsed() < this.#o.concurrency) {
      const delivery = this.#ready.shift()!
      if (delivery.leaseUntil.getTime() < freshAfter) stale.push(delivery.id)
      else void this.#launch(delivery)
    }
    if (stale.length > 0) await this.#release(stale, 'lease_half_spent')
  }

  async #releaseReady (): Promise<void> {
    const ids = this.#ready.map(delivery => delivery.id)
    this.#ready = []
    if (ids.length > 0) await this.#release(ids, 'shutdown')
  }

  /** Gives leases back without counting an attempt, for deliveries claimed but never launched. */
  async #release (ids: string[], reason: string): Promise<void> {
    try {
      const released = await this.#o.store.release(ids, this.#o.owner)
      this.#o.log.debug({ event: 'dispatcher.released_unlaunched', count: ids.length, released, reason }, 'claimed deliveries given back unlaunched')
    } catch (err) {
      this.#o.log.warn({ event: 'dispatcher.release_failed', count: ids.length, reason, err }, 'could not give back claimed deliveries; their leases will expire')
    }
  }

  /**
   * GENESYS_MAX_IN_FLIGHT counts Genesys calls: a delivery whose answer is in takes no slot, up to as
   * many again. Beyond that they do, so when the disk is slow the deliveries waiting to be recorded
   * cannot pile up in memory (they did, to 100 MB of heap, on a 1M backlog: docs/benchmarks.md).
   */
  #slotsUsed (): number {
    return this.#inFlight.size - Math.min(this.#recording.size, this.#o.concurrency)
  }

  /**
   * The Genesys call of `id` is over: free its slot now, while the attempt is still being recorded,
   * so the next claim joins the same group commit as this attempt's record. When answers come one
   * at a time (Genesys's own latency), that is one fsync per launch instead of two (docs/benchmarks.md).
   * A claim that meets this delivery still running skips its record's next update, so per-record
   * order holds either way.
   */
  #callEnded (id: string): void {
    this.#recording.add(id)
    this.wake()
  }

  #launch (delivery: ClaimedDelivery): Promise<void> {
    const abort = new AbortController()
    const done = this.#process(delivery, abort.signal)
      .catch(err => { this.#o.log.error({ event: 'dispatcher.crashed', deliveryId: delivery.id, err }, 'unexpected error processing a delivery') })
      .finally(() => {
        this.#inFlight.delete(delivery.id)
        this.#recording.delete(delivery.id)
        this.wake()
      })
    this.#inFlight.set(delivery.id, { delivery, abort, done })
    return done
  }

  async #process (claimed: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const o = this.#o
    const log = o.log.child({ deliveryId: claimed.id, route: claimed.route, source: claimed.source, attempt: claimed.attempt })
    const mappings = o.mappings()
    const route = mappings.route(claimed.route)
    const startedAt = o.now()
    const started = performance.now()
    const attemptBase = { number: claimed.attempt, startedAt, correlationId: null, response: null }

    if (route === undefined) {
      await this.#fail(claimed, log, { ...attemptBase, durationMs: 0, outcome: 'failed', status: null, request: null, error: `route "${claimed.route}" is no longer in the mappings file`, hint: 'Restore the route, or replay the delivery onto another route after fixing the mappings.' })
      return
    }

    let delivery = claimed
    if (route.coalesceMs > 0) {
      const superseded = await o.store.absorbFollowers(claimed.id, o.owner)
      if (superseded.length > 0) {
        const fresh = await o.store.getDelivery(claimed.id)
        if (fresh !== null) delivery = { ...claimed, event: fresh.event }
        log.info({ event: 'delivery.coalesced', superseded, count: superseded.length }, 'later updates of the record folded into this delivery')
      }
    }

    if (delivery.attempt > delivery.maxAttempts) {
      await this.#fail(delivery, log, { ...attemptBase, durationMs: 0, outcome: 'failed', status: null, request: null, error: `gave up: attempt ${delivery.attempt - 1} was interrupted and was the last allowed (max ${delivery.maxAttempts})`, hint: null })
      return
    }

    const mapped = buildLaunchRequest(route, delivery.event, executionName(delivery.id), o.flowSchemas?.inputTypes(route))
    if (!mapped.ok) {
      const error = mapped.problems.map(p => `${p.input}: ${p.reason}`).join('; ')
      await this.#fail(delivery, log, { ...attemptBase, durationMs: performance.now() - started, outcome: 'failed', status: null, request: null, error: `mapping failed: ${error}`, hint: 'Fix the event or the route\'s inputs in the mappings file, then replay the delivery.' })
      return
    }
    const request = mapped.request
    const shown = redactLaunchRequest(request, route.redact)

    if (o.genesys === null) {
      log.info({ event: 'delivery.dry_run', request: bounded(shown, o.payloadLimitBytes) }, 'dry run: this request would be sent')
      await this.#finish(delivery, log, 'dry_run', { ...attemptBase, durationMs: performance.now() - started, outcome: 'dry_run', status: null, request: shown, error: null, hint: null }, null)
      return
    }

    let result: GenesysResult | null = null
    let failure: Error | null = null
    try {
      result = await o.genesys.launch(request, signal)
    } catch (err) {
      if (signal.aborted) {
        await o.store.release([delivery.id], o.owner)
        log.warn({ event: 'delivery.released', reason: 'shutdown' }, 'launch abandoned at shutdown; lease released (it may have reached Genesys)')
        this.emit('attempt', this.#attemptEvent(delivery, 'released', null, performance.now() - started))
        return
      }
      failure = err as Error
    }
    this.#callEnded(delivery.id)
    const durationMs = performance.now() - started
    const status = result?.status ?? null
    const responseSummary = result === null ? null : truncate(result.text, o.payloadLimitBytes)
    log.info({
      event: 'delivery.attempt',
      request: bounded(shown, o.payloadLimitBytes),
      status,
      response: result === null ? null : bounded(result.body ?? '', o.payloadLimitBytes),
      durationMs: Math.round(durationMs),
      correlationId: result?.correlationId ?? null,
      error: failure?.message
    }, 'launch attempt')

    const attempt = { ...attemptBase, durationMs, status, request: shown, correlationId: result?.correlationId ?? null, response: responseSummary }

    if (result !== null && result.status >= 200 && result.status < 300) {
      const executionId = typeof (result.body as { id?: unknown } | null)?.id === 'string' ? (result.body as { id: string }).id : null
      await this.#finish(delivery, log, 'succeeded', { ...attempt, outcome: 'succeeded', error: null, hint: null }, executionId)
      return
    }

    let error: string
    let hint: string | null
    let retryable: boolean
    let retryAfterMs: number | null = null
    if (result === null) {
      error = failure?.message ?? 'unknown failure'
      retryable = true
      hint = failure instanceof GenesysTokenError
        ? (failure.code === 'token_rejected' ? 'Genesys refused the OAuth client credentials: check GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION. Deliveries wait and retry.' : 'The Genesys login endpoint could not be reached; deliveries wait and retry.')
        : failure instanceof GenesysNetworkError ? hintForLaunchFailure(null, null, request, false) : null
    } else {
      error = describeGenesysError(result.status, result.body, result.text, result.correlationId)
      retryable = isRetryableStatus(result.status)
      retryAfterMs = parseRetryAfter(result.headers['retry-after'], Date.now())
      hint = retryable ? null : hintForLaunchFailure(result.status, result.body, request, result.correlationId !== null)
      if (result.status === 400) o.flowSchemas?.launchRejected(route)
    }

    if (retryable) {
      const decision = decideRetry({ attempt: delivery.attempt, maxAttempts: delivery.maxAttempts, createdAt: delivery.createdAt, now: o.now(), retryAfterMs, policy: o.retry, random: o.random })
      if (decision.retry) {
        const ok = await o.store.retry(delivery.id, o.owner, { attempt: { ...attempt, outcome: 'retry', error, hint }, runAt: decision.runAt })
        if (!ok) return this.#leaseLost(delivery, log, durationMs)
        log.warn({ event: 'delivery.retry_scheduled', retryAt: decision.runAt.toISOString(), delayMs: decision.delayMs, reason: error }, 'launch failed; retry scheduled')
        this.emit('attempt', this.#attemptEvent(delivery, 'retry', status, durationMs))
        return
      }
      error = `${error}; ${decision.reason}`
    }
    await this.#fail(delivery, log, { ...attempt, outcome: 'failed', error, hint })
  }

  async #finish (delivery: ClaimedDelivery, log: Log, state: 'succeeded' | 'dry_run', attempt: AttemptRecord, executionId: string | null): Promise<void> {
    const ok = await this.#o.store.finish(delivery.id, this.#o.owner, { state, attempt, executionId })
    if (!ok) return this.#leaseLost(delivery, log, attempt.durationMs)
    if (state === 'succeeded') log.info({ event: 'delivery.succeeded', executionId, durationMs: Math.round(attempt.durationMs) }, 'flow launched')
    this.emit('attempt', this.#attemptEvent(delivery, attempt.outcome, attempt.status, attempt.durationMs))
  }

  async #fail (delivery: ClaimedDelivery, log: Log, attempt: AttemptRecord): Promise<void> {
    const ok = await this.#o.store.finish(delivery.id, this.#o.owner, { state: 'failed', attempt })
    if (!ok) return this.#leaseLost(delivery, log, attempt.durationMs)
    log.error({ event: 'delivery.failed', status: attempt.status, reason: attempt.error, hint: attempt.hint }, 'delivery failed')
    this.emit('attempt', this.#attemptEvent(delivery, 'failed', attempt.status, attempt.durationMs))
  }

  #leaseLost (delivery: ClaimedDelivery, log: Log, durationMs: number): void {
    log.warn({ event: 'delivery.lease_lost' }, 'lease expired before the attempt was recorded; another dispatcher owns the delivery now')
    this.emit('attempt', this.#attemptEvent(delivery, 'lease_lost', null, durationMs))
  }

  #attemptEvent (delivery: ClaimedDelivery, outcome: AttemptEvent['outcome'], status: number | null, durationMs: number): AttemptEvent {
    return { deliveryId: delivery.id, route: delivery.route, source: delivery.source, attempt: delivery.attempt, outcome, status, durationMs }
  }
}

export type { LaunchRequest }
