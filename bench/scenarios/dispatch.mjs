/**
 * Scenario 2, dispatch.
 * a) Limit off (GENESYS_RATE_LIMIT_PER_MINUTE=0, sandbox limiter off, answering at once): launches/s
 *    from a pre-filled backlog of 100k deliveries, counted by the sandbox over a window after a
 *    warm-up, at GENESYS_MAX_IN_FLIGHT 8 (default) and 32. Baseline in the same run: a bare undici
 *    loop posting the same launch requests to the same sandbox with the same concurrency.
 * b) Limit at 300/min (bridge and sandbox): launches per minute over 3 minutes against the limit,
 *    and whether Genesys (the sandbox's rolling 60 s window) ever answered 429.
 */
import { join } from 'node:path'
import { awaitQuiet, log, machineCpu, busyPct, median, round, sleep } from '../lib/common.mjs'
import { copyBacklog } from '../lib/backlog.mjs'
import { makeRunDir, procCpuSeconds, runUndiciLoop, serviceEnv, startSandbox, startService } from '../lib/procs.mjs'
import { CLIENT_ID, CLIENT_SECRET } from '../lib/payloads.mjs'
import { profileArgs, summarizeProfiles } from '../lib/profiling.mjs'

export const description = 'launches/s with the limit off from a 100k backlog vs a bare undici loop; launches/min at 300/min over 3 min'

/** Launches/s the sandbox counts over `duration` s after `warmup` s, with CPU use of both processes. */
export async function launchWindow (sandbox, service, { warmup, duration }) {
  await sleep(warmup * 1000)
  const cpu0 = { service: procCpuSeconds(service.pid), sandbox: procCpuSeconds(sandbox.child.pid), machine: machineCpu() }
  const mark = await sandbox.call('mark')
  await sleep(duration * 1000)
  const stats = await sandbox.call('stats')
  const seconds = stats.msSinceMark / 1000
  return {
    launchesPerSec: round(stats.sinceMark / seconds, 0),
    launches: stats.sinceMark,
    seconds: round(seconds, 1),
    serviceCpuPct: round((procCpuSeconds(service.pid) - cpu0.service) / seconds * 100, 0),
    sandboxCpuPct: round((procCpuSeconds(sandbox.child.pid) - cpu0.sandbox) / seconds * 100, 0),
    machineBusyPct: busyPct(cpu0.machine, machineCpu()),
    rejected: stats.launchesRejected - mark.launchesRejected,
    organic429: stats.organic429
  }
}

async function bridgeRun (sandbox, { inFlight, backlog, warmup, duration, profile, label }) {
  const run = makeRunDir()
  await copyBacklog(backlog, run)
  const profileDir = profile ? join(run.dir, 'profile') : null
  const service = await startService({
    env: serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '0', GENESYS_MAX_IN_FLIGHT: String(inFlight) }),
    nodeArgs: profileArgs(profileDir)
  })
  try {
    const figures = await launchWindow(sandbox, service, { warmup, duration })
    figures.startup = service.timings
    const stop = await service.stop()
    figures.shutdownMs = round(stop.ms, 0)
    if (profileDir !== null) figures.profile = summarizeProfiles(profileDir, `dispatch-${label}`)
    return figures
  } finally {
    if (service.child.exitCode === null) await service.stop({ signal: 'SIGKILL' })
    run.remove()
  }
}

async function loopRun (sandbox, { inFlight, warmup, duration }) {
  const sandboxCpu = procCpuSeconds(sandbox.child.pid)
  const before = machineCpu()
  const result = await runUndiciLoop({ url: sandbox.url, concurrency: inFlight, duration, warmup, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
  return {
    launchesPerSec: round(result.launchesPerSecond, 0),
    launches: result.launches,
    seconds: round(result.seconds, 1),
    // Over warm-up and window together: an approximation, good enough to see which side is saturated.
    sandboxCpuPct: round((procCpuSeconds(sandbox.child.pid) - sandboxCpu) / (result.seconds + warmup) * 100, 0),
    machineBusyPct: busyPct(before, machineCpu()),
    statuses: result.statuses
  }
}

/** 300/min: launches and all API calls per minute, minute by minute, over `minutes`. */
async function limitedRun ({ backlog, minutes }) {
  const sandbox = await startSandbox({ rateLimitPerMinute: 300 })
  const run = makeRunDir()
  await copyBacklog(backlog, run)
  const service = await startService({ env: serviceEnv(run, { ...sandbox.env, GENESYS_RATE_LIMIT_PER_MINUTE: '300' }) })
  try {
    await sleep(minutes * 60_000 + 2000)
    const { launches, api } = await sandbox.call('perSecond')
    const stats = await sandbox.call('stats')
    const first = Math.min(...api.map(([second]) => second))
    const perMinute = (series) => Array.from({ length: minutes }, (_, m) =>
      series.filter(([second]) => second >= first + m * 60 && second < first + (m + 1) * 60).reduce((sum, [, n]) => sum + n, 0))
    const launchesPerMinute = perMinute(launches)
    const apiPerMinute = perMinute(api)
    const worstDeviationPct = round(Math.max(...apiPerMinute.map(n => Math.abs(n - 300) / 300 * 100)), 2)
    return {
      launchesPerMinute,
      apiCallsPerMinute: apiPerMinute,
      meanLaunchesPerMinute: round(launchesPerMinute.reduce((a, b) => a + b, 0) / minutes, 1),
      worstMinuteDeviationPct: worstDeviationPct,
      within2pct: worstDeviationPct <= 2,
      organic429: stats.organic429,
      tokensIssued: stats.tokensIssued
    }
  } finally {
    await service.stop()
    await sandbox.stop()
    run.remove()
  }
}

export async function run (args) {
  const runs = args.runs ?? 3
  const duration = args.duration ?? 30
  const warmup = args.warmup ?? 5
  const backlog = args.backlog ?? 100_000
  const inFlights = args.inFlight === undefined ? [8, 32] : String(args.inFlight).split(',').map(Number)
  const minutes = args.minutes ?? 3
  const profile = args.profile === true
  const results = { config: { runs, duration, warmup, backlog, inFlights, minutes }, runs: [], limited: [] }
  for (let r = 1; r <= runs; r++) {
    const sandbox = await startSandbox({ rateLimitPerMinute: 0, maxRecordedRequests: 100 })
    const entry = { run: r }
    try {
      for (const inFlight of inFlights) {
        await awaitQuiet()
        log(`run ${r}/${runs}: bare undici loop, ${inFlight} in flight`)
        const loop = await loopRun(sandbox, { inFlight, warmup, duration })
        log(`  ${loop.launchesPerSec} launches/s (sandbox ${loop.sandboxCpuPct}% CPU)`)
        await awaitQuiet()
        log(`run ${r}/${runs}: bridge, ${inFlight} in flight, ${backlog} backlog`)
        const bridge = await bridgeRun(sandbox, { inFlight, backlog, warmup, duration, profile, label: `c${inFlight}-r${r}` })
        log(`  ${bridge.launchesPerSec} launches/s (service ${bridge.serviceCpuPct}% CPU, sandbox ${bridge.sandboxCpuPct}%), ratio ${round(bridge.launchesPerSec / loop.launchesPerSec, 2)}`)
        entry[inFlight] = { loop, bridge, ratio: round(bridge.launchesPerSec / loop.launchesPerSec, 3) }
      }
    } finally {
      await sandbox.stop()
    }
    results.runs.push(entry)
    if (minutes > 0 && args.limited !== false) {
      log(`run ${r}/${runs}: limit 300/min for ${minutes} min`)
      const limited = await limitedRun({ backlog, minutes })
      log(`  launches/min ${limited.launchesPerMinute.join(', ')}; API calls/min ${limited.apiCallsPerMinute.join(', ')}; 429s ${limited.organic429}`)
      results.limited.push(limited)
    }
  }
  results.medians = {}
  for (const inFlight of inFlights) {
    results.medians[inFlight] = {
      loopLaunchesPerSec: median(results.runs.map(e => e[inFlight].loop.launchesPerSec)),
      bridgeLaunchesPerSec: median(results.runs.map(e => e[inFlight].bridge.launchesPerSec)),
      ratio: median(results.runs.map(e => e[inFlight].ratio)),
      bridgeServiceCpuPct: median(results.runs.map(e => e[inFlight].bridge.serviceCpuPct)),
      bridgeSandboxCpuPct: median(results.runs.map(e => e[inFlight].bridge.sandboxCpuPct)),
      loopSandboxCpuPct: median(results.runs.map(e => e[inFlight].loop.sandboxCpuPct))
    }
  }
  if (results.limited.length > 0) {
    results.medians.limited = {
      meanLaunchesPerMinute: median(results.limited.map(l => l.meanLaunchesPerMinute)),
      worstMinuteDeviationPct: median(results.limited.map(l => l.worstMinuteDeviationPct)),
      organic429: results.limited.map(l => l.organic429)
    }
  }
  return results
}
