/**
 * Builds one after the other: each round starts a service from every tree in turn (the order
 * rotating from round to round), sends it generic webhooks for a warm-up and then `--duration`
 * seconds, and stops it. With `--rate` the load is fixed (latency at a given load); without it,
 * autocannon keeps `--connections` requests in flight (saturation). Prints, per run and as medians
 * over the rounds: req/s, p50/p90/p99 latency, and the main thread's CPU per request. Unlike
 * compare.mjs the services never share the machine, so latency is theirs alone; drift between
 * runs is what the alternation spreads over the builds.
 *
 *   node bench/alternate.mjs <tree> <tree>... [--rate R] [--connections 50] [--rounds 3] [--duration 20]
 *
 * A tree is a directory holding `dist/` and `package.json` (a copy of the repository after
 * `npm run build`).
 */
import { resolve } from 'node:path'
import { log, median, parseArgs, round } from './lib/common.mjs'
import { mainThreadCpuSeconds, makeRunDir, runLoad, serviceEnv, startSandbox, startService } from './lib/procs.mjs'

const args = parseArgs(process.argv.slice(2))
if (args._.length < 2) {
  process.stderr.write('usage: node bench/alternate.mjs <tree> <tree>... [--rate R] [--connections 50] [--rounds 3] [--duration 20]\n')
  process.exit(2)
}
const trees = args._.map(tree => resolve(tree))
const rate = typeof args.rate === 'number' ? args.rate : undefined
const connections = args.connections ?? (rate === undefined ? 50 : 20)
const rounds = args.rounds ?? 3
const duration = args.duration ?? 20

const load = { kind: 'generic', connections, warmup: 0, ...(rate === undefined ? {} : { overallRate: rate }) }
const sandbox = await startSandbox({ rateLimitPerMinute: 300 })
const runs = trees.map(() => [])
try {
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < trees.length; k++) {
      const i = (k + r) % trees.length
      const run = makeRunDir()
      const service = await startService({ root: trees[i], env: serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '300' }) })
      try {
        await runLoad({ url: service.url, ...load, duration: 3 })
        const before = mainThreadCpuSeconds(service.pid)
        const result = await runLoad({ url: service.url, ...load, duration })
        const cpu = mainThreadCpuSeconds(service.pid) - before
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${trees[i]}: ${result.non2xx} non-2xx, ${result.errors} errors`)
        const figures = {
          reqPerSec: round(result.requests.average, 0),
          p50: result.latency.p50,
          p90: result.latency.p90,
          p99: result.latency.p99,
          mainThreadMicrosPerRequest: round(cpu * 1e6 / result.requests.total, 1)
        }
        runs[i].push(figures)
        log(`round ${r + 1}/${rounds}, ${trees[i]}: ${figures.reqPerSec} req/s, p50 ${figures.p50} / p90 ${figures.p90} / p99 ${figures.p99} ms, ${figures.mainThreadMicrosPerRequest} µs per request`)
      } finally {
        await service.stop()
        run.remove()
      }
    }
  }
} finally {
  await sandbox.stop()
}
const medianOf = (i, key) => median(runs[i].map(figures => figures[key]))
process.stdout.write(`${JSON.stringify({
  rate: rate ?? null,
  connections,
  rounds,
  duration,
  builds: trees.map((tree, i) => ({
    tree,
    median: Object.fromEntries(['reqPerSec', 'p50', 'p90', 'p99', 'mainThreadMicrosPerRequest'].map(key => [key, medianOf(i, key)])),
    runs: runs[i]
  }))
}, null, 2)}\n`)
