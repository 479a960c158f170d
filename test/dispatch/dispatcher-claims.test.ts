import t, { type Test } from 'tap'
import { join } from 'node:path'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import type { GenesysClient, GenesysResult } from '../../src/genesys/genesys-client.js'
import type { RateLimiter } from '../../src/genesys/rate-limiter.js'
import { createLogger } from '../../src/logging/logger.js'
import { parseMappings } from '../../src/mapping/mappings.js'
import { sourceTypes } from '../../src/sources/index.js'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { basicMappings, LogSink, tempDir, waitFor, webhookSecret } from '../helper.js'
import { queueDeliveries } from './queued.js'

const mappings = parseMappings(basicMappings(), 'mappings.yaml', { env: { CRM_WEBHOOK_SECRET: webhookSecret }, sourceTypes })

/** A SQLite store with `count` due deliveries, each on its own record, and the limits of every claim. */
async function backlog (t: Test, count: number): Promise<{ store: Store, claimLimits: number[] }> {
  const store = openSqliteStore({ file: join(tempDir(t), 'claims.db') })
  t.teardown(async () => { await store.close() })
  await queueDeliveries(store, count)
  const claimLimits: number[] = []
  const counted = new Proxy(store, {
    get (target, key) {
      if (key === 'claim') return async (options: Parameters<Store['claim']>[0]) => { claimLimits.push(options.limit); return await target.claim(options) }
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  return { store: counted, claimLimits }
}

/** Genesys that answers 200 after `delay()` resolves, counting calls and the most at once. */
function fakeGenesys (delay: () => Promise<void> = async () => {}): { client: GenesysClient, launched: () => number, mostAtOnce: () => number } {
  let launched = 0
  let running = 0
  let most = 0
  const client = {
    launch: async (): Promise<GenesysResult> => {
      launched++
      most = Math.max(most, ++running)
      try {
        await delay()
      } finally {
        running--
      }
      return { status: 200, headers: {}, body: { id: `exec-${launched}` }, text: `{"id":"exec-${launched}"}`, correlationId: null, durationMs: 1 }
    }
  } as unknown as GenesysClient
  return { client, launched: () => launched, mostAtOnce: () => most }
}

function dispatcherFor (t: Test, store: Store, genesys: GenesysClient, options: { concurrency: number, leaseMs?: number, rateLimiter?: RateLimiter, now?: () => Date }): { dispatcher: Dispatcher, log: LogSink } {
  const log = new LogSink()
  const dispatcher = new Dispatcher({
    store,
    mappings: () => mappings,
    genesys,
    rateLimiter: options.rateLimiter ?? null,
    log: createLogger('debug', log),
    owner: 'test',
    concurrency: options.concurrency,
    leaseMs: options.leaseMs ?? 60_000,
    pollMs: 20,
    retry: { maxAttempts: 3, maxAgeMs: 3_600_000, baseDelayMs: 100, maxDelayMs: 1000 },
    payloadLimitBytes: 2048,
    ...(options.now === undefined ? {} : { now: options.now })
  })
  return { dispatcher, log }
}

t.test('claims in pages ahead of the free slots, never calling Genesys more than the limit at once', async t => {
  const { store, claimLimits } = await backlog(t, 200)
  const genesys = fakeGenesys(async () => { await new Promise(resolve => setTimeout(resolve, 1)) })
  const concurrency = 4
  const { dispatcher } = dispatcherFor(t, store, genesys.client, { concurrency })
  dispatcher.start()
  t.teardown(async () => { await dispatcher.stop(0) })
  await waitFor(async () => (await store.stats()).byState.succeeded === 200, 20_000, 'every delivery launched and recorded')
  t.equal(genesys.launched(), 200, 'each delivery launched once')
  t.ok(genesys.mostAtOnce() <= concurrency, `at most ${concurrency} calls at once (saw ${genesys.mostAtOnce()})`)
  t.ok(claimLimits.every(limit => limit > 0 && limit <= 2 * concurrency), `no claim asks for more than twice the limit: ${claimLimits.join(',')}`)
  const claims = claimLimits.length
  t.ok(claims <= 200 / 2, `claims are pages, not one per launch: ${claims} claims for 200 launches`)
})

t.test('stop gives back what was claimed ahead, without counting an attempt', async t => {
  const { store } = await backlog(t, 20)
  let openGenesys: () => void = () => {}
  const hung = new Promise<void>(resolve => { openGenesys = resolve })
  const genesys = fakeGenesys(async () => { await hung })
  const { dispatcher, log } = dispatcherFor(t, store, genesys.client, { concurrency: 2 })
  dispatcher.start()
  await waitFor(() => genesys.launched() === 2, 5000, 'both slots busy')
  await waitFor(async () => (await store.stats()).byState.running === 4, 5000, 'two more claimed ahead')
  const stopped = dispatcher.stop(5000)
  openGenesys()
  await stopped
  const stats = await store.stats()
  t.equal(stats.byState.succeeded, 2, 'the two launched finished')
  t.equal(stats.byState.running, 0, 'nothing left leased')
  t.equal(stats.byState.queued, 18)
  const queued = (await store.listDeliveries({ state: 'queued' }, { limit: 100 })).items
  t.ok(queued.every(delivery => delivery.attempts === 0), 'the deliveries given back have no attempt counted')
  t.equal(genesys.launched(), 2)
  t.match(log.lines.find(line => line.event === 'dispatcher.released_unlaunched'), { count: 2, released: 2, reason: 'shutdown' })
})

t.test('a delivery that waited past half its lease for a slot is given back, not launched late', async t => {
  const { store } = await backlog(t, 10)
  let clock = Date.now()
  let openGenesys: () => void = () => {}
  const hung = new Promise<void>(resolve => { openGenesys = resolve })
  const genesys = fakeGenesys(async () => { await hung })
  const { dispatcher, log } = dispatcherFor(t, store, genesys.client, { concurrency: 1, leaseMs: 10_000, now: () => new Date(clock) })
  dispatcher.start()
  t.teardown(async () => { await dispatcher.stop(0) })
  await waitFor(async () => (await store.stats()).byState.running === 2, 5000, 'one launched, one claimed ahead')
  clock += 6_000
  openGenesys()
  await waitFor(() => log.lines.some(line => line.event === 'dispatcher.released_unlaunched' && line.reason === 'lease_half_spent'), 5000, 'the stale one given back')
  await waitFor(async () => (await store.stats()).byState.succeeded === 10, 10_000, 'and launched later with a fresh lease')
  t.equal(genesys.launched(), 10, 'each delivery launched once')
})

t.test('claims ahead only what the rate limit has tokens for', async t => {
  const { store, claimLimits } = await backlog(t, 30)
  let tokens = 3
  const limiter: RateLimiter = {
    acquire: async () => { tokens-- },
    pause: () => {},
    answered: () => {},
    pausedForMs: () => 0,
    available: () => Math.max(0, tokens),
    msUntilAvailable: () => tokens > 0 ? 0 : 50
  }
  // As the real client does: each call spends a token first.
  const genesys = fakeGenesys(async () => { await limiter.acquire() })
  const { dispatcher } = dispatcherFor(t, store, genesys.client, { concurrency: 8, rateLimiter: limiter })
  dispatcher.start()
  t.teardown(async () => { await dispatcher.stop(0) })
  await waitFor(async () => (await store.stats()).byState.succeeded === 3, 5000, 'the three the budget allows')
  await new Promise(resolve => setTimeout(resolve, 200))
  t.same(claimLimits, [3], 'one claim, of the three tokens available')
  t.equal((await store.stats()).byState.running, 0, 'nothing claimed ahead while the budget is spent')
  tokens = 2
  await waitFor(async () => (await store.stats()).byState.succeeded === 5, 5000, 'two more when tokens return')
  t.same(claimLimits.slice(1), [2])
})
