/**
 * Graceful shutdown of the built service (`dist/server.js`; `npm test` builds it first): SIGTERM or
 * SIGINT while a launch is in flight either lets it finish within SHUTDOWN_GRACE_MS or gives its
 * lease back, then the process flushes its log and exits 0.
 */
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { basicMappings, contactEvent, sign, tempDir, waitFor, webhookSecret, writeFile } from '../helper.js'
import { serverEntry, startServiceProcess, type ServiceProcess } from '../process-helper.js'
import { startTestSandbox, type TestSandbox } from '../sandbox-helper.js'

if (!existsSync(serverEntry)) throw new Error(`${serverEntry} is missing: run \`npm run build\` first (npm test does)`)

interface Started {
  service: ServiceProcess
  sandbox: TestSandbox
  dbFile: string
  deliveryId: string
}

/**
 * Starts the service against a sandbox that holds the next launch for `launchMs` (answering after
 * a `delay`, or never for a `hang`), and waits until that launch is in flight.
 */
async function startWithLaunchInFlight (t: Test, fault: 'delay' | 'hang', launchMs: number, graceMs: number): Promise<Started> {
  const sandbox = await startTestSandbox(t)
  sandbox.state.faults.add({ target: 'launch', kind: fault, ms: launchMs, times: 1 })
  const dir = tempDir(t)
  const dbFile = join(dir, 'bridge.db')
  const service = await startServiceProcess({
    ...sandbox.env,
    MAPPINGS_FILE: writeFile(dir, 'mappings.yaml', basicMappings()),
    DATABASE_URL: `sqlite:${dbFile}`,
    CRM_WEBHOOK_SECRET: webhookSecret,
    DISPATCH_POLL_MS: '50',
    SHUTDOWN_GRACE_MS: String(graceMs)
  })
  t.teardown(() => { if (service.child.exitCode === null) service.child.kill('SIGKILL') })
  const body = contactEvent('evt-shutdown')
  const response = await fetch(`${service.url}/webhooks/crm`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(body) }, body })
  t.equal(response.status, 202)
  const deliveryId = ((await response.json()) as { accepted: Array<{ deliveryId: string }> }).accepted[0]!.deliveryId
  await waitFor(() => sandbox.launches().some(launch => launch.status === null), 10_000, 'the launch to reach the sandbox')
  return { service, sandbox, dbFile, deliveryId }
}

function events (service: ServiceProcess): string[] {
  return service.lines.map(line => (JSON.parse(line) as { event?: string }).event ?? '').filter(event => event !== '')
}

async function deliveryState (dbFile: string, id: string): Promise<{ state: string, attempts: number } | null> {
  const store = openSqliteStore({ file: dbFile, readonly: true })
  try {
    const delivery = await store.getDelivery(id)
    return delivery === null ? null : { state: delivery.state, attempts: delivery.attempts }
  } finally {
    await store.close()
  }
}

t.test('SIGTERM lets a launch in flight finish within the grace period, then exits 0', async t => {
  const { service, sandbox, dbFile, deliveryId } = await startWithLaunchInFlight(t, 'delay', 1500, 10_000)
  const signalledAt = Date.now()
  service.child.kill('SIGTERM')
  // 1. once the signal is handled, new work is refused while the launch finishes (503 from
  //    return503OnClosing, or the connection is closed)
  await waitFor(() => events(service).includes('shutdown.started'), 5000, 'the signal to be handled')
  const during = await fetch(`${service.url}/healthz`).then(r => r.status, () => 'refused')
  t.not(during, 200, `no new requests once shutting down (got ${during})`)
  // 2. the process exits by itself, cleanly
  const { code, signal } = await service.exited
  t.equal(code, 0)
  t.equal(signal, null)
  t.ok(Date.now() - signalledAt < 10_000, 'well within SHUTDOWN_GRACE_MS')
  // 3. the launch completed and was recorded before exit
  t.same(await deliveryState(dbFile, deliveryId), { state: 'succeeded', attempts: 1 })
  t.equal(sandbox.launches()[0]!.status, 200)
  // 4. the log was flushed to the last line
  const seen = events(service)
  t.ok(seen.indexOf('shutdown.started') < seen.indexOf('delivery.succeeded'), 'the delivery finished after the signal')
  t.equal(seen.at(-1), 'shutdown.finished')
  t.match(JSON.parse(service.lines.find(line => line.includes('"shutdown.started"'))!), { signal: 'SIGTERM' })
})

t.test('SIGINT past the grace period releases the launch in flight for the next start, then exits 0', async t => {
  const { service, dbFile, deliveryId } = await startWithLaunchInFlight(t, 'hang', 60_000, 300)
  const signalledAt = Date.now()
  service.child.kill('SIGINT')
  const { code } = await service.exited
  t.equal(code, 0)
  t.ok(Date.now() - signalledAt < 5000, `exited ${Date.now() - signalledAt} ms after the signal (grace 300 ms)`)
  t.same(await deliveryState(dbFile, deliveryId), { state: 'queued', attempts: 0 }, 'lease given back, no attempt counted')
  const seen = events(service)
  t.ok(seen.includes('delivery.released'))
  t.equal(seen.at(-1), 'shutdown.finished')
})

t.test('the default 10 s grace period is honoured in full and still exits 0', async t => {
  // Fastify times out close hooks after pluginTimeout; it must exceed SHUTDOWN_GRACE_MS.
  const { service, dbFile, deliveryId } = await startWithLaunchInFlight(t, 'hang', 60_000, 10_000)
  const signalledAt = Date.now()
  service.child.kill('SIGTERM')
  const { code } = await service.exited
  t.equal(code, 0)
  t.ok(Date.now() - signalledAt >= 9_900, 'waited the whole grace period for the launch')
  t.same(await deliveryState(dbFile, deliveryId), { state: 'queued', attempts: 0 })
  t.equal(events(service).at(-1), 'shutdown.finished')
})
