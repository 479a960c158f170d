import type { FastifyRequest } from 'fastify'

/** The request's media type without parameters, lower-cased: `application/json; charset=utf-8` → `application/json`. */
export function mediaType (request: FastifyRequest): string {
  const header = request.headers['content-type'] ?? ''
  return (header.split(';')[0] ?? '').trim().toLowerCase()
}
