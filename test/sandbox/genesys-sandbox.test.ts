import t from 'tap'
import { request } from 'undici'
import { buildSandboxApp, createSandboxState, type SandboxFlow } from '../../src/sandbox/genesys-sandbox.js'
import {
  assertErrorBody, CLIENT, CONTACT_SYNC, DRAFT, fakeClock, FLOWS, IVR, startHarness, UUID
} from './sandbox-helper.js'

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
const FORM = 'application/x-www-form-urlencoded'

t.test('POST /oauth/token', async t => {
  t.test('issues an opaque bearer token for valid client credentials', async t => {
    const { call } = await startHarness(t)
    const res = await call('POST', '/oauth/token', {
      headers: { authorization: basic('sandbox-client', 'sandbox-secret'), 'content-type': FORM },
      body: 'grant_type=client_credentials'
    })
    t.equal(res.status, 200)
    t.equal(res.headers['content-type'], 'application/json')
    t.match(res.headers['inin-correlation-id'], UUID)
    t.same(Object.keys(res.json).sort(), ['access_token', 'expires_in', 'token_type'])
    t.equal(res.json.token_type, 'bearer')
    t.equal(res.json.expires_in, 86399)
    t.match(res.json.access_token, /^[A-Za-z0-9_-]{40,}$/)
  })

  t.test('reports the client-specific lifetime', async t => {
    const { call } = await startHarness(t, { clients: [{ ...CLIENT, tokenTtlSeconds: 300 }] })
    const res = await call('POST', '/oauth/token', {
      headers: { authorization: basic('sandbox-client', 'sandbox-secret'), 'content-type': FORM },
      body: 'grant_type=client_credentials'
    })
    t.equal(res.json.expires_in, 300)
  })

  t.test('rejects bad clients and grants with the OAuth error shape', async t => {
    const { call, sandbox } = await startHarness(t)
    const cases = [
      { name: 'wrong secret', auth: basic('sandbox-client', 'nope'), body: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
      { name: 'unknown client', auth: basic('who', 'sandbox-secret'), body: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
      { name: 'no Basic header', auth: undefined, body: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
      { name: 'wrong grant', auth: basic('sandbox-client', 'sandbox-secret'), body: 'grant_type=password', status: 400, error: 'unsupported_grant_type' },
      { name: 'missing grant', auth: basic('sandbox-client', 'sandbox-secret'), body: 'scope=all', status: 400, error: 'invalid_request' }
    ]
    for (const c of cases) {
      const res = await call('POST', '/oauth/token', {
        headers: { 'content-type': FORM, ...(c.auth !== undefined ? { authorization: c.auth } : {}) },
        body: c.body
      })
      t.equal(res.status, c.status, c.name)
      t.same(Object.keys(res.json).sort(), ['description', 'error', 'error_description'], c.name)
      t.equal(res.json.error, c.error, c.name)
      t.equal(res.json.description, res.json.error_description, c.name)
    }
    const json = await call('POST', '/oauth/token', {
      headers: { authorization: basic('sandbox-client', 'sandbox-secret') },
      body: { grant_type: 'client_credentials' }
    })
    t.equal(json.status, 400, 'a JSON body is not a form')
    t.equal(json.json.error, 'invalid_request')
    t.equal(sandbox.stats.tokensIssued, 0)
  })

  t.test('tokens expire after their ttl', async t => {
    const clock = fakeClock()
    const { token, get } = await startHarness(t, { clients: [{ ...CLIENT, tokenTtlSeconds: 300 }], now: clock.now })
    const bearer = await token()
    t.equal((await get(`/api/v2/flows/${CONTACT_SYNC}`, bearer)).status, 200)
    clock.advance(299_999)
    t.equal((await get(`/api/v2/flows/${CONTACT_SYNC}`, bearer)).status, 200, 'valid until the last millisecond')
    clock.advance(1)
    assertErrorBody(t, await get(`/api/v2/flows/${CONTACT_SYNC}`, bearer), 401, 'bad.credentials')
  })
})

t.test('bearer authentication on API routes', async t => {
  t.test('no token → authentication.required', async t => {
    const { call } = await startHarness(t)
    const variants: Array<Record<string, string>> = [{}, { authorization: basic('sandbox-client', 'sandbox-secret') }, { authorization: 'Bearer' }]
    for (const headers of variants) {
      const res = await call('POST', '/api/v2/flows/executions', { headers, body: { flowId: CONTACT_SYNC } })
      assertErrorBody(t, res, 401, 'authentication.required')
      t.equal(res.json.message, 'No authentication bearer token specified in authorization header.')
    }
  })

  t.test('unknown or revoked token → bad.credentials', async t => {
    const { launch, token, call, sandbox } = await startHarness(t)
    assertErrorBody(t, await launch({ flowId: CONTACT_SYNC }, 'not-a-token'), 401, 'bad.credentials')

    const first = await token()
    t.equal((await launch({ flowId: CONTACT_SYNC }, first)).status, 200)
    sandbox.revokeTokens()
    const revoked = await launch({ flowId: CONTACT_SYNC }, first)
    assertErrorBody(t, revoked, 401, 'bad.credentials')
    t.equal(revoked.json.message, 'Invalid login credentials.')

    const second = await token()
    t.equal((await launch({ flowId: CONTACT_SYNC }, second)).status, 200)
    t.equal((await call('POST', '/__sandbox/tokens/revoke')).status, 204)
    assertErrorBody(t, await launch({ flowId: CONTACT_SYNC }, second), 401, 'bad.credentials')
    t.equal(sandbox.executions.size, 2, 'rejected launches record no execution')
  })
})

t.test('revoking one client leaves the others authenticated', async t => {
  const other = { clientId: 'other-client', clientSecret: 'other-secret' }
  const { launch, token, call } = await startHarness(t, { clients: [CLIENT, other] })
  const mine = await token()
  const theirs = await token(other)
  t.equal((await call('POST', '/__sandbox/tokens/revoke', { body: { clientId: 'other-client' } })).status, 204)
  t.equal((await launch({ flowId: CONTACT_SYNC }, mine)).status, 200)
  assertErrorBody(t, await launch({ flowId: CONTACT_SYNC }, theirs), 401, 'bad.credentials')
  t.equal((await call('POST', '/__sandbox/tokens/revoke', { body: { clientId: 42 } })).status, 400)
})

t.test('POST /api/v2/flows/executions', async t => {
  t.test('launches the published version and answers the exact launch response', async t => {
    const { launch, sandbox } = await startHarness(t)
    const res = await launch({
      flowId: CONTACT_SYNC,
      inputData: { 'Flow.contactId': 'c-1', 'Flow.action': 'updated', 'Flow.email': null, 'Flow.attempts': '2' },
      name: 'hubspot:evt-42'
    })
    t.equal(res.status, 200)
    t.equal(res.headers['content-type'], 'application/json')
    t.match(res.json.id, UUID)
    t.same(res.json, {
      id: res.json.id,
      name: 'hubspot:evt-42',
      flowVersion: { id: '3.0', selfUri: `/api/v2/flows/${CONTACT_SYNC}/versions/3.0` },
      selfUri: `/api/v2/flows/executions/${res.json.id}`
    })
    const execution = sandbox.executions.get(res.json.id)
    t.equal(execution?.flowId, CONTACT_SYNC)
    t.equal(execution?.flowVersion.id, '3.0')
    t.equal(execution?.clientId, 'sandbox-client')
    t.same(execution?.inputData, { 'Flow.contactId': 'c-1', 'Flow.action': 'updated', 'Flow.email': null, 'Flow.attempts': '2' })
    t.equal(sandbox.stats.launches, 1)
  })

  t.test('launches an explicit older version, validating against that version', async t => {
    const { launch } = await startHarness(t)
    const ok = await launch({ flowId: CONTACT_SYNC, flowVersion: '2.0', inputData: { 'Flow.contactId': 'c-1' } })
    t.equal(ok.json.flowVersion.id, '2.0')
    const res = await launch({ flowId: CONTACT_SYNC, flowVersion: '2.0', inputData: { 'Flow.email': 'a@b.c' } })
    assertErrorBody(t, res, 400, 'bad.request')
    t.match(res.json.message, /"Flow\.email" is not an input of flow version 2\.0/)
    const empty = await launch({ flowId: CONTACT_SYNC, flowVersion: '', inputData: null, name: null })
    t.equal(empty.json.flowVersion.id, '3.0', 'empty flowVersion means the published one')
  })

  t.test('rejects keys without the Flow. prefix, naming the key', async t => {
    const { launch, sandbox } = await startHarness(t)
    const res = await launch({ flowId: CONTACT_SYNC, inputData: { contactId: 'c-1' } })
    assertErrorBody(t, res, 400, 'bad.request')
    t.match(res.json.message, /"contactId" lacks the "Flow\." prefix/)
    t.match(res.json.message, /did you mean "Flow\.contactId"/)
    const nested = await launch({ flowId: CONTACT_SYNC, inputData: { Flow: { contactId: 'c-1' } } })
    assertErrorBody(t, nested, 400, 'bad.request')
    t.match(nested.json.message, /"Flow"/)
    t.equal(sandbox.executions.size, 0)
    t.equal(sandbox.stats.launchesRejected, 2)
  })

  t.test('rejects undeclared inputs, naming the key', async t => {
    const { launch } = await startHarness(t)
    const res = await launch({ flowId: CONTACT_SYNC, inputData: { 'Flow.contactId': 'c-1', 'Flow.phone': '+33' } })
    assertErrorBody(t, res, 400, 'bad.request')
    t.match(res.json.message, /"Flow\.phone" is not an input of flow version 3\.0/)
  })

  t.test("unknownInputs: 'ignore' drops undeclared keys instead", async t => {
    const { launch, sandbox } = await startHarness(t, { unknownInputs: 'ignore' })
    const res = await launch({ flowId: CONTACT_SYNC, inputData: { 'Flow.contactId': 'c-1', 'Flow.phone': '+33', contactId: 'x' } })
    t.equal(res.status, 200)
    t.same(sandbox.executions.get(res.json.id)?.inputData, { 'Flow.contactId': 'c-1' })
    assertErrorBody(t, await launch({ flowId: CONTACT_SYNC, inputData: { 'Flow.attempts': 'many' } }), 400, 'bad.request')
  })

  t.test('is strict about FlowExecutionLaunchRequest fields', async t => {
    const { launch } = await startHarness(t)
    for (const field of ['data', 'inputs', 'parameters']) {
      const res = await launch({ flowId: CONTACT_SYNC, [field]: { 'Flow.contactId': 'c-1' } })
      assertErrorBody(t, res, 400, 'bad.request')
      t.match(res.json.message, new RegExp(`"${field}"`), field)
      t.match(res.json.message, /inputData/, field)
    }
    assertErrorBody(t, await launch({ inputData: {} }), 400, 'bad.request')
    assertErrorBody(t, await launch({ flowId: 42 }), 400, 'bad.request')
    assertErrorBody(t, await launch({ flowId: CONTACT_SYNC, inputData: ['Flow.contactId'] }), 400, 'bad.request')
    assertErrorBody(t, await launch([CONTACT_SYNC]), 400, 'bad.request')
  })

  t.test('refuses non-workflow, unpublished and unknown flows', async t => {
    const { launch } = await startHarness(t)
    const ivr = await launch({ flowId: IVR })
    assertErrorBody(t, ivr, 400, 'flow.type.not.launchable')
    t.match(ivr.json.message, /INBOUNDCALL/)
    const draft = await launch({ flowId: DRAFT })
    assertErrorBody(t, draft, 400, 'flow.not.published')
    assertErrorBody(t, await launch({ flowId: 'ffffffff-0000-0000-0000-000000000000' }), 404, 'not.found')
    assertErrorBody(t, await launch({ flowId: CONTACT_SYNC, flowVersion: '9.0' }), 404, 'not.found')
  })

  t.test('needs Content-Type: application/json (415) and well-formed JSON (400)', async t => {
    const { call, token } = await startHarness(t)
    const authorization = `Bearer ${await token()}`
    const body = JSON.stringify({ flowId: CONTACT_SYNC })
    assertErrorBody(t, await call('POST', '/api/v2/flows/executions', { headers: { authorization, 'content-type': 'text/plain' }, body }), 415, 'unsupported.media.type')
    assertErrorBody(t, await call('POST', '/api/v2/flows/executions', { headers: { authorization, 'content-type': FORM }, body: 'flowId=x' }), 415, 'unsupported.media.type')
    assertErrorBody(t, await call('POST', '/api/v2/flows/executions', { headers: { authorization } }), 415, 'unsupported.media.type')
    const ok = await call('POST', '/api/v2/flows/executions', { headers: { authorization, 'content-type': 'application/json; charset=UTF-8' }, body })
    t.equal(ok.status, 200, 'parameters on the media type are fine')
    assertErrorBody(t, await call('POST', '/api/v2/flows/executions', { headers: { authorization, 'content-type': 'application/json' }, body: '{"flowId":' }), 400, 'bad.request')
  })
})

t.test('inputData values are checked per Architect type', async t => {
  const typed: SandboxFlow = {
    id: 'typed',
    name: 'Typed inputs',
    type: 'workflow',
    publishedVersion: '1.0',
    versions: [{
      id: '1.0',
      inputs: {
        s: 'string', i: 'integer', d: 'decimal', b: 'boolean', dt: 'datetime', day: 'date', j: 'json',
        ss: 'string[]', is: 'integer[]', ds: 'date[]'
      }
    }]
  }
  const { launch } = await startHarness(t, { flows: [typed], rateLimitPerMinute: 0 })

  const valid: Record<string, unknown[]> = {
    s: ['', 'hello', 'x'.repeat(32000), null],
    i: [0, -999999999999999, 999999999999999, '157', '-999999999999999', 3.0, null],
    d: [1.5, -3, '2.25', '-0.5', '1e3', null],
    b: [true, false, null],
    dt: ['2025-03-26T19:50:17.823Z', '2025-03-26T19:50:17Z', '2025-03-26T21:50:17+02:00', null],
    day: ['2025-03-29', '2024-02-29', null],
    j: [{}, { a: [1, { b: null }] }, null],
    ss: [[], ['a', null, 'b'], Array(2000).fill('x')],
    is: [[1, '2', null]],
    ds: [['2025-03-29', '2025-03-30']]
  }
  const invalid: Record<string, unknown[]> = {
    s: [5, true, {}, ['a'], 'x'.repeat(32001)],
    i: [1.5, '1.5', 'abc', '', 1e15, '12345678901234567', true, {}],
    d: ['abc', '', true, {}, [1]],
    b: ['true', 1, 0, 'false'],
    dt: ['2025-03-26', '2025-03-26T19:50:17', 'yesterday', 1700000000000, '2025-02-30T00:00:00Z', '2025-03-26 19:50:17Z'],
    day: ['2025-3-1', '2025-02-30', '2025-03-26T00:00:00Z', 20250326, '29/03/2025'],
    j: [[], 'x', 5, true],
    ss: ['a', [1], [{}], Array(2001).fill('x')],
    is: [['x'], 5],
    ds: [['2025-13-01'], '2025-03-29']
  }

  for (const [name, values] of Object.entries(valid)) {
    for (const value of values) {
      const res = await launch({ flowId: 'typed', inputData: { [`Flow.${name}`]: value } })
      t.equal(res.status, 200, `Flow.${name} accepts ${JSON.stringify(value)?.slice(0, 40)}`)
    }
  }
  for (const [name, values] of Object.entries(invalid)) {
    for (const value of values) {
      const res = await launch({ flowId: 'typed', inputData: { [`Flow.${name}`]: value } })
      t.equal(res.status, 400, `Flow.${name} rejects ${JSON.stringify(value)?.slice(0, 40)}`)
      t.match(res.json?.message, `Flow.${name}`, 'the message names the key')
    }
  }
})

t.test('rate limit: 429 with Retry-After and the normalised body', async t => {
  const clock = fakeClock()
  const other = { clientId: 'other-client', clientSecret: 'other-secret' }
  const { launch, get, token, sandbox } = await startHarness(t, { rateLimitPerMinute: 3, now: clock.now, clients: [CLIENT, other] })
  const bearer = await token()
  t.equal((await launch({ flowId: CONTACT_SYNC }, bearer)).status, 200)
  clock.advance(10_000)
  t.equal((await get(`/api/v2/flows/${CONTACT_SYNC}`, bearer)).status, 200, 'GETs count too')
  t.equal((await launch({ flowId: CONTACT_SYNC }, await token())).status, 200, 'per client, not per token')

  const limited = await launch({ flowId: CONTACT_SYNC }, bearer)
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '50')
  t.equal(limited.headers['content-type'], 'application/json')
  t.same(limited.json, {
    message: 'Rate limit exceeded the maximum. Retry the request in [50] seconds',
    code: 'too.many.requests.retry.after',
    status: 429,
    contextId: limited.headers['inin-correlation-id'],
    details: [],
    errors: []
  })
  t.equal((await token()).length > 0, true, '/oauth/token is not rate limited')
  t.equal((await launch({ flowId: CONTACT_SYNC }, await token(other))).status, 200, 'other clients are unaffected')

  clock.advance(49_999)
  const still = await launch({ flowId: CONTACT_SYNC }, bearer)
  t.equal(still.headers['retry-after'], '1')
  clock.advance(1)
  t.equal((await launch({ flowId: CONTACT_SYNC }, bearer)).status, 200, 'the oldest request left the window')
  t.equal(sandbox.stats.organic429, 2)
  t.equal(sandbox.stats.injected429, 0)
  t.equal(sandbox.executions.size, 4)
})

t.test('faults', async t => {
  t.test('status: canned ErrorBody, counted down by times', async t => {
    const { launch, sandbox } = await startHarness(t)
    sandbox.faults.add({ target: 'launch', kind: 'status', status: 503, times: 1 })
    assertErrorBody(t, await launch({ flowId: CONTACT_SYNC }), 503, 'service.unavailable')
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200)
    t.same(sandbox.faults.list(), [], 'spent rules are removed')
    t.equal(sandbox.stats.faultsApplied, 1)
    t.equal(sandbox.executions.size, 1)
  })

  t.test('status 429: injected, counted apart from organic ones', async t => {
    const { launch, sandbox } = await startHarness(t)
    sandbox.faults.add({ target: 'launch', kind: 'status', status: 429, retryAfter: 7, times: 1 })
    const res = await launch({ flowId: CONTACT_SYNC })
    t.equal(res.headers['retry-after'], '7')
    t.same(res.json, {
      message: 'Rate limit exceeded the maximum. Retry the request in [7] seconds',
      code: 'too.many.requests.retry.after',
      status: 429,
      contextId: res.headers['inin-correlation-id'],
      details: [],
      errors: []
    })
    t.equal(sandbox.stats.injected429, 1)
    t.equal(sandbox.stats.organic429, 0)
  })

  t.test('status: custom bodies, headers and an empty body', async t => {
    const { launch, sandbox } = await startHarness(t)
    sandbox.faults.add({ target: 'launch', kind: 'status', status: 400, body: '', times: 1 })
    sandbox.faults.add({ target: 'launch', kind: 'status', status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' }, times: 1 })
    sandbox.faults.add({ target: 'launch', kind: 'status', status: 503, body: { oops: true }, retryAfter: 'Wed, 21 Oct 2015 07:28:00 GMT', times: 1 })
    const empty = await launch({ flowId: CONTACT_SYNC })
    t.equal(empty.status, 400)
    t.equal(empty.text, '')
    t.equal(empty.headers['content-type'], undefined)
    const html = await launch({ flowId: CONTACT_SYNC })
    t.equal(html.status, 502)
    t.equal(html.headers['content-type'], 'text/html')
    t.equal(html.text, '<html>Bad Gateway</html>')
    const custom = await launch({ flowId: CONTACT_SYNC })
    t.equal(custom.status, 503)
    t.same(custom.json, { oops: true })
    t.equal(custom.headers['retry-after'], 'Wed, 21 Oct 2015 07:28:00 GMT')
    t.match(custom.headers['inin-correlation-id'], UUID, 'faulted answers still carry the correlation id')
  })

  t.test('targets: token, execution, flows and any', async t => {
    const { launch, get, call, sandbox, token } = await startHarness(t)
    const bearer = await token()
    sandbox.faults.add({ target: 'token', kind: 'status', status: 502, times: 1 })
    const tokenRes = await call('POST', '/oauth/token', {
      headers: { authorization: basic('sandbox-client', 'sandbox-secret'), 'content-type': FORM },
      body: 'grant_type=client_credentials'
    })
    t.equal(tokenRes.status, 502)
    t.equal((await launch({ flowId: CONTACT_SYNC }, bearer)).status, 200, 'launches are not a token target')

    sandbox.faults.add({ target: 'flows', kind: 'status', status: 500, times: 1 })
    assertErrorBody(t, await get('/api/v2/flows', bearer), 500, 'internal.server.error')
    sandbox.faults.add({ target: 'execution', kind: 'status', status: 504, times: 1 })
    assertErrorBody(t, await get('/api/v2/flows/executions/x', bearer), 504, 'request.timeout')
    sandbox.faults.add({ target: 'any', kind: 'status', status: 503, times: 2 })
    t.equal((await get(`/api/v2/flows/${CONTACT_SYNC}`, bearer)).status, 503)
    t.equal((await launch({ flowId: CONTACT_SYNC }, bearer)).status, 503)
    t.equal((await launch({ flowId: CONTACT_SYNC }, bearer)).status, 200)
  })

  t.test('delay: answers normally, later', async t => {
    const { launch, sandbox } = await startHarness(t)
    await launch({ flowId: CONTACT_SYNC }) // token fetched outside the timed call
    sandbox.faults.add({ target: 'launch', kind: 'delay', ms: 150, times: 1 })
    const started = performance.now()
    const res = await launch({ flowId: CONTACT_SYNC })
    t.ok(performance.now() - started >= 140, 'took at least the delay')
    t.equal(res.status, 200)
    t.equal(sandbox.requests.at(-1)?.fault, 'delay')
  })

  t.test('delay then status: delays add up before the answering rule', async t => {
    const { launch, sandbox } = await startHarness(t)
    await launch({ flowId: CONTACT_SYNC })
    sandbox.faults.add({ target: 'launch', kind: 'delay', ms: 60, times: 1 })
    sandbox.faults.add({ target: 'launch', kind: 'status', status: 503, times: 1 })
    const started = performance.now()
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 503)
    t.ok(performance.now() - started >= 50)
    t.equal(sandbox.requests.at(-1)?.fault, 'delay+status')
  })

  t.test('reset: the connection drops without an answer', async t => {
    const { launch, sandbox } = await startHarness(t)
    await launch({ flowId: CONTACT_SYNC })
    sandbox.faults.add({ target: 'launch', kind: 'reset', times: 1 })
    const err = await launch({ flowId: CONTACT_SYNC, inputData: { 'Flow.contactId': 'c-9' } }).then(() => null, (e: Error & { code?: string }) => e)
    t.ok(err, 'the request fails')
    t.match(err?.code, /^(ECONNRESET|UND_ERR_SOCKET)$/)
    const record = sandbox.requests.at(-1)
    t.equal(record?.status, null)
    t.equal(record?.fault, 'reset')
    t.same(record?.body, { flowId: CONTACT_SYNC, inputData: { 'Flow.contactId': 'c-9' } }, 'the body that reached the sandbox is recorded')
    t.equal(sandbox.executions.size, 1, 'nothing was launched')
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200, 'next request is served')
  })

  t.test('hang: holds the request, then drops it', async t => {
    const { launch, sandbox } = await startHarness(t)
    await launch({ flowId: CONTACT_SYNC })
    sandbox.faults.add({ target: 'launch', kind: 'hang', ms: 120, times: 1 })
    const started = performance.now()
    const err = await launch({ flowId: CONTACT_SYNC }).then(() => null, (e: Error & { code?: string }) => e)
    t.ok(performance.now() - started >= 110, 'held for ms')
    t.equal(err?.code, 'UND_ERR_SOCKET')
    t.equal(sandbox.requests.at(-1)?.status, null)
  })

  t.test('hang longer than the test does not hold close() up', async t => {
    const { sandbox, token } = await startHarness(t)
    const bearer = await token()
    sandbox.faults.add({ target: 'launch', kind: 'hang', ms: 60_000 })
    const pending = request(`${sandbox.url}/api/v2/flows/executions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ flowId: CONTACT_SYNC })
    }).then(() => null, (e: Error) => e)
    while (sandbox.requests.length < 2) await new Promise(resolve => setImmediate(resolve))
    const started = performance.now()
    await sandbox.close()
    t.ok(performance.now() - started < 1000, 'closed promptly')
    t.ok(await pending, 'the hung request failed')
  })

  t.test('probability uses the injected random source', async t => {
    const rolls = [0.9, 0.1, 0.5]
    const { launch, sandbox } = await startHarness(t, { random: () => rolls.shift() ?? 0 })
    await launch({ flowId: CONTACT_SYNC, flowVersion: '3.0' }) // warms the token; no rule yet, so no roll
    sandbox.faults.add({ target: 'launch', kind: 'status', status: 503, probability: 0.5 })
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200, '0.9 ≥ 0.5: no fault')
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 503, '0.1 < 0.5: fault')
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200, '0.5 is not < 0.5')
  })

  t.test('HTTP control: POST, GET, DELETE /__sandbox/faults', async t => {
    const { call, launch } = await startHarness(t)
    const created = await call('POST', '/__sandbox/faults', {
      body: [
        { target: 'launch', kind: 'status', status: 503 },
        { target: 'token', kind: 'delay', ms: 5, probability: 0.5 }
      ]
    })
    t.equal(created.status, 201)
    t.equal(created.json.length, 2)
    t.match(created.json[0], { id: UUID, target: 'launch', kind: 'status', status: 503, fired: 0 })
    t.equal((await call('GET', '/__sandbox/faults')).json.length, 2)
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 503)
    t.equal((await call('DELETE', `/__sandbox/faults/${created.json[0].id as string}`)).status, 204)
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200)
    t.equal((await call('DELETE', '/__sandbox/faults')).status, 204)
    t.same((await call('GET', '/__sandbox/faults')).json, [])
    t.equal((await call('DELETE', '/__sandbox/faults/nope')).status, 404)

    const bad = await call('POST', '/__sandbox/faults', { body: { target: 'launch', kind: 'status', status: 503, oops: 1 } })
    assertErrorBody(t, bad, 400, 'bad.request')
    t.match(bad.json.message, /oops/)
    t.equal((await call('POST', '/__sandbox/faults', { body: { target: 'everything', kind: 'reset' } })).status, 400)
  })

  t.test('programmatic add validates too', async t => {
    const { sandbox } = await startHarness(t)
    t.throws(() => sandbox.faults.add({ target: 'launch', kind: 'status', status: 1000 }))
    t.throws(() => sandbox.faults.add({ target: 'launch', kind: 'delay' } as never))
  })
})

t.test('GET /api/v2/flows/executions/:id', async t => {
  t.test('RUNNING until afterMs, then FAILED with flowErrorInfo', async t => {
    const clock = fakeClock()
    const failing: SandboxFlow = {
      ...FLOWS[0] as SandboxFlow,
      id: 'failing',
      outcome: { status: 'FAILED', afterMs: 1500, errorCode: 'error.workflow.expression.unexpectedNull', errorMessage: 'An unexpected null value was encountered' }
    }
    const { launch, get } = await startHarness(t, { flows: [failing], now: clock.now })
    const { json: launched } = await launch({ flowId: 'failing', name: 'run-1' })
    const running = await get(`/api/v2/flows/executions/${launched.id as string}`)
    t.equal(running.status, 200)
    t.equal(running.json.status, 'RUNNING')
    t.equal(running.json.dateLaunched, '2026-01-15T10:00:00.000Z')
    t.notOk('dateCompleted' in running.json)
    t.notOk('completionReason' in running.json)

    clock.advance(1500)
    const failed = await get(`/api/v2/flows/executions/${launched.id as string}`)
    t.same(Object.keys(failed.json), ['id', 'name', 'flowVersion', 'dateLaunched', 'status', 'dateCompleted', 'completionReason', 'flowErrorInfo', 'selfUri'])
    t.match(failed.json, {
      id: launched.id,
      name: 'run-1',
      flowVersion: { id: '3.0', name: '3.0', selfUri: '/api/v2/flows/failing/versions/3.0', inputSchema: { title: 'Flow input schema' } },
      status: 'FAILED',
      dateCompleted: '2026-01-15T10:00:01.500Z',
      completionReason: 'Failure',
      selfUri: `/api/v2/flows/executions/${launched.id as string}`
    })
    t.same(failed.json.flowErrorInfo, {
      message: 'An unexpected null value was encountered',
      code: 'error.workflow.expression.unexpectedNull',
      messageWithParams: 'An unexpected null value was encountered',
      messageParams: {}
    })
  })

  t.test('COMPLETED with Success and outputData by default', async t => {
    const withOutputs: SandboxFlow = {
      id: 'outputs',
      name: 'Outputs',
      type: 'workflow',
      publishedVersion: '1.0',
      versions: [{ id: '1.0', inputs: {}, outputs: { status: 'string', count: 'integer' } }],
      outcome: { status: 'COMPLETED', outputData: { 'Flow.status': 'Complete' } }
    }
    const { launch, get } = await startHarness(t, { flows: [...FLOWS, withOutputs] })
    const plain = await get(`/api/v2/flows/executions/${(await launch({ flowId: CONTACT_SYNC })).json.id as string}`)
    t.match(plain.json, { status: 'COMPLETED', completionReason: 'Success', outputData: {} })
    t.notOk('flowErrorInfo' in plain.json)
    const outputs = await get(`/api/v2/flows/executions/${(await launch({ flowId: 'outputs' })).json.id as string}`)
    t.same(outputs.json.outputData, { 'Flow.status': 'Complete', 'Flow.count': null })
  })

  t.test('unknown execution → 404', async t => {
    const { get } = await startHarness(t)
    assertErrorBody(t, await get('/api/v2/flows/executions/00000000-0000-0000-0000-000000000000'), 404, 'not.found')
  })
})

t.test('flow and schema GETs', async t => {
  const expectedContactSyncSchema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Flow input schema',
    description: 'Schema defining flow input parameters.  Property names map to flow scoped variables marked as a flow input.  If you do not supply a property value for an input variable, the variable value will be set to the initial value configured on it in the flow at flow startup.',
    type: 'object',
    properties: {
      'Flow.contactId': { $ref: '#/definitions/archString' },
      'Flow.action': { $ref: '#/definitions/archString' },
      'Flow.email': { $ref: '#/definitions/archString' },
      'Flow.attempts': { $ref: '#/definitions/archInteger' }
    },
    additionalProperties: false,
    definitions: {
      archString: {
        archDataTypeId: 'str',
        oneOf: [
          { type: 'null', description: 'A NOT_SET String value.' },
          { type: 'string', maxLength: 32000, description: 'A character string.  Examples: "", "Hello", "Just say \\"No!\\""' }
        ]
      },
      archInteger: {
        archDataTypeId: 'int',
        oneOf: [
          { type: 'null', description: 'A NOT_SET Integer value.' },
          { type: 'integer', minimum: -999999999999999, maximum: 999999999999999, description: 'An integral numeric value.  Examples: -3, 0, 1736' },
          { type: 'string', minLength: 1, maxLength: 16, description: 'A string representation of an integral numeric value.  Examples: "157", "-999999999999999"' }
        ]
      }
    }
  }

  t.test('GET /api/v2/flows/:flowId/versions/:versionId has the raw input schema', async t => {
    const { get } = await startHarness(t)
    const res = await get(`/api/v2/flows/${CONTACT_SYNC}/versions/3.0`)
    t.equal(res.status, 200)
    t.same(res.json.inputSchema, expectedContactSyncSchema)
    t.same(Object.keys(res.json.inputSchema), ['$schema', 'title', 'description', 'type', 'properties', 'additionalProperties', 'definitions'])
    t.match(res.json, { id: '3.0', name: '3.0', datePublished: String, selfUri: `/api/v2/flows/${CONTACT_SYNC}/versions/3.0` })
    t.same(res.json.outputSchema.properties, {})
    t.notOk('definitions' in res.json.outputSchema, 'no definitions when nothing uses them')
    assertErrorBody(t, await get(`/api/v2/flows/${CONTACT_SYNC}/versions/7.0`), 404, 'not.found')
  })

  t.test('array inputs use type array with maxItems 2000', async t => {
    const { get, sandbox } = await startHarness(t)
    sandbox.upsertFlow({ id: 'arrays', name: 'Arrays', type: 'workflow', publishedVersion: '1.0', versions: [{ id: '1.0', inputs: { dates: 'date[]', flag: 'boolean' } }] })
    const { json } = await get('/api/v2/flows/arrays/versions/1.0')
    t.same(json.inputSchema.properties, {
      'Flow.dates': { type: 'array', maxItems: 2000, items: { $ref: '#/definitions/archDate' } },
      'Flow.flag': { $ref: '#/definitions/archBoolean' }
    })
    t.same(Object.keys(json.inputSchema.definitions), ['archDate', 'archBoolean'])
    t.equal(json.inputSchema.definitions.archBoolean.archDataTypeId, 'bool')
  })

  t.test('GET /api/v2/flows/:flowId', async t => {
    const { get } = await startHarness(t)
    const { json } = await get(`/api/v2/flows/${CONTACT_SYNC}`)
    t.match(json, { id: CONTACT_SYNC, name: 'Contact sync', type: 'WORKFLOW', publishedVersion: { id: '3.0' }, selfUri: `/api/v2/flows/${CONTACT_SYNC}` })
    t.notOk('inputSchema' in json, 'schemas come with includeSchemas on the list, or from the version')
    t.notOk('inputSchema' in json.publishedVersion)
    const draft = await get(`/api/v2/flows/${DRAFT}`)
    t.notOk('publishedVersion' in draft.json)
    t.equal((await get(`/api/v2/flows/${IVR}`)).json.type, 'INBOUNDCALL')
    assertErrorBody(t, await get('/api/v2/flows/nope'), 404, 'not.found')
  })

  t.test('GET /api/v2/flows?type=workflow&includeSchemas=true pages workflows', async t => {
    const { get } = await startHarness(t)
    const { json } = await get('/api/v2/flows?type=workflow&includeSchemas=true&pageSize=1&pageNumber=1')
    t.match(json, { pageSize: 1, pageNumber: 1, total: 2, pageCount: 2 })
    t.equal(json.entities.length, 1)
    t.equal(json.entities[0].id, CONTACT_SYNC)
    t.same(json.entities[0].inputSchema, expectedContactSyncSchema)
    t.match(json.nextUri, /pageNumber=2/)
    const page2 = await get('/api/v2/flows?type=workflow&includeSchemas=true&pageSize=1&pageNumber=2')
    t.equal(page2.json.entities[0].id, DRAFT)
    t.notOk('inputSchema' in page2.json.entities[0], 'unpublished flows have no schema')

    const all = await get('/api/v2/flows')
    t.equal(all.json.total, 3)
    t.equal(all.json.pageSize, 25)
    t.notOk(all.json.entities.some((flow: object) => 'inputSchema' in flow), 'no schemas unless asked')
    assertErrorBody(t, await get('/api/v2/flows?pageSize=0'), 400, 'bad.request')
    assertErrorBody(t, await get('/api/v2/flows?pageSize=501'), 400, 'bad.request')
  })

  t.test('GET /api/v2/flows filters by id and name, sorts by id or name', async t => {
    const { get } = await startHarness(t)
    const byName = await get('/api/v2/flows?name=*sync*')
    t.same(byName.json.entities.map((flow: { id: string }) => flow.id), [CONTACT_SYNC])
    const byIds = await get(`/api/v2/flows?id=${IVR}&id=${DRAFT}&sortBy=name&sortOrder=desc`)
    t.same(byIds.json.entities.map((flow: { name: string }) => flow.name), ['Main IVR', 'Draft workflow'])
    assertErrorBody(t, await get('/api/v2/flows?sortBy=type'), 400, 'bad.request')
    assertErrorBody(t, await get('/api/v2/flows?sortOrder=up'), 400, 'bad.request')
  })

  t.test('GET /api/v2/flows/:flowId/versions', async t => {
    const { get } = await startHarness(t)
    const { json } = await get(`/api/v2/flows/${CONTACT_SYNC}/versions`)
    t.same(json.entities.map((version: { id: string }) => version.id), ['2.0', '3.0'])
    t.equal(json.total, 2)
  })
})

t.test('recording, correlation ids and the control API', async t => {
  t.test('records requests with the Authorization header redacted', async t => {
    const { launch, call, sandbox } = await startHarness(t)
    await launch({ flowId: CONTACT_SYNC, inputData: { 'Flow.contactId': 'c-1' } })
    t.equal(sandbox.requests.length, 2)
    const [tokenRequest, launchRequest] = sandbox.requests
    t.match(tokenRequest, { method: 'POST', path: '/oauth/token', status: 200, body: { grant_type: 'client_credentials' } })
    t.equal(tokenRequest?.headers['authorization'], '[redacted]')
    t.match(launchRequest, {
      method: 'POST',
      path: '/api/v2/flows/executions',
      status: 200,
      clientId: 'sandbox-client',
      body: { flowId: CONTACT_SYNC, inputData: { 'Flow.contactId': 'c-1' } },
      correlationId: UUID
    })
    t.equal(launchRequest?.headers['authorization'], '[redacted]')
    t.ok(Number.isFinite(Date.parse(launchRequest?.time ?? '')))

    const listed = await call('GET', '/__sandbox/requests')
    t.equal(listed.json.length, 2, 'control routes are not recorded')
    t.notOk(listed.text.includes('Bearer'), 'no token leaks through the control API')
    t.match((await call('GET', '/__sandbox/stats')).json, { requests: 2, launches: 1, tokensIssued: 1 })
    t.equal((await call('GET', '/__sandbox/executions')).json.length, 1)

    t.equal((await call('POST', '/__sandbox/reset')).status, 204)
    t.equal(sandbox.requests.length, 0)
    t.equal(sandbox.executions.size, 0)
    t.match(sandbox.stats, { requests: 0, launches: 0, tokensIssued: 0 })
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200, 'flows and tokens survive reset')
  })

  t.test('secrets sent in a token form body are redacted too', async t => {
    const { call, sandbox } = await startHarness(t)
    const res = await call('POST', '/oauth/token', {
      headers: { 'content-type': FORM },
      body: 'grant_type=client_credentials&client_id=sandbox-client&client_secret=sandbox-secret'
    })
    t.equal(res.status, 401, 'credentials go in the Basic header, not the body')
    t.same(sandbox.requests[0]?.body, { grant_type: 'client_credentials', client_id: 'sandbox-client', client_secret: '[redacted]' })
  })

  t.test('reset clears faults and rate windows', async t => {
    const { launch, sandbox } = await startHarness(t, { rateLimitPerMinute: 1 })
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200)
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 429)
    sandbox.faults.add({ target: 'any', kind: 'status', status: 500 })
    sandbox.reset()
    t.equal((await launch({ flowId: CONTACT_SYNC })).status, 200)
  })

  t.test('POST /__sandbox/flows upserts a flow', async t => {
    const { call, launch } = await startHarness(t)
    const flow = { id: 'new-flow', name: 'New', type: 'workflow', publishedVersion: '1.0', versions: [{ id: '1.0', inputs: { x: 'decimal' } }] }
    t.equal((await call('POST', '/__sandbox/flows', { body: flow })).status, 200)
    t.equal((await launch({ flowId: 'new-flow', inputData: { 'Flow.x': 1.5 } })).status, 200)
    const bad = await call('POST', '/__sandbox/flows', { body: { ...flow, versions: [{ id: '1.0', inputs: { 'Flow.x': 'decimal' } }] } })
    assertErrorBody(t, bad, 400, 'bad.request')
    t.match(bad.json.message, /Flow\./)
    t.equal((await call('POST', '/__sandbox/flows', { body: { ...flow, publishedVersion: '2.0' } })).status, 400)
    t.equal((await call('POST', '/__sandbox/flows', { body: { ...flow, versions: [{ id: '1.0', inputs: { x: 'money' } }] } })).status, 400)
  })

  t.test('unknown routes answer an ErrorBody 404', async t => {
    const { call } = await startHarness(t)
    assertErrorBody(t, await call('GET', '/api/v2/users/me'), 404, 'not.found')
  })

  t.test('buildSandboxApp works with inject', async t => {
    const state = createSandboxState({ flows: FLOWS, clients: [CLIENT] })
    const app = buildSandboxApp({ flows: FLOWS, clients: [CLIENT] }, state)
    t.teardown(() => app.close())
    const tokenRes = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: basic('sandbox-client', 'sandbox-secret'), 'content-type': FORM },
      payload: 'grant_type=client_credentials'
    })
    const res = await app.inject({
      method: 'POST',
      url: '/api/v2/flows/executions',
      headers: { authorization: `Bearer ${tokenRes.json().access_token as string}` },
      payload: { flowId: CONTACT_SYNC }
    })
    t.equal(res.statusCode, 200)
    t.equal(state.executions.size, 1)
    t.equal(res.headers['inin-correlation-id'], state.requests.at(-1)?.correlationId)
  })
})
