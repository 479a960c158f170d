import t, { type Test } from 'tap'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Checkpointer } from '../../src/store/sqlite/checkpointer.js'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { uuidv7 } from '../../src/store/ids.js'
import { tempDir } from '../helper.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function until (t: Test, check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(25)
  t.ok(check(), what)
}

t.test('the WAL is copied into the database file by the worker, not by commits on the event loop', async t => {
  const file = join(tempDir(t), 'ckpt.db')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE t (v TEXT)')
  const checkpointer = new Checkpointer(db, file)
  t.teardown(async () => { await checkpointer.close(); db.close() })
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'SQLite\'s own checkpoint is off on this connection')
  const before = statSync(file).size
  const insert = db.prepare('INSERT INTO t VALUES (?)')
  db.transaction(() => { for (let i = 0; i < 2000; i++) insert.run('x'.repeat(3000)) })()
  t.equal(statSync(file).size, before, 'the commit itself copied nothing')
  checkpointer.committed()
  await until(t, () => statSync(file).size > before + 5_000_000, 'the worker checkpointed the WAL into the file')
})

t.test('under steady writes the WAL stays bounded, and everything survives a reopen', async t => {
  const file = join(tempDir(t), 'bounded.db')
  const store = openSqliteStore({ file })
  const fields = { notes: 'n'.repeat(2500) }
  let walPeak = 0
  const total = 12_000
  for (let i = 0; i < total; i += 40) {
    await Promise.all(Array.from({ length: 40 }, async (_, j) => {
      const id = `e${i + j}`
      await store.ingest([{
        eventId: uuidv7(),
        source: 'crm',
        dedupeKey: id,
        event: { event: { id, occurredAt: null, type: null }, record: { type: 'Contact', id, fields, changed: null }, raw: {}, source: { name: 'crm', type: 'generic' } },
        receivedAt: new Date(),
        deliveries: [{ id: uuidv7(), route: 'r', recordKey: id, runAt: new Date(Date.now() + 3_600_000), maxAttempts: 3 }]
      }])
    }))
    walPeak = Math.max(walPeak, statSync(`${file}-wal`).size)
  }
  t.ok(statSync(file).size > 30_000_000, 'the database file holds the rows')
  t.ok(walPeak < 40 * 1024 * 1024, `the WAL stayed under 40 MB (peak ${Math.round(walPeak / 1e6)} MB for ${total} events of 3 KB)`)
  await store.close()
  const reopened = openSqliteStore({ file, readonly: true })
  t.equal((await reopened.stats()).byState.queued, total)
  await reopened.close()
})

t.test('if the worker cannot run, SQLite checkpoints on its own again', async t => {
  const dir = tempDir(t)
  const db = new Database(join(dir, 'fallback.db'))
  db.pragma('journal_mode = WAL')
  const checkpointer = new Checkpointer(db, join(dir, 'missing', 'nothing.db'))
  t.teardown(async () => { await checkpointer.close(); db.close() })
  await until(t, () => db.pragma('wal_autocheckpoint', { simple: true }) === 1000, 'automatic checkpoints are back on')
})
