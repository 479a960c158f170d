import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { uuidv7 } from '../store/ids.js'
import { StoreUnavailableError, type IngestItem } from '../store/store.js'
import { SourceRejection, type IncomingWebhook, type IngestSummary, type SourceAdapter, type SourceReply } from '../sources/source-adapter.js'
import type { Mappings } from '../mapping/mappings.js'
import { noteWebhookAccepted, noteWebhookRejected } from '../metrics/ingress.js'
import { publicUrlFor } from '../net/public-url.js'

/**
 * POST /webhooks/:source — authenticate on the raw bytes, parse, match routes, persist one delivery
 * per (new event, matched route) in one transaction, and answer the way the CRM expects only after
 * the commit. The raw-body parser is scoped to this plugin.
 */
export default async function webhookRoutes (fastify: FastifyInstance): Promise<void> {
  const { bridge, config } = fastify

  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.BODY_LIMIT_BYTES }, (_req, body, done) => { done(null, body) })

  fastify.post<{ Params: { source: string } }>('/webhooks/:source', { bodyLimit: config.BODY_LIMIT_BYTES }, async (request, reply) => {
    const mappings = bridge.mappings.current
    const sourceName = request.params.source
    const adapter = mappings.sources.get(sourceName)
    const log = request.log
    if (adapter === undefined) {
      log.warn({ event: 'webhook.rejected', source: sourceName, code: 'unknown_source', status: 404, ip: request.ip, ms: elapsedMs(reply) }, 'webhook rejected')
      return await reply.code(404).send({ error: 'unknown_source', message: `no source named "${sourceName}" in the mappings file` })
    }
    const webhook = toIncomingWebhook(request)
    log.debug({ event: 'webhook.received', source: sourceName, bytes: webhook.rawBody.length, contentType: request.headers['content-type'] ?? null }, 'webhook received')

    let summary: IngestSummary
    try {
      if (adapter.allowsAddress?.(webhook.remoteAddress) === false) {
        throw new SourceRejection(403, 'ip_not_allowed', 'the caller\'s address is not in this source\'s allowIps')
      }
      checkContentType(adapter, request.headers['content-type'])
      adapter.authenticate(webhook)
      const notes = adapter.notes?.(webhook)
      if (notes !== undefined) log.warn({ event: 'webhook.note', source: sourceName, ...notes }, 'webhook accepted with a note')
      summary = await ingest(fastify, mappings, adapter, webhook, log)
    } catch (err) {
      if (err instanceof SourceRejection) {
        log.warn({ event: 'webhook.rejected', source: sourceName, code: err.code, reason: err.message, status: err.statusCode, ip: request.ip, ms: elapsedMs(reply) }, 'webhook rejected')
        noteWebhookRejected(request, err.code)
        return await send(reply, adapter.errorReply(err))
      }
      if (err instanceof StoreUnavailableError) {
        log.error({ event: 'webhook.store_unavailable', source: sourceName, err, status: 503, ip: request.ip, ms: elapsedMs(reply) }, 'store cannot commit; asking the CRM to retry')
        noteWebhookRejected(request, 'store_unavailable')
        const rejection = new SourceRejection(503, 'store_unavailable', 'the bridge cannot store events right now; retry later')
        return await send(reply.header('retry-after', '30'), adapter.errorReply(rejection))
      }
      throw err
    }
    const response = adapter.reply(summary)
    log.info({
      event: 'webhook.accepted',
      source: sourceName,
      events: summary.events,
      accepted: summary.accepted.length,
      duplicates: summary.duplicates.length,
      unmatched: summary.unmatched.length,
      deliveryIds: summary.accepted.map(delivery => delivery.deliveryId),
      status: response.statusCode,
      ip: request.ip,
      ms: elapsedMs(reply)
    }, 'webhook accepted')
    noteWebhookAccepted(request, summary)
    if (summary.accepted.length > 0) bridge.dispatcher.wake()
    return await send(reply, response)
  })
}

async function ingest (fastify: FastifyInstance, mappings: Mappings, adapter: SourceAdapter, webhook: IncomingWebhook, log: FastifyBaseLogger): Promise<IngestSummary> {
  const { bridge, config } = fastify
  const events = adapter.parse(webhook)
  const summary: IngestSummary = { events: events.length, accepted: [], duplicates: [], unmatched: [] }
  const items: IngestItem[] = []
  const routes = mappings.routesFor(adapter.name)
  const now = webhook.receivedAt.getTime()
  for (const { dedupeKey, event, rawJson } of events) {
    const matched = routes.filter(route => route.matches(event))
    if (matched.length === 0) {
      summary.unmatched.push(event.event.id)
      continue
    }
    items.push({
      eventId: uuidv7(now),
      source: adapter.name,
      dedupeKey,
      event,
      rawJson,
      receivedAt: webhook.receivedAt,
      deliveries: matched.map(route => ({
        id: uuidv7(now),
        route: route.name,
        recordKey: event.record.id ?? `event:${dedupeKey}`,
        runAt: new Date(now + route.coalesceMs),
        maxAttempts: route.maxAttempts ?? config.RETRY_MAX_ATTEMPTS
      }))
    })
  }
  if (items.length === 0) return summary
  const results = await bridge.store.ingest(items)
  const logQueued = log.level === 'debug' || log.level === 'trace'
  items.forEach((item, i) => {
    if (!results[i]!.inserted) {
      summary.duplicates.push(item.event.event.id)
      return
    }
    for (const delivery of item.deliveries) {
      summary.accepted.push({ deliveryId: delivery.id, route: delivery.route, eventId: item.event.event.id })
      if (logQueued) log.debug({ event: 'delivery.queued', source: adapter.name, deliveryId: delivery.id, route: delivery.route, eventId: item.event.event.id, recordId: item.event.record.id, runAt: delivery.runAt.toISOString() }, 'delivery queued')
    }
  })
  return summary
}

function checkContentType (adapter: SourceAdapter, header: string | undefined): void {
  if (header !== undefined && adapter.contentTypes.includes(header)) return
  const mediaType = (header ?? '').split(';')[0]!.trim().toLowerCase()
  if (!adapter.contentTypes.includes(mediaType)) {
    throw new SourceRejection(415, 'unsupported_content_type', `content type "${mediaType || '(none)'}" is not accepted here; send ${adapter.contentTypes.join(' or ')}`)
  }
}

function toIncomingWebhook (request: FastifyRequest): IncomingWebhook {
  const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
  return {
    method: request.method,
    url: request.url,
    publicUrl: publicUrlFor(request, request.server.bridge.mappings.current),
    headers: request.headers,
    query: request.query as IncomingWebhook['query'],
    rawBody,
    receivedAt: new Date(),
    remoteAddress: request.ip
  }
}

/** Time since the request arrived, in the log lines that replace fastify's `request completed` for webhooks. */
function elapsedMs (reply: FastifyReply): number {
  return Math.round(reply.elapsedTime * 10) / 10
}

async function send (reply: FastifyReply, response: SourceReply): Promise<FastifyReply> {
  if (response.headers !== undefined) reply.headers(response.headers)
  return await reply.code(response.statusCode).type(response.contentType).send(response.body)
}
