/**
 * Child processes of the benchmarks: the service (`node dist/server.js`), the Genesys sandbox, the
 * bare fastify baseline and the load generator, each in a process of its own on 127.0.0.1. Every
 * child is tracked and killed when the bench exits, however it exits.
 */
import { fork, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchDir, distDir, log, sleep, startFlags } from './common.mjs'
import { CLIENT_ID, CLIENT_SECRET, HUBSPOT_SECRET, WEBHOOK_SECRET, mappingsYaml, sandboxFlow } from './payloads.mjs'

const children = new Set()

function track (child, name) {
  children.add(child)
  child.benchName = name
  child.once('exit', () => children.delete(child))
  return child
}

/** Kills every child still running (SIGKILL), synchronously: safe in an 'exit' handler. */
export function killAll () {
  for (const child of children) {
    try { process.kill(child.pid, 'SIGKILL') } catch {}
  }
  children.clear()
}

process.once('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    log(`${signal}: stopping children`)
    killAll()
    process.exit(130)
  })
}

export async function freePort () {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function exitPromise (child) {
  return new Promise(resolve => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode, at: performance.now() })
    else child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }))
  })
}

/** Stops a child: `signal` first, SIGKILL after `graceMs`. Resolves with how it exited. */
export async function stopChild (child, { signal = 'SIGTERM', graceMs = 15_000 } = {}) {
  const exited = exitPromise(child)
  if (child.exitCode === null && child.signalCode === null) {
    try { child.kill(signal) } catch {}
  }
  const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, graceMs)
  const result = await exited
  clearTimeout(timer)
  return result
}

/** A temp folder for one run: mappings file, SQLite file, logs. */
export function makeRunDir (prefix = 'cfb-bench-') {
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), prefix))
  writeFileSync(join(dir, 'mappings.yaml'), mappingsYaml)
  return { dir, mappingsFile: join(dir, 'mappings.yaml'), dbFile: join(dir, 'bridge.db'), remove: () => rmSync(dir, { recursive: true, force: true }) }
}

// ---- Genesys sandbox -------------------------------------------------------------------------

/**
 * The sandbox in its own process. `rateLimitPerMinute: 0` turns its limiter off; recorded
 * requests are capped small so a long run stays bounded.
 */
export async function startSandbox (options = {}) {
  const child = track(fork(join(benchDir, 'lib', 'sandbox-child.mjs'), [], {
    env: {
      PATH: process.env.PATH,
      BENCH_DIST: distDir,
      BENCH_SANDBOX_OPTIONS: JSON.stringify({
        flows: [sandboxFlow],
        clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
        maxRecordedRequests: 200,
        ...options
      })
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  }), 'sandbox')
  const pending = new Map()
  let nextId = 0
  const ready = new Promise((resolve, reject) => {
    child.once('exit', code => reject(new Error(`sandbox exited early (${code})`)))
    child.on('message', message => {
      if (message.ready === true) return resolve(message.url)
      const waiter = pending.get(message.id)
      if (waiter !== undefined) {
        pending.delete(message.id)
        waiter(message)
      }
    })
  })
  const url = await ready
  const call = async (cmd, extra = {}) => await new Promise(resolve => {
    const id = ++nextId
    pending.set(id, resolve)
    child.send({ id, cmd, ...extra })
  })
  return {
    url,
    child,
    call,
    env: { GENESYS_API_URL: url, GENESYS_LOGIN_URL: url, GENESYS_CLIENT_ID: CLIENT_ID, GENESYS_CLIENT_SECRET: CLIENT_SECRET },
    stop: async () => { await stopChild(child, { graceMs: 5000 }) }
  }
}

// ---- the service -----------------------------------------------------------------------------

/** Environment for `dist/server.js` in a run folder; `extra` overrides. */
export function serviceEnv (run, extra = {}) {
  return {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    MAPPINGS_FILE: run.mappingsFile,
    DATABASE_URL: `sqlite:${run.dbFile}`,
    CRM_WEBHOOK_SECRET: WEBHOOK_SECRET,
    HUBSPOT_CLIENT_SECRET: HUBSPOT_SECRET,
    WATCH_MAPPINGS: 'false',
    ...extra
  }
}

async function waitHttp (url, deadline, isOk, child) {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return null
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) })
      await response.arrayBuffer()
      if (isOk(response.status)) return performance.now()
    } catch {}
    if (performance.now() > deadline) return null
    await sleep(5)
  }
}

/**
 * Runs `node [npm start's flags] [nodeArgs] dist/server.js` and waits for /healthz (and /readyz unless
 * `waitReady: false`). Logs (JSON lines, LOG_LEVEL info) go to `logFile`, or to /dev/null.
 * `memFile` adds `--import bench/lib/mem-probe.mjs` writing memory samples to it. `root` runs the
 * build in another copy of the tree instead of BENCH_ROOT's.
 */
export async function startService ({ env, nodeArgs = [], logFile = null, waitReady = true, readyTimeoutMs = 60_000, memFile = null, memEveryMs = 1000, root = null }) {
  const port = Number(env.PORT ?? await freePort())
  const args = [...(root === null ? startFlags() : startFlags(root)), ...nodeArgs]
  if (memFile !== null) args.push('--import', join(benchDir, 'lib', 'mem-probe.mjs'))
  args.push(root === null ? join(distDir, 'server.js') : join(root, 'dist', 'server.js'))
  const out = logFile === null ? 'ignore' : openSync(logFile, 'a')
  const spawnedAt = performance.now()
  const child = track(spawn(process.execPath, args, {
    env: {
      PATH: process.env.PATH,
      ...env,
      PORT: String(port),
      ...(memFile === null ? {} : { BENCH_MEM_FILE: memFile, BENCH_MEM_EVERY_MS: String(memEveryMs) })
    },
    stdio: ['ignore', out, 'pipe']
  }), 'service')
  if (typeof out === 'number') closeSync(out)
  let stderr = ''
  child.stderr.on('data', chunk => { stderr = (stderr + chunk.toString('utf8')).slice(-4000) })
  const exited = exitPromise(child)
  const url = `http://127.0.0.1:${port}`
  const deadline = spawnedAt + readyTimeoutMs
  const healthyAt = await waitHttp(`${url}/healthz`, deadline, status => status === 200, child)
  if (healthyAt === null) {
    await stopChild(child, { signal: 'SIGKILL' })
    throw new Error(`service did not answer /healthz: ${stderr}${logFile === null ? '' : tail(logFile)}`)
  }
  let readyAt = null
  if (waitReady) {
    readyAt = await waitHttp(`${url}/readyz`, deadline, status => status === 200, child)
    if (readyAt === null) {
      await stopChild(child, { signal: 'SIGKILL' })
      throw new Error(`service did not become ready: ${stderr}${logFile === null ? '' : tail(logFile)}`)
    }
  }
  return {
    child,
    pid: child.pid,
    url,
    port,
    exited,
    stderr: () => stderr,
    timings: { healthyMs: healthyAt - spawnedAt, readyMs: readyAt === null ? null : readyAt - spawnedAt },
    /** SIGTERM (graceful), then SIGKILL after graceMs; resolves with the exit and how long it took. */
    stop: async ({ signal = 'SIGTERM', graceMs = 30_000 } = {}) => {
      const started = performance.now()
      const result = await stopChild(child, { signal, graceMs })
      return { ...result, ms: result.at - started }
    }
  }
}

function tail (file) {
  try {
    return '\n' + readFileSync(file, 'utf8').split('\n').slice(-8).join('\n')
  } catch {
    return ''
  }
}

/** VmRSS and VmHWM of a process, in MB (Linux). */
export function procMemory (pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = name => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
    return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 }
  } catch {
    return { rssMB: null, hwmMB: null }
  }
}

/** utime + stime of a process in seconds (Linux /proc/<pid>/stat, clock ticks of 100 Hz). */
export function procCpuSeconds (pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

/** utime + stime of a process's main thread in seconds (its thread id is the process id). */
export function mainThreadCpuSeconds (pid) {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

// ---- baselines and load ----------------------------------------------------------------------

/** A bare fastify 5 server answering 202 on POST /webhooks/:source, no logging, no work. */
export async function startBareFastify () {
  return await startReference('bare-fastify')
}

/** The "fastify plus SQLite with group commit" reference (bench/lib/sqlite-fastify.mjs), on a file of its own. */
export async function startSqliteFastify () {
  const run = makeRunDir()
  const reference = await startReference('sqlite-fastify', { BENCH_DIR: run.dir })
  return { ...reference, stop: async () => { await reference.stop(); run.remove() } }
}

async function startReference (name, env = {}) {
  const port = await freePort()
  const child = track(spawn(process.execPath, [join(benchDir, 'lib', `${name}.mjs`)], {
    env: { PATH: process.env.PATH, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  }), name)
  await new Promise((resolve, reject) => {
    child.once('exit', code => reject(new Error(`${name} exited (${code})`)))
    child.stdout.once('data', resolve)
  })
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: async () => { await stopChild(child) } }
}

/**
 * Runs autocannon in a child process (bench/lib/load.mjs, its programmatic API, one thread) so the
 * load generator never shares the service's event loop. Resolves with autocannon's result object.
 */
export async function runLoad (options) {
  const child = track(spawn(process.execPath, [join(benchDir, 'lib', 'load.mjs')], {
    env: { PATH: process.env.PATH, BENCH_LOAD: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit']
  }), 'autocannon')
  let out = ''
  child.stdout.on('data', chunk => { out += chunk.toString('utf8') })
  const { code } = await exitPromise(child)
  if (code !== 0) throw new Error(`load generator exited ${code}`)
  return JSON.parse(out)
}

/** The bare undici loop posting launches to the sandbox with `concurrency` requests in flight. */
export async function runUndiciLoop (options) {
  const child = track(spawn(process.execPath, [join(benchDir, 'lib', 'undici-loop.mjs')], {
    env: { PATH: process.env.PATH, BENCH_LOOP: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit']
  }), 'undici-loop')
  let out = ''
  child.stdout.on('data', chunk => { out += chunk.toString('utf8') })
  const { code } = await exitPromise(child)
  if (code !== 0) throw new Error(`undici loop exited ${code}`)
  return JSON.parse(out)
}

/** Pre-fills a SQLite file through the store API in a child process (bench/lib/prefill.mjs). */
export async function prefill (options) {
  const child = track(spawn(process.execPath, ['--max-old-space-size=4096', join(benchDir, 'lib', 'prefill.mjs')], {
    env: { PATH: process.env.PATH, BENCH_DIST: distDir, BENCH_PREFILL: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit']
  }), 'prefill')
  let out = ''
  child.stdout.on('data', chunk => { out += chunk.toString('utf8') })
  const { code } = await exitPromise(child)
  if (code !== 0) throw new Error(`prefill exited ${code}`)
  return JSON.parse(out)
}

/** Times claim/finish/stats through the store API on a file (bench/lib/store-probe.mjs). */
export async function storeProbe (options) {
  const child = track(spawn(process.execPath, [join(benchDir, 'lib', 'store-probe.mjs')], {
    env: { PATH: process.env.PATH, BENCH_DIST: distDir, BENCH_PROBE: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit']
  }), 'store-probe')
  let out = ''
  child.stdout.on('data', chunk => { out += chunk.toString('utf8') })
  const { code } = await exitPromise(child)
  if (code !== 0) throw new Error(`store probe exited ${code}`)
  return JSON.parse(out)
}
