import t from 'tap'
import { attributeValue, dynamicsSource, wcfDateToIso } from '../../src/sources/dynamics.js'
import { SourceRejection } from '../../src/sources/source-adapter.js'
import { adapterFor, emptySummary, fixture, fixtureJson, ingest, rejectionOf, webhook, type WebhookInit } from './helpers.js'

const KEY = 'k3y-from-the-service-endpoint'
const adapter = adapterFor(dynamicsSource, 'dataverse', { auth: { type: 'header', name: 'X-Bridge-Key', value: KEY } })

const post = (body: string | Buffer, init: WebhookInit = {}) => webhook({
  url: '/webhooks/dataverse',
  body,
  ...init,
  headers: {
    'content-type': 'application/json',
    'x-ms-dynamics-organization': 'org6eadd181.crm.dynamics.com',
    'x-ms-dynamics-entity-name': 'contact',
    'x-ms-dynamics-request-name': 'update',
    'x-bridge-key': KEY,
    ...init.headers
  }
})

const context = (overrides: Record<string, unknown>) => JSON.stringify({ ...(fixtureJson('dynamics/update-contact.json') as object), ...overrides })

t.test('settings: auth is required', async t => {
  t.throws(() => adapterFor(dynamicsSource, 'dataverse', {}))
  t.throws(() => adapterFor(dynamicsSource, 'dataverse', { auth: { type: 'none' } }))
  t.throws(() => adapterFor(dynamicsSource, 'dataverse', { auth: { type: 'code', value: '' } }))
})

t.test('authenticate', async t => {
  const body = fixture('dynamics/update-contact.json')

  t.test('HttpHeader: configured header name, any case', async t => {
    t.doesNotThrow(() => adapter.authenticate(post(body)))
    const wrong = rejectionOf(() => adapter.authenticate(post(body, { headers: { 'x-bridge-key': 'guess' } })))
    t.equal(wrong.statusCode, 401)
    t.equal(wrong.code, 'bad_credentials')
    t.notMatch(wrong.message, KEY)
    const missing = rejectionOf(() => adapter.authenticate(post(body, { headers: { 'x-bridge-key': undefined } })))
    t.equal(missing.statusCode, 401)
    t.equal(missing.code, 'missing_credentials')
  })

  t.test('WebhookKey: ?code=', async t => {
    const coded = adapterFor(dynamicsSource, 'dataverse', { auth: { type: 'code', value: KEY } })
    t.doesNotThrow(() => coded.authenticate(post(body, { url: `/webhooks/dataverse?code=${KEY}`, query: { code: KEY } })))
    t.equal(rejectionOf(() => coded.authenticate(post(body, { query: { code: 'nope' } }))).code, 'bad_credentials')
    t.equal(rejectionOf(() => coded.authenticate(post(body))).code, 'missing_credentials')
    t.doesNotThrow(() => coded.authenticate(post(body, { query: { code: [KEY, 'other'] } })), 'first of repeated parameters')
  })

  t.test('HttpQueryString: one configured pair', async t => {
    const query = adapterFor(dynamicsSource, 'dataverse', { auth: { type: 'query', name: 'token', value: KEY } })
    t.doesNotThrow(() => query.authenticate(post(body, { query: { token: KEY, other: 'x' } })))
    t.equal(rejectionOf(() => query.authenticate(post(body, { query: { Token: KEY } }))).code, 'missing_credentials')
  })
})

t.test('parse: Update with Target, post-image, lookups, option sets, money and dates', async t => {
  const events = ingest(adapter, post(fixture('dynamics/update-contact.json')))
  t.strictSame(events, [{
    dedupeKey: '00aa00aa-bb11-cc22-dd33-44ee44ee44ee:4af10637-4ea2-e711-8122-000d3aa2331c:75417616-4ea2-e711-8122-000d3aa2331c',
    event: {
      event: { id: '4af10637-4ea2-e711-8122-000d3aa2331c', occurredAt: '2017-09-26T07:04:08.000Z', type: 'Update' },
      record: {
        type: 'contact',
        id: '6d81597f-0f9f-e711-8122-000d3aa2331c',
        fields: {
          firstname: 'James',
          contactid: '6d81597f-0f9f-e711-8122-000d3aa2331c',
          fullname: 'James Glynn',
          preferredcontactmethodcode: 2,
          annualincome: 85000.5,
          modifiedon: '2017-09-26T00:04:07.000Z',
          modifiedby: '11bb11bb-cc22-dd33-ee44-55ff55ff55ff',
          modifiedonbehalfby: null,
          emailaddress1: 'james.glynn@example.com',
          parentcustomerid: 'a8a19cdd-88df-e311-b8e5-6c3be5a8b200',
          birthdate: '1980-01-01T00:00:00.000Z'
        },
        changed: ['firstname', 'contactid', 'fullname', 'preferredcontactmethodcode', 'annualincome', 'modifiedon', 'modifiedby', 'modifiedonbehalfby']
      },
      raw: fixtureJson('dynamics/update-contact.json'),
      source: { name: 'dataverse', type: 'dynamics' }
    }
  }])
})

t.test('raw keeps the full lookup objects', async t => {
  const [event] = ingest(adapter, post(fixture('dynamics/update-contact.json')))
  t.match(event?.event.raw, { PostEntityImages: [{ value: { Attributes: [{}, {}, {}, { key: 'parentcustomerid', value: { LogicalName: 'account', Name: 'Fourth Coffee (sample)' } }] } }] })
})

t.test('payload over 256 KB: noted, still accepted, identified by RequestId', async t => {
  const req = post(fixture('dynamics/size-exceeded.json'), { headers: { 'x-ms-dynamics-msg-size-exceeded': 'true', 'x-ms-dynamics-entity-name': 'incident' } })
  t.match(adapter.notes?.(req), { msgSizeExceeded: true })
  t.equal(adapter.notes?.(post(fixture('dynamics/update-contact.json'))), undefined)
  const [event] = ingest(adapter, req)
  t.equal(event?.dedupeKey, '00aa00aa-bb11-cc22-dd33-44ee44ee44ee:request:c1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8:85417616-4ea2-e711-8122-000d3aa2331c')
  t.strictSame(event?.event.event, { id: 'c1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8', occurredAt: '2024-05-02T09:30:15.000Z', type: 'Update' })
  t.strictSame(event?.event.record, { type: 'incident', id: '7e81597f-0f9f-e711-8122-000d3aa2331c', fields: {}, changed: null })
})

t.test('identity falls back to CorrelationId, narrowed by message, record and depth', async t => {
  const body = context({ OperationId: null, RequestId: '00000000-0000-0000-0000-000000000000' })
  const [event] = ingest(adapter, post(body))
  t.equal(event?.event.event.id, 'aaaa0000-bb11-2222-33cc-444444dddddd')
  t.equal(event?.dedupeKey, '00aa00aa-bb11-cc22-dd33-44ee44ee44ee:correlation:aaaa0000-bb11-2222-33cc-444444dddddd:75417616-4ea2-e711-8122-000d3aa2331c:Update:contact:6d81597f-0f9f-e711-8122-000d3aa2331c:1')
  const none = rejectionOf(() => ingest(adapter, post(context({ OperationId: null, RequestId: null, CorrelationId: null }))))
  t.equal(none.statusCode, 400)
  t.equal(none.code, 'missing_event_id')
})

t.test('Delete: Target is an EntityReference, no attribute changed', async t => {
  const body = context({
    MessageName: 'Delete',
    InputParameters: [{ key: 'Target', value: { __type: 'EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts', Id: '6d81597f-0f9f-e711-8122-000d3aa2331c', LogicalName: 'contact', Name: null } }],
    PostEntityImages: []
  })
  const [event] = ingest(adapter, post(body))
  t.strictSame(event?.event.record, { type: 'contact', id: '6d81597f-0f9f-e711-8122-000d3aa2331c', fields: {}, changed: [] })
  t.equal(event?.event.event.type, 'Delete')
})

t.test('attribute values', async t => {
  t.equal(wcfDateToIso('/Date(1506409448000-0700)/'), '2017-09-26T07:04:08.000Z', 'the offset is informational; ms are UTC')
  t.equal(wcfDateToIso('/Date(-86400000)/'), '1969-12-31T00:00:00.000Z')
  t.equal(wcfDateToIso('/Date(99999999999999999)/'), null, 'out of range')
  t.equal(wcfDateToIso('2017-09-26'), null)
  t.strictSame(attributeValue([{ __type: 'OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts', Value: 1 }, { __type: 'OptionSetValue:x', Value: 3 }]), [1, 3], 'multi-select option set')
  t.strictSame(attributeValue({
    __type: 'EntityCollection:http://schemas.microsoft.com/xrm/2011/Contracts',
    Entities: [{ Attributes: [{ key: 'partyid', value: { __type: 'EntityReference:x', Id: 'p1', LogicalName: 'contact' } }] }]
  }), [{ partyid: 'p1' }], 'activity parties')
  t.equal(attributeValue({ __type: 'BooleanManagedProperty:x', Value: true, CanBeChanged: true }), true)
  t.strictSame(attributeValue({ plain: '/Date(0)/' }), { plain: '1970-01-01T00:00:00.000Z' })
  t.equal(attributeValue(42), 42)
  // Deep nesting (untrusted input) is bounded, not recursed without limit.
  let deep: unknown = 'leaf'
  for (let i = 0; i < 10_000; i++) deep = [deep]
  t.doesNotThrow(() => attributeValue(deep))
})

t.test('parse: refusals', async t => {
  for (const body of ['', '[]', '"x"', '{']) {
    const rejection = rejectionOf(() => ingest(adapter, post(body)))
    t.equal(rejection.statusCode, 400, JSON.stringify(body))
  }
})

t.test('replies', async t => {
  t.strictSame(adapter.reply(emptySummary), { statusCode: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify(emptySummary) })
  t.equal(adapter.errorReply(new SourceRejection(401, 'bad_credentials', 'no')).statusCode, 401)
  t.equal(adapter.errorReply(new SourceRejection(401, 'bad_credentials', 'no')).body, '{"error":"bad_credentials","message":"no"}')
})
