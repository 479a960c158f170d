/**
 * Whatever arrives, an adapter either returns events or refuses with a 4xx SourceRejection:
 * random bytes, random JSON, truncated and bit-flipped fixtures, with valid credentials so that
 * parse is reached, and with random headers so that authenticate is exercised.
 */
import t from 'tap'
import fc from 'fast-check'
import { SourceRejection, type IncomingWebhook, type SourceAdapter } from '../../src/sources/source-adapter.js'
import { salesforceSource } from '../../src/sources/salesforce.js'
import { hubspotSource } from '../../src/sources/hubspot.js'
import { dynamicsSource } from '../../src/sources/dynamics.js'
import { zendeskSource } from '../../src/sources/zendesk.js'
import { pipedriveSource } from '../../src/sources/pipedrive.js'
import { adapterFor, fixture, hmacBase64, webhook } from './helpers.js'

const NOW = new Date('2024-05-02T09:30:20Z')
const RUNS = 300

interface Subject {
  adapter: SourceAdapter
  fixtures: Buffer[]
  /** A request carrying valid credentials for `body`. */
  request (body: Buffer): IncomingWebhook
}

const subjects: Record<string, Subject> = {
  salesforce: {
    adapter: adapterFor(salesforceSource, 'sf', { organizationId: '00D000000000062' }),
    fixtures: [fixture('salesforce/contact-notifications.xml'), fixture('salesforce/opportunity-nil-session.xml')],
    request: body => webhook({ body, receivedAt: NOW })
  },
  hubspot: {
    adapter: adapterFor(hubspotSource, 'hs', { clientSecret: 's3cret', publicUrl: 'https://bridge.example.com/webhooks/hs' }),
    fixtures: [fixture('hubspot/batch.json'), fixture('hubspot/v1-vector.json')],
    request: body => {
      const timestamp = String(NOW.getTime())
      return webhook({
        body,
        receivedAt: NOW,
        headers: { 'x-hubspot-signature-v3': hmacBase64('s3cret', 'POST', 'https://bridge.example.com/webhooks/hs', body, timestamp), 'x-hubspot-request-timestamp': timestamp }
      })
    }
  },
  dynamics: {
    adapter: adapterFor(dynamicsSource, 'crm', { auth: { type: 'code', value: 'k' } }),
    fixtures: [fixture('dynamics/update-contact.json'), fixture('dynamics/size-exceeded.json')],
    request: body => webhook({ body, receivedAt: NOW, query: { code: 'k' } })
  },
  zendesk: {
    adapter: adapterFor(zendeskSource, 'zd', { signingSecret: 'zs', eventId: 'id', recordId: 'detail.id', fields: 'detail', changed: 'changed' }),
    fixtures: [fixture('zendesk/ticket-status-changed.json'), fixture('zendesk/trigger-ticket-solved.json')],
    request: body => {
      const timestamp = '2024-05-02T09:30:16Z'
      return webhook({
        body,
        receivedAt: NOW,
        headers: {
          'x-zendesk-webhook-signature': hmacBase64('zs', timestamp, body),
          'x-zendesk-webhook-signature-timestamp': timestamp,
          // Present on every real request; left out for half the bodies so a missing id is exercised too.
          'x-zendesk-webhook-invocation-id': body.length % 2 === 0 ? '1' : undefined
        }
      })
    }
  },
  pipedrive: {
    adapter: adapterFor(pipedriveSource, 'pd', { auth: { type: 'basic', username: 'u', password: 'p' } }),
    fixtures: [fixture('pipedrive/person-change.json'), fixture('pipedrive/person-delete.json')],
    request: body => webhook({ body, receivedAt: NOW, headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` } })
  }
}

const outcomes = { events: 0, rejected: 0 }

/** Runs authenticate + parse; true when it returned well-formed events or refused with a 4xx. */
function behaves (adapter: SourceAdapter, req: IncomingWebhook): boolean {
  try {
    adapter.authenticate(req)
    const events = adapter.parse(req)
    outcomes.events++
    return events.every(({ dedupeKey, event }) =>
      typeof dedupeKey === 'string' && dedupeKey !== '' &&
      typeof event.event.id === 'string' && event.event.id !== '' &&
      typeof event.record.fields === 'object' && event.record.fields !== null && !Array.isArray(event.record.fields) &&
      (event.record.changed === null || event.record.changed.every(c => typeof c === 'string')) &&
      event.source.name === adapter.name)
  } catch (err) {
    if (err instanceof SourceRejection && err.statusCode >= 400 && err.statusCode < 500) {
      outcomes.rejected++
      // The error form must always be buildable.
      return adapter.errorReply(err).statusCode === err.statusCode
    }
    throw err
  }
}

const jsonText = fc.jsonValue({ maxDepth: 6 }).map(value => JSON.stringify(value))

/** JSON shaped like each CRM's payload, with random values where the adapter looks. */
const shaped: Record<string, fc.Arbitrary<string>> = {
  salesforce: fc.tuple(
    fc.constantFrom('00D000000000062EAA', '00D000000000062', ''),
    fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), fc.oneof(fc.string(), fc.constant(null))), fc.option(fc.stringMatching(/^[a-z]{0,3}:?[A-Za-z]{0,8}$/))), { maxLength: 4 })
  ).map(([org, notifications]) => `<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><e:Body><notifications><OrganizationId>${org}</OrganizationId>${notifications.map(([id, fields, type]) =>
    `<Notification><Id>${id}</Id><sObject${type === null ? '' : ` xsi:type="${type}"`}>${Object.entries(fields).map(([k, v]) => v === null ? `<sf:${k} xsi:nil="true"/>` : `<sf:${k}>${v}</sf:${k}>`).join('')}</sObject></Notification>`).join('')}</notifications></e:Body></e:Envelope>`),
  hubspot: fc.array(fc.record({
    eventId: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
    subscriptionType: fc.oneof(fc.string(), fc.constantFrom('contact.propertyChange', 'object.creation', '.', '')),
    objectTypeId: fc.jsonValue(),
    objectId: fc.jsonValue(),
    occurredAt: fc.oneof(fc.integer(), fc.double(), fc.string()),
    propertyName: fc.jsonValue(),
    propertyValue: fc.jsonValue()
  }, { requiredKeys: [] }), { maxLength: 5 }).map(value => JSON.stringify(value)),
  dynamics: fc.record({
    OperationId: fc.oneof(fc.uuid(), fc.constant('00000000-0000-0000-0000-000000000000'), fc.jsonValue()),
    RequestId: fc.oneof(fc.uuid(), fc.jsonValue()),
    CorrelationId: fc.oneof(fc.uuid(), fc.jsonValue()),
    OwningExtension: fc.jsonValue(),
    OperationCreatedOn: fc.oneof(fc.integer().map(n => `/Date(${n}${n % 2 === 0 ? '+0100' : ''})/`), fc.jsonValue()),
    InputParameters: fc.oneof(fc.jsonValue(), fc.array(fc.record({ key: fc.constantFrom('Target', 'x'), value: fc.record({ Attributes: fc.array(fc.record({ key: fc.string(), value: fc.jsonValue() })) }) }))),
    PostEntityImages: fc.oneof(fc.jsonValue(), fc.array(fc.record({ key: fc.string(), value: fc.record({ Attributes: fc.jsonValue() }) })))
  }, { requiredKeys: [] }).map(value => JSON.stringify(value)),
  zendesk: fc.record({
    type: fc.oneof(fc.string().map(s => `zen:event-type:${s}`), fc.constantFrom('zen:event-type:ticket.status_changed', 'zen:event-type:.', 'zen:event-type:'), fc.jsonValue()),
    id: fc.jsonValue(),
    time: fc.jsonValue(),
    subject: fc.jsonValue(),
    detail: fc.jsonValue(),
    event: fc.jsonValue(),
    changed: fc.jsonValue()
  }, { requiredKeys: [] }).map(value => JSON.stringify(value)),
  pipedrive: fc.record({
    meta: fc.oneof(fc.jsonValue(), fc.record({ id: fc.jsonValue(), action: fc.jsonValue(), entity: fc.jsonValue(), entity_id: fc.jsonValue(), timestamp: fc.jsonValue(), v: fc.jsonValue() }, { requiredKeys: [] })),
    data: fc.jsonValue(),
    previous: fc.oneof(fc.jsonValue(), fc.dictionary(fc.string(), fc.jsonValue()))
  }, { requiredKeys: [] }).map(value => JSON.stringify(value))
}

for (const [type, subject] of Object.entries(subjects)) {
  t.test(type, async t => {
    const { adapter } = subject
    const fixtures = fc.constantFrom(...subject.fixtures)

    t.test('random bytes', async t => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => behaves(adapter, subject.request(Buffer.from(bytes)))), { numRuns: RUNS })
      t.pass()
    })

    t.test('random JSON', async t => {
      fc.assert(fc.property(jsonText, text => behaves(adapter, subject.request(Buffer.from(text)))), { numRuns: RUNS })
      t.pass()
    })

    t.test('payloads shaped like the CRM\'s', async t => {
      const arbitrary = shaped[type]
      if (arbitrary === undefined) throw new Error(`no shaped arbitrary for ${type}`)
      const before = { ...outcomes }
      fc.assert(fc.property(arbitrary, text => behaves(adapter, subject.request(Buffer.from(text)))), { numRuns: RUNS })
      // Both paths must actually be exercised, or the property proves little.
      t.ok(outcomes.events > before.events, `${outcomes.events - before.events} accepted`)
      t.ok(outcomes.rejected > before.rejected, `${outcomes.rejected - before.rejected} refused`)
    })

    t.test('truncated fixtures', async t => {
      fc.assert(fc.property(fixtures, fc.nat(), (body, cut) => behaves(adapter, subject.request(body.subarray(0, cut % (body.length + 1))))), { numRuns: RUNS })
      t.pass()
    })

    t.test('fixtures with flipped bytes', async t => {
      fc.assert(fc.property(fixtures, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (body, flips) => {
        const copy = Buffer.from(body)
        for (const [at, value] of flips) copy[at % copy.length] = value
        return behaves(adapter, subject.request(copy))
      }), { numRuns: RUNS })
      t.pass()
    })

    t.test('random headers and query, no valid credentials', async t => {
      const strings = fc.dictionary(fc.string({ maxLength: 40 }).map(s => s.toLowerCase()), fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 })), { maxKeys: 6 })
      fc.assert(fc.property(fixtures, strings, strings, fc.constantFrom('POST', 'GET', 'put'), (body, headers, query, method) =>
        behaves(adapter, webhook({ body, headers, query, method, receivedAt: NOW }))), { numRuns: RUNS })
      t.pass()
    })

    t.test('deep nesting', async t => {
      const deepJson = '['.repeat(50_000) + ']'.repeat(50_000)
      const deepXml = '<a>'.repeat(5_000) + '</a>'.repeat(5_000)
      t.ok(behaves(adapter, subject.request(Buffer.from(deepJson))))
      t.ok(behaves(adapter, subject.request(Buffer.from(deepXml))))
    })
  })
}
