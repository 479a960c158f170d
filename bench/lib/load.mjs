/**
 * The load generator, run as its own process by procs.mjs#runLoad: autocannon's programmatic API
 * with a `setupRequest` that builds each body fresh (new event ids) and signs it, so every request
 * is one the bridge must store. Options come as JSON in BENCH_LOAD:
 *   { url, kind: 'generic'|'hubspot'|'salesforce', connections, duration, warmup, overallRate?, timeout? }
 * Prints autocannon's result (JSON) on stdout; the warm-up run's result is discarded.
 */
import { createRequire } from 'node:module'
import { kinds } from './payloads.mjs'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon')
const options = JSON.parse(process.env.BENCH_LOAD)
const kind = kinds[options.kind]
if (kind === undefined) throw new Error(`unknown payload kind ${options.kind}`)

let n = 0
const request = {
  method: 'POST',
  path: kind.path,
  setupRequest (req) {
    const body = kind.body(n++)
    req.body = body
    req.headers = kind.headers(body)
    return req
  }
}

async function run (duration, connections) {
  return await autocannon({
    url: options.url,
    connections,
    duration,
    timeout: options.timeout ?? 10,
    requests: [request],
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate })
  })
}

const warm = (options.warmup ?? 0) > 0 ? await run(options.warmup, options.connections) : null
const started = Date.now()
const cpu = process.cpuUsage()
const result = await run(options.duration, options.connections)
const used = process.cpuUsage(cpu)
result.bench = {
  kind: options.kind,
  eventsPerRequest: kind.eventsPerRequest,
  sent: n,
  startedAt: started,
  warmupOk: warm === null ? 0 : warm['2xx'],
  // The load generator's own CPU: near 100% means the baseline figure is capped by autocannon.
  cpuSeconds: (used.user + used.system) / 1e6
}
process.stdout.write(JSON.stringify(result))
