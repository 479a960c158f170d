/**
 * CPU cost of the SQLite inserts of one generic webhook (its event row and one delivery), through
 * the store's own write statements (`SqliteWrites.ingest`) in groups the size the ingest benchmark
 * commits (16), with the fsync left out (`synchronous=OFF`) so only CPU is timed. Compares the
 * schema as built with variants, alternating, each on a file pre-filled with 20,000 webhooks: the
 * schema 2 insert trigger put back (one `UPDATE delivery_counts` per row), and one index less, or
 * `seq` without AUTOINCREMENT. Run by hand after `npm run build`:
 *   node bench/lib/insert-cost.mjs [rounds]
 * Prints the median µs per webhook of each variant.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromDist, median } from './common.mjs'

const Database = (await import('better-sqlite3')).default
const { sqliteMigrations } = await fromDist('store/sqlite/migrations.js')
const { SqliteWrites } = await fromDist('store/sqlite/writes.js')

const rounds = Number(process.argv[2] ?? 7)
const groupSize = 16
const payload = JSON.stringify({ event: 'contact.updated', record: { fields: 'x'.repeat(1400) } })
let sequence = 0
const id = () => `0193${String(++sequence).padStart(28, '0')}`
function webhook () {
  const eventId = id()
  const now = Date.now()
  return {
    eventId, source: 'crm', dedupeKey: eventId, externalId: eventId, receivedAt: now, occurredAt: now, recordType: 'contact',
    recordId: `c${sequence % 100_000}`, payload, deliveries: [{ id: id(), route: 'contact-updated', recordKey: `c${sequence}`, maxAttempts: 5, runAt: now }]
  }
}

const schema2InsertTrigger = `CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries BEGIN
  UPDATE delivery_counts SET n = n + 1 WHERE state = NEW.state;
END;`

const variants = {
  'as built': {},
  'with the schema 2 insert trigger': { after: schema2InsertTrigger },
  'without deliveries_state': { after: 'DROP INDEX deliveries_state' },
  'without deliveries_event': { after: 'DROP INDEX deliveries_event' },
  'seq without AUTOINCREMENT': { edit: sql => sql.replace('seq INTEGER PRIMARY KEY AUTOINCREMENT', 'seq INTEGER PRIMARY KEY') }
}

function microsPerWebhook (dir, { edit = sql => sql, after = null }) {
  const file = join(dir, `insert-${sequence}.db`)
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  sqliteMigrations.forEach((sql, i) => { db.exec(edit(sql)); db.pragma(`user_version = ${i + 1}`) })
  if (after !== null) db.exec(after)
  const writes = new SqliteWrites(db)
  const commit = db.transaction(rows => writes.ingest(rows))
  const groups = count => Array.from({ length: count }, () => Array.from({ length: groupSize }, webhook))
  for (const group of groups(20_000 / groupSize)) commit(group)
  const timed = groups(1000)
  const started = process.hrtime.bigint()
  for (const group of timed) commit(group)
  const micros = Number(process.hrtime.bigint() - started) / 1000 / (timed.length * groupSize)
  db.close()
  rmSync(file, { force: true })
  return micros
}

const dir = mkdtempSync(join(tmpdir(), 'cfb-insert-'))
try {
  const timings = Object.fromEntries(Object.keys(variants).map(name => [name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const [name, variant] of Object.entries(variants)) timings[name].push(microsPerWebhook(dir, variant))
  }
  for (const [name, values] of Object.entries(timings)) {
    console.log(`${`${name}:`.padEnd(34)} median ${median(values).toFixed(1)} µs (runs ${values.map(v => v.toFixed(1)).join(', ')})`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
