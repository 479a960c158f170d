/**
 * Zendesk webhooks, both kinds: subscribed to Zendesk events (a fixed `zen:event-type:…` envelope),
 * or connected to a trigger/automation (a JSON body the admin wrote with placeholders, read through
 * the configured paths like the generic source). Every request is signed:
 * base64(HMAC-SHA256(signing secret, timestamp + body)).
 *
 * @see https://developer.zendesk.com/documentation/webhooks/verifying/
 * @see https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/
 */
import { z } from 'zod'
import { getPath } from '../mapping/path.js'
import type { NormalizedEvent, SourceEvent } from './normalized-event.js'
import { SourceRejection, type IncomingWebhook, type SourceAdapter } from './source-adapter.js'
import { defineSourceType } from './source-type.js'
import { checkFreshness, digestEquals, header, hmacSha256, requireHeader } from './webhook-auth.js'
import { idString, isPlainObject, jsonReply, parseJsonBody, toIsoTime } from './json-body.js'

const EVENT_TYPE_PREFIX = 'zen:event-type:'
const INVOCATION_HEADER = 'x-zendesk-webhook-invocation-id'

/** `<name>_changed` events whose field is not `<name>` or `<name>_id` in `detail`. */
const CHANGED_FIELD_ALIASES: Record<string, string> = {
  agent_assignment: 'assignee_id',
  group_assignment: 'group_id'
}

/**
 * Which `detail` field a `…_changed` event is about: `status_changed` → `status`,
 * `brand_changed` → `brand_id` (when detail has `brand_id` and no `brand`), `agent_assignment_changed`
 * → `assignee_id`, `custom_field_changed` → `custom_fields.<event.custom_field.id>`. `created` is a
 * snapshot: null. Any other event (comment_added, soft_deleted, merged, …) changes no detail field: [].
 */
export function zendeskChangedFields (action: string, detail: Record<string, unknown>, change: unknown): string[] | null {
  if (action === 'created') return null
  const subject = action.endsWith('_changed') ? action.slice(0, -'_changed'.length) : ''
  if (subject === '') return []
  if (subject === 'custom_field') {
    const field = isPlainObject(change) && isPlainObject(change.custom_field) ? idString(change.custom_field.id) : null
    return [field === null ? 'custom_fields' : `custom_fields.${field}`]
  }
  const alias = CHANGED_FIELD_ALIASES[subject]
  if (alias !== undefined) return [alias]
  if (!Object.hasOwn(detail, subject) && Object.hasOwn(detail, `${subject}_id`)) return [`${subject}_id`]
  return [subject]
}

function isEventEnvelope (body: Record<string, unknown>): boolean {
  return typeof body.type === 'string' && body.type.startsWith(EVENT_TYPE_PREFIX)
}

/** `zen:ticket:123` → `123`. */
function subjectId (subject: unknown): string | null {
  if (typeof subject !== 'string') return null
  const id = subject.slice(subject.lastIndexOf(':') + 1)
  return id === '' ? null : id
}

export const zendeskSource = defineSourceType({
  type: 'zendesk',
  settings: {
    /** The webhook's signing secret, used verbatim as the HMAC key (not base64-decoded). */
    signingSecret: z.string().min(1),
    /** Zendesk documents no window; the timestamp is signed, so this bounds replays. */
    maxSkewMs: z.number().int().positive().default(300_000),
    /** Paths into a trigger/automation body (ignored for event-subscription envelopes). */
    eventId: z.string().optional(),
    eventType: z.string().optional(),
    occurredAt: z.string().optional(),
    recordId: z.string().optional(),
    recordType: z.string().optional(),
    fields: z.string().optional(),
    changed: z.string().optional()
  },
  create (name, config): SourceAdapter {
    const fromEnvelope = (body: Record<string, unknown>, req: IncomingWebhook): SourceEvent => {
      const id = idString(body.id) ?? idString(header(req, INVOCATION_HEADER))
      if (id === null) throw new SourceRejection(400, 'missing_event_id', 'event has no id')
      const type = body.type as string
      const qualified = type.slice(EVENT_TYPE_PREFIX.length)
      const dot = qualified.indexOf('.')
      const detail = isPlainObject(body.detail) ? body.detail : {}
      const event: NormalizedEvent = {
        event: { id, occurredAt: toIsoTime(body.time), type },
        record: {
          type: dot > 0 ? qualified.slice(0, dot) : null,
          id: idString(detail.id) ?? subjectId(body.subject),
          fields: detail,
          changed: dot > 0 ? zendeskChangedFields(qualified.slice(dot + 1), detail, body.event) : null
        },
        raw: body,
        source: { name, type: 'zendesk' }
      }
      return { dedupeKey: id, event }
    }

    const at = (body: Record<string, unknown>, path: string | undefined): unknown =>
      path === undefined ? undefined : getPath(body, path)

    const fromTrigger = (body: Record<string, unknown>, req: IncomingWebhook): SourceEvent => {
      const id = idString(at(body, config.eventId)) ?? idString(header(req, INVOCATION_HEADER))
      if (id === null) throw new SourceRejection(400, 'missing_event_id', `no event id${config.eventId === undefined ? '' : ` at "${config.eventId}"`} and no ${INVOCATION_HEADER} header`)
      const fields = config.fields === undefined ? body : at(body, config.fields)
      const changed = at(body, config.changed)
      const event: NormalizedEvent = {
        event: { id, occurredAt: toIsoTime(at(body, config.occurredAt)), type: idString(at(body, config.eventType)) },
        record: {
          // Triggers and automations only ever act on tickets.
          type: config.recordType === undefined ? 'ticket' : idString(at(body, config.recordType)),
          id: idString(at(body, config.recordId)),
          fields: isPlainObject(fields) ? fields : {},
          changed: Array.isArray(changed) ? changed.filter((c): c is string => typeof c === 'string') : null
        },
        raw: body,
        source: { name, type: 'zendesk' }
      }
      return { dedupeKey: id, event }
    }

    return {
      name,
      type: 'zendesk',
      contentTypes: ['application/json'],
      authenticate (req) {
        const signature = requireHeader(req, 'x-zendesk-webhook-signature')
        const timestamp = requireHeader(req, 'x-zendesk-webhook-signature-timestamp')
        const expected = hmacSha256(config.signingSecret, [timestamp, req.rawBody], 'base64')
        if (!digestEquals(signature, expected)) throw new SourceRejection(401, 'bad_signature', 'X-Zendesk-Webhook-Signature does not match the body')
        checkFreshness(Date.parse(timestamp), req.receivedAt, config.maxSkewMs)
      },
      parse (req) {
        // Trigger webhooks may use GET/DELETE with no body; the invocation id still identifies them.
        const body = req.rawBody.length === 0 ? {} : parseJsonBody(req)
        if (!isPlainObject(body)) throw new SourceRejection(400, 'malformed_body', 'body is not a JSON object')
        return [isEventEnvelope(body) ? fromEnvelope(body, req) : fromTrigger(body, req)]
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
