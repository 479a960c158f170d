/**
 * The webhook bodies the benchmarks send, and the mappings file and sandbox flow they fit.
 * - generic: one CRM "contact updated" event of about 1.5 KB, HMAC-SHA256 signed (X-Signature: sha256=<hex>)
 * - hubspot: a batch of 100 contact.propertyChange events, signed with X-HubSpot-Signature-v3
 * - salesforce: a SOAP Outbound Message with 100 Contact notifications
 * Every request carries new event ids (the bridge would answer duplicates without storing them).
 */
import { createHmac } from 'node:crypto'

export const FLOW_ID = 'b3c4d5e6-0000-4000-8000-0000000000b1'
export const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789abcdef'
export const HUBSPOT_SECRET = 'bench-hubspot-client-secret-0123456789'
export const HUBSPOT_PUBLIC_URL = 'https://bridge.bench.invalid/webhooks/hubspot'
export const SALESFORCE_ORG = '00D000000000062EAA'
export const CLIENT_ID = 'bench-client'
export const CLIENT_SECRET = 'bench-client-secret-0123456789'

export const sandboxFlow = {
  id: FLOW_ID,
  name: 'Bench contact sync',
  type: 'workflow',
  publishedVersion: '1.0',
  versions: [{ id: '1.0', inputs: { contactId: 'string', action: 'string', email: 'string', attempts: 'integer', source: 'string' } }]
}

export const mappingsYaml = `
sources:
  crm:
    type: generic
    auth: { type: hmac, header: X-Signature, secret: "\${CRM_WEBHOOK_SECRET}", encoding: hex, prefix: "sha256=" }
    eventId: id
    occurredAt: occurredAt
    recordId: record.id
    recordType: record.type
    fields: record
  hubspot:
    type: hubspot
    clientSecret: "\${HUBSPOT_CLIENT_SECRET}"
    publicUrl: ${HUBSPOT_PUBLIC_URL}
  salesforce:
    type: salesforce
    organizationId: ${SALESFORCE_ORG.slice(0, 15)}
routes:
  - name: contact-sync
    source: crm
    when: { recordType: Contact }
    flow: { id: ${FLOW_ID} }
    inputs:
      contactId: { from: record.id, required: true }
      action: { value: sync }
      email: { from: record.fields.email, transform: [trim, lowercase] }
      attempts: { from: record.fields.count, type: integer }
    redact: [email]
  - name: hubspot-contact
    source: hubspot
    when: { recordType: contact }
    flow: { id: ${FLOW_ID} }
    inputs:
      contactId: { from: record.id, required: true }
      action: { value: hubspot }
      source: { value: hubspot }
  - name: salesforce-contact
    source: salesforce
    when: { recordType: Contact }
    flow: { id: ${FLOW_ID} }
    inputs:
      contactId: { from: record.id, required: true }
      email: record.fields.Email
      source: { value: salesforce }
`

const lorem = 'Prefers email contact in the morning; renewal discussed at the last quarterly review, follow up on the pricing proposal and the onboarding plan for the new team members. '

/** A generic "contact updated" event, 1.4–1.6 KB: what a CRM workflow rule typically posts. */
function genericObject (id, recordId, n, occurredAt) {
  return {
    id,
    type: 'contact.updated',
    occurredAt,
    record: {
      id: recordId,
      type: 'Contact',
      email: ` Contact.${n}@Example.com `,
      count: String(n % 100),
      firstName: 'Ada',
      lastName: 'Lovelace-Byron',
      title: 'Head of Customer Operations',
      phone: '+44 20 7946 0958',
      mobile: '+44 7700 900123',
      company: { id: '001B000000LmX3q', name: 'Analytical Engines Ltd', industry: 'Manufacturing', employees: 1250 },
      address: { street: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'United Kingdom' },
      owner: { id: '005B0000004T1xz', name: 'Charles Babbage', email: 'charles.babbage@example.com' },
      lifecycleStage: 'customer',
      leadSource: 'Partner referral',
      tags: ['priority', 'emea', 'renewal-2027', 'newsletter'],
      lastActivityAt: '2026-11-28T16:42:10.000Z',
      customFields: { accountTier: 'Enterprise', region: 'EMEA', preferredLanguage: 'en-GB', marketingConsent: true, nps: 9, renewalDate: '2027-03-31', accountManager: 'Grace Hopper', segment: 'Manufacturing / Industrial automation' },
      description: lorem + lorem.slice(0, 80)
    },
    previous: { lifecycleStage: 'opportunity', phone: '+44 20 7946 0000', title: 'Customer Operations Manager' },
    changed: ['email', 'phone', 'lifecycleStage', 'title']
  }
}

// The load generator builds a body per request: splicing the varying parts into a serialized
// template keeps its cost per request low (the baseline is otherwise capped by the generator).
const ID = '@@id@@'
const RECORD = '@@record@@'
const N = '@@n@@'
const COUNT = '@@count@@'
const AT = '@@at@@'
const template = JSON.stringify(genericObject(ID, RECORD, 0, AT)).replace(' Contact.0@', ` Contact.${N}@`).replace('"count":"0"', `"count":"${COUNT}"`)
const parts = template.split(/@@(?:id|record|n|count|at)@@/)
const order = [...template.matchAll(/@@(id|record|n|count|at)@@/g)].map(m => m[1])
const runTag = `${process.pid}-${Date.now().toString(36)}`

export function genericBody (n, recordId = `003B${String(n).padStart(10, '0')}`) {
  const values = { id: `evt-${runTag}-${n}`, record: recordId, n: String(n), count: String(n % 100), at: new Date().toISOString() }
  let out = parts[0]
  for (let i = 0; i < order.length; i++) out += values[order[i]] + parts[i + 1]
  return out
}

export function genericHeaders (body) {
  return { 'content-type': 'application/json', 'x-signature': `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}` }
}

/** 100 HubSpot contact.propertyChange events (unique eventIds), as HubSpot batches them. */
export function hubspotBody (n) {
  const base = (process.pid * 1_000_000 + n) * 100
  const events = []
  for (let i = 0; i < 100; i++) {
    events.push({
      eventId: base + i,
      subscriptionId: 25,
      portalId: 33,
      appId: 1160452,
      occurredAt: Date.now(),
      subscriptionType: 'contact.propertyChange',
      attemptNumber: 0,
      objectId: 1_000_000 + ((n * 100 + i) % 500_000),
      propertyName: 'lifecyclestage',
      propertyValue: 'customer',
      changeSource: 'CRM_UI',
      sourceId: 'userId:52530071'
    })
  }
  return JSON.stringify(events)
}

export function hubspotHeaders (body) {
  const timestamp = String(Date.now())
  const signature = createHmac('sha256', HUBSPOT_SECRET).update('POST').update(HUBSPOT_PUBLIC_URL).update(body).update(timestamp).digest('base64')
  return { 'content-type': 'application/json', 'x-hubspot-request-timestamp': timestamp, 'x-hubspot-signature-v3': signature }
}

/** A Salesforce Outbound Message with 100 Contact notifications (unique notification ids). */
export function salesforceBody (n) {
  const stamp = new Date().toISOString()
  const parts = []
  for (let i = 0; i < 100; i++) {
    const k = n * 100 + i
    const id = `04l${process.pid.toString(36)}${k.toString(36)}`.padEnd(18, 'A').slice(0, 18)
    const contact = `003${k.toString(36).padStart(12, '0')}AAA`
    parts.push(`   <Notification>
    <Id>${id}</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>${contact}</sf:Id>
     <sf:Email>contact.${k}@example.com</sf:Email>
     <sf:FirstName>Jane</sf:FirstName>
     <sf:LastName>Doe &amp; Sons</sf:LastName>
     <sf:MobilePhone xsi:nil="true"/>
     <sf:SystemModstamp>${stamp}</sf:SystemModstamp>
    </sObject>
   </Notification>`)
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${SALESFORCE_ORG}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId>00D000000000062!AQ0AQFakeSessionTokenDoNotLog.bench</SessionId>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/61.0/00D000000000062</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/61.0/00D000000000062</PartnerUrl>
${parts.join('\n')}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`
}

export function salesforceHeaders () {
  return { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' }
}

export const kinds = {
  generic: { path: '/webhooks/crm', body: genericBody, headers: genericHeaders, eventsPerRequest: 1 },
  hubspot: { path: '/webhooks/hubspot', body: hubspotBody, headers: hubspotHeaders, eventsPerRequest: 100 },
  salesforce: { path: '/webhooks/salesforce', body: salesforceBody, headers: () => salesforceHeaders(), eventsPerRequest: 100 }
}

/** The launch request the bridge sends for a generic event (the bare undici baseline posts the same). */
export function launchBody (n) {
  return JSON.stringify({
    flowId: FLOW_ID,
    inputData: { 'Flow.contactId': `003B${String(n).padStart(10, '0')}`, 'Flow.action': 'sync', 'Flow.email': `contact.${n}@example.com`, 'Flow.attempts': n % 100 },
    name: `crm-flow-bridge 0190a1b2-c3d4-7e5f-8a9b-${String(n).padStart(12, '0')}`
  })
}
