import t from 'tap'
import { pipedriveChangedFields, pipedriveSource } from '../../src/sources/pipedrive.js'
import { SourceRejection } from '../../src/sources/source-adapter.js'
import { adapterFor, emptySummary, fixture, fixtureJson, ingest, rejectionOf, webhook, type WebhookInit } from './helpers.js'

const USER = 'pipedrive-hook'
const PASSWORD = 'correct horse battery staple'
const adapter = adapterFor(pipedriveSource, 'pipedrive', { auth: { type: 'basic', username: USER, password: PASSWORD } })
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

const post = (body: string | Buffer, init: WebhookInit = {}) => webhook({
  url: '/webhooks/pipedrive',
  body,
  ...init,
  headers: { 'content-type': 'application/json', authorization: basic(USER, PASSWORD), ...init.headers }
})

t.test('settings: auth must be chosen, never silently open', async t => {
  t.throws(() => adapterFor(pipedriveSource, 'pipedrive', {}))
  t.throws(() => adapterFor(pipedriveSource, 'pipedrive', { auth: { type: 'basic', username: USER } }))
  const open = adapterFor(pipedriveSource, 'pipedrive', { auth: { type: 'none' } })
  t.doesNotThrow(() => open.authenticate(post('{}', { headers: { authorization: undefined } })))
})

t.test('authenticate', async t => {
  const body = fixture('pipedrive/person-change.json')
  t.doesNotThrow(() => adapter.authenticate(post(body)))
  const wrong = rejectionOf(() => adapter.authenticate(post(body, { headers: { authorization: basic(USER, 'guess') } })))
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.code, 'bad_credentials')
  t.notMatch(wrong.message, PASSWORD)
  const missing = rejectionOf(() => adapter.authenticate(post(body, { headers: { authorization: undefined } })))
  t.equal(missing.statusCode, 401)
  t.equal(missing.code, 'missing_credentials')

  const token = adapterFor(pipedriveSource, 'pipedrive', { auth: { type: 'query', name: 'token', value: 'a-long-random-token' } })
  t.doesNotThrow(() => token.authenticate(post(body, { query: { token: 'a-long-random-token' } })))
  t.equal(rejectionOf(() => token.authenticate(post(body, { query: { token: 'a-long-random-tokeN' } }))).code, 'bad_credentials')
  t.equal(rejectionOf(() => token.authenticate(post(body))).code, 'missing_credentials')
})

t.test('parse: the documented "Update person" event', async t => {
  const events = ingest(adapter, post(fixture('pipedrive/person-change.json')))
  const raw = fixtureJson('pipedrive/person-change.json') as { data: unknown }
  t.strictSame(events, [{
    dedupeKey: '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d',
    event: {
      event: { id: '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d', occurredAt: '2022-11-24T15:18:35.616Z', type: 'change.person' },
      record: {
        type: 'person',
        id: '8',
        fields: raw.data,
        changed: ['first_name', 'name', 'custom_fields.d4e0a4b9f1c2e3d4a5b6c7d8e9f0a1b2c3d4e5f6']
      },
      raw,
      source: { name: 'pipedrive', type: 'pipedrive' }
    }
  }])
  t.equal(events[0]?.event.record.fields.first_name, 'Sample Person')
})

t.test('parse: delete (data null, previous = last state, epoch-second timestamp)', async t => {
  const [event] = ingest(adapter, post(fixture('pipedrive/person-delete.json')))
  t.strictSame(event?.event.event, { id: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', occurredAt: '2022-11-24T15:16:40.000Z', type: 'delete.person' })
  t.strictSame(event?.event.record, {
    type: 'person',
    id: '9',
    fields: { id: 9, name: 'Gone Person', first_name: 'Gone', custom_fields: {} },
    changed: []
  })
})

t.test('parse: create (previous null)', async t => {
  const body = JSON.stringify({ data: { id: 12, title: 'New deal', value: 5000 }, previous: null, meta: { action: 'create', entity: 'deal', entity_id: '12', id: 'c0ffee00-0000-4000-8000-000000000001', timestamp: '2024-05-02T09:30:15.000Z', version: '2.0' } })
  const [event] = ingest(adapter, post(body))
  t.strictSame(event?.event.record, { type: 'deal', id: '12', fields: { id: 12, title: 'New deal', value: 5000 }, changed: null })
  t.equal(event?.event.event.type, 'create.deal')
})

t.test('changed fields', async t => {
  t.strictSame(pipedriveChangedFields({ value: 1, custom_fields: { a1: null, b2: { type: 'enum', id: 4 } } }), ['value', 'custom_fields.a1', 'custom_fields.b2'])
  t.strictSame(pipedriveChangedFields({ custom_fields: null }), ['custom_fields'])
})

t.test('parse: refusals', async t => {
  const v1 = '{"v":1,"matches_filters":{"current":[]},"meta":{"v":1,"action":"updated","object":"person","id":8},"current":{"id":8},"previous":{"id":8},"event":"updated.person"}'
  const cases: Array<[string, string, string]> = [
    ['webhooks v1', v1, 'unsupported_version'],
    ['no meta', '{"data":{"id":1}}', 'malformed_body'],
    ['no meta.id', '{"data":{"id":1},"meta":{"action":"change","entity":"person"}}', 'missing_event_id'],
    ['an array', '[]', 'malformed_body'],
    ['not JSON', '{"meta":', 'malformed_body']
  ]
  for (const [label, body, code] of cases) {
    const rejection = rejectionOf(() => ingest(adapter, post(body)))
    t.equal(rejection.statusCode, 400, label)
    t.equal(rejection.code, code, label)
  }
})

t.test('replies', async t => {
  t.strictSame(adapter.reply(emptySummary), { statusCode: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify(emptySummary) })
  t.equal(adapter.errorReply(new SourceRejection(401, 'bad_credentials', 'no')).statusCode, 401)
})
