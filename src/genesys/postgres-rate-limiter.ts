import type { Log } from '../logging/log.js'
import type { SqlRunner } from '../store/postgres/pg-database.js'
import { sustainedPerMinute, type RateLimiter } from './rate-limiter.js'

export interface PostgresRateLimiterOptions {
  /** The PostgreSQL store's connection pool (`PostgresStore.sql`); the budget row lives beside the queue. */
  sql: SqlRunner
  /** The `rate_budget` row: every instance using the same name spends from one budget. */
  name: string
  perMinute: number
  burst: number
  /**
   * After a 429 one call probes for everyone; if its instance dies mid-call the probe is given to
   * another instance after this long (longer than a Genesys call can take).
   */
  probeLeaseMs?: number
  /** How stale the last known state may get before `available()` asks again (default 250 ms). */
  refreshMs?: number
  log?: Log
  onWait?: (ms: number) => void
}

interface Waiter {
  resolve: () => void
  reject: (err: unknown) => void
  signal: AbortSignal | undefined
  onAbort: () => void
}

/** What the database said last, with times already turned into this process's clock. */
interface KnownState {
  at: number
  tokens: number
  pausedUntil: number
  probing: boolean
  probeOutUntil: number
}

interface BudgetRow {
  granted: number
  tokens: number
  paused_ms: number
  probing: boolean
  probe_out_ms: number
}

/*
 * One token bucket row for all instances (`rate_budget`), refilled by elapsed database time, so
 * the sum of calls over every instance stays within perMinute (plus the burst). Every grant is one
 * `UPDATE … RETURNING` under the row lock; clock_timestamp() keeps instances' clocks out of it.
 * During a 429 pause and probe, tokens do not refill (as in TokenBucket): the budget restarts from
 * empty when the probe is answered.
 */
const takeSql = `WITH cur AS (
    SELECT r.*, clock_timestamp() AS now FROM rate_budget r WHERE r.name = $1 FOR UPDATE
  ), calc AS (
    SELECT cur.*,
      CASE WHEN cur.probing OR $2::integer = 0 THEN cur.tokens
        ELSE least($3::float8, cur.tokens + greatest(0, extract(epoch FROM cur.now - cur.updated_at)) * $2 / 60.0) END AS refilled,
      coalesce(cur.paused_until > cur.now, false) AS paused,
      coalesce(cur.probing AND cur.probe_until > cur.now, false) AS probe_out
    FROM cur
  ), decision AS (
    SELECT calc.*, CASE
        WHEN paused OR probe_out THEN 0
        WHEN probing THEN 1
        WHEN $2 = 0 THEN $4::integer
        ELSE least($4::integer, floor(refilled))::integer
      END AS granted
    FROM calc
  )
  UPDATE rate_budget r SET
    tokens = CASE WHEN d.probing OR $2 = 0 THEN r.tokens ELSE d.refilled - d.granted END,
    updated_at = CASE WHEN d.probing OR $2 = 0 THEN r.updated_at ELSE d.now END,
    probe_until = CASE WHEN d.probing AND NOT d.paused AND d.granted = 1 THEN d.now + $5::float8 * interval '1 millisecond' ELSE r.probe_until END
  FROM decision d WHERE r.name = d.name
  RETURNING d.granted, r.tokens,
    greatest(0, extract(epoch FROM r.paused_until - d.now) * 1000)::float8 AS paused_ms,
    r.probing,
    coalesce(greatest(0, extract(epoch FROM r.probe_until - d.now) * 1000), 0)::float8 AS probe_out_ms`

const peekSql = `SELECT 0 AS granted,
    CASE WHEN probing OR $2::integer = 0 THEN tokens ELSE least($3::float8, tokens + greatest(0, extract(epoch FROM clock_timestamp() - updated_at)) * $2 / 60.0) END AS tokens,
    coalesce(greatest(0, extract(epoch FROM paused_until - clock_timestamp()) * 1000), 0)::float8 AS paused_ms,
    probing,
    coalesce(greatest(0, extract(epoch FROM probe_until - clock_timestamp()) * 1000), 0)::float8 AS probe_out_ms
  FROM rate_budget WHERE name = $1`

const createSql = 'INSERT INTO rate_budget (name, tokens, updated_at) VALUES ($1, $2, clock_timestamp()) ON CONFLICT (name) DO NOTHING'

const pauseSql = `UPDATE rate_budget SET paused_until = greatest(paused_until, clock_timestamp() + $2::float8 * interval '1 millisecond'),
    probing = true, probe_until = NULL, tokens = 0
  WHERE name = $1`

const answeredSql = 'UPDATE rate_budget SET probing = false, probe_until = NULL, updated_at = clock_timestamp() WHERE name = $1 AND probing'

/** While someone else's probe is out, how often to look whether it has been answered. */
const probePollMs = 200

/**
 * The Genesys rate budget shared by every instance on one PostgreSQL: a token bucket kept in a
 * row, with the 429 pause and the one-probe rule held there too. The synchronous methods answer
 * from the last known state (refreshed in the background when stale), which is optimistic when
 * other instances spend too; `acquire` is always exact.
 */
export class PostgresRateLimiter implements RateLimiter {
  readonly #o: Required<Omit<PostgresRateLimiterOptions, 'log' | 'onWait'>> & Pick<PostgresRateLimiterOptions, 'log' | 'onWait'>
  readonly #perMs: number
  #known: KnownState
  #waiters: Waiter[] = []
  #pumping = false
  #wakePump: (() => void) | null = null
  #probesHeld = 0
  #created = false
  #refreshing = false
  /** pause/answered writes not yet done; a grant waits for them so it never overtakes a 429. */
  #writes: Promise<void> = Promise.resolve()

  constructor (options: PostgresRateLimiterOptions) {
    this.#o = { probeLeaseMs: 30_000, refreshMs: 250, ...options, burst: Math.max(1, options.burst), perMinute: sustainedPerMinute(options.perMinute, options.burst) }
    this.#perMs = this.#o.perMinute / 60_000
    this.#known = { at: Date.now(), tokens: this.#o.burst, pausedUntil: 0, probing: false, probeOutUntil: 0 }
  }

  async acquire (signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    const queuedAt = Date.now()
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiters = this.#waiters.filter(w => w !== waiter)
          reject(signal?.reason)
          // Nobody left to serve: end the pump's wait rather than keep a timer (and the process) alive.
          if (this.#waiters.length === 0) this.#wakePump?.()
        }
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.#waiters.push(waiter)
      void this.#pump()
    })
    const waited = Date.now() - queuedAt
    if (waited > 0) this.#o.onWait?.(waited)
  }

  pause (until: Date): void {
    const ms = Math.max(0, until.getTime() - Date.now())
    this.#known = { ...this.#known, at: Date.now(), tokens: 0, pausedUntil: Math.max(this.#known.pausedUntil, Date.now() + ms), probing: true, probeOutUntil: 0 }
    this.#probesHeld = 0
    this.#write(pauseSql, [this.#o.name, ms], 'pause')
  }

  answered (): void {
    if (this.#probesHeld === 0 && !this.#known.probing) return
    this.#probesHeld = Math.max(0, this.#probesHeld - 1)
    this.#known = { ...this.#known, at: Date.now(), probing: false, probeOutUntil: 0 }
    this.#write(answeredSql, [this.#o.name], 'answered')
  }

  pausedForMs (): number {
    return Math.max(0, this.#known.pausedUntil - Date.now())
  }

  available (): number {
    this.#maybeRefresh()
    if (this.pausedForMs() > 0) return 0
    if (this.#known.probing) return this.#known.probeOutUntil > Date.now() ? 0 : 1
    if (this.#perMs === 0) return Infinity
    return Math.max(0, Math.floor(this.#estimatedTokens()) - this.#waiters.length)
  }

  msUntilAvailable (): number {
    const paused = this.pausedForMs()
    if (paused > 0) return paused
    if (this.#known.probing) return this.#known.probeOutUntil > Date.now() ? Infinity : 0
    if (this.available() > 0) return 0
    return Math.max(1, Math.ceil((1 + this.#waiters.length - this.#estimatedTokens()) / this.#perMs))
  }

  #estimatedTokens (): number {
    return Math.min(this.#o.burst, this.#known.tokens + (Date.now() - this.#known.at) * this.#perMs)
  }

  #write (text: string, values: unknown[], what: string): void {
    this.#writes = this.#writes
      .then(async () => { await this.#ensureRow() })
      .then(async () => { await this.#o.sql.query(text, values) })
      .catch((err: unknown) => { this.#o.log?.warn({ event: 'rate_budget.write_failed', what, err }, 'could not record a rate-budget change in PostgreSQL') })
    this.#wakePump?.()
  }

  async #ensureRow (): Promise<void> {
    if (this.#created) return
    await this.#o.sql.query(createSql, [this.#o.name, this.#o.burst])
    this.#created = true
  }

  #remember (row: BudgetRow): void {
    const now = Date.now()
    this.#known = {
      at: now,
      tokens: Number(row.tokens),
      pausedUntil: now + Number(row.paused_ms),
      probing: row.probing,
      probeOutUntil: row.probing ? now + Number(row.probe_out_ms) : 0
    }
  }

  /** One loop per process serves the local waiters in order, asking the database for as many grants as are waiting. */
  async #pump (): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (this.#waiters.length > 0) {
        let row: BudgetRow
        try {
          await this.#writes
          await this.#ensureRow()
          const result = await this.#o.sql.query<BudgetRow>(takeSql, [this.#o.name, this.#o.perMinute, this.#o.burst, this.#waiters.length, this.#o.probeLeaseMs])
          if (result.rows[0] === undefined) {
            this.#created = false
            continue
          }
          row = result.rows[0]
        } catch (err) {
          // Without the shared budget nobody may call: fail the waiting calls (they are retried durably).
          for (const waiter of this.#waiters.splice(0)) this.#settle(waiter, err)
          return
        }
        this.#remember(row)
        if (row.probing && row.granted > 0) this.#probesHeld += row.granted
        for (const waiter of this.#waiters.splice(0, row.granted)) this.#settle(waiter)
        if (this.#waiters.length > 0) await this.#sleep(this.#waitAfter(row))
      }
    } finally {
      this.#pumping = false
    }
  }

  #waitAfter (row: BudgetRow): number {
    if (row.paused_ms > 0) return Math.ceil(row.paused_ms)
    if (row.probing) return Math.max(1, Math.min(probePollMs, Math.ceil(row.probe_out_ms) || probePollMs))
    if (this.#perMs === 0) return 1
    return Math.max(1, Math.ceil((1 - Number(row.tokens)) / this.#perMs))
  }

  #settle (waiter: Waiter, err?: unknown): void {
    waiter.signal?.removeEventListener('abort', waiter.onAbort)
    if (err === undefined) waiter.resolve()
    else waiter.reject(err)
  }

  async #sleep (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, ms)
      const wake = (): void => { done() }
      this.#wakePump = wake
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
    })
    this.#wakePump = null
  }

  #maybeRefresh (): void {
    if (this.#refreshing || this.#pumping || Date.now() - this.#known.at < this.#o.refreshMs) return
    this.#refreshing = true
    void (async () => {
      try {
        await this.#ensureRow()
        const { rows: [row] } = await this.#o.sql.query<BudgetRow>(peekSql, [this.#o.name, this.#o.perMinute, this.#o.burst])
        if (row !== undefined) this.#remember(row)
      } catch {
        // The next acquire reports it; a stale estimate only makes the dispatcher claim a little early.
      } finally {
        this.#refreshing = false
      }
    })()
  }
}
