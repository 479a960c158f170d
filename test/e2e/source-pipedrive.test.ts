/**
 * Pipedrive webhooks v2 through the real service (127.0.0.1) and the Genesys sandbox: Basic auth,
 * a change and a delete launched with the mapped inputs (custom fields, previous values), Pipedrive's
 * retry (same meta.id, attempt + 1) accepted as a duplicate, refusals with nothing stored.
 */
import t, { type Test } from 'tap'
import { startBridge } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { fixture } from '../sources/helpers.js'
import { allDeliveries, assertNothingStored, JSON_CONTENT_TYPE, launchesByDelivery, postRaw, rejectedLines, settleAll, workflow, type RawResponse } from './source-helpers.js'

const USER = 'pipedrive-hook'
const PASSWORD = 'pipedrive-hook-password-e2e-91ab'
const CHANGE_FLOW = '9f406b82-0000-4000-8000-0000000000b1'
const DELETE_FLOW = '9f406b82-0000-4000-8000-0000000000b2'
const TIER = 'd4e0a4b9f1c2e3d4a5b6c7d8e9f0a1b2c3d4e5f6'
const CHANGE_ID = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d'
const DELETE_ID = '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e'

const mappings = `
sources:
  pipedrive:
    type: pipedrive
    auth: { type: basic, username: ${USER}, password: "\${PIPEDRIVE_HOOK_PASSWORD}" }
routes:
  - name: pd-person-change
    source: pipedrive
    when: { recordType: person, eventType: change.person, changed: [emails, name, custom_fields.${TIER}] }
    flow: { id: ${CHANGE_FLOW} }
    inputs:
      personId: { from: record.id, required: true }
      name: record.fields.name
      email: "record.fields.emails[0].value"
      tier: record.fields.custom_fields.${TIER}.value
      previousTier: raw.previous.custom_fields.${TIER}.value
      eventId: event.id
      occurredAt: { from: event.occurredAt, type: datetime }
      attempt: { from: raw.meta.attempt, type: integer }
  - name: pd-person-delete
    source: pipedrive
    when: { recordType: person, eventType: delete.person }
    flow: { id: ${DELETE_FLOW} }
    inputs:
      personId: { from: record.id, required: true }
      name: record.fields.name
      eventId: event.id
      occurredAt: { from: event.occurredAt, type: datetime }
`

const flows = [
  workflow(CHANGE_FLOW, 'Pipedrive person change', { personId: 'string', name: 'string', email: 'string', tier: 'string', previousTier: 'string', eventId: 'string', occurredAt: 'datetime', attempt: 'integer' }),
  workflow(DELETE_FLOW, 'Pipedrive person delete', { personId: 'string', name: 'string', eventId: 'string', occurredAt: 'datetime' })
]

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

async function start (t: Test) {
  const sandbox = await startTestSandbox(t, { flows })
  const bridge = await startBridge(t, { env: { ...sandbox.env, PIPEDRIVE_HOOK_PASSWORD: PASSWORD }, mappings })
  const post = async (body: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> =>
    await postRaw(bridge, '/webhooks/pipedrive', body, { 'content-type': 'application/json', authorization: basic(USER, PASSWORD), ...headers })
  return { sandbox, bridge, post }
}

const change = fixture('pipedrive/person-change.json')
const deletion = fixture('pipedrive/person-delete.json')

t.test('a change and a delete with the right credentials: 200 summaries, stored, launched with the mapped inputs', async t => {
  const { sandbox, bridge, post } = await start(t)
  const changed = await post(change)
  t.equal(changed.status, 200)
  t.equal(changed.contentType, JSON_CONTENT_TYPE)
  t.equal(changed.json.events, 1)
  t.same(changed.json.accepted.map((a: any) => [a.eventId, a.route]), [[CHANGE_ID, 'pd-person-change']])
  t.same([changed.json.duplicates, changed.json.unmatched], [[], []])
  t.equal((await allDeliveries(bridge)).length, 1, 'stored before the reply')

  const deleted = await post(deletion)
  t.equal(deleted.status, 200)
  t.same(deleted.json.accepted.map((a: any) => [a.eventId, a.route]), [[DELETE_ID, 'pd-person-delete']])

  const deliveries = await settleAll(bridge, 2)
  t.ok(deliveries.every(d => d.state === 'succeeded'))
  const launches = launchesByDelivery(sandbox)
  t.same(launches.get(changed.json.accepted[0].deliveryId)?.inputData, {
    'Flow.personId': '8',
    'Flow.name': 'Sample Person',
    'Flow.email': 'sample.person@example.com',
    'Flow.tier': 'Gold',
    'Flow.previousTier': 'Silver',
    'Flow.eventId': CHANGE_ID,
    'Flow.occurredAt': '2022-11-24T15:18:35.616Z',
    'Flow.attempt': 1
  })
  t.same(launches.get(deleted.json.accepted[0].deliveryId)?.inputData, {
    'Flow.personId': '9',
    'Flow.name': 'Gone Person',
    'Flow.eventId': DELETE_ID,
    'Flow.occurredAt': new Date(1669303000 * 1000).toISOString()
  }, 'on delete the fields are the last state (previous), the time a 10-digit timestamp')
  const logs = bridge.logs.text()
  t.notOk(logs.includes(PASSWORD) || logs.includes(basic(USER, PASSWORD).slice(6)), 'the credentials are in no log line')
})

t.test("Pipedrive's retry (same meta.id, meta.attempt 2) is accepted as a duplicate; nothing new stored or launched", async t => {
  const { sandbox, bridge, post } = await start(t)
  t.equal((await post(change)).status, 200)
  await settleAll(bridge, 1)
  const retry = JSON.parse(change.toString('utf8'))
  retry.meta.attempt = 2
  const again = await post(JSON.stringify(retry))
  t.equal(again.status, 200, 'a 2xx, or Pipedrive would keep retrying and count failures')
  t.equal(again.contentType, JSON_CONTENT_TYPE)
  t.same(again.json, { events: 1, accepted: [], duplicates: [CHANGE_ID], unmatched: [] })
  const exact = await post(change)
  t.same(exact.json, { events: 1, accepted: [], duplicates: [CHANGE_ID], unmatched: [] })
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal((await allDeliveries(bridge)).length, 1, 'nothing new stored')
  t.equal(sandbox.launches().length, 1, 'nothing new launched')
})

t.test('refusals: JSON {error, message}, 4xx, a webhook.rejected line with the reason code, nothing stored', async t => {
  const { sandbox, bridge, post } = await start(t)
  const v1 = JSON.stringify({ v: 1, event: 'updated.person', current: { id: 8, name: 'Sample Person' }, previous: { name: 'Sample' }, meta: { v: 1, id: 1, action: 'updated', object: 'person' } })
  const noId = JSON.stringify({ data: { id: 8 }, previous: null, meta: { action: 'change', entity: 'person' } })
  const cases: Array<{ name: string, body: string | Buffer, headers: Record<string, string>, status: number, code: string }> = [
    { name: 'wrong password', body: change, headers: { authorization: basic(USER, 'not-the-password') }, status: 401, code: 'bad_credentials' },
    { name: 'wrong user', body: change, headers: { authorization: basic('someone-else', PASSWORD) }, status: 401, code: 'bad_credentials' },
    { name: 'no password', body: change, headers: { authorization: basic(USER, '') }, status: 401, code: 'bad_credentials' },
    { name: 'no Authorization header', body: change, headers: { authorization: '' }, status: 401, code: 'missing_credentials' },
    { name: 'a Bearer token instead of Basic', body: change, headers: { authorization: `Bearer ${PASSWORD}` }, status: 401, code: 'missing_credentials' },
    { name: 'truncated JSON', body: change.subarray(0, 150), headers: {}, status: 400, code: 'malformed_body' },
    { name: 'a JSON array', body: '[]', headers: {}, status: 400, code: 'malformed_body' },
    { name: 'no meta object', body: '{"data":{"id":8}}', headers: {}, status: 400, code: 'malformed_body' },
    { name: 'no meta.id', body: noId, headers: {}, status: 400, code: 'missing_event_id' },
    { name: 'a webhooks v1 body', body: v1, headers: {}, status: 400, code: 'unsupported_version' },
    { name: 'a form body', body: change, headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported_content_type' }
  ]
  for (const c of cases) {
    const response = await post(c.body, c.headers)
    t.equal(response.status, c.status, `${c.name}: status`)
    t.equal(response.contentType, JSON_CONTENT_TYPE, `${c.name}: JSON`)
    t.same(Object.keys(response.json ?? {}), ['error', 'message'], `${c.name}: {error, message}`)
    t.equal(response.json?.error, c.code, `${c.name}: ${c.code}`)
    t.notOk(response.text.includes(PASSWORD), `${c.name}: the password is not echoed`)
    const line = rejectedLines(bridge, 'pipedrive').at(-1)
    t.match(line, { level: 'warn', code: c.code, status: c.status, reason: response.json?.message }, `${c.name}: logged with its reason`)
  }
  t.equal(rejectedLines(bridge, 'pipedrive').length, cases.length, 'one rejected line per refusal')
  t.notOk(bridge.logs.text().includes(PASSWORD), 'the password is in no log line')
  await assertNothingStored(t, bridge, sandbox)
})
