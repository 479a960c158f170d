/**
 * The Genesys sandbox in a process of its own (forked with IPC by procs.mjs#startSandbox).
 * Options come as JSON in BENCH_SANDBOX_OPTIONS. Besides what the sandbox records, it keeps a
 * launch timeline (count, first and last launch time, launches per second) so the benchmarks can
 * measure launch rates where the work is observed, and it clears its executions map every few
 * seconds so a million launches do not grow this process.
 *
 * IPC: { id, cmd: 'stats' | 'mark' | 'fault' | 'clearFaults', rule? } → { id, ...answer }
 */
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

const distDir = process.env.BENCH_DIST
const { startSandbox } = await import(pathToFileURL(join(distDir, 'sandbox', 'genesys-sandbox.js')).href)
const options = JSON.parse(process.env.BENCH_SANDBOX_OPTIONS ?? '{}')
const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, ...options })

// A live counter the launch route increments (`state.stats.launches++`): an accessor sees each one.
const timeline = { count: 0, first: null, last: null, perSecond: new Map(), markCount: 0, markAt: performance.now() }
let launches = sandbox.stats.launches
Object.defineProperty(sandbox.stats, 'launches', {
  enumerable: true,
  get: () => launches,
  set: value => {
    if (value > launches) {
      const now = performance.now()
      timeline.count += value - launches
      timeline.first ??= now
      timeline.last = now
      const second = Math.floor(Date.now() / 1000)
      timeline.perSecond.set(second, (timeline.perSecond.get(second) ?? 0) + (value - launches))
    }
    launches = value
  }
})
// Every API call the bridge makes (launches, flow reads, token requests are on the login route).
let apiRequests = 0
const requestsPerSecond = new Map()
const originalPush = sandbox.requests.push.bind(sandbox.requests)
sandbox.requests.push = (...entries) => {
  for (const entry of entries) {
    if (entry.path.startsWith('/api/')) {
      apiRequests++
      const second = Math.floor(Date.now() / 1000)
      requestsPerSecond.set(second, (requestsPerSecond.get(second) ?? 0) + 1)
    }
  }
  return originalPush(...entries)
}

setInterval(() => { sandbox.executions.clear() }, 2000).unref()

function stats () {
  const now = performance.now()
  return {
    launches: timeline.count,
    sinceMark: timeline.count - timeline.markCount,
    msSinceMark: now - timeline.markAt,
    firstLaunchMs: timeline.first === null ? null : timeline.first - timeline.markAt,
    lastLaunchMs: timeline.last === null ? null : timeline.last - timeline.markAt,
    apiRequests,
    organic429: sandbox.stats.organic429,
    injected429: sandbox.stats.injected429,
    launchesRejected: sandbox.stats.launchesRejected,
    tokensIssued: sandbox.stats.tokensIssued,
    rssMB: Math.round(process.memoryUsage.rss() / 1048576)
  }
}

process.on('message', message => {
  const reply = answer => process.send({ id: message.id, ...answer })
  switch (message.cmd) {
    case 'stats':
      return reply(stats())
    case 'mark':
      timeline.markCount = timeline.count
      timeline.markAt = performance.now()
      timeline.first = null
      timeline.last = null
      return reply(stats())
    case 'perSecond':
      return reply({ launches: [...timeline.perSecond], api: [...requestsPerSecond] })
    case 'fault':
      return reply({ rule: sandbox.faults.add(message.rule) })
    case 'clearFaults':
      sandbox.faults.clear()
      return reply({})
    default:
      return reply({ error: `unknown command ${message.cmd}` })
  }
})

process.on('disconnect', () => { void sandbox.close().finally(() => process.exit(0)) })
process.on('SIGTERM', () => { void sandbox.close().finally(() => process.exit(0)) })
process.send({ ready: true, url: sandbox.url })
