import t from 'tap'
import { TokenBucket } from '../../src/genesys/rate-limiter.js'

t.test('a burst passes at once, then calls are paced', async t => {
  let now = 0
  // 63/min with a burst of 3 refills at 60/min, so no 60 s window ever holds more than 63 calls.
  const bucket = new TokenBucket({ perMinute: 63, burst: 3, now: () => now })
  for (let i = 0; i < 3; i++) await bucket.acquire()
  t.equal(bucket.available(), 0)
  t.equal(bucket.msUntilAvailable(), 1000)
  now += 1000
  t.equal(bucket.available(), 1)
  await bucket.acquire()
  now += 10_000
  t.equal(bucket.available(), 3, 'never more than the burst')
})

t.test('no 60 s window holds more than perMinute calls, burst included', async t => {
  let now = 0
  const bucket = new TokenBucket({ perMinute: 300, burst: 5, now: () => now })
  const calls: number[] = []
  while (now < 180_000) {
    while (bucket.available() > 0) { await bucket.acquire(); calls.push(now) }
    now += 10
  }
  let worst = 0
  for (let i = 0; i < calls.length; i++) {
    let j = i
    while (j < calls.length && calls[j]! < calls[i]! + 60_000) j++
    worst = Math.max(worst, j - i)
  }
  t.ok(worst <= 300, `busiest minute: ${worst} calls`)
  t.ok(worst >= 294, 'and the budget is spent, not wasted')
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
