/**
 * Dataverse / Dynamics 365 webhooks through the real service (127.0.0.1) and the Genesys sandbox:
 * a RemoteExecutionContext authenticated by its key (header or `?code=`), Target and post-image
 * merged into the launched inputs, duplicates, the size-exceeded note, refusals with nothing stored.
 */
import t, { type Test } from 'tap'
import { startBridge } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { fixture } from '../sources/helpers.js'
import { allDeliveries, assertNothingStored, JSON_CONTENT_TYPE, launchesByDelivery, postRaw, rejectedLines, settleAll, workflow, type RawResponse } from './source-helpers.js'

const KEY = 'dataverse-webhook-key-e2e-4c9d1f'
const CONTACT_FLOW = '7d2e4f60-0000-4000-8000-0000000000d1'
const RECORD_FLOW = '7d2e4f60-0000-4000-8000-0000000000d2'
const OPERATION_ID = '4af10637-4ea2-e711-8122-000d3aa2331c'

const mappings = `
sources:
  dataverse:
    type: dynamics
    auth: { type: header, name: x-bridge-key, value: "\${DYNAMICS_WEBHOOK_KEY}" }
  dataverse-code:
    type: dynamics
    auth: { type: code, value: "\${DYNAMICS_WEBHOOK_KEY}" }
routes:
  - name: dv-contact
    source: dataverse
    when: { recordType: contact, eventType: Update, changed: [firstname, emailaddress1] }
    flow: { id: ${CONTACT_FLOW} }
    inputs:
      contactId: { from: record.id, required: true }
      email: record.fields.emailaddress1
      fullName: record.fields.fullname
      account: record.fields.parentcustomerid
      contactMethod: { from: record.fields.preferredcontactmethodcode, type: integer }
      income: { from: record.fields.annualincome, type: decimal }
      modifiedOn: { from: record.fields.modifiedon, type: datetime }
      operationId: event.id
      occurredAt: { from: event.occurredAt, type: datetime }
      message: event.type
      entity: record.type
      changed: { from: record.changed, type: "string[]" }
  - name: dv-incident
    source: dataverse
    when: { recordType: incident }
    flow: { id: ${RECORD_FLOW} }
    inputs:
      recordId: record.id
      eventId: event.id
      occurredAt: { from: event.occurredAt, type: datetime }
  - name: dv-code-contact
    source: dataverse-code
    when: { recordType: contact }
    flow: { id: ${RECORD_FLOW} }
    inputs:
      recordId: record.id
      eventId: event.id
      occurredAt: { from: event.occurredAt, type: datetime }
`

const flows = [
  workflow(CONTACT_FLOW, 'Dataverse contact', {
    contactId: 'string', email: 'string', fullName: 'string', account: 'string', contactMethod: 'integer', income: 'decimal', modifiedOn: 'datetime', operationId: 'string', occurredAt: 'datetime', message: 'string', entity: 'string', changed: 'string[]'
  }),
  workflow(RECORD_FLOW, 'Dataverse record', { recordId: 'string', eventId: 'string', occurredAt: 'datetime' })
]

async function start (t: Test) {
  const sandbox = await startTestSandbox(t, { flows })
  const bridge = await startBridge(t, { env: { ...sandbox.env, DYNAMICS_WEBHOOK_KEY: KEY }, mappings })
  const post = async (body: string | Buffer, headers: Record<string, string> = {}, path = '/webhooks/dataverse'): Promise<RawResponse> =>
    await postRaw(bridge, path, body, { 'content-type': 'application/json; charset=utf-8', 'x-bridge-key': KEY, ...headers })
  return { sandbox, bridge, post }
}

const updateContact = fixture('dynamics/update-contact.json')
const sizeExceeded = fixture('dynamics/size-exceeded.json')

t.test('an Update with the right key: 200 summary, stored, launched with Target and post-image merged', async t => {
  const { sandbox, bridge, post } = await start(t)
  const response = await post(updateContact)
  t.equal(response.status, 200)
  t.equal(response.contentType, JSON_CONTENT_TYPE)
  t.equal(response.json.events, 1)
  t.same(response.json.accepted.map((a: any) => [a.eventId, a.route]), [[OPERATION_ID, 'dv-contact']])
  t.same(response.json.duplicates, [])
  t.same(response.json.unmatched, [])
  t.equal((await allDeliveries(bridge)).length, 1, 'stored before the reply')

  const [delivery] = await settleAll(bridge, 1)
  t.equal(delivery!.state, 'succeeded')
  t.equal(delivery!.dedupeKey, `00aa00aa-bb11-cc22-dd33-44ee44ee44ee:${OPERATION_ID}:75417616-4ea2-e711-8122-000d3aa2331c`, 'org:operation:step')
  const launch = launchesByDelivery(sandbox).get(delivery!.id)
  t.equal(launch.flowId, CONTACT_FLOW)
  t.same(launch.inputData, {
    'Flow.contactId': '6d81597f-0f9f-e711-8122-000d3aa2331c',
    'Flow.email': 'james.glynn@example.com',
    'Flow.fullName': 'James Glynn',
    'Flow.account': 'a8a19cdd-88df-e311-b8e5-6c3be5a8b200',
    'Flow.contactMethod': 2,
    'Flow.income': 85000.5,
    'Flow.modifiedOn': '2017-09-26T00:04:07.000Z',
    'Flow.operationId': OPERATION_ID,
    'Flow.occurredAt': new Date(1506409448000).toISOString(),
    'Flow.message': 'Update',
    'Flow.entity': 'contact',
    'Flow.changed': ['firstname', 'contactid', 'fullname', 'preferredcontactmethodcode', 'annualincome', 'modifiedon', 'modifiedby', 'modifiedonbehalfby']
  }, 'the post-image wins (fullName), lookups become ids, WCF dates ISO-8601, option sets and money their values')
  t.notOk(bridge.logs.text().includes(KEY), 'the key is in no log line')
})

t.test('the WebhookKey form (?code=) authenticates too', async t => {
  const { sandbox, bridge, post } = await start(t)
  const response = await post(updateContact, { 'x-bridge-key': '' }, `/webhooks/dataverse-code?code=${encodeURIComponent(KEY)}`)
  t.equal(response.status, 200)
  t.same(response.json.accepted.map((a: any) => a.route), ['dv-code-contact'])
  const [delivery] = await settleAll(bridge, 1)
  t.same(launchesByDelivery(sandbox).get(delivery!.id)?.inputData, {
    'Flow.recordId': '6d81597f-0f9f-e711-8122-000d3aa2331c', 'Flow.eventId': OPERATION_ID, 'Flow.occurredAt': new Date(1506409448000).toISOString()
  })
  t.notOk(bridge.logs.text().includes(KEY), 'the key from the query string is in no log line')
})

t.test("Dataverse's retry of the same operation is accepted as a duplicate; nothing new stored or launched", async t => {
  const { sandbox, bridge, post } = await start(t)
  t.equal((await post(updateContact)).status, 200)
  await settleAll(bridge, 1)
  const again = await post(updateContact)
  t.equal(again.status, 200)
  t.equal(again.contentType, JSON_CONTENT_TYPE)
  t.same(again.json, { events: 1, accepted: [], duplicates: [OPERATION_ID], unmatched: [] })
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal((await allDeliveries(bridge)).length, 1, 'nothing new stored')
  t.equal(sandbox.launches().length, 1, 'nothing new launched')
})

t.test('a size-exceeded payload is accepted with a note, keyed on RequestId, and launched', async t => {
  const { sandbox, bridge, post } = await start(t)
  const response = await post(sizeExceeded, { 'x-ms-dynamics-msg-size-exceeded': 'true' })
  t.equal(response.status, 200)
  t.same(response.json.accepted.map((a: any) => [a.eventId, a.route]), [['c1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8', 'dv-incident']])
  const note = bridge.logs.events('webhook.note')
  t.equal(note.length, 1)
  t.match(note[0], { level: 'warn', source: 'dataverse', msgSizeExceeded: true })
  const [delivery] = await settleAll(bridge, 1)
  t.same(launchesByDelivery(sandbox).get(delivery!.id)?.inputData, {
    'Flow.recordId': '7e81597f-0f9f-e711-8122-000d3aa2331c', 'Flow.eventId': 'c1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8', 'Flow.occurredAt': '2024-05-02T09:30:15.000Z'
  })
  t.same(delivery!.event.record.fields, {}, 'nothing left to map from the trimmed context')
})

t.test('refusals: JSON {error, message}, 4xx, a webhook.rejected line with the reason code, nothing stored', async t => {
  const { sandbox, bridge, post } = await start(t)
  const noIds = JSON.stringify({ MessageName: 'Update', PrimaryEntityName: 'contact', OperationId: '00000000-0000-0000-0000-000000000000' })
  const cases: Array<{ name: string, source?: string, path?: string, body: string | Buffer, headers: Record<string, string>, status: number, code: string }> = [
    { name: 'wrong key', body: updateContact, headers: { 'x-bridge-key': 'not-the-key' }, status: 401, code: 'bad_credentials' },
    { name: 'the key plus one character', body: updateContact, headers: { 'x-bridge-key': `${KEY}x` }, status: 401, code: 'bad_credentials' },
    { name: 'no key', body: updateContact, headers: { 'x-bridge-key': '' }, status: 401, code: 'missing_credentials' },
    { name: 'key in another header', body: updateContact, headers: { 'x-bridge-key': '', authorization: `Bearer ${KEY}` }, status: 401, code: 'missing_credentials' },
    { name: 'wrong ?code=', source: 'dataverse-code', path: '/webhooks/dataverse-code?code=wrong', body: updateContact, headers: { 'x-bridge-key': '' }, status: 401, code: 'bad_credentials' },
    { name: 'no ?code=', source: 'dataverse-code', path: '/webhooks/dataverse-code', body: updateContact, headers: { 'x-bridge-key': '' }, status: 401, code: 'missing_credentials' },
    { name: 'truncated JSON', body: updateContact.subarray(0, 200), headers: {}, status: 400, code: 'malformed_body' },
    { name: 'a JSON array', body: '[]', headers: {}, status: 400, code: 'malformed_body' },
    { name: 'no operation, request or correlation id', body: noIds, headers: {}, status: 400, code: 'missing_event_id' },
    { name: 'XML content type', body: updateContact, headers: { 'content-type': 'text/xml' }, status: 415, code: 'unsupported_content_type' }
  ]
  for (const c of cases) {
    const response = await post(c.body, c.headers, c.path)
    t.equal(response.status, c.status, `${c.name}: status`)
    t.equal(response.contentType, JSON_CONTENT_TYPE, `${c.name}: JSON`)
    t.same(Object.keys(response.json ?? {}), ['error', 'message'], `${c.name}: {error, message}`)
    t.equal(response.json?.error, c.code, `${c.name}: ${c.code}`)
    t.notOk(response.text.includes(KEY), `${c.name}: the key is not echoed`)
    const line = rejectedLines(bridge, c.source ?? 'dataverse').at(-1)
    t.match(line, { level: 'warn', code: c.code, status: c.status, reason: response.json?.message }, `${c.name}: logged with its reason`)
  }
  t.equal(bridge.logs.events('webhook.rejected').length, cases.length, 'one rejected line per refusal')
  t.notOk(bridge.logs.text().includes(KEY), 'the key is in no log line')
  await assertNothingStored(t, bridge, sandbox)
})
