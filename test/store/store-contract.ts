import type { Test } from 'tap'
import type { NormalizedEvent } from '../../src/sources/normalized-event.js'
import { uuidv7 } from '../../src/store/ids.js'
import type { AttemptRecord, IngestItem, Store } from '../../src/store/store.js'
import { mergeEvents } from '../../src/dispatch/coalesce.js'

/**
 * The behaviour every store implementation must show. Each backend's test file runs this with a
 * factory that gives a fresh, empty store.
 */
export function storeContract (t: Test, openStore: (t: Test) => Promise<Store>): void {
  const event = (id: string, recordId: string | null, occurredAt: string | null = null, fields: Record<string, unknown> = {}): NormalizedEvent => ({
    event: { id, occurredAt, type: null },
    record: { type: 'Contact', id: recordId, fields, changed: Object.keys(fields) },
    raw: { id },
    source: { name: 'crm', type: 'generic' }
  })
  const item = (id: string, recordId: string | null, options: { occurredAt?: string, routes?: string[], runAt?: Date, fields?: Record<string, unknown>, maxAttempts?: number } = {}): IngestItem => ({
    eventId: uuidv7(),
    source: 'crm',
    dedupeKey: id,
    event: event(id, recordId, options.occurredAt ?? null, options.fields),
    receivedAt: new Date(),
    deliveries: (options.routes ?? ['r1']).map(route => ({ id: uuidv7(), route, recordKey: recordId ?? `event:${id}`, runAt: options.runAt ?? new Date(Date.now() - 1), maxAttempts: options.maxAttempts ?? 5 }))
  })
  const attempt = (number: number, outcome: AttemptRecord['outcome'] = 'succeeded'): AttemptRecord => ({
    number, startedAt: new Date(), durationMs: 12, outcome, status: outcome === 'retry' ? 503 : 200, error: outcome === 'retry' ? 'HTTP 503' : null, hint: null, correlationId: 'corr-1', request: { flowId: 'f' }, response: '{"id":"x"}'
  })

  t.test('ingest stores events once per (source, dedupe key)', async t => {
    const store = await openStore(t)
    const first = await store.ingest([item('e1', 'A'), item('e2', 'B')])
    t.same(first.map(r => r.inserted), [true, true])
    const again = await store.ingest([item('e1', 'A'), item('e3', 'C')])
    t.same(again.map(r => r.inserted), [false, true])
    t.equal(again[0]!.eventId, first[0]!.eventId, 'a duplicate points at the stored event')
    const within = await store.ingest([item('e4', 'D'), item('e4', 'D')])
    t.same(within.map(r => r.inserted), [true, false], 'a key repeated within one call is stored once')
    const stats = await store.stats()
    t.equal(stats.byState.queued, 4)
  })

  t.test('concurrent ingests commit together and each gets its own answer', async t => {
    const store = await openStore(t)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.ingest([item(`c${i % 40}`, `R${i}`)])))
    t.equal(results.filter(r => r[0]!.inserted).length, 40)
    t.equal((await store.stats()).byState.queued, 40)
  })

  t.test('claim leases due deliveries once; concurrent claimers never share one', async t => {
    const store = await openStore(t)
    await store.ingest(Array.from({ length: 30 }, (_, i) => item(`e${i}`, `R${i}`)))
    await store.ingest([item('future', 'F', { runAt: new Date(Date.now() + 60_000) })])
    const claims = await Promise.all([
      store.claim({ owner: 'a', limit: 20, leaseMs: 10_000 }),
      store.claim({ owner: 'b', limit: 20, leaseMs: 10_000 }),
      store.claim({ owner: 'c', limit: 20, leaseMs: 10_000 })
    ])
    const ids = claims.flat().map(c => c.id)
    t.equal(ids.length, 30, 'every due delivery claimed, the future one not')
    t.equal(new Set(ids).size, 30, 'no delivery claimed twice')
    t.equal(claims.flat()[0]!.attempt, 1)
    t.equal((await store.stats()).byState.running, 30)
  })

  t.test('per-record order: one in flight per record, in event time then arrival order', async t => {
    const store = await openStore(t)
    await store.ingest([item('late', 'A', { occurredAt: '2026-01-01T00:00:02Z' })])
    await store.ingest([item('early', 'A', { occurredAt: '2026-01-01T00:00:01Z' })])
    await store.ingest([item('other', 'B')])
    const first = await store.claim({ owner: 'w', limit: 10, leaseMs: 10_000 })
    t.same(first.map(c => c.event.event.id).sort(), ['early', 'other'], 'only the oldest event of record A, and B')
    t.same(await store.claim({ owner: 'w', limit: 10, leaseMs: 10_000 }), [], 'nothing else while A is in flight')
    const early = first.find(c => c.event.event.id === 'early')!
    t.ok(await store.retry(early.id, 'w', { attempt: attempt(1, 'retry'), runAt: new Date(Date.now() + 60_000) }))
    t.same(await store.claim({ owner: 'w', limit: 10, leaseMs: 10_000 }), [], 'a retry waiting holds back later updates of the same record')
    await store.ingest([item('c1', 'C')])
    t.same((await store.claim({ owner: 'w', limit: 10, leaseMs: 10_000 })).map(c => c.event.event.id), ['c1'], 'but not other records')
  })

  t.test('the same record on different routes is independent', async t => {
    const store = await openStore(t)
    await store.ingest([item('e1', 'A', { routes: ['r1', 'r2'] })])
    const claimed = await store.claim({ owner: 'w', limit: 10, leaseMs: 10_000 })
    t.same(claimed.map(c => c.route).sort(), ['r1', 'r2'])
  })

  t.test('finish, retry and release check the lease owner', async t => {
    const store = await openStore(t)
    await store.ingest([item('e1', 'A'), item('e2', 'B'), item('e3', 'C')])
    const [a, b, c] = await store.claim({ owner: 'w1', limit: 3, leaseMs: 10_000 })
    t.notOk(await store.finish(a!.id, 'intruder', { state: 'succeeded', attempt: attempt(1), executionId: 'x' }))
    t.ok(await store.finish(a!.id, 'w1', { state: 'succeeded', attempt: attempt(1), executionId: 'exec-1' }))
    t.notOk(await store.finish(a!.id, 'w1', { state: 'failed', attempt: attempt(1) }), 'a finished delivery cannot be finished again')
    t.notOk(await store.retry(b!.id, 'intruder', { attempt: attempt(1, 'retry'), runAt: new Date() }))
    t.equal(await store.release([c!.id], 'intruder'), 0)
    t.equal(await store.release([c!.id], 'w1'), 1)
    const detail = await store.getDelivery(a!.id)
    t.equal(detail!.state, 'succeeded')
    t.equal(detail!.executionId, 'exec-1')
    t.equal(detail!.attemptLog.length, 1)
    t.equal(detail!.attemptLog[0]!.correlationId, 'corr-1')
    const released = await store.getDelivery(c!.id)
    t.equal(released!.state, 'queued')
    t.equal(released!.attempts, 0, 'a released lease does not count an attempt')
  })

  t.test('expired leases are reclaimed and the old owner cannot finish', async t => {
    const store = await openStore(t)
    await store.ingest([item('e1', 'A')])
    const [first] = await store.claim({ owner: 'dead', limit: 1, leaseMs: 1000 })
    t.same(await store.claim({ owner: 'alive', limit: 1, leaseMs: 1000 }), [], 'held while the lease runs')
    const later = new Date(Date.now() + 5000)
    const [taken] = await store.claim({ owner: 'alive', limit: 1, leaseMs: 10_000, now: later })
    t.equal(taken!.id, first!.id)
    t.equal(taken!.attempt, 2, 'the interrupted attempt counts')
    t.notOk(await store.finish(first!.id, 'dead', { state: 'succeeded', attempt: attempt(1) }))
    t.ok(await store.finish(first!.id, 'alive', { state: 'succeeded', attempt: attempt(2) }))
  })

  t.test('retry keeps the schedule and the attempt history', async t => {
    const store = await openStore(t)
    await store.ingest([item('e1', 'A')])
    const [d] = await store.claim({ owner: 'w', limit: 1, leaseMs: 10_000 })
    const runAt = new Date(Date.now() + 200)
    t.ok(await store.retry(d!.id, 'w', { attempt: attempt(1, 'retry'), runAt }))
    t.same(await store.claim({ owner: 'w', limit: 1, leaseMs: 10_000 }), [], 'not before run_at')
    const [again] = await store.claim({ owner: 'w', limit: 1, leaseMs: 10_000, now: new Date(runAt.getTime() + 1) })
    t.equal(again!.attempt, 2)
    t.ok(await store.finish(again!.id, 'w', { state: 'succeeded', attempt: attempt(2) }))
    const detail = await store.getDelivery(d!.id)
    t.same(detail!.attemptLog.map(a => [a.number, a.outcome, a.status]), [[1, 'retry', 503], [2, 'succeeded', 200]])
  })

  t.test('absorbFollowers folds queued updates of the record into the claimed one', async t => {
    const store = await openStore(t)
    await store.ingest([item('u1', 'A', { occurredAt: '2026-01-01T00:00:01Z', fields: { a: 1, b: 1 } })])
    await store.ingest([item('u2', 'A', { occurredAt: '2026-01-01T00:00:02Z', fields: { b: 2 } })])
    await store.ingest([item('u3', 'A', { occurredAt: '2026-01-01T00:00:03Z', fields: { c: 3 } })])
    const [carrier] = await store.claim({ owner: 'w', limit: 5, leaseMs: 10_000 })
    t.equal(carrier!.event.event.id, 'u1')
    const superseded = await store.absorbFollowers(carrier!.id, 'w', mergeEvents)
    t.equal(superseded.length, 2)
    const detail = await store.getDelivery(carrier!.id)
    t.same(detail!.event.record.fields, { a: 1, b: 2, c: 3 })
    t.same(detail!.event.record.changed, ['a', 'b', 'c'])
    t.equal(detail!.event.event.id, 'u3')
    for (const id of superseded) {
      const follower = await store.getDelivery(id)
      t.equal(follower!.state, 'superseded')
      t.equal(follower!.supersededBy, carrier!.id)
    }
    t.same(await store.absorbFollowers(carrier!.id, 'intruder', mergeEvents), [], 'only the lease holder may absorb')
  })

  t.test('list paginates newest first with filters; requeue replays finished deliveries', async t => {
    const store = await openStore(t)
    await store.ingest(Array.from({ length: 7 }, (_, i) => item(`e${i}`, `R${i}`)))
    const claimed = await store.claim({ owner: 'w', limit: 7, leaseMs: 10_000 })
    for (const [i, d] of claimed.entries()) {
      await store.finish(d.id, 'w', i < 4 ? { state: 'failed', attempt: attempt(1) } : { state: 'succeeded', attempt: attempt(1) })
    }
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: Awaited<ReturnType<Store['listDeliveries']>> = await store.listDeliveries({ state: 'failed' }, { limit: 3, cursor })
      seen.push(...page.items.map(d => d.id))
      cursor = page.nextCursor
    } while (cursor !== null)
    t.equal(seen.length, 4)
    t.equal(new Set(seen).size, 4)
    const requeued = await store.requeue({ state: 'failed' }, { maxAttempts: 3 })
    t.equal(requeued.length, 4)
    const again = await store.claim({ owner: 'w', limit: 10, leaseMs: 10_000 })
    t.equal(again.length, 4)
    t.equal(again[0]!.attempt, 2, 'attempt numbers continue after a replay')
    t.equal(again[0]!.maxAttempts, 4)
  })

  t.test('purge removes old finished deliveries and keeps pending and failed ones', async t => {
    const store = await openStore(t)
    await store.ingest([item('e1', 'A'), item('e2', 'B'), item('e3', 'C')])
    const [a, b] = await store.claim({ owner: 'w', limit: 2, leaseMs: 10_000 })
    await store.finish(a!.id, 'w', { state: 'succeeded', attempt: attempt(1) })
    await store.finish(b!.id, 'w', { state: 'failed', attempt: attempt(1) })
    const purged = await store.purge({ states: ['succeeded', 'dry_run', 'superseded'], before: new Date(Date.now() + 1000) })
    t.equal(purged, 1)
    t.equal(await store.getDelivery(a!.id), null)
    t.ok(await store.getDelivery(b!.id))
    const stats = await store.stats()
    t.equal(stats.byState.failed, 1)
    t.equal(stats.byState.queued, 1)
    t.ok(stats.oldestPendingAgeMs !== null && stats.oldestPendingAgeMs >= 0)
  })
}
