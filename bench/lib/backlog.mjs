/**
 * Backlog files: a SQLite file pre-filled with N queued deliveries is built once (through the store
 * API, bench/lib/prefill.mjs) and cached under $BENCH_TMP (default the OS temp folder), then copied
 * for each run, since a run launches (and so changes) what it finds. A cached file is reused only
 * while the build's SQLite schema and the benchmark payloads are the same.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { distDir, log } from './common.mjs'
import { makeRunDir, prefill } from './procs.mjs'

/** Changes with the build's SQLite schema and with the benchmark payloads. */
function schemaTag () {
  const schema = readFileSync(join(distDir, 'store', 'sqlite', 'migrations.js'), 'utf8')
  const payloads = readFileSync(new URL('./payloads.mjs', import.meta.url), 'utf8')
  return createHash('sha1').update(schema).update(payloads).digest('hex').slice(0, 8)
}

export async function backlogFile (count) {
  const dir = join(process.env.BENCH_TMP ?? tmpdir(), 'cfb-bench-cache')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `backlog-${count}-${schemaTag()}.db`)
  if (existsSync(file)) return file
  const run = makeRunDir()
  const building = `${file}.building`
  rmSync(building, { force: true })
  log(`pre-filling ${count} deliveries (cached as ${file})`)
  try {
    const result = await prefill({ file: building, mappingsFile: run.mappingsFile, count })
    log(`  ${Math.round(result.perSecond)} events/s, ${Math.round(statSync(building).size / 1048576)} MB`)
  } finally {
    run.remove()
  }
  for (const suffix of ['-wal', '-shm']) rmSync(building + suffix, { force: true })
  renameSync(building, file)
  return file
}

/** Copies the cached backlog of `count` into `run.dbFile`. */
export async function copyBacklog (count, run) {
  const source = await backlogFile(count)
  copyFileSync(source, run.dbFile)
}
