import t from 'tap'
import { contactEvent, flowId, startBridge, waitFor } from '../helper.js'
import { contactFlow, startTestSandbox } from '../sandbox-helper.js'
import { brokenMappings, ivrFlow, ivrFlowId, singleRoute } from './flows-fixtures.js'

async function readyz (url: string): Promise<{ status: number, body: any }> {
  const response = await fetch(`${url}/readyz`)
  return { status: response.status, body: await response.json() }
}

t.test('at startup every route is checked and each mistake is logged precisely', async t => {
  const sandbox = await startTestSandbox(t, { flows: [contactFlow, ivrFlow] })
  const bridge = await startBridge(t, { env: sandbox.env, mappings: brokenMappings })

  const invalid = bridge.logs.events('flows.route_invalid')
  t.same(invalid.map(l => l.route).sort(), ['ivr', 'typo', 'undeclared', 'wrong-type'], 'the good route is not reported')
  for (const line of invalid) {
    t.equal(line.level, 'error')
    t.equal(line.reason, 'startup')
  }
  const problemOf = (route: string): any => (invalid.find(l => l.route === route)!.problems as any[])[0]

  t.match(problemOf('typo'), {
    input: 'Flow.emial', code: 'input_not_declared', severity: 'error',
    message: 'Flow.emial is not an input of flow "Contact sync" version 3.0',
    declared: 'inputs: Flow.contactId, Flow.action, Flow.email, Flow.attempts',
    suggestion: 'Did you mean "email"? (with or without "Flow.": the bridge adds the prefix)',
    path: ['routes', 1, 'inputs', 'emial'],
    line: 23
  })
  t.match(problemOf('undeclared'), { input: 'Flow.nickname', code: 'input_not_declared', path: ['routes', 2, 'inputs', 'nickname'] })
  t.match(problemOf('undeclared').suggestion, /Input to Flow/)
  t.match(problemOf('wrong-type'), {
    input: 'Flow.attempts', code: 'input_type_mismatch', severity: 'error',
    message: 'Flow.attempts is declared archInteger (integer), but the route converts it to boolean',
    declared: 'Flow.attempts: archInteger (integer)', suggestion: 'Set type: integer, or remove type to use the flow\'s.'
  })
  t.match(problemOf('ivr'), { input: null, code: 'not_a_workflow', declared: 'type INBOUNDCALL', path: ['routes', 4, 'flow', 'id'] })
  t.match(problemOf('ivr').message, new RegExp(`flow "Main IVR" \\(${ivrFlowId}\\) is of type INBOUNDCALL, not a workflow`))

  const checked = bridge.logs.events('flows.checked')[0]!
  t.match(checked, { reason: 'startup', routes: 5, errors: 4, warnings: 0 })
  t.same((checked.broken as string[]).sort(), ['ivr', 'typo', 'undeclared', 'wrong-type'])

  const ready = await readyz(bridge.url)
  t.equal(ready.status, 503)
  t.ok(ready.body.failing.includes('flows'))
  t.match(ready.body.checks.flows.detail, /4 route\(s\) do not fit their flow \(deliveries are still attempted\): .*typo Flow\.emial: Flow\.emial is not an input/)
  t.equal(ready.body.checks.genesys.ok, true)
  const metrics = await (await fetch(`${bridge.url}/metrics`)).text()
  t.match(metrics, /crm_bridge_mapping_validation_problems 4/, 'the problems are exported as a metric')
})

t.test('a route that fits: ready, and the flow\'s declared types convert untyped inputs', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env, mappings: singleRoute() })
  t.equal(bridge.logs.events('flows.route_invalid').length, 0)
  const ready = await readyz(bridge.url)
  t.equal(ready.status, 200)
  t.equal(ready.body.checks.flows.ok, true)
  const response = await bridge.post(contactEvent('evt-types'))
  await waitFor(() => sandbox.launches().length === 1, 5000, 'the launch')
  t.same(sandbox.launches()[0]!.body.inputData, { 'Flow.contactId': '003A', 'Flow.attempts': 3 }, '"3" went out as the integer the flow declares')
  t.equal(response.status, 202)
})

t.test('dry-run skips the remote checks with a notice', async t => {
  const bridge = await startBridge(t, { mappings: brokenMappings })
  const skipped = bridge.logs.events('flows.check_skipped')
  t.equal(skipped.length, 1)
  t.equal(skipped[0]!.level, 'info')
  t.equal(skipped[0]!.reason, 'startup')
  const ready = await readyz(bridge.url)
  t.equal(ready.status, 200)
  t.match(ready.body.checks.flows, { ok: true, detail: /dry-run/ })
})

t.test('a republished flow that breaks a route is reported on the next TTL check, and its repair too', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, FLOW_SCHEMA_TTL_MS: '1000' }, mappings: singleRoute() })
  t.equal((await readyz(bridge.url)).status, 200)

  sandbox.state.upsertFlow({ ...contactFlow, publishedVersion: '4.0', versions: [...contactFlow.versions, { id: '4.0', inputs: { contactKey: 'string', attempts: 'integer' } }] })
  const broken = await waitFor(() => bridge.logs.events('flows.route_broken')[0], 5000, 'flows.route_broken')
  t.match(broken, { level: 'error', route: 'contact-sync', flowId, flowVersion: '4.0', previousVersion: '3.0', reason: 'ttl' })
  t.match((broken.problems as any[])[0], { input: 'Flow.contactId', code: 'input_not_declared', suggestion: /Did you mean "contactKey"\?/ })
  t.match(broken.msg, /deliveries are still attempted/)
  t.ok(bridge.logs.events('flows.version_changed').some(l => l.flowVersion === '4.0'))
  const ready = await readyz(bridge.url)
  t.equal(ready.status, 503)
  t.ok(ready.body.failing.includes('flows'))

  sandbox.state.upsertFlow({ ...contactFlow, publishedVersion: '5.0', versions: [...contactFlow.versions, { id: '5.0', inputs: { contactId: 'string', attempts: 'integer' } }] })
  await waitFor(() => bridge.logs.events('flows.route_fixed')[0], 5000, 'flows.route_fixed')
  t.equal((await readyz(bridge.url)).status, 200)
  t.equal(bridge.logs.events('flows.route_broken').length, 1, 'reported once, not on every check')
})

t.test('a 400 from a launch re-checks the flow at once', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env, mappings: singleRoute() })
  sandbox.state.upsertFlow({ ...contactFlow, publishedVersion: '4.0', versions: [...contactFlow.versions, { id: '4.0', inputs: { contactKey: 'string', attempts: 'integer' } }] })
  const response = await bridge.post(contactEvent('evt-republished'))
  const id = response.body.accepted[0].deliveryId
  const delivery = await waitFor(async () => { const d = await bridge.app.bridge.store.getDelivery(id); return d?.state === 'failed' ? d : null }, 5000, 'the delivery to fail')
  t.equal(delivery.lastStatus, 400, 'the delivery was attempted and Genesys refused it')
  t.match(bridge.logs.events('flows.recheck')[0], { reason: 'launch_rejected', route: 'contact-sync', flowId })
  const broken = await waitFor(() => bridge.logs.events('flows.route_broken')[0], 5000, 'flows.route_broken')
  t.match(broken, { reason: 'launch_rejected', flowVersion: '4.0' })
  t.equal((await readyz(bridge.url)).status, 503)
})
