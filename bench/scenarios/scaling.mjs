/**
 * Scenario 3, scaling: how claim+launch throughput changes with the backlog, limit off, sandbox
 * answering at once, GENESYS_MAX_IN_FLIGHT 8.
 * - 1k: a warm service with an empty file; 1,000 due deliveries are written into its file by another
 *   process (the store API), and the sandbox times the 1,000 launches from first to last. Repeated
 *   (the first cycle is a warm-up); median of the cycles.
 * - 100k and 1M: the service starts on a pre-filled file; launches/s over a window after a warm-up.
 * Then ingest p99 with a 1M backlog: generic webhooks at 50 connections while the 1M backlog drains
 * at the production limit (300/min) and /metrics is scraped every 5 s, against the same with an
 * empty file, in the same run.
 */
import { awaitQuiet, log, median, round, sleep } from '../lib/common.mjs'
import { copyBacklog } from '../lib/backlog.mjs'
import { makeRunDir, prefill, procMemory, runLoad, serviceEnv, startSandbox, startService, storeProbe } from '../lib/procs.mjs'
import { launchWindow } from './dispatch.mjs'

export const description = 'claim+launch throughput at 1k, 100k, 1M pending; ingest p99 with a 1M backlog'

const dispatchEnv = (sandbox, run) => serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '0', GENESYS_MAX_IN_FLIGHT: '8', DISPATCH_POLL_MS: '20' })

async function smallBacklog (sandbox, { size, cycles }) {
  const run = makeRunDir()
  const service = await startService({ env: dispatchEnv(sandbox, run) })
  const rates = []
  try {
    for (let c = 0; c < cycles; c++) {
      await sandbox.call('mark')
      await prefill({ file: run.dbFile, mappingsFile: run.mappingsFile, count: size, batch: size })
      const deadline = Date.now() + 120_000
      let stats
      for (;;) {
        stats = await sandbox.call('stats')
        if (stats.sinceMark >= size || Date.now() > deadline) break
        await sleep(20)
      }
      const spanMs = stats.lastLaunchMs - stats.firstLaunchMs
      const rate = (stats.sinceMark - 1) / (spanMs / 1000)
      log(`  cycle ${c + 1}/${cycles}: ${stats.sinceMark} launches in ${round(spanMs, 0)} ms → ${round(rate, 0)}/s${c === 0 ? ' (warm-up, not counted)' : ''}`)
      if (c > 0) rates.push(rate)
    }
    return { launchesPerSec: round(median(rates), 0), cycles: rates.map(r => round(r, 0)) }
  } finally {
    await service.stop()
    run.remove()
  }
}

async function largeBacklog (sandbox, { size, warmup, duration }) {
  const run = makeRunDir()
  await copyBacklog(size, run)
  const service = await startService({ env: dispatchEnv(sandbox, run) })
  try {
    const figures = await launchWindow(sandbox, service, { warmup, duration })
    figures.startup = service.timings
    figures.rssMB = round(procMemory(service.pid).rssMB, 0)
    return figures
  } finally {
    await service.stop()
    run.remove()
  }
}

/** Scrapes /metrics every `everyMs` while `work` runs; returns the scrape times. */
async function scraping (url, everyMs, work) {
  const times = []
  let stop = false
  const loop = (async () => {
    while (!stop) {
      const started = performance.now()
      try {
        const response = await fetch(`${url}/metrics`)
        await response.text()
        times.push(round(performance.now() - started, 1))
      } catch {}
      await sleep(everyMs)
    }
  })()
  try {
    return { result: await work(), scrapeMs: times }
  } finally {
    stop = true
    await loop
  }
}

async function ingestWithBacklog (sandbox, { size, duration, warmup }) {
  const run = makeRunDir()
  if (size > 0) await copyBacklog(size, run)
  const service = await startService({ env: serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '300' }) })
  try {
    await awaitQuiet()
    const { result, scrapeMs } = await scraping(service.url, 5000, async () => await runLoad({ url: service.url, kind: 'generic', connections: 50, duration, warmup }))
    return {
      backlog: size,
      reqPerSec: round(result.requests.average, 0),
      p50: result.latency.p50,
      p99: result.latency.p99,
      max: result.latency.max,
      errors: result.errors + result.non2xx + result.timeouts,
      metricsScrapeMs: scrapeMs,
      rssMB: round(procMemory(service.pid).rssMB, 0)
    }
  } finally {
    await service.stop()
    run.remove()
  }
}

/** claim/finish/stats timed through the store API on a copy of the backlog (no service running). */
async function probe (size) {
  const run = makeRunDir()
  try {
    if (size <= 10_000) await prefill({ file: run.dbFile, mappingsFile: run.mappingsFile, count: size })
    else await copyBacklog(size, run)
    return await storeProbe({ file: run.dbFile })
  } finally {
    run.remove()
  }
}

export async function run (args) {
  const runs = args.runs ?? 3
  const duration = args.duration ?? 20
  const warmup = args.warmup ?? 5
  const sizes = args.sizes === undefined ? [1_000, 100_000, 1_000_000] : String(args.sizes).split(',').map(Number)
  const results = { config: { runs, duration, warmup, sizes }, runs: [] }
  for (let r = 1; r <= runs; r++) {
    const entry = { run: r, probe: {}, dispatch: {}, ingest: {} }
    for (const size of sizes) {
      entry.probe[size] = await probe(size)
      log(`run ${r}/${runs}: store calls with ${size} pending: claim(8) ${entry.probe[size].claimMs} ms, finish×8 ${entry.probe[size].finish8Ms} ms, stats() ${entry.probe[size].statsMs} ms`)
    }
    const sandbox = await startSandbox({ rateLimitPerMinute: 0, maxRecordedRequests: 100 })
    try {
      for (const size of sizes) {
        await awaitQuiet()
        log(`run ${r}/${runs}: claim+launch with ${size} pending`)
        entry.dispatch[size] = size <= 10_000
          ? await smallBacklog(sandbox, { size, cycles: args.cycles ?? 5 })
          : await largeBacklog(sandbox, { size, warmup, duration })
        log(`  ${entry.dispatch[size].launchesPerSec} launches/s`)
      }
    } finally {
      await sandbox.stop()
    }
    const ingestSandbox = await startSandbox({ rateLimitPerMinute: 0, maxRecordedRequests: 100 })
    try {
      const biggest = Math.max(...sizes)
      for (const size of [0, biggest]) {
        log(`run ${r}/${runs}: ingest at 50 connections with ${size} pending (300/min draining, /metrics every 5 s)`)
        entry.ingest[size] = await ingestWithBacklog(ingestSandbox, { size, duration, warmup: 3 })
        log(`  ${entry.ingest[size].reqPerSec} req/s p99 ${entry.ingest[size].p99} ms max ${entry.ingest[size].max} ms; /metrics ${entry.ingest[size].metricsScrapeMs.join(', ')} ms`)
      }
    } finally {
      await ingestSandbox.stop()
    }
    results.runs.push(entry)
  }
  const biggest = Math.max(...sizes)
  const smallest = Math.min(...sizes)
  results.medians = {
    probe: Object.fromEntries(sizes.map(size => [size, {
      claimMs: median(results.runs.map(e => e.probe[size].claimMs)),
      finish8Ms: median(results.runs.map(e => e.probe[size].finish8Ms)),
      statsMs: median(results.runs.map(e => e.probe[size].statsMs))
    }])),
    launchesPerSec: Object.fromEntries(sizes.map(size => [size, median(results.runs.map(e => e.dispatch[size].launchesPerSec))])),
    ratioBiggestToSmallest: median(results.runs.map(e => round(e.dispatch[biggest].launchesPerSec / e.dispatch[smallest].launchesPerSec, 3))),
    ingest: Object.fromEntries([0, biggest].map(size => [size, {
      reqPerSec: median(results.runs.map(e => e.ingest[size].reqPerSec)),
      p99: median(results.runs.map(e => e.ingest[size].p99)),
      max: median(results.runs.map(e => e.ingest[size].max)),
      metricsScrapeMsMax: median(results.runs.map(e => Math.max(...e.ingest[size].metricsScrapeMs)))
    }]))
  }
  return results
}
