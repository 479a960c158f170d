import t from 'tap'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { createRequire } from 'node:module'
import Database from 'better-sqlite3'
import { uuidv7 } from '../../src/store/ids.js'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { ThreadWriter } from '../../src/store/sqlite/writer.js'
import { StoreUnavailableError, type IngestItem } from '../../src/store/store.js'
import { contactEvent, startBridge, tempDir, waitFor } from '../helper.js'

const item = (id: string, deliveryId = uuidv7()): IngestItem => ({
  eventId: uuidv7(),
  source: 'crm',
  dedupeKey: id,
  event: { event: { id, occurredAt: null, type: null }, record: { type: 'Contact', id, fields: {}, changed: null }, raw: { id }, source: { name: 'crm', type: 'generic' } },
  receivedAt: new Date(),
  deliveries: [{ id: deliveryId, route: 'r', recordKey: id, runAt: new Date(), maxAttempts: 3 }]
})

/** Holds SQLite's write lock on `file` from another thread until told to let go. */
async function holdWriteLock (file: string): Promise<{ release: () => Promise<void> }> {
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const db = new (require(workerData.driver))(workerData.file)
    db.exec('BEGIN IMMEDIATE')
    parentPort.postMessage('locked')
    parentPort.once('message', () => { db.exec('COMMIT'); db.close(); parentPort.close() })
  `, { eval: true, workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3') } })
  await new Promise(resolve => worker.once('message', resolve))
  return {
    release: async () => {
      const exited = new Promise(resolve => worker.once('exit', resolve))
      worker.postMessage('release')
      await exited
    }
  }
}

t.test('a write waiting for the disk leaves the event loop free: the writer thread waits, not the caller', async t => {
  const file = join(tempDir(t), 'free-loop.db')
  const store = openSqliteStore({ file, writerThread: true })
  t.teardown(async () => { await store.close() })
  await store.ingest([item('warm-up')])
  const lock = await holdWriteLock(file)
  let ingested = false
  const ingest = store.ingest([item('while-locked')]).then(result => { ingested = true; return result })
  // With writes on this thread, SQLite's busy wait would hold the loop until the lock is gone.
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(ingested, false, 'the write is still waiting for the lock')
  t.equal((await store.stats()).byState.queued, 1, 'reads are answered meanwhile')
  await lock.release()
  t.same((await ingest).map(r => r.inserted), [true])
  t.equal((await store.stats()).byState.queued, 2, 'a read after the answer sees the write')
})

t.test('close answers every write asked for before it, and they are in the file', async t => {
  const file = join(tempDir(t), 'close.db')
  const store = openSqliteStore({ file, writerThread: true })
  const writes = Array.from({ length: 200 }, (_, i) => store.ingest([item(`e${i}`)]))
  await store.close()
  const results = await Promise.all(writes)
  t.equal(results.filter(r => r[0]!.inserted).length, 200)
  await t.rejects(store.ingest([item('late')]), StoreUnavailableError, 'a write after close is refused as unavailable')
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.prepare('SELECT count(*) FROM deliveries').pluck().get(), 200)
})

t.test('a write that fails in the thread rejects with its SQLite error; the rest of its group commits', async t => {
  const store = openSqliteStore({ file: join(tempDir(t), 'errors.db'), writerThread: true })
  t.teardown(async () => { await store.close() })
  const taken = uuidv7()
  await store.ingest([item('first', taken)])
  const [clash, fine] = await Promise.allSettled([store.ingest([item('second', taken)]), store.ingest([item('third')])])
  t.match(clash, { status: 'rejected', reason: { code: 'SQLITE_CONSTRAINT_UNIQUE', message: /UNIQUE constraint failed: deliveries\.id/ } })
  t.notOk((clash as PromiseRejectedResult).reason instanceof StoreUnavailableError, 'a constraint is not an outage')
  t.match(fine, { status: 'fulfilled', value: [{ inserted: true }] })
  t.equal((await store.stats()).byState.queued, 2)
})

t.test('a writer thread that cannot start makes every write fail as unavailable', async t => {
  const writer = new ThreadWriter({ file: join(tempDir(t), 'missing', 'nothing.db'), durable: true })
  t.teardown(async () => { await writer.close() })
  await t.rejects(writer.run('reclaimExpired', [Date.now()], true), { name: 'StoreUnavailableError', message: /SQLite writer thread failed: Cannot open database/ })
  t.ok(writer.failure instanceof StoreUnavailableError)
  await t.rejects(writer.run('reclaimExpired', [Date.now()], true), StoreUnavailableError, 'later writes too, at once')
})

t.test('a store whose writer thread could not open the file fails ping (readiness) and answers writes as unavailable', async t => {
  const dir = tempDir(t)
  const file = join(dir, 'gone.db')
  const store = openSqliteStore({ file, writerThread: true })
  t.teardown(async () => { await store.close() })
  // The writer thread opens the file after openSqliteStore returns; by then it is gone.
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true })
  await t.rejects(store.ingest([item('after')]), { name: 'StoreUnavailableError', message: /SQLite writer thread failed/ })
  await t.rejects(store.ping(), StoreUnavailableError)
})

t.test('SQLITE_WRITER_THREAD=true: a webhook waiting for the disk leaves the service answering others', async t => {
  const bridge = await startBridge(t, { env: { SQLITE_WRITER_THREAD: 'true' } })
  const lock = await holdWriteLock(bridge.dbFile)
  let answered = false
  const webhook = bridge.post(contactEvent('while-locked')).then(response => { answered = true; return response })
  await waitFor(() => bridge.logs.events('webhook.received').length > 0, 5000, 'the webhook to reach the handler')
  await new Promise(resolve => setTimeout(resolve, 50))
  // With writes on the event loop, SQLite's busy wait would hold it until the lock's timeout, and
  // the webhook would have been answered 503 by now.
  t.equal((await fetch(`${bridge.url}/healthz`)).status, 200, 'the event loop is free')
  t.equal(answered, false, 'the webhook still waits for its commit')
  await lock.release()
  t.equal((await webhook).status, 202)
})
