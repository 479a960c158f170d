/** Builders for source-adapter tests: requests as ingress would hand them over, fixtures, adapters. */
import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { SourceRejection, type IncomingWebhook, type SourceAdapter } from '../../src/sources/source-adapter.js'
import { sourceEntrySchema, type SourceType } from '../../src/sources/source-type.js'

export function fixture (path: string): Buffer {
  return readFileSync(new URL(`../fixtures/${path}`, import.meta.url))
}

export function fixtureJson (path: string): unknown {
  return JSON.parse(fixture(path).toString('utf8'))
}

export type WebhookInit = Partial<Omit<IncomingWebhook, 'rawBody'>> & { body?: string | Buffer }

export function webhook (init: WebhookInit = {}): IncomingWebhook {
  const { body = '', ...rest } = init
  return {
    method: 'POST',
    url: '/webhooks/test',
    publicUrl: 'https://bridge.example.com/webhooks/test',
    headers: {},
    query: {},
    receivedAt: new Date('2024-05-02T09:30:20Z'),
    remoteAddress: '203.0.113.10',
    ...rest,
    rawBody: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')
  }
}

/** Validates `entry` with the type's real schema (defaults applied), then binds the adapter. */
export function adapterFor (sourceType: { type: string }, name: string, entry: Record<string, unknown>): SourceAdapter {
  const type = sourceType as unknown as SourceType
  const config = sourceEntrySchema(type).parse({ type: type.type, ...entry })
  return type.create(name, config as Parameters<SourceType['create']>[1])
}

/** The SourceRejection `fn` throws; fails loudly when it returns or throws anything else. */
export function rejectionOf (fn: () => unknown): SourceRejection {
  try {
    fn()
  } catch (err) {
    if (err instanceof SourceRejection) return err
    throw err
  }
  throw new Error('expected a SourceRejection, nothing was thrown')
}

/** authenticate then parse, as ingress calls them. */
export function ingest (adapter: SourceAdapter, req: IncomingWebhook): ReturnType<SourceAdapter['parse']> {
  adapter.authenticate(req)
  return adapter.parse(req)
}

export function hmacBase64 (secret: string, ...parts: Array<string | Buffer>): string {
  const hmac = createHmac('sha256', secret)
  for (const part of parts) hmac.update(part)
  return hmac.digest('base64')
}

export function sha256Hex (...parts: Array<string | Buffer>): string {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return hash.digest('hex')
}

export const emptySummary = { events: 0, accepted: [], duplicates: [], unmatched: [] }
