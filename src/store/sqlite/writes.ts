import type Database from 'better-sqlite3'
import { mergeEvents } from '../coalesce.js'
import type { AttemptRecord, ClaimedDelivery, DeliveryFilter, DeliveryState, FinishUpdate, IngestResult, RetryUpdate } from '../store.js'
import { decodeEvent, encodeEvent } from './event-json.js'

/**
 * One event and its deliveries as the rows to insert, built where the webhook is handled so only
 * strings and numbers cross to the writer thread (cloning the parsed event cost more than encoding it).
 */
export interface IngestRow {
  eventId: string
  source: string
  dedupeKey: string
  externalId: string
  receivedAt: number
  occurredAt: number | null
  recordType: string | null
  recordId: string | null
  payload: string
  deliveries: Array<{ id: string, route: string, recordKey: string, maxAttempts: number, runAt: number }>
}

/** A claimed delivery as the writer returns it: times as numbers, the event as stored (decodeEvent). */
export type ClaimedRow = Omit<ClaimedDelivery, 'createdAt' | 'leaseUntil' | 'event'> & { createdAt: number, leaseUntil: number, payload: string }

interface CarrierRow {
  seq: number
  event_id: string
  route: string
  record_key: string
  merged_event: string | null
}

const pendingSql = "('queued', 'running')"
const json = (value: unknown): string | null => value === undefined || value === null ? null : JSON.stringify(value)

/**
 * Every write of the SQLite store, as synchronous functions of one connection. They run inside the
 * group commit's transaction, on the writer thread (or inline, for `:memory:` and read-only files);
 * arguments and results are plain data, so they can cross between threads.
 */
export class SqliteWrites {
  readonly #db: Database.Database
  readonly #stmt

  constructor (db: Database.Database) {
    this.#db = db
    const prepare = (sql: string): Database.Statement => db.prepare(sql)
    this.#stmt = {
      // The two inserts of every webhook bind by position: named parameters cost about 2 µs more each.
      insertEvent: prepare(`INSERT INTO events (id, source, dedupe_key, external_id, received_at, occurred_at, record_type, record_id, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (source, dedupe_key) DO NOTHING`),
      findEvent: prepare('SELECT id FROM events WHERE source = ? AND dedupe_key = ?').pluck(),
      insertDelivery: prepare(`INSERT INTO deliveries (id, event_id, route, source, record_key, order_at, state, max_attempts, run_at, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`),
      countQueued: prepare("UPDATE delivery_counts SET n = n + ? WHERE state = 'queued'"),
      reclaim: prepare(`UPDATE deliveries SET state = 'queued', locked_by = NULL, locked_until = NULL, updated_at = @now
        WHERE state = 'running' AND locked_until < @now`),
      claim: prepare(`UPDATE deliveries
        SET state = 'running', locked_by = @owner, locked_until = @until, attempts = attempts + 1, updated_at = @now
        WHERE seq IN (
          -- INDEXED BY: walk the due rows in (run_at, seq) order and stop at LIMIT. Without it the
          -- planner picks deliveries_state, tests every queued row, then sorts: ~100 ms per claim at
          -- 100k pending, ~1 s at 1M, with the writer blocked (docs/benchmarks.md).
          SELECT d.seq FROM deliveries d INDEXED BY deliveries_due
          WHERE d.state = 'queued' AND d.run_at <= @now
            AND NOT EXISTS (
              SELECT 1 FROM deliveries p
              WHERE p.route = d.route AND p.record_key = d.record_key AND p.state IN ${pendingSql} AND p.seq <> d.seq
                AND (p.state = 'running' OR p.order_at < d.order_at OR (p.order_at = d.order_at AND p.seq < d.seq)))
          ORDER BY d.run_at, d.seq
          LIMIT @limit)
        RETURNING seq, id, event_id, route, source, record_key, attempts, max_attempts, created_at, locked_until, run_at, merged_event`),
      eventPayload: prepare('SELECT payload FROM events WHERE id = ?').pluck(),
      carrier: prepare('SELECT seq, event_id, route, record_key, merged_event FROM deliveries WHERE id = ? AND locked_by = ? AND state = \'running\''),
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
      deleteAttempts: prepare('DELETE FROM attempts WHERE delivery_id = ?'),
      deleteDelivery: prepare('DELETE FROM deliveries WHERE id = ?'),
      // Events keep deduplicating until they are as old as the retention; then they go too.
      deleteOrphanEvents: prepare('DELETE FROM events WHERE received_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)')
    }
  }

  ingest (rows: IngestRow[]): IngestResult[] {
    const now = Date.now()
    let queued = 0
    const results = rows.map(row => {
      const inserted = this.#stmt.insertEvent.run(
        row.eventId, row.source, row.dedupeKey, row.externalId, row.receivedAt, row.occurredAt, row.recordType, row.recordId, row.payload
      ).changes === 1
      if (!inserted) return { inserted: false, eventId: this.#stmt.findEvent.get(row.source, row.dedupeKey) as string }
      const orderAt = row.occurredAt ?? row.receivedAt
      for (const delivery of row.deliveries) {
        this.#stmt.insertDelivery.run(delivery.id, row.eventId, delivery.route, row.source, delivery.recordKey, orderAt, delivery.maxAttempts, delivery.runAt, now, now)
      }
      queued += row.deliveries.length
      return { inserted: true, eventId: row.eventId }
    })
    // Schema 3: inserted deliveries are counted here, once per call (migrations.ts).
    if (queued > 0) this.#stmt.countQueued.run(queued)
    return results
  }

  claim (options: { owner: string, limit: number, leaseMs: number, now: number }): ClaimedRow[] {
    const now = options.now
    this.#stmt.reclaim.run({ now })
    const rows = this.#stmt.claim.all({ owner: options.owner, until: now + options.leaseMs, now, limit: options.limit }) as Array<{
      seq: number, id: string, event_id: string, route: string, source: string, record_key: string, attempts: number,
      max_attempts: number, created_at: number, locked_until: number, run_at: number, merged_event: string | null
    }>
    rows.sort((a, b) => a.run_at - b.run_at || a.seq - b.seq)
    return rows.map(row => ({
      id: row.id,
      eventId: row.event_id,
      route: row.route,
      source: row.source,
      recordKey: row.record_key,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
      createdAt: row.created_at,
      leaseUntil: row.locked_until,
      payload: row.merged_event ?? this.#stmt.eventPayload.get(row.event_id) as string
    }))
  }

  absorbFollowers (id: string, owner: string): string[] {
    const carrier = this.#stmt.carrier.get(id, owner) as CarrierRow | undefined
    if (carrier === undefined) return []
    const followers = this.#stmt.followers.all({ route: carrier.route, recordKey: carrier.record_key, seq: carrier.seq }) as Array<{ id: string, merged_event: string | null, payload: string }>
    if (followers.length === 0) return []
    const carried = decodeEvent(carrier.merged_event ?? this.#stmt.eventPayload.get(carrier.event_id) as string)
    const merged = mergeEvents(carried, followers.map(f => decodeEvent(f.merged_event ?? f.payload)))
    const now = Date.now()
    for (const follower of followers) this.#stmt.supersede.run({ id: follower.id, carrier: id, now })
    this.#stmt.setMerged.run({ id, owner, merged: encodeEvent(merged), now })
    return followers.map(f => f.id)
  }

  extendLease (id: string, owner: string, leaseMs: number): boolean {
    return this.#stmt.extend.run({ id, owner, until: Date.now() + leaseMs }).changes === 1
  }

  retry (id: string, owner: string, update: RetryUpdate): boolean {
    const changed = this.#stmt.retry.run({ id, owner, now: Date.now(), runAt: update.runAt.getTime(), ...lastFields(update.attempt) }).changes === 1
    if (changed) this.#insertAttempt(id, update.attempt)
    return changed
  }

  finish (id: string, owner: string, update: FinishUpdate): boolean {
    const changed = this.#stmt.finish.run({
      id, owner, now: Date.now(), state: update.state, executionId: update.executionId ?? null, ...lastFields(update.attempt)
    }).changes === 1
    if (changed) this.#insertAttempt(id, update.attempt)
    return changed
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

  release (ids: string[], owner: string): number {
    const now = Date.now()
    let released = 0
    for (const id of ids) released += this.#stmt.release.run({ id, owner, now }).changes
    return released
  }

  reclaimExpired (now: number): number {
    return this.#stmt.reclaim.run({ now }).changes
  }

  setOutcome (id: string, outcome: { status: string, detail: unknown, checkedAt: Date }): void {
    this.#stmt.setOutcome.run({ id, status: outcome.status, detail: json(outcome.detail), checkedAt: outcome.checkedAt.getTime() })
  }

  requeue (filter: DeliveryFilter & { ids?: string[] }, options: { maxAttempts: number, now: number }): string[] {
    const { where, params } = filterSql(filter)
    where.push("state IN ('failed', 'succeeded', 'dry_run')")
    if (filter.ids !== undefined) {
      if (filter.ids.length === 0) return []
      where.push('id IN (SELECT value FROM json_each(@ids))')
      params.ids = JSON.stringify(filter.ids)
    }
    const rows = this.#db.prepare(`UPDATE deliveries SET state = 'queued', run_at = @now, max_attempts = attempts + @maxAttempts,
        finished_at = NULL, updated_at = @now, outcome = NULL, outcome_detail = NULL, outcome_checked_at = NULL
      WHERE ${where.join(' AND ')} RETURNING id`).pluck().all({ ...params, now: options.now, maxAttempts: options.maxAttempts }) as string[]
    return rows
  }

  purge (options: { states: DeliveryState[], before: number, limit: number }): number {
    const ids = this.#db.prepare(`SELECT id FROM deliveries WHERE state IN (SELECT value FROM json_each(@states))
      AND coalesce(finished_at, updated_at) < @before ORDER BY seq LIMIT @limit`).pluck()
      .all({ states: JSON.stringify(options.states), before: options.before, limit: options.limit }) as string[]
    for (const id of ids) {
      this.#stmt.deleteAttempts.run(id)
      this.#stmt.deleteDelivery.run(id)
    }
    this.#stmt.deleteOrphanEvents.run(options.before)
    return ids.length
  }
}

/** The write operations, by name: what the store asks its writer to run. */
export type WriteOp = Exclude<keyof SqliteWrites, symbol>

function lastFields (attempt: AttemptRecord): Record<string, unknown> {
  return { status: attempt.status, error: attempt.error, hint: attempt.hint, request: json(attempt.request) }
}

export function filterSql (filter: DeliveryFilter): { where: string[], params: Record<string, unknown> } {
  const where: string[] = []
  const params: Record<string, unknown> = {}
  if (filter.state !== undefined) { where.push('state = @state'); params.state = filter.state }
  if (filter.route !== undefined) { where.push('route = @route'); params.route = filter.route }
  if (filter.source !== undefined) { where.push('source = @source'); params.source = filter.source }
  if (filter.recordKey !== undefined) { where.push('record_key = @recordKey'); params.recordKey = filter.recordKey }
  if (filter.since !== undefined) { where.push('created_at >= @since'); params.since = filter.since.getTime() }
  return { where, params }
}
