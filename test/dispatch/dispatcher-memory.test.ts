import t from 'tap'
import { join } from 'node:path'
import { Dispatcher } from '../../src/dispatch/dispatcher.js'
import type { GenesysClient, GenesysResult } from '../../src/genesys/genesys-client.js'
import { createLogger } from '../../src/logging/logger.js'
import { parseMappings } from '../../src/mapping/mappings.js'
import { sourceTypes } from '../../src/sources/index.js'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { basicMappings, LogSink, tempDir, waitFor, webhookSecret } from '../helper.js'
import { queueDeliveries } from './queued.js'

t.test('deliveries whose call ended but whose record waits for the disk are bounded: at most as many again as GENESYS_MAX_IN_FLIGHT', async t => {
  const store = openSqliteStore({ file: join(tempDir(t), 'slow-disk.db') })
  t.teardown(async () => { await store.close() })
  let openDisk: () => void = () => {}
  const disk = new Promise<void>(resolve => { openDisk = resolve })
  // The disk is stuck: every finish waits until the test opens it.
  const slowStore = new Proxy(store, {
    get (target, key) {
      if (key === 'finish') return async (...args: Parameters<Store['finish']>) => { await disk; return await target.finish(...args) }
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  let launches = 0
  const genesys = {
    launch: async (): Promise<GenesysResult> => {
      launches++
      return { status: 200, headers: {}, body: { id: `exec-${launches}` }, text: `{"id":"exec-${launches}"}`, correlationId: null, durationMs: 1 }
    }
  } as unknown as GenesysClient
  const mappings = parseMappings(basicMappings(), 'mappings.yaml', { env: { CRM_WEBHOOK_SECRET: webhookSecret }, sourceTypes })
  await queueDeliveries(store, 100)
  const concurrency = 4
  const dispatcher = new Dispatcher({
    store: slowStore,
    mappings: () => mappings,
    genesys,
    rateLimiter: null,
    log: createLogger('warn', new LogSink()),
    owner: 'test',
    concurrency,
    leaseMs: 60_000,
    pollMs: 20,
    retry: { maxAttempts: 3, maxAgeMs: 3_600_000, baseDelayMs: 100, maxDelayMs: 1000 },
    payloadLimitBytes: 2048
  })
  dispatcher.start()
  t.teardown(async () => { await dispatcher.stop(0) })
  await waitFor(() => launches >= concurrency * 2, 5000, 'launches while the disk is stuck')
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(launches, concurrency * 2, 'no more launches than twice the in-flight limit while records cannot be written')
  t.equal(dispatcher.inFlight, concurrency * 2)
  openDisk()
  await waitFor(async () => (await store.stats()).byState.succeeded === 100, 10_000, 'all deliveries recorded')
  t.equal(launches, 100, 'each delivery launched once once the disk is back')
})
