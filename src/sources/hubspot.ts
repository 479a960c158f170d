/**
 * HubSpot app webhooks: a JSON array of events (HubSpot sends fewer than 100), signed with the app's
 * client secret. v3 (HMAC over method, URL, body and a timestamp) is the default and the only one
 * with replay protection; v1 and v2 (plain SHA-256, no timestamp) are opt-in per source.
 *
 * @see https://developers.hubspot.com/docs/api/webhooks
 * @see https://developers.hubspot.com/docs/api/webhooks/validating-requests
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { NormalizedEvent, SourceEvent } from './normalized-event.js'
import { SourceRejection, type IncomingWebhook, type SourceAdapter } from './source-adapter.js'
import { defineSourceType } from './source-type.js'
import { checkFreshness, digestEquals, header, hmacSha256, requireHeader } from './webhook-auth.js'
import { idString, isPlainObject, jsonReply, parseJsonBody, toIsoTime } from './json-body.js'

/**
 * HubSpot documents "under 100" per request. A larger cap costs nothing and keeps a change on
 * HubSpot's side from turning into rejected (and then retried for 24 h) batches.
 */
const MAX_EVENTS = 1000

const SIGNATURE_VERSIONS = ['v1', 'v2', 'v3'] as const
type SignatureVersion = typeof SIGNATURE_VERSIONS[number]

/** Percent-encodings HubSpot decodes in the request URI before signing (v3 only). */
const V3_URI_DECODES: Record<string, string> = {
  '%3A': ':', '%2F': '/', '%3F': '?', '%40': '@', '%21': '!', '%24': '$', '%27': "'", '%28': '(', '%29': ')', '%2A': '*', '%2C': ',', '%3B': ';'
}

export function decodeV3Uri (uri: string): string {
  return uri.replace(/%(?:3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, code => V3_URI_DECODES[code.toUpperCase()] ?? code)
}

/**
 * The URL HubSpot called, as it signed it: the configured `publicUrl` (the target URL registered in the
 * app), else the one ingress reconstructed; the query string received is appended when that URL has none.
 */
export function signedUrl (req: IncomingWebhook, configured: string | undefined): string {
  const base = configured ?? req.publicUrl
  if (base.includes('?')) return base
  const query = req.url.indexOf('?')
  return query === -1 ? base : base + req.url.slice(query)
}

function sha256Hex (parts: Array<string | Buffer>): string {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return hash.digest('hex')
}

/** `portalId:subscriptionId:eventId:objectId:occurredAt:propertyName`, empty where absent: eventId alone is not unique. */
export function hubspotDedupeKey (item: Record<string, unknown>): string {
  return [item.portalId, item.subscriptionId, item.eventId, item.objectId, item.occurredAt, item.propertyName]
    .map(value => idString(value) ?? '')
    .join(':')
}

/**
 * A creation is a snapshot (null: "not said", routes on `changed` let it through); deletions, merges,
 * association changes and restores change no property ([]).
 */
function changedWithoutProperty (type: string | null): string[] | null {
  return type === null || type.endsWith('.creation') ? null : []
}

export const hubspotSource = defineSourceType({
  type: 'hubspot',
  settings: {
    clientSecret: z.string().min(1),
    /** Which signature schemes are accepted; v3 wins whenever its header is present and allowed. */
    signatureVersions: z.array(z.enum(SIGNATURE_VERSIONS)).min(1).default(['v3']),
    /** v3 timestamp window either way; HubSpot's SDKs use 5 minutes. */
    maxSkewMs: z.number().int().positive().default(300_000)
  },
  create (name, config): SourceAdapter {
    const allowed = new Set<SignatureVersion>(config.signatureVersions)

    const verifyV3 = (req: IncomingWebhook, signature: string): void => {
      const timestamp = requireHeader(req, 'x-hubspot-request-timestamp')
      if (!/^\d{1,16}$/.test(timestamp)) throw new SourceRejection(401, 'bad_timestamp', 'X-HubSpot-Request-Timestamp is not epoch milliseconds')
      const uri = decodeV3Uri(signedUrl(req, config.publicUrl))
      const expected = hmacSha256(config.clientSecret, [req.method.toUpperCase(), uri, req.rawBody, timestamp], 'base64')
      if (!digestEquals(signature, expected)) throw new SourceRejection(401, 'bad_signature', 'X-HubSpot-Signature-v3 does not match the request')
      checkFreshness(Number(timestamp), req.receivedAt, config.maxSkewMs)
    }

    const verifyLegacy = (req: IncomingWebhook, signature: string): void => {
      const declared = (header(req, 'x-hubspot-signature-version') ?? 'v1').toLowerCase()
      const version = SIGNATURE_VERSIONS.find(v => v === declared)
      if (version === undefined || version === 'v3' || !allowed.has(version)) {
        const shown = version ?? 'unknown'
        throw new SourceRejection(401, 'signature_version_not_allowed', `signature version ${shown} is not enabled for this source (allowed: ${[...allowed].join(', ')})`)
      }
      const expected = version === 'v1'
        ? sha256Hex([config.clientSecret, req.rawBody])
        : sha256Hex([config.clientSecret, req.method.toUpperCase(), signedUrl(req, config.publicUrl), req.rawBody])
      if (!digestEquals(signature.toLowerCase(), expected)) throw new SourceRejection(401, 'bad_signature', `X-HubSpot-Signature (${version}) does not match the request`)
    }

    const toEvent = (item: unknown, index: number): SourceEvent => {
      if (!isPlainObject(item)) throw new SourceRejection(400, 'malformed_body', `event ${index} is not a JSON object`)
      const eventId = idString(item.eventId)
      if (eventId === null) throw new SourceRejection(400, 'missing_event_id', `event ${index} has no eventId`)
      const type = idString(item.subscriptionType) ?? idString(item.eventType)
      const family = type === null ? null : type.split('.')[0] ?? null
      // Generic subscriptions (`object.propertyChange`) name the object type by id, e.g. `0-1`.
      const recordType = family === 'object' ? idString(item.objectTypeId) : (family === '' ? null : family)
      const property = typeof item.propertyName === 'string' && item.propertyName !== '' ? item.propertyName : null
      const event: NormalizedEvent = {
        event: { id: eventId, occurredAt: toIsoTime(item.occurredAt), type },
        record: {
          type: recordType,
          id: idString(item.objectId),
          fields: property === null ? {} : Object.fromEntries([[property, item.propertyValue ?? null]]),
          changed: property !== null ? [property] : changedWithoutProperty(type)
        },
        raw: item,
        source: { name, type: 'hubspot' }
      }
      return { dedupeKey: hubspotDedupeKey(item), event }
    }

    return {
      name,
      type: 'hubspot',
      contentTypes: ['application/json'],
      authenticate (req) {
        const v3 = header(req, 'x-hubspot-signature-v3')
        // Once v3 is present and allowed it decides: falling back to v1 would let a replay past the timestamp.
        if (v3 !== undefined && allowed.has('v3')) return verifyV3(req, v3)
        const legacy = header(req, 'x-hubspot-signature')
        if (legacy !== undefined && legacy !== '' && (allowed.has('v1') || allowed.has('v2'))) return verifyLegacy(req, legacy)
        throw new SourceRejection(401, 'missing_signature', allowed.has('v3')
          ? 'missing X-HubSpot-Signature-v3 header'
          : 'missing X-HubSpot-Signature header')
      },
      parse (req) {
        const body = parseJsonBody(req)
        if (!Array.isArray(body)) throw new SourceRejection(400, 'malformed_body', 'body is not a JSON array of events')
        if (body.length === 0) throw new SourceRejection(400, 'malformed_body', 'no events in the body')
        if (body.length > MAX_EVENTS) throw new SourceRejection(400, 'too_many_events', `${body.length} events in one request (at most ${MAX_EVENTS})`)
        return body.map(toEvent)
      },
      reply (summary) {
        return jsonReply(200, summary)
      },
      errorReply (rejection) {
        return jsonReply(rejection.statusCode, { error: rejection.code, message: rejection.message })
      }
    }
  }
})
