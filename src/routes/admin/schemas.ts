/**
 * JSON Schemas of the admin routes: they validate requests and feed /admin/openapi.json. Response
 * objects allow additional properties, so the schema documents the shape without dropping fields.
 */
import { statusValues } from './views.js'

const anyObject = { type: 'object', additionalProperties: true } as const
const nullableString = { type: ['string', 'null'] } as const
const nullableInteger = { type: ['integer', 'null'] } as const

export const errorSchema = {
  type: 'object',
  additionalProperties: true,
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message']
} as const

export const errorResponses = {
  400: { description: 'Invalid request', ...errorSchema },
  401: { description: 'Missing or wrong bearer token', ...errorSchema }
} as const

export const filterProperties = {
  status: { type: 'string', enum: statusValues, description: 'Delivery state; `dead` is an alias of `failed`' },
  route: { type: 'string', minLength: 1 },
  source: { type: 'string', minLength: 1 },
  since: { type: 'string', minLength: 1, description: 'Created at or after: an ISO-8601 time, or a duration back from now such as `24h`' }
} as const

export const deliverySummarySchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    eventId: { type: 'string' },
    route: { type: 'string' },
    source: { type: 'string' },
    recordKey: { type: 'string' },
    state: { type: 'string' },
    attempts: { type: 'integer' },
    maxAttempts: { type: 'integer' },
    runAt: { type: 'string', format: 'date-time' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    finishedAt: nullableString,
    lastStatus: nullableInteger,
    lastError: nullableString,
    hint: nullableString,
    executionId: nullableString,
    supersededBy: nullableString,
    outcome: { ...nullableString, description: 'Final execution status when the route tracks outcomes (COMPLETED, FAILED, ERROR, TERMINATED, TIMED_OUT)' }
  }
} as const

export const attemptSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    number: { type: 'integer' },
    startedAt: { type: 'string', format: 'date-time' },
    durationMs: { type: 'number' },
    outcome: { type: 'string', enum: ['succeeded', 'retry', 'failed', 'dry_run'] },
    status: { ...nullableInteger, description: 'HTTP status from Genesys; null for a network error, a dry run or a mapping failure' },
    error: nullableString,
    hint: nullableString,
    correlationId: { ...nullableString, description: 'ININ-Correlation-Id of the Genesys answer' },
    request: { description: 'The request as sent (redacted inputs masked)' },
    response: { ...nullableString, description: 'Bounded summary of the response body' }
  }
} as const

export const deliveryDetailSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...deliverySummarySchema.properties,
    dedupeKey: { type: 'string' },
    receivedAt: { type: 'string', format: 'date-time' },
    event: { ...anyObject, description: 'The normalized event the delivery carries' },
    request: { description: 'The last launch request built (redacted inputs masked)' },
    mappedRequest: { description: 'The request the current mappings build for this event now (what a replay sends), or why none' },
    attemptLog: { type: 'array', items: attemptSchema },
    outcomeDetail: { description: 'Execution status, completionReason and flowErrorInfo when tracked' }
  }
} as const

export const replayResultSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    replayed: { type: 'integer' },
    ids: { type: 'array', items: { type: 'string' }, description: 'Requeued ids (at most 1000 listed)' }
  }
} as const

export const problemSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    path: { type: 'string' },
    line: nullableInteger,
    column: nullableInteger,
    message: { type: 'string' }
  }
} as const

export const flowProblemSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    route: { type: 'string' },
    flowId: { type: 'string' },
    flowVersion: nullableString,
    input: nullableString,
    code: { type: 'string' },
    severity: { type: 'string', enum: ['error', 'warning'] },
    message: { type: 'string' },
    declared: nullableString,
    suggestion: nullableString,
    path: { type: 'string', description: 'Where in the mappings file, e.g. routes[0].inputs.emial' },
    line: nullableInteger
  }
} as const

export { anyObject }
