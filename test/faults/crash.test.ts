import t from 'tap'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { basicMappings, contactEvent, sign, tempDir, waitFor, webhookSecret, writeFile } from '../helper.js'
import { checkLedger } from '../ledger.js'
import { freePort, killHard, startServiceProcess, type ServiceProcess } from '../process-helper.js'
import { startTestSandbox } from '../sandbox-helper.js'

/**
 * Crash test: thousands of webhooks while the service is SIGKILLed at random moments and
 * restarted. Every event answered 2xx must be launched at least once; duplicates may only come
 * from deliveries in flight at a kill (Genesys calls, up to the in-flight limit, and answered calls
 * whose record is being written, up to as many again), so they are bounded by kills × 2 × the limit.
 */
const events = 2000
const records = 150
const kills = 4
const maxInFlight = 8

t.test('SIGKILL during a burst loses nothing that was accepted', { timeout: 180_000 }, async t => {
  const sandbox = await startTestSandbox(t, { rateLimitPerMinute: 0 })
  sandbox.state.faults.add({ target: 'launch', kind: 'delay', ms: 15 })
  const dir = tempDir(t)
  const env = {
    ...sandbox.env,
    MAPPINGS_FILE: writeFile(dir, 'mappings.yaml', basicMappings()),
    DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}`,
    CRM_WEBHOOK_SECRET: webhookSecret,
    GENESYS_RATE_LIMIT_PER_MINUTE: '0',
    GENESYS_MAX_IN_FLIGHT: String(maxInFlight),
    LEASE_MS: '1000',
    DISPATCH_POLL_MS: '50',
    RETRY_BASE_DELAY_MS: '50',
    RETRY_MAX_DELAY_MS: '500',
    WATCH_MAPPINGS: 'false'
  }
  const port = await freePort()
  let service: ServiceProcess = await startServiceProcess(env, { port })
  t.teardown(async () => { await killHard(service) })

  const accepted = new Map<string, string>() // delivery id → event id
  let answered2xx = 0
  let retriedSends = 0
  let next = 0
  const send = async (): Promise<void> => {
    while (next < events) {
      const n = next++
      const body = contactEvent(`crash-${n}`, { id: `R${n % records}` }, new Date(Date.UTC(2026, 0, 1) + n).toISOString())
      // Like a CRM: resend until the service answers 2xx.
      for (let tries = 0; ; tries++) {
        try {
          const response = await fetch(`${service.url}/webhooks/crm`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-signature': sign(body) },
            body,
            signal: AbortSignal.timeout(5000)
          })
          const reply = await response.json() as { accepted: Array<{ deliveryId: string, eventId: string }> }
          if (response.status === 202) {
            answered2xx++
            for (const a of reply.accepted) accepted.set(a.deliveryId, a.eventId)
            break
          }
        } catch {}
        retriedSends++
        if (tries > 200) throw new Error(`event ${n} never accepted`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
  }

  const killer = (async () => {
    for (let k = 0; k < kills; k++) {
      await new Promise(resolve => setTimeout(resolve, 300 + Math.random() * 700))
      await killHard(service)
      service = await startServiceProcess(env, { port })
    }
  })()
  await Promise.all([...Array.from({ length: 16 }, send), killer])
  t.equal(answered2xx, events, 'every event was eventually answered 2xx')

  const launchedIds = (): Map<string, number> => {
    const counts = new Map<string, number>()
    for (const launch of sandbox.launches()) {
      if (launch.status !== 200) continue
      const id = String(launch.body.name).replace('crm-flow-bridge ', '')
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    return counts
  }
  // Map every event the service answered 2xx for (a lost 202 comes back as a duplicate) to its delivery.
  const store = openSqliteStore({ file: join(dir, 'bridge.db'), readonly: true })
  t.teardown(async () => { await store.close() })
  const deliveryOfEvent = new Map<string, string>()
  for (let cursor: string | null = null; ;) {
    const page: Awaited<ReturnType<typeof store.listDeliveries>> = await store.listDeliveries({}, { limit: 500, cursor })
    for (const item of page.items) deliveryOfEvent.set((await store.getDelivery(item.id))!.event.event.id, item.id)
    if ((cursor = page.nextCursor) === null) break
  }
  const answeredEvents = Array.from({ length: events }, (_, n) => `crash-${n}`)
  t.same(answeredEvents.filter(id => !deliveryOfEvent.has(id)), [], 'every event answered 2xx has a delivery')
  const stored = new Set(deliveryOfEvent.values())
  t.ok([...accepted.keys()].every(id => stored.has(id)), 'the 202 answers named stored deliveries')

  await waitFor(() => {
    const launched = launchedIds()
    return [...stored].every(id => launched.has(id))
  }, 90_000, 'every accepted delivery to be launched')
  const graceful = service
  graceful.child.kill('SIGTERM')
  t.equal((await graceful.exited).code, 0, 'the last instance shuts down cleanly')

  const ledger = await checkLedger(store, stored)
  t.same(ledger.missing, [], 'no accepted delivery is missing from the store')
  t.equal(ledger.byState.succeeded, events, `all ${events} deliveries succeeded`)

  const counts = launchedIds()
  const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0)
  t.ok(duplicates <= kills * 2 * maxInFlight, `duplicates (${duplicates}) bounded by kills × 2 × in-flight limit (${kills * 2 * maxInFlight})`)
  t.comment(`events ${events}, answered 202 with a delivery ${accepted.size} (the rest as duplicates of a commit whose answer was lost), resends after a kill ${retriedSends}, duplicate launches ${duplicates}`)
})
