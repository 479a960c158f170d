/**
 * Salesforce Outbound Messages through the real service (127.0.0.1) and the Genesys sandbox:
 * SOAP in, Ack envelope out byte for byte, every notification launched with the mapped inputs, and
 * refusals as SOAP Faults with nothing stored. The SessionId never reaches a log line or the store.
 */
import t, { type Test } from 'tap'
import { SALESFORCE_ACK, soapFault } from '../../src/sources/salesforce.js'
import { startBridge } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { fixture } from '../sources/helpers.js'
import { allDeliveries, assertNothingStored, databaseText, launchesByDelivery, postRaw, rejectedLines, settleAll, workflow, type RawResponse } from './source-helpers.js'

const CONTACT_FLOW = '5f1e0c4a-0000-4000-8000-00000000c0a1'
const OPPORTUNITY_FLOW = '5f1e0c4a-0000-4000-8000-00000000c0a2'
const ORG_18 = '00D000000000062EAA'
const SESSION_ID = '00D000000000062!AQ0AQFakeSessionTokenDoNotLog.qwertyuiop'
const XML = 'text/xml; charset=utf-8'

// The source is configured with the 15-character org id; the messages carry the 18-character form.
const mappings = `
sources:
  salesforce:
    type: salesforce
    organizationId: 00D000000000062
    allowIps: [127.0.0.0/8, "::1/128"]
  salesforce-restricted:
    type: salesforce
    organizationId: 00D000000000062
    # Example Salesforce ranges: the test client (127.0.0.1) is outside them.
    allowIps: [13.108.0.0/14, 96.43.144.0/20, 136.146.0.0/15, 204.14.232.0/21]
routes:
  - name: sf-contact
    source: salesforce
    when: { recordType: Contact }
    flow: { id: ${CONTACT_FLOW} }
    inputs:
      contactId: { from: record.id, required: true }
      email: { from: record.fields.Email }
      firstName: record.fields.FirstName
      lastName: record.fields.LastName
      mobile: record.fields.MobilePhone
      modifiedAt: { from: event.occurredAt, type: datetime }
      notificationId: event.id
      objectType: record.type
      actionId: event.type
      orgId: raw.OrganizationId
  - name: sf-opportunity
    source: salesforce
    when: { recordType: Opportunity }
    flow: { id: ${OPPORTUNITY_FLOW} }
    inputs:
      opportunityId: record.id
      amount: { from: record.fields.Amount, type: decimal }
      won: { from: record.fields.IsWon, type: boolean }
      stage: record.fields.StageName
      notificationId: event.id
`

const flows = [
  workflow(CONTACT_FLOW, 'Salesforce contact', {
    contactId: 'string', email: 'string', firstName: 'string', lastName: 'string', mobile: 'string', modifiedAt: 'datetime', notificationId: 'string', objectType: 'string', actionId: 'string', orgId: 'string'
  }),
  workflow(OPPORTUNITY_FLOW, 'Salesforce opportunity', { opportunityId: 'string', amount: 'decimal', won: 'boolean', stage: 'string', notificationId: 'string' })
]

async function start (t: Test) {
  const sandbox = await startTestSandbox(t, { flows })
  const bridge = await startBridge(t, { env: sandbox.env, mappings })
  const post = async (body: string | Buffer, contentType = 'text/xml; charset=UTF-8'): Promise<RawResponse> =>
    await postRaw(bridge, '/webhooks/salesforce', body, { 'content-type': contentType, soapaction: '""' })
  return { sandbox, bridge, post }
}

const contacts = fixture('salesforce/contact-notifications.xml')
const opportunity = fixture('salesforce/opportunity-nil-session.xml')

t.test('a 3-notification message: Ack envelope byte for byte, all three stored, each launched with its fields', async t => {
  const { sandbox, bridge, post } = await start(t)
  const response = await post(contacts)
  t.equal(response.status, 200)
  t.equal(response.contentType, XML)
  t.equal(response.text, SALESFORCE_ACK, 'the Ack envelope from the WSDL')
  t.equal(response.text, fixture('salesforce/ack-response.xml').toString('utf8'), 'byte for byte the fixture')

  // The Ack is sent after the commit: all three events are already in the store.
  const stored = await allDeliveries(bridge)
  t.equal(stored.length, 3, 'one delivery per notification, stored before the reply')
  t.same(new Set(stored.map(d => d.route)), new Set(['sf-contact']))

  const deliveries = await settleAll(bridge, 3)
  t.same(deliveries.map(d => d.state), ['succeeded', 'succeeded', 'succeeded'])
  const launches = launchesByDelivery(sandbox)
  t.equal(launches.size, 3)
  const byNotification = new Map(deliveries.map(d => [d.event.event.id, launches.get(d.id)]))
  const common = { 'Flow.objectType': 'Contact', 'Flow.actionId': '04k000000000001AAA', 'Flow.orgId': ORG_18 }
  t.same(byNotification.get('04l000000000001AAA')?.inputData, {
    ...common,
    'Flow.contactId': '003000000000001AAA',
    'Flow.email': 'jane.doe@example.com',
    'Flow.firstName': 'Jane',
    'Flow.lastName': 'Doe & Sons',
    'Flow.mobile': null,
    'Flow.modifiedAt': '2024-05-02T09:30:15.000Z',
    'Flow.notificationId': '04l000000000001AAA'
  })
  t.same(byNotification.get('04l000000000002AAA')?.inputData, {
    ...common,
    'Flow.contactId': '003000000000002AAA',
    'Flow.email': 'jose@example.com',
    'Flow.firstName': 'José',
    'Flow.lastName': 'García',
    'Flow.mobile': '+34 600 000 000',
    'Flow.modifiedAt': '2024-05-02T09:31:00.000Z',
    'Flow.notificationId': '04l000000000002AAA'
  })
  t.same(byNotification.get('04l000000000003AAA')?.inputData, {
    ...common,
    'Flow.contactId': '003000000000003AAA',
    'Flow.email': null,
    'Flow.firstName': '<Bob>',
    'Flow.lastName': 'Smith',
    'Flow.mobile': null,
    'Flow.modifiedAt': null,
    'Flow.notificationId': '04l000000000003AAA'
  })
  for (const [id, body] of byNotification) t.same(body.flowId, CONTACT_FLOW, `${id} launched the contact flow`)

  // All three events of the message share one request: one accepted log line counts them.
  const accepted = bridge.logs.events('webhook.accepted')
  t.equal(accepted.length, 1)
  t.match(accepted[0], { source: 'salesforce', events: 3, accepted: 3, duplicates: 0, unmatched: 0 })
})

t.test('the SessionId is never logged, stored or echoed, whatever happens to the message', async t => {
  const { bridge, post } = await start(t)
  t.ok(contacts.toString('utf8').includes(SESSION_ID), 'the fixture carries a SessionId')
  const ok = await post(contacts)
  t.equal(ok.status, 200)
  const wrongOrg = await post(contacts.toString('utf8').replace(`<OrganizationId>${ORG_18}`, '<OrganizationId>00D000000000099EAA'))
  t.equal(wrongOrg.status, 403)
  const truncated = await post(contacts.subarray(0, contacts.indexOf('</PartnerUrl>')))
  t.equal(truncated.status, 400)
  for (const response of [ok, wrongOrg, truncated]) t.notOk(response.text.includes('FakeSessionToken'), 'not in the reply')

  const deliveries = await settleAll(bridge, 3)
  for (const delivery of deliveries) {
    const stored = JSON.stringify(delivery.event)
    t.notOk(stored.includes(SESSION_ID) || stored.includes('FakeSessionToken'), `not in stored event ${delivery.event.event.id}`)
    t.equal((delivery.event.raw as any).sessionIdPresent, true, 'only the flag is kept')
    t.notOk(JSON.stringify(delivery.request ?? null).includes('FakeSessionToken'), 'not in the stored request')
    t.notOk(JSON.stringify(delivery.attemptLog).includes('FakeSessionToken'), 'not in the attempt log')
  }
  const logs = bridge.logs.text()
  t.ok(logs.includes('webhook.accepted') && logs.includes('wrong_organization') && logs.includes('malformed_body'), 'there are logs to scan')
  t.notOk(logs.includes(SESSION_ID), 'the SessionId is in no log line')
  t.notOk(logs.includes('FakeSessionToken'), 'no part of it either')
  t.notOk(databaseText(bridge).includes('FakeSessionToken'), 'not in the SQLite files')
})

t.test('a redelivered message is acknowledged again; nothing new is stored or launched', async t => {
  const { sandbox, bridge, post } = await start(t)
  t.equal((await post(contacts)).status, 200)
  await settleAll(bridge, 3)
  const again = await post(contacts)
  t.equal(again.status, 200)
  t.equal(again.contentType, XML)
  t.equal(again.text, SALESFORCE_ACK, 'the same Ack: Salesforce must stop retrying')
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal((await allDeliveries(bridge)).length, 3, 'nothing new stored')
  t.equal(sandbox.launches().length, 3, 'nothing new launched')
  t.match(bridge.logs.events('webhook.accepted')[1], { events: 3, accepted: 0, duplicates: 3 })

  // A message mixing two seen notifications with one new one: only the new one is stored.
  const mixed = contacts.toString('utf8').replaceAll('04l000000000003AAA', '04l000000000004AAA')
  const response = await post(mixed)
  t.equal(response.text, SALESFORCE_ACK)
  const deliveries = await settleAll(bridge, 4)
  t.equal(deliveries.filter(d => d.event.event.id === '04l000000000004AAA').length, 1)
  t.equal(sandbox.launches().length, 4)
})

t.test('a deleted record (no sObject) is acknowledged but not stored; numbers and booleans are converted', async t => {
  const { sandbox, bridge, post } = await start(t)
  const response = await post(opportunity, 'application/xml')
  t.equal(response.status, 200)
  t.equal(response.text, SALESFORCE_ACK)
  t.match(bridge.logs.events('webhook.accepted')[0], { events: 2, accepted: 1, unmatched: 1 })
  const [delivery] = await settleAll(bridge, 1)
  t.equal(delivery!.route, 'sf-opportunity')
  t.equal((delivery!.event.raw as any).sessionIdPresent, false, 'a nil SessionId is no session')
  t.same(launchesByDelivery(sandbox).get(delivery!.id)?.inputData, {
    'Flow.opportunityId': '006000000000001AAA',
    'Flow.amount': 15000,
    'Flow.won': false,
    'Flow.stage': 'Negotiation/Review',
    'Flow.notificationId': '04l000000000010AAA'
  })
})

t.test('refusals are SOAP Faults with the right status, a reason code in the log, and nothing stored', async t => {
  const { sandbox, bridge, post } = await start(t)
  const text = contacts.toString('utf8')
  // Three good notifications and one without an Id: the whole message is refused, none stored.
  const partlyBad = text.replace('  </notifications>', '   <Notification><sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>003000000000009AAA</sf:Id></sObject></Notification>\n  </notifications>')
  const cases: Array<{ name: string, body: string | Buffer, contentType?: string, status: number, code: string, reason: string }> = [
    { name: 'another org', body: text.replace(`<OrganizationId>${ORG_18}`, '<OrganizationId>00D000000000099EAA'), status: 403, code: 'wrong_organization', reason: 'OrganizationId is not the one configured for this source' },
    { name: 'org id differing only in case', body: text.replace(`<OrganizationId>${ORG_18}`, '<OrganizationId>00d000000000062EAA'), status: 403, code: 'wrong_organization', reason: 'OrganizationId is not the one configured for this source' },
    { name: 'truncated XML', body: contacts.subarray(0, 900), status: 400, code: 'malformed_body', reason: 'body is not well-formed XML' },
    { name: 'a DOCTYPE', body: text.replace('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>'), status: 400, code: 'malformed_body', reason: 'DOCTYPE and entity declarations are not accepted' },
    { name: 'not a notifications call', body: '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>', status: 400, code: 'malformed_body', reason: 'no soapenv:Envelope/soapenv:Body/notifications element' },
    { name: 'a notification without Id after three good ones', body: partlyBad, status: 400, code: 'missing_event_id', reason: 'Notification 3 has no Id' },
    { name: 'empty body', body: '', status: 400, code: 'malformed_body', reason: 'empty body' },
    { name: 'JSON content type', body: contacts, contentType: 'application/json', status: 415, code: 'unsupported_content_type', reason: 'content type "application/json" is not accepted here; send text/xml or application/xml or application/soap+xml' }
  ]
  for (const c of cases) {
    const response = await post(c.body, c.contentType)
    t.equal(response.status, c.status, `${c.name}: status`)
    t.equal(response.contentType, XML, `${c.name}: XML content type`)
    t.match(response.text, '<faultcode>soapenv:Client</faultcode>', `${c.name}: a client Fault`)
    const line = rejectedLines(bridge, 'salesforce').at(-1)!
    t.match(line, { level: 'warn', code: c.code, status: c.status }, `${c.name}: logged as ${c.code}`)
    t.match(String(line.reason), c.reason, `${c.name}: a clear reason`)
    t.equal(response.text, soapFault(c.status, String(line.reason)), `${c.name}: the Fault carries exactly the logged reason`)
  }
  t.equal(rejectedLines(bridge, 'salesforce').length, cases.length)
  await assertNothingStored(t, bridge, sandbox)
})

t.test('allowIps: a caller outside the ranges gets a 403 Fault before anything is read; nothing stored', async t => {
  const { sandbox, bridge } = await start(t)
  const response = await postRaw(bridge, '/webhooks/salesforce-restricted', contacts, { 'content-type': 'text/xml' })
  t.equal(response.status, 403)
  t.equal(response.contentType, XML)
  t.equal(response.text, soapFault(403, "the caller's address is not in this source's allowIps"))
  t.match(rejectedLines(bridge, 'salesforce-restricted').at(-1), { level: 'warn', code: 'ip_not_allowed', status: 403 })
  t.notOk(bridge.logs.text().includes('FakeSessionToken'))
  await assertNothingStored(t, bridge, sandbox)
})

t.test('allowIps entries that are not addresses or CIDR ranges stop startup', async t => {
  const broken = mappings.replace('[127.0.0.0/8, "::1/128"]', '[127.0.0.0/33, salesforce.com]')
  await t.rejects(startBridge(t, { mappings: broken }), /sources\.salesforce\.allowIps\[0\]: an IP address or CIDR range[\s\S]*sources\.salesforce\.allowIps\[1\]: an IP address or CIDR range/)
})
