import type { FastifyInstance } from 'fastify'
import type { Bridge } from '../plugins/bridge.js'

/**
 * GET /healthz: the process is up. GET /readyz: the service can do its job — store reachable,
 * mappings loaded and the last edit valid, every route fits its flow's declared inputs (checked
 * at startup, reload and every FLOW_SCHEMA_TTL_MS), a Genesys token obtainable (unless dry-run).
 * 503 names the failing checks.
 */
export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  const { bridge } = fastify

  // Probes run every few seconds: their request lines log at warn only (readiness.failed still shows).
  fastify.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }))

  fastify.get('/readyz', { logLevel: 'warn' }, async (request, reply) => {
    const checks: Record<string, { ok: boolean, detail?: string }> = {}
    try {
      await bridge.store.ping()
      checks.store = { ok: true }
    } catch (err) {
      checks.store = { ok: false, detail: (err as Error).message }
    }
    const reloadError = bridge.mappings.lastError
    checks.mappings = reloadError === null
      ? { ok: true }
      : { ok: false, detail: `last edit rejected at ${reloadError.at.toISOString()}, still serving the previous mappings: ${reloadError.error.message}` }
    checks.flows = flowsCheck(bridge)
    if (bridge.genesys === null) {
      checks.genesys = { ok: true, detail: 'dry-run: nothing is sent' }
    } else {
      try {
        await bridge.genesys.checkToken(AbortSignal.timeout(5000))
        checks.genesys = { ok: true }
      } catch (err) {
        checks.genesys = { ok: false, detail: (err as Error).message }
      }
    }
    const failing = Object.entries(checks).filter(([, check]) => !check.ok).map(([name]) => name)
    if (fastify.hasDecorator('metrics')) fastify.metrics.observeReadiness(checks)
    if (failing.length > 0) request.log.warn({ event: 'readiness.failed', failing }, 'not ready')
    return await reply.code(failing.length === 0 ? 200 : 503).send({ status: failing.length === 0 ? 'ready' : 'not_ready', failing, checks })
  })
}

/**
 * Routes against their flows (src/flows): not ready until the first check has run, nor while a route
 * is broken. The check of freshly reloaded mappings does not flap readiness: the last verdict holds
 * until it is in.
 */
function flowsCheck (bridge: Bridge): { ok: boolean, detail?: string } {
  if (bridge.flows === null) return { ok: true, detail: 'dry-run: routes are not checked against their flows' }
  const status = bridge.flows.status()
  if (status.state === 'pending' && status.checkedAt === null) return { ok: false, detail: 'the routes are being checked against their flows (first check)' }
  if (status.brokenRoutes.length === 0) {
    const warnings = status.problems.length
    return { ok: true, detail: `checked ${status.checkedAt?.toISOString() ?? ''}${warnings > 0 ? `; ${warnings} warning(s), see GET /admin/mappings` : ''}` }
  }
  const errors = status.problems.filter(p => p.severity === 'error')
  return { ok: false, detail: `${status.brokenRoutes.length} route(s) do not fit their flow (deliveries are still attempted): ${errors.slice(0, 5).map(p => `${p.route}${p.input === null ? '' : ` ${p.input}`}: ${p.message}`).join('; ')}${errors.length > 5 ? `; and ${errors.length - 5} more` : ''}` }
}
