/**
 * Second ingest reference, the "fastify plus SQLite with group commit": a fastify 5 server
 * that stores each request's raw body as one row, every request of one event-loop turn in one
 * transaction, committed with `synchronous=FULL` (the fsync on the event loop), and answers 202 after
 * the commit. No signature, no parsing, no logging, one index. What the bridge's durable ingest
 * would cost with none of its own work. It prints its port on stdout once listening.
 */
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'

const db = new Database(join(process.env.BENCH_DIR, 'reference.db'))
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL')
db.exec('CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, body TEXT NOT NULL)')
const insert = db.prepare('INSERT INTO events (id, received_at, body) VALUES (?, ?, ?)')
const commit = db.transaction(rows => { for (const row of rows) insert.run(row.id, row.at, row.body) })

let queue = []
function store (body) {
  return new Promise((resolve, reject) => {
    queue.push({ id: randomUUID(), at: Date.now(), body: body.toString('utf8'), resolve, reject })
    if (queue.length === 1) {
      setImmediate(() => {
        const group = queue
        queue = []
        try {
          commit(group)
          for (const row of group) row.resolve()
        } catch (error) {
          for (const row of group) row.reject(error)
        }
      })
    }
  })
}

const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1048576 }, (_request, body, done) => { done(null, body) })
app.post('/webhooks/:source', async (request, reply) => {
  await store(request.body)
  return await reply.code(202).send({ accepted: true })
})
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
process.stdout.write(`${Number(process.env.PORT)}\n`)
process.on('SIGTERM', () => { void app.close().finally(() => { db.close(); process.exit(0) }) })
