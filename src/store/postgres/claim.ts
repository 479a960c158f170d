import type { SqlRunner } from './pg-database.js'
import { advisoryLockSpace } from './migrate.js'

/**
 * Claiming on PostgreSQL, with several instances claiming at once.
 *
 * Exclusivity of one delivery is the classic queue claim (graphile-worker `getJobs`, pg-boss
 * `fetchNextJob`): `FOR UPDATE SKIP LOCKED` and a lease stamped in the same statement.
 *
 * Per-record ordering needs more: "the head of its (route, record key) queue, with none of that
 * queue running" is a condition on *other* rows, and under READ COMMITTED a statement judges
 * other rows by the snapshot taken when it started. Two claimers can then each see a different
 * head of the same queue: claimer A leases Y while an earlier-occurred X of the same record
 * commits; claimer B, whose snapshot has X but not A's lease, takes X. Row locks cannot stop it,
 * because A and B lock different rows.
 *
 * So a claim takes three statements in one transaction:
 * 1. reclaim: expired leases go back to `queued` (only lowers what is running);
 * 2. lock queues: walk the due heads in run_at order and take `pg_try_advisory_xact_lock` on each
 *    one's (schema, route, record key) until `limit` are held; a queue another claimer holds is
 *    skipped, as SKIP LOCKED skips a row;
 * 3. claim: re-pick the heads of just those queues, `FOR UPDATE SKIP LOCKED`, and lease them.
 *
 * Statement 3 takes its snapshot after the locks are granted, and a transaction's locks are
 * released only after its commit is visible, so it sees every lease an earlier holder of the
 * queue committed. Only a claim turns a delivery `running`, and every claim holds its queues'
 * locks until it commits, so no queue ever has two running. Everything else that changes a queue
 * concurrently (ingest adding a later delivery, a finish or retry ending a lease, a reclaim) can
 * only make statement 3 more careful, never wrong. Hash collisions only make two queues take
 * turns. Advisory locks are per database, hence the schema in the key.
 */

const headCondition = `d.state = 'queued' AND d.run_at <= $1
  AND NOT EXISTS (
    SELECT 1 FROM deliveries p
    WHERE p.route = d.route AND p.record_key = d.record_key AND p.state IN ('queued', 'running') AND p.seq <> d.seq
      AND (p.state = 'running' OR p.order_at < d.order_at OR (p.order_at = d.order_at AND p.seq < d.seq)))`

export const reclaimSql = `UPDATE deliveries SET state = 'queued', locked_by = NULL, locked_until = NULL, updated_at = $1
  WHERE seq IN (SELECT seq FROM deliveries WHERE state = 'running' AND locked_until < $1 FOR UPDATE SKIP LOCKED)`

/*
 * The inner LIMIT bounds how many heads are even considered; the outer LIMIT stops calling the
 * lock function once `limit` queues are held (rows are pulled lazily through the filter), so a
 * claimer never holds queues it will not claim from.
 */
const lockQueuesSql = `SELECT c.route, c.record_key FROM (
    SELECT d.route, d.record_key FROM deliveries d
    WHERE ${headCondition}
    ORDER BY d.run_at, d.seq
    LIMIT $2
  ) c
  WHERE pg_try_advisory_xact_lock($3::integer, hashtext($4::text || c.route || chr(31) || c.record_key))
  LIMIT $5`

const claimSql = `WITH queues AS (
    SELECT * FROM unnest($2::text[], $3::text[]) AS q (route, record_key)
  ), picked AS (
    SELECT d.seq FROM deliveries d JOIN queues q ON q.route = d.route AND q.record_key = d.record_key
    WHERE ${headCondition}
    ORDER BY d.run_at, d.seq
    LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
  )
  UPDATE deliveries d
  SET state = 'running', locked_by = $5, locked_until = $6, attempts = d.attempts + 1, updated_at = $1
  FROM picked, events e
  WHERE d.seq = picked.seq AND e.id = d.event_id
  RETURNING d.id, d.seq, d.event_id, d.route, d.source, d.record_key, d.attempts, d.max_attempts, d.created_at,
    d.locked_until, d.run_at, coalesce(d.merged_event, e.payload) AS event`

export interface ClaimedRow {
  id: string
  seq: string
  event_id: string
  route: string
  source: string
  record_key: string
  attempts: number
  max_attempts: number
  created_at: Date
  locked_until: Date
  run_at: Date
  event: unknown
}

/**
 * Runs inside one transaction; see the comment above for why it is three statements. When the
 * lock step worked from a snapshot older than a commit it then waited out, some queues it locked
 * have nothing claimable any more; the lock and claim steps then run again (fresh snapshots) for
 * what is still missing, a bounded number of times.
 */
export async function claimInTransaction (sql: SqlRunner, options: { schema: string, owner: string, limit: number, now: Date, until: Date }): Promise<ClaimedRow[]> {
  const { now } = options
  await sql.query(reclaimSql, [now])
  const claimed: ClaimedRow[] = []
  for (let round = 0; round < 3 && claimed.length < options.limit; round++) {
    const wanted = options.limit - claimed.length
    // Look past heads other claimers hold, but not without bound.
    const scan = wanted * 4 + 32
    const { rows: queues } = await sql.query<{ route: string, record_key: string }>(lockQueuesSql, [now, scan, advisoryLockSpace, `${options.schema}\u001f`, wanted])
    if (queues.length === 0) break
    const { rows } = await sql.query<ClaimedRow>(claimSql, [now, queues.map(q => q.route), queues.map(q => q.record_key), wanted, options.owner, options.until])
    claimed.push(...rows)
    if (rows.length === queues.length) break
  }
  return claimed.sort((a, b) => a.run_at.getTime() - b.run_at.getTime() || Number(BigInt(a.seq) - BigInt(b.seq)))
}
