import t from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { basicMappings, contactEvent, flowId, sign, startBridge, waitFor, webhookSecret } from '../helper.js'
import { clientSecret, contactFlow, startTestSandbox } from '../sandbox-helper.js'

const token = 'admin-token-0123456789abcdef'
const auth = { authorization: `Bearer ${token}` }

/** Every admin answer's text, so the test can check no secret ever left the service. */
const answers: string[] = []

async function admin (app: FastifyInstance, options: InjectOptions): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  const response = await app.inject({ ...options, headers: { ...auth, ...options.headers } })
  answers.push(response.body)
  let body: unknown = response.body
  try { body = JSON.parse(response.body) } catch {}
  return { status: response.statusCode, body, headers: response.headers }
}

async function settled (app: FastifyInstance, id: string, states = ['succeeded', 'failed', 'dry_run']): Promise<any> {
  return await waitFor(async () => {
    const d = await app.bridge.store.getDelivery(id)
    return d !== null && states.includes(d.state) ? d : null
  }, 10_000, `delivery ${id} to settle`)
}

t.test('without ADMIN_TOKEN every /admin URL is a 404', async t => {
  const bridge = await startBridge(t)
  for (const [method, url] of [['GET', '/admin/deliveries'], ['GET', '/admin/openapi.json'], ['GET', '/admin/mappings'], ['POST', '/admin/mappings/validate'], ['POST', '/admin/deliveries/replay']] as const) {
    const response = await bridge.app.inject({ method, url, headers: auth })
    t.equal(response.statusCode, 404, `${method} ${url}`)
    t.equal(response.json().error, 'not_found')
  }
})

t.test('auth: a missing or wrong bearer token gets a 401 JSON answer on every route', async t => {
  const bridge = await startBridge(t, { env: { ADMIN_TOKEN: token } })
  const routes = [['GET', '/admin/deliveries'], ['GET', '/admin/deliveries/x'], ['POST', '/admin/deliveries/x/replay'], ['POST', '/admin/deliveries/replay'], ['GET', '/admin/mappings'], ['POST', '/admin/mappings/validate'], ['POST', '/admin/mappings/preview'], ['GET', '/admin/openapi.json']] as const
  for (const [method, url] of routes) {
    for (const headers of [{}, { authorization: `Bearer ${token}x` }, { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` }, { authorization: 'Bearer ' }]) {
      const response = await bridge.app.inject({ method, url, headers })
      t.equal(response.statusCode, 401, `${method} ${url} with ${JSON.stringify(headers).slice(0, 30)}`)
      t.equal(response.json().error, 'unauthorized')
      t.equal(response.headers['www-authenticate'], 'Bearer realm="crm-flow-bridge admin"')
    }
  }
  const lower = await bridge.app.inject({ method: 'GET', url: '/admin/deliveries', headers: { authorization: `bearer ${token}` } })
  t.equal(lower.statusCode, 200, 'the scheme is case-insensitive')
  const refused = bridge.logs.events('admin.unauthorized')
  t.ok(refused.length >= routes.length * 4)
  t.notOk(bridge.logs.text().includes(token), 'the token never reaches the log')
})

t.test('the OpenAPI description lists every admin route with its schemas', async t => {
  const bridge = await startBridge(t, { env: { ADMIN_TOKEN: token } })
  const { status, body } = await admin(bridge.app, { method: 'GET', url: '/admin/openapi.json' })
  t.equal(status, 200)
  t.equal(body.openapi, '3.0.3')
  t.same(Object.keys(body.paths).sort(), ['/admin/deliveries', '/admin/deliveries/purge', '/admin/deliveries/replay', '/admin/deliveries/{id}', '/admin/deliveries/{id}/replay', '/admin/mappings', '/admin/mappings/preview', '/admin/mappings/validate'])
  t.ok(body.paths['/admin/deliveries'].get.parameters.some((p: any) => p.name === 'cursor'))
  t.ok(body.paths['/admin/deliveries/replay'].post.requestBody.content['application/json'].schema.required.includes('status'))
  t.ok(body.paths['/admin/mappings/validate'].post.requestBody.content['application/yaml'])
  t.same(body.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' })
})

t.test('deliveries: list with filters and pagination, show, single replay', async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 400, body: { message: 'nope', code: 'bad.request', status: 400 }, times: 2 })
  const bridge = await startBridge(t, { env: { ...sandbox.env, ADMIN_TOKEN: token } })
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    const response = await bridge.post(contactEvent(`evt-${i}`, { id: `R${i}` }))
    ids.push(response.body.accepted[0].deliveryId)
    await settled(bridge.app, ids[i]!)
  }

  // Pagination: newest first, 2 per page, every delivery exactly once.
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const page: { status: number, body: any } = await admin(bridge.app, { method: 'GET', url: `/admin/deliveries?limit=2${cursor === null ? '' : `&cursor=${cursor}`}` })
    t.equal(page.status, 200)
    seen.push(...page.body.items.map((d: any) => d.id))
    cursor = page.body.nextCursor
    pages++
  } while (cursor !== null)
  t.equal(pages, 3)
  t.same(seen, [...ids].reverse())

  const failed = await admin(bridge.app, { method: 'GET', url: '/admin/deliveries?status=failed' })
  t.same(failed.body.items.map((d: any) => d.id).sort(), ids.slice(0, 2).sort(), 'the two that met the 400s')
  t.same((await admin(bridge.app, { method: 'GET', url: '/admin/deliveries?status=dead&route=contact-sync&source=crm&since=1h' })).body.items.length, 2, 'dead = failed; filters combine')
  t.same((await admin(bridge.app, { method: 'GET', url: '/admin/deliveries?route=other' })).body.items, [])
  t.same((await admin(bridge.app, { method: 'GET', url: `/admin/deliveries?since=${new Date(Date.now() + 60_000).toISOString()}` })).body.items, [])
  const item = failed.body.items[0]
  t.match(item, { state: 'failed', route: 'contact-sync', source: 'crm', attempts: 1, lastStatus: 400, createdAt: /^\d{4}-/ })

  for (const [url, error] of [['/admin/deliveries?cursor=bm90LWEtbnVtYmVy', 'invalid_cursor'], ['/admin/deliveries?status=lost', 'invalid_request'], ['/admin/deliveries?since=yesterday', 'invalid_filter'], ['/admin/deliveries?limit=0', 'invalid_request'], ['/admin/deliveries?stauts=failed', 'invalid_request']] as const) {
    const bad = await admin(bridge.app, { method: 'GET', url })
    t.equal(bad.status, 400, url)
    t.equal(bad.body.error, error, url)
  }

  const shown = await admin(bridge.app, { method: 'GET', url: `/admin/deliveries/${ids[0]!}` })
  t.equal(shown.status, 200)
  t.match(shown.body, { id: ids[0], state: 'failed', lastStatus: 400, hint: /Genesys rejected/, event: { event: { id: 'evt-0' }, record: { id: 'R0' } } })
  t.same(shown.body.request.inputData['Flow.email'], '[redacted]', 'redacted inputs stay masked')
  t.equal(shown.body.attemptLog.length, 1)
  t.match(shown.body.attemptLog[0], { number: 1, outcome: 'failed', status: 400, durationMs: Number, correlationId: /^[0-9a-f-]{36}$/, response: /nope/, hint: /Genesys rejected/, error: /HTTP 400; code bad\.request; nope/ })
  t.match(shown.body.mappedRequest, { ok: true, request: { flowId, name: `crm-flow-bridge ${ids[0]!}`, inputData: { 'Flow.contactId': 'R0', 'Flow.email': '[redacted]' } } })
  t.equal((await admin(bridge.app, { method: 'GET', url: '/admin/deliveries/nope' })).status, 404)

  const replayed = await admin(bridge.app, { method: 'POST', url: `/admin/deliveries/${ids[0]!}/replay` })
  t.equal(replayed.status, 202)
  t.same(replayed.body, { replayed: 1, ids: [ids[0]] })
  const after = await settled(bridge.app, ids[0]!, ['succeeded'])
  t.same(after.attemptLog.map((a: any) => a.status), [400, 200], 'attempt numbers continue after the replay')

  t.equal((await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/nope/replay' })).status, 404)

  const idle = await startBridge(t, { env: { ...sandbox.env, ADMIN_TOKEN: token }, dispatch: false })
  const queued = (await idle.post(contactEvent('evt-queued', { id: 'Q1' }))).body.accepted[0].deliveryId
  const conflict = await admin(idle.app, { method: 'POST', url: `/admin/deliveries/${queued}/replay` })
  t.equal(conflict.status, 409)
  t.equal(conflict.body.error, 'not_finished')
})

t.test('bulk replay of failed deliveries after the flow is fixed', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, ADMIN_TOKEN: token } })
  // Republished without the email input: every launch of the route now fails with a 400.
  sandbox.state.upsertFlow({ ...contactFlow, publishedVersion: '4.0', versions: [...contactFlow.versions, { id: '4.0', inputs: { contactId: 'string', action: 'string', attempts: 'integer' } }] })
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await bridge.post(contactEvent(`bulk-${i}`, { id: `B${i}` }))).body.accepted[0].deliveryId)
  for (const id of ids) t.equal((await settled(bridge.app, id)).state, 'failed')
  await waitFor(() => bridge.logs.events('flows.route_broken')[0], 5000, 'the route to be reported broken')

  t.equal((await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/replay', payload: {} })).status, 400, 'status is required')
  t.equal((await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/replay', payload: { status: 'failed', rout: 'x' } })).status, 400, 'unknown keys are refused, not dropped')
  t.equal((await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/replay', payload: { status: 'queued' } })).status, 400, 'only finished states')
  const unknownRoute = await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/replay', payload: { status: 'failed', route: 'gone' } })
  t.equal(unknownRoute.status, 409)
  t.equal(unknownRoute.body.error, 'unknown_route')

  sandbox.state.upsertFlow({ ...contactFlow, publishedVersion: '5.0', versions: [...contactFlow.versions, { id: '5.0', inputs: { contactId: 'string', action: 'string', email: 'string', attempts: 'integer' } }] })
  const bulk = await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/replay', payload: { status: 'dead', route: 'contact-sync', since: '1h' } })
  t.equal(bulk.status, 202)
  t.equal(bulk.body.replayed, 3)
  t.same([...bulk.body.ids].sort(), [...ids].sort())
  for (const id of ids) {
    const d = await settled(bridge.app, id, ['succeeded'])
    t.same(d.attemptLog.map((a: any) => a.status), [400, 200])
  }
  t.equal(bridge.logs.events('admin.replayed').at(-1)!.count, 3)
  const again = await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/replay', payload: { status: 'failed' } })
  t.same(again.body, { replayed: 0, ids: [] })
})

t.test('purge deletes failed deliveries only when an admin says so', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, ADMIN_TOKEN: token } })
  const bad = (await bridge.post(contactEvent('purge-bad', { id: 'P1', count: 'NaN' }))).body.accepted[0].deliveryId
  const good = (await bridge.post(contactEvent('purge-ok', { id: 'P2' }))).body.accepted[0].deliveryId
  t.equal((await settled(bridge.app, bad)).state, 'failed')
  await settled(bridge.app, good)
  const earlier = await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/purge', payload: { status: 'failed', before: '2020-01-01T00:00:00Z' } })
  t.same(earlier.body, { purged: 0 }, 'nothing finished before that time')
  t.equal((await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/purge', payload: { status: 'failed' } })).status, 400, 'before is required')
  const purged = await admin(bridge.app, { method: 'POST', url: '/admin/deliveries/purge', payload: { status: 'dead', before: new Date(Date.now() + 1000).toISOString() } })
  t.same(purged.body, { purged: 1 })
  t.equal(await bridge.app.bridge.store.getDelivery(bad), null)
  t.ok(await bridge.app.bridge.store.getDelivery(good), 'other states untouched')
  t.equal(bridge.logs.events('admin.purged').at(-1)!.count, 1)
})

t.test('mappings: the mappings in force, secrets masked, with flow checks and the last reload error', async t => {
  const sandbox = await startTestSandbox(t)
  const mappings = basicMappings({ inputs: '      contactId: { from: record.id }\n      emial: { from: record.fields.email }\n      apiKey: { value: "${CRM_WEBHOOK_SECRET}" }' }).replace('redact: [email]', 'redact: []')
  const bridge = await startBridge(t, { env: { ...sandbox.env, ADMIN_TOKEN: token }, mappings })
  const { status, body } = await admin(bridge.app, { method: 'GET', url: '/admin/mappings' })
  t.equal(status, 200)
  t.equal(body.file, bridge.mappingsFile)
  t.match(body.hash, /^[0-9a-f]{64}$/)
  t.match(body.loadedAt, /^\d{4}-\d\d-\d\dT/)
  t.equal(body.sources.crm.auth.secret, '[redacted]')
  t.equal(body.routes[0].inputs.apiKey.value, '[redacted]', 'a constant named like a credential is masked')
  t.equal(body.lastReloadError, null)
  t.match(body.flows, { enabled: true, state: 'checked', brokenRoutes: ['contact-sync'] })
  t.match(body.flows.problems[0], { route: 'contact-sync', input: 'Flow.emial', code: 'input_not_declared', path: 'routes[0].inputs.emial', line: Number, suggestion: /Did you mean "email"/ })
  t.equal(body.flows.routes[0].flowVersion, '3.0')

  await import('node:fs').then(fs => fs.writeFileSync(bridge.mappingsFile, mappings.replace('routes:', 'routes:\n  - oops: [')))
  await waitFor(() => bridge.app.bridge.mappings.lastError, 5000, 'the bad edit to be rejected')
  const afterBadEdit = await admin(bridge.app, { method: 'GET', url: '/admin/mappings' })
  t.match(afterBadEdit.body.lastReloadError, { at: /^\d{4}-/, kind: 'syntax', problems: [{ line: Number, message: String }] })
  t.equal(afterBadEdit.body.hash, body.hash, 'still the previous mappings')
})

t.test('mappings/validate: 200 either way, with the problems, paths and lines', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, ADMIN_TOKEN: token } })
  const validate = async (payload: string, contentType = 'application/yaml', query = ''): Promise<{ status: number, body: any }> =>
    await admin(bridge.app, { method: 'POST', url: `/admin/mappings/validate${query}`, payload, headers: { 'content-type': contentType } })

  const good = await validate(basicMappings())
  t.equal(good.status, 200)
  t.match(good.body, { valid: true, kind: null, problems: [], flowProblems: [], remote: { checked: true }, hash: /^[0-9a-f]{64}$/, summary: { sources: ['crm'], routes: ['contact-sync'] } })

  const typo = await validate(basicMappings().replace('email: {', 'emial: {').replace('redact: [email]', ''), 'text/plain')
  t.equal(typo.status, 200)
  t.equal(typo.body.valid, false)
  t.match(typo.body.flowProblems, [{ input: 'Flow.emial', code: 'input_not_declared', path: 'routes[0].inputs.emial', line: 19, suggestion: /Did you mean "email"/ }])

  const local = await validate(basicMappings().replace('email: {', 'emial: {').replace('redact: [email]', ''), 'application/yaml', '?remote=false')
  t.match(local.body, { valid: true, remote: { checked: false, reason: 'remote=false' } })

  const invalid = await validate(basicMappings().replace('recordType: Contact', 'recordTyp: Contact'))
  t.equal(invalid.status, 200)
  t.match(invalid.body, { valid: false, kind: 'invalid', problems: [{ path: 'routes[0].when', line: 14, message: 'unknown key "recordTyp"' }] })

  const syntax = await validate('routes: [\n')
  t.match(syntax.body, { valid: false, kind: 'syntax', problems: [{ line: Number }] })

  const asJson = await validate(JSON.stringify({ sources: { crm: { type: 'generic' } }, routes: [{ name: 'r', source: 'crm', flow: { id: flowId }, inputs: { contactId: 'record.id' } }] }), 'application/json')
  t.match(asJson.body, { valid: true, summary: { routes: ['r'] } })

  t.equal((await validate('   ')).status, 400)
  t.equal((await validate('a: 1', 'application/xml')).status, 415)
})

t.test('mappings/preview: the exact request a real delivery then sends, or why none', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, ADMIN_TOKEN: token } })
  const body = contactEvent('evt-preview')
  const preview = await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { route: 'contact-sync', body, headers: { 'X-Signature': sign(body) } } })
  t.equal(preview.status, 200)
  t.match(preview.body, { ok: true, source: 'crm', launches: 1, request: { method: 'POST', url: `${sandbox.url}/api/v2/flows/executions` } })
  const previewed = preview.body.events[0].routes[0]
  t.match(previewed, { route: 'contact-sync', matched: true, flowTypesKnown: true })
  t.equal(sandbox.launches().length, 0, 'a preview launches nothing')
  t.same((await bridge.app.bridge.store.stats()).byState.queued, 0, 'and stores nothing')

  const delivered = await bridge.post(body)
  const id = delivered.body.accepted[0].deliveryId
  await settled(bridge.app, id)
  const sent = sandbox.launches()[0]!.body
  t.same({ ...previewed.request, name: `crm-flow-bridge ${id}`, inputData: { ...previewed.request.inputData, 'Flow.email': sent.inputData['Flow.email'] } }, sent, 'same body, up to the delivery id in the name')
  t.equal(previewed.request.inputData['Flow.email'], '[redacted]', 'inputs the route redacts are masked in the answer')

  const badSignature = await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { route: 'contact-sync', body, headers: { 'X-Signature': 'sha256=00' } } })
  t.match(badSignature.body, { ok: false, stage: 'authenticate', code: 'bad_signature', status: 401 })
  const unchecked = await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { source: 'crm', body: JSON.parse(body), checkAuth: false } })
  t.match(unchecked.body, { ok: true, launches: 1 })
  const lead = await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { source: 'crm', body: JSON.parse(contactEvent('evt-lead', { type: 'Lead' })), checkAuth: false } })
  t.match(lead.body, { ok: true, launches: 0, events: [{ routes: [{ route: 'contact-sync', matched: false }] }] })
  const mappingFails = await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { source: 'crm', body: JSON.parse(contactEvent('evt-bad', { count: 'three' })), checkAuth: false } })
  t.match(mappingFails.body.events[0].routes[0], { matched: true, problems: [{ input: 'Flow.attempts', reason: /cannot convert to integer/ }] })
  const malformed = await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { source: 'crm', body: '{"id":', checkAuth: false } })
  t.match(malformed.body, { ok: false, stage: 'parse', code: 'malformed_body' })
  t.equal((await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { route: 'nope', body: '{}' } })).status, 404)
  t.equal((await admin(bridge.app, { method: 'POST', url: '/admin/mappings/preview', payload: { body: '{}' } })).status, 400)
})

t.test('no admin answer carries a secret', async t => {
  t.ok(answers.length > 40)
  const text = answers.join('\n')
  for (const secret of [webhookSecret, clientSecret, token]) t.notOk(text.includes(secret), `no ${secret.slice(0, 6)}… in any answer`)
})
