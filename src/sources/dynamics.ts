/**
 * Microsoft Dataverse / Dynamics 365 webhooks (a Plug-in Registration Tool "WebHook" service endpoint):
 * one serialized `RemoteExecutionContext` per request, authenticated only by a static key sent as a
 * header, as `?code=` or as a query parameter.
 *
 * @see https://learn.microsoft.com/power-apps/developer/data-platform/use-webhooks
 * @see https://learn.microsoft.com/power-apps/developer/data-platform/register-web-hook
 */
import { z } from 'zod'
import type { NormalizedEvent, SourceEvent } from './normalized-event.js'
import { SourceRejection, type IncomingWebhook, type SourceAdapter } from './source-adapter.js'
import { defineSourceType } from './source-type.js'
import { header, queryParam, safeEqual } from './webhook-auth.js'
import { idString, isPlainObject, jsonReply, parseJsonBody, toIsoTime } from './json-body.js'

const authSchema = z.discriminatedUnion('type', [
  /** Authentication type HttpHeader: one `name: value` pair registered on the endpoint. */
  z.strictObject({ type: z.literal('header'), name: z.string().min(1), value: z.string().min(1) }),
  /** Authentication type WebhookKey: Dataverse appends `?code=<value>`. */
  z.strictObject({ type: z.literal('code'), value: z.string().min(1) }),
  /** Authentication type HttpQueryString: one `name=value` pair of the registered query string. */
  z.strictObject({ type: z.literal('query'), name: z.string().min(1), value: z.string().min(1) })
])

export type DynamicsAuth = z.infer<typeof authSchema>

const SIZE_EXCEEDED_HEADER = 'x-ms-dynamics-msg-size-exceeded'

/** Deeper attribute values are kept as sent rather than converted (bounded recursion on untrusted input). */
const MAX_VALUE_DEPTH = 32

const NIL_GUID = /^0{8}-0{4}-0{4}-0{4}-0{12}$/

/** WCF JSON date: UTC milliseconds, optionally followed by the sender's offset (informational only). */
const WCF_DATE = /^\/Date\((-?\d{1,15})([+-]\d{4})?\)\/$/

export function wcfDateToIso (value: string): string | null {
  const match = WCF_DATE.exec(value)
  if (match === null) return null
  const date = new Date(Number(match[1]))
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}

function guid (value: unknown): string | null {
  const id = idString(value)
  return id === null || NIL_GUID.test(id) ? null : id
}

function typeName (value: Record<string, unknown>): string | null {
  return typeof value.__type === 'string' ? value.__type.split(':')[0] ?? null : null
}

/**
 * One attribute value in the form a mapping wants: dates → ISO-8601, EntityReference → its Id,
 * OptionSetValue / Money / other `{ Value }` wrappers → the Value, nested entities → flat attributes.
 * The unconverted objects stay in `raw`.
 */
export function attributeValue (value: unknown, depth = 0): unknown {
  if (depth > MAX_VALUE_DEPTH) return value
  if (typeof value === 'string') return wcfDateToIso(value) ?? value
  if (Array.isArray(value)) return value.map(item => attributeValue(item, depth + 1))
  if (!isPlainObject(value)) return value
  const type = typeName(value)
  if (type === 'EntityReference') return idString(value.Id)
  if (type === 'EntityCollection' && Array.isArray(value.Entities)) {
    return value.Entities.map(entity => isPlainObject(entity) ? flattenAttributes(entity.Attributes, depth + 1) : entity)
  }
  if (Array.isArray(value.Attributes)) return flattenAttributes(value.Attributes, depth + 1)
  if (type !== null && Object.hasOwn(value, 'Value')) return attributeValue(value.Value, depth + 1)
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, attributeValue(item, depth + 1)]))
}

/** `[{ key, value }]` (the DataContract form of a collection) → a plain object, values converted. */
export function flattenAttributes (attributes: unknown, depth = 0): Record<string, unknown> {
  if (!Array.isArray(attributes)) return {}
  const entries: Array<[string, unknown]> = []
  for (const pair of attributes) {
    if (isPlainObject(pair) && typeof pair.key === 'string') entries.push([pair.key, attributeValue(pair.value, depth + 1)])
  }
  return Object.fromEntries(entries)
}

function parameter (collection: unknown, key: string): unknown {
  if (!Array.isArray(collection)) return undefined
  const pair = collection.find(item => isPlainObject(item) && item.key === key)
  return isPlainObject(pair) ? pair.value : undefined
}

function entityImages (collection: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(collection)) return []
  return collection
    .map(item => isPlainObject(item) ? item.value : undefined)
    .filter((image): image is Record<string, unknown> => isPlainObject(image) && Array.isArray(image.Attributes))
}

/**
 * Event id and idempotency key. OperationId is stable across Dataverse's one retry and across
 * retries of the async system job; OwningExtension.Id (the step) separates two steps fired by one
 * operation. Sync steps may lack an OperationId: RequestId next, then CorrelationId, which a whole
 * chain of operations shares, so it is narrowed with the message, record and depth.
 */
export function dynamicsIdentity (context: Record<string, unknown>): { id: string, dedupeKey: string } | null {
  const organization = guid(context.OrganizationId) ?? ''
  const step = guid(isPlainObject(context.OwningExtension) ? context.OwningExtension.Id : undefined) ?? ''
  const operationId = guid(context.OperationId)
  if (operationId !== null) return { id: operationId, dedupeKey: `${organization}:${operationId}:${step}` }
  const requestId = guid(context.RequestId)
  if (requestId !== null) return { id: requestId, dedupeKey: `${organization}:request:${requestId}:${step}` }
  const correlationId = guid(context.CorrelationId)
  if (correlationId === null) return null
  const narrowing = [context.MessageName, context.PrimaryEntityName, context.PrimaryEntityId, context.Depth].map(v => idString(v) ?? '')
  return { id: correlationId, dedupeKey: [organization, 'correlation', correlationId, step, ...narrowing].join(':') }
}

export const dynamicsSource = defineSourceType({
  type: 'dynamics',
  settings: {
    auth: authSchema
  },
  create (name, config): SourceAdapter {
    const { auth } = config

    const presented = (req: IncomingWebhook): { value: string | undefined, label: string } => {
      switch (auth.type) {
        case 'header': return { value: header(req, auth.name), label: `${auth.name} header` }
        case 'code': return { value: queryParam(req, 'code'), label: 'code query parameter' }
        case 'query': return { value: queryParam(req, auth.name), label: `${auth.name} query parameter` }
      }
    }

    const toEvent = (context: Record<string, unknown>): SourceEvent => {
      const identity = dynamicsIdentity(context)
      if (identity === null) throw new SourceRejection(400, 'missing_event_id', 'no OperationId, RequestId or CorrelationId in the execution context')
      const target = parameter(context.InputParameters, 'Target')
      const targetAttributes = isPlainObject(target) && Array.isArray(target.Attributes) ? flattenAttributes(target.Attributes) : null
      // Delete carries an EntityReference as Target: no attribute changed. No Target at all (other
      // messages, or a trimmed payload) says nothing: null.
      const changed = targetAttributes !== null ? Object.keys(targetAttributes) : isPlainObject(target) ? [] : null
      const images = entityImages(context.PostEntityImages).map(image => flattenAttributes(image.Attributes))
      const operationCreatedOn = typeof context.OperationCreatedOn === 'string'
        ? wcfDateToIso(context.OperationCreatedOn) ?? toIsoTime(context.OperationCreatedOn)
        : null
      const event: NormalizedEvent = {
        event: { id: identity.id, occurredAt: operationCreatedOn, type: idString(context.MessageName) },
        record: {
          type: idString(context.PrimaryEntityName),
          id: guid(context.PrimaryEntityId),
          // Post-images describe the record after the operation, so they win over Target.
          fields: Object.fromEntries([targetAttributes ?? {}, ...images].flatMap(attributes => Object.entries(attributes))),
          changed
        },
        raw: context,
        source: { name, type: 'dynamics' }
      }
      return { dedupeKey: identity.dedupeKey, event }
    }

    return {
      name,
      type: 'dynamics',
      contentTypes: ['application/json'],
      authenticate (req) {
        const { value, label } = presented(req)
        if (value === undefined || value === '') throw new SourceRejection(401, 'missing_credentials', `missing ${label}`)
        if (!safeEqual(value, auth.value)) throw new SourceRejection(401, 'bad_credentials', `${label} does not carry the configured key`)
      },
      parse (req) {
        const body = parseJsonBody(req)
        if (!isPlainObject(body)) throw new SourceRejection(400, 'malformed_body', 'body is not a RemoteExecutionContext object')
        return [toEvent(body)]
      },
      notes (req) {
        if (header(req, SIZE_EXCEEDED_HEADER) === undefined) return undefined
        return {
          msgSizeExceeded: true,
          note: 'payload over 256 KB: Dataverse removed InputParameters, images and ParentContext; record.fields holds only what is left'
        }
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
