import t from 'tap'
import { createHmac } from 'node:crypto'
import { genericSource } from '../../src/sources/generic.js'
import { adapterFor, ingest, rejectionOf, webhook } from './helpers.js'

const SECRET = 'generic-webhook-secret'
const settings = {
  eventId: 'eventId',
  occurredAt: 'meta.changedAt',
  eventType: 'meta.kind',
  recordType: 'record.attributes["object type"]',
  recordId: 'record.id',
  fields: 'record',
  changed: 'changed'
}
const body = JSON.stringify({
  eventId: 'evt-1',
  meta: { changedAt: 1764400000, kind: 'contact.updated' },
  record: { id: 42, email: 'ada@example.com', attributes: { 'object type': 'Contact' } },
  changed: ['email', 7]
}, null, 2)

t.test('names the event, record and fields at the configured paths', async t => {
  const adapter = adapterFor(genericSource, 'crm', settings)
  const [event, ...more] = ingest(adapter, webhook({ body }))
  t.equal(more.length, 0)
  t.equal(event!.dedupeKey, 'evt-1')
  t.same(event!.event.event, { id: 'evt-1', occurredAt: '2025-11-29T07:06:40.000Z', type: 'contact.updated' })
  t.same(event!.event.record, {
    type: 'Contact',
    id: '42',
    fields: { id: 42, email: 'ada@example.com', attributes: { 'object type': 'Contact' } },
    changed: ['email']
  })
  t.equal(event!.event.record.fields, (event!.event.raw as { record: unknown }).record, 'fields are the object inside raw, not a copy')
  t.same(event!.event.source, { name: 'crm', type: 'generic' })
})

t.test('a single event carries the body text, for the store to keep as it came', async t => {
  const adapter = adapterFor(genericSource, 'crm', settings)
  const [event] = adapter.parse(webhook({ body }))
  t.equal(event!.rawJson, body)
  t.same(JSON.parse(event!.rawJson!), event!.event.raw)
})

t.test('a batch splits into events, none of which is the whole body', async t => {
  const batch = JSON.stringify({ items: [{ id: 'a', v: 1 }, { id: 'b', v: 2 }] })
  const events = adapterFor(genericSource, 'crm', { batch: 'items' }).parse(webhook({ body: batch }))
  t.same(events.map(e => e.dedupeKey), ['a', 'b'])
  t.same(events.map(e => e.rawJson), [undefined, undefined])
  t.same(events[1]!.event.raw, { id: 'b', v: 2 })
  const array = adapterFor(genericSource, 'crm', {}).parse(webhook({ body: '[{"id":"x"},{"id":7}]' }))
  t.same(array.map(e => [e.dedupeKey, e.rawJson]), [['x', undefined], ['7', undefined]])
})

t.test('bad bodies are a 400 that says what is wrong', async t => {
  const adapter = adapterFor(genericSource, 'crm', {})
  const cases: Array<[string, string, RegExp]> = [
    ['', 'malformed_body', /empty body/],
    ['{"id":', 'malformed_body', /not valid JSON/],
    ['[]', 'malformed_body', /no events/],
    ['["x"]', 'malformed_body', /event 0 is not a JSON object/],
    ['{"name":"no id"}', 'missing_event_id', /no id at "id"/]
  ]
  for (const [text, code, message] of cases) {
    const rejection = rejectionOf(() => adapter.parse(webhook({ body: text })))
    t.equal(rejection.statusCode, 400, text)
    t.equal(rejection.code, code, text)
    t.match(rejection.message, message, text)
  }
  t.equal(rejectionOf(() => adapterFor(genericSource, 'crm', { batch: 'items' }).parse(webhook({ body: '{"items":{}}' }))).message, 'no array at "items"')
})

t.test('HMAC: the signature of the raw bytes, with a prefix and either encoding', async t => {
  const hex = adapterFor(genericSource, 'crm', { auth: { type: 'hmac', secret: SECRET, header: 'X-Hub-Signature-256', prefix: 'sha256=' } })
  const signature = createHmac('sha256', SECRET).update(body).digest('hex')
  t.doesNotThrow(() => hex.authenticate(webhook({ body, headers: { 'x-hub-signature-256': `sha256=${signature.toUpperCase()}` } })))
  t.equal(rejectionOf(() => hex.authenticate(webhook({ body: `${body} `, headers: { 'x-hub-signature-256': `sha256=${signature}` } }))).code, 'bad_signature')
  t.equal(rejectionOf(() => hex.authenticate(webhook({ body, headers: { 'x-hub-signature-256': signature } }))).code, 'bad_signature')
  t.equal(rejectionOf(() => hex.authenticate(webhook({ body }))).statusCode, 401)

  const base64 = adapterFor(genericSource, 'crm', { auth: { type: 'hmac', secret: SECRET, encoding: 'base64' } })
  t.doesNotThrow(() => base64.authenticate(webhook({ body, headers: { 'x-signature': createHmac('sha256', SECRET).update(body).digest('base64') } })))
  const wrong = rejectionOf(() => base64.authenticate(webhook({ body, headers: { 'x-signature': createHmac('sha256', 'guess').update(body).digest('base64') } })))
  t.equal(wrong.code, 'bad_signature')
  t.notMatch(wrong.message, SECRET)
})

t.test('token and basic credentials', async t => {
  const bearer = adapterFor(genericSource, 'crm', { auth: { type: 'token', token: 'a-long-token', scheme: 'Bearer' } })
  t.doesNotThrow(() => bearer.authenticate(webhook({ headers: { authorization: 'Bearer a-long-token' } })))
  t.equal(rejectionOf(() => bearer.authenticate(webhook({ headers: { authorization: 'a-long-token' } }))).code, 'bad_credentials')
  t.equal(rejectionOf(() => bearer.authenticate(webhook())).code, 'missing_credentials')
  const basic = adapterFor(genericSource, 'crm', { auth: { type: 'basic', username: 'crm', password: 'pw-123456' } })
  t.doesNotThrow(() => basic.authenticate(webhook({ headers: { authorization: `Basic ${Buffer.from('crm:pw-123456').toString('base64')}` } })))
  t.equal(rejectionOf(() => basic.authenticate(webhook({ headers: { authorization: `Basic ${Buffer.from('crm:nope').toString('base64')}` } }))).statusCode, 401)
})
