import t from 'tap'
import Database from 'better-sqlite3'
import { GroupCommitter } from '../../src/store/sqlite/group-commit.js'
import { StoreUnavailableError } from '../../src/store/store.js'

function openDb (): Database.Database {
  const db = new Database(':memory:')
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)')
  return db
}

const keys = (db: Database.Database): string[] => db.prepare('SELECT k FROM t ORDER BY k').pluck().all() as string[]

/** A sync the test finishes by hand, to see who waits for it. */
function manualSyncs (): { sync: () => Promise<void>, started: Array<{ resolve: () => void, reject: (error: Error) => void }> } {
  const started: Array<{ resolve: () => void, reject: (error: Error) => void }> = []
  return { started, sync: async () => { await new Promise<void>((resolve, reject) => started.push({ resolve, reject })) } }
}

const settledFlags = <T>(promise: Promise<T>): { settled: boolean } => {
  const flags = { settled: false }
  promise.then(() => { flags.settled = true }, () => { flags.settled = true })
  return flags
}

const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** A committer whose fsyncs the test finishes by hand, and an insert into its table. */
function withManualSyncs (options: { committed?: () => void } = {}): ReturnType<typeof manualSyncs> & { db: Database.Database, writes: GroupCommitter, insert: Database.Statement } {
  const db = openDb()
  const syncs = manualSyncs()
  return { ...syncs, db, writes: new GroupCommitter(db, { ...options, sync: syncs.sync }), insert: db.prepare('INSERT INTO t VALUES (?)') }
}

t.test('writes asked for in one turn commit in one transaction', async t => {
  const db = openDb()
  let commits = 0
  const writes = new GroupCommitter(db, { committed: () => { commits++ } })
  const insert = db.prepare('INSERT INTO t VALUES (?)')
  const results = await Promise.all(['a', 'b', 'c'].map(async k => await writes.run(() => insert.run(k).changes)))
  t.same(results, [1, 1, 1])
  t.equal(commits, 1, 'one commit for the three')
  await writes.run(() => insert.run('d'))
  t.equal(commits, 2)
  t.same(keys(db), ['a', 'b', 'c', 'd'])
})

t.test('a write that throws rolls back alone; the rest of its group commits', async t => {
  const db = openDb()
  const writes = new GroupCommitter(db)
  const insert = db.prepare('INSERT INTO t VALUES (?)')
  const good1 = writes.run(() => insert.run('a'))
  const bad = writes.run(() => { insert.run('half-done'); throw new Error('mapping bug') })
  const good2 = writes.run(() => insert.run('b'))
  await t.resolves(good1)
  await t.rejects(bad, { message: 'mapping bug' })
  await t.resolves(good2)
  t.same(keys(db), ['a', 'b'], 'nothing of the failed write is kept')
  const alone = writes.run(() => { insert.run('c'); throw new Error('alone') })
  await t.rejects(alone, { message: 'alone' })
  t.same(keys(db), ['a', 'b'])
})

t.test('a storage failure rejects the whole group as StoreUnavailableError', async t => {
  const db = openDb()
  const writes = new GroupCommitter(db)
  const failure = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' })
  const a = writes.run(() => db.prepare('INSERT INTO t VALUES (?)').run('a'))
  const b = writes.run(() => { throw failure })
  await t.rejects(a, StoreUnavailableError)
  await t.rejects(b, StoreUnavailableError)
  t.same(keys(db), [])
})

t.test('callers are answered only once an fsync started after their commit has finished', async t => {
  let commits = 0
  const { db, started, writes, insert } = withManualSyncs({ committed: () => { commits++ } })
  const first = settledFlags(writes.run(() => insert.run('a')))
  await turn()
  t.equal(started.length, 1, 'an fsync starts after the first group commits')
  t.same(keys(db), ['a'], 'committed')
  t.notOk(first.settled, 'but not answered before the fsync')

  const second = settledFlags(writes.run(() => insert.run('b')))
  await turn()
  const third = settledFlags(writes.run(() => insert.run('c')))
  await turn()
  t.same(keys(db), ['a'], 'writes asked for during the fsync wait for it to end before committing')
  t.equal(started.length, 1, 'one fsync at a time')

  started[0]!.resolve()
  await turn()
  t.ok(first.settled, 'the first fsync answers the first group')
  t.notOk(second.settled, 'not the writes that came during it')
  await turn()
  t.same(keys(db), ['a', 'b', 'c'], 'they commit once it has ended')
  t.equal(commits, 2, 'in one transaction')
  t.equal(started.length, 2, 'and start the next fsync')
  const drained = settledFlags(writes.drain())
  await turn()
  t.notOk(second.settled || third.settled, 'answered only after that fsync')
  t.notOk(drained.settled, 'drain waits for the last fsync')
  started[1]!.resolve()
  await turn()
  t.ok(second.settled && third.settled)
  await turn()
  t.ok(drained.settled)
})

t.test('a write that need not be durable is not held back by an fsync in flight', async t => {
  const { db, started, writes, insert } = withManualSyncs()
  const first = settledFlags(writes.run(() => insert.run('a')))
  await turn()
  const waiting = settledFlags(writes.run(() => insert.run('b')))
  await turn()
  t.same(keys(db), ['a'], 'a durable write waits for the fsync in flight')
  const lease = settledFlags(writes.run(() => insert.run('c'), { durable: false }))
  await turn()
  t.same(keys(db), ['a', 'b', 'c'], 'a claim commits at once, with the durable write that was waiting')
  t.ok(lease.settled, 'and is answered at its commit')
  t.notOk(waiting.settled, 'the durable write is not: the fsync in flight started before its commit')
  t.equal(started.length, 1)
  started[0]!.resolve()
  await turn()
  t.ok(first.settled)
  t.notOk(waiting.settled)
  t.equal(started.length, 2, 'an fsync for it starts as soon as the last one ends')
  started[1]!.resolve()
  await turn()
  t.ok(waiting.settled)
})

t.test('a failed fsync answers its groups with StoreUnavailableError', async t => {
  const { started, writes, insert } = withManualSyncs()
  const pending = writes.run(() => insert.run('a'))
  await turn()
  started[0]!.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }))
  await t.rejects(pending, { name: 'StoreUnavailableError', message: /WAL fsync failed: EIO/ })
})

t.test('a write that need not be durable is answered at its commit, before the fsync', async t => {
  const { started, writes, insert } = withManualSyncs()
  const durable = settledFlags(writes.run(() => insert.run('a')))
  const lease = settledFlags(writes.run(() => insert.run('b'), { durable: false }))
  await turn()
  t.ok(lease.settled, 'answered after the commit')
  t.notOk(durable.settled, 'the durable write of the same group still waits')
  started[0]!.resolve()
  await turn()
  t.ok(durable.settled)
  await writes.run(() => insert.run('c'), { durable: false })
  t.equal(started.length, 1, 'a group of only such writes starts no fsync')
})
