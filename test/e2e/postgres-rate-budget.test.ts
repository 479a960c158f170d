import t from 'tap'
import { contactEvent } from '../helper.js'
import { startPgServer } from '../pg-helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { spawnBridges } from './postgres-bridges.js'

/** Three bridge processes on one PostgreSQL spend from one Genesys budget (a row in rate_budget). */
const server = await startPgServer(t)

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

t.test('the Genesys rate budget is shared: three instances together stay within the per-minute limit', async t => {
  const perMinute = 120
  const burst = 5
  const databaseUrl = await server.createDatabase('rate')
  const sandbox = await startTestSandbox(t, { rateLimitPerMinute: 0 })
  const bridges = await spawnBridges(t, 3, {
    databaseUrl,
    env: { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: String(perMinute), GENESYS_RATE_BURST: String(burst), LEASE_MS: '60000' }
  })
  const backlog = 90
  const responses = await Promise.all(Array.from({ length: backlog }, async (_, i) => await bridges[i % bridges.length]!.post(contactEvent(`rate-${i}`, { id: `RATE-${i}` }))))
  t.ok(responses.every(r => r.status === 202), 'a backlog queued through all three')
  const windowMs = 20_000
  await sleep(windowMs)
  await Promise.all(bridges.map(async b => { await b.kill('SIGKILL') }))

  // Everything the bridges sent (token requests and flow reads too) spends from the budget.
  const calls = sandbox.state.requests.map(r => Date.parse(r.time)).sort((a, b) => a - b)
  const perMs = perMinute / 60_000
  let worst = { excess: -Infinity, count: 0, spanMs: 0 }
  for (let i = 0; i < calls.length; i++) {
    for (let j = i; j < calls.length; j++) {
      const spanMs = calls[j]! - calls[i]!
      const excess = (j - i + 1) - (burst + spanMs * perMs)
      if (excess > worst.excess) worst = { excess, count: j - i + 1, spanMs }
    }
  }
  // One call of slack: the sandbox stamps arrival, the bucket stamps the grant a moment earlier.
  t.ok(worst.excess <= 1, `no window holds more than burst + rate × span (worst: ${worst.count} calls in ${worst.spanMs} ms)`)
  const launches = sandbox.launches().length
  const ceiling = burst + (windowMs / 1000) * (perMinute / 60) + 1
  t.ok(launches <= ceiling, `${launches} launches in ~${windowMs / 1000} s by three instances, at most ${ceiling} allowed for all of them together`)
  t.ok(launches >= 25, `the backlog was worked at the shared pace (${launches} launches)`)
  const perBridge = bridges.map(b => b.logs.filter(l => l.event === 'delivery.succeeded').length)
  t.ok(perBridge.filter(n => n > 0).length >= 2, `the budget was spent by several instances (${perBridge.join(', ')})`)
})
