/**
 * Security basics at the HTTP surface: body limit (413), strict content types (415), no stack
 * traces or internals in 5xx answers, no admin surface without ADMIN_TOKEN, no server banner.
 */
import t from 'tap'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { contactEvent, sign, startBridge, tempDir } from '../helper.js'

t.test('a body over BODY_LIMIT_BYTES (default 1 MiB) gets 413 and is not read further', async t => {
  const bridge = await startBridge(t)
  const padding = 'x'.repeat(1024 * 1024)
  const body = contactEvent('evt-big', { padding })
  const response = await bridge.post(body)
  t.equal(response.status, 413)
  t.match(response.body, { error: 'body_too_large' })
  const ok = await bridge.post(contactEvent('evt-small', { padding: 'x'.repeat(1000) }))
  t.equal(ok.status, 202, 'smaller bodies pass')
})

t.test('a content type the source does not take gets 415', async t => {
  const bridge = await startBridge(t)
  const body = contactEvent('evt-type')
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
    const response = await bridge.post(body, { 'content-type': type })
    t.equal(response.status, 415, type)
    t.match(response.body, { error: 'unsupported_content_type' })
  }
  t.equal((await bridge.post(body, { 'content-type': 'application/json; charset=utf-8' })).status, 202, 'parameters are fine')
})

t.test('an internal error answers a generic 500: no message, stack or path; the log has them', async t => {
  const dir = tempDir(t)
  const store = openSqliteStore({ file: join(dir, 'bridge.db') })
  t.teardown(() => store.close())
  // A bug, not an outage: StoreUnavailableError would be the 503 the CRM retries on.
  store.ingest = async () => { throw new TypeError(`Cannot read properties of undefined (reading 'id') at ${join(dir, 'secret-internal-path.ts')}`) }
  const bridge = await startBridge(t, { store })
  const response = await bridge.post(contactEvent('evt-500'))
  t.equal(response.status, 500)
  t.same(response.body, { error: 'internal_error', message: 'internal error; see the service log' })
  const raw = JSON.stringify(response.body) + JSON.stringify(Object.fromEntries(response.headers))
  t.notMatch(raw, /TypeError|Cannot read|secret-internal-path|\.ts|\bat \w|stack/)
  const logged = bridge.logs.events('request.failed')[0]
  t.match(logged, { level: 'error', err: { type: 'TypeError', message: /secret-internal-path/, stack: /TypeError/ } }, 'ops still get the details')
})

t.test('without ADMIN_TOKEN there is no admin surface: /admin answers exactly like any unknown path', async t => {
  const bridge = await startBridge(t, { env: { ADMIN_TOKEN: undefined } })
  const unknown = await fetch(`${bridge.url}/no-such-thing`)
  const unknownBody = await unknown.json() as { error: string, message: string }
  for (const [method, path] of [['GET', '/admin/deliveries'], ['POST', '/admin/deliveries/replay'], ['GET', '/admin/mappings'], ['GET', '/admin'], ['GET', '/admin/openapi.json']]) {
    const response = await fetch(`${bridge.url}${path}`, { method, headers: { authorization: 'Bearer guess-guess-guess-guess' } })
    t.equal(response.status, 404, `${method} ${path}`)
    const body = await response.json() as { error: string, message: string }
    t.same(Object.keys(body), Object.keys(unknownBody))
    t.equal(body.error, 'not_found')
    t.equal(body.message, `no route ${method} ${path}`)
    t.equal(response.headers.get('www-authenticate'), null, 'no hint that a credential would help')
  }
})

t.test('the 404 answer echoes no query string (tokens sometimes travel there)', async t => {
  const bridge = await startBridge(t)
  const response = await fetch(`${bridge.url}/nope?token=hunter2-hunter2`)
  t.equal(response.status, 404)
  t.notMatch(await response.text(), /hunter2/)
})

t.test('no server banner', async t => {
  const bridge = await startBridge(t)
  const body = contactEvent('evt-banner')
  const response = await fetch(`${bridge.url}/webhooks/crm`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(body) }, body })
  t.equal(response.status, 202)
  t.equal(response.headers.get('x-powered-by'), null)
  t.equal(response.headers.get('server'), null)
})
