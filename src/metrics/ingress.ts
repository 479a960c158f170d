/**
 * What the webhook route decided for a request, noted on the side for metrics. Ingress calls
 * `noteWebhookAccepted`/`noteWebhookRejected` where it logs `webhook.accepted`/`webhook.rejected`;
 * the metrics plugin's onResponse hook reads the note once the answer is sent and turns it into
 * label values. Requests the route never saw (413 and 415 from the body parser, 500s) have no note
 * and are counted from their status code.
 *
 * A WeakMap rather than a request decorator: ingress needs no dependency on the metrics plugin,
 * and the note goes away with the request.
 */
import type { FastifyRequest } from 'fastify'
import type { IngestSummary } from '../sources/source-adapter.js'
import type { Metrics, WebhookEventOutcome } from './metrics.js'
import { reasonForStatus } from './labels.js'

type WebhookNote =
  | { outcome: 'rejected', reason: string }
  | { outcome: 'accepted', events: Record<WebhookEventOutcome, number>, routes: string[] }

const notes = new WeakMap<FastifyRequest, WebhookNote>()

/** The route refused the request; `code` is the rejection's machine-readable code. */
export function noteWebhookRejected (request: FastifyRequest, code: string): void {
  notes.set(request, { outcome: 'rejected', reason: code })
}

/** The route stored what was new and answered; counts events by outcome and deliveries by route. */
export function noteWebhookAccepted (request: FastifyRequest, summary: IngestSummary): void {
  const duplicate = summary.duplicates.length
  const unmatched = summary.unmatched.length
  notes.set(request, {
    outcome: 'accepted',
    events: { accepted: Math.max(0, summary.events - duplicate - unmatched), duplicate, unmatched },
    routes: summary.accepted.map(delivery => delivery.route)
  })
}

/** Counts one answered webhook request. `knownSources` bounds the `source` label to configured names. */
export function countWebhook (metrics: Metrics, request: FastifyRequest, statusCode: number, knownSources: ReadonlyMap<string, unknown>): void {
  const name = (request.params as { source?: unknown } | undefined)?.source
  // The path segment is caller-chosen: only configured names become label values.
  const source = typeof name === 'string' && knownSources.has(name) ? name : '(unknown)'
  const note = notes.get(request)
  notes.delete(request)
  if (note === undefined) {
    if (statusCode >= 400) metrics.observeWebhook({ source, outcome: 'rejected', reason: reasonForStatus(statusCode) })
    else metrics.observeWebhook({ source, outcome: 'accepted', events: { accepted: 0, duplicate: 0, unmatched: 0 }, routes: [] })
    return
  }
  metrics.observeWebhook({ source, ...note })
}
