/**
 * Times the store's own calls on a backlog file, in a process of its own (no HTTP, no Genesys): what
 * one claim of 8 (GENESYS_MAX_IN_FLIGHT's default), finishing those 8, and one stats() (a /metrics
 * scrape) cost with that many deliveries pending. Each of these runs on the service's event loop,
 * so its duration is also how long ingest stalls meanwhile. Options as JSON in BENCH_PROBE:
 * { file, rounds? }. Prints medians in ms.
 */
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

const { openSqliteStore } = await import(pathToFileURL(join(process.env.BENCH_DIST, 'store', 'sqlite', 'sqlite-store.js')).href)
const options = JSON.parse(process.env.BENCH_PROBE)
const rounds = options.rounds ?? 20
const store = openSqliteStore({ file: options.file })
const median = values => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const attempt = () => ({ number: 1, startedAt: new Date(), durationMs: 1, outcome: 'succeeded', status: 200, error: null, hint: null, correlationId: null, request: null, response: null })

const claims = []
const finishes = []
const stats = []
for (let i = 0; i < rounds; i++) {
  let started = performance.now()
  const claimed = await store.claim({ owner: 'probe', limit: 8, leaseMs: 60_000 })
  claims.push(performance.now() - started)
  started = performance.now()
  await Promise.all(claimed.map(d => store.finish(d.id, 'probe', { state: 'succeeded', attempt: attempt(), executionId: null })))
  finishes.push(performance.now() - started)
}
for (let i = 0; i < 5; i++) {
  const started = performance.now()
  await store.stats()
  stats.push(performance.now() - started)
}
await store.close()
const round2 = n => Math.round(n * 100) / 100
process.stdout.write(JSON.stringify({ claimMs: round2(median(claims)), claimMaxMs: round2(Math.max(...claims)), finish8Ms: round2(median(finishes)), statsMs: round2(median(stats)) }))
