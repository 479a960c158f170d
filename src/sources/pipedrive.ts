/**
 * Pipedrive webhooks v2: one `{ meta, data, previous }` per request. Pipedrive signs nothing; its
 * only credential is optional HTTP Basic auth set on the webhook (`http_auth_user` / `http_auth_password`).
 * This source makes the choice explicit: `auth` is required, and an open endpoint has to be
 * written as `auth: { type: none }`.
 *
 * @see https://pipedrive.readme.io/docs/guide-for-webhooks-v2
 * @see https://pipedrive.readme.io/docs/webhooks-v2-migration-guide
 */
import { z } from 'zod'
import type { NormalizedEvent, SourceEvent } from './normalized-event.js'
import { SourceRejection, type SourceAdapter } from './source-adapter.js'
import { defineSourceType } from './source-type.js'
import { checkBasicAuth, queryParam, safeEqual } from './webhook-auth.js'
import { idString, isPlainObject, jsonReply, parseJsonBody, toIsoTime } from './json-body.js'

const authSchema = z.discriminatedUnion('type', [
  /** The webhook's HTTP auth user and password. */
  z.strictObject({ type: z.literal('basic'), username: z.string().min(1), password: z.string().min(1) }),
  /** A secret query parameter in the subscription URL, e.g. `…/webhooks/pipedrive?token=…`. */
  z.strictObject({ type: z.literal('query'), name: z.string().min(1), value: z.string().min(1) }),
  z.strictObject({ type: z.literal('none') })
])

export type PipedriveAuth = z.infer<typeof authSchema>

/**
 * Names of the changed fields: the keys of `previous`, with `custom_fields` expanded to
 * `custom_fields.<hash>` so each name is also the path of the field under `record.fields`.
 */
export function pipedriveChangedFields (previous: Record<string, unknown>): string[] {
  return Object.keys(previous).flatMap(key => {
    const custom = previous[key]
    if (key !== 'custom_fields' || !isPlainObject(custom)) return [key]
    return Object.keys(custom).map(hash => `custom_fields.${hash}`)
  })
}

function isV1Payload (body: Record<string, unknown>): boolean {
  return Object.hasOwn(body, 'current') || body.v === 1 || (isPlainObject(body.meta) && body.meta.v === 1)
}

export const pipedriveSource = defineSourceType({
  type: 'pipedrive',
  settings: {
    auth: authSchema
  },
  create (name, config): SourceAdapter {
    const { auth } = config

    const toEvent = (body: Record<string, unknown>): SourceEvent => {
      const meta = body.meta
      if (!isPlainObject(meta)) throw new SourceRejection(400, 'malformed_body', 'no meta object (a Pipedrive webhooks v2 body was expected)')
      const id = idString(meta.id)
      if (id === null) throw new SourceRejection(400, 'missing_event_id', 'meta.id is missing')
      const action = idString(meta.action)
      const entity = idString(meta.entity)
      const data = isPlainObject(body.data) ? body.data : null
      const previous = isPlainObject(body.previous) ? body.previous : null
      const deleted = action === 'delete'
      const event: NormalizedEvent = {
        event: {
          id,
          occurredAt: toIsoTime(meta.timestamp),
          type: action === null ? null : entity === null ? action : `${action}.${entity}`
        },
        record: {
          type: entity,
          id: idString(data?.id) ?? idString(meta.entity_id) ?? idString(previous?.id),
          // On delete `data` is null and `previous` is the last state of the record.
          fields: data ?? (deleted ? previous : null) ?? {},
          // A delete changes no field ([]); a create has no `previous` and is a snapshot (null).
          changed: deleted ? [] : previous === null ? null : pipedriveChangedFields(previous)
        },
        raw: body,
        source: { name, type: 'pipedrive' }
      }
      return { dedupeKey: id, event }
    }

    return {
      name,
      type: 'pipedrive',
      contentTypes: ['application/json'],
      authenticate (req) {
        switch (auth.type) {
          case 'none':
            return
          case 'basic':
            checkBasicAuth(req, auth.username, auth.password)
            return
          case 'query': {
            const value = queryParam(req, auth.name)
            if (value === undefined || value === '') throw new SourceRejection(401, 'missing_credentials', `missing ${auth.name} query parameter`)
            if (!safeEqual(value, auth.value)) throw new SourceRejection(401, 'bad_credentials', `${auth.name} query parameter does not carry the configured token`)
          }
        }
      },
      parse (req) {
        const body = parseJsonBody(req)
        if (!isPlainObject(body)) throw new SourceRejection(400, 'malformed_body', 'body is not a JSON object')
        if (isV1Payload(body)) throw new SourceRejection(400, 'unsupported_version', 'Pipedrive webhooks v1 payload; create the webhook with version "2.0"')
        return [toEvent(body)]
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
