/**
 * Scenario 1, ingest: POST /webhooks/:source under autocannon at 50 and 200 connections, durable
 * commits on (SQLite WAL + synchronous=FULL + group commit; PostgreSQL when the build wires it), logs
 * on (LOG_LEVEL=info), signatures checked, each request new event ids. In the same run, the same
 * load against a bare fastify answering 202 on the same route: the ratio bridge/baseline is the
 * figure that matters on a shared machine. Then HubSpot batches of 100 events and Salesforce SOAP
 * messages of 100 notifications (events/s). After each bridge run the stored events are counted
 * against the 2xx answers: every accepted request must be in the file.
 */
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { awaitQuiet, busyPct, log, machineCpu, median, round, sleep } from '../lib/common.mjs'
import { fsyncProbe } from '../lib/fsync-probe.mjs'
import { pgStoreAvailable, startPostgres } from '../lib/pg.mjs'
import { makeRunDir, procCpuSeconds, runLoad, serviceEnv, startBareFastify, startSandbox, startService, startSqliteFastify } from '../lib/procs.mjs'
import { profileArgs, summarizeProfiles } from '../lib/profiling.mjs'

export const description = 'ingest req/s, p50/p99 at 50 and 200 connections vs bare fastify; HubSpot/Salesforce batches of 100 (events/s)'

function summarize (result, cpu) {
  const seconds = result.duration
  const ok = result['2xx']
  const events = ok * result.bench.eventsPerRequest
  return {
    reqPerSec: round(result.requests.average, 0),
    okPerSec: round(ok / seconds, 0),
    eventsPerSec: round(events / seconds, 0),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    total: result.requests.total,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    serverCpuPct: cpu === null ? null : round(cpu / seconds * 100, 0),
    loadGenCpuPct: result.bench.cpuSeconds === undefined ? null : round(result.bench.cpuSeconds / seconds * 100, 0),
    warmupOk: result.bench.warmupOk ?? null
  }
}

async function measure (url, pid, load) {
  const quiet = await awaitQuiet()
  const machineBefore = machineCpu()
  const cpuBefore = pid === null ? null : procCpuSeconds(pid)
  const result = await runLoad({ url, ...load })
  const cpuAfter = pid === null ? null : procCpuSeconds(pid)
  return {
    ...summarize(result, cpuBefore === null ? null : cpuAfter - cpuBefore),
    // The whole machine (2 cores = 100%) during warm-up and run: ours plus whatever else ran.
    machineBusyPct: busyPct(machineBefore, machineCpu()),
    busyBeforePct: quiet.busyPct
  }
}

async function baseline (load, start = startBareFastify) {
  const server = await start()
  try {
    return await measure(server.url, server.pid, load)
  } finally {
    await server.stop()
  }
}

function countStored (dbFile) {
  const db = new Database(dbFile, { readonly: true })
  try {
    return {
      events: db.prepare('SELECT count(*) FROM events').pluck().get(),
      deliveries: db.prepare('SELECT count(*) FROM deliveries').pluck().get()
    }
  } finally {
    db.close()
  }
}

async function bridge (sandbox, load, { store, pgUrl, profile, label }) {
  const run = makeRunDir()
  const env = serviceEnv(run, {
    ...sandbox.env,
    // The production default: the dispatcher spends 300 launches/min while ingest runs.
    GENESYS_RATE_LIMIT_PER_MINUTE: '300',
    ...(store === 'postgres' ? { DATABASE_URL: pgUrl } : {})
  })
  const profileDir = profile ? join(run.dir, 'profile') : null
  const service = await startService({ env, nodeArgs: profileArgs(profileDir) })
  try {
    const figures = await measure(service.url, service.pid, load)
    const stop = await service.stop()
    figures.exitCode = stop.code
    if (store === 'sqlite') {
      const stored = countStored(run.dbFile)
      const expected = (figures.ok + (figures.warmupOk ?? 0)) * (load.kind === 'generic' ? 1 : 100)
      figures.storedEvents = stored.events
      // An answered 2xx whose event is not in the file would be a lost event. (More stored than
      // answered is fine: requests cut off at the end of the run may have committed.)
      figures.lostEvents = Math.max(0, expected - stored.events)
    }
    if (profileDir !== null) figures.profile = summarizeProfiles(profileDir, `ingest-${label}`)
    return figures
  } finally {
    if (service.child.exitCode === null) await service.stop({ signal: 'SIGKILL' })
    run.remove()
  }
}

export async function run (args) {
  const runs = args.runs ?? 3
  const duration = args.duration ?? 20
  const warmup = args.warmup ?? 3
  const connections = args.connections === undefined ? [50, 200] : String(args.connections).split(',').map(Number)
  // A CRM sends batches with bounded concurrency (HubSpot: the app's throttling.maxConcurrentRequests,
  // 10 in HubSpot's own example); more connections only queue 100-event batches behind each other.
  const batchConnections = args.batchConnections ?? 10
  const withPg = args.pg !== false && pgStoreAvailable()
  const profile = args.profile === true
  // --reference adds the "fastify plus SQLite with group commit" (bench/lib/sqlite-fastify.mjs).
  const reference = args.reference === true
  const results = { runs: [], config: { runs, duration, warmup, connections, batchConnections, reference, postgres: withPg ? 'on' : `skipped: ${pgStoreAvailable.reason ?? 'disabled'}` } }

  results.fsync = await fsyncProbe()
  log(`fsync probe: median ${results.fsync.medianMs} ms per synchronous=FULL commit`)
  const pg = withPg ? await startPostgres() : null
  try {
    for (let r = 1; r <= runs; r++) {
      const sandbox = await startSandbox({ rateLimitPerMinute: 300 })
      const entry = { run: r, generic: {}, batches: {} }
      try {
        for (const c of connections) {
          const load = { kind: 'generic', connections: c, duration, warmup }
          log(`run ${r}/${runs}: bare fastify, ${c} connections`)
          const base = await baseline(load)
          log(`  ${base.reqPerSec} req/s p99 ${base.p99} ms`)
          log(`run ${r}/${runs}: bridge (SQLite), ${c} connections`)
          const sqlite = await bridge(sandbox, load, { store: 'sqlite', profile, label: `sqlite-c${c}-r${r}` })
          log(`  ${sqlite.reqPerSec} req/s p99 ${sqlite.p99} ms, ratio ${round(sqlite.reqPerSec / base.reqPerSec, 2)}`)
          entry.generic[c] = { baseline: base, sqlite, ratioSqlite: round(sqlite.reqPerSec / base.reqPerSec, 3) }
          if (reference) {
            log(`run ${r}/${runs}: fastify + SQLite group commit, ${c} connections`)
            const ref = await baseline(load, startSqliteFastify)
            log(`  ${ref.reqPerSec} req/s p99 ${ref.p99} ms, ratio ${round(ref.reqPerSec / base.reqPerSec, 2)}`)
            entry.generic[c].reference = ref
            entry.generic[c].ratioReference = round(ref.reqPerSec / base.reqPerSec, 3)
          }
          if (pg !== null) {
            const pgUrl = await pg.createDatabase()
            log(`run ${r}/${runs}: bridge (PostgreSQL), ${c} connections`)
            const postgres = await bridge(sandbox, load, { store: 'postgres', pgUrl, profile, label: `pg-c${c}-r${r}` })
            log(`  ${postgres.reqPerSec} req/s p99 ${postgres.p99} ms`)
            entry.generic[c].postgres = postgres
            entry.generic[c].ratioPostgres = round(postgres.reqPerSec / base.reqPerSec, 3)
          }
          await sleep(500)
        }
        for (const kind of ['hubspot', 'salesforce']) {
          log(`run ${r}/${runs}: bridge (SQLite), ${kind} batches of 100, ${batchConnections} connections`)
          entry.batches[kind] = await bridge(sandbox, { kind, connections: batchConnections, duration, warmup }, { store: 'sqlite', profile, label: `${kind}-r${r}` })
          log(`  ${entry.batches[kind].eventsPerSec} events/s (${entry.batches[kind].reqPerSec} req/s) p99 ${entry.batches[kind].p99} ms`)
        }
      } finally {
        await sandbox.stop()
      }
      results.runs.push(entry)
    }
  } finally {
    await pg?.stop()
  }
  results.medians = medians(results.runs, connections, pg !== null)
  return results
}

function medians (runs, connections, withPg) {
  const pick = (fn) => median(runs.map(fn))
  const out = { generic: {}, batches: {} }
  for (const c of connections) {
    out.generic[c] = {
      baselineReqPerSec: pick(r => r.generic[c].baseline.reqPerSec),
      baselineP99: pick(r => r.generic[c].baseline.p99),
      sqliteReqPerSec: pick(r => r.generic[c].sqlite.reqPerSec),
      sqliteP50: pick(r => r.generic[c].sqlite.p50),
      sqliteP99: pick(r => r.generic[c].sqlite.p99),
      sqliteErrors: pick(r => r.generic[c].sqlite.errors + r.generic[c].sqlite.non2xx + r.generic[c].sqlite.timeouts),
      sqliteServerCpuPct: pick(r => r.generic[c].sqlite.serverCpuPct),
      ratioSqlite: pick(r => r.generic[c].ratioSqlite),
      ...(runs[0]?.generic[c].reference === undefined
        ? {}
        : {
            referenceReqPerSec: pick(r => r.generic[c].reference.reqPerSec),
            referenceP99: pick(r => r.generic[c].reference.p99),
            ratioReference: pick(r => r.generic[c].ratioReference)
          }),
      ...(withPg
        ? {
            postgresReqPerSec: pick(r => r.generic[c].postgres.reqPerSec),
            postgresP50: pick(r => r.generic[c].postgres.p50),
            postgresP99: pick(r => r.generic[c].postgres.p99),
            ratioPostgres: pick(r => r.generic[c].ratioPostgres)
          }
        : {})
    }
  }
  for (const kind of ['hubspot', 'salesforce']) {
    out.batches[kind] = {
      eventsPerSec: pick(r => r.batches[kind].eventsPerSec),
      reqPerSec: pick(r => r.batches[kind].reqPerSec),
      p50: pick(r => r.batches[kind].p50),
      p99: pick(r => r.batches[kind].p99)
    }
  }
  return out
}
