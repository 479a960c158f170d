/**
 * Prometheus metrics for the whole app: decorates `fastify.metrics` (a registry of its own, so
 * several apps in one process never clash) and counts webhook answers in an onResponse hook.
 * Register it before the bridge plugin, which passes `metrics.genesysHooks` and
 * `metrics.onRateLimitWait` to the Genesys client and the rate limiter and calls `metrics.watch`.
 *
 * For other modules:
 *   fastify.metrics.mappingReloads.inc({ result: 'success' | 'rejected' | 'unchanged' })
 *   (validation problems are read from the flow validator on each scrape, see bridge.ts)
 * @see docs/operations.md#metrics
 */
import fp from 'fastify-plugin'
import { Registry } from 'prom-client'
import { countWebhook } from '../metrics/ingress.js'
import { createMetrics, type Metrics } from '../metrics/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

export interface MetricsPluginOptions {
  /** How long (ms) a queue snapshot is reused across scrapes; default 5000. */
  queueStatsTtlMs?: number
  /** Process and Node.js default metrics; default true. */
  defaultMetrics?: boolean
}

/** The webhook route's URL pattern, as Fastify reports it in `routeOptions.url`. */
const webhookRoute = '/webhooks/:source'

export default fp<MetricsPluginOptions>(async function metricsPlugin (fastify, options) {
  const metrics = createMetrics(new Registry(), {
    ...(options.queueStatsTtlMs === undefined ? {} : { queueStatsTtlMs: options.queueStatsTtlMs }),
    ...(options.defaultMetrics === undefined ? {} : { defaultMetrics: options.defaultMetrics }),
    log: fastify.log.child({ module: 'metrics' })
  })
  fastify.decorate('metrics', metrics)

  fastify.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url !== webhookRoute) return
    const sources = fastify.hasDecorator('bridge') ? fastify.bridge.mappings.current.sources : new Map()
    countWebhook(metrics, request, reply.statusCode, sources)
  })
}, { name: 'metrics' })
