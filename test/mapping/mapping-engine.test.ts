import t from 'tap'
import { routeSchema } from '../../src/config/mappings-schema.js'
import { buildLaunchRequest, compileRoute, redactLaunchRequest } from '../../src/mapping/mapping-engine.js'
import { convertValue } from '../../src/mapping/input-types.js'
import { getPath, parsePath } from '../../src/mapping/path.js'
import type { NormalizedEvent } from '../../src/sources/normalized-event.js'

const event: NormalizedEvent = {
  event: { id: 'evt-1', occurredAt: '2026-11-29T01:00:00.000Z', type: 'contact.updated' },
  record: { type: 'Contact', id: '003A', fields: { email: ' Ada@Example.COM ', count: '42', vip: 'yes', born: '1990-02-03T10:00:00Z', tags: ['a', 'b'], 'Full Name': 'Ada L', nested: { x: 1 } }, changed: ['email'] },
  raw: { list: [{ id: 'first' }] },
  source: { name: 'crm', type: 'generic' }
}

const route = (inputs: Record<string, unknown>, extra: Record<string, unknown> = {}): ReturnType<typeof compileRoute> =>
  compileRoute(routeSchema.parse({ name: 'r', source: 'crm', flow: { id: 'a1b2c3d4-e5f6-7890-abcd-ef1234567890' }, inputs, ...extra }))

t.test('paths address the normalized event', async t => {
  t.same(parsePath('raw.list[0].id'), ['raw', 'list', 0, 'id'])
  t.equal(getPath(event, 'raw.list[0].id'), 'first')
  t.equal(getPath(event, 'raw.list.0.id'), 'first')
  t.equal(getPath(event, 'record.fields["Full Name"]'), 'Ada L')
  t.equal(getPath(event, 'record.fields.missing.deeper'), undefined)
  t.equal(getPath(event, 'record.fields.email.length'), undefined, 'no properties of strings')
  t.equal(getPath(event, 'record.fields.constructor'), undefined, 'no prototype properties')
})

t.test('builds the exact request: Flow. prefix, constants, transforms, types', async t => {
  const result = buildLaunchRequest(route({
    contactId: { from: 'record.id', required: true },
    'Flow.action': { value: 'sync' },
    email: { from: 'record.fields.email', transform: ['trim', 'lowercase'] },
    count: { from: 'record.fields.count', type: 'integer' },
    vip: { from: 'record.fields.vip', type: 'boolean' },
    born: { from: 'record.fields.born', type: 'date' },
    at: { from: 'event.occurredAt', type: 'datetime' },
    tags: { from: 'record.fields.tags', type: 'string[]' },
    payload: { from: 'record.fields.nested', type: 'json' },
    missing: 'record.fields.nope'
  }, { flow: { id: 'a1b2c3d4-e5f6-7890-abcd-ef1234567890', version: '3.0' } }), event, 'crm-flow-bridge d1')
  t.same(result, {
    ok: true,
    request: {
      flowId: 'a1b2c3d4-e5f6-7890-abcd-ef1234567890',
      flowVersion: '3.0',
      name: 'crm-flow-bridge d1',
      inputData: {
        'Flow.contactId': '003A',
        'Flow.action': 'sync',
        'Flow.email': 'ada@example.com',
        'Flow.count': 42,
        'Flow.vip': true,
        'Flow.born': '1990-02-03',
        'Flow.at': '2026-11-29T01:00:00.000Z',
        'Flow.tags': ['a', 'b'],
        'Flow.payload': { x: 1 }
      }
    }
  })
})

t.test('a missing required value or an unconvertible one fails with every reason', async t => {
  const result = buildLaunchRequest(route({
    id: { from: 'record.fields.nope', required: true },
    count: { from: 'record.fields.email', type: 'integer' },
    obj: { from: 'record.fields.nested' }
  }), event, 'n')
  t.same(result, {
    ok: false,
    problems: [
      { input: 'Flow.id', reason: 'required, but the event has no value at "record.fields.nope"' },
      { input: 'Flow.count', reason: 'cannot convert to integer: " Ada@Example.COM " is not an integer' },
      { input: 'Flow.obj', reason: 'cannot convert to string: {"x":1} is an object, not a string (use type: json, or map one of its fields)' }
    ]
  })
})

t.test('defaults fill missing values; schema types apply when the mapping names none', async t => {
  const r = route({ count: { from: 'record.fields.count' }, region: { from: 'record.fields.region', default: 'EMEA' } })
  const result = buildLaunchRequest(r, event, 'n', new Map([['Flow.count', 'integer' as const]]))
  t.same(result.ok && result.request.inputData, { 'Flow.count': 42, 'Flow.region': 'EMEA' })
})

t.test('conversions', async t => {
  t.equal(convertValue('12', 'integer'), 12)
  t.throws(() => convertValue('1.5', 'integer'), /not an integer/)
  t.throws(() => convertValue(1e16, 'integer'), /outside the integer range/)
  t.equal(convertValue('1.5e2', 'decimal'), 150)
  t.equal(convertValue('No', 'boolean'), false)
  t.throws(() => convertValue('maybe', 'boolean'), /not a boolean/)
  t.equal(convertValue(1700000000, 'datetime'), '2023-11-14T22:13:20.000Z')
  t.equal(convertValue('1700000000000', 'datetime'), '2023-11-14T22:13:20.000Z')
  t.throws(() => convertValue('soon', 'datetime'), /not a date or time/)
  t.equal(convertValue(null, 'integer'), null, 'null passes: flow inputs accept null')
  t.same(convertValue('x', 'string[]'), ['x'])
  t.throws(() => convertValue(['1', 'x'], 'integer[]'), /item 1: "x" is not an integer/)
})

t.test('filters match on record type, event type, changed fields and paths', async t => {
  t.ok(route({ a: 'record.id' }, { when: { recordType: 'Contact' } }).matches(event))
  t.notOk(route({ a: 'record.id' }, { when: { recordType: ['Lead', 'Account'] } }).matches(event))
  t.ok(route({ a: 'record.id' }, { when: { eventType: 'contact.updated', changed: ['phone', 'email'] } }).matches(event))
  t.notOk(route({ a: 'record.id' }, { when: { changed: ['phone'] } }).matches(event))
  t.ok(route({ a: 'record.id' }, { when: { match: { 'record.fields.vip': ['yes', 'true'] } } }).matches(event))
  t.notOk(route({ a: 'record.id' }, { when: { match: { 'raw.absent': 'x' } } }).matches(event))
})

t.test('redaction masks only the listed inputs', async t => {
  const r = route({ email: 'record.fields.email', id: 'record.id' }, { redact: ['email'] })
  const result = buildLaunchRequest(r, event, 'n')
  t.ok(result.ok)
  if (!result.ok) return
  t.same(redactLaunchRequest(result.request, r.redact).inputData, { 'Flow.email': '[redacted]', 'Flow.id': '003A' })
  t.equal(result.request.inputData['Flow.email'], ' Ada@Example.COM ', 'the request sent keeps the value')
})
