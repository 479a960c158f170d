/**
 * Two builds side by side: each service gets the same generic webhooks at the same fixed rate from
 * its own autocannon, at the same time, and the figure is CPU time of each service's main thread
 * per request. Running both at once cancels the machine's drift, which on a shared machine moves
 * throughput by ±10–30% from one minute to the next and hides changes of a few per cent; the main
 * thread is what bounds durable ingest. Compare a build with itself to see the noise floor.
 *
 *   node bench/compare.mjs <tree A> <tree B> [--rate 1800] [--rounds 6] [--duration 10]
 *
 * A tree is a directory holding `dist/` and `package.json` (a copy of the repository after
 * `npm run build`). Prints each round and the median of B/A over the rounds: below 1, B costs less.
 */
import { resolve } from 'node:path'
import { log, median, parseArgs, round } from './lib/common.mjs'
import { mainThreadCpuSeconds, makeRunDir, runLoad, serviceEnv, startSandbox, startService } from './lib/procs.mjs'

const args = parseArgs(process.argv.slice(2))
if (args._.length !== 2) {
  process.stderr.write('usage: node bench/compare.mjs <tree A> <tree B> [--rate 1800] [--rounds 6] [--duration 10]\n')
  process.exit(2)
}
const trees = args._.map(tree => resolve(tree))
const rate = args.rate ?? 1800
const rounds = args.rounds ?? 6
const duration = args.duration ?? 10

const sandbox = await startSandbox({ rateLimitPerMinute: 300 })
const services = []
try {
  for (const root of trees) {
    const run = makeRunDir()
    const service = await startService({ root, env: serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '300' }) })
    services.push({ root, run, service })
  }
  const perRequest = services.map(() => [])
  for (let r = 1; r <= rounds; r++) {
    const before = services.map(({ service }) => mainThreadCpuSeconds(service.pid))
    const results = await Promise.all(services.map(({ service }) =>
      runLoad({ url: service.url, kind: 'generic', connections: 20, duration, warmup: 0, overallRate: rate })))
    const after = services.map(({ service }) => mainThreadCpuSeconds(service.pid))
    results.forEach((result, i) => {
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${trees[i]}: ${result.non2xx} non-2xx, ${result.errors} errors`)
      perRequest[i].push((after[i] - before[i]) * 1e6 / result.requests.total)
    })
    log(`round ${r}/${rounds}: A ${round(perRequest[0].at(-1), 1)} µs, B ${round(perRequest[1].at(-1), 1)} µs per request ` +
      `(${results.map(result => round(result.requests.average, 0)).join(' and ')} req/s), B/A ${round(perRequest[1].at(-1) / perRequest[0].at(-1), 3)}`)
  }
  const ratios = perRequest[0].map((a, i) => perRequest[1][i] / a)
  process.stdout.write(`${JSON.stringify({
    trees, rate, rounds, duration,
    mainThreadMicrosPerRequest: { a: round(median(perRequest[0]), 1), b: round(median(perRequest[1]), 1) },
    ratioBtoA: round(median(ratios), 3),
    ratios: ratios.map(ratio => round(ratio, 3))
  }, null, 2)}\n`)
} finally {
  for (const { service, run } of services) {
    await service.stop()
    run.remove()
  }
  await sandbox.stop()
}
