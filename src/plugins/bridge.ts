import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import fp from 'fastify-plugin'
import type { Dispatcher as UndiciDispatcher } from 'undici'
import { deriveSettings, type Env, type Settings } from '../config/env.js'
import { Dispatcher } from '../dispatch/dispatcher.js'
import { startRetention } from '../dispatch/retention.js'
import { createGenesysClient, type GenesysClient } from '../genesys/genesys-client.js'
import { TokenBucket, type RateLimiter } from '../genesys/rate-limiter.js'
import { PostgresRateLimiter } from '../genesys/postgres-rate-limiter.js'
import { createBridgeExtras, type BridgeExtras } from '../flows/wiring.js'
import { loadMappings } from '../mapping/mappings.js'
import { MappingsHolder } from '../mapping/mappings-holder.js'
import { sourceTypes } from '../sources/index.js'
import { openStore } from '../store/open-store.js'
import { PostgresStore } from '../store/postgres/postgres-store.js'
import type { Store } from '../store/store.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Env
    bridge: Bridge
  }
}

/** The service's shared parts, built once from configuration and closed with the app. */
export interface Bridge extends BridgeExtras {
  settings: Settings
  store: Store
  mappings: MappingsHolder
  genesys: GenesysClient | null
  rateLimiter: RateLimiter | null
  dispatcher: Dispatcher
  /** Identifies this process as a lease holder (`locked_by`). */
  instanceId: string
}

export interface BridgeOptions {
  /** Environment the mappings file's `${VAR}` references resolve against. */
  env: Record<string, string | undefined>
  /** undici dispatcher for Genesys calls (tests); default a fresh Agent. */
  genesysDispatcher?: UndiciDispatcher
  /** Start the dispatch loop when the server listens (default true). */
  dispatch?: boolean
  /** Give a store instead of opening DATABASE_URL (tests). */
  store?: Store
}

export default fp<BridgeOptions>(async function bridgePlugin (fastify, options) {
  const settings = deriveSettings(fastify.config)
  const log = fastify.log
  const mappings = new MappingsHolder(loadMappings(fastify.config.MAPPINGS_FILE, { env: options.env, sourceTypes }))
  log.info({ event: 'mappings.loaded', file: mappings.current.file, hash: mappings.current.hash, sources: [...mappings.current.sources.keys()], routes: mappings.current.routes.map(r => r.name) }, 'mappings loaded')

  const store = options.store ?? await openStore(settings.store, {
    poolSize: fastify.config.DATABASE_POOL_SIZE,
    log: log.child({ module: 'store' }),
    sqliteWriterThread: fastify.config.SQLITE_WRITER_THREAD
  })
  const instanceId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  // Prometheus metrics (src/plugins/metrics.ts), when registered before this plugin.
  const metrics = fastify.hasDecorator('metrics') ? fastify.metrics : undefined

  let genesys: GenesysClient | null = null
  let rateLimiter: RateLimiter | null = null
  if (!settings.dryRun) {
    // Several instances on one PostgreSQL share one Genesys budget (a row next to the queue).
    rateLimiter = store instanceof PostgresStore
      ? new PostgresRateLimiter({ sql: store.sql, name: `genesys:${settings.genesys.clientId}`, perMinute: settings.genesys.ratePerMinute, burst: settings.genesys.rateBurst, onWait: metrics?.onRateLimitWait, log: log.child({ module: 'rate-budget' }) })
      : new TokenBucket({ perMinute: settings.genesys.ratePerMinute, burst: settings.genesys.rateBurst, onWait: metrics?.onRateLimitWait })
    genesys = createGenesysClient({
      apiUrl: settings.genesys.apiUrl,
      loginUrl: settings.genesys.loginUrl,
      clientId: settings.genesys.clientId!,
      clientSecret: settings.genesys.clientSecret!,
      timeoutMs: settings.genesys.timeoutMs,
      rateLimiter,
      log: log.child({ module: 'genesys' }),
      hooks: metrics?.genesysHooks,
      ...(options.genesysDispatcher === undefined ? {} : { dispatcher: options.genesysDispatcher })
    })
  } else {
    log.warn({ event: 'dispatcher.dry_run', reason: settings.genesys.clientId === null ? 'no Genesys credentials set' : 'DRY_RUN=true' }, 'dry-run mode: requests are mapped and logged, nothing is sent to Genesys')
  }

  // Flow-aware validation, hot reload, outcome tracking (src/flows/wiring.ts).
  const extras = createBridgeExtras(fastify, { mappings, store, genesys, env: options.env, log })

  const dispatcher = new Dispatcher({
    store,
    mappings: () => mappings.current,
    flowSchemas: extras.flows ?? undefined,
    genesys,
    rateLimiter,
    log: log.child({ module: 'dispatcher' }),
    owner: instanceId,
    concurrency: settings.genesys.maxInFlight,
    leaseMs: fastify.config.LEASE_MS,
    pollMs: fastify.config.DISPATCH_POLL_MS,
    payloadLimitBytes: fastify.config.LOG_PAYLOAD_MAX_BYTES,
    retry: {
      maxAttempts: fastify.config.RETRY_MAX_ATTEMPTS,
      maxAgeMs: fastify.config.RETRY_MAX_AGE_MS,
      baseDelayMs: fastify.config.RETRY_BASE_DELAY_MS,
      maxDelayMs: fastify.config.RETRY_MAX_DELAY_MS
    }
  })

  fastify.decorate('bridge', { settings, store, mappings, genesys, rateLimiter, dispatcher, instanceId, flows: extras.flows, reloader: extras.reloader, outcomes: extras.outcomes })
  extras.attach(dispatcher)
  metrics?.watch({
    dispatcher,
    stats: async () => await store.stats(),
    ...(extras.flows === null ? {} : { validationProblems: () => extras.flows!.status().problems.filter(p => p.severity === 'error').length })
  })

  if (options.dispatch !== false) {
    fastify.addHook('onListen', async () => { dispatcher.start() })
  }
  const retention = startRetention({
    store,
    log: log.child({ module: 'retention' }),
    keepFinishedMs: fastify.config.RETENTION_SUCCEEDED_MS,
    everyMs: fastify.config.RETENTION_SWEEP_MS
  })
  fastify.addHook('preClose', async () => {
    retention.stop()
    await dispatcher.stop(fastify.config.SHUTDOWN_GRACE_MS)
  })
  fastify.addHook('onClose', async () => {
    await genesys?.close()
    if (options.store === undefined) await store.close()
  })
}, { name: 'bridge', dependencies: ['@fastify/env'] })
