import type { Test as TapTest } from 'tap'
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from '../src/app.js'
import { createLogger } from '../src/logging/logger.js'

type Test = Pick<TapTest, 'teardown'>

/** A temporary folder removed when the test ends. */
export function tempDir (t: Test, prefix = 'cfb-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function writeFile (dir: string, name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

export interface LogLine {
  level: string
  event?: string
  msg: string
  [key: string]: unknown
}

/** Captures every JSON log line the service writes, raw text included (for secret scans). */
export class LogSink extends Writable {
  readonly raw: string[] = []
  readonly lines: LogLine[] = []
  override _write (chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const text of chunk.toString('utf8').split('\n')) {
      if (text.trim() === '') continue
      this.raw.push(text)
      this.lines.push(JSON.parse(text) as LogLine)
    }
    callback()
  }

  events (name: string): LogLine[] {
    return this.lines.filter(line => line.event === name)
  }

  text (): string {
    return this.raw.join('\n')
  }
}

export const flowId = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890'
export const webhookSecret = 'test-webhook-secret-0123456789'

/** The `sources:` block of the test mappings: a generic source `crm` with HMAC auth. */
export const crmSourceYaml = `
sources:
  crm:
    type: generic
    auth: { type: hmac, header: X-Signature, secret: "\${CRM_WEBHOOK_SECRET}", encoding: hex, prefix: "sha256=" }
    eventId: id
    occurredAt: occurredAt
    recordId: record.id
    recordType: record.type
    fields: record
`

/** The `crm` source and one route to `flowId`; `routeOptions` is appended to the route. */
export function basicMappings (options: { routeOptions?: string, inputs?: string, flowVersion?: string } = {}): string {
  return `${crmSourceYaml}routes:
  - name: contact-sync
    source: crm
    when: { recordType: Contact }
    flow: { id: ${flowId}${options.flowVersion === undefined ? '' : `, version: "${options.flowVersion}"`} }
    inputs:
${options.inputs ?? `      contactId: { from: record.id, required: true }
      action: { value: sync }
      email: { from: record.fields.email, transform: [trim, lowercase] }
      attempts: { from: record.fields.count, type: integer }`}
    redact: [email]
${options.routeOptions ?? ''}
`
}

export function sign (body: string, secret = webhookSecret): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export function contactEvent (id: string, record: Record<string, unknown> = {}, occurredAt = '2026-11-29T01:00:00.000Z'): string {
  return JSON.stringify({ id, occurredAt, record: { id: '003A', type: 'Contact', email: ' Ada@Example.com ', count: '3', ...record } })
}

export interface RunningBridge {
  app: FastifyInstance
  url: string
  logs: LogSink
  dbFile: string
  mappingsFile: string
  post: (body: string, headers?: Record<string, string>) => Promise<{ status: number, body: any, headers: Headers }>
}

/**
 * Starts the real service on 127.0.0.1 with an ephemeral port, a SQLite file in a temp folder and
 * the given mappings; stops it when the test ends.
 */
export async function startBridge (t: Test, options: {
  env?: Record<string, string | undefined>
  mappings?: string
  dir?: string
  listen?: boolean
} & Partial<Omit<AppOptions, 'env' | 'logger'>> = {}): Promise<RunningBridge> {
  const dir = options.dir ?? tempDir(t)
  const mappingsFile = join(dir, 'mappings.yaml')
  if (options.mappings !== undefined || options.dir === undefined) writeFileSync(mappingsFile, options.mappings ?? basicMappings())
  const dbFile = join(dir, 'bridge.db')
  const logs = new LogSink()
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'debug',
    MAPPINGS_FILE: mappingsFile,
    DATABASE_URL: `sqlite:${dbFile}`,
    CRM_WEBHOOK_SECRET: webhookSecret,
    DISPATCH_POLL_MS: '50',
    RETRY_BASE_DELAY_MS: '20',
    RETRY_MAX_DELAY_MS: '200',
    ...options.env
  }
  const { env: _env, mappings: _m, dir: _d, listen, ...appOptions } = options
  const app = await buildApp({ ...appOptions, env, logger: createLogger('debug', logs) })
  t.teardown(async () => { await app.close() })
  let url = ''
  if (listen !== false) {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    url = typeof address === 'object' && address !== null ? `http://127.0.0.1:${address.port}` : ''
  }
  const post = async (body: string, headers: Record<string, string> = {}): Promise<{ status: number, body: any, headers: Headers }> => {
    const response = await fetch(`${url}/webhooks/crm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': sign(body), ...headers },
      body
    })
    const text = await response.text()
    let parsed: unknown = text
    try { parsed = JSON.parse(text) } catch {}
    return { status: response.status, body: parsed, headers: response.headers }
  }
  return { app, url, logs, dbFile, mappingsFile, post }
}

/** Polls `check` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T> (check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== null && value !== false) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
