import type { Test } from 'tap'
import type { NormalizedEvent } from '../../src/sources/normalized-event.js'
import { uuidv7 } from '../../src/store/ids.js'
import type { AttemptRecord, ClaimedDelivery, IngestItem, Store } from '../../src/store/store.js'

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
    const superseded = await store.absorbFollowers(carrier!.id, 'w')
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
    t.same(await store.absorbFollowers(carrier!.id, 'intruder'), [], 'only the lease holder may absorb')
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

  t.test('pendingOutcomes lists launched deliveries of the given routes whose outcome is not recorded', async t => {
    const store = await openStore(t)
    const before = new Date(Date.now() - 1000)
    await store.ingest([item('o1', 'A', { routes: ['tracked'] }), item('o2', 'B', { routes: ['tracked'] }), item('o3', 'C', { routes: ['other'] }), item('o4', 'D', { routes: ['tracked'] }), item('o5', 'E', { routes: ['tracked'] })])
    const claimed = await store.claim({ owner: 'w', limit: 5, leaseMs: 10_000 })
    const byEvent = new Map(claimed.map(c => [c.event.event.id, c]))
    for (const id of ['o1', 'o2', 'o3']) await store.finish(byEvent.get(id)!.id, 'w', { state: 'succeeded', attempt: attempt(1), executionId: `exec-${id}` })
    await store.finish(byEvent.get('o4')!.id, 'w', { state: 'failed', attempt: attempt(1, 'failed') })
    await store.finish(byEvent.get('o5')!.id, 'w', { state: 'succeeded', attempt: attempt(1) })
    await store.setOutcome(byEvent.get('o2')!.id, { status: 'COMPLETED', detail: { status: 'COMPLETED' }, checkedAt: new Date() })

    const pending = await store.pendingOutcomes({ routes: ['tracked'], finishedAfter: before, limit: 10 })
    t.same(pending.map(p => [p.id, p.route, p.executionId]), [[byEvent.get('o1')!.id, 'tracked', 'exec-o1']], 'only the succeeded, unrecorded one with an execution id on a tracked route')
    t.ok(pending[0]!.finishedAt instanceof Date && pending[0]!.finishedAt.getTime() >= before.getTime())
    t.same(await store.pendingOutcomes({ routes: ['tracked'], finishedAfter: new Date(Date.now() + 60_000), limit: 10 }), [], 'finishedAfter bounds the age')
    t.same(await store.pendingOutcomes({ routes: [], finishedAfter: before, limit: 10 }), [], 'no routes, nothing')
    t.equal((await store.pendingOutcomes({ routes: ['tracked', 'other'], finishedAfter: before, limit: 1 })).length, 1, 'limit holds')
    t.equal((await store.pendingOutcomes({ routes: ['tracked', 'other'], finishedAfter: before, limit: 10 })).length, 2)

    await store.setOutcome(byEvent.get('o1')!.id, { status: 'FAILED', detail: { flowErrorInfo: { code: 'x' } }, checkedAt: new Date() })
    t.same(await store.pendingOutcomes({ routes: ['tracked'], finishedAfter: before, limit: 10 }), [], 'a recorded outcome is no longer pending')
    const detail = await store.getDelivery(byEvent.get('o1')!.id)
    t.equal(detail!.outcome, 'FAILED')
    t.same(detail!.outcomeDetail, { flowErrorInfo: { code: 'x' } })
  })

  t.test('an earlier event arriving while a later one of the record runs waits for it', async t => {
    const store = await openStore(t)
    await store.ingest([item('later', 'A', { occurredAt: '2026-01-01T00:00:05Z' })])
    const [later] = await store.claim({ owner: 'w1', limit: 5, leaseMs: 10_000 })
    await store.ingest([item('earlier', 'A', { occurredAt: '2026-01-01T00:00:01Z' })])
    t.same(await store.claim({ owner: 'w2', limit: 5, leaseMs: 10_000 }), [], 'the record is in flight: none of it is claimed, not even its new head')
    t.ok(await store.finish(later!.id, 'w1', { state: 'succeeded', attempt: attempt(1) }))
    t.same((await store.claim({ owner: 'w2', limit: 5, leaseMs: 10_000 })).map(c => c.event.event.id), ['earlier'])
  })

  t.test('an expired lease is taken over by exactly one of several concurrent claimers', async t => {
    const store = await openStore(t)
    await store.ingest([item('e1', 'A', { occurredAt: '2026-01-01T00:00:01Z' }), item('e2', 'A', { occurredAt: '2026-01-01T00:00:02Z' })])
    const [first] = await store.claim({ owner: 'dead', limit: 5, leaseMs: 1000 })
    const later = new Date(Date.now() + 5000)
    const owners = ['a', 'b', 'c', 'd']
    const claims = await Promise.all(owners.map(owner => store.claim({ owner, limit: 5, leaseMs: 10_000, now: later })))
    const taken = claims.flat()
    t.same(taken.map(c => c.id), [first!.id], 'one claimer takes it over; the record\'s next delivery stays queued behind it')
    t.equal(taken[0]!.attempt, 2)
    const winner = owners[claims.findIndex(c => c.length > 0)]!
    t.equal((await store.getDelivery(first!.id))!.lockedBy, winner)
    t.notOk(await store.retry(first!.id, 'dead', { attempt: attempt(1, 'retry'), runAt: new Date() }), 'the old owner lost it')
  })

  t.test('coalescing holds across claimers: followers are neither claimed nor lost', async t => {
    const store = await openStore(t)
    await store.ingest([
      item('u1', 'A', { occurredAt: '2026-01-01T00:00:01Z', fields: { a: 1 } }),
      item('u2', 'A', { occurredAt: '2026-01-01T00:00:02Z', fields: { b: 2 } }),
      item('u3', 'A', { occurredAt: '2026-01-01T00:00:03Z', fields: { c: 3 } })
    ])
    const [carrier] = await store.claim({ owner: 'w1', limit: 5, leaseMs: 10_000 })
    const [racing, absorbed] = await Promise.all([
      store.claim({ owner: 'w2', limit: 5, leaseMs: 10_000 }),
      store.absorbFollowers(carrier!.id, 'w1')
    ])
    t.same(racing, [], 'no follower is claimed while the carrier runs')
    t.equal(absorbed.length, 2)
    await store.ingest([item('u4', 'A', { occurredAt: '2026-01-01T00:00:04Z', fields: { d: 4 } })])
    t.same(await store.claim({ owner: 'w2', limit: 5, leaseMs: 10_000 }), [], 'an update arriving after the fold waits for the carrier')
    t.ok(await store.finish(carrier!.id, 'w1', { state: 'succeeded', attempt: attempt(1) }))
    const [next] = await store.claim({ owner: 'w2', limit: 5, leaseMs: 10_000 })
    t.equal(next!.event.event.id, 'u4')
    t.same(next!.event.record.fields, { d: 4 }, 'it carries only what came after the fold')
    const stats = await store.stats()
    t.same([stats.byState.superseded, stats.byState.succeeded, stats.byState.running, stats.byState.queued], [2, 1, 1, 0])
  })

  t.test('concurrent claimers keep per-record order and never run a record twice', async t => {
    const store = await openStore(t)
    const records = 10
    const perRecord = 5
    const items = Array.from({ length: records * perRecord }, (_, i) => {
      const record = `R${i % records}`
      const n = Math.floor(i / records)
      return item(`${record}-${n}`, record, { occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString() })
    })
    // Stored in shuffled order, so arrival order and event time disagree.
    const shuffled = [...items].sort(() => Math.random() - 0.5)
    for (let i = 0; i < shuffled.length; i += 7) await store.ingest(shuffled.slice(i, i + 7))
    const run = await runClaimers([store], { workersPerStore: 4 })
    t.same(run.overlaps, [], 'never two of one record leased at once')
    t.equal(run.claimed.length, records * perRecord)
    t.equal(new Set(run.claimed.map(c => c.id)).size, records * perRecord, 'no delivery claimed twice')
    for (let r = 0; r < records; r++) {
      t.same(run.order.get(`r1\u0000R${r}`), Array.from({ length: perRecord }, (_, n) => `R${r}-${n}`), `R${r} in event-time order`)
    }
  })

  t.test('events arriving out of order while claimers run never put two of a record in flight', async t => {
    const store = await openStore(t)
    const records = 6
    const perRecord = 12
    // Each new event of a record is older than the ones before it, so it becomes the record's head
    // while a later one may be in flight: the case where two claimers could see different heads.
    const producing = (async () => {
      for (let n = 0; n < perRecord; n++) {
        await Promise.all(Array.from({ length: records }, (_, r) =>
          store.ingest([item(`R${r}-${n}`, `R${r}`, { occurredAt: new Date(Date.UTC(2026, 0, 1, 1) - n * 1000).toISOString() })])))
        await new Promise(resolve => setTimeout(resolve, 3))
      }
    })()
    const run = await runClaimers([store], { workersPerStore: 4, producing })
    t.same(run.overlaps, [], 'never two of one record leased at once')
    t.equal(run.claimed.length, records * perRecord, 'every delivery claimed')
    t.equal(new Set(run.claimed.map(c => c.id)).size, records * perRecord, 'and only once')
  })
}

export interface ClaimersReport {
  claimed: ClaimedDelivery[]
  /** Record keys claimed while another delivery of theirs was still leased. */
  overlaps: string[]
  /** Event ids per `route\0recordKey`, in claim order. */
  order: Map<string, string[]>
  /** Deliveries whose finish was refused (lease lost). */
  lost: string[]
}

/**
 * Runs `workersPerStore` claim → hold a few ms → finish loops on each store (each its own pool or
 * connection) until `producing` has settled and nothing is queued or running. A record's key is
 * dropped from the in-flight set before its finish is sent, so a claim can only see it twice if
 * the store leased two of the record at once.
 */
export async function runClaimers (stores: Store[], options: { workersPerStore: number, producing?: Promise<unknown>, deadlineMs?: number }): Promise<ClaimersReport> {
  const report: ClaimersReport = { claimed: [], overlaps: [], order: new Map(), lost: [] }
  const inFlight = new Set<string>()
  let produced = options.producing === undefined
  void options.producing?.then(() => { produced = true })
  const deadline = Date.now() + (options.deadlineMs ?? 30_000)
  const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
  const done: AttemptRecord = { number: 1, startedAt: new Date(), durationMs: 1, outcome: 'succeeded', status: 200, error: null, hint: null, correlationId: null, request: null, response: null }

  const worker = async (store: Store, owner: string): Promise<void> => {
    while (Date.now() < deadline) {
      const claimed = await store.claim({ owner, limit: 3, leaseMs: 60_000 })
      if (claimed.length === 0) {
        if (produced) {
          const { byState } = await store.stats()
          if (byState.queued + byState.running === 0) return
        }
        await sleep(1 + Math.random() * 2)
        continue
      }
      for (const c of claimed) {
        const key = `${c.route}\u0000${c.recordKey}`
        if (inFlight.has(key)) report.overlaps.push(key)
        inFlight.add(key)
        report.claimed.push(c)
        report.order.set(key, [...(report.order.get(key) ?? []), c.event.event.id])
      }
      await Promise.all(claimed.map(async c => {
        await sleep(Math.random() * 4)
        inFlight.delete(`${c.route}\u0000${c.recordKey}`)
        if (!await store.finish(c.id, owner, { state: 'succeeded', attempt: { ...done, number: c.attempt } })) report.lost.push(c.id)
      }))
    }
    throw new Error('the claimers did not drain the queue before the deadline')
  }

  await Promise.all(stores.flatMap((store, s) => Array.from({ length: options.workersPerStore }, async (_, w) => await worker(store, `store${s}-worker${w}`))))
  return report
}
