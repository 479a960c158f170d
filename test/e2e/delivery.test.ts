import t from 'tap'
import { basicMappings, contactEvent, flowId, startBridge, waitFor, webhookSecret } from '../helper.js'
import { clientSecret, startTestSandbox } from '../sandbox-helper.js'

/** Waits until the delivery reaches a final state and returns its detail. */
async function settled (bridge: Awaited<ReturnType<typeof startBridge>>, id: string, timeoutMs = 10_000): Promise<NonNullable<Awaited<ReturnType<typeof bridge.app.bridge.store.getDelivery>>>> {
  return await waitFor(async () => {
    const d = await bridge.app.bridge.store.getDelivery(id)
    // A committed row is visible before its fsync ends; the dispatcher logs the end after it.
    const logged = bridge.logs.lines.some(line => line.deliveryId === id && ['delivery.succeeded', 'delivery.failed', 'delivery.dry_run'].includes(line.event as string))
    return d !== null && ['succeeded', 'failed', 'dry_run'].includes(d.state) && logged ? d : null
  }, timeoutMs, `delivery ${id} to finish`)
}

t.test('a webhook launches the flow with the exact request body', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  const response = await bridge.post(contactEvent('evt-1'))
  t.equal(response.status, 202)
  t.same(response.body.duplicates, [])
  t.equal(response.body.accepted.length, 1)
  const deliveryId = response.body.accepted[0].deliveryId
  const delivery = await settled(bridge, deliveryId)
  t.equal(delivery.state, 'succeeded')
  const [launch] = sandbox.launches()
  t.same(launch!.body, {
    flowId,
    inputData: { 'Flow.contactId': '003A', 'Flow.action': 'sync', 'Flow.email': 'ada@example.com', 'Flow.attempts': 3 },
    name: `crm-flow-bridge ${deliveryId}`
  })
  t.equal(launch!.status, 200)
  const execution = [...sandbox.state.executions.values()][0]!
  t.equal(delivery.executionId, execution.id)
  t.equal(delivery.attemptLog.length, 1)
  t.equal(delivery.attemptLog[0]!.status, 200)
  t.ok(delivery.attemptLog[0]!.correlationId, 'the correlation id is kept')
  const attemptLine = bridge.logs.events('delivery.attempt')[0]!
  t.equal(attemptLine.status, 200)
  t.equal((attemptLine.request as any).inputData['Flow.email'], '[redacted]', 'redacted inputs are masked in logs')
  t.same(attemptLine.response, { id: execution.id, name: execution.name, flowVersion: (attemptLine.response as any).flowVersion, selfUri: (attemptLine.response as any).selfUri })
  t.equal(bridge.logs.events('delivery.succeeded')[0]!.executionId, execution.id)
  const accepted = bridge.logs.events('webhook.accepted')[0]!
  t.same(accepted.deliveryIds, [deliveryId], 'the webhook\'s line names the delivery it queued')
  t.match(accepted, { source: 'crm', status: 202, ip: '127.0.0.1', ms: Number })
  const requestLines = bridge.logs.lines.filter(line => line.reqId === accepted.reqId && line.level !== 'debug')
  t.same(requestLines.map(line => line.event ?? line.msg), ['webhook.accepted'], 'one line per webhook above debug, none of fastify\'s request lines')
  t.equal(bridge.logs.events('delivery.queued')[0]!.deliveryId, deliveryId)
})

t.test('503s are retried with backoff until the launch goes through', async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 503, times: 2 })
  const bridge = await startBridge(t, { env: sandbox.env })
  const response = await bridge.post(contactEvent('evt-503'))
  const delivery = await settled(bridge, response.body.accepted[0].deliveryId)
  t.equal(delivery.state, 'succeeded')
  t.same(delivery.attemptLog.map(a => [a.outcome, a.status]), [['retry', 503], ['retry', 503], ['succeeded', 200]])
  t.equal(bridge.logs.events('delivery.retry_scheduled').length, 2)
  t.equal(sandbox.launches().length, 3)
})

t.test("a 429's Retry-After is respected", async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 429, retryAfter: 1, times: 1 })
  const bridge = await startBridge(t, { env: sandbox.env })
  const response = await bridge.post(contactEvent('evt-429'))
  const delivery = await settled(bridge, response.body.accepted[0].deliveryId)
  t.equal(delivery.state, 'succeeded')
  const [first, second] = sandbox.launches()
  t.equal(first!.status, 429)
  const gap = Date.parse(second!.time) - Date.parse(first!.time)
  t.ok(gap >= 1000, `second attempt ${gap} ms after the 429 (Retry-After: 1)`)
  t.equal(bridge.logs.events('delivery.retry_scheduled')[0]!.delayMs as number >= 1000, true)
})

t.test('a 400 is not retried and is explained', async t => {
  const sandbox = await startTestSandbox(t)
  const mappings = basicMappings({ inputs: '      contactId: { from: record.id }\n      nickname: { value: Ada }' }).replace('redact: [email]', '')
  const bridge = await startBridge(t, { env: sandbox.env, mappings })
  const response = await bridge.post(contactEvent('evt-400'))
  const delivery = await settled(bridge, response.body.accepted[0].deliveryId)
  t.equal(delivery.state, 'failed')
  t.equal(delivery.attemptLog.length, 1, 'not retried')
  t.equal(delivery.lastStatus, 400)
  t.match(delivery.lastError, /HTTP 400; code [\w.]+; .*Flow\.nickname/)
  t.match(delivery.lastError, /correlation [0-9a-f-]{36}/)
  t.match(delivery.hint, /validate --remote/)
  const failed = bridge.logs.events('delivery.failed')[0]!
  t.equal(failed.level, 'error')
  t.equal(failed.status, 400)
})

t.test('a 400 with an empty body gets a hint listing the usual causes', async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 400, body: '', times: 1 })
  const bridge = await startBridge(t, { env: sandbox.env })
  const response = await bridge.post(contactEvent('evt-empty-400'))
  const delivery = await settled(bridge, response.body.accepted[0].deliveryId)
  t.equal(delivery.state, 'failed')
  t.match(delivery.lastError, /HTTP 400; \(empty body\)/)
  t.match(delivery.hint, /empty body.*"Flow\." prefix.*not declared as flow inputs.*wrong type.*published workflow/)
})

t.test('the token is reused, refreshed before expiry, and fetched again on a 401', async t => {

  const sandbox = await startTestSandbox(t, { clients: [{ clientId: 'bridge-client-id', clientSecret, tokenTtlSeconds: 600 }] })
  const bridge = await startBridge(t, { env: sandbox.env })
  for (const id of ['tok-1', 'tok-2', 'tok-3']) {
    const r = await bridge.post(contactEvent(id, { id: id.toUpperCase() }))
    await settled(bridge, r.body.accepted[0].deliveryId)
  }
  t.equal(sandbox.issuedTokens.length, 1, 'one token for three launches')

  sandbox.state.revokeTokens()
  const revoked = await bridge.post(contactEvent('tok-4', { id: 'TOK-4' }))
  const afterRevoke = await settled(bridge, revoked.body.accepted[0].deliveryId)
  t.equal(afterRevoke.state, 'succeeded')
  t.equal(afterRevoke.attemptLog.length, 1, 'the 401 was handled inside the attempt')
  t.equal(sandbox.issuedTokens.length, 2, 'a new token after the 401')
  t.equal(bridge.logs.events('genesys.token_rejected').length, 1)
})

t.test('a token near expiry is refreshed before use', async t => {
  const sandbox = await startTestSandbox(t, { clients: [{ clientId: 'bridge-client-id', clientSecret, tokenTtlSeconds: 1 }] })
  const bridge = await startBridge(t, { env: sandbox.env })
  const first = await bridge.post(contactEvent('exp-1', { id: 'E1' }))
  await settled(bridge, first.body.accepted[0].deliveryId)
  await new Promise(resolve => setTimeout(resolve, 1100))
  const second = await bridge.post(contactEvent('exp-2', { id: 'E2' }))
  const delivery = await settled(bridge, second.body.accepted[0].deliveryId)
  t.equal(delivery.state, 'succeeded')
  t.equal(sandbox.issuedTokens.length, 2)
  t.equal(bridge.logs.events('genesys.token_rejected').length, 0, 'refreshed ahead of expiry, not after a 401')
})

t.test('the same event is accepted once; later copies answer 2xx as duplicates', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  const body = contactEvent('evt-dup')
  const first = await bridge.post(body)
  const copies = await Promise.all([bridge.post(body), bridge.post(body)])
  t.equal(first.status, 202)
  for (const copy of copies) {
    t.equal(copy.status, 202)
    t.same(copy.body.accepted, [])
    t.same(copy.body.duplicates, ['evt-dup'])
  }
  await settled(bridge, first.body.accepted[0].deliveryId)
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(sandbox.launches().length, 1)
})

t.test('a restart in the middle of a retry schedule still delivers', async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 503, retryAfter: 2, times: 1 })
  const first = await startBridge(t, { env: sandbox.env })
  const dir = first.dbFile.replace(/\/bridge\.db$/, '')
  const response = await first.post(contactEvent('evt-restart'))
  const id = response.body.accepted[0].deliveryId
  await waitFor(async () => (await first.app.bridge.store.getDelivery(id))?.attempts === 1 && (await first.app.bridge.store.getDelivery(id))?.state === 'queued', 5000, 'the first attempt to fail')
  await first.app.close()
  t.equal(sandbox.launches().length, 1)

  const second = await startBridge(t, { env: sandbox.env, dir })
  const delivery = await settled(second, id)
  t.equal(delivery.state, 'succeeded')
  t.same(delivery.attemptLog.map(a => a.status), [503, 200])
  t.ok(Date.parse(sandbox.launches()[1]!.time) - Date.parse(sandbox.launches()[0]!.time) >= 2000, 'the schedule from before the restart held')
})

t.test('bad input is rejected with a clear JSON error and nothing is stored or launched', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, BODY_LIMIT_BYTES: '2048' } })
  const body = contactEvent('evt-bad')
  const cases: Array<[string, Promise<{ status: number, body: any }>, number, string]> = [
    ['bad signature', bridge.post(body, { 'x-signature': 'sha256=' + '0'.repeat(64) }), 401, 'bad_signature'],
    ['missing signature', bridge.post(body, { 'x-signature': '' }), 401, 'missing_signature'],
    ['malformed JSON', bridge.post('{"id": "x",', {}), 400, 'malformed_body'],
    ['no event id', bridge.post(JSON.stringify({ record: { id: 'A', type: 'Contact' } })), 400, 'missing_event_id'],
    ['wrong content type', bridge.post(body, { 'content-type': 'text/plain' }), 415, 'unsupported_content_type'],
    ['too large', bridge.post(JSON.stringify({ id: 'big', pad: 'x'.repeat(4000) })), 413, 'body_too_large']
  ]
  for (const [name, pending, status, code] of cases) {
    const response = await pending
    t.equal(response.status, status, name)
    t.equal(response.body.error, code, name)
    t.type(response.body.message, 'string', name)
  }
  const unknown = await fetch(`${bridge.url}/webhooks/nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal(unknown.status, 404)
  t.equal((await unknown.json() as any).error, 'unknown_source')
  const stats = await bridge.app.bridge.store.stats()
  t.same(Object.values(stats.byState).reduce((a, b) => a + b, 0), 0, 'nothing stored')
  t.equal(sandbox.launches().length, 0, 'nothing launched')
  t.ok(bridge.logs.events('webhook.rejected').length >= 6)
})

t.test('an event no route matches is answered as unmatched and not stored', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  const response = await bridge.post(contactEvent('evt-lead', { type: 'Lead' }))
  t.equal(response.status, 202)
  t.same(response.body, { events: 1, accepted: [], duplicates: [], unmatched: ['evt-lead'] })
  t.equal((await bridge.app.bridge.store.stats()).byState.queued, 0)
})

t.test('a value that cannot be converted fails the delivery at once, without a launch', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  const response = await bridge.post(contactEvent('evt-type', { count: 'three' }))
  const delivery = await settled(bridge, response.body.accepted[0].deliveryId)
  t.equal(delivery.state, 'failed')
  t.match(delivery.lastError, /mapping failed: Flow\.attempts: cannot convert to integer: "three" is not an integer/)
  t.equal(sandbox.launches().length, 0)
})

t.test('dry-run maps and logs the exact request and sends nothing', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, DRY_RUN: 'true' } })
  const response = await bridge.post(contactEvent('evt-dry'))
  const delivery = await settled(bridge, response.body.accepted[0].deliveryId)
  t.equal(delivery.state, 'dry_run')
  const line = bridge.logs.events('delivery.dry_run')[0]!
  t.same((line.request as any).inputData, { 'Flow.contactId': '003A', 'Flow.action': 'sync', 'Flow.email': '[redacted]', 'Flow.attempts': 3 })
  t.equal(sandbox.state.requests.length, 0, 'not even a token request')
})

t.test('no secret appears in any log line', async t => {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: 'status', status: 401, times: 1 })
  const bridge = await startBridge(t, { env: sandbox.env })
  const body = contactEvent('evt-secret', { email: 'secret.person@example.com' })
  const ok = await bridge.post(body)
  await bridge.post(body, { 'x-signature': 'sha256=deadbeef' })
  await settled(bridge, ok.body.accepted[0].deliveryId)
  const text = bridge.logs.text()
  t.ok(text.length > 1000, 'there are logs to scan')
  t.ok(sandbox.issuedTokens.length >= 1)
  for (const secret of [clientSecret, webhookSecret, ...sandbox.issuedTokens, 'secret.person@example.com', Buffer.from(`bridge-client-id:${clientSecret}`).toString('base64')]) {
    t.notOk(text.includes(secret), `log does not contain ${secret.slice(0, 6)}…`)
  }
})

t.test('a broken mappings file stops startup naming the file, line and path', async t => {
  const broken = basicMappings().replace('recordType: Contact', 'recordTyp: Contact')
  await t.rejects(startBridge(t, { mappings: broken }), /mappings\.yaml is invalid:\n {2}line 14: routes\[0\]\.when: unknown key "recordTyp"/)
})
