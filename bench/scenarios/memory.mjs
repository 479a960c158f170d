/**
 * Scenario 4, memory. The service runs with a preloaded probe (bench/lib/mem-probe.mjs) appending
 * process.memoryUsage() every second to a file; VmRSS/VmHWM are also read from /proc.
 * a) Soak (`--duration` seconds, default 600) of mixed load: generic webhooks at a fixed 200 req/s and
 *    HubSpot batches of 100 at 2 req/s (autocannon, separate processes), dispatch with the limit off
 *    against the sandbox with 2% of launches answered 503 (retries), /metrics scraped every 15 s,
 *    retention sweeping finished deliveries older than 60 s every 10 s. RSS must be flat: the median
 *    of the last tenth within ±10% of the median of the tenth after the first minute (warm-up).
 * b) 1M backlog: the service on a file with 1M pending deliveries, dispatching with the limit off,
 *    light ingest, /metrics every 15 s, for `--backlog-seconds` (default 90): peak RSS ≤ 200 MB.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { log, median, round, sleep } from '../lib/common.mjs'
import { copyBacklog } from '../lib/backlog.mjs'
import { makeRunDir, procMemory, runLoad, serviceEnv, startSandbox, startService } from '../lib/procs.mjs'

export const description = 'RSS and heap over a mixed-load soak (flat ±10%) and with a 1M backlog (≤ 200 MB)'

const MB = 1048576

function readSamples (file) {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(line => JSON.parse(line))
  } catch {
    return []
  }
}

/** Scrapes /metrics every `everyMs` until `signal` aborts. */
async function scrapeLoop (url, everyMs, signal) {
  const times = []
  while (!signal.aborted) {
    const started = performance.now()
    try {
      await (await fetch(`${url}/metrics`)).text()
      times.push(round(performance.now() - started, 1))
    } catch {}
    await sleep(everyMs)
  }
  return times
}

/** Flatness of a memory series: medians of the first and last tenth after warm-up, and the RSS trend. */
function summarizeSeries (samples, seconds) {
  if (samples.length === 0) return null
  const t0 = samples[0].t
  const points = samples.map(s => ({ s: (s.t - t0) / 1000, rss: s.rss / MB, heapUsed: s.heapUsed / MB, heapTotal: s.heapTotal / MB, external: s.external / MB }))
  const warm = Math.min(60, seconds / 10)
  const steady = points.filter(p => p.s >= warm)
  const tenth = Math.max(1, Math.floor(steady.length / 10))
  const first = steady.slice(0, tenth)
  const last = steady.slice(-tenth)
  const m = (list, key) => round(median(list.map(p => p[key])), 1)
  // Least-squares slope of RSS over the steady part, MB per minute.
  const n = steady.length
  const mx = steady.reduce((a, p) => a + p.s, 0) / n
  const my = steady.reduce((a, p) => a + p.rss, 0) / n
  const slope = steady.reduce((a, p) => a + (p.s - mx) * (p.rss - my), 0) / Math.max(1e-9, steady.reduce((a, p) => a + (p.s - mx) ** 2, 0)) * 60
  return {
    samples: points.length,
    rssFirstTenthMB: m(first, 'rss'),
    rssLastTenthMB: m(last, 'rss'),
    rssChangePct: round((m(last, 'rss') - m(first, 'rss')) / m(first, 'rss') * 100, 1),
    rssSlopeMBPerMin: round(slope, 2),
    heapUsedFirstTenthMB: m(first, 'heapUsed'),
    heapUsedLastTenthMB: m(last, 'heapUsed'),
    rssMaxMB: round(Math.max(...points.map(p => p.rss)), 1),
    heapUsedMaxMB: round(Math.max(...points.map(p => p.heapUsed)), 1),
    // One point every 15 s for the docs' table.
    series: points.filter((p, i) => i === 0 || Math.floor(p.s / 15) !== Math.floor(points[i - 1].s / 15)).map(p => ({ s: Math.round(p.s), rss: round(p.rss, 1), heapUsed: round(p.heapUsed, 1) }))
  }
}

async function soak (seconds) {
  const sandbox = await startSandbox({ rateLimitPerMinute: 0, maxRecordedRequests: 100 })
  await sandbox.call('fault', { rule: { target: 'launch', kind: 'status', status: 503, probability: 0.02 } })
  const run = makeRunDir()
  const memFile = join(run.dir, 'memory.jsonl')
  const service = await startService({
    env: serviceEnv(run, {
      ...sandbox.env,
      GENESYS_RATE_LIMIT_PER_MINUTE: '0',
      RETENTION_SUCCEEDED_MS: '60000',
      RETENTION_SWEEP_MS: '10000',
      RETRY_BASE_DELAY_MS: '200',
      RETRY_MAX_DELAY_MS: '5000'
    }),
    memFile
  })
  const scrapes = new AbortController()
  try {
    const scraper = scrapeLoop(service.url, 15_000, scrapes.signal)
    const [generic, hubspot] = await Promise.all([
      runLoad({ url: service.url, kind: 'generic', connections: 10, duration: seconds, overallRate: 200, timeout: 30 }),
      runLoad({ url: service.url, kind: 'hubspot', connections: 2, duration: seconds, overallRate: 2, timeout: 30 })
    ])
    scrapes.abort()
    const scrapeMs = await scraper
    const stats = await sandbox.call('stats')
    const proc = procMemory(service.pid)
    return {
      seconds,
      ingest: {
        genericOk: generic['2xx'], genericErrors: generic.errors + generic.non2xx + generic.timeouts, genericP99: generic.latency.p99,
        hubspotOk: hubspot['2xx'], hubspotErrors: hubspot.errors + hubspot.non2xx + hubspot.timeouts
      },
      launches: stats.launches,
      metricsScrapeMsMax: Math.max(...scrapeMs),
      vmHwmMB: round(proc.hwmMB, 1),
      memory: summarizeSeries(readSamples(memFile), seconds)
    }
  } finally {
    scrapes.abort()
    await service.stop()
    await sandbox.stop()
    run.remove()
  }
}

async function withBacklog (size, seconds) {
  const sandbox = await startSandbox({ rateLimitPerMinute: 0, maxRecordedRequests: 100 })
  const run = makeRunDir()
  await copyBacklog(size, run)
  const memFile = join(run.dir, 'memory.jsonl')
  const service = await startService({ env: serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '0' }), memFile })
  const scrapes = new AbortController()
  try {
    const scraper = scrapeLoop(service.url, 15_000, scrapes.signal)
    await runLoad({ url: service.url, kind: 'generic', connections: 5, duration: seconds, overallRate: 100, timeout: 30 })
    scrapes.abort()
    const scrapeMs = await scraper
    const proc = procMemory(service.pid)
    const samples = readSamples(memFile)
    return {
      backlog: size,
      seconds,
      launches: (await sandbox.call('stats')).launches,
      vmHwmMB: round(proc.hwmMB, 1),
      rssEndMB: round(proc.rssMB, 1),
      rssMaxSampledMB: round(Math.max(...samples.map(s => s.rss / MB)), 1),
      heapUsedMaxMB: round(Math.max(...samples.map(s => s.heapUsed / MB)), 1),
      metricsScrapeMs: scrapeMs
    }
  } finally {
    scrapes.abort()
    await service.stop()
    await sandbox.stop()
    run.remove()
  }
}

export async function run (args) {
  const runs = args.runs ?? 3
  const seconds = args.duration ?? 600
  const backlogSeconds = args.backlogSeconds ?? 90
  const backlog = args.backlog ?? 1_000_000
  const results = { config: { runs, seconds, backlog, backlogSeconds }, soak: [], backlog: [] }
  for (let r = 1; r <= runs; r++) {
    if (args.soak !== false) {
      log(`run ${r}/${runs}: soak of mixed load for ${seconds} s`)
      const s = await soak(seconds)
      log(`  RSS ${s.memory?.rssFirstTenthMB} → ${s.memory?.rssLastTenthMB} MB (${s.memory?.rssChangePct}%), heap ${s.memory?.heapUsedFirstTenthMB} → ${s.memory?.heapUsedLastTenthMB} MB, peak ${s.vmHwmMB} MB`)
      results.soak.push(s)
    }
    log(`run ${r}/${runs}: ${backlog} backlog for ${backlogSeconds} s`)
    const b = await withBacklog(backlog, backlogSeconds)
    log(`  peak RSS ${b.vmHwmMB} MB, heap max ${b.heapUsedMaxMB} MB; /metrics ${b.metricsScrapeMs.join(', ')} ms`)
    results.backlog.push(b)
  }
  results.medians = {
    soakRssChangePct: median(results.soak.map(s => s.memory?.rssChangePct)),
    soakRssSlopeMBPerMin: median(results.soak.map(s => s.memory?.rssSlopeMBPerMin)),
    soakRssLastTenthMB: median(results.soak.map(s => s.memory?.rssLastTenthMB)),
    soakPeakMB: median(results.soak.map(s => s.vmHwmMB)),
    backlogPeakRssMB: median(results.backlog.map(b => b.vmHwmMB)),
    backlogHeapUsedMaxMB: median(results.backlog.map(b => b.heapUsedMaxMB))
  }
  return results
}
