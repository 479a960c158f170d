/**
 * `/__sandbox/*`: the HTTP face of the programmatic controls, for tests and demos that drive a sandbox in
 * another process. These routes are never recorded, faulted, authenticated or rate limited.
 */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { sendError, sendJson } from './error-body.js'
import { faultRuleSchema } from './faults.js'
import { formatIssues } from './sandbox-config.js'
import type { SandboxState } from './sandbox-state.js'
import type { SandboxFlow } from './sandbox-types.js'

const faultRulesSchema = z.union([faultRuleSchema, z.array(faultRuleSchema)])
const revokeSchema = z.strictObject({ clientId: z.string().min(1).optional() }).optional()

export function registerControlRoutes (app: FastifyInstance, state: SandboxState): void {
  app.get('/__sandbox/requests', async (_request, reply) => sendJson(reply, 200, state.requests))

  app.get('/__sandbox/executions', async (_request, reply) => sendJson(reply, 200, [...state.executions.values()]))

  app.get('/__sandbox/stats', async (_request, reply) => sendJson(reply, 200, state.stats))

  app.post('/__sandbox/reset', async (_request, reply) => {
    state.reset()
    return reply.code(204).send()
  })

  app.get('/__sandbox/faults', async (_request, reply) => sendJson(reply, 200, state.faults.list()))

  /** One rule or an array of rules; answers 201 with the stored rules (ids included). */
  app.post('/__sandbox/faults', async (request, reply) => {
    const parsed = faultRulesSchema.safeParse(request.body)
    if (!parsed.success) return sendError(reply, 400, 'bad.request', formatIssues(parsed.error))
    const rules = Array.isArray(parsed.data) ? parsed.data : [parsed.data]
    return sendJson(reply, 201, rules.map(rule => state.faults.add(rule)))
  })

  app.delete('/__sandbox/faults', async (_request, reply) => {
    state.faults.clear()
    return reply.code(204).send()
  })

  app.delete<{ Params: { id: string } }>('/__sandbox/faults/:id', async (request, reply) => {
    if (!state.faults.remove(request.params.id)) return sendError(reply, 404, 'not.found', `Fault rule ${request.params.id} was not found.`)
    return reply.code(204).send()
  })

  app.post('/__sandbox/flows', async (request, reply) => {
    try {
      return sendJson(reply, 200, state.upsertFlow(request.body as SandboxFlow))
    } catch (err) {
      return sendError(reply, 400, 'bad.request', (err as Error).message)
    }
  })

  app.post('/__sandbox/tokens/revoke', async (request, reply) => {
    const parsed = revokeSchema.safeParse(request.body)
    if (!parsed.success) return sendError(reply, 400, 'bad.request', formatIssues(parsed.error))
    state.revokeTokens(parsed.data?.clientId)
    return reply.code(204).send()
  })
}
