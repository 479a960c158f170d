import t from 'tap'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { tempDir } from '../helper.js'
import { storeContract } from './store-contract.js'
import { uuidv7 } from '../../src/store/ids.js'

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
