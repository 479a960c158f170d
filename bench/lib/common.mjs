/**
 * Shared helpers for the benchmarks: paths, argument parsing, statistics, result files.
 * Plain ESM so `npm run bench` needs no compile step of its own; the service parts are imported
 * from the build (`dist/`, or `$BENCH_ROOT/dist` when benchmarking a snapshot of the tree).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, totalmem, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const repoRoot = resolve(benchDir, '..')
/** Where `dist/` is read from; a copy of the tree can be benchmarked with BENCH_ROOT=/path. */
export const buildRoot = resolve(process.env.BENCH_ROOT ?? repoRoot)
export const distDir = join(buildRoot, 'dist')
export const resultsDir = join(benchDir, 'results')
export const autocannonBin = join(repoRoot, 'node_modules', 'autocannon', 'autocannon.js')

/** Imports a module of the build, e.g. `await fromDist('store/sqlite/sqlite-store.js')`. */
export async function fromDist (path) {
  return await import(pathToFileURL(join(distDir, path)).href)
}

/**
 * The node flags of the build's `npm start` (`node <flags> dist/server.js`), so the service is
 * benchmarked as it is run: the heap ceiling there changes how much memory V8 keeps.
 */
export function startFlags (root = buildRoot) {
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start
  const words = start.trim().split(/\s+/)
  if (words[0] !== 'node' || words.at(-1) !== 'dist/server.js') throw new Error(`npm start is not "node [flags] dist/server.js": ${start}`)
  return words.slice(1, -1)
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

export function median (values) {
  const sorted = values.filter(v => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function percentile (values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}

export const round = (value, digits = 1) => value === null || value === undefined ? null : Math.round(value * 10 ** digits) / 10 ** digits

/**
 * `--runs 3 --duration 20 ingest dispatch` → { runs: 3, duration: 20, _: ['ingest', 'dispatch'] }.
 * Flags without a value are true; `--no-x` is x: false.
 */
export function parseArgs (argv) {
  const out = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) { out._.push(arg); continue }
    const eq = arg.indexOf('=')
    let key = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    let value = eq === -1 ? undefined : arg.slice(eq + 1)
    if (key.startsWith('no-')) { out[camel(key.slice(3))] = false; continue }
    if (value === undefined) {
      const next = argv[i + 1]
      if (next !== undefined && !next.startsWith('--') && /^[-\d.,a-z:/_]+$/i.test(next) && !isScenario(next)) { value = next; i++ } else value = true
    }
    key = camel(key)
    out[key] = typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value
  }
  return out
}

const scenarioNames = new Set(['ingest', 'dispatch', 'scaling', 'memory', 'lifecycle', 'all'])
const isScenario = value => scenarioNames.has(value)
const camel = key => key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())

export function machine () {
  const list = cpus()
  return {
    cpus: availableParallelism(),
    cpuModel: list[0]?.model ?? 'unknown',
    memoryMB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavgAtStart: loadavg().map(n => round(n, 2))
  }
}

/** Writes `bench/results/<name>-<timestamp>.json` and returns the path. */
export function writeResult (name, data) {
  mkdirSync(resultsDir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const file = join(resultsDir, `${name}-${stamp}.json`)
  writeFileSync(file, JSON.stringify({ scenario: name, at: new Date().toISOString(), machine: machine(), ...data }, null, 2))
  return file
}

export function log (...parts) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${parts.join(' ')}\n`)
}

/** A small fixed-width table for the console summary. */
export function table (rows) {
  if (rows.length === 0) return ''
  const keys = Object.keys(rows[0])
  const cell = v => v === null || v === undefined ? '–' : String(v)
  const widths = keys.map(k => Math.max(k.length, ...rows.map(r => cell(r[k]).length)))
  const line = values => values.map((v, i) => cell(v).padEnd(widths[i])).join('  ')
  return [line(keys), line(widths.map(w => '-'.repeat(w))), ...rows.map(r => line(keys.map(k => r[k])))].join('\n')
}

/** Busy and total jiffies of the whole machine (Linux /proc/stat, first line). */
export function machineCpu () {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const idle = fields[3] + (fields[4] ?? 0)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

/** Share of the whole machine (0–100, all cores) that was busy between two machineCpu() readings. */
export function busyPct (before, after) {
  const total = after.total - before.total
  return total <= 0 ? null : round((after.busy - before.busy) / total * 100, 0)
}

/**
 * The machine is shared: before a measurement, wait (up to `maxWaitMs`) for a one-second window in
 * which the machine is less than `maxBusyPct` busy, so the runs compared are taken in like conditions.
 * Returns the busy share of the last window and how long it waited.
 */
export async function awaitQuiet ({ maxBusyPct = 35, maxWaitMs = 60_000 } = {}) {
  const started = Date.now()
  for (;;) {
    const before = machineCpu()
    await sleep(1000)
    const busy = busyPct(before, machineCpu())
    if (busy === null || busy <= maxBusyPct || Date.now() - started >= maxWaitMs) return { busyPct: busy, waitedMs: Date.now() - started }
  }
}
