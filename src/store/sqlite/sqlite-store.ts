import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import {
  deliveryStates, StoreUnavailableError,
  type AttemptOutcome, type ClaimedDelivery, type DeliveryDetail, type DeliveryFilter, type DeliveryState,
  type DeliverySummary, type FinishUpdate, type IngestItem, type IngestResult, type Page, type PendingOutcome, type QueueStats,
  type RetryUpdate, type Store
} from '../store.js'
import { sqliteMigrations } from './migrations.js'
import { decodeEvent, encodeEvent } from './event-json.js'
import { InlineWriter, ThreadWriter, type SqliteWriter } from './writer.js'
import { filterSql, type IngestRow } from './writes.js'
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
  /**
   * Writes on a worker thread with its own connection (ThreadWriter) instead of the calling
   * thread, which each insert and commit otherwise blocks. Files only; default false.
   */
  writerThread?: boolean
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
  outcome: AttemptOutcome
  status: number | null
  error: string | null
  hint: string | null
  correlation_id: string | null
  request: string | null
  response: string | null
}

export function openSqliteStore (options: SqliteStoreOptions): Store {
  const memory = options.file === ':memory:'
  const readonly = options.readonly === true
  if (!memory && !readonly) mkdirSync(dirname(options.file), { recursive: true })
  let db: Database.Database
  try {
    db = new Database(options.file, { readonly, fileMustExist: readonly })
  } catch (err) {
    throw new StoreUnavailableError(`cannot open SQLite file ${options.file}: ${(err as Error).message}`, { cause: err })
  }
  if (!readonly) {
    db.pragma('journal_mode = WAL')
    migrate(db)
  }
  db.pragma('busy_timeout = 5000')
  const durable = (options.synchronous ?? 'FULL') === 'FULL'
  const writer = options.writerThread === true && !memory && !readonly
    ? new ThreadWriter({ file: options.file, durable })
    : new InlineWriter(db, { file: memory ? null : options.file, durable })
  return new SqliteStore(db, writer)
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

const parse = <T>(text: string | null): T | null => text === null ? null : JSON.parse(text) as T

/**
 * Reads run on the calling thread; writes go to the writer (on its own thread with ThreadWriter):
 * in WAL mode a read sees every write answered before it started.
 */
class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  readonly #db: Database.Database
  readonly #writer: SqliteWriter
  readonly #stmt

  constructor (db: Database.Database, writer: SqliteWriter) {
    this.#db = db
    this.#writer = writer
    const prepare = (sql: string): Database.Statement => db.prepare(sql)
    this.#stmt = {
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
    return await this.#writer.run('ingest', [items.map(toIngestRow)], true)
  }

  /**
   * Claims and lease extensions do not wait for the fsync: lost in a power cut, the delivery is
   * queued again and launched again, which a crash between launch and record can do anyway
   * (docs/reliability.md). Waiting made each claim cost an fsync (2–5 ms), which bounded launches
   * at 8 in flight to about 1,100/s.
   */
  async claim (options: { owner: string, limit: number, leaseMs: number, now?: Date }): Promise<ClaimedDelivery[]> {
    if (options.limit <= 0) return []
    const rows = await this.#writer.run('claim', [{ owner: options.owner, limit: options.limit, leaseMs: options.leaseMs, now: (options.now ?? new Date()).getTime() }], false)
    return rows.map(row => ({
      id: row.id,
      eventId: row.eventId,
      route: row.route,
      source: row.source,
      recordKey: row.recordKey,
      attempt: row.attempt,
      maxAttempts: row.maxAttempts,
      createdAt: new Date(row.createdAt),
      event: decodeEvent(row.payload),
      leaseUntil: new Date(row.leaseUntil)
    }))
  }

  async absorbFollowers (id: string, owner: string): Promise<string[]> {
    return await this.#writer.run('absorbFollowers', [id, owner], true)
  }

  async extendLease (id: string, owner: string, leaseMs: number): Promise<boolean> {
    return await this.#writer.run('extendLease', [id, owner, leaseMs], false)
  }

  async retry (id: string, owner: string, update: RetryUpdate): Promise<boolean> {
    return await this.#writer.run('retry', [id, owner, update], true)
  }

  async finish (id: string, owner: string, update: FinishUpdate): Promise<boolean> {
    return await this.#writer.run('finish', [id, owner, update], true)
  }

  async release (ids: string[], owner: string): Promise<number> {
    if (ids.length === 0) return 0
    return await this.#writer.run('release', [ids, owner], true)
  }

  async reclaimExpired (now = new Date()): Promise<number> {
    return await this.#writer.run('reclaimExpired', [now.getTime()], true)
  }

  async setOutcome (id: string, outcome: { status: string, detail: unknown, checkedAt: Date }): Promise<void> {
    await this.#writer.run('setOutcome', [id, outcome], true)
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
    return await this.#writer.run('requeue', [filter, { maxAttempts: options.maxAttempts, now: (options.now ?? new Date()).getTime() }], true)
  }

  async purge (options: { states: DeliveryState[], before: Date, limit?: number }): Promise<number> {
    return await this.#writer.run('purge', [{ states: options.states, before: options.before.getTime(), limit: options.limit ?? 10_000 }], true)
  }

  async stats (now = new Date()): Promise<QueueStats> {
    const byState = Object.fromEntries(deliveryStates.map(state => [state, 0])) as Record<DeliveryState, number>
    for (const row of this.#stmt.countByState.all() as Array<{ state: DeliveryState, n: number }>) byState[row.state] = row.n
    const oldest = this.#stmt.oldestPending.get() as number | null
    return { byState, oldestPendingAgeMs: oldest === null ? null : Math.max(0, now.getTime() - oldest) }
  }

  /** Also waits for the writer thread to be up: the service is not ready before it can write. */
  async ping (): Promise<void> {
    await this.#writer.whenReady()
    if (this.#writer.failure !== undefined) throw this.#writer.failure
    try {
      this.#db.prepare('SELECT 1').get()
    } catch (err) {
      throw new StoreUnavailableError(`SQLite store unavailable: ${(err as Error).message}`, { cause: err })
    }
  }

  async close (): Promise<void> {
    await this.#writer.close()
    if (this.#db.open) this.#db.close()
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

function toIngestRow (item: IngestItem): IngestRow {
  const occurredAt = item.event.event.occurredAt === null ? NaN : Date.parse(item.event.event.occurredAt)
  return {
    eventId: item.eventId,
    source: item.source,
    dedupeKey: item.dedupeKey,
    externalId: item.event.event.id,
    receivedAt: item.receivedAt.getTime(),
    occurredAt: Number.isFinite(occurredAt) ? occurredAt : null,
    recordType: item.event.record.type,
    recordId: item.event.record.id,
    payload: encodeEvent(item.event, item.rawJson),
    deliveries: item.deliveries.map(d => ({ id: d.id, route: d.route, recordKey: d.recordKey, maxAttempts: d.maxAttempts, runAt: d.runAt.getTime() }))
  }
}
