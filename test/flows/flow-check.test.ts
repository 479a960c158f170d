import t from 'tap'
import { routeSchema } from '../../src/config/mappings-schema.js'
import type { FlowLookup } from '../../src/flows/flow-catalog.js'
import { checkRoute, closestName, formatFlowProblem, levenshtein } from '../../src/flows/flow-check.js'
import { readInputSchema } from '../../src/flows/flow-schema.js'
import { compileRoute } from '../../src/mapping/mapping-engine.js'
import { buildInputSchema } from '../../src/sandbox/input-schema.js'
import type { SandboxInputType } from '../../src/sandbox/sandbox-types.js'

const flowId = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890'
const route = (inputs: Record<string, unknown>, flow: Record<string, unknown> = { id: flowId }) =>
  compileRoute(routeSchema.parse({ name: 'contact-sync', source: 'crm', flow, inputs }))
const workflow = { id: flowId, name: 'Contact sync', type: 'WORKFLOW', publishedVersion: '3.0' }
const ok = (inputs: Record<string, SandboxInputType>, flow = workflow): FlowLookup =>
  ({ status: 'ok', flow, versionId: flow.publishedVersion ?? '1.0', schema: readInputSchema(buildInputSchema(inputs)) })
const declared = { contactId: 'string', email: 'string', attempts: 'integer', amount: 'decimal', tags: 'string[]' } as const

t.test('a route that fits its flow has no problems', async t => {
  t.same(checkRoute(route({ contactId: 'record.id', 'Flow.email': 'record.fields.email', attempts: { from: 'x', type: 'integer' }, amount: { from: 'y', type: 'integer' }, tags: { from: 'z', type: 'string[]' } }), ok(declared)), [])
})

t.test('a typo gets the closest declared name, said with or without the prefix', async t => {
  const [problem, ...rest] = checkRoute(route({ contactId: 'record.id', emial: 'record.fields.email' }), ok(declared))
  t.same(rest, [])
  t.match(problem, {
    route: 'contact-sync', flowId, flowVersion: '3.0', input: 'Flow.emial', code: 'input_not_declared', severity: 'error',
    message: 'Flow.emial is not an input of flow "Contact sync" version 3.0',
    declared: 'inputs: Flow.contactId, Flow.email, Flow.attempts, Flow.amount, Flow.tags'
  })
  t.match(problem!.suggestion, /^Did you mean "email"\? \(with or without "Flow\.": the bridge adds the prefix\)$/)
})

t.test('an undeclared input with no near name says how to declare it', async t => {
  const [problem] = checkRoute(route({ nickname: { value: 'Ada' } }), ok(declared))
  t.equal(problem!.code, 'input_not_declared')
  t.match(problem!.suggestion, /"Input to Flow".*publish/)
})

t.test('a name that differs only in case is reported as such', async t => {
  const [problem] = checkRoute(route({ ContactID: 'record.id' }), ok(declared))
  t.equal(problem!.code, 'input_case_mismatch')
  t.match(problem!.message, /declares Flow\.contactId, which differs only in letter case/)
  t.match(problem!.suggestion, /Rename the input to "contactId"/)
})

t.test('a type that does not fit the declared one', async t => {
  const problems = checkRoute(route({ attempts: { from: 'x', type: 'boolean' }, tags: { from: 'z', type: 'string' }, contactId: { from: 'id', type: 'integer' } }), ok(declared))
  t.same(problems.map(p => [p.input, p.code, p.severity]), [
    ['Flow.attempts', 'input_type_mismatch', 'error'],
    ['Flow.tags', 'input_type_mismatch', 'error'],
    ['Flow.contactId', 'input_type_mismatch', 'error']
  ])
  t.equal(problems[0]!.message, 'Flow.attempts is declared archInteger (integer), but the route converts it to boolean')
  t.equal(problems[0]!.declared, 'Flow.attempts: archInteger (integer)')
  t.equal(problems[0]!.suggestion, 'Set type: integer, or remove type to use the flow\'s.')
  t.equal(problems[1]!.suggestion, 'Set type: string[], or remove type to use the flow\'s.')
})

t.test('a string sent to a numeric input is a warning: Genesys takes numeric strings', async t => {
  const [problem] = checkRoute(route({ attempts: { from: 'x', type: 'string' } }), ok(declared))
  t.match(problem, { code: 'input_type_mismatch', severity: 'warning' })
})

t.test('a constant that cannot take the declared type', async t => {
  const [problem] = checkRoute(route({ attempts: { value: 'many' } }), ok(declared))
  t.match(problem, { input: 'Flow.attempts', code: 'input_value_invalid', severity: 'error' })
  t.match(problem!.message, /the value of Flow\.attempts cannot be sent as integer: "many" is not an integer/)
})

t.test('a non-workflow flow, an unpublished flow, a missing version, a missing flow', async t => {
  const ivr = { id: flowId, name: 'Main IVR', type: 'INBOUNDCALL', publishedVersion: '1.0' }
  const [notWorkflow] = checkRoute(route({ contactId: 'record.id' }), ok({ contactId: 'string' }, ivr))
  t.match(notWorkflow, { code: 'not_a_workflow', input: null, declared: 'type INBOUNDCALL', severity: 'error' })
  t.match(notWorkflow!.message, /"Main IVR" \(.*\) is of type INBOUNDCALL, not a workflow; only workflows can be launched/)

  const unpublished = checkRoute(route({ contactId: 'record.id' }), { status: 'not_published', flow: { ...workflow, publishedVersion: null } })
  t.same(unpublished.map(p => p.code), ['not_published'])
  t.match(unpublished[0]!.suggestion, /Publish the flow.*flow\.version/)

  const noVersion = checkRoute(route({ contactId: 'record.id' }, { id: flowId, version: '9.0' }), { status: 'version_not_found', flow: workflow, versionId: '9.0' })
  t.match(noVersion[0], { code: 'version_not_found', flowVersion: '9.0', declared: 'published version 3.0' })
  t.match(noVersion[0]!.suggestion, /Pin version "3\.0", or remove flow\.version/)

  t.match(checkRoute(route({ contactId: 'record.id' }), { status: 'flow_not_found', flowId })[0], { code: 'flow_not_found', severity: 'error' })
  t.match(checkRoute(route({ contactId: 'record.id' }), { status: 'failed', flowId, message: 'HTTP 503' })[0], { code: 'check_failed', severity: 'warning' })
})

t.test('inputs the schema requires must be mapped', async t => {
  const lookup = ok(declared)
  if (lookup.status !== 'ok') throw new Error('unreachable')
  const schema = { ...lookup.schema, required: ['Flow.email'] }
  const problems = checkRoute(route({ contactId: 'record.id' }), { ...lookup, schema })
  t.same(problems.map(p => [p.code, p.input]), [['required_input_unmapped', 'Flow.email']])
})

t.test('closest names and the formatted line', async t => {
  t.equal(levenshtein('kitten', 'sitting'), 3)
  t.equal(closestName('Flow.contactld', ['Flow.contactId', 'Flow.email']), 'Flow.contactId')
  t.equal(closestName('zzz', ['Flow.contactId']), null)
  const [problem] = checkRoute(route({ emial: 'x' }), ok(declared))
  t.match(formatFlowProblem(problem!), /^error: route contact-sync, input Flow\.emial: .*\n {4}flow declares: .*\n {4}suggestion: Did you mean "email"/)
})
