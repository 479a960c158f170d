import type { FastifyInstance } from 'fastify'

/**
 * GET /healthz: the process is up. GET /readyz: the service can do its job — store reachable,
 * mappings loaded and the last edit valid, a Genesys token obtainable (unless dry-run). 503 names
 * the failing checks.
 */
export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  const { bridge } = fastify

  fastify.get('/healthz', async () => ({ status: 'ok' }))

  fastify.get('/readyz', async (request, reply) => {
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
    if (failing.length > 0) request.log.warn({ event: 'readiness.failed', failing }, 'not ready')
    return await reply.code(failing.length === 0 ? 200 : 503).send({ status: failing.length === 0 ? 'ready' : 'not_ready', failing, checks })
  })
}
