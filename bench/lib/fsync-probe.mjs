/**
 * What one durable commit costs on this disk: 200 one-row transactions on a WAL SQLite file with
 * synchronous=FULL (the bridge's settings), in the folder the benchmarks use. It bounds a
 * transaction-per-request design at 1000/median ms commits per second; group commit divides the
 * cost among the requests of one event-loop turn.
 */
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { percentile, median, round } from './common.mjs'

export async function fsyncProbe (commits = 200) {
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'cfb-fsync-'))
  try {
    const db = new Database(join(dir, 'probe.db'))
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)')
    const payload = 'x'.repeat(1500)
    const times = []
    for (let i = 0; i < commits; i++) {
      const started = performance.now()
      insert.run(payload)
      times.push(performance.now() - started)
    }
    db.close()
    return { commits, medianMs: round(median(times), 3), p99Ms: round(percentile(times, 99), 3), commitsPerSecond: round(1000 / median(times), 0) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
