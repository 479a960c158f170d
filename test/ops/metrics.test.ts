import t from 'tap'
import { EventEmitter } from 'node:events'
import { Registry } from 'prom-client'
import { createMetrics } from '../../src/metrics/metrics.js'
import type { AttemptEvent } from '../../src/dispatch/dispatcher.js'
import type { QueueStats } from '../../src/store/store.js'
import { basicMappings, contactEvent, startBridge, waitFor } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { parseSamples, sampleValue } from './prometheus-text.js'

const emptyStats = (): QueueStats => ({ byState: { queued: 0, running: 0, succeeded: 0, failed: 0, dry_run: 0, superseded: 0 }, oldestPendingAgeMs: null })

function attempt (outcome: AttemptEvent['outcome'], durationMs = 120): AttemptEvent {
  return { deliveryId: '0190-not-a-label', route: 'contact-sync', source: 'crm', attempt: 1, outcome, status: 200, durationMs }
}

t.test('createMetrics', async t => {
  t.test('counts attempts, final outcomes and durations by route and outcome', async t => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false })
    const dispatcher = Object.assign(new EventEmitter(), { inFlight: 2 })
    metrics.watch({ dispatcher, stats: async () => emptyStats() })
    dispatcher.emit('attempt', attempt('retry', 300))
    dispatcher.emit('attempt', attempt('succeeded', 80))
    dispatcher.emit('attempt', attempt('released', 10))
    const text = await metrics.registry.metrics()
    t.equal(sampleValue(text, 'crm_bridge_delivery_attempts_total', { route: 'contact-sync', outcome: 'retry' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_delivery_attempts_total', { route: 'contact-sync', outcome: 'succeeded' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_deliveries_total', { route: 'contact-sync', outcome: 'succeeded' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_deliveries_total', { route: 'contact-sync', outcome: 'retry' }), undefined, 'a retry is not an end')
    t.equal(sampleValue(text, 'crm_bridge_delivery_attempt_duration_seconds_bucket', { outcome: 'retry', le: '0.25' }), 0)
    t.equal(sampleValue(text, 'crm_bridge_delivery_attempt_duration_seconds_bucket', { outcome: 'retry', le: '0.5' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_dispatcher_in_flight'), 2)
    t.notMatch(text, /0190-not-a-label/, 'delivery ids never become labels')
  })

  t.test('maps Genesys calls to operation and status class, and counts 429s and tokens', async t => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false })
    metrics.genesysHooks.onCall({ operation: 'launch', status: 200, durationMs: 50 })
    metrics.genesysHooks.onCall({ operation: 'launch', status: 429, durationMs: 20 })
    metrics.genesysHooks.onCall({ operation: 'getFlowVersion', status: 503, durationMs: 20 })
    metrics.genesysHooks.onCall({ operation: 'token', status: null, durationMs: 5000 })
    metrics.genesysHooks.onTokenFetched({ expiresInSeconds: 86399 })
    metrics.onRateLimitWait(1500)
    const text = await metrics.registry.metrics()
    t.equal(sampleValue(text, 'crm_bridge_genesys_responses_total', { operation: 'launch', status_class: '2xx' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_genesys_responses_total', { operation: 'launch', status_class: '4xx' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_genesys_responses_total', { operation: 'get_flow_version', status_class: '5xx' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_genesys_responses_total', { operation: 'token', status_class: 'network_error' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_genesys_rate_limited_total', { operation: 'launch' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_genesys_token_refreshes_total'), 1)
    t.equal(sampleValue(text, 'crm_bridge_rate_limit_wait_seconds_count'), 1)
    t.equal(sampleValue(text, 'crm_bridge_rate_limit_wait_seconds_sum'), 1.5)
  })

  t.test('keeps the rejection reason label bounded', async t => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false })
    metrics.observeWebhook({ source: 'crm', outcome: 'rejected', reason: 'bad_signature' })
    metrics.observeWebhook({ source: 'crm', outcome: 'rejected', reason: 'Signature mismatch for <script>' })
    for (let i = 0; i < 100; i++) metrics.observeWebhook({ source: 'crm', outcome: 'rejected', reason: `code_${i}` })
    const samples = parseSamples(await metrics.registry.metrics()).filter(s => s.name === 'crm_bridge_webhook_requests_total')
    t.equal(samples.find(s => s.labels.reason === 'bad_signature')?.value, 1)
    t.ok(samples.length <= 65, `${samples.length} series at most (64 codes + other)`)
    t.ok((samples.find(s => s.labels.reason === 'other')?.value ?? 0) >= 37, 'free text and codes past the cap count as other')
  })

  t.test('reads queue depth on scrape, reusing one snapshot for the TTL and sharing a load in progress', async t => {
    let now = 1_000_000
    let loads = 0
    const metrics = createMetrics(new Registry(), { defaultMetrics: false, queueStatsTtlMs: 5000, now: () => now })
    metrics.watch({
      dispatcher: Object.assign(new EventEmitter(), { inFlight: 0 }),
      stats: async () => {
        loads++
        await new Promise(resolve => setTimeout(resolve, 20))
        return { byState: { ...emptyStats().byState, queued: loads * 10, running: 1 }, oldestPendingAgeMs: 90_000 }
      }
    })
    const [first, second] = await Promise.all([metrics.registry.metrics(), metrics.registry.metrics()])
    t.equal(loads, 1, 'concurrent scrapes share one store query')
    t.equal(sampleValue(first, 'crm_bridge_queue_deliveries', { state: 'queued' }), 10)
    t.equal(sampleValue(second, 'crm_bridge_queue_deliveries', { state: 'running' }), 1)
    t.equal(sampleValue(first, 'crm_bridge_queue_deliveries', { state: 'superseded' }), 0, 'every state has a series')
    t.equal(sampleValue(first, 'crm_bridge_queue_oldest_pending_age_seconds'), 90)
    now += 4999
    await metrics.registry.metrics()
    t.equal(loads, 1, 'still fresh')
    now += 2
    t.equal(sampleValue(await metrics.registry.metrics(), 'crm_bridge_queue_deliveries', { state: 'queued' }), 20)
    t.equal(loads, 2)
  })

  t.test('a failing store read keeps the last values and does not fail the scrape', async t => {
    let fail = false
    const warnings: unknown[] = []
    const log = { warn: (obj: unknown) => { warnings.push(obj) } } as never
    const metrics = createMetrics(new Registry(), { defaultMetrics: false, queueStatsTtlMs: 0, log })
    metrics.watch({
      dispatcher: Object.assign(new EventEmitter(), { inFlight: 0 }),
      stats: async () => {
        if (fail) throw new Error('database is locked')
        return { ...emptyStats(), byState: { ...emptyStats().byState, failed: 3 } }
      }
    })
    t.equal(sampleValue(await metrics.registry.metrics(), 'crm_bridge_queue_deliveries', { state: 'failed' }), 3)
    fail = true
    t.equal(sampleValue(await metrics.registry.metrics(), 'crm_bridge_queue_deliveries', { state: 'failed' }), 3)
    t.match(warnings[0], { event: 'metrics.queue_stats_failed' })
  })

  t.test('mapping reloads and validation problems are bumped by other modules', async t => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false })
    metrics.mappingReloads.inc({ result: 'success' })
    metrics.mappingReloads.inc({ result: 'rejected' })
    metrics.validationProblems.set(4)
    const text = await metrics.registry.metrics()
    t.equal(sampleValue(text, 'crm_bridge_mapping_reloads_total', { result: 'success' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_mapping_reloads_total', { result: 'rejected' }), 1)
    t.equal(sampleValue(text, 'crm_bridge_mapping_validation_problems'), 4)
  })
})

t.test('GET /metrics on the running service', async t => {
  const sandbox = await startTestSandbox(t)
  // One token in the bucket: the token request spends it, so the launch waits for the refill.
  const bridge = await startBridge(t, { env: { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '1200', GENESYS_RATE_BURST: '1', BODY_LIMIT_BYTES: '2048' } })
  const scrape = async (): Promise<{ status: number, type: string | null, text: string }> => {
    const response = await fetch(`${bridge.url}/metrics`)
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() }
  }

  const accepted = await bridge.post(contactEvent('evt-m1'))
  t.equal(accepted.status, 202)
  const deliveryId = accepted.body.accepted[0].deliveryId as string
  await bridge.post(contactEvent('evt-m1'))
  await bridge.post(JSON.stringify({ id: 'evt-m2', occurredAt: '2026-11-29T01:00:00.000Z', record: { id: 'acc-1', type: 'Account' } }))
  await bridge.post(contactEvent('evt-m3'), { 'x-signature': 'sha256=00' })
  await bridge.post('x'.repeat(4096))
  await fetch(`${bridge.url}/webhooks/%3Cscript%3Ealert(1)%3C%2Fscript%3E`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  // The row is visible at its commit; the counters move after its fsync, with the end's log line.
  await waitFor(async () => (await bridge.app.bridge.store.getDelivery(deliveryId))?.state === 'succeeded' && bridge.logs.events('delivery.succeeded').length > 0, 10_000, 'the delivery to succeed')
  await fetch(`${bridge.url}/readyz`)

  const { status, type, text } = await scrape()
  t.equal(status, 200)
  t.match(type, /^text\/plain; version=0\.0\.4/)
  t.equal(sampleValue(text, 'crm_bridge_webhook_requests_total', { source: 'crm', outcome: 'accepted', reason: 'none' }), 3)
  t.equal(sampleValue(text, 'crm_bridge_webhook_requests_total', { source: 'crm', outcome: 'rejected', reason: 'bad_signature' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_webhook_requests_total', { source: 'crm', outcome: 'rejected', reason: 'body_too_large' }), 1, 'rejected by the body parser, before the route')
  t.equal(sampleValue(text, 'crm_bridge_webhook_requests_total', { source: '(unknown)', outcome: 'rejected', reason: 'unknown_source' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_webhook_events_total', { source: 'crm', outcome: 'accepted' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_webhook_events_total', { source: 'crm', outcome: 'duplicate' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_webhook_events_total', { source: 'crm', outcome: 'unmatched' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_deliveries_total', { route: 'contact-sync', outcome: 'queued' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_deliveries_total', { route: 'contact-sync', outcome: 'succeeded' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_delivery_attempt_duration_seconds_count', { outcome: 'succeeded' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_genesys_responses_total', { operation: 'launch', status_class: '2xx' }), 1)
  t.ok((sampleValue(text, 'crm_bridge_genesys_responses_total', { operation: 'token', status_class: '2xx' }) ?? 0) >= 1)
  t.ok((sampleValue(text, 'crm_bridge_genesys_token_refreshes_total') ?? 0) >= 1)
  t.ok((sampleValue(text, 'crm_bridge_rate_limit_wait_seconds_count') ?? 0) >= 1, 'the launch waited for the rate budget')
  t.equal(sampleValue(text, 'crm_bridge_queue_deliveries', { state: 'succeeded' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_queue_oldest_pending_age_seconds'), 0)
  t.equal(sampleValue(text, 'crm_bridge_readiness_check', { check: 'store' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_build_info', { version: '0.1.0' }), 1)
  t.ok(sampleValue(text, 'process_cpu_user_seconds_total') !== undefined, 'default process metrics')
  t.ok(sampleValue(text, 'nodejs_eventloop_lag_seconds') !== undefined, 'default Node.js metrics')

  const labelValues = parseSamples(text).flatMap(sample => Object.values(sample.labels)).join('\n')
  t.notMatch(labelValues, new RegExp(deliveryId), 'no delivery id in any label')
  t.notMatch(labelValues, /003A|evt-m1|script/, 'no record id, event id or request path in any label')
  t.equal(bridge.logs.lines.filter(line => (line as { req?: { url?: string } }).req?.url === '/metrics').length, 0, 'scrapes are not logged at info')
})

t.test('deliveries that fail count as failed (dead) per route', async t => {
  const sandbox = await startTestSandbox(t)
  const mappings = basicMappings({ inputs: '      contactId: { from: record.id }\n      nickname: { value: Ada }' }).replace('redact: [email]', '')
  const bridge = await startBridge(t, { env: sandbox.env, mappings })
  const response = await bridge.post(contactEvent('evt-dead'))
  const id = response.body.accepted[0].deliveryId as string
  await waitFor(async () => (await bridge.app.bridge.store.getDelivery(id))?.state === 'failed' && bridge.logs.events('delivery.failed').length > 0, 10_000, 'the delivery to fail')
  const text = await (await fetch(`${bridge.url}/metrics`)).text()
  t.equal(sampleValue(text, 'crm_bridge_deliveries_total', { route: 'contact-sync', outcome: 'failed' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_genesys_responses_total', { operation: 'launch', status_class: '4xx' }), 1)
  t.equal(sampleValue(text, 'crm_bridge_queue_deliveries', { state: 'failed' }), 1)
})
