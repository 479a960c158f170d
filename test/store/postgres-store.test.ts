import t, { type Test } from 'tap'
import type { Log } from '../../src/logging/log.js'
import { uuidv7 } from '../../src/store/ids.js'
import { postgresMigrations } from '../../src/store/postgres/migrations.js'
import { openStore } from '../../src/store/open-store.js'
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { StoreUnavailableError, type IngestItem, type Store } from '../../src/store/store.js'
import { startPgServer } from '../pg-helper.js'
import { runClaimers, storeContract } from './store-contract.js'

const server = await startPgServer(t)

async function open (t: Test, schema: string, options: { log?: Log, poolSize?: number } = {}): Promise<PostgresStore> {
  const store = await openPostgresStore({ url: server.url(), schema, poolSize: options.poolSize ?? 5, ...(options.log === undefined ? {} : { log: options.log }) })
  t.teardown(async () => { await store.close() })
  return store
}

function item (id: string, recordId: string, occurredAt: Date = new Date()): IngestItem {
  return {
    eventId: uuidv7(),
    source: 'crm',
    dedupeKey: id,
    event: { event: { id, occurredAt: occurredAt.toISOString(), type: null }, record: { type: 'Contact', id: recordId, fields: {}, changed: null }, raw: { id }, source: { name: 'crm', type: 'generic' } },
    receivedAt: new Date(),
    deliveries: [{ id: uuidv7(), route: 'r1', recordKey: recordId, runAt: new Date(Date.now() - 1), maxAttempts: 5 }]
  }
}

/** A Log that keeps what it is given, for asserting on events. */
function recordingLog (lines: Array<Record<string, unknown>>): Log {
  const write = (obj: unknown): void => { lines.push(obj as Record<string, unknown>) }
  const log: Log = { fatal: write, error: write, warn: write, info: write, debug: write, trace: write, child: () => log } as unknown as Log
  return log
}

storeContract(t, async t => await open(t, server.schemaFor(t)))

t.test('three instances (three pools) claiming at once: no delivery twice, never two of a record in flight', async t => {
  const schema = server.schemaFor(t)
  const stores = await Promise.all([1, 2, 3].map(async () => await open(t, schema)))
  const records = 8
  const perRecord = 30
  // New events of a record arrive older than the ones before, through all three instances,
  // while the claimers run: the different-heads race of claim.ts, as often as the timing allows.
  const producing = (async () => {
    for (let n = 0; n < perRecord; n++) {
      await Promise.all(Array.from({ length: records }, (_, r) =>
        stores[(r + n) % 3]!.ingest([item(`R${r}-${n}`, `R${r}`, new Date(Date.UTC(2026, 0, 1, 1) - n * 1000))])))
    }
  })()
  let doubleRunning = 0
  let settled = false
  const watching = (async () => {
    // The database's own view, sampled while it runs.
    while (!settled) {
      const { rows } = await stores[0]!.sql.query(`SELECT route, record_key FROM deliveries WHERE state = 'running'
        GROUP BY route, record_key HAVING count(*) > 1`)
      doubleRunning += rows.length
      await new Promise(resolve => setTimeout(resolve, 2))
    }
  })()
  const run = await runClaimers(stores, { workersPerStore: 3, producing }).finally(() => { settled = true })
  await watching
  t.same(run.overlaps, [], 'no claim returned a record already in flight')
  t.equal(doubleRunning, 0, 'the table never showed two running deliveries of one record')
  t.equal(run.claimed.length, records * perRecord)
  t.equal(new Set(run.claimed.map(c => c.id)).size, records * perRecord, 'every delivery claimed exactly once')
  t.same(run.lost, [])
})

t.test('two instances starting at once migrate once', async t => {
  const schema = server.schemaFor(t)
  const lines: Array<Record<string, unknown>> = []
  const stores = await Promise.all([1, 2, 3].map(async () => await open(t, schema, { log: recordingLog(lines) })))
  t.equal(stores.length, 3, 'all three opened')
  const migrated = lines.filter(l => l.event === 'store.migrated')
  t.same(migrated.map(l => l.version), postgresMigrations.map(m => m.version), 'each migration applied by exactly one of them')
  const { rows } = await stores[0]!.sql.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
  t.same(rows.map(r => r.version), postgresMigrations.map(m => m.version))
  const again: Array<Record<string, unknown>> = []
  await open(t, schema, { log: recordingLog(again) })
  t.same(again.filter(l => l.event === 'store.migrated'), [], 'a later start finds nothing to do')
})

t.test('a schema from a newer build is refused with a clear message', async t => {
  const schema = server.schemaFor(t)
  const store = await open(t, schema)
  await store.sql.query("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")
  await t.rejects(openPostgresStore({ url: server.url(), schema }), { name: 'StoreUnavailableError', message: /version 99, newer than this build knows/ })
})

t.test('a lease that runs out on one instance is taken over by another, in real time', async t => {
  const schema = server.schemaFor(t)
  const [a, b] = await Promise.all([open(t, schema), open(t, schema)])
  await a!.ingest([item('e1', 'A'), item('e2', 'A', new Date(Date.now() + 1000))])
  const [first] = await a!.claim({ owner: 'instance-a', limit: 5, leaseMs: 300 })
  t.same(await b!.claim({ owner: 'instance-b', limit: 5, leaseMs: 10_000 }), [], 'held while the lease runs')
  await new Promise(resolve => setTimeout(resolve, 400))
  const taken = await b!.claim({ owner: 'instance-b', limit: 5, leaseMs: 10_000 })
  t.same(taken.map(c => c.id), [first!.id], 'the expired delivery, and not the next one of its record')
  t.equal(taken[0]!.attempt, 2)
  t.notOk(await a!.finish(first!.id, 'instance-a', { state: 'succeeded', attempt: { number: 1, startedAt: new Date(), durationMs: 1, outcome: 'succeeded', status: 200, error: null, hint: null, correlationId: null, request: null, response: null } }), 'the first owner cannot finish it')
  t.equal(await a!.reclaimExpired(), 0, 'nothing left to reclaim')
})

t.test('text with NUL characters is stored instead of failing the ingest', async t => {
  const store = await open(t, server.schemaFor(t))
  const [result] = await store.ingest([item('nul\u0000id', 'R\u0000')])
  t.ok(result!.inserted)
  const again = await store.ingest([item('nul\u0000id', 'R\u0000')])
  t.notOk(again[0]!.inserted, 'and still deduplicates')
})

t.test('PostgreSQL going away: calls fail as unavailable, then work again without reopening', async t => {
  const store = await open(t, server.schemaFor(t))
  await store.ingest([item('before', 'A')])

  await server.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crm-flow-bridge' AND pid <> pg_backend_pid()`)
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await store.stats()).byState.queued, 1, 'connections killed while idle are replaced')

  await server.stop()
  t.teardown(async () => { if (!server.running) await server.start() })
  await t.rejects(store.ingest([item('during', 'B')]), StoreUnavailableError, 'ingest rejects as unavailable (the route answers 503)')
  await t.rejects(store.claim({ owner: 'w', limit: 5, leaseMs: 10_000 }), StoreUnavailableError, 'claims too (the dispatcher pauses)')
  await t.rejects(store.ping(), StoreUnavailableError)

  await server.start()
  const [after] = await store.ingest([item('after', 'C')])
  t.ok(after!.inserted, 'ingest works again on the same store')
  const claimed = await store.claim({ owner: 'w', limit: 5, leaseMs: 10_000 })
  t.same(claimed.map(c => c.event.event.id).sort(), ['after', 'before'], 'nothing accepted before the outage was lost; the refused one was never stored')
})

t.test('a store that cannot reach PostgreSQL at startup fails as unavailable', async t => {
  await t.rejects(openPostgresStore({ url: 'postgres://postgres:postgres@127.0.0.1:1/postgres', connectTimeoutMs: 1000 }), StoreUnavailableError)
})

t.test('DATABASE_URL opens the PostgreSQL store, in the schema ?schema= names', async t => {
  const store: Store = await openStore({ kind: 'postgres', url: `${server.url()}?schema=from_url` }, { poolSize: 2 })
  t.teardown(async () => { await store.close() })
  t.equal(store.kind, 'postgres')
  await store.ingest([item('e1', 'A')])
  const { rows } = await server.admin("SELECT count(*)::integer AS n FROM from_url.events")
  t.equal(rows[0].n, 1, 'the tables are in that schema')
})
