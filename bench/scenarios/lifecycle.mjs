/**
 * Scenario 5, startup and shutdown of `node dist/server.js`.
 * - Startup: spawn → /healthz 200 → /readyz 200 (store, mappings, flows checked against the sandbox,
 *   a Genesys token), on an empty file and on a file with a 1M backlog.
 * - Shutdown (SIGTERM → exit), with SHUTDOWN_GRACE_MS 10 s:
 *   idle; under ingest load; with 8 launches in flight that the sandbox answers after 2 s (they
 *   finish); with 8 launches the sandbox holds for 60 s (abandoned at the grace, leases released).
 *   After each, the file is checked: no delivery left `running`.
 */
import Database from 'better-sqlite3'
import { log, median, round, sleep } from '../lib/common.mjs'
import { copyBacklog } from '../lib/backlog.mjs'
import { makeRunDir, prefill, runLoad, serviceEnv, startSandbox, startService } from '../lib/procs.mjs'

export const description = 'startup time to /healthz and /readyz; SIGTERM → exit with in-flight work'

function runningLeft (dbFile) {
  const db = new Database(dbFile, { readonly: true })
  try {
    return db.prepare("SELECT count(*) FROM deliveries WHERE state = 'running'").pluck().get()
  } finally {
    db.close()
  }
}

async function startup (sandbox, backlog) {
  const run = makeRunDir()
  if (backlog > 0) await copyBacklog(backlog, run)
  // Dispatch paused by a zero in-flight budget is not possible (minimum 1): the backlog drains at
  // the production limit (300/min) while startup is timed, as it would in production.
  const service = await startService({ env: serviceEnv(run, { ...sandbox.env }) })
  try {
    return { healthyMs: round(service.timings.healthyMs, 0), readyMs: round(service.timings.readyMs, 0) }
  } finally {
    await service.stop()
    run.remove()
  }
}

async function shutdown (sandbox, mode) {
  const run = makeRunDir()
  await prefill({ file: run.dbFile, mappingsFile: run.mappingsFile, count: mode === 'idle' || mode === 'ingest' ? 0 : 200 })
  if (mode === 'finish') await sandbox.call('fault', { rule: { target: 'launch', kind: 'delay', ms: 2000 } })
  if (mode === 'hang') await sandbox.call('fault', { rule: { target: 'launch', kind: 'delay', ms: 60_000 } })
  const service = await startService({ env: serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '0', SHUTDOWN_GRACE_MS: '10000' }) })
  try {
    let load = null
    if (mode === 'ingest') {
      load = runLoad({ url: service.url, kind: 'generic', connections: 50, duration: 6, timeout: 30 }).catch(() => null)
      await sleep(3000)
    } else if (mode !== 'idle') {
      await sleep(500) // the first 8 launches are out and held by the sandbox
    }
    const stop = await service.stop({ graceMs: 30_000 })
    const answered = load === null ? null : await load
    return {
      mode,
      exitMs: round(stop.ms, 0),
      exitCode: stop.code,
      signal: stop.signal,
      runningLeft: runningLeft(run.dbFile),
      ...(answered === null ? {} : { ingestDuringShutdown: { ok: answered['2xx'], non2xx: answered.non2xx, errors: answered.errors } })
    }
  } finally {
    await sandbox.call('clearFaults')
    if (service.child.exitCode === null) await service.stop({ signal: 'SIGKILL' })
    run.remove()
  }
}

export async function run (args) {
  const runs = args.runs ?? 3
  const backlog = args.backlog ?? 1_000_000
  const results = { config: { runs, backlog }, startup: [], shutdown: [] }
  const sandbox = await startSandbox({ rateLimitPerMinute: 0, maxRecordedRequests: 100 })
  try {
    for (let r = 1; r <= runs; r++) {
      const empty = await startup(sandbox, 0)
      const big = await startup(sandbox, backlog)
      log(`run ${r}/${runs}: startup empty ${empty.healthyMs}/${empty.readyMs} ms, ${backlog} backlog ${big.healthyMs}/${big.readyMs} ms (healthz/readyz)`)
      results.startup.push({ empty, [backlog]: big })
      const entry = {}
      for (const mode of ['idle', 'ingest', 'finish', 'hang']) {
        entry[mode] = await shutdown(sandbox, mode)
        log(`  shutdown ${mode}: ${entry[mode].exitMs} ms (exit ${entry[mode].exitCode}, running left ${entry[mode].runningLeft})`)
      }
      results.shutdown.push(entry)
    }
  } finally {
    await sandbox.stop()
  }
  results.medians = {
    startupEmpty: { healthyMs: median(results.startup.map(s => s.empty.healthyMs)), readyMs: median(results.startup.map(s => s.empty.readyMs)) },
    startupBacklog: { healthyMs: median(results.startup.map(s => s[backlog].healthyMs)), readyMs: median(results.startup.map(s => s[backlog].readyMs)) },
    shutdownMs: Object.fromEntries(['idle', 'ingest', 'finish', 'hang'].map(mode => [mode, median(results.shutdown.map(s => s[mode].exitMs))]))
  }
  return results
}
