/**
 * The admin API under /admin: deliveries (list, show, replay) and mappings (show, validate, preview),
 * with its OpenAPI description at /admin/openapi.json. Registered only when ADMIN_TOKEN is set, so
 * without it every /admin URL is a 404. Every route, the OpenAPI document included, needs
 * `Authorization: Bearer <ADMIN_TOKEN>`; the token is compared in constant time. See docs/admin.md.
 * @see https://github.com/fastify/fastify-swagger (dynamic mode: the document is built from route schemas)
 */
import { createRequire } from 'node:module'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { safeEqual } from '../../sources/webhook-auth.js'
import deliveryRoutes from './deliveries.js'
import mappingRoutes from './mappings.js'

// Loaded through require so its type declarations stay out of the program: they augment Fastify's
// FastifyContextConfig with optional keys, which turns it into a TypeScript "weak type" and breaks
// route configs of other plugins that share none of those keys (the sandbox's). The few schema keys
// the admin routes use are declared below instead.
const fastifySwagger = createRequire(import.meta.url)('@fastify/swagger') as FastifyPluginAsync<Record<string, unknown>>

declare module 'fastify' {
  /** OpenAPI keys of route schemas read by @fastify/swagger (subset of its own declarations). */
  interface FastifySchema {
    hide?: boolean
    tags?: readonly string[]
    summary?: string
    description?: string
    consumes?: readonly string[]
  }
}

export interface AdminOptions {
  token: string
}

export default async function adminRoutes (fastify: FastifyInstance, options: AdminOptions): Promise<void> {
  const expected = options.token

  // Registered inside this plugin, so the document describes the admin routes only.
  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'crm-flow-bridge admin API',
        description: 'Deliveries, replays, mappings validation and preview. See docs/admin.md.',
        version: '1'
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'deliveries', description: 'Stored deliveries: list, inspect, replay' },
        { name: 'mappings', description: 'The mappings in force; validate and preview candidates' }
      ]
    }
  })

  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization
    const token = typeof header === 'string' && /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, '').trim() : null
    if (token === null || !safeEqual(token, expected)) {
      request.log.warn({ event: 'admin.unauthorized', reason: token === null ? 'missing_token' : 'wrong_token', url: request.url.split('?')[0] }, 'admin request refused')
      return await reply.code(401).header('www-authenticate', 'Bearer realm="crm-flow-bridge admin"')
        .send({ error: 'unauthorized', message: token === null ? 'send Authorization: Bearer <ADMIN_TOKEN>' : 'the bearer token is not the admin token' })
    }
  })

  fastify.get('/openapi.json', { schema: { hide: true } }, async () => (fastify as unknown as { swagger: () => unknown }).swagger())

  await fastify.register(deliveryRoutes)
  await fastify.register(mappingRoutes)
}
