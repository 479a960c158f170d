/**
 * Pre-fills a SQLite file with a backlog of queued deliveries through the store API
 * (`openSqliteStore(...).ingest(items)`), building each item exactly as POST /webhooks/crm would:
 * the generic adapter parses a signed benchmark body, the routes match, one delivery per route.
 * Much faster than HTTP (one transaction per batch). Run as a child process by procs.mjs#prefill;
 * options as JSON in BENCH_PREFILL: { file, mappingsFile, count, batch?, runAtOffsetMs? }.
 * Every delivery has its own record id (no per-record ordering wait) and is due now.
 */
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { genericBody, WEBHOOK_SECRET } from './payloads.mjs'

const dist = process.env.BENCH_DIST
const load = async path => await import(pathToFileURL(join(dist, path)).href)
const { openSqliteStore } = await load('store/sqlite/sqlite-store.js')
const { loadMappings } = await load('mapping/mappings.js')
const { sourceTypes } = await load('sources/index.js')
const { uuidv7 } = await load('store/ids.js')

const options = JSON.parse(process.env.BENCH_PREFILL)
const batch = options.batch ?? 5000
const mappings = loadMappings(options.mappingsFile, { env: { CRM_WEBHOOK_SECRET: WEBHOOK_SECRET, HUBSPOT_CLIENT_SECRET: 'x' }, sourceTypes })
const adapter = mappings.sources.get('crm')
const routes = mappings.routesFor('crm')
const store = openSqliteStore({ file: options.file, synchronous: 'NORMAL' })

const started = performance.now()
let deliveries = 0
for (let done = 0; done < options.count;) {
  const items = []
  const size = Math.min(batch, options.count - done)
  for (let i = 0; i < size; i++) {
    const n = done + i
    const rawBody = Buffer.from(genericBody(n, `003P${String(n).padStart(10, '0')}`))
    const receivedAt = new Date()
    const now = receivedAt.getTime()
    const webhook = { method: 'POST', url: '/webhooks/crm', publicUrl: 'http://127.0.0.1/webhooks/crm', headers: { 'content-type': 'application/json' }, query: {}, rawBody, receivedAt, remoteAddress: '127.0.0.1' }
    for (const { dedupeKey, event } of adapter.parse(webhook)) {
      const matched = routes.filter(route => route.matches(event))
      items.push({
        eventId: uuidv7(now),
        source: adapter.name,
        dedupeKey,
        event,
        receivedAt,
        deliveries: matched.map(route => ({
          id: uuidv7(now),
          route: route.name,
          recordKey: event.record.id ?? `event:${dedupeKey}`,
          runAt: new Date(now + (options.runAtOffsetMs ?? 0)),
          maxAttempts: route.maxAttempts ?? 12
        }))
      })
      deliveries += matched.length
    }
  }
  await store.ingest(items)
  done += size
  if (options.count >= 100_000 && done % 100_000 === 0) process.stderr.write(`[prefill] ${done}/${options.count}\n`)
}
await store.close()
const seconds = (performance.now() - started) / 1000
process.stdout.write(JSON.stringify({ events: options.count, deliveries, seconds, perSecond: options.count / seconds }))
