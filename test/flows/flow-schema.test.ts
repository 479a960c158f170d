import t from 'tap'
import { readInputSchema, schemaTypes } from '../../src/flows/flow-schema.js'
import { buildInputSchema } from '../../src/sandbox/input-schema.js'

t.test('reads every definition the sandbox publishes, arrays included', async t => {
  const raw = buildInputSchema({
    name: 'string', count: 'integer', amount: 'decimal', vip: 'boolean', at: 'datetime', day: 'date', extra: 'json',
    tags: 'string[]', scores: 'integer[]', days: 'date[]'
  })
  const schema = readInputSchema(raw)
  t.same(Object.fromEntries([...schema.inputs.values()].map(i => [i.name, [i.type, i.declared]])), {
    'Flow.name': ['string', 'archString'],
    'Flow.count': ['integer', 'archInteger'],
    'Flow.amount': ['decimal', 'archDecimal'],
    'Flow.vip': ['boolean', 'archBoolean'],
    'Flow.at': ['datetime', 'archDateTime'],
    'Flow.day': ['date', 'archDate'],
    'Flow.extra': ['json', 'archJson'],
    'Flow.tags': ['string[]', 'archString[]'],
    'Flow.scores': ['integer[]', 'archInteger[]'],
    'Flow.days': ['date[]', 'archDate[]']
  })
  t.equal(schema.additionalProperties, false)
  t.same(schema.required, [])
  t.same([...schemaTypes(schema).keys()].length, 10)
})

t.test('the archDataTypeId wins over the definition name, and the shape is read when neither helps', async t => {
  const schema = readInputSchema({
    type: 'object',
    properties: {
      'Flow.a': { $ref: '#/definitions/archString' },
      'Flow.b': { $ref: '#/definitions/custom' },
      'Flow.c': { $ref: '#/definitions/shaped' },
      'Flow.d': { $ref: '#/definitions/archNumber' },
      'Flow.e': { $ref: '#/definitions/missing' },
      'Flow.f': { $ref: '#/definitions/archCurrency' },
      'Flow.g': { type: 'array', items: { $ref: '#/definitions/archJson' } },
      'Flow.h': { oneOf: [{ type: 'null' }, { type: 'string', format: 'date-time' }] }
    },
    required: ['Flow.a'],
    definitions: {
      // A renamed definition still says what it is through its archDataTypeId.
      archString: { archDataTypeId: 'int', oneOf: [{ type: 'null' }, { type: 'integer' }] },
      custom: { archDataTypeId: 'bool', oneOf: [{ type: 'null' }, { type: 'boolean' }] },
      shaped: { oneOf: [{ type: 'null' }, { type: 'integer' }, { type: 'string', maxLength: 16 }] },
      archNumber: { oneOf: [{ type: 'null' }, { type: 'number' }] },
      archCurrency: { archDataTypeId: 'currency', oneOf: [{ type: 'null' }, { type: 'object' }] },
      archJson: { archDataTypeId: 'json', oneOf: [{ type: 'null' }, { type: 'object' }] }
    }
  })
  const types = Object.fromEntries([...schema.inputs.values()].map(i => [i.name, i.type]))
  t.same(types, {
    'Flow.a': 'integer',
    'Flow.b': 'boolean',
    'Flow.c': 'integer',
    'Flow.d': 'decimal',
    'Flow.e': null,
    'Flow.f': null,
    'Flow.g': null,
    'Flow.h': 'datetime'
  })
  t.match(schema.inputs.get('Flow.e')!.declared, /unresolvable \$ref/)
  t.equal(schema.inputs.get('Flow.f')!.declared, 'archCurrency')
  t.equal(schema.inputs.get('Flow.g')!.declared, 'archJson[]')
  t.same(schema.required, ['Flow.a'])
  t.equal(schema.additionalProperties, true)
})

t.test('a missing or empty schema declares nothing', async t => {
  t.equal(readInputSchema(undefined).inputs.size, 0)
  t.equal(readInputSchema({ type: 'object', properties: {} }).inputs.size, 0)
  t.equal(readInputSchema('nonsense').inputs.size, 0)
})
