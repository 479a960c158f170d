import { SourceRejection, type IncomingWebhook } from './source-adapter.js'

/** Parses a JSON body; anything unparseable is a 400 `malformed_body`. */
export function parseJsonBody (req: IncomingWebhook): unknown {
  return readJsonBody(req).body
}

/** parseJsonBody, with the text it was parsed from (stored verbatim where the event is the whole body). */
export function readJsonBody (req: IncomingWebhook): { body: unknown, text: string } {
  if (req.rawBody.length === 0) throw new SourceRejection(400, 'malformed_body', 'empty body')
  const text = req.rawBody.toString('utf8')
  try {
    return { body: JSON.parse(text), text }
  } catch (err) {
    throw new SourceRejection(400, 'malformed_body', `body is not valid JSON: ${(err as Error).message}`)
  }
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Scalars become strings (ids arrive as numbers from some CRMs); anything else is absent. */
export function idString (value: unknown): string | null {
  if (typeof value === 'string' && value !== '') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'bigint') return value.toString()
  return null
}

/** Epoch milliseconds, epoch seconds (10 digits) or a date string → ISO-8601; null when unreadable. */
export function toIsoTime (value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null
  let ms: number
  if (typeof value === 'number') ms = value < 1e11 ? value * 1000 : value
  else if (typeof value === 'string' && /^\d+$/.test(value)) ms = Number(value) < 1e11 ? Number(value) * 1000 : Number(value)
  else if (typeof value === 'string') ms = Date.parse(value)
  else return null
  if (!Number.isFinite(ms)) return null
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}

export function jsonReply (statusCode: number, body: unknown): { statusCode: number, contentType: string, body: string } {
  return { statusCode, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) }
}
