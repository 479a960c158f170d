import type { SourceEvent } from './normalized-event.js'

/** A webhook request as ingress hands it to a source: raw bytes, nothing parsed yet. */
export interface IncomingWebhook {
  method: string
  /** Path and query as received, e.g. `/webhooks/hubspot?x=1`. */
  url: string
  /**
   * The URL the CRM called, scheme and host included, as far as the service can tell
   * (the source's `publicUrl` setting, else X-Forwarded-* from a trusted proxy, else the Host header).
   */
  publicUrl: string
  /** Lower-cased header names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>
  query: Record<string, string | string[] | undefined>
  rawBody: Buffer
  receivedAt: Date
  remoteAddress: string
}

/** A reply in the form the CRM expects (a SOAP envelope for Salesforce, JSON elsewhere). */
export interface SourceReply {
  statusCode: number
  contentType: string
  body: string
  headers?: Record<string, string>
}

/** What ingest did with one request, handed to the source to build its reply after the commit. */
export interface IngestSummary {
  /** Events in the request. */
  events: number
  /** Delivery ids created, one per (new event, matched route). */
  accepted: Array<{ deliveryId: string, route: string, eventId: string }>
  /** Event ids (the CRM's) already seen before: accepted earlier, nothing new stored. */
  duplicates: string[]
  /** Event ids (the CRM's) that no route matched: nothing stored, nothing to launch. */
  unmatched: string[]
}

/**
 * A rejected request. `statusCode` is 4xx; `code` is a stable machine-readable reason
 * (`bad_signature`, `stale_timestamp`, `wrong_organization`, `malformed_body`, …); `message` is safe
 * to show the caller and to log (never contains a secret).
 */
export class SourceRejection extends Error {
  readonly statusCode: number
  readonly code: string
  constructor (statusCode: number, code: string, message: string) {
    super(message)
    this.name = 'SourceRejection'
    this.statusCode = statusCode
    this.code = code
  }
}

/**
 * One configured source (an entry under `sources:` in the mappings file), bound to its settings.
 * Ingress calls, in order: `authenticate` on the raw bytes, then `parse`, then after the store
 * committed `reply`; on any rejection `errorReply`. Each method throws `SourceRejection` to refuse.
 */
export interface SourceAdapter {
  readonly name: string
  readonly type: string
  /** Media types accepted on this source's route (without parameters); anything else gets 415. */
  readonly contentTypes: readonly string[]
  authenticate (req: IncomingWebhook): void
  parse (req: IncomingWebhook): SourceEvent[]
  reply (summary: IngestSummary): SourceReply
  errorReply (rejection: SourceRejection): SourceReply
  /** Set by the mappings loader from the common `allowIps` setting: false for a caller outside the list (403). */
  allowsAddress?: (address: string) => boolean
  /** Notes worth a log line that do not refuse the request (e.g. Dynamics' size-exceeded header). */
  notes? (req: IncomingWebhook): Record<string, unknown> | undefined
}
