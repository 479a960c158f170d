import t, { type Test } from 'tap'
import { PostgresRateLimiter, type PostgresRateLimiterOptions } from '../../src/genesys/postgres-rate-limiter.js'
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { StoreUnavailableError } from '../../src/store/store.js'
import { startPgServer } from '../pg-helper.js'

const server = await startPgServer(t)

/** `count` instances (each its own pool) on one fresh schema. */
async function instances (t: Test, count: number): Promise<PostgresStore[]> {
  const schema = server.schemaFor(t)
  const stores: PostgresStore[] = []
  for (let i = 0; i < count; i++) stores.push(await openPostgresStore({ url: server.url(), schema, poolSize: 3 }))
  t.teardown(async () => { await Promise.all(stores.map(async s => { await s.close() })) })
  return stores
}

function limiter (store: PostgresStore, options: Partial<PostgresRateLimiterOptions> = {}): PostgresRateLimiter {
  return new PostgresRateLimiter({ sql: store.sql, name: 'genesys:test', perMinute: 600, burst: 3, ...options })
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

t.test('instances spend from one bucket: the burst once, then the shared pace', async t => {
  const [a, b, c] = (await instances(t, 3)).map(s => limiter(s))
  const started = Date.now()
  const times: number[] = []
  // 3 instances × 4 calls = 12 calls; burst 3, then 10/s: the last may start no sooner than ~900 ms.
  await Promise.all([a!, b!, c!].flatMap(l => Array.from({ length: 4 }, async () => { await l.acquire(); times.push(Date.now() - started) })))
  times.sort((x, y) => x - y)
  t.ok(times[2]! < 300, `the burst goes at once (${times.slice(0, 3).join(', ')} ms)`)
  t.ok(times[11]! >= 850, `the rest at the shared pace, not each instance's own: last at ${times[11]} ms`)
  for (let i = 0; i < times.length; i++) {
    t.ok(i + 1 <= 3 + Math.floor(times[i]! / 100) + 1, `call ${i + 1} at ${times[i]} ms is within burst + rate`)
  }
})

t.test('a 429 seen by one instance pauses all, then exactly one probe goes first', async t => {
  const [a, b] = (await instances(t, 2)).map(s => limiter(s, { perMinute: 6000, burst: 5 }))
  await a!.acquire()
  a!.pause(new Date(Date.now() + 400))
  t.equal(a!.available(), 0)
  t.ok(a!.pausedForMs() > 300)
  const started = Date.now()
  const order: string[] = []
  const calls = [
    b!.acquire().then(() => { order.push('b1') }),
    b!.acquire().then(() => { order.push('b2') }),
    a!.acquire().then(() => { order.push('a1') })
  ]
  await sleep(700)
  t.equal(order.length, 1, `one probe after the pause (${order.join(', ')})`)
  t.ok(Date.now() - started >= 400, 'nobody before the pause ended')
  const prober = order[0]!.startsWith('a') ? a! : b!
  t.equal(prober.msUntilAvailable(), Infinity, 'the prober knows its probe is out')
  prober.answered()
  await Promise.all(calls)
  t.equal(order.length, 3, 'the others follow once the probe is answered')
})

t.test('a probe whose instance died is handed on after the probe lease', async t => {
  const [a, b] = (await instances(t, 2)).map(s => limiter(s, { perMinute: 6000, burst: 5, probeLeaseMs: 300 }))
  a!.pause(new Date(Date.now() + 50))
  await sleep(100)
  await a!.acquire() // the probe; instance a then "dies" without answering
  const started = Date.now()
  await b!.acquire()
  t.ok(Date.now() - started >= 200, `b probed only after a's probe lease ran out (${Date.now() - started} ms)`)
})

t.test('an aborted wait rejects', async t => {
  const [store] = await instances(t, 1)
  // A minute per token: if the abandoned wait kept its timer, this file would take a minute longer.
  const l = limiter(store!, { perMinute: 1, burst: 1 })
  await l.acquire()
  const controller = new AbortController()
  const waiting = l.acquire(controller.signal)
  await sleep(100)
  controller.abort(new Error('stop'))
  await t.rejects(waiting, /stop/)
  t.equal(l.available(), 0)
  t.ok(l.msUntilAvailable() > 0)
})

t.test('perMinute 0 is unlimited', async t => {
  const [store] = await instances(t, 1)
  const l = limiter(store!, { perMinute: 0, burst: 1 })
  await Promise.all(Array.from({ length: 20 }, async () => { await l.acquire() }))
  t.equal(l.available(), Infinity)
})

t.test('without the database no call may start', async t => {
  const [store] = await instances(t, 1)
  const l = limiter(store!)
  await l.acquire()
  await server.stop()
  t.teardown(async () => { if (!server.running) await server.start() })
  await t.rejects(l.acquire(), StoreUnavailableError)
  await server.start()
  await l.acquire()
  t.pass('and calls start again once it is back')
})
