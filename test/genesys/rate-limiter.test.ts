import t from 'tap'
import { TokenBucket } from '../../src/genesys/rate-limiter.js'

t.test('a burst passes at once, then calls are paced', async t => {
  let now = 0
  const bucket = new TokenBucket({ perMinute: 60, burst: 3, now: () => now })
  for (let i = 0; i < 3; i++) await bucket.acquire()
  t.equal(bucket.available(), 0)
  t.equal(bucket.msUntilAvailable(), 1000)
  now += 1000
  t.equal(bucket.available(), 1)
  await bucket.acquire()
  now += 10_000
  t.equal(bucket.available(), 3, 'never more than the burst')
})

t.test('a pause stops everyone, then one probe goes first', async t => {
  let now = 0
  const bucket = new TokenBucket({ perMinute: 6000, burst: 5, now: () => now })
  bucket.pause(new Date(5000))
  t.equal(bucket.available(), 0)
  t.equal(bucket.msUntilAvailable(), 5000)
  now = 5000
  t.equal(bucket.available(), 1, 'one probe')
  await bucket.acquire()
  t.equal(bucket.available(), 0, 'nobody else until the probe is answered')
  t.equal(bucket.msUntilAvailable(), Infinity)
  bucket.answered()
  now = 5100
  t.ok(bucket.available() >= 1, 'back to the configured pace')
})

t.test('waiters are served in order as tokens refill (real clock)', async t => {
  const bucket = new TokenBucket({ perMinute: 60_000, burst: 1 })
  const order: number[] = []
  await Promise.all([1, 2, 3].map(async n => { await bucket.acquire(); order.push(n) }))
  t.same(order, [1, 2, 3])
})

t.test('an aborted wait rejects', async t => {
  const bucket = new TokenBucket({ perMinute: 1, burst: 1 })
  await bucket.acquire()
  const controller = new AbortController()
  const waiting = bucket.acquire(controller.signal)
  controller.abort(new Error('stop'))
  await t.rejects(waiting, /stop/)
})
