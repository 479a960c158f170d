/**
 * /healthz (the process answers) and /readyz (store, mappings, flows, Genesys token unless
 * dry-run): 503 names the failing check, and the readiness gauge follows.
 */
import t from 'tap'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { startBridge, tempDir } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { sampleValue } from './prometheus-text.js'

interface Readiness {
  status: string
  failing: string[]
  checks: Record<string, { ok: boolean, detail?: string }>
}

t.test('/healthz answers 200 and is not logged at info', async t => {
  const bridge = await startBridge(t)
  const response = await fetch(`${bridge.url}/healthz`)
  t.equal(response.status, 200)
  t.same(await response.json(), { status: 'ok' })
  t.equal(bridge.logs.lines.filter(line => (line as { req?: { url?: string } }).req?.url === '/healthz').length, 0)
})

t.test('/readyz in dry-run: ready without Genesys', async t => {
  const bridge = await startBridge(t)
  const response = await fetch(`${bridge.url}/readyz`)
  const body = await response.json() as Readiness
  t.equal(response.status, 200)
  t.equal(body.status, 'ready')
  t.same(body.failing, [])
  t.match(body.checks, { store: { ok: true }, mappings: { ok: true }, genesys: { ok: true, detail: /dry-run/ } })
})

t.test('/readyz with Genesys reachable and the token obtainable', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  const response = await fetch(`${bridge.url}/readyz`)
  t.equal(response.status, 200, JSON.stringify(await response.clone().json()))
  t.match(await response.json(), { checks: { genesys: { ok: true } } })
})

t.test('/readyz answers 503 naming the Genesys check when the token is refused', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, GENESYS_CLIENT_SECRET: 'wrong-secret' } })
  const response = await fetch(`${bridge.url}/readyz`)
  const body = await response.json() as Readiness
  t.equal(response.status, 503)
  t.equal(body.status, 'not_ready')
  t.ok(body.failing.includes('genesys'))
  t.match(body.checks.genesys, { ok: false, detail: /401/ })
  t.notMatch(JSON.stringify(body), /wrong-secret/, 'the secret is not echoed')
  t.match(bridge.logs.events('readiness.failed')[0], { level: 'warn', failing: ['genesys'] })
  const metrics = await (await fetch(`${bridge.url}/metrics`)).text()
  t.equal(sampleValue(metrics, 'crm_bridge_readiness_check', { check: 'genesys' }), 0)
  t.equal(sampleValue(metrics, 'crm_bridge_readiness_check', { check: 'store' }), 1)
})

t.test('/readyz answers 503 naming the store when it cannot be reached', async t => {
  const store = openSqliteStore({ file: join(tempDir(t), 'bridge.db') })
  t.teardown(() => store.close())
  store.ping = async () => { throw new Error('database is locked') }
  const bridge = await startBridge(t, { store })
  const response = await fetch(`${bridge.url}/readyz`)
  const body = await response.json() as Readiness
  t.equal(response.status, 503)
  t.same(body.failing, ['store'])
  t.equal(await (await fetch(`${bridge.url}/healthz`)).status, 200, 'alive all the same')
})
