import t from 'tap'
import { basicMappings, contactEvent, startBridge, waitFor } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { StoreUnavailableError, type Store } from '../../src/store/store.js'
import { tempDir } from '../helper.js'
import { startRetention } from '../../src/dispatch/retention.js'
import { join } from 'node:path'

const launchedContactIds = (sandbox: Awaited<ReturnType<typeof startTestSandbox>>): string[] =>
  sandbox.launches().filter(l => l.status === 200).map(l => l.body.inputData['Flow.contactId'])

t.test('coalescing: a burst of updates to one record becomes one launch with the newest state', async t => {
  const sandbox = await startTestSandbox(t)
  const mappings = basicMappings({
    inputs: '      contactId: { from: record.id }\n      email: { from: record.fields.email }\n      attempts: { from: record.fields.count, type: integer }',
    routeOptions: '    coalesce: 3s'
  })
  const bridge = await startBridge(t, { env: sandbox.env, mappings })
  // Sent together, so all 50 are waiting within the window even on a loaded machine.
  const responses = await Promise.all(Array.from({ length: 50 }, async (_, n) => {
    const fields: Record<string, unknown> = { count: String(n) }
    if (n === 10) fields.email = 'changed@example.com'
    return await bridge.post(contactEvent(`burst-${n}`, { id: 'HOT', email: undefined, ...fields }, new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString()))
  }))
  const ids = responses.map(r => r.body.accepted[0].deliveryId as string)
  const store = bridge.app.bridge.store
  await waitFor(async () => (await store.stats()).byState.succeeded === 1 && (await store.stats()).byState.queued === 0, 20_000, 'the coalesced launch')
  t.equal(sandbox.launches().length, 1, 'one flow run for 50 updates')
  const launch = sandbox.launches()[0]!.body
  t.equal(launch.inputData['Flow.attempts'], 49, 'the newest state wins')
  t.equal(launch.inputData['Flow.email'], 'changed@example.com', 'fields merged across updates')
  const carrier = (await store.listDeliveries({ state: 'succeeded' }, { limit: 5 })).items[0]!
  const superseded = await store.listDeliveries({ state: 'superseded' }, { limit: 100 })
  t.equal(superseded.items.length, 49)
  t.ok(superseded.items.every(d => d.supersededBy === carrier.id), 'each superseded delivery points at the one that carried it')
  t.same(new Set([carrier.id, ...superseded.items.map(d => d.id)]), new Set(ids), 'every accepted delivery is accounted for')
  t.equal(bridge.logs.events('delivery.coalesced')[0]!.count, 49)
})

t.test('per-record order: event time first, one in flight per record, others unaffected', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  // Record A's first update is slow to launch; meanwhile its later updates arrive out of order.
  sandbox.state.faults.add({ target: 'launch', kind: 'delay', ms: 400, times: 1 })
  await bridge.post(contactEvent('a1', { id: 'A', count: '1' }, '2026-01-01T00:00:01Z'))
  await waitFor(() => sandbox.state.requests.some(r => r.path === '/api/v2/flows/executions'), 5000, 'the first launch')
  await bridge.post(contactEvent('a3', { id: 'A', count: '3' }, '2026-01-01T00:00:03Z'))
  await bridge.post(contactEvent('a2', { id: 'A', count: '2' }, '2026-01-01T00:00:02Z'))
  await bridge.post(contactEvent('b1', { id: 'B', count: '9' }, '2026-01-01T00:00:09Z'))
  await waitFor(() => sandbox.launches().filter(l => l.status === 200).length === 4, 10_000, 'four launches')
  const a = sandbox.launches().filter(l => l.body.inputData['Flow.contactId'] === 'A').map(l => l.body.inputData['Flow.attempts'])
  t.same(a, [1, 2, 3], 'record A launched in event-time order, not arrival order')
  t.same(launchedContactIds(sandbox).indexOf('B') < 3, true, 'record B did not wait for record A')
})

t.test('a record waiting on a retry holds back only its own later updates', async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 503, retryAfter: 1, times: 1 })
  const bridge = await startBridge(t, { env: sandbox.env })
  await bridge.post(contactEvent('x1', { id: 'X', count: '1' }, '2026-01-01T00:00:01Z'))
  await waitFor(() => sandbox.launches().length === 1, 5000, 'the failing launch')
  await bridge.post(contactEvent('x2', { id: 'X', count: '2' }, '2026-01-01T00:00:02Z'))
  await bridge.post(contactEvent('y1', { id: 'Y', count: '5' }, '2026-01-01T00:00:05Z'))
  await waitFor(() => launchedContactIds(sandbox).includes('Y'), 5000, 'record Y')
  t.notOk(launchedContactIds(sandbox).includes('X'), 'X is still waiting on its retry while Y went through')
  await waitFor(() => launchedContactIds(sandbox).filter(id => id === 'X').length === 2, 5000, 'record X after its retry')
  const x = sandbox.launches().filter(l => l.status === 200 && l.body.inputData['Flow.contactId'] === 'X').map(l => l.body.inputData['Flow.attempts'])
  t.same(x, [1, 2], 'the retried update went first')
})

t.test('the rate budget paces launches and a 429 pauses everything until Retry-After', { timeout: 60_000 }, async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 429, retryAfter: 2, times: 1 })
  const bridge = await startBridge(t, { env: { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '600', GENESYS_RATE_BURST: '3' } })
  for (let n = 0; n < 30; n++) await bridge.post(contactEvent(`rate-${n}`, { id: `R${n}` }))
  await waitFor(() => sandbox.launches().filter(l => l.status === 200).length === 30, 30_000, '30 launches')
  const calls = sandbox.state.requests.filter(r => r.path !== '/oauth/token').map(r => ({ time: Date.parse(r.time), status: r.status }))
  const throttled = calls.findIndex(c => c.status === 429)
  const after = calls.slice(throttled + 1)
  t.ok(after.every(c => c.time - calls[throttled]!.time >= 1990), 'nothing was sent during the Retry-After pause')
  const span = (calls.at(-1)!.time - calls[0]!.time) / 1000
  const allowed = 3 + 10 * span + 1 // burst + 600/min over the span, plus the probe after the pause
  t.ok(calls.length <= allowed, `${calls.length} calls in ${span.toFixed(1)} s stay within burst + 10/s (${allowed.toFixed(0)})`)
  t.equal(sandbox.state.stats.organic429, 0, 'the sandbox saw no 429 it did not inject')
})

/** A real SQLite store whose writes fail while `down` is set, as a full disk or a lost database would. */
function failingStore (store: Store): Store & { down: boolean } {
  const wrapper = Object.create(store) as Store & { down: boolean }
  wrapper.down = false
  wrapper.ingest = async items => {
    if (wrapper.down) throw new StoreUnavailableError('SQLite commit failed: database or disk is full')
    return await store.ingest(items)
  }
  wrapper.claim = async options => {
    if (wrapper.down) throw new StoreUnavailableError('SQLite commit failed: database or disk is full')
    return await store.claim(options)
  }
  return wrapper
}

t.test('when the store cannot commit, ingest answers 503 with Retry-After and recovers', async t => {
  const sandbox = await startTestSandbox(t)
  const real = openSqliteStore({ file: join(tempDir(t), 'store.db') })
  t.teardown(async () => { await real.close() })
  const store = failingStore(real)
  const bridge = await startBridge(t, { env: sandbox.env, store })
  store.down = true
  const refused = await bridge.post(contactEvent('down-1'))
  t.equal(refused.status, 503)
  t.equal(refused.headers.get('retry-after'), '30')
  t.equal(refused.body.error, 'store_unavailable')
  t.equal(bridge.logs.events('webhook.store_unavailable').length, 1)
  const health = await fetch(`${bridge.url}/healthz`)
  t.equal(health.status, 200, 'the service stays up')
  store.down = false
  const retried = await bridge.post(contactEvent('down-1'))
  t.equal(retried.status, 202, 'the CRM retry is accepted once the store is back')
  await waitFor(() => sandbox.launches().length === 1, 5000, 'the launch')
})

t.test('retention purges old finished deliveries and keeps failed ones', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  await bridge.post(contactEvent('keep-ok'))
  await bridge.post(contactEvent('keep-bad', { id: 'B', count: 'not a number' }))
  const store = bridge.app.bridge.store
  await waitFor(async () => { const s = await store.stats(); return s.byState.succeeded === 1 && s.byState.failed === 1 }, 5000, 'both finished')
  const logs: unknown[] = []
  const log = { info: (o: unknown) => { logs.push(o) }, warn: () => {}, error: () => {}, debug: () => {}, trace: () => {}, fatal: () => {}, child: () => log } as any
  const retention = startRetention({ store, log, keepFinishedMs: 0, everyMs: 20 })
  t.teardown(retention.stop)
  // The deleted rows are gone at the commit; the sweep logs once its fsync has ended.
  await waitFor(async () => (await store.stats()).byState.succeeded === 0 && logs.length > 0, 5000, 'the sweep')
  t.match(logs[0], { event: 'retention.purged', deliveries: 1 })
  const stats = await store.stats()
  t.equal(stats.byState.succeeded, 0)
  t.equal(stats.byState.failed, 1, 'failed deliveries stay until replayed or purged by an admin')
})
