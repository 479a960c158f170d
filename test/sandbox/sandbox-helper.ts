import type { Test } from 'tap'
import { Agent, request } from 'undici'
import { startSandbox, type Sandbox, type SandboxFlow, type StartSandboxOptions } from '../../src/sandbox/genesys-sandbox.js'

export const CONTACT_SYNC = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890'
export const IVR = 'b2c3d4e5-f6a7-8901-bcde-f12345678901'
export const DRAFT = 'c3d4e5f6-a7b8-9012-cdef-123456789012'
export const CLIENT = { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export const FLOWS: SandboxFlow[] = [
  {
    id: CONTACT_SYNC,
    name: 'Contact sync',
    type: 'workflow',
    publishedVersion: '3.0',
    versions: [
      { id: '2.0', inputs: { contactId: 'string' } },
      { id: '3.0', inputs: { contactId: 'string', action: 'string', email: 'string', attempts: 'integer' } }
    ]
  },
  { id: IVR, name: 'Main IVR', type: 'inboundcall', publishedVersion: '1.0', versions: [{ id: '1.0', inputs: {} }] },
  { id: DRAFT, name: 'Draft workflow', type: 'workflow', publishedVersion: null, versions: [] }
]

/** A hand-wound clock: tests move time instead of sleeping. */
export function fakeClock (start = Date.parse('2026-01-15T10:00:00.000Z')) {
  let time = start
  return { now: () => time, advance: (ms: number) => { time += ms } }
}

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
}

export interface Harness {
  sandbox: Sandbox
  call (method: string, path: string, init?: { headers?: Record<string, string>, body?: string | object }): Promise<Reply>
  token (client?: { clientId: string, clientSecret: string }): Promise<string>
  /** POST /api/v2/flows/executions with a bearer token and a JSON body. */
  launch (body: unknown, token?: string): Promise<Reply>
  get (path: string, token?: string): Promise<Reply>
}

export async function startHarness (t: Test, options: Partial<StartSandboxOptions> = {}): Promise<Harness> {
  const sandbox = await startSandbox({ flows: FLOWS, clients: [CLIENT], ...options })
  const agent = new Agent({ keepAliveTimeout: 10 })
  t.teardown(async () => {
    await sandbox.close()
    await agent.close()
  })

  async function call (method: string, path: string, init: { headers?: Record<string, string>, body?: string | object } = {}): Promise<Reply> {
    const body = typeof init.body === 'object' ? JSON.stringify(init.body) : init.body
    const res = await request(`${sandbox.url}${path}`, {
      method: method as 'GET',
      headers: { ...(typeof init.body === 'object' ? { 'content-type': 'application/json' } : {}), ...init.headers },
      ...(body !== undefined ? { body } : {}),
      dispatcher: agent
    })
    const text = await res.body.text()
    let json: unknown
    try { json = JSON.parse(text) } catch { json = undefined }
    return { status: res.statusCode, headers: res.headers, text, json }
  }

  let cached: string | undefined
  async function token (client = CLIENT): Promise<string> {
    const res = await call('POST', '/oauth/token', {
      headers: {
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded'
      },
      body: 'grant_type=client_credentials'
    })
    if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.text}`)
    return res.json.access_token
  }

  const bearer = async (given?: string) => given ?? (cached ??= await token())
  return {
    sandbox,
    call,
    token,
    launch: async (body, given) => call('POST', '/api/v2/flows/executions', {
      headers: { authorization: `Bearer ${await bearer(given)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body)
    }),
    get: async (path, given) => call('GET', path, { headers: { authorization: `Bearer ${await bearer(given)}` } })
  }
}

/** The ErrorBody every non-OAuth error must be, with contextId tied to the correlation header. */
export function assertErrorBody (t: Test, res: Reply, status: number, code: string): void {
  t.equal(res.status, status, `status ${status}`)
  t.equal(res.headers['content-type'], 'application/json')
  const correlationId = res.headers['inin-correlation-id']
  t.match(correlationId, UUID)
  t.same(Object.keys(res.json ?? {}).sort(), ['code', 'contextId', 'details', 'errors', 'message', 'status'])
  t.equal(res.json.code, code)
  t.equal(res.json.status, status)
  t.equal(res.json.contextId, correlationId)
  t.same(res.json.details, [])
  t.same(res.json.errors, [])
  t.type(res.json.message, 'string')
}
