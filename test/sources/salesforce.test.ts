import t from 'tap'
import { salesforceSource, SALESFORCE_ACK } from '../../src/sources/salesforce.js'
import { SourceRejection } from '../../src/sources/source-adapter.js'
import { adapterFor, emptySummary, fixture, ingest, rejectionOf, webhook } from './helpers.js'

const ORG_15 = '00D000000000062'
const ORG_18 = '00D000000000062EAA'
const SESSION_ID = '00D000000000062!AQ0AQFakeSessionTokenDoNotLog.qwertyuiop'

const adapter = adapterFor(salesforceSource, 'sfdc', { organizationId: ORG_18 })
const soap = (body: string | Buffer) => webhook({ url: '/webhooks/sfdc', headers: { 'content-type': 'text/xml; charset=utf-8' }, body })

function envelope (notifications: string, org = ORG_18): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   ${notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`
}

function notification (id: string): string {
  return `<Notification><Id>${id}</Id><sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>00Q000000000001AAA</sf:Id></sObject></Notification>`
}

t.test('settings', async t => {
  t.throws(() => adapterFor(salesforceSource, 'sfdc', { organizationId: '00D123' }), 'org id must be 15 or 18 chars')
  t.throws(() => adapterFor(salesforceSource, 'sfdc', {}), 'org id is required')
  t.same(adapter.contentTypes, ['text/xml', 'application/xml', 'application/soap+xml'])
})

t.test('authenticate', async t => {
  const body = fixture('salesforce/contact-notifications.xml')
  t.test('accepts the configured org, 18- or 15-char form', async t => {
    t.doesNotThrow(() => adapter.authenticate(soap(body)))
    const short = adapterFor(salesforceSource, 'sfdc', { organizationId: ORG_15 })
    t.doesNotThrow(() => short.authenticate(soap(body)))
  })

  t.test('rejects another org with 403', async t => {
    const other = adapterFor(salesforceSource, 'sfdc', { organizationId: '00D000000000099' })
    const rejection = rejectionOf(() => other.authenticate(soap(body)))
    t.equal(rejection.statusCode, 403)
    t.equal(rejection.code, 'wrong_organization')
    t.notMatch(rejection.message, SESSION_ID)
  })

  t.test('compares the 15-char id case-sensitively', async t => {
    const lower = adapterFor(salesforceSource, 'sfdc', { organizationId: ORG_15.toLowerCase() })
    t.equal(rejectionOf(() => lower.authenticate(soap(body))).statusCode, 403)
  })

  t.test('rejects a message without OrganizationId', async t => {
    const xml = envelope(notification('04l000000000001AAA')).replace(/<OrganizationId>.*<\/OrganizationId>/, '')
    const rejection = rejectionOf(() => adapter.authenticate(soap(xml)))
    t.equal(rejection.statusCode, 400)
    t.equal(rejection.code, 'malformed_body')
  })
})

t.test('parse: one event per Notification', async t => {
  const events = ingest(adapter, soap(fixture('salesforce/contact-notifications.xml')))
  const raw = {
    OrganizationId: ORG_18,
    ActionId: '04k000000000001AAA',
    EnterpriseUrl: 'https://example.my.salesforce.com/services/Soap/c/61.0/00D000000000062',
    PartnerUrl: 'https://example.my.salesforce.com/services/Soap/u/61.0/00D000000000062',
    sessionIdPresent: true
  }
  const jane = {
    Id: '003000000000001AAA',
    Email: 'jane.doe@example.com',
    FirstName: 'Jane',
    LastName: 'Doe & Sons',
    MobilePhone: null,
    SystemModstamp: '2024-05-02T09:30:15.000Z'
  }
  const jose = {
    Id: '003000000000002AAA',
    Email: 'jose@example.com',
    FirstName: 'José',
    LastName: 'García',
    MobilePhone: '+34 600 000 000',
    SystemModstamp: '2024-05-02T09:31:00.000Z'
  }
  const bob = { Id: '003000000000003AAA', Email: null, FirstName: '<Bob>', LastName: 'Smith', MobilePhone: null }
  t.strictSame(events, [
    {
      dedupeKey: '04l000000000001AAA',
      event: {
        event: { id: '04l000000000001AAA', occurredAt: '2024-05-02T09:30:15.000Z', type: '04k000000000001AAA' },
        record: { type: 'Contact', id: '003000000000001AAA', fields: jane, changed: null },
        raw: { ...raw, Id: '04l000000000001AAA', sObjectType: 'Contact', sObject: jane },
        source: { name: 'sfdc', type: 'salesforce' }
      }
    },
    {
      dedupeKey: '04l000000000002AAA',
      event: {
        event: { id: '04l000000000002AAA', occurredAt: '2024-05-02T09:31:00.000Z', type: '04k000000000001AAA' },
        record: { type: 'Contact', id: '003000000000002AAA', fields: jose, changed: null },
        raw: { ...raw, Id: '04l000000000002AAA', sObjectType: 'Contact', sObject: jose },
        source: { name: 'sfdc', type: 'salesforce' }
      }
    },
    {
      dedupeKey: '04l000000000003AAA',
      event: {
        event: { id: '04l000000000003AAA', occurredAt: null, type: '04k000000000001AAA' },
        record: { type: 'Contact', id: '003000000000003AAA', fields: bob, changed: null },
        raw: { ...raw, Id: '04l000000000003AAA', sObjectType: 'Contact', sObject: bob },
        source: { name: 'sfdc', type: 'salesforce' }
      }
    }
  ])
})

t.test('the SessionId never leaves the adapter', async t => {
  const events = ingest(adapter, soap(fixture('salesforce/contact-notifications.xml')))
  t.notMatch(JSON.stringify(events), 'FakeSessionToken')
  // A broken message that contains one must not quote it back either.
  const broken = fixture('salesforce/contact-notifications.xml').toString('utf8').replace('</SessionId>', '</Session>')
  const rejection = rejectionOf(() => adapter.authenticate(soap(broken)))
  t.equal(rejection.statusCode, 400)
  t.notMatch(rejection.message, 'FakeSessionToken')
  t.notMatch(adapter.errorReply(rejection).body, 'FakeSessionToken')
})

t.test('nil SessionId, values kept as text, a notification with no data', async t => {
  const events = ingest(adapter, soap(fixture('salesforce/opportunity-nil-session.xml')))
  t.equal(events.length, 2)
  t.match(events[0]?.event, {
    event: { id: '04l000000000010AAA', type: '04k000000000009AAA', occurredAt: null },
    record: { type: 'Opportunity', id: '006000000000001AAA', fields: { Amount: '15000.0', IsWon: 'false', StageName: 'Negotiation/Review' } },
    raw: { sessionIdPresent: false }
  })
  t.strictSame(events[1]?.event.record, { type: null, id: null, fields: {}, changed: null })
  t.equal(events[1]?.dedupeKey, '04l000000000011AAA')
})

t.test('accepts the prefixes Salesforce does not use, by namespace-free local names', async t => {
  const xml = `<?xml version="1.0"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>
<om:notifications xmlns:om="http://soap.sforce.com/2005/09/outbound"><om:OrganizationId>${ORG_15}</om:OrganizationId>
<om:Notification><om:Id>04l000000000001AAA</om:Id><om:sObject xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="x:Case" xmlns:x="urn:sobject.enterprise.soap.sforce.com"><x:Id>500000000000001AAA</x:Id><x:Subject i:nil="true"/></om:sObject></om:Notification>
</om:notifications></S:Body></S:Envelope>`
  const [event] = ingest(adapter, soap(xml))
  t.match(event?.event.record, { type: 'Case', id: '500000000000001AAA', fields: { Id: '500000000000001AAA', Subject: null } })
  t.equal(event?.event.event.type, null, 'no ActionId')
})

t.test('refuses unsafe or malformed XML with 400', async t => {
  const cases: Record<string, string> = {
    'a DOCTYPE (entity expansion)': `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>${envelope(notification('04l000000000001AAA'))}`,
    'an external entity': `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>`,
    'not XML': '{"OrganizationId":"00D000000000062"}',
    'not well-formed': envelope(notification('04l000000000001AAA')).replace('</notifications>', ''),
    'not a SOAP envelope': `<notifications><OrganizationId>${ORG_18}</OrganizationId></notifications>`,
    'no Notification': envelope(''),
    'empty body': ''
  }
  for (const [label, xml] of Object.entries(cases)) {
    const rejection = rejectionOf(() => ingest(adapter, soap(xml)))
    t.equal(rejection.statusCode, 400, label)
    t.equal(rejection.code, 'malformed_body', label)
  }
  const noId = rejectionOf(() => ingest(adapter, soap(envelope('<Notification><Id></Id></Notification>'))))
  t.equal(noId.code, 'missing_event_id')
})

t.test('100 notifications pass, 101 are refused', async t => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => notification(`04l${String(i).padStart(12, '0')}AAA`)).join('')
  t.equal(ingest(adapter, soap(envelope(ids(100)))).length, 100)
  const rejection = rejectionOf(() => ingest(adapter, soap(envelope(ids(101)))))
  t.equal(rejection.statusCode, 400)
  t.equal(rejection.code, 'too_many_events')
})

t.test('reply: the exact Ack envelope', async t => {
  const reply = adapter.reply({ ...emptySummary, events: 3 })
  t.equal(reply.statusCode, 200)
  t.equal(reply.contentType, 'text/xml; charset=utf-8')
  t.equal(reply.body, fixture('salesforce/ack-response.xml').toString('utf8'))
  t.equal(reply.body, SALESFORCE_ACK)
})

t.test('errorReply: a SOAP Fault with the rejection status', async t => {
  const reply = adapter.errorReply(new SourceRejection(403, 'wrong_organization', 'OrganizationId <x> & "y"'))
  t.equal(reply.statusCode, 403)
  t.equal(reply.contentType, 'text/xml; charset=utf-8')
  t.equal(reply.body, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <soapenv:Fault>
   <faultcode>soapenv:Client</faultcode>
   <faultstring>OrganizationId &lt;x&gt; &amp; &quot;y&quot;</faultstring>
  </soapenv:Fault>
 </soapenv:Body>
</soapenv:Envelope>`)
})

t.test('errorReply: a Server fault when the bridge cannot store (ingress\'s 503)', async t => {
  const reply = adapter.errorReply(new SourceRejection(503, 'store_unavailable', 'retry later'))
  t.equal(reply.statusCode, 503)
  t.match(reply.body, '<faultcode>soapenv:Server</faultcode>')
  t.match(reply.body, '<faultstring>retry later</faultstring>')
})
