import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync } from 'node:fs'
import { promisify } from 'node:util'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { NormalizedEvent } from '../../sources/normalized-event.js'
import {
  deliveryStates, StoreUnavailableError,
  type AttemptRecord, type ClaimedDelivery, type DeliveryDetail, type DeliveryFilter, type DeliveryState,
  type DeliverySummary, type FinishUpdate, type IngestItem, type IngestResult, type Page, type PendingOutcome, type QueueStats,
  type RetryUpdate, type Store
} from '../store.js'
import { sqliteMigrations } from './migrations.js'
import { GroupCommitter } from './group-commit.js'
import { Checkpointer } from './checkpointer.js'
import { decodeEvent, encodeEvent } from './event-json.js'
import { decodeCursor, encodeCursor } from '../cursor.js'

export interface SqliteStoreOptions {
  /** File path, or `:memory:` (tests only: nothing survives). */
  file: string
  /**
   * `FULL` (default): every commit's WAL is fsynced before its callers are answered, so a 202 means
   * the event is on disk. `NORMAL`: no fsync per commit (a power cut may lose the last commits).
   */
  synchronous?: 'FULL' | 'NORMAL'
  /** Open without writing: no migrations (CLI inspection of a running service's file). */
  readonly?: boolean
}

interface DeliveryRow {
  seq: number
  id: string
  event_id: string
  route: string
  source: string
  record_key: string
  order_at: number
  state: DeliveryState
  attempts: number
  max_attempts: number
  run_at: number
  locked_by: string | null
  locked_until: number | null
  created_at: number
  updated_at: number
  finished_at: number | null
  last_status: number | null
  last_error: string | null
  hint: string | null
  execution_id: string | null
  request: string | null
  merged_event: string | null
  superseded_by: string | null
  outcome: string | null
  outcome_detail: string | null
}

interface AttemptRow {
  number: number
  started_at: number
  duration_ms: number
  outcome: AttemptRecord['outcome']
  status: number | null
  error: string | null
  hint: string | null
  correlation_id: string | null
  request: string | null
  response: string | null
}

const pendingSql = "('queued', 'running')"

export function openSqliteStore (options: SqliteStoreOptions): Store {
  if (options.file !== ':memory:' && options.readonly !== true) mkdirSync(dirname(options.file), { recursive: true })
  let db: Database.Database
  try {
    db = new Database(options.file, { readonly: options.readonly === true, fileMustExist: options.readonly === true })
  } catch (err) {
    throw new StoreUnavailableError(`cannot open SQLite file ${options.file}: ${(err as Error).message}`, { cause: err })
  }
  let wal: WalSync | undefined
  let checkpointer: Checkpointer | undefined
  if (options.readonly !== true) {
    db.pragma('journal_mode = WAL')
    // SQLite's own per-commit fsync would block the event loop; durable stores sync the WAL off it
    // instead (WalSync), and SQLite still syncs around every checkpoint as NORMAL does.
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    // Savepoint journals in memory rather than temporary files.
    db.pragma('temp_store = MEMORY')
    migrate(db)
    if (options.file !== ':memory:') {
      if ((options.synchronous ?? 'FULL') === 'FULL') wal = new WalSync(options.file)
      checkpointer = new Checkpointer(db, options.file)
    }
  }
  db.pragma('busy_timeout = 5000')
  return new SqliteStore(db, wal, checkpointer)
}

const fdatasyncAsync = promisify(fdatasync)

/**
 * The WAL file, fsynced on a libuv thread. Committed frames are appended to the WAL before the
 * commit returns, so an fsync started after a commit makes it durable, as `synchronous=FULL`
 * would. The file exists from the first read of a WAL-mode database and lives as long as the
 * database has an open connection (ours), so one descriptor serves for the store's life.
 */
class WalSync {
  readonly #fd: number

  constructor (file: string) {
    this.#fd = openSync(`${file}-wal`, 'r')
    // The WAL's directory entry must be durable too, or a power cut could lose the file itself.
    const dir = openSync(dirname(file), 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
  }

  async sync (): Promise<void> {
    await fdatasyncAsync(this.#fd)
  }

  close (): void {
    closeSync(this.#fd)
  }
}

function migrate (db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > sqliteMigrations.length) {
    throw new StoreUnavailableError(`SQLite file is at schema version ${version}, newer than this build knows (${sqliteMigrations.length}); run a newer crm-flow-bridge`)
  }
  for (let next = version; next < sqliteMigrations.length; next++) {
    db.transaction(() => {
      db.exec(sqliteMigrations[next]!)
      db.pragma(`user_version = ${next + 1}`)
    })()
  }
}

const json = (value: unknown): string | null => value === undefined || value === null ? null : JSON.stringify(value)
const parse = <T>(text: string | null): T | null => text === null ? null : JSON.parse(text) as T

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  readonly #db: Database.Database
  readonly #writes: GroupCommitter
  readonly #wal: WalSync | undefined
  readonly #checkpointer: Checkpointer | undefined
  readonly #stmt

  constructor (db: Database.Database, wal: WalSync | undefined, checkpointer: Checkpointer | undefined) {
    this.#db = db
    this.#wal = wal
    this.#checkpointer = checkpointer
    this.#writes = new GroupCommitter(db, {
      ...(wal === undefined ? {} : { sync: async () => { await wal.sync() } }),
      ...(checkpointer === undefined ? {} : { committed: () => { checkpointer.committed() } })
    })
    const prepare = (sql: string): Database.Statement => db.prepare(sql)
    this.#stmt = {
      // The two inserts of every webhook bind by position: named parameters cost about 2 µs more each.
      insertEvent: prepare(`INSERT INTO events (id, source, dedupe_key, external_id, received_at, occurred_at, record_type, record_id, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (source, dedupe_key) DO NOTHING`),
      findEvent: prepare('SELECT id FROM events WHERE source = ? AND dedupe_key = ?'),
      insertDelivery: prepare(`INSERT INTO deliveries (id, event_id, route, source, record_key, order_at, state, max_attempts, run_at, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`),
      reclaim: prepare(`UPDATE deliveries SET state = 'queued', locked_by = NULL, locked_until = NULL, updated_at = @now
        WHERE state = 'running' AND locked_until < @now`),
      claim: prepare(`UPDATE deliveries
        SET state = 'running', locked_by = @owner, locked_until = @until, attempts = attempts + 1, updated_at = @now
        WHERE seq IN (
          -- INDEXED BY: walk the due rows in (run_at, seq) order and stop at LIMIT. Without it the
          -- planner picks deliveries_state, tests every queued row, then sorts: ~100 ms per claim at
          -- 100k pending, ~1 s at 1M, with the event loop blocked (docs/benchmarks.md).
          SELECT d.seq FROM deliveries d INDEXED BY deliveries_due
          WHERE d.state = 'queued' AND d.run_at <= @now
            AND NOT EXISTS (
              SELECT 1 FROM deliveries p
              WHERE p.route = d.route AND p.record_key = d.record_key AND p.state IN ${pendingSql} AND p.seq <> d.seq
                AND (p.state = 'running' OR p.order_at < d.order_at OR (p.order_at = d.order_at AND p.seq < d.seq)))
          ORDER BY d.run_at, d.seq
          LIMIT @limit)
        RETURNING *`),
      eventPayload: prepare('SELECT payload FROM events WHERE id = ?').pluck(),
      followers: prepare(`SELECT f.id, f.merged_event, e.payload FROM deliveries f JOIN events e ON e.id = f.event_id
        WHERE f.route = @route AND f.record_key = @recordKey AND f.state = 'queued' AND f.seq <> @seq
        ORDER BY f.order_at, f.seq`),
      supersede: prepare(`UPDATE deliveries SET state = 'superseded', superseded_by = @carrier, finished_at = @now, updated_at = @now
        WHERE id = @id AND state = 'queued'`),
      setMerged: prepare('UPDATE deliveries SET merged_event = @merged, updated_at = @now WHERE id = @id AND locked_by = @owner AND state = \'running\''),
      extend: prepare(`UPDATE deliveries SET locked_until = @until WHERE id = @id AND locked_by = @owner AND state = 'running'`),
      retry: prepare(`UPDATE deliveries SET state = 'queued', run_at = @runAt, locked_by = NULL, locked_until = NULL, updated_at = @now,
          last_status = @status, last_error = @error, hint = @hint, request = @request
        WHERE id = @id AND locked_by = @owner AND state = 'running'`),
      finish: prepare(`UPDATE deliveries SET state = @state, locked_by = NULL, locked_until = NULL, updated_at = @now, finished_at = @now,
          last_status = @status, last_error = @error, hint = @hint, request = @request, execution_id = @executionId
        WHERE id = @id AND locked_by = @owner AND state = 'running'`),
      insertAttempt: prepare(`INSERT OR REPLACE INTO attempts (delivery_id, number, started_at, duration_ms, outcome, status, error, hint, correlation_id, request, response)
        VALUES (@deliveryId, @number, @startedAt, @durationMs, @outcome, @status, @error, @hint, @correlationId, @request, @response)`),
      release: prepare(`UPDATE deliveries SET state = 'queued', locked_by = NULL, locked_until = NULL, attempts = attempts - 1, updated_at = @now
        WHERE id = @id AND locked_by = @owner AND state = 'running'`),
      setOutcome: prepare('UPDATE deliveries SET outcome = @status, outcome_detail = @detail, outcome_checked_at = @checkedAt, updated_at = @checkedAt WHERE id = @id'),
      getDelivery: prepare(`SELECT d.*, e.payload, e.dedupe_key, e.received_at FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?`),
      attemptsOf: prepare('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY number'),
      // Kept by triggers since schema 2; a read-only look at an older file counts the table.
      countByState: prepare((db.pragma('user_version', { simple: true }) as number) >= 2
        ? 'SELECT state, n FROM delivery_counts'
        : 'SELECT state, count(*) AS n FROM deliveries GROUP BY state'),
      // The oldest pending delivery is the lowest seq of each pending state (created_at grows with
      // seq): two index seeks on deliveries_state instead of a scan of every pending row.
      oldestPending: prepare(`SELECT min(created_at) FROM (
          SELECT (SELECT created_at FROM deliveries WHERE state = 'queued' ORDER BY seq LIMIT 1) AS created_at
          UNION ALL SELECT (SELECT created_at FROM deliveries WHERE state = 'running' ORDER BY seq LIMIT 1))`).pluck()
    }
  }

  async ingest (items: IngestItem[]): Promise<IngestResult[]> {
    return await this.#writes.run(() => {
      const now = Date.now()
      return items.map(item => {
        const occurredAt = item.event.event.occurredAt === null ? null : Date.parse(item.event.event.occurredAt)
        const inserted = this.#stmt.insertEvent.run(
          item.eventId,
          item.source,
          item.dedupeKey,
          item.event.event.id,
          item.receivedAt.getTime(),
          Number.isFinite(occurredAt) ? occurredAt : null,
          item.event.record.type,
          item.event.record.id,
          encodeEvent(item.event, item.rawJson)
        ).changes === 1
        if (!inserted) {
          const existing = this.#stmt.findEvent.get(item.source, item.dedupeKey) as { id: string }
          return { inserted: false, eventId: existing.id }
        }
        const orderAt = Number.isFinite(occurredAt) && occurredAt !== null ? occurredAt : item.receivedAt.getTime()
        for (const delivery of item.deliveries) {
          this.#stmt.insertDelivery.run(
            delivery.id,
            item.eventId,
            delivery.route,
            item.source,
            delivery.recordKey,
            orderAt,
            delivery.maxAttempts,
            delivery.runAt.getTime(),
            now,
            now
          )
        }
        return { inserted: true, eventId: item.eventId }
      })
    })
  }

  /**
   * Claims and lease extensions do not wait for the fsync: lost in a power cut, the delivery is
   * queued again and launched again, which a crash between launch and record can do anyway
   * (docs/reliability.md). Waiting made each claim cost an fsync (2–5 ms), which bounded launches
   * at 8 in flight to about 1,100/s.
   */
  async claim (options: { owner: string, limit: number, leaseMs: number, now?: Date }): Promise<ClaimedDelivery[]> {
    if (options.limit <= 0) return []
    return await this.#writes.run(() => {
      const now = (options.now ?? new Date()).getTime()
      this.#stmt.reclaim.run({ now })
      const rows = this.#stmt.claim.all({ owner: options.owner, until: now + options.leaseMs, now, limit: options.limit }) as DeliveryRow[]
      rows.sort((a, b) => a.run_at - b.run_at || a.seq - b.seq)
      return rows.map(row => ({
        id: row.id,
        eventId: row.event_id,
        route: row.route,
        source: row.source,
        recordKey: row.record_key,
        attempt: row.attempts,
        maxAttempts: row.max_attempts,
        createdAt: new Date(row.created_at),
        event: decodeEvent(row.merged_event ?? this.#stmt.eventPayload.get(row.event_id) as string),
        leaseUntil: new Date(row.locked_until!)
      }))
    }, { durable: false })
  }

  async absorbFollowers (id: string, owner: string, merge: (carried: NormalizedEvent, followers: NormalizedEvent[]) => NormalizedEvent): Promise<string[]> {
    return await this.#writes.run(() => {
      const carrier = this.#db.prepare('SELECT * FROM deliveries WHERE id = ? AND locked_by = ? AND state = \'running\'').get(id, owner) as DeliveryRow | undefined
      if (carrier === undefined) return []
      const followers = this.#stmt.followers.all({ route: carrier.route, recordKey: carrier.record_key, seq: carrier.seq }) as Array<{ id: string, merged_event: string | null, payload: string }>
      if (followers.length === 0) return []
      const carried = decodeEvent(carrier.merged_event ?? this.#stmt.eventPayload.get(carrier.event_id) as string)
      const merged = merge(carried, followers.map(f => decodeEvent(f.merged_event ?? f.payload)))
      const now = Date.now()
      for (const follower of followers) this.#stmt.supersede.run({ id: follower.id, carrier: id, now })
      this.#stmt.setMerged.run({ id, owner, merged: encodeEvent(merged), now })
      return followers.map(f => f.id)
    })
  }

  async extendLease (id: string, owner: string, leaseMs: number): Promise<boolean> {
    return await this.#writes.run(() => this.#stmt.extend.run({ id, owner, until: Date.now() + leaseMs }).changes === 1, { durable: false })
  }

  async retry (id: string, owner: string, update: RetryUpdate): Promise<boolean> {
    return await this.#writes.run(() => {
      const changed = this.#stmt.retry.run({
        id, owner, now: Date.now(), runAt: update.runAt.getTime(), ...this.#lastFields(update.attempt)
      }).changes === 1
      if (changed) this.#insertAttempt(id, update.attempt)
      return changed
    })
  }

  async finish (id: string, owner: string, update: FinishUpdate): Promise<boolean> {
    return await this.#writes.run(() => {
      const changed = this.#stmt.finish.run({
        id, owner, now: Date.now(), state: update.state, executionId: update.executionId ?? null, ...this.#lastFields(update.attempt)
      }).changes === 1
      if (changed) this.#insertAttempt(id, update.attempt)
      return changed
    })
  }

  #lastFields (attempt: AttemptRecord): Record<string, unknown> {
    return { status: attempt.status, error: attempt.error, hint: attempt.hint, request: json(attempt.request) }
  }

  #insertAttempt (deliveryId: string, attempt: AttemptRecord): void {
    this.#stmt.insertAttempt.run({
      deliveryId,
      number: attempt.number,
      startedAt: attempt.startedAt.getTime(),
      durationMs: Math.round(attempt.durationMs),
      outcome: attempt.outcome,
      status: attempt.status,
      error: attempt.error,
      hint: attempt.hint,
      correlationId: attempt.correlationId,
      request: json(attempt.request),
      response: attempt.response
    })
  }

  async release (ids: string[], owner: string): Promise<number> {
    if (ids.length === 0) return 0
    return await this.#writes.run(() => {
      const now = Date.now()
      let released = 0
      for (const id of ids) released += this.#stmt.release.run({ id, owner, now }).changes
      return released
    })
  }

  async reclaimExpired (now = new Date()): Promise<number> {
    return await this.#writes.run(() => this.#stmt.reclaim.run({ now: now.getTime() }).changes)
  }

  async setOutcome (id: string, outcome: { status: string, detail: unknown, checkedAt: Date }): Promise<void> {
    await this.#writes.run(() => this.#stmt.setOutcome.run({ id, status: outcome.status, detail: json(outcome.detail), checkedAt: outcome.checkedAt.getTime() }))
  }

  async pendingOutcomes (options: { routes: string[], finishedAfter: Date, limit: number }): Promise<PendingOutcome[]> {
    if (options.routes.length === 0 || options.limit <= 0) return []
    const rows = this.#db.prepare(`SELECT id, route, execution_id, finished_at FROM deliveries
      WHERE state = 'succeeded' AND execution_id IS NOT NULL AND outcome IS NULL
        AND route IN (SELECT value FROM json_each(@routes)) AND finished_at >= @after
      ORDER BY finished_at, seq LIMIT @limit`)
      .all({ routes: JSON.stringify(options.routes), after: options.finishedAfter.getTime(), limit: options.limit }) as Array<{ id: string, route: string, execution_id: string, finished_at: number }>
    return rows.map(row => ({ id: row.id, route: row.route, executionId: row.execution_id, finishedAt: new Date(row.finished_at) }))
  }

  async getDelivery (id: string): Promise<DeliveryDetail | null> {
    const row = this.#stmt.getDelivery.get(id) as (DeliveryRow & { payload: string, dedupe_key: string, received_at: number }) | undefined
    if (row === undefined) return null
    const attempts = this.#stmt.attemptsOf.all(id) as AttemptRow[]
    return {
      ...summary(row),
      event: decodeEvent(row.merged_event ?? row.payload),
      dedupeKey: row.dedupe_key,
      receivedAt: new Date(row.received_at),
      request: parse(row.request),
      attemptLog: attempts.map(a => ({
        number: a.number,
        startedAt: new Date(a.started_at),
        durationMs: a.duration_ms,
        outcome: a.outcome,
        status: a.status,
        error: a.error,
        hint: a.hint,
        correlationId: a.correlation_id,
        request: parse(a.request),
        response: a.response
      })),
      outcomeDetail: parse(row.outcome_detail),
      lockedBy: row.locked_by,
      lockedUntil: row.locked_until === null ? null : new Date(row.locked_until)
    }
  }

  async listDeliveries (filter: DeliveryFilter, page: { limit: number, cursor?: string | null }): Promise<Page<DeliverySummary>> {
    const { where, params } = filterSql(filter)
    const cursor = decodeCursor(page.cursor)
    if (cursor !== null) {
      where.push('seq < @cursor')
      params.cursor = cursor
    }
    const rows = this.#db.prepare(`SELECT * FROM deliveries ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`)
      .all({ ...params, limit: page.limit + 1 }) as DeliveryRow[]
    const items = rows.slice(0, page.limit)
    const last = items.at(-1)
    return { items: items.map(summary), nextCursor: rows.length > page.limit && last !== undefined ? encodeCursor(last.seq) : null }
  }

  async requeue (filter: DeliveryFilter & { ids?: string[] }, options: { maxAttempts: number, now?: Date }): Promise<string[]> {
    return await this.#writes.run(() => {
      const { where, params } = filterSql(filter)
      where.push("state IN ('failed', 'succeeded', 'dry_run')")
      if (filter.ids !== undefined) {
        if (filter.ids.length === 0) return []
        where.push(`id IN (SELECT value FROM json_each(@ids))`)
        params.ids = JSON.stringify(filter.ids)
      }
      const now = (options.now ?? new Date()).getTime()
      const rows = this.#db.prepare(`UPDATE deliveries SET state = 'queued', run_at = @now, max_attempts = attempts + @maxAttempts,
          finished_at = NULL, updated_at = @now, outcome = NULL, outcome_detail = NULL, outcome_checked_at = NULL
        WHERE ${where.join(' AND ')} RETURNING id`).all({ ...params, now, maxAttempts: options.maxAttempts }) as Array<{ id: string }>
      return rows.map(r => r.id)
    })
  }

  async purge (options: { states: DeliveryState[], before: Date, limit?: number }): Promise<number> {
    return await this.#writes.run(() => {
      const params = { states: JSON.stringify(options.states), before: options.before.getTime(), limit: options.limit ?? 10_000 }
      const ids = this.#db.prepare(`SELECT id, event_id FROM deliveries WHERE state IN (SELECT value FROM json_each(@states))
        AND coalesce(finished_at, updated_at) < @before ORDER BY seq LIMIT @limit`).all(params) as Array<{ id: string, event_id: string }>
      const deleteAttempts = this.#db.prepare('DELETE FROM attempts WHERE delivery_id = ?')
      const deleteDelivery = this.#db.prepare('DELETE FROM deliveries WHERE id = ?')
      for (const { id } of ids) {
        deleteAttempts.run(id)
        deleteDelivery.run(id)
      }
      // Events keep deduplicating until they are as old as the retention; then they go too.
      this.#db.prepare(`DELETE FROM events WHERE received_at < @before AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`)
        .run({ before: params.before })
      return ids.length
    })
  }

  async stats (now = new Date()): Promise<QueueStats> {
    const byState = Object.fromEntries(deliveryStates.map(state => [state, 0])) as Record<DeliveryState, number>
    for (const row of this.#stmt.countByState.all() as Array<{ state: DeliveryState, n: number }>) byState[row.state] = row.n
    const oldest = this.#stmt.oldestPending.get() as number | null
    return { byState, oldestPendingAgeMs: oldest === null ? null : Math.max(0, now.getTime() - oldest) }
  }

  async ping (): Promise<void> {
    try {
      this.#db.prepare('SELECT 1').get()
    } catch (err) {
      throw new StoreUnavailableError(`SQLite store unavailable: ${(err as Error).message}`, { cause: err })
    }
  }

  async close (): Promise<void> {
    await this.#writes.drain()
    await this.#checkpointer?.close()
    if (this.#db.open) {
      this.#db.close()
      this.#wal?.close()
    }
  }
}

function summary (row: DeliveryRow): DeliverySummary {
  return {
    id: row.id,
    eventId: row.event_id,
    route: row.route,
    source: row.source,
    recordKey: row.record_key,
    state: row.state,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAt: new Date(row.run_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
    lastStatus: row.last_status,
    lastError: row.last_error,
    hint: row.hint,
    executionId: row.execution_id,
    supersededBy: row.superseded_by,
    outcome: row.outcome
  }
}

function filterSql (filter: DeliveryFilter): { where: string[], params: Record<string, unknown> } {
  const where: string[] = []
  const params: Record<string, unknown> = {}
  if (filter.state !== undefined) { where.push('state = @state'); params.state = filter.state }
  if (filter.route !== undefined) { where.push('route = @route'); params.route = filter.route }
  if (filter.source !== undefined) { where.push('source = @source'); params.source = filter.source }
  if (filter.recordKey !== undefined) { where.push('record_key = @recordKey'); params.recordKey = filter.recordKey }
  if (filter.since !== undefined) { where.push('created_at >= @since'); params.since = filter.since.getTime() }
  return { where, params }
}
