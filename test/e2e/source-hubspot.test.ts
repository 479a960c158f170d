/**
 * HubSpot app webhooks through the real service (127.0.0.1) and the Genesys sandbox: v3 signatures
 * over the configured public URL (and over the URL the bridge reconstructs when none is configured),
 * a batch split into events and routes, duplicates, and refusals with nothing stored.
 */
import t, { type Test } from 'tap'
import { startBridge, type RunningBridge } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { fixture, hmacBase64 } from '../sources/helpers.js'
import { allDeliveries, assertNothingStored, JSON_CONTENT_TYPE, launchesByDelivery, postRaw, rejectedLines, settleAll, workflow, type RawResponse } from './source-helpers.js'

const SECRET = 'hubspot-app-client-secret-e2e-7f3a'
const VECTOR_SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy'
const PUBLIC_URL = 'https://bridge.example.com/webhooks/hubspot'
const EVENT_FLOW = '6a0b5c1d-0000-4000-8000-0000000000e1'
const CONTACT_FLOW = '6a0b5c1d-0000-4000-8000-0000000000e2'

const eventInputs = `
      objectId: { from: record.id, required: true }
      recordType: record.type
      eventType: event.type
      eventId: event.id
      occurredAt: { from: event.occurredAt, type: datetime }
      property: "record.changed[0]"
      value: raw.propertyValue
      attempt: { from: raw.attemptNumber, type: integer }
      portal: { from: raw.portalId, type: integer }`

// `hubspot` sits behind a proxy (publicUrl set, the production case); `hubspot-direct` is called
// on the address the bridge listens on; `hubspot-legacy` also accepts v1 (HubSpot's published vector).
const mappings = `
sources:
  hubspot:
    type: hubspot
    clientSecret: "\${HUBSPOT_CLIENT_SECRET}"
    publicUrl: ${PUBLIC_URL}
  hubspot-direct:
    type: hubspot
    clientSecret: "\${HUBSPOT_CLIENT_SECRET}"
  hubspot-legacy:
    type: hubspot
    clientSecret: ${VECTOR_SECRET}
    signatureVersions: [v3, v1]
routes:
  - name: hs-contact-lifecycle
    source: hubspot
    when: { recordType: contact, changed: [lifecyclestage] }
    flow: { id: ${CONTACT_FLOW} }
    inputs:
      contactId: { from: record.id, required: true }
      lifecycle: record.fields.lifecyclestage
      eventId: event.id
  - name: hs-events
    source: hubspot
    flow: { id: ${EVENT_FLOW} }
    inputs:${eventInputs}
  - name: hs-direct
    source: hubspot-direct
    flow: { id: ${EVENT_FLOW} }
    inputs:${eventInputs}
  - name: hs-legacy
    source: hubspot-legacy
    flow: { id: ${EVENT_FLOW} }
    inputs:${eventInputs}
`

const flows = [
  workflow(EVENT_FLOW, 'HubSpot event', {
    objectId: 'string', recordType: 'string', eventType: 'string', eventId: 'string', occurredAt: 'datetime', property: 'string', value: 'string', attempt: 'integer', portal: 'integer'
  }),
  workflow(CONTACT_FLOW, 'HubSpot contact lifecycle', { contactId: 'string', lifecycle: 'string', eventId: 'string' })
]

async function start (t: Test) {
  const sandbox = await startTestSandbox(t, { flows })
  const bridge = await startBridge(t, { env: { ...sandbox.env, HUBSPOT_CLIENT_SECRET: SECRET }, mappings })
  return { sandbox, bridge }
}

/** Headers HubSpot sends with a v3 signature over `signedUrl` (what HubSpot believes it called). */
function v3Headers (body: string | Buffer, signedUrl: string, options: { timestamp?: number, secret?: string } = {}): Record<string, string> {
  const timestamp = String(options.timestamp ?? Date.now())
  return {
    'content-type': 'application/json',
    'x-hubspot-request-timestamp': timestamp,
    'x-hubspot-signature-v3': hmacBase64(options.secret ?? SECRET, 'POST', signedUrl, body, timestamp)
  }
}

async function postSigned (bridge: RunningBridge, path: string, body: string | Buffer, signedUrl: string): Promise<RawResponse> {
  return await postRaw(bridge, path, body, v3Headers(body, signedUrl))
}

/** A one-event batch with its own ids, so each post is a new event. */
function oneEvent (eventId: number, objectId: number): string {
  return JSON.stringify([{ eventId, subscriptionId: 25, portalId: 33, appId: 1160452, occurredAt: 1714642215000, subscriptionType: 'contact.propertyChange', attemptNumber: 0, objectId, propertyName: 'email', propertyValue: 'ada@example.com', changeSource: 'CRM_UI' }])
}

const batch = fixture('hubspot/batch.json')
const iso = (ms: number): string => new Date(ms).toISOString()

t.test('a signed 3-event batch: 200 JSON summary, every event launched per route with the mapped inputs', async t => {
  const { sandbox, bridge } = await start(t)
  const response = await postSigned(bridge, '/webhooks/hubspot', batch, PUBLIC_URL)
  t.equal(response.status, 200)
  t.equal(response.contentType, JSON_CONTENT_TYPE)
  t.same(Object.keys(response.json), ['events', 'accepted', 'duplicates', 'unmatched'])
  t.equal(response.json.events, 3)
  t.same(response.json.duplicates, [])
  t.same(response.json.unmatched, [])
  t.same(response.json.accepted.map((a: any) => `${a.eventId} ${a.route}`).sort(), [
    '3816279340 hs-contact-lifecycle', '3816279340 hs-events', '3816279341 hs-events', '3816279342 hs-events'
  ], 'one delivery per (event, matched route)')

  // Replied after the commit: every delivery of the request is already stored.
  const stored = await allDeliveries(bridge)
  t.same(stored.map(d => d.id).sort(), response.json.accepted.map((a: any) => a.deliveryId).sort())

  const deliveries = await settleAll(bridge, 4)
  t.ok(deliveries.every(d => d.state === 'succeeded'), 'all launched')
  const launches = launchesByDelivery(sandbox)
  const launchOf = (eventId: string, route: string): any => {
    const accepted = response.json.accepted.find((a: any) => a.eventId === eventId && a.route === route)
    return launches.get(accepted.deliveryId)
  }
  t.same(launchOf('3816279340', 'hs-contact-lifecycle').inputData, { 'Flow.contactId': '1246965', 'Flow.lifecycle': 'subscriber', 'Flow.eventId': '3816279340' })
  t.equal(launchOf('3816279340', 'hs-contact-lifecycle').flowId, CONTACT_FLOW)
  t.same(launchOf('3816279340', 'hs-events').inputData, {
    'Flow.objectId': '1246965', 'Flow.recordType': 'contact', 'Flow.eventType': 'contact.propertyChange', 'Flow.eventId': '3816279340', 'Flow.occurredAt': iso(1462216307945), 'Flow.property': 'lifecyclestage', 'Flow.value': 'subscriber', 'Flow.attempt': 0, 'Flow.portal': 33
  })
  t.same(launchOf('3816279341', 'hs-events').inputData, {
    'Flow.objectId': '9876543210', 'Flow.recordType': 'deal', 'Flow.eventType': 'deal.creation', 'Flow.eventId': '3816279341', 'Flow.occurredAt': iso(1462216307946), 'Flow.attempt': 0, 'Flow.portal': 33
  }, 'a creation has no property: those inputs are left out')
  t.same(launchOf('3816279342', 'hs-events').inputData, {
    'Flow.objectId': '555', 'Flow.recordType': '0-5', 'Flow.eventType': 'object.propertyChange', 'Flow.eventId': '3816279342', 'Flow.occurredAt': iso(1462216307947), 'Flow.property': 'hs_pipeline_stage', 'Flow.value': '4', 'Flow.attempt': 1, 'Flow.portal': 33
  })
  t.notOk(bridge.logs.text().includes(SECRET), 'the client secret is in no log line')
})

t.test('a redelivered batch (re-signed with a new timestamp) is accepted as duplicates; nothing new stored or launched', async t => {
  const { sandbox, bridge } = await start(t)
  t.equal((await postSigned(bridge, '/webhooks/hubspot', batch, PUBLIC_URL)).status, 200)
  await settleAll(bridge, 4)
  await new Promise(resolve => setTimeout(resolve, 5))
  const again = await postSigned(bridge, '/webhooks/hubspot', batch, PUBLIC_URL)
  t.equal(again.status, 200)
  t.equal(again.contentType, JSON_CONTENT_TYPE)
  t.same(again.json, { events: 3, accepted: [], duplicates: ['3816279340', '3816279341', '3816279342'], unmatched: [] })
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal((await allDeliveries(bridge)).length, 4, 'nothing new stored')
  t.equal(sandbox.launches().length, 4, 'nothing new launched')
})

t.test('v3 covers the URL: the configured publicUrl passes, the URL the bridge sees does not', async t => {
  const { sandbox, bridge } = await start(t)
  const seen = `${bridge.url}/webhooks/hubspot`

  const wrongUrl = await postSigned(bridge, '/webhooks/hubspot', oneEvent(1, 101), seen)
  t.equal(wrongUrl.status, 401, 'signed over the listening address, but HubSpot calls the public URL')
  t.same(wrongUrl.json, { error: 'bad_signature', message: 'X-HubSpot-Signature-v3 does not match the request' })
  t.match(rejectedLines(bridge, 'hubspot').at(-1), { code: 'bad_signature', status: 401 })

  const right = await postSigned(bridge, '/webhooks/hubspot', oneEvent(2, 102), PUBLIC_URL)
  t.equal(right.status, 200)
  t.equal(right.json.accepted.length, 1)

  // The query string HubSpot was given is part of what it signs; percent-encoded ':' is decoded first.
  const withQuery = await postSigned(bridge, '/webhooks/hubspot?portal=33&tag=a%3Ab', oneEvent(3, 103), `${PUBLIC_URL}?portal=33&tag=a:b`)
  t.equal(withQuery.status, 200, 'the received query is appended to publicUrl')
  const queryDropped = await postSigned(bridge, '/webhooks/hubspot?portal=33', oneEvent(4, 104), PUBLIC_URL)
  t.equal(queryDropped.status, 401, 'a signature without the query does not cover a request with one')

  const deliveries = await settleAll(bridge, 2)
  t.same(deliveries.map(d => d.event.event.id).sort(), ['2', '3'])
  t.equal(sandbox.launches().length, 2)
})

t.test('without publicUrl, v3 is checked over the URL the bridge reconstructs (http://127.0.0.1:<port>/…)', async t => {
  const { sandbox, bridge } = await start(t)
  const reconstructed = `${bridge.url}/webhooks/hubspot-direct`
  t.match(reconstructed, /^http:\/\/127\.0\.0\.1:\d+\/webhooks\/hubspot-direct$/)

  const right = await postSigned(bridge, '/webhooks/hubspot-direct', oneEvent(10, 201), reconstructed)
  t.equal(right.status, 200)
  t.same(right.json.accepted.map((a: any) => [a.eventId, a.route]), [['10', 'hs-direct']])

  const publicSigned = await postSigned(bridge, '/webhooks/hubspot-direct', oneEvent(11, 202), 'https://bridge.example.com/webhooks/hubspot-direct')
  t.equal(publicSigned.status, 401, 'a different host and scheme than the bridge sees')
  t.equal(publicSigned.json.error, 'bad_signature')
  const otherPort = await postSigned(bridge, '/webhooks/hubspot-direct', oneEvent(12, 203), reconstructed.replace(/:(\d+)\//, (_m, port: string) => `:${Number(port) + 1}/`))
  t.equal(otherPort.status, 401, 'the port is part of the signed URL')

  const [delivery] = await settleAll(bridge, 1)
  t.same(launchesByDelivery(sandbox).get(delivery!.id)?.inputData, {
    'Flow.objectId': '201', 'Flow.recordType': 'contact', 'Flow.eventType': 'contact.propertyChange', 'Flow.eventId': '10', 'Flow.occurredAt': iso(1714642215000), 'Flow.property': 'email', 'Flow.value': 'ada@example.com', 'Flow.attempt': 0, 'Flow.portal': 33
  })
})

t.test("HubSpot's published v1 vector passes on a source that allows v1", async t => {
  const { sandbox, bridge } = await start(t)
  const response = await postRaw(bridge, '/webhooks/hubspot-legacy', fixture('hubspot/v1-vector.json'), {
    'content-type': 'application/json',
    'x-hubspot-signature': '232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de',
    'x-hubspot-signature-version': 'v1'
  })
  t.equal(response.status, 200)
  const [delivery] = await settleAll(bridge, 1)
  t.same(launchesByDelivery(sandbox).get(delivery!.id)?.inputData, {
    'Flow.objectId': '123', 'Flow.recordType': 'contact', 'Flow.eventType': 'contact.creation', 'Flow.eventId': '1', 'Flow.occurredAt': iso(1564113600000), 'Flow.attempt': 0, 'Flow.portal': 62515
  })
})

t.test('refusals: JSON {error, message}, 4xx, a webhook.rejected line with the reason code, nothing stored', async t => {
  const { sandbox, bridge } = await start(t)
  const body = batch
  const staleAt = Date.now() - 6 * 60_000
  // Two good events and one without an id: the whole request is refused, not two thirds of it.
  const partlyBad = JSON.stringify([...JSON.parse(batch.toString('utf8')).slice(0, 2), { objectId: 1, subscriptionType: 'contact.creation' }])
  const cases: Array<{ name: string, path?: string, body: string | Buffer, headers: Record<string, string>, status: number, code: string }> = [
    { name: 'signed with another secret', body, headers: v3Headers(body, PUBLIC_URL, { secret: 'not-the-secret' }), status: 401, code: 'bad_signature' },
    { name: 'body changed after signing', body: body.toString('utf8').replace('subscriber', 'customer'), headers: v3Headers(body, PUBLIC_URL), status: 401, code: 'bad_signature' },
    { name: 'signed timestamp 6 minutes old', body, headers: v3Headers(body, PUBLIC_URL, { timestamp: staleAt }), status: 401, code: 'stale_timestamp' },
    { name: 'signed timestamp 6 minutes ahead', body, headers: v3Headers(body, PUBLIC_URL, { timestamp: Date.now() + 6 * 60_000 }), status: 401, code: 'stale_timestamp' },
    { name: 'fresh timestamp header on an old signature', body, headers: { ...v3Headers(body, PUBLIC_URL, { timestamp: staleAt }), 'x-hubspot-request-timestamp': String(Date.now()) }, status: 401, code: 'bad_signature' },
    { name: 'timestamp not in milliseconds', body, headers: { ...v3Headers(body, PUBLIC_URL), 'x-hubspot-request-timestamp': '2024-05-02T09:30:00Z' }, status: 401, code: 'bad_timestamp' },
    { name: 'no signature', body, headers: { 'content-type': 'application/json' }, status: 401, code: 'missing_signature' },
    { name: 'v1 only, on a v3 source', body, headers: { 'content-type': 'application/json', 'x-hubspot-signature': 'ab'.repeat(32), 'x-hubspot-signature-version': 'v1' }, status: 401, code: 'missing_signature' },
    { name: 'truncated JSON, validly signed', body: body.subarray(0, 100), headers: v3Headers(body.subarray(0, 100), PUBLIC_URL), status: 400, code: 'malformed_body' },
    { name: 'an object instead of an array, validly signed', body: '{"eventId":1}', headers: v3Headers('{"eventId":1}', PUBLIC_URL), status: 400, code: 'malformed_body' },
    { name: 'an event without eventId, validly signed', body: '[{"objectId":1}]', headers: v3Headers('[{"objectId":1}]', PUBLIC_URL), status: 400, code: 'missing_event_id' },
    { name: 'a batch whose third event has no eventId', body: partlyBad, headers: v3Headers(partlyBad, PUBLIC_URL), status: 400, code: 'missing_event_id' },
    { name: 'a form body', body, headers: { ...v3Headers(body, PUBLIC_URL), 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported_content_type' }
  ]
  for (const c of cases) {
    const response = await postRaw(bridge, c.path ?? '/webhooks/hubspot', c.body, c.headers)
    t.equal(response.status, c.status, `${c.name}: status`)
    t.equal(response.contentType, JSON_CONTENT_TYPE, `${c.name}: JSON`)
    t.same(Object.keys(response.json ?? {}), ['error', 'message'], `${c.name}: {error, message}`)
    t.equal(response.json?.error, c.code, `${c.name}: ${c.code}`)
    const line = rejectedLines(bridge, 'hubspot').at(-1)
    t.match(line, { level: 'warn', code: c.code, status: c.status, reason: response.json?.message }, `${c.name}: logged with its reason`)
  }
  t.equal(rejectedLines(bridge, 'hubspot').length, cases.length, 'one rejected line per refusal')
  t.notOk(bridge.logs.text().includes(SECRET), 'the client secret is in no log line')
  await assertNothingStored(t, bridge, sandbox)
})
