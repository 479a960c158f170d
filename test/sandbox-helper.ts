import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { buildSandboxApp, createSandboxState, type SandboxFlow, type SandboxOptions, type SandboxState } from '../src/sandbox/genesys-sandbox.js'
import { flowId } from './helper.js'

export const clientId = 'bridge-client-id'
export const clientSecret = 'bridge-client-secret-DO-NOT-LOG'

export const contactFlow: SandboxFlow = {
  id: flowId,
  name: 'Contact sync',
  type: 'workflow',
  publishedVersion: '3.0',
  versions: [{ id: '3.0', inputs: { contactId: 'string', action: 'string', email: 'string', attempts: 'integer' } }]
}

export interface TestSandbox {
  url: string
  state: SandboxState
  /** Every access token the sandbox issued, so tests can look for them in logs. */
  issuedTokens: string[]
  launches: () => Array<{ body: any, status: number | null, time: string }>
  /** Environment pointing the bridge at this sandbox with valid credentials. */
  env: Record<string, string>
}

/** A Genesys sandbox on 127.0.0.1:0 with the contact flow and the bridge's client, closed at test end. */
export async function startTestSandbox (t: Pick<Test, 'teardown'>, options: Partial<SandboxOptions> = {}): Promise<TestSandbox> {
  const sandboxOptions: SandboxOptions = { flows: [contactFlow], clients: [{ clientId, clientSecret }], ...options }
  const state = createSandboxState(sandboxOptions)
  const issuedTokens: string[] = []
  const issue = state.tokens.issue.bind(state.tokens)
  state.tokens.issue = (id, ttl) => {
    const token = issue(id, ttl)
    issuedTokens.push(token)
    return token
  }
  const app = buildSandboxApp(sandboxOptions, state)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return {
    url,
    state,
    issuedTokens,
    launches: () => state.requests.filter(r => r.method === 'POST' && r.path === '/api/v2/flows/executions'),
    env: { GENESYS_API_URL: url, GENESYS_LOGIN_URL: url, GENESYS_CLIENT_ID: clientId, GENESYS_CLIENT_SECRET: clientSecret }
  }
}
