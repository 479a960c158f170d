import t from 'tap'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { tempDir } from '../helper.js'
import { storeContract } from './store-contract.js'
import { uuidv7 } from '../../src/store/ids.js'
import type { IngestItem } from '../../src/store/store.js'

t.test('with the writer thread', async t => {
  storeContract(t, async t => {
    const store = openSqliteStore({ file: join(tempDir(t), 'store.db'), writerThread: true })
    t.teardown(async () => { await store.close() })
    return store
  })
})

t.test('with writes on the calling thread (the default)', async t => {
  storeContract(t, async t => {
    const store = openSqliteStore({ file: join(tempDir(t), 'store.db') })
    t.teardown(async () => { await store.close() })
    return store
  })
})

t.test('a committed event survives closing and reopening the file', async t => {
  const file = join(tempDir(t), 'durable.db')
  const store = openSqliteStore({ file })
  const event = { event: { id: 'e1', occurredAt: null, type: null }, record: { type: null, id: 'A', fields: {}, changed: null }, raw: {}, source: { name: 'crm', type: 'generic' } }
  await store.ingest([{ eventId: uuidv7(), source: 'crm', dedupeKey: 'e1', event, receivedAt: new Date(), deliveries: [{ id: uuidv7(), route: 'r', recordKey: 'A', runAt: new Date(), maxAttempts: 3 }] }])
  await store.close()
  const reopened = openSqliteStore({ file })
  t.teardown(async () => { await reopened.close() })
  t.equal((await reopened.stats()).byState.queued, 1)
})

t.test('a file from a newer schema is refused with a clear message', async t => {
  const file = join(tempDir(t), 'newer.db')
  const store = openSqliteStore({ file })
  await store.close()
  const Database = (await import('better-sqlite3')).default
  const db = new Database(file)
  db.pragma('user_version = 99')
  db.close()
  t.throws(() => openSqliteStore({ file }), /schema version 99, newer than this build knows/)
})

t.test('a schema 2 file keeps its counts when migrated, and counts what is ingested after', async t => {
  const file = join(tempDir(t), 'schema2.db')
  const Database = (await import('better-sqlite3')).default
  const { sqliteMigrations } = await import('../../src/store/sqlite/migrations.js')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  sqliteMigrations.slice(0, 2).forEach((sql, i) => { db.exec(sql); db.pragma(`user_version = ${i + 1}`) })
  db.prepare("INSERT INTO events (id, source, dedupe_key, external_id, received_at, payload) VALUES ('ev0', 'crm', 'e0', 'e0', 0, '{}')").run()
  db.prepare(`INSERT INTO deliveries (id, event_id, route, source, record_key, order_at, state, max_attempts, run_at, created_at, updated_at)
    VALUES ('d0', 'ev0', 'r', 'crm', 'A', 0, 'queued', 3, 0, 0, 0)`).run()
  db.close()

  const store = openSqliteStore({ file })
  t.teardown(async () => { await store.close() })
  t.equal((await store.stats()).byState.queued, 1, 'the row counted by the schema 2 trigger')
  const event = (id: string): IngestItem['event'] => ({ event: { id, occurredAt: null, type: null }, record: { type: null, id: 'B', fields: {}, changed: null }, raw: {}, source: { name: 'crm', type: 'generic' } })
  const item = (id: string, routes: string[]): IngestItem => ({ eventId: uuidv7(), source: 'crm', dedupeKey: id, event: event(id), receivedAt: new Date(), deliveries: routes.map(route => ({ id: uuidv7(), route, recordKey: 'B', runAt: new Date(), maxAttempts: 3 })) })
  await store.ingest([item('e1', ['r', 's']), item('e2', ['r'])])
  await store.ingest([item('e1', ['r', 's'])])
  t.equal((await store.stats()).byState.queued, 4, 'two events with three deliveries; the duplicate adds none')
  const counted = new Database(file, { readonly: true })
  t.teardown(() => counted.close())
  t.equal(counted.prepare("SELECT count(*) FROM deliveries WHERE state = 'queued'").pluck().get(), 4, 'the count matches the table')
  t.equal(counted.pragma('user_version', { simple: true }), sqliteMigrations.length)
})
