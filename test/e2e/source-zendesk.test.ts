/**
 * Zendesk webhooks through the real service (127.0.0.1) and the Genesys sandbox: an event-subscription
 * envelope and a trigger body, both signed base64(HMAC-SHA256(secret, timestamp + body)), launched
 * with the mapped inputs; duplicates; stale, forged and malformed requests refused with nothing stored.
 */
import t, { type Test } from 'tap'
import { startBridge } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { fixture, hmacBase64 } from '../sources/helpers.js'
import { allDeliveries, assertNothingStored, JSON_CONTENT_TYPE, launchesByDelivery, postRaw, rejectedLines, settleAll, workflow, type RawResponse } from './source-helpers.js'

// Looks like base64 on purpose: Zendesk's signing secret is used verbatim, never decoded.
const SECRET = 'dGhpcy1sb29rcy1saWtlLWJhc2U2NC1lMmU='
const STATUS_FLOW = '8e3f5a71-0000-4000-8000-0000000000a1'
const SOLVED_FLOW = '8e3f5a71-0000-4000-8000-0000000000a2'
const EVENT_ID = '6f5e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c'
const INVOCATION_ID = '8350205582'

const mappings = `
sources:
  zendesk-events:
    type: zendesk
    signingSecret: "\${ZENDESK_SIGNING_SECRET}"
  zendesk-trigger:
    type: zendesk
    signingSecret: "\${ZENDESK_SIGNING_SECRET}"
    recordId: ticket_id
    occurredAt: updated_at
    eventType: status
routes:
  - name: zd-status
    source: zendesk-events
    when: { recordType: ticket, eventType: "zen:event-type:ticket.status_changed", changed: [status] }
    flow: { id: ${STATUS_FLOW} }
    inputs:
      ticketId: { from: record.id, required: true }
      status: { from: record.fields.status, transform: [lowercase] }
      previousStatus: { from: raw.event.previous, transform: [lowercase] }
      priority: record.fields.priority
      requesterId: { from: record.fields.requester_id, type: integer }
      eventId: event.id
      occurredAt: { from: event.occurredAt, type: datetime }
      accountId: { from: raw.account_id, type: integer }
  - name: zd-solved
    source: zendesk-trigger
    when: { match: { event.type: solved } }
    flow: { id: ${SOLVED_FLOW} }
    inputs:
      ticketId: { from: record.id, required: true }
      email: record.fields.requester_email
      eventId: event.id
      recordType: record.type
      occurredAt: { from: event.occurredAt, type: datetime }
`

const flows = [
  workflow(STATUS_FLOW, 'Zendesk ticket status', {
    ticketId: 'string', status: 'string', previousStatus: 'string', priority: 'string', requesterId: 'integer', eventId: 'string', occurredAt: 'datetime', accountId: 'integer'
  }),
  workflow(SOLVED_FLOW, 'Zendesk ticket solved', { ticketId: 'string', email: 'string', eventId: 'string', recordType: 'string', occurredAt: 'datetime' })
]

/** Zendesk's timestamp form: ISO-8601 to the second. */
function zendeskTime (ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function signedHeaders (body: string | Buffer, options: { timestamp?: string, secret?: string, invocationId?: string } = {}): Record<string, string> {
  const timestamp = options.timestamp ?? zendeskTime()
  return {
    'content-type': 'application/json; charset=utf-8',
    'x-zendesk-webhook-id': '01GCVS4ZJ0TZ7AGZ1HBGRZ7YEM',
    ...(options.invocationId === undefined ? {} : { 'x-zendesk-webhook-invocation-id': options.invocationId }),
    'x-zendesk-webhook-signature-timestamp': timestamp,
    'x-zendesk-webhook-signature': hmacBase64(options.secret ?? SECRET, timestamp, body)
  }
}

async function start (t: Test) {
  const sandbox = await startTestSandbox(t, { flows })
  const bridge = await startBridge(t, { env: { ...sandbox.env, ZENDESK_SIGNING_SECRET: SECRET }, mappings })
  const post = async (source: string, body: string | Buffer, headers: Record<string, string>): Promise<RawResponse> =>
    await postRaw(bridge, `/webhooks/${source}`, body, headers)
  return { sandbox, bridge, post }
}

const statusChanged = fixture('zendesk/ticket-status-changed.json')
const triggerSolved = fixture('zendesk/trigger-ticket-solved.json')

t.test('an event-subscription envelope and a trigger body: 200 summaries, stored, launched with the mapped inputs', async t => {
  const { sandbox, bridge, post } = await start(t)
  const envelope = await post('zendesk-events', statusChanged, signedHeaders(statusChanged))
  t.equal(envelope.status, 200)
  t.equal(envelope.contentType, JSON_CONTENT_TYPE)
  t.equal(envelope.json.events, 1)
  t.same(envelope.json.accepted.map((a: any) => [a.eventId, a.route]), [[EVENT_ID, 'zd-status']])
  t.same([envelope.json.duplicates, envelope.json.unmatched], [[], []])
  t.equal((await allDeliveries(bridge)).length, 1, 'stored before the reply')

  const trigger = await post('zendesk-trigger', triggerSolved, signedHeaders(triggerSolved, { invocationId: INVOCATION_ID }))
  t.equal(trigger.status, 200)
  t.same(trigger.json.accepted.map((a: any) => [a.eventId, a.route]), [[INVOCATION_ID, 'zd-solved']], 'no id in the body: the invocation id')

  const deliveries = await settleAll(bridge, 2)
  t.ok(deliveries.every(d => d.state === 'succeeded'))
  const launches = launchesByDelivery(sandbox)
  t.same(launches.get(envelope.json.accepted[0].deliveryId)?.inputData, {
    'Flow.ticketId': '35436',
    'Flow.status': 'open',
    'Flow.previousStatus': 'new',
    'Flow.priority': 'LOW',
    'Flow.requesterId': 20978392,
    'Flow.eventId': EVENT_ID,
    'Flow.occurredAt': '2024-05-02T09:30:15.000Z',
    'Flow.accountId': 12514403
  })
  t.same(launches.get(trigger.json.accepted[0].deliveryId)?.inputData, {
    'Flow.ticketId': '35436',
    'Flow.email': 'jane.doe@example.com',
    'Flow.eventId': INVOCATION_ID,
    'Flow.recordType': 'ticket',
    'Flow.occurredAt': '2024-05-02T09:30:15.000Z'
  })
  t.notOk(bridge.logs.text().includes(SECRET), 'the signing secret is in no log line')
})

t.test('redeliveries (re-signed, later timestamp) are accepted as duplicates; nothing new stored or launched', async t => {
  const { sandbox, bridge, post } = await start(t)
  t.equal((await post('zendesk-events', statusChanged, signedHeaders(statusChanged))).status, 200)
  t.equal((await post('zendesk-trigger', triggerSolved, signedHeaders(triggerSolved, { invocationId: INVOCATION_ID }))).status, 200)
  await settleAll(bridge, 2)
  const later = zendeskTime(Date.now() + 1000)
  const envelope = await post('zendesk-events', statusChanged, signedHeaders(statusChanged, { timestamp: later }))
  t.equal(envelope.status, 200)
  t.equal(envelope.contentType, JSON_CONTENT_TYPE)
  t.same(envelope.json, { events: 1, accepted: [], duplicates: [EVENT_ID], unmatched: [] })
  const trigger = await post('zendesk-trigger', triggerSolved, signedHeaders(triggerSolved, { timestamp: later, invocationId: INVOCATION_ID }))
  t.same(trigger.json, { events: 1, accepted: [], duplicates: [INVOCATION_ID], unmatched: [] })
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal((await allDeliveries(bridge)).length, 2, 'nothing new stored')
  t.equal(sandbox.launches().length, 2, 'nothing new launched')
})

t.test('refusals: JSON {error, message}, 4xx, a webhook.rejected line with the reason code, nothing stored', async t => {
  const { sandbox, bridge, post } = await start(t)
  const body = statusChanged
  const stale = zendeskTime(Date.now() - 6 * 60_000)
  const decodedSecret = Buffer.from(SECRET, 'base64').toString('latin1')
  const truncated = body.subarray(0, 120)
  const cases: Array<{ name: string, source?: string, body: string | Buffer, headers: Record<string, string>, status: number, code: string }> = [
    { name: 'signed with another secret', body, headers: signedHeaders(body, { secret: 'another-signing-secret' }), status: 401, code: 'bad_signature' },
    { name: 'signed with the base64-decoded secret', body, headers: signedHeaders(body, { secret: decodedSecret }), status: 401, code: 'bad_signature' },
    { name: 'body changed after signing', body: body.toString('utf8').replace('"OPEN"', '"SOLVED"'), headers: signedHeaders(body), status: 401, code: 'bad_signature' },
    { name: 'timestamp left out of the signature', body, headers: { ...signedHeaders(body), 'x-zendesk-webhook-signature': hmacBase64(SECRET, body) }, status: 401, code: 'bad_signature' },
    { name: 'signed timestamp 6 minutes old', body, headers: signedHeaders(body, { timestamp: stale }), status: 401, code: 'stale_timestamp' },
    { name: 'signed timestamp 6 minutes ahead', body, headers: signedHeaders(body, { timestamp: zendeskTime(Date.now() + 6 * 60_000) }), status: 401, code: 'stale_timestamp' },
    { name: 'a fresh timestamp on an old signature', body, headers: { ...signedHeaders(body, { timestamp: stale }), 'x-zendesk-webhook-signature-timestamp': zendeskTime() }, status: 401, code: 'bad_signature' },
    { name: 'an unreadable signed timestamp', body, headers: signedHeaders(body, { timestamp: 'yesterday' }), status: 401, code: 'bad_timestamp' },
    { name: 'no signature', body, headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature-timestamp': zendeskTime() }, status: 401, code: 'missing_signature' },
    { name: 'no timestamp', body, headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature': hmacBase64(SECRET, body) }, status: 401, code: 'missing_signature' },
    { name: 'truncated JSON, validly signed', body: truncated, headers: signedHeaders(truncated), status: 400, code: 'malformed_body' },
    { name: 'a JSON array, validly signed', body: '[1]', headers: signedHeaders('[1]'), status: 400, code: 'malformed_body' },
    { name: 'a trigger body with no id and no invocation id', source: 'zendesk-trigger', body: triggerSolved, headers: signedHeaders(triggerSolved), status: 400, code: 'missing_event_id' },
    { name: 'a form body', body, headers: { ...signedHeaders(body), 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported_content_type' }
  ]
  for (const c of cases) {
    const source = c.source ?? 'zendesk-events'
    const response = await post(source, c.body, c.headers)
    t.equal(response.status, c.status, `${c.name}: status`)
    t.equal(response.contentType, JSON_CONTENT_TYPE, `${c.name}: JSON`)
    t.same(Object.keys(response.json ?? {}), ['error', 'message'], `${c.name}: {error, message}`)
    t.equal(response.json?.error, c.code, `${c.name}: ${c.code}`)
    const line = rejectedLines(bridge, source).at(-1)
    t.match(line, { level: 'warn', code: c.code, status: c.status, reason: response.json?.message }, `${c.name}: logged with its reason`)
  }
  t.equal(bridge.logs.events('webhook.rejected').length, cases.length, 'one rejected line per refusal')
  t.notOk(bridge.logs.text().includes(SECRET), 'the signing secret is in no log line')
  await assertNothingStored(t, bridge, sandbox)
})
