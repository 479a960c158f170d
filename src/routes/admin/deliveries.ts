/**
 * /admin/deliveries: list with filters and a cursor, one delivery with its event, request and every
 * attempt, and replays (one, or in bulk by filter). A replay puts finished deliveries back in the
 * queue; the dispatcher maps them again with the mappings in force when it launches them.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { buildLaunchRequest, executionName, redactLaunchRequest } from '../../mapping/mapping-engine.js'
import type { DeliveryDetail, DeliveryFilter } from '../../store/store.js'
import { deliveryDetailSchema, deliverySummarySchema, errorResponses, errorSchema, filterProperties, replayResultSchema } from './schemas.js'
import { deliveryDetailView, deliverySummaryView, FilterError, parseDeliveryFilter, type FilterInput } from './views.js'

/**
 * Unknown keys are refused, not dropped: Fastify's Ajv removes properties that `additionalProperties:
 * false` forbids, so `{"status": "failed", "rout": "x"}` would silently replay every failed delivery.
 */
const rejectUnknown = { not: {} }

const replayable = new Set(['failed', 'succeeded', 'dry_run'])
const maxListedIds = 1000

export default async function deliveryRoutes (fastify: FastifyInstance): Promise<void> {
  const { bridge, config } = fastify

  const fail = async (reply: FastifyReply, status: number, error: string, message: string, extra: Record<string, unknown> = {}): Promise<FastifyReply> =>
    await reply.code(status).send({ error, message, ...extra })

  const filterOrFail = (input: FilterInput): DeliveryFilter | FilterError => {
    try {
      return parseDeliveryFilter(input)
    } catch (err) {
      if (err instanceof FilterError) return err
      throw err
    }
  }

  fastify.get<{ Querystring: FilterInput & { limit: number, cursor?: string } }>('/deliveries', {
    schema: {
      tags: ['deliveries'],
      summary: 'List deliveries, newest first',
      description: 'Filters combine with AND. Pass `nextCursor` back as `cursor` for the next page; it is null on the last page.',
      querystring: {
        type: 'object',
        additionalProperties: rejectUnknown,
        properties: {
          ...filterProperties,
          limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          cursor: { type: 'string', minLength: 1 }
        }
      },
      response: {
        200: {
          type: 'object',
          properties: { items: { type: 'array', items: deliverySummarySchema }, nextCursor: { type: ['string', 'null'] } }
        },
        ...errorResponses
      }
    }
  }, async (request, reply) => {
    const filter = filterOrFail(request.query)
    if (filter instanceof FilterError) return await fail(reply, 400, 'invalid_filter', filter.message, { field: filter.field })
    try {
      const page = await bridge.store.listDeliveries(filter, { limit: request.query.limit, cursor: request.query.cursor ?? null })
      return { items: page.items.map(deliverySummaryView), nextCursor: page.nextCursor }
    } catch (err) {
      if ((err as Error).name === 'InvalidCursorError') return await fail(reply, 400, 'invalid_cursor', (err as Error).message)
      throw err
    }
  })

  fastify.get<{ Params: { id: string } }>('/deliveries/:id', {
    schema: {
      tags: ['deliveries'],
      summary: 'One delivery: event, mapped request, every attempt',
      params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      response: { 200: deliveryDetailSchema, ...errorResponses, 404: { description: 'No such delivery', ...errorSchema } }
    }
  }, async (request, reply) => {
    const delivery = await bridge.store.getDelivery(request.params.id)
    if (delivery === null) return await fail(reply, 404, 'not_found', `no delivery ${request.params.id}`)
    return { ...deliveryDetailView(delivery), mappedRequest: mappedNow(delivery) }
  })

  fastify.post<{ Params: { id: string } }>('/deliveries/:id/replay', {
    schema: {
      tags: ['deliveries'],
      summary: 'Replay one finished delivery (failed, succeeded or dry_run)',
      description: 'Queues it again with a fresh attempt budget; it is launched with the mappings in force. Replaying a succeeded delivery launches the flow again.',
      params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      response: {
        202: replayResultSchema,
        ...errorResponses,
        404: { description: 'No such delivery', ...errorSchema },
        409: { description: 'Not finished, superseded, or its route is no longer in the mappings', ...errorSchema }
      }
    }
  }, async (request, reply) => {
    const delivery = await bridge.store.getDelivery(request.params.id)
    if (delivery === null) return await fail(reply, 404, 'not_found', `no delivery ${request.params.id}`)
    if (delivery.state === 'superseded') return await fail(reply, 409, 'superseded', `delivery was folded into ${delivery.supersededBy ?? 'a later delivery'}; replay that one`, { supersededBy: delivery.supersededBy })
    if (!replayable.has(delivery.state)) return await fail(reply, 409, 'not_finished', `delivery is ${delivery.state}; only finished deliveries (failed, succeeded, dry_run) can be replayed`)
    const route = bridge.mappings.current.route(delivery.route)
    if (route === undefined) return await fail(reply, 409, 'unknown_route', `route "${delivery.route}" is no longer in the mappings file; a replay would fail`)
    const ids = await bridge.store.requeue({ ids: [delivery.id] }, { maxAttempts: route.maxAttempts ?? config.RETRY_MAX_ATTEMPTS })
    if (ids.length > 0) bridge.dispatcher.wake()
    request.log.info({ event: 'admin.replayed', deliveryIds: ids, count: ids.length }, 'delivery replayed')
    return await reply.code(202).send({ replayed: ids.length, ids })
  })

  fastify.post<{ Body: FilterInput }>('/deliveries/replay', {
    schema: {
      tags: ['deliveries'],
      summary: 'Replay every finished delivery matching a filter',
      description: '`status` is required (failed/dead, succeeded or dry_run) so a bulk replay never re-launches successes by accident. Answers the count.',
      body: {
        type: 'object',
        additionalProperties: rejectUnknown,
        properties: { ...filterProperties, status: { type: 'string', enum: ['failed', 'dead', 'succeeded', 'dry_run'] } },
        required: ['status']
      },
      response: { 202: replayResultSchema, ...errorResponses, 409: { description: 'The route filter names a route that is not in the mappings', ...errorSchema } }
    }
  }, async (request, reply) => {
    const filter = filterOrFail(request.body)
    if (filter instanceof FilterError) return await fail(reply, 400, 'invalid_filter', filter.message, { field: filter.field })
    let maxAttempts = config.RETRY_MAX_ATTEMPTS
    if (filter.route !== undefined) {
      const route = bridge.mappings.current.route(filter.route)
      if (route === undefined) return await fail(reply, 409, 'unknown_route', `route "${filter.route}" is not in the mappings file; its deliveries would fail again`)
      maxAttempts = route.maxAttempts ?? maxAttempts
    }
    const ids = await bridge.store.requeue(filter, { maxAttempts })
    if (ids.length > 0) bridge.dispatcher.wake()
    request.log.info({ event: 'admin.replayed', filter: request.body, count: ids.length }, 'deliveries replayed')
    return await reply.code(202).send({ replayed: ids.length, ids: ids.slice(0, maxListedIds) })
  })

  fastify.post<{ Body: { status: 'failed' | 'dead' | 'succeeded' | 'dry_run' | 'superseded', before: string } }>('/deliveries/purge', {
    schema: {
      tags: ['deliveries'],
      summary: 'Delete finished deliveries of one status that finished before a time',
      description: 'Failed deliveries are kept until replayed or purged here; succeeded, dry-run and superseded ones are also purged automatically after RETENTION_SUCCEEDED_MS. Answers the count.',
      body: {
        type: 'object',
        additionalProperties: rejectUnknown,
        properties: {
          status: { type: 'string', enum: ['failed', 'dead', 'succeeded', 'dry_run', 'superseded'] },
          before: { type: 'string', format: 'date-time' }
        },
        required: ['status', 'before']
      },
      response: { 200: { type: 'object', properties: { purged: { type: 'integer' } } }, ...errorResponses }
    }
  }, async (request, reply) => {
    const state = request.body.status === 'dead' ? 'failed' : request.body.status
    const before = new Date(request.body.before)
    let purged = 0
    for (;;) {
      const batch = await bridge.store.purge({ states: [state], before, limit: 5000 })
      purged += batch
      if (batch < 5000) break
    }
    request.log.info({ event: 'admin.purged', status: state, before: before.toISOString(), count: purged }, 'deliveries purged')
    return await reply.send({ purged })
  })

  /** What a replay would send now: the current route, the flow's declared types, redacted inputs masked. */
  function mappedNow (delivery: DeliveryDetail): Record<string, unknown> {
    const route = bridge.mappings.current.route(delivery.route)
    if (route === undefined) return { ok: false, reason: `route "${delivery.route}" is no longer in the mappings file` }
    const mapped = buildLaunchRequest(route, delivery.event, executionName(delivery.id), bridge.flows?.inputTypes(route))
    if (!mapped.ok) return { ok: false, reason: 'mapping fails', problems: mapped.problems }
    return { ok: true, request: redactLaunchRequest(mapped.request, route.redact) }
  }
}
