/**
 * Genesys `ErrorBody` responses. Codes and messages for the standard errors are the ones Genesys returns
 * (fact sheet §7 and the SDK's documented response descriptions); codes the sandbox had to invent are
 * listed in docs/sandbox.md.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyReply } from 'fastify'

export interface ErrorBody {
  message: string
  code: string
  status: number
  contextId: string
  details: unknown[]
  errors: unknown[]
}

const STANDARD: Record<number, { code: string, message: string }> = {
  400: { code: 'bad.request', message: 'The request could not be understood by the server due to malformed syntax.' },
  401: { code: 'authentication.required', message: 'No authentication bearer token specified in authorization header.' },
  403: { code: 'not.authorized', message: 'You are not authorized to perform the requested action.' },
  404: { code: 'not.found', message: 'The requested resource was not found.' },
  408: { code: 'request.timeout', message: 'The client did not produce a request within the server timeout limit.' },
  413: { code: 'request.entity.too.large', message: 'The request is over the size limit.' },
  415: { code: 'unsupported.media.type', message: 'Unsupported Media Type - Unsupported or incorrect media type, such as an incorrect Content-Type value in the header.' },
  500: { code: 'internal.server.error', message: 'The server encountered an unexpected condition which prevented it from fulfilling the request.' },
  503: { code: 'service.unavailable', message: 'Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance).' },
  504: { code: 'request.timeout', message: 'The request timed out.' }
}

export const BAD_CREDENTIALS = { code: 'bad.credentials', message: 'Invalid login credentials.' }

export function errorBody (status: number, contextId: string, code?: string, message?: string): ErrorBody {
  const standard = STANDARD[status]
  return {
    message: message ?? standard?.message ?? STATUS_CODES[status] ?? 'Error',
    code: code ?? standard?.code ?? (STATUS_CODES[status] ?? 'error').toLowerCase().replaceAll(' ', '.'),
    status,
    contextId,
    details: [],
    errors: []
  }
}

/** The normalised 429 of fact sheet §6, byte for byte apart from the ids. */
export function rateLimitBody (retryAfterSeconds: number, contextId: string): ErrorBody {
  return errorBody(429, contextId, 'too.many.requests.retry.after',
    `Rate limit exceeded the maximum. Retry the request in [${retryAfterSeconds}] seconds`)
}

/**
 * Sends JSON with the bare `application/json` Genesys uses. A Buffer payload because Fastify appends
 * `; charset=utf-8` to JSON content types of string payloads.
 */
export function sendJson (reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)))
}

export function sendError (reply: FastifyReply, status: number, code?: string, message?: string): FastifyReply {
  return sendJson(reply, status, errorBody(status, reply.request.id, code, message))
}
