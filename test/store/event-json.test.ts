import t from 'tap'
import { decodeEvent, encodeEvent } from '../../src/store/sqlite/event-json.js'
import type { NormalizedEvent } from '../../src/sources/normalized-event.js'

const base = (raw: unknown, fields: Record<string, unknown>): NormalizedEvent => ({
  event: { id: 'e1', occurredAt: '2026-11-29T06:00:00.000Z', type: 'contact.updated' },
  record: { type: 'Contact', id: '003P1', fields, changed: ['email'] },
  raw,
  source: { name: 'crm', type: 'generic' }
})

t.test('fields that are an object inside raw are stored once', async t => {
  const record = { id: '003P1', email: 'ada@example.com', description: 'x'.repeat(500) }
  const event = base({ id: 'e1', record }, record)
  const text = encodeEvent(event)
  t.equal(text.split('x'.repeat(500)).length, 2, 'the record appears once in the stored text')
  t.ok(text.length < JSON.stringify(event).length * 0.7)
  t.same(decodeEvent(text), event)
})

t.test('two levels deep too', async t => {
  const record = { email: 'ada@example.com' }
  const event = base({ data: { object: record }, id: 'e1' }, record)
  t.same(JSON.parse(encodeEvent(event)).record.fieldsAt, ['data', 'object'])
  t.same(decodeEvent(encodeEvent(event)), event)
})

t.test('fields built by the adapter, empty fields and a non-object raw are stored as they are', async t => {
  for (const event of [
    base({ properties: { email: 'a' } }, { email: 'a' }),
    base({ record: {} }, {}),
    base('<xml/>', { email: 'a' }),
    base(null, {})
  ]) {
    t.same(JSON.parse(encodeEvent(event)), JSON.parse(JSON.stringify(event)))
    t.same(decodeEvent(encodeEvent(event)), event)
  }
})

t.test('rows written before the compact form read back unchanged', async t => {
  const record = { email: 'a' }
  const event = base({ record }, record)
  t.same(decodeEvent(JSON.stringify(event)), event)
})

t.test('the text raw was parsed from is stored as it came, and reads back as the same event', async t => {
  const text = '{ "id": "e1",\n  "record": { "id": "003P1", "email": "ada@example.com", "note": "line\\nbreak \\u00e9 \\u2028" } }\n'
  const raw = JSON.parse(text) as { record: Record<string, unknown> }
  const event = base(raw, raw.record)
  const stored = encodeEvent(event, text)
  t.ok(stored.includes(text), 'the body text, whitespace and escapes included, is in the stored text')
  t.equal(stored.split('ada@example.com').length, 2, 'the record appears once')
  t.same(decodeEvent(stored), event)
  t.same(JSON.parse(stored).record.fieldsAt, ['record'])
})

t.test('with the text, fields built by the adapter are still stored as they are', async t => {
  const text = '{"properties":{"email":"a"}}'
  const event = base(JSON.parse(text), { email: 'a' })
  t.same(decodeEvent(encodeEvent(event, text)), event)
})
