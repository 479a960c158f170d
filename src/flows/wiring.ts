/**
 * Wires flow-aware validation, mappings hot reload and execution outcome tracking into the bridge
 * plugin: builds them from configuration, and hooks their lifecycle onto the app (first flow check
 * and watching on ready, resume of outcome tracking, stop before the store and client close).
 */
import type { FastifyInstance } from 'fastify'
import type { AttemptEvent, Dispatcher } from '../dispatch/dispatcher.js'
import { OutcomeTracker } from '../dispatch/outcome-tracker.js'
import type { GenesysClient } from '../genesys/genesys-client.js'
import type { Log } from '../logging/log.js'
import type { MappingsHolder } from '../mapping/mappings-holder.js'
import { MappingsReloader } from '../mapping/mappings-watcher.js'
import { sourceTypes } from '../sources/index.js'
import type { Store } from '../store/store.js'
import { FlowCatalog } from './flow-catalog.js'
import { FlowValidator } from './flow-validator.js'

/** How long startup waits for the first flow check before going on without it (it finishes in the background). */
const startupCheckBudgetMs = 5000

export interface BridgeExtras {
  /** null in dry-run: no Genesys to read flows from. */
  flows: FlowValidator | null
  reloader: MappingsReloader
  /** null in dry-run. */
  outcomes: OutcomeTracker | null
}

export interface ExtrasOptions {
  mappings: MappingsHolder
  store: Store
  genesys: GenesysClient | null
  env: Record<string, string | undefined>
  log: Log
}

export function createBridgeExtras (fastify: FastifyInstance, options: ExtrasOptions): BridgeExtras & { attach: (dispatcher: Dispatcher) => void } {
  const { config } = fastify
  const { mappings, store, genesys, log } = options
  const flowsLog = log.child({ module: 'flows' })
  const flows = genesys === null
    ? null
    : new FlowValidator({ catalog: new FlowCatalog({ genesys, ttlMs: config.FLOW_SCHEMA_TTL_MS }), mappings: () => mappings.current, log: flowsLog, ttlMs: config.FLOW_SCHEMA_TTL_MS })
  const skipped = (reason: string): void => {
    flowsLog.info({ event: 'flows.check_skipped', reason }, 'dry-run: routes are not checked against their flows (no Genesys credentials); run `crm-flow-bridge validate --remote` where credentials are available')
  }
  const reloader = new MappingsReloader({
    holder: mappings,
    file: config.MAPPINGS_FILE,
    load: { env: options.env, sourceTypes },
    log: log.child({ module: 'mappings' }),
    onResult: result => { fastify.metrics?.mappingReloads.inc({ result: result.status === 'reloaded' ? 'success' : result.status }) },
    onReloaded: next => {
      if (flows === null) skipped('reload')
      else void flows.checkAll('reload', next).catch(err => { flowsLog.error({ event: 'flows.check_crashed', err }, 'checking routes against their flows failed unexpectedly') })
    }
  })
  const outcomes = genesys === null
    ? null
    : new OutcomeTracker({ store, genesys, log: log.child({ module: 'outcomes' }), baseMs: config.OUTCOME_POLL_BASE_MS, maxMs: config.OUTCOME_POLL_MAX_MS, timeoutMs: config.OUTCOME_TIMEOUT_MS })

  const attach = (dispatcher: Dispatcher): void => {
    if (outcomes !== null) {
      // The dispatcher reports each attempt after the store recorded it, so the execution id is there to read.
      dispatcher.on('attempt', (event: AttemptEvent) => {
        if (event.outcome !== 'succeeded' || mappings.current.route(event.route)?.trackOutcome !== true) return
        store.getDelivery(event.deliveryId).then(delivery => {
          if (delivery?.executionId != null) outcomes.track({ deliveryId: delivery.id, route: delivery.route, executionId: delivery.executionId, launchedAt: delivery.finishedAt ?? new Date() })
        }).catch(err => { log.warn({ event: 'delivery.outcome_tracking_failed', deliveryId: event.deliveryId, err }, 'could not start tracking the execution outcome') })
      })
    }

    fastify.addHook('onReady', async () => {
      if (config.WATCH_MAPPINGS) reloader.watch()
      if (flows === null) {
        skipped('startup')
      } else {
        const first = flows.checkAll('startup').catch(err => { flowsLog.error({ event: 'flows.check_crashed', err }, 'checking routes against their flows failed unexpectedly') })
        await Promise.race([first, new Promise(resolve => setTimeout(resolve, startupCheckBudgetMs).unref())])
        flows.start()
      }
      if (outcomes !== null) {
        const tracked = mappings.current.routes.filter(r => r.trackOutcome).map(r => r.name)
        await outcomes.resume(tracked).catch(err => { log.warn({ event: 'delivery.outcome_resume_failed', err }, 'could not resume outcome tracking') })
      }
    })
    fastify.addHook('preClose', async () => {
      await reloader.close()
      await Promise.all([flows?.stop(), outcomes?.stop()])
    })
  }

  return { flows, reloader, outcomes, attach }
}
