import t from 'tap'
import { contactEvent, startBridge, waitFor } from '../helper.js'
import { checkLedger } from '../ledger.js'
import { startTestSandbox } from '../sandbox-helper.js'

/** A small deterministic generator, so a failing run can be replayed. */
function seeded (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

const maxAttempts = 15

t.test('Genesys misbehaving in every way: everything ends delivered, nothing dead, attempts bounded', { timeout: 120_000 }, async t => {
  const seed = Number(process.env.FAULT_SEED ?? 20261129)
  t.comment(`seed ${seed} (FAULT_SEED to replay)`)
  const sandbox = await startTestSandbox(t, { rateLimitPerMinute: 0, random: seeded(seed) })
  const { faults } = sandbox.state
  // The token endpoint is down when the service starts.
  faults.add({ target: 'token', kind: 'status', status: 503, times: 4 })
  faults.add({ target: 'launch', kind: 'status', status: 429, retryAfter: 1, times: 3 })
  faults.add({ target: 'launch', kind: 'reset', probability: 0.05 })
  faults.add({ target: 'launch', kind: 'hang', ms: 2000, probability: 0.04 })
  faults.add({ target: 'launch', kind: 'status', status: 500, probability: 0.1 })
  faults.add({ target: 'launch', kind: 'status', status: 502, probability: 0.1 })
  faults.add({ target: 'launch', kind: 'status', status: 503, probability: 0.1 })
  const bridge = await startBridge(t, {
    env: {
      ...sandbox.env,
      GENESYS_TIMEOUT_MS: '400',
      GENESYS_RATE_LIMIT_PER_MINUTE: '0',
      RETRY_MAX_ATTEMPTS: String(maxAttempts),
      RETRY_BASE_DELAY_MS: '20',
      RETRY_MAX_DELAY_MS: '300',
      LOG_LEVEL: 'info'
    }
  })

  const accepted: string[] = []
  let answered = 0
  for (let n = 0; n < 200; n++) {
    const response = await bridge.post(contactEvent(`fault-${n}`, { id: `R${n % 40}` }, new Date(Date.UTC(2026, 0, 1) + n).toISOString()))
    if (response.status === 202) answered++
    accepted.push(...response.body.accepted.map((a: { deliveryId: string }) => a.deliveryId))
    if (n === 120) sandbox.state.revokeTokens() // tokens revoked mid-run: 401s
  }
  t.equal(answered, 200, 'every webhook accepted whatever Genesys does')
  const store = bridge.app.bridge.store
  await waitFor(async () => {
    const stats = await store.stats()
    return stats.byState.queued + stats.byState.running === 0
  }, 100_000, 'the queue to drain')

  const ledger = await checkLedger(store, accepted)
  t.same(ledger.missing, [], 'nothing accepted is missing')
  t.same(ledger.byState, { succeeded: accepted.length }, 'everything ends delivered; nothing dead-lettered')
  let maxSeen = 0
  let retries = 0
  for (const id of accepted) {
    const delivery = (await store.getDelivery(id))!
    maxSeen = Math.max(maxSeen, delivery.attempts)
    retries += delivery.attempts - 1
  }
  t.ok(maxSeen <= maxAttempts, `attempts bounded: at most ${maxSeen} of ${maxAttempts}`)
  t.ok(retries > 20, `the faults really happened (${retries} retries)`)
  t.ok(sandbox.state.stats.injected429 >= 3)
  t.ok(bridge.logs.events('genesys.token_rejected').length >= 1, 'revoked tokens were replaced')
  t.equal(sandbox.state.stats.organic429, 0, 'no 429 that was not injected')
  t.comment(`deliveries ${accepted.length}, retries ${retries}, max attempts ${maxSeen}, faults ${sandbox.state.stats.faultsApplied}`)
})
