import t from 'tap'
import { contactEvent, waitFor } from '../helper.js'
import { startPgServer } from '../pg-helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { deliveryIdOf, inspect, spawnBridges, type BridgeProcess } from './postgres-bridges.js'

/** PostgreSQL stops under two running bridges and comes back; the bridges are never restarted. */
const server = await startPgServer(t)

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function postAll (bridges: BridgeProcess[], prefix: string, count: number): Promise<Array<{ status: number, deliveryId: string | null, retryAfter: string | null, body: string }>> {
  return await Promise.all(Array.from({ length: count }, async (_, i) => {
    const body = contactEvent(`${prefix}-${i}`, { id: `${prefix.toUpperCase()}-${i}` })
    const response = await bridges[i % bridges.length]!.post(body)
    return { status: response.status, deliveryId: response.body?.accepted?.[0]?.deliveryId ?? null, retryAfter: response.headers.get('retry-after'), body }
  }))
}

t.test('PostgreSQL going away: ingest answers 503 with Retry-After, dispatch pauses, both recover without a restart, nothing accepted is lost', async t => {
  const databaseUrl = await server.createDatabase('outage')
  const sandbox = await startTestSandbox(t, { rateLimitPerMinute: 0 })
  sandbox.state.faults.add({ target: 'launch', kind: 'delay', ms: 100 })
  const bridges = await spawnBridges(t, 2, { databaseUrl, env: { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '0', LEASE_MS: '2000' } })
  const db = inspect(t, databaseUrl)

  // 1. Some delivered, some still queued or in flight when the database goes.
  const before = await postAll(bridges, 'before', 20)
  t.ok(before.every(r => r.status === 202), 'accepted while PostgreSQL is up')
  await waitFor(() => sandbox.launches().length >= 5, 15_000, 'some launches')
  t.teardown(async () => { if (!server.running) await server.start() })
  await server.stop()

  // 2. While it is down.
  const during = await postAll(bridges, 'during', 6)
  t.same(during.map(r => r.status), [503, 503, 503, 503, 503, 503], 'ingest answers 503 (the CRM keeps the event and retries)')
  t.ok(during.every(r => r.retryAfter !== null && Number(r.retryAfter) > 0), 'with a Retry-After')
  const ready = await fetch(`${bridges[0]!.url}/readyz`)
  t.equal(ready.status, 503, 'not ready while the store is away')
  t.ok(((await ready.json()) as { failing: string[] }).failing.includes('store'))
  const launchesWhileDown = sandbox.launches().length
  await sleep(1500)
  t.ok(sandbox.launches().length - launchesWhileDown <= 4, 'dispatch pauses: at most the launches already under way finish')
  t.ok(bridges.every(b => b.child.exitCode === null), 'both bridges stay up')

  // 3. Back, with the same processes.
  await server.start()
  const retried = await Promise.all(during.map(async (r, i) => await bridges[i % bridges.length]!.post(r.body)))
  t.same(retried.map(r => r.status), [202, 202, 202, 202, 202, 202], 'the CRM\'s retries are accepted once it is back')
  const after = await postAll(bridges, 'after', 6)
  t.ok(after.every(r => r.status === 202), 'and new events too')

  const accepted = [...before.map(r => r.deliveryId), ...retried.map(r => r.body.accepted[0].deliveryId as string), ...after.map(r => r.deliveryId)]
  await waitFor(async () => {
    const { rows } = await db.query<{ n: number }>("SELECT count(*)::integer AS n FROM deliveries WHERE state = 'succeeded'")
    return rows[0]!.n === accepted.length
  }, 30_000, 'every accepted delivery to succeed')
  const launched = new Set(sandbox.launches().map(deliveryIdOf))
  t.same(accepted.filter(id => id === null || !launched.has(id)), [], 'nothing accepted was lost: every accepted delivery was launched')
  const { rows: [counts] } = await db.query<{ events: number, deliveries: number }>('SELECT (SELECT count(*)::integer FROM events) AS events, (SELECT count(*)::integer FROM deliveries) AS deliveries')
  t.same(counts, { events: accepted.length, deliveries: accepted.length }, 'and nothing refused was half-stored')
  const logs = bridges.flatMap(b => b.logs)
  t.ok(logs.some(l => l.event === 'webhook.store_unavailable'), 'the outage is logged at ingest')
  t.ok(logs.some(l => l.event === 'dispatcher.claim_failed'), 'and by the dispatcher')
})
