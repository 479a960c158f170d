import type { FastifyInstance } from 'fastify'

/**
 * GET /metrics: the Prometheus text exposition of `fastify.metrics.registry`. Unauthenticated, like
 * /healthz: keep it off the public listener at the proxy (docs/security.md). Scrapes log at warn
 * level only, so a 15 s scrape interval does not flood the log.
 * @see docs/operations.md#metrics
 */
export default async function metricsRoutes (fastify: FastifyInstance): Promise<void> {
  const { registry } = fastify.getDecorator<FastifyInstance['metrics']>('metrics')

  fastify.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const body = await registry.metrics()
    return await reply.type(registry.contentType).send(body)
  })
}
