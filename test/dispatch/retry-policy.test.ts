import t from 'tap'
import { backoffDelay, decideRetry, isRetryableStatus } from '../../src/dispatch/retry-policy.js'
import { mergeEvents } from '../../src/store/coalesce.js'

const policy = { maxAttempts: 5, maxAgeMs: 3_600_000, baseDelayMs: 1000, maxDelayMs: 60_000 }

t.test('retryable statuses', async t => {
  t.same([408, 429, 500, 502, 503, 504].map(isRetryableStatus), [true, true, true, true, true, true])
  t.same([400, 401, 403, 404, 409, 422, 501].map(isRetryableStatus), [false, false, false, false, false, false, false])
})

t.test('backoff doubles under full jitter and is capped', async t => {
  t.same([1, 2, 3, 4].map(n => backoffDelay(n, policy, () => 1)), [1000, 2000, 4000, 8000])
  t.equal(backoffDelay(20, policy, () => 1), 60_000)
  t.equal(backoffDelay(3, policy, () => 0), 0)
  t.equal(backoffDelay(3, policy, () => 0.5), 2000)
})

t.test('Retry-After is a floor', async t => {
  const now = new Date('2026-01-01T00:00:00Z')
  const decision = decideRetry({ attempt: 1, maxAttempts: 5, createdAt: now, now, retryAfterMs: 42_000, policy, random: () => 1 })
  t.same(decision, { retry: true, runAt: new Date(now.getTime() + 42_000), delayMs: 42_000 })
  const longer = decideRetry({ attempt: 4, maxAttempts: 5, createdAt: now, now, retryAfterMs: 10, policy, random: () => 1 })
  t.equal(longer.retry && longer.delayMs, 8000)
})

t.test('gives up on attempts or age', async t => {
  const now = new Date('2026-01-01T00:00:00Z')
  t.same(decideRetry({ attempt: 5, maxAttempts: 5, createdAt: now, now, retryAfterMs: null, policy, random: () => 0 }), { retry: false, reason: 'gave up after 5 attempts (max 5)' })
  const old = new Date(now.getTime() - 3_599_000)
  const decision = decideRetry({ attempt: 1, maxAttempts: 5, createdAt: old, now, retryAfterMs: 5000, policy, random: () => 0 })
  t.equal(decision.retry, false)
  t.match(!decision.retry && decision.reason, /after the event arrived \(max 60 min\)/)
})

t.test('coalescing merges fields newest-wins and unions changed', async t => {
  const base = { raw: {}, source: { name: 's', type: 'generic' } }
  const merged = mergeEvents(
    { ...base, event: { id: '1', occurredAt: null, type: null }, record: { type: 'C', id: 'A', fields: { a: 1, b: 1 }, changed: ['a'] } },
    [{ ...base, event: { id: '2', occurredAt: null, type: null }, record: { type: null, id: 'A', fields: { b: 2 }, changed: ['b'] } }]
  )
  t.same(merged.record, { type: 'C', id: 'A', fields: { a: 1, b: 2 }, changed: ['a', 'b'] })
  t.equal(merged.event.id, '2')
})
