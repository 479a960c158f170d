import type { Log } from '../../logging/log.js'
import type { NormalizedEvent } from '../../sources/normalized-event.js'
import { mergeEvents } from '../coalesce.js'
import { decodeCursor, encodeCursor } from '../cursor.js'
import {
  deliveryStates,
  type AttemptRecord, type ClaimedDelivery, type DeliveryDetail, type DeliveryFilter, type DeliveryState,
  type DeliverySummary, type FinishUpdate, type IngestItem, type IngestResult, type Page, type PendingOutcome, type QueueStats,
  type RetryUpdate, type Store
} from '../store.js'
import { claimInTransaction } from './claim.js'
import { migrate } from './migrate.js'
import { postgresMigrations } from './migrations.js'
import { PgDatabase, type SqlRunner } from './pg-database.js'

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string
  /** Connections this process may open (DATABASE_POOL_SIZE). */
  poolSize?: number
  /** Schema for the tables, created if missing (tests use one per test); default the search_path's. */
  schema?: string | undefined
  connectTimeoutMs?: number
  log?: Log
}

interface DeliveryRow {
  seq: string
  id: string
  event_id: string
  route: string
  source: string
  record_key: string
  state: DeliveryState
  attempts: number
  max_attempts: number
  run_at: Date
  locked_by: string | null
  locked_until: Date | null
  created_at: Date
  updated_at: Date
  finished_at: Date | null
  last_status: number | null
  last_error: string | null
  hint: string | null
  execution_id: string | null
  request: unknown
  merged_event: NormalizedEvent | null
  superseded_by: string | null
  outcome: string | null
  outcome_detail: unknown
}

interface AttemptRow {
  number: number
  started_at: Date
  duration_ms: number
  outcome: AttemptRecord['outcome']
  status: number | null
  error: string | null
  hint: string | null
  correlation_id: string | null
  request: unknown
  response: string | null
}

const insertEventsSql = `WITH new_events AS (
    INSERT INTO events (id, source, dedupe_key, external_id, received_at, occurred_at, record_type, record_id, payload)
    SELECT id, source, dedupe_key, external_id, received_at, occurred_at, record_type, record_id, payload
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::json[])
      WITH ORDINALITY AS i (id, source, dedupe_key, external_id, received_at, occurred_at, record_type, record_id, payload, n)
    ORDER BY n
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING id
  ), new_deliveries AS (
    INSERT INTO deliveries (id, event_id, route, source, record_key, order_at, state, max_attempts, run_at, created_at, updated_at)
    SELECT d.id, d.event_id, d.route, d.source, d.record_key, d.order_at, 'queued', d.max_attempts, d.run_at, $18, $18
    FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::integer[], $17::timestamptz[])
      WITH ORDINALITY AS d (id, event_id, route, source, record_key, order_at, max_attempts, run_at, n)
    WHERE d.event_id IN (SELECT id FROM new_events)
    ORDER BY d.n
  )
  SELECT id FROM new_events`

const findEventsSql = `SELECT e.id, e.source, e.dedupe_key FROM events e
  JOIN unnest($1::text[], $2::text[]) AS k (source, dedupe_key) ON k.source = e.source AND k.dedupe_key = e.dedupe_key`

/**
 * The lease-guarded update in `changed`, and the attempt it ends written only if the guard passed,
 * in one statement; the attempt's ten values follow the update's own parameters from `$first`.
 */
function recordAttemptSql (update: string, first: number): string {
  const p = Array.from({ length: 10 }, (_, i) => `$${first + i}`)
  return `WITH changed AS (${update} RETURNING id)
  INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome, status, error, hint, correlation_id, request, response)
  SELECT id, ${p.slice(0, 8).join(', ')}, ${p[8]}::json, ${p[9]} FROM changed
  ON CONFLICT (delivery_id, number) DO UPDATE SET started_at = excluded.started_at, duration_ms = excluded.duration_ms,
    outcome = excluded.outcome, status = excluded.status, error = excluded.error, hint = excluded.hint,
    correlation_id = excluded.correlation_id, request = excluded.request, response = excluded.response
  RETURNING delivery_id`
}

const retrySql = recordAttemptSql(`UPDATE deliveries SET state = 'queued', run_at = $4, locked_by = NULL, locked_until = NULL, updated_at = $3,
    last_status = $5, last_error = $6, hint = $7, request = $8::json
  WHERE id = $1 AND locked_by = $2 AND state = 'running'`, 9)

const finishSql = recordAttemptSql(`UPDATE deliveries SET state = $4, locked_by = NULL, locked_until = NULL, updated_at = $3, finished_at = $3,
    last_status = $5, last_error = $6, hint = $7, request = $8::json, execution_id = $9
  WHERE id = $1 AND locked_by = $2 AND state = 'running'`, 10)

/** Opens the pool and migrates (under an advisory lock) before answering. */
export async function openPostgresStore (options: PostgresStoreOptions): Promise<PostgresStore> {
  const db = new PgDatabase({ url: options.url, poolSize: options.poolSize ?? 10, schema: options.schema, connectTimeoutMs: options.connectTimeoutMs ?? 5000, ...(options.log === undefined ? {} : { log: options.log }) })
  try {
    const { schema } = await migrate(db, postgresMigrations, options.log)
    return new PostgresStore(db, schema)
  } catch (err) {
    await db.close()
    throw err
  }
}

/**
 * The Store on PostgreSQL, for several instances sharing one database. Same semantics as the
 * SQLite store; what differs is how they hold under concurrency: claims as described in claim.ts,
 * lease-guarded updates as single statements (row locks make the guard atomic), one transaction
 * per ingest call with the dedupe constraint in it.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const
  readonly #db: PgDatabase
  readonly #schema: string

  constructor (db: PgDatabase, schema: string) {
    this.#db = db
    this.#schema = schema
  }

  /** The pool as a SQL seam, for other shared state kept next to the queue (the rate budget). */
  get sql (): SqlRunner {
    return this.#db
  }

  async ingest (items: IngestItem[]): Promise<IngestResult[]> {
    if (items.length === 0) return []
    const now = new Date()
    const deliveries = items.flatMap(item => {
      const occurredAt = parseTime(item.event.event.occurredAt)
      const orderAt = occurredAt ?? item.receivedAt
      return item.deliveries.map(d => ({ ...d, eventId: item.eventId, source: item.source, orderAt }))
    })
    const { rows } = await this.#db.query<{ id: string }>(insertEventsSql, [
      items.map(i => i.eventId),
      items.map(i => text(i.source)),
      items.map(i => text(i.dedupeKey)),
      items.map(i => text(i.event.event.id)),
      items.map(i => i.receivedAt),
      items.map(i => parseTime(i.event.event.occurredAt)),
      items.map(i => textOrNull(i.event.record.type)),
      items.map(i => textOrNull(i.event.record.id)),
      items.map(i => JSON.stringify(i.event)),
      deliveries.map(d => d.id),
      deliveries.map(d => d.eventId),
      deliveries.map(d => text(d.route)),
      deliveries.map(d => text(d.source)),
      deliveries.map(d => text(d.recordKey)),
      deliveries.map(d => d.orderAt),
      deliveries.map(d => d.maxAttempts),
      deliveries.map(d => d.runAt),
      now
    ])
    const inserted = new Set(rows.map(r => r.id))
    const duplicates = items.filter(i => !inserted.has(i.eventId))
    const existing = new Map<string, string>()
    if (duplicates.length > 0) {
      const found = await this.#db.query<{ id: string, source: string, dedupe_key: string }>(findEventsSql, [duplicates.map(i => text(i.source)), duplicates.map(i => text(i.dedupeKey))])
      for (const row of found.rows) existing.set(eventKey(row.source, row.dedupe_key), row.id)
    }
    return items.map(item => inserted.has(item.eventId)
      ? { inserted: true, eventId: item.eventId }
      // The stored twin can only be missing if retention purged it in between; the call is then still a duplicate.
      : { inserted: false, eventId: existing.get(eventKey(text(item.source), text(item.dedupeKey))) ?? item.eventId })
  }

  async claim (options: { owner: string, limit: number, leaseMs: number, now?: Date }): Promise<ClaimedDelivery[]> {
    if (options.limit <= 0) return []
    const now = options.now ?? new Date()
    const until = new Date(now.getTime() + options.leaseMs)
    const rows = await this.#db.transaction(async sql => await claimInTransaction(sql, { schema: this.#schema, owner: options.owner, limit: options.limit, now, until }))
    return rows.map(row => ({
      id: row.id,
      eventId: row.event_id,
      route: row.route,
      source: row.source,
      recordKey: row.record_key,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
      createdAt: row.created_at,
      event: row.event as NormalizedEvent,
      leaseUntil: row.locked_until
    }))
  }

  async absorbFollowers (id: string, owner: string): Promise<string[]> {
    return await this.#db.transaction(async sql => {
      // Locking the carrier keeps a reclaim from handing it to someone else while we fold into it.
      const { rows: [carrier] } = await sql.query<{ seq: string, route: string, record_key: string, event: NormalizedEvent }>(`SELECT d.seq, d.route, d.record_key, coalesce(d.merged_event, e.payload) AS event
        FROM deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.id = $1 AND d.locked_by = $2 AND d.state = 'running' FOR UPDATE OF d`, [id, owner])
      if (carrier === undefined) return []
      const { rows: followers } = await sql.query<{ id: string, event: NormalizedEvent }>(`SELECT f.id, coalesce(f.merged_event, e.payload) AS event
        FROM deliveries f JOIN events e ON e.id = f.event_id
        WHERE f.route = $1 AND f.record_key = $2 AND f.state = 'queued' AND f.seq <> $3
        ORDER BY f.order_at, f.seq FOR UPDATE OF f`, [carrier.route, carrier.record_key, carrier.seq])
      if (followers.length === 0) return []
      const merged = mergeEvents(carrier.event, followers.map(f => f.event))
      const now = new Date()
      await sql.query(`UPDATE deliveries SET state = 'superseded', superseded_by = $2, finished_at = $3, updated_at = $3
        WHERE id = ANY($1::text[]) AND state = 'queued'`, [followers.map(f => f.id), id, now])
      await sql.query(`UPDATE deliveries SET merged_event = $3::json, updated_at = $4
        WHERE id = $1 AND locked_by = $2 AND state = 'running'`, [id, owner, JSON.stringify(merged), now])
      return followers.map(f => f.id)
    })
  }

  async extendLease (id: string, owner: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.#db.query(`UPDATE deliveries SET locked_until = $3 WHERE id = $1 AND locked_by = $2 AND state = 'running'`,
      [id, owner, new Date(Date.now() + leaseMs)])
    return rowCount === 1
  }

  async retry (id: string, owner: string, update: RetryUpdate): Promise<boolean> {
    const { rowCount } = await this.#db.query(retrySql, [
      id, owner, new Date(), update.runAt, ...lastFields(update.attempt), ...attemptValues(update.attempt)
    ])
    return rowCount === 1
  }

  async finish (id: string, owner: string, update: FinishUpdate): Promise<boolean> {
    const { rowCount } = await this.#db.query(finishSql, [
      id, owner, new Date(), update.state, ...lastFields(update.attempt), textOrNull(update.executionId ?? null), ...attemptValues(update.attempt)
    ])
    return rowCount === 1
  }

  async release (ids: string[], owner: string): Promise<number> {
    if (ids.length === 0) return 0
    const { rowCount } = await this.#db.query(`UPDATE deliveries SET state = 'queued', locked_by = NULL, locked_until = NULL, attempts = attempts - 1, updated_at = $3
      WHERE id = ANY($1::text[]) AND locked_by = $2 AND state = 'running'`, [ids, owner, new Date()])
    return rowCount ?? 0
  }

  async reclaimExpired (now = new Date()): Promise<number> {
    const { rowCount } = await this.#db.query(`UPDATE deliveries SET state = 'queued', locked_by = NULL, locked_until = NULL, updated_at = $1
      WHERE seq IN (SELECT seq FROM deliveries WHERE state = 'running' AND locked_until < $1 FOR UPDATE SKIP LOCKED)`, [now])
    return rowCount ?? 0
  }

  async setOutcome (id: string, outcome: { status: string, detail: unknown, checkedAt: Date }): Promise<void> {
    await this.#db.query('UPDATE deliveries SET outcome = $2, outcome_detail = $3::json, outcome_checked_at = $4, updated_at = $4 WHERE id = $1',
      [id, text(outcome.status), json(outcome.detail), outcome.checkedAt])
  }

  async pendingOutcomes (options: { routes: string[], finishedAfter: Date, limit: number }): Promise<PendingOutcome[]> {
    if (options.routes.length === 0 || options.limit <= 0) return []
    const { rows } = await this.#db.query<{ id: string, route: string, execution_id: string, finished_at: Date }>(`SELECT id, route, execution_id, finished_at FROM deliveries
      WHERE state = 'succeeded' AND execution_id IS NOT NULL AND outcome IS NULL AND route = ANY($1::text[]) AND finished_at >= $2
      ORDER BY finished_at, seq LIMIT $3`, [options.routes, options.finishedAfter, options.limit])
    return rows.map(row => ({ id: row.id, route: row.route, executionId: row.execution_id, finishedAt: row.finished_at }))
  }

  async getDelivery (id: string): Promise<DeliveryDetail | null> {
    const [{ rows: [row] }, { rows: attempts }] = await Promise.all([
      this.#db.query<DeliveryRow & { payload: NormalizedEvent, dedupe_key: string, received_at: Date }>(
        'SELECT d.*, e.payload, e.dedupe_key, e.received_at FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = $1', [id]),
      this.#db.query<AttemptRow>('SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY number', [id])
    ])
    if (row === undefined) return null
    return {
      ...summary(row),
      event: row.merged_event ?? row.payload,
      dedupeKey: row.dedupe_key,
      receivedAt: row.received_at,
      request: row.request ?? null,
      attemptLog: attempts.map(a => ({
        number: a.number,
        startedAt: a.started_at,
        durationMs: a.duration_ms,
        outcome: a.outcome,
        status: a.status,
        error: a.error,
        hint: a.hint,
        correlationId: a.correlation_id,
        request: a.request ?? null,
        response: a.response
      })),
      outcomeDetail: row.outcome_detail ?? null,
      lockedBy: row.locked_by,
      lockedUntil: row.locked_until
    }
  }

  async listDeliveries (filter: DeliveryFilter, page: { limit: number, cursor?: string | null }): Promise<Page<DeliverySummary>> {
    const { where, params } = filterSql(filter)
    const cursor = decodeCursor(page.cursor)
    if (cursor !== null) where.push(`seq < $${params.push(cursor)}`)
    const limit = `$${params.push(page.limit + 1)}`
    const { rows } = await this.#db.query<DeliveryRow>(`SELECT * FROM deliveries ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${limit}`, params)
    const items = rows.slice(0, page.limit)
    const last = items.at(-1)
    return { items: items.map(summary), nextCursor: rows.length > page.limit && last !== undefined ? encodeCursor(Number(last.seq)) : null }
  }

  async requeue (filter: DeliveryFilter & { ids?: string[] }, options: { maxAttempts: number, now?: Date }): Promise<string[]> {
    const { where, params } = filterSql(filter)
    where.push("state IN ('failed', 'succeeded', 'dry_run')")
    if (filter.ids !== undefined) {
      if (filter.ids.length === 0) return []
      where.push(`id = ANY($${params.push(filter.ids)}::text[])`)
    }
    const now = `$${params.push(options.now ?? new Date())}`
    const maxAttempts = `$${params.push(options.maxAttempts)}`
    const { rows } = await this.#db.query<{ id: string }>(`WITH requeued AS (
        UPDATE deliveries SET state = 'queued', run_at = ${now}, max_attempts = attempts + ${maxAttempts}::integer,
          finished_at = NULL, updated_at = ${now}, outcome = NULL, outcome_detail = NULL, outcome_checked_at = NULL
        WHERE ${where.join(' AND ')} RETURNING id, seq)
      SELECT id FROM requeued ORDER BY seq`, params)
    return rows.map(r => r.id)
  }

  async purge (options: { states: DeliveryState[], before: Date, limit?: number }): Promise<number> {
    return await this.#db.transaction(async sql => {
      const { rows: [purged] } = await sql.query<{ n: number }>(`WITH doomed AS (
          SELECT id FROM deliveries WHERE state = ANY($1::text[]) AND coalesce(finished_at, updated_at) < $2
          ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED
        ), gone_attempts AS (
          DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM doomed)
        ), gone AS (
          DELETE FROM deliveries WHERE id IN (SELECT id FROM doomed) RETURNING id
        )
        SELECT count(*)::integer AS n FROM gone`, [options.states, options.before, options.limit ?? 10_000])
      // Events keep deduplicating until they are as old as the retention; then they go too.
      await sql.query(`DELETE FROM events e WHERE e.received_at < $1
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)`, [options.before])
      return purged?.n ?? 0
    })
  }

  async stats (now = new Date()): Promise<QueueStats> {
    const byState = Object.fromEntries(deliveryStates.map(state => [state, 0])) as Record<DeliveryState, number>
    const [counts, oldest] = await Promise.all([
      this.#db.query<{ state: DeliveryState, n: number }>('SELECT state, count(*)::integer AS n FROM deliveries GROUP BY state'),
      this.#db.query<{ oldest: Date | null }>("SELECT min(created_at) AS oldest FROM deliveries WHERE state IN ('queued', 'running')")
    ])
    for (const row of counts.rows) byState[row.state] = row.n
    const oldestAt = oldest.rows[0]?.oldest ?? null
    return { byState, oldestPendingAgeMs: oldestAt === null ? null : Math.max(0, now.getTime() - oldestAt.getTime()) }
  }

  async ping (): Promise<void> {
    await this.#db.query('SELECT 1')
  }

  async close (): Promise<void> {
    await this.#db.close()
  }
}

function lastFields (attempt: AttemptRecord): unknown[] {
  return [attempt.status, textOrNull(attempt.error), textOrNull(attempt.hint), json(attempt.request)]
}

function attemptValues (attempt: AttemptRecord): unknown[] {
  return [
    attempt.number, attempt.startedAt, Math.round(attempt.durationMs), attempt.outcome, attempt.status,
    textOrNull(attempt.error), textOrNull(attempt.hint), textOrNull(attempt.correlationId), json(attempt.request), textOrNull(attempt.response)
  ]
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
    runAt: row.run_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    hint: row.hint,
    executionId: row.execution_id,
    supersededBy: row.superseded_by,
    outcome: row.outcome
  }
}

function filterSql (filter: DeliveryFilter): { where: string[], params: unknown[] } {
  const where: string[] = []
  const params: unknown[] = []
  if (filter.state !== undefined) where.push(`state = $${params.push(filter.state)}`)
  if (filter.route !== undefined) where.push(`route = $${params.push(filter.route)}`)
  if (filter.source !== undefined) where.push(`source = $${params.push(filter.source)}`)
  if (filter.recordKey !== undefined) where.push(`record_key = $${params.push(filter.recordKey)}`)
  if (filter.since !== undefined) where.push(`created_at >= $${params.push(filter.since)}`)
  return { where, params }
}

function parseTime (iso: string | null): Date | null {
  if (iso === null) return null
  const ms = Date.parse(iso)
  return Number.isFinite(ms) ? new Date(ms) : null
}

const eventKey = (source: string, dedupeKey: string): string => `${source}\u0000${dedupeKey}`

const json = (value: unknown): string | null => value === undefined || value === null ? null : JSON.stringify(value)

/** PostgreSQL text cannot hold NUL (SQLite can); a CRM sending one should not turn ingest into a 500. */
function text (value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value
}

function textOrNull (value: string | null): string | null {
  return value === null ? null : text(value)
}
