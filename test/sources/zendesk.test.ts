import t from 'tap'
import { zendeskChangedFields, zendeskSource } from '../../src/sources/zendesk.js'
import { SourceRejection } from '../../src/sources/source-adapter.js'
import { adapterFor, emptySummary, fixture, fixtureJson, hmacBase64, ingest, rejectionOf, webhook, type WebhookInit } from './helpers.js'

const SECRET = 'zd-signing-secret-for-tests'
const TIMESTAMP = '2024-05-02T09:30:16Z'
const NOW = new Date('2024-05-02T09:30:20Z')
const adapter = adapterFor(zendeskSource, 'zendesk', { signingSecret: SECRET })

function signed (body: string | Buffer, init: WebhookInit = {}, timestamp = TIMESTAMP) {
  return webhook({
    url: '/webhooks/zendesk',
    receivedAt: NOW,
    body,
    ...init,
    headers: {
      'content-type': 'application/json',
      'x-zendesk-account-id': '12514403',
      'x-zendesk-webhook-id': '01F1KRFQ6BG29CNWFR60NK5FNY',
      'x-zendesk-webhook-invocation-id': '8350205582',
      'x-zendesk-webhook-signature': hmacBase64(SECRET, timestamp, body),
      'x-zendesk-webhook-signature-timestamp': timestamp,
      ...init.headers
    }
  })
}

t.test('the published vector: the secret is the HMAC key verbatim', async t => {
  const vector = adapterFor(zendeskSource, 'zendesk', { signingSecret: 'dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==', eventId: 'id' })
  const req = webhook({
    receivedAt: new Date('2021-03-25T05:09:30Z'),
    body: '{"event":"ticket.updated","id":123}',
    headers: { 'x-zendesk-webhook-signature': 'S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=', 'x-zendesk-webhook-signature-timestamp': '2021-03-25T05:09:27Z' }
  })
  t.doesNotThrow(() => vector.authenticate(req))
  t.equal(vector.parse(req)[0]?.dedupeKey, '123')
})

t.test('authenticate', async t => {
  const body = fixture('zendesk/ticket-status-changed.json')
  t.doesNotThrow(() => adapter.authenticate(signed(body)))

  const forged = rejectionOf(() => adapter.authenticate(signed(body, { headers: { 'x-zendesk-webhook-signature': hmacBase64('other', TIMESTAMP, body) } })))
  t.equal(forged.statusCode, 401)
  t.equal(forged.code, 'bad_signature')
  t.notMatch(forged.message, SECRET)

  const retimed = rejectionOf(() => adapter.authenticate(signed(body, { headers: { 'x-zendesk-webhook-signature-timestamp': '2024-05-02T09:30:17Z' } })))
  t.equal(retimed.code, 'bad_signature', 'the timestamp is covered by the signature')

  for (const timestamp of ['2024-05-02T09:25:19Z', '2024-05-02T09:35:21Z']) {
    const stale = rejectionOf(() => adapter.authenticate(signed(body, {}, timestamp)))
    t.equal(stale.statusCode, 401)
    t.equal(stale.code, 'stale_timestamp', timestamp)
  }
  t.equal(rejectionOf(() => adapter.authenticate(signed(body, {}, 'yesterday'))).code, 'bad_timestamp')

  for (const name of ['x-zendesk-webhook-signature', 'x-zendesk-webhook-signature-timestamp']) {
    const missing = rejectionOf(() => adapter.authenticate(signed(body, { headers: { [name]: undefined } })))
    t.equal(missing.statusCode, 401)
    t.equal(missing.code, 'missing_signature', name)
  }

  const lenient = adapterFor(zendeskSource, 'zendesk', { signingSecret: SECRET, maxSkewMs: 3_600_000 })
  t.doesNotThrow(() => lenient.authenticate(signed(body, {}, '2024-05-02T09:00:00Z')))
})

t.test('parse: a ticket event subscription', async t => {
  const events = ingest(adapter, signed(fixture('zendesk/ticket-status-changed.json')))
  const raw = fixtureJson('zendesk/ticket-status-changed.json') as { detail: unknown }
  t.strictSame(events, [{
    dedupeKey: '6f5e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c',
    event: {
      event: { id: '6f5e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c', occurredAt: '2024-05-02T09:30:15.000Z', type: 'zen:event-type:ticket.status_changed' },
      record: { type: 'ticket', id: '35436', fields: raw.detail, changed: ['status'] },
      raw,
      source: { name: 'zendesk', type: 'zendesk' }
    }
  }])
})

t.test('parse: the documented user event', async t => {
  const body = JSON.stringify({
    type: 'zen:event-type:user.active_changed',
    account_id: 12514403,
    id: '2b24ef10-19d4-4740-93cf-8f98ec4776c0',
    time: '2099-07-04T05:33:18Z',
    zendesk_event_version: '2022-06-20',
    subject: 'zen:user:6596848315901',
    detail: { created_at: '2099-07-04T05:27:58Z', email: 'user@example.com', external_id: '', default_group_id: '0', id: '6596848315901', organization_id: '0', role: 'end-user', updated_at: '2099-07-04T05:33:18Z' },
    event: { current: false, previous: true }
  })
  const [event] = ingest(adapter, signed(body))
  t.match(event?.event, {
    event: { id: '2b24ef10-19d4-4740-93cf-8f98ec4776c0', type: 'zen:event-type:user.active_changed', occurredAt: '2099-07-04T05:33:18.000Z' },
    record: { type: 'user', id: '6596848315901', changed: ['active'] }
  })
})

t.test('parse: record id from the subject when detail has none', async t => {
  const body = '{"type":"zen:event-type:organization.created","id":"e1","time":"2024-05-02T09:30:00Z","subject":"zen:organization:777","detail":{}}'
  const [event] = ingest(adapter, signed(body))
  t.strictSame(event?.event.record, { type: 'organization', id: '777', fields: {}, changed: null }, 'created: a snapshot')
})

t.test('which fields changed', async t => {
  const detail = { status: 'OPEN', brand_id: '1', organization_id: '2', assignee_id: '3', group_id: '4', tags: [] }
  const cases: Array<[string, unknown, string[] | null]> = [
    ['status_changed', {}, ['status']],
    ['priority_changed', {}, ['priority']],
    ['brand_changed', {}, ['brand_id']],
    ['organization_changed', {}, ['organization_id']],
    ['agent_assignment_changed', {}, ['assignee_id']],
    ['group_assignment_changed', {}, ['group_id']],
    ['tags_changed', {}, ['tags']],
    ['custom_field_changed', { custom_field: { id: '360001', title: 'Environment', type: 'text' } }, ['custom_fields.360001']],
    ['custom_field_changed', {}, ['custom_fields']],
    ['created', {}, null],
    ['comment_added', {}, []],
    ['soft_deleted', {}, []],
    ['_changed', {}, []]
  ]
  for (const [action, change, expected] of cases) t.strictSame(zendeskChangedFields(action, detail, change), expected, action)
})

t.test('parse: a trigger body, through the configured paths', async t => {
  const trigger = adapterFor(zendeskSource, 'zendesk-trigger', { signingSecret: SECRET, recordId: 'ticket_id', occurredAt: 'updated_at', eventType: 'status' })
  const body = fixture('zendesk/trigger-ticket-solved.json')
  const [event] = ingest(trigger, signed(body))
  t.strictSame(event, {
    dedupeKey: '8350205582',
    event: {
      event: { id: '8350205582', occurredAt: '2024-05-02T09:30:15.000Z', type: 'solved' },
      record: { type: 'ticket', id: '35436', fields: fixtureJson('zendesk/trigger-ticket-solved.json'), changed: null },
      raw: fixtureJson('zendesk/trigger-ticket-solved.json'),
      source: { name: 'zendesk-trigger', type: 'zendesk' }
    }
  })

  const withId = adapterFor(zendeskSource, 'zendesk-trigger', { signingSecret: SECRET, eventId: 'key', fields: 'ticket', changed: 'changed' })
  const [keyed] = ingest(withId, signed('{"key":"35436-1714642215","ticket":{"status":"solved"},"changed":["status",1]}'))
  t.equal(keyed?.dedupeKey, '35436-1714642215')
  t.strictSame(keyed?.event.record.fields, { status: 'solved' })
  t.strictSame(keyed?.event.record.changed, ['status'])
})

t.test('parse: a bodiless GET trigger is identified by its invocation id', async t => {
  const [event] = ingest(adapter, signed('', { method: 'GET' }))
  t.equal(event?.dedupeKey, '8350205582')
  t.strictSame(event?.event.record.fields, {})
  const anonymous = rejectionOf(() => ingest(adapter, signed('', { method: 'GET', headers: { 'x-zendesk-webhook-invocation-id': undefined } })))
  t.equal(anonymous.statusCode, 400)
  t.equal(anonymous.code, 'missing_event_id')
})

t.test('parse: refusals', async t => {
  for (const body of ['[]', '"x"', '{', 'null']) {
    const rejection = rejectionOf(() => ingest(adapter, signed(body)))
    t.equal(rejection.statusCode, 400, body)
  }
})

t.test('replies', async t => {
  t.strictSame(adapter.reply(emptySummary), { statusCode: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify(emptySummary) })
  t.equal(adapter.errorReply(new SourceRejection(401, 'stale_timestamp', 'old')).body, '{"error":"stale_timestamp","message":"old"}')
})
