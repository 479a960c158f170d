import { createHmac, timingSafeEqual, createHash } from 'node:crypto'
import { SourceRejection, type IncomingWebhook } from './source-adapter.js'

/** Compares two strings in time that depends only on their lengths (hashes first, so lengths match). */
export function safeEqual (a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest()
  const db = createHash('sha256').update(b).digest()
  return timingSafeEqual(da, db) && a.length === b.length
}

/**
 * Compares a received signature with the digest we computed. A digest's length is fixed by its
 * algorithm and encoding, so checking it first leaks nothing, and skips safeEqual's two hashes.
 */
export function digestEquals (received: string, expected: string): boolean {
  const a = Buffer.from(received)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

export function header (req: IncomingWebhook, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}

export function queryParam (req: IncomingWebhook, name: string): string | undefined {
  const value = req.query[name]
  return Array.isArray(value) ? value[0] : value
}

export function hmacSha256 (secret: string | Buffer, parts: Array<string | Buffer>, encoding: 'hex' | 'base64'): string {
  const hmac = createHmac('sha256', secret)
  for (const part of parts) hmac.update(part)
  return hmac.digest(encoding)
}

export function requireHeader (req: IncomingWebhook, name: string): string {
  const value = header(req, name)
  if (value === undefined || value === '') {
    throw new SourceRejection(401, 'missing_signature', `missing ${name} header`)
  }
  return value
}

/** HTTP Basic credentials check; a missing or wrong Authorization header is a 401. */
export function checkBasicAuth (req: IncomingWebhook, username: string, password: string): void {
  const value = header(req, 'authorization')
  if (value === undefined || !/^basic /i.test(value)) {
    throw new SourceRejection(401, 'missing_credentials', 'missing Basic Authorization header')
  }
  const decoded = Buffer.from(value.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon === -1 ? decoded : decoded.slice(0, colon)
  const pass = colon === -1 ? '' : decoded.slice(colon + 1)
  // Evaluate both comparisons so timing does not tell which part was wrong.
  const userOk = safeEqual(user, username)
  const passOk = safeEqual(pass, password)
  if (!userOk || !passOk) throw new SourceRejection(401, 'bad_credentials', 'wrong Basic credentials')
}

/** Rejects a signed timestamp outside `toleranceMs` of now, either way. */
export function checkFreshness (timestampMs: number, now: Date, toleranceMs: number): void {
  if (!Number.isFinite(timestampMs)) {
    throw new SourceRejection(401, 'bad_timestamp', 'signature timestamp is not a valid time')
  }
  const skew = Math.abs(now.getTime() - timestampMs)
  if (skew > toleranceMs) {
    throw new SourceRejection(401, 'stale_timestamp', `signature timestamp is ${Math.round(skew / 1000)} s away from now (window ${toleranceMs / 1000} s)`)
  }
}
