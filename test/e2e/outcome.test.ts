import t from 'tap'
import { basicMappings, contactEvent, startBridge, waitFor } from '../helper.js'
import { contactFlow, startTestSandbox } from '../sandbox-helper.js'

const tracked = basicMappings({ routeOptions: '    trackOutcome: true' })
const fast = { OUTCOME_POLL_BASE_MS: '100', OUTCOME_POLL_MAX_MS: '400' }
const failing = { ...contactFlow, outcome: { status: 'FAILED' as const, afterMs: 400, errorCode: 'error.workflow.expression.unexpectedNull', errorMessage: 'An unexpected null value was encountered' } }

async function outcomeOf (bridge: Awaited<ReturnType<typeof startBridge>>, id: string, timeoutMs = 8000): Promise<any> {
  return await waitFor(async () => {
    const d = await bridge.app.bridge.store.getDelivery(id)
    // A committed row is visible before its fsync ends; the tracker logs the outcome after it.
    return d?.outcome != null && bridge.logs.events('delivery.outcome').some(line => line.deliveryId === id) ? d : null
  }, timeoutMs, `the outcome of ${id}`)
}

const executionPolls = (sandbox: Awaited<ReturnType<typeof startTestSandbox>>): any[] =>
  sandbox.state.requests.filter(r => r.method === 'GET' && r.path.startsWith('/api/v2/flows/executions/'))

t.test('a launched execution that FAILED is recorded with its error and logged at error level', async t => {
  const sandbox = await startTestSandbox(t, { flows: [failing] })
  const bridge = await startBridge(t, { env: { ...sandbox.env, ...fast }, mappings: tracked })
  const id = (await bridge.post(contactEvent('evt-fails'))).body.accepted[0].deliveryId
  const delivery = await outcomeOf(bridge, id)
  t.equal(delivery.state, 'succeeded', 'the launch itself succeeded')
  t.equal(delivery.outcome, 'FAILED')
  t.match(delivery.outcomeDetail, {
    executionId: delivery.executionId,
    status: 'FAILED',
    completionReason: 'Failure',
    flowErrorInfo: { code: 'error.workflow.expression.unexpectedNull', message: 'An unexpected null value was encountered' }
  })
  const line = bridge.logs.events('delivery.outcome')[0]!
  t.match(line, { level: 'error', deliveryId: id, route: 'contact-sync', executionId: delivery.executionId, status: 'FAILED', flowErrorInfo: { code: 'error.workflow.expression.unexpectedNull' } })
  const polls = executionPolls(sandbox)
  t.ok(polls.length >= 2, `polled until final (${polls.length} polls: RUNNING first)`)
  t.ok(polls.every(p => p.path === `/api/v2/flows/executions/${String(delivery.executionId)}` && p.clientId === 'bridge-client-id'), 'through the authenticated client')
  const summary = (await bridge.app.bridge.store.listDeliveries({}, { limit: 1 })).items[0]!
  t.equal(summary.outcome, 'FAILED', 'the list shows the outcome')
})

t.test('COMPLETED is recorded at info level; routes without trackOutcome are not polled', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: { ...sandbox.env, ...fast }, mappings: tracked })
  const id = (await bridge.post(contactEvent('evt-ok'))).body.accepted[0].deliveryId
  const delivery = await outcomeOf(bridge, id)
  t.equal(delivery.outcome, 'COMPLETED')
  t.match(bridge.logs.events('delivery.outcome')[0], { level: 'info', status: 'COMPLETED', completionReason: 'Success' })

  const untracked = await startTestSandbox(t)
  const plain = await startBridge(t, { env: { ...untracked.env, ...fast } })
  const plainId = (await plain.post(contactEvent('evt-plain'))).body.accepted[0].deliveryId
  await waitFor(async () => (await plain.app.bridge.store.getDelivery(plainId))?.state === 'succeeded', 5000, 'the launch')
  await new Promise(resolve => setTimeout(resolve, 400))
  t.equal(executionPolls(untracked).length, 0)
  t.equal((await plain.app.bridge.store.getDelivery(plainId))!.outcome, null)
})

t.test('tracking survives a restart', async t => {
  const sandbox = await startTestSandbox(t, { flows: [{ ...failing, outcome: { ...failing.outcome, afterMs: 1500 } }] })
  const first = await startBridge(t, { env: { ...sandbox.env, ...fast }, mappings: tracked })
  const dir = first.dbFile.replace(/\/bridge\.db$/, '')
  const id = (await first.post(contactEvent('evt-restart'))).body.accepted[0].deliveryId
  await waitFor(async () => (await first.app.bridge.store.getDelivery(id))?.state === 'succeeded', 5000, 'the launch')
  await first.app.close()
  t.equal((await import('node:fs')).existsSync(first.dbFile), true)

  const second = await startBridge(t, { env: { ...sandbox.env, ...fast }, dir })
  t.match(second.logs.events('delivery.outcome_resumed')[0], { count: 1 })
  const delivery = await outcomeOf(second, id)
  t.equal(delivery.outcome, 'FAILED')
  t.equal(second.logs.events('delivery.outcome')[0]!.deliveryId, id)
})

t.test('no final status before OUTCOME_TIMEOUT_MS: recorded as TIMED_OUT', async t => {
  const sandbox = await startTestSandbox(t, { flows: [{ ...contactFlow, outcome: { status: 'COMPLETED', afterMs: 60_000 } }] })
  const bridge = await startBridge(t, { env: { ...sandbox.env, ...fast, OUTCOME_TIMEOUT_MS: '1000' }, mappings: tracked })
  const id = (await bridge.post(contactEvent('evt-slow'))).body.accepted[0].deliveryId
  const delivery = await outcomeOf(bridge, id)
  t.equal(delivery.outcome, 'TIMED_OUT')
  t.match(delivery.outcomeDetail, { status: 'TIMED_OUT', lastStatus: 'RUNNING', timeoutMs: 1000 })
  t.match(bridge.logs.events('delivery.outcome')[0], { level: 'warn', status: 'TIMED_OUT' })
})
