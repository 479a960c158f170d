import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import fastifyEnv from '@fastify/env'
import type { Logger } from 'pino'
import { envSchema } from './config/env.js'
import bridgePlugin, { type BridgeOptions } from './plugins/bridge.js'
import metricsPlugin from './plugins/metrics.js'
import { loadTlsFiles } from './net/tls.js'
import { parseTrustProxy } from './net/trust-proxy.js'
import metricsRoutes from './routes/metrics.js'
import healthRoutes from './routes/health.js'
import webhookRoutes from './routes/webhooks.js'
import adminRoutes from './routes/admin/index.js'

export interface AppOptions extends Omit<BridgeOptions, 'env'> {
  /** The environment to configure from (process.env in production). */
  env: Record<string, string | undefined>
  logger: Logger
}

/**
 * Builds the service without listening: configuration, shared services, routes, error handling.
 * `server.ts` listens; tests build it with their own environment and logger.
 */
export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  // TLS and proxy trust shape the server itself, so they are read before @fastify/env runs
  // (src/net/tls.ts, src/net/trust-proxy.ts); both throw a ConfigError naming the variable.
  const tls = loadTlsFiles(options.env)
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // Never trust a caller-chosen request id: it would let callers forge log correlation.
    requestIdHeader: false,
    // Webhooks log one line of their own with the outcome, status and time (src/routes/webhooks.ts);
    // fastify's two per-request lines would triple the logging cost of the busiest route.
    logController: new LogController({ disableRequestLogging: request => request.url.startsWith('/webhooks/') }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    trustProxy: parseTrustProxy(options.env.TRUST_PROXY),
    // avvio times out close hooks too: shutdown may spend SHUTDOWN_GRACE_MS letting launches finish.
    pluginTimeout: closeHookTimeoutMs(options.env.SHUTDOWN_GRACE_MS),
    ...(tls === null ? {} : { https: tls })
  }) as unknown as FastifyInstance

  await app.register(fastifyEnv, { schema: envSchema, data: options.env })
  await app.register(metricsPlugin)
  await app.register(bridgePlugin, { ...options, env: options.env })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500
    if (status >= 500) {
      request.log.error({ event: 'request.failed', err: error }, 'request failed')
      return reply.code(status).send({ error: 'internal_error', message: 'internal error; see the service log' })
    }
    request.log.warn({ event: 'request.rejected', code: error.code, reason: error.message, status }, 'request rejected')
    return reply.code(status).send({ error: errorCode(error), message: error.message })
  })
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }))

  await app.register(healthRoutes)
  await app.register(metricsRoutes)
  await app.register(webhookRoutes)
  // The admin API exists only with a token: without ADMIN_TOKEN every /admin URL is a plain 404.
  if (app.config.ADMIN_TOKEN !== undefined) await app.register(adminRoutes, { prefix: '/admin', token: app.config.ADMIN_TOKEN })
  return app
}

function closeHookTimeoutMs (graceMs: string | undefined): number {
  const grace = Number(graceMs ?? 10000)
  return (Number.isFinite(grace) && grace >= 0 ? grace : 10000) + 10000
}

function errorCode (error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return 'body_too_large'
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return 'unsupported_content_type'
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return 'malformed_body'
    default: return error.validation !== undefined ? 'invalid_request' : (error.code ?? 'bad_request').toLowerCase()
  }
}
