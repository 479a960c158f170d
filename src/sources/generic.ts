import { z } from 'zod'
import { getPath, parsePath, type PathSegment } from '../mapping/path.js'
import type { NormalizedEvent, SourceEvent } from './normalized-event.js'
import { SourceRejection, type IncomingWebhook, type IngestSummary, type SourceAdapter } from './source-adapter.js'
import { defineSourceType } from './source-type.js'
import { checkBasicAuth, digestEquals, header, hmacSha256, requireHeader, safeEqual } from './webhook-auth.js'
import { idString, isPlainObject, jsonReply, readJsonBody, toIsoTime } from './json-body.js'

const authSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({
    type: z.literal('hmac'),
    header: z.string().min(1).default('X-Signature'),
    secret: z.string().min(1),
    encoding: z.enum(['hex', 'base64']).default('hex'),
    prefix: z.string().default('')
  }),
  z.strictObject({
    type: z.literal('token'),
    header: z.string().min(1).default('Authorization'),
    /** Expected header value; with `scheme: Bearer` the header must read `Bearer <token>`. */
    token: z.string().min(1),
    scheme: z.string().optional()
  }),
  z.strictObject({ type: z.literal('basic'), username: z.string().min(1), password: z.string().min(1) })
])

export type GenericAuth = z.infer<typeof authSchema>

/**
 * Any CRM or tool that posts JSON: the admin names where the id, time and fields are.
 * A body that is a JSON array (or has an array at `batch`) carries several events.
 */
export const genericSource = defineSourceType({
  type: 'generic',
  settings: {
    auth: authSchema.default({ type: 'none' }),
    batch: z.string().optional(),
    eventId: z.string().default('id'),
    occurredAt: z.string().optional(),
    eventType: z.string().optional(),
    recordId: z.string().optional(),
    recordType: z.string().optional(),
    fields: z.string().optional(),
    changed: z.string().optional()
  },
  create (name, config): SourceAdapter {
    const path = (setting: string | undefined): PathSegment[] | undefined => setting === undefined ? undefined : parsePath(setting)
    const paths = {
      eventId: parsePath(config.eventId),
      occurredAt: path(config.occurredAt),
      eventType: path(config.eventType),
      recordId: path(config.recordId),
      recordType: path(config.recordType),
      fields: path(config.fields),
      changed: path(config.changed),
      batch: path(config.batch)
    }
    const authenticate = (req: IncomingWebhook): void => {
      const auth = config.auth
      switch (auth.type) {
        case 'none':
          return
        case 'hmac': {
          let signature = requireHeader(req, auth.header)
          if (auth.prefix !== '') {
            if (!signature.startsWith(auth.prefix)) throw new SourceRejection(401, 'bad_signature', `${auth.header} does not start with the configured prefix`)
            signature = signature.slice(auth.prefix.length)
          }
          const expected = hmacSha256(auth.secret, [req.rawBody], auth.encoding)
          const matches = digestEquals(auth.encoding === 'hex' ? signature.toLowerCase() : signature, expected)
          if (!matches) throw new SourceRejection(401, 'bad_signature', `${auth.header} does not match the body`)
          return
        }
        case 'token': {
          const value = header(req, auth.header)
          if (value === undefined) throw new SourceRejection(401, 'missing_credentials', `missing ${auth.header} header`)
          const expected = auth.scheme === undefined ? auth.token : `${auth.scheme} ${auth.token}`
          if (!safeEqual(value, expected)) throw new SourceRejection(401, 'bad_credentials', `${auth.header} does not carry the configured token`)
          return
        }
        case 'basic':
          checkBasicAuth(req, auth.username, auth.password)
      }
    }

    const toEvent = (item: unknown, index: number): SourceEvent => {
      if (!isPlainObject(item)) throw new SourceRejection(400, 'malformed_body', `event ${index} is not a JSON object`)
      const at = (segments: PathSegment[] | undefined): unknown => segments === undefined ? undefined : getPath(item, segments)
      const id = idString(getPath(item, paths.eventId))
      if (id === null) throw new SourceRejection(400, 'missing_event_id', `event ${index} has no id at "${config.eventId}"`)
      const fieldsValue = paths.fields === undefined ? item : getPath(item, paths.fields)
      const changedValue = at(paths.changed)
      const event: NormalizedEvent = {
        event: {
          id,
          occurredAt: toIsoTime(at(paths.occurredAt)),
          type: idString(at(paths.eventType))
        },
        record: {
          type: idString(at(paths.recordType)),
          id: idString(at(paths.recordId)),
          fields: isPlainObject(fieldsValue) ? fieldsValue : {},
          changed: Array.isArray(changedValue) ? changedValue.filter((c): c is string => typeof c === 'string') : null
        },
        raw: item,
        source: { name, type: 'generic' }
      }
      return { dedupeKey: id, event }
    }

    return {
      name,
      type: 'generic',
      contentTypes: ['application/json'],
      authenticate,
      parse (req) {
        const { body, text } = readJsonBody(req)
        let items: unknown = body
        if (paths.batch !== undefined) {
          items = getPath(body, paths.batch)
          if (!Array.isArray(items)) throw new SourceRejection(400, 'malformed_body', `no array at "${config.batch}"`)
        }
        if (!Array.isArray(items)) return [{ ...toEvent(items, 0), rawJson: text }]
        if (items.length === 0) throw new SourceRejection(400, 'malformed_body', 'no events in the body')
        return items.map(toEvent)
      },
      reply (summary: IngestSummary) {
        return jsonReply(202, summary)
      },
      errorReply (rejection) {
        return jsonReply(rejection.statusCode, { error: rejection.code, message: rejection.message })
      }
    }
  }
})
