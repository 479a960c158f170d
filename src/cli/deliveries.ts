/**
 * `crm-flow-bridge deliveries list|show|replay`: the store behind DATABASE_URL, for operators with
 * shell access (the admin API offers the same over HTTP). SQLite is opened read-only for list and
 * show; replay writes, and a running service picks the requeued deliveries up at its next poll.
 */
import { parseArgs } from 'node:util'
import { parseDatabaseUrl } from '../config/env.js'
import { openStore } from '../store/open-store.js'
import { openSqliteStore } from '../store/sqlite/sqlite-store.js'
import type { DeliveryDetail, DeliveryFilter, DeliverySummary, Store } from '../store/store.js'
import { deliveryDetailView, deliverySummaryView, FilterError, parseDeliveryFilter, statusValues } from '../routes/admin/views.js'
import { CliExit, exitCodes, json, loadEnv, type Io } from './common.js'

export const deliveriesHelp = `Usage: crm-flow-bridge deliveries <list|show|replay> [options]

Reads and replays deliveries in the store named by DATABASE_URL.

  list     [--status S] [--route R] [--source S] [--since T] [--limit N] [--cursor C] [--json]
  show     ID [--json]
  replay   ID... | --status S [--route R] [--source S] [--since T]   [--json]

Run "crm-flow-bridge deliveries <command> --help" for details.
`

const filterOptions = {
  status: { type: 'string' },
  route: { type: 'string' },
  source: { type: 'string' },
  since: { type: 'string' }
} as const

const filterHelp = `  --status S   ${statusValues.join(', ')} (dead = failed)
  --route R    route name
  --source S   source name
  --since T    created at or after: ISO-8601 time, or a duration back from now (24h, 30m, 7d)`

export const listHelp = `Usage: crm-flow-bridge deliveries list [filters] [--limit N] [--cursor C] [--json]

Lists deliveries, newest first.

${filterHelp}
  --limit N    page size, 1-500 (default 20)
  --cursor C   the "next" cursor a previous page printed
  --json       machine-readable output ({items, nextCursor})
`

export const showHelp = `Usage: crm-flow-bridge deliveries show ID [--json]

Shows one delivery: its state, the event, the last request, and every attempt with its status,
duration, correlation id, error and hint. Exit 1 when there is no such delivery.
`

export const replayHelp = `Usage: crm-flow-bridge deliveries replay ID... [--json]
       crm-flow-bridge deliveries replay --status S [--route R] [--source S] [--since T] [--json]

Queues finished deliveries (failed, succeeded, dry_run) again with a fresh attempt budget
(RETRY_MAX_ATTEMPTS). The service launches them with the mappings in force at that time.
By filter, --status is required, so successes are never re-launched by accident.

${filterHelp}
  --json       machine-readable output ({replayed, ids})

Exit status: 0 something was replayed, 1 nothing matched or an id was not replayable.
`

export async function deliveriesCommand (args: string[], io: Io): Promise<number> {
  const [command, ...rest] = args
  switch (command) {
    case 'list': return await list(rest, io)
    case 'show': return await show(rest, io)
    case 'replay': return await replay(rest, io)
    case undefined:
    case '-h':
    case '--help':
      io.out(deliveriesHelp)
      return command === undefined ? exitCodes.unusable : exitCodes.ok
    default:
      throw new CliExit(exitCodes.unusable, `unknown deliveries command "${command}"\n\n${deliveriesHelp}`)
  }
}

async function list (args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { ...filterOptions, limit: { type: 'string' }, cursor: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true })
  if (values.help === true) return help(io, listHelp)
  const filter = filterOf(values)
  const limit = values.limit === undefined ? 20 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new CliExit(exitCodes.unusable, '--limit must be an integer from 1 to 500')
  return await withStore(io, 'read', async store => {
    let page
    try {
      page = await store.listDeliveries(filter, { limit, cursor: values.cursor ?? null })
    } catch (err) {
      if ((err as Error).name === 'InvalidCursorError') throw new CliExit(exitCodes.unusable, `--cursor: ${(err as Error).message}`)
      throw err
    }
    if (values.json === true) io.out(json({ items: page.items.map(deliverySummaryView), nextCursor: page.nextCursor }))
    else {
      io.out(table(page.items))
      if (page.nextCursor !== null) io.out(`next page: --cursor ${page.nextCursor}\n`)
    }
    return exitCodes.ok
  })
}

async function show (args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true })
  if (values.help === true) return help(io, showHelp)
  if (positionals.length !== 1) throw new CliExit(exitCodes.unusable, `show takes one delivery id\n\n${showHelp}`)
  return await withStore(io, 'read', async store => {
    const delivery = await store.getDelivery(positionals[0]!)
    if (delivery === null) throw new CliExit(exitCodes.problems, `no delivery ${positionals[0]!}`)
    io.out(values.json === true ? json(deliveryDetailView(delivery)) : detail(delivery))
    return exitCodes.ok
  })
}

async function replay (args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...filterOptions, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true })
  if (values.help === true) return help(io, replayHelp)
  const byFilter = values.status !== undefined || values.route !== undefined || values.source !== undefined || values.since !== undefined
  if (positionals.length > 0 && byFilter) throw new CliExit(exitCodes.unusable, 'replay takes ids or a filter, not both')
  if (positionals.length === 0 && values.status === undefined) throw new CliExit(exitCodes.unusable, `replay needs delivery ids, or --status (and optionally --route, --source, --since)\n\n${replayHelp}`)
  const filter = filterOf(values)
  const env = await loadEnv(io)
  return await withStore(io, 'write', async store => {
    const ids = await store.requeue(positionals.length > 0 ? { ids: positionals } : filter, { maxAttempts: env.RETRY_MAX_ATTEMPTS })
    const skipped = positionals.filter(id => !ids.includes(id))
    if (values.json === true) io.out(json({ replayed: ids.length, ids, skipped }))
    else {
      io.out(`replayed ${ids.length} deliver${ids.length === 1 ? 'y' : 'ies'}${ids.length > 0 ? `: ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', …' : ''}` : ''}\n`)
      if (skipped.length > 0) io.err(`not replayed (unknown, or not finished): ${skipped.join(', ')}\n`)
    }
    return ids.length > 0 && skipped.length === 0 ? exitCodes.ok : exitCodes.problems
  })
}

function help (io: Io, text: string): number {
  io.out(text)
  return exitCodes.ok
}

function filterOf (values: { status?: string | undefined, route?: string | undefined, source?: string | undefined, since?: string | undefined }): DeliveryFilter {
  try {
    return parseDeliveryFilter(values)
  } catch (err) {
    if (err instanceof FilterError) throw new CliExit(exitCodes.unusable, `--${err.field}: ${err.message}`)
    throw err
  }
}

async function withStore (io: Io, mode: 'read' | 'write', work: (store: Store) => Promise<number>): Promise<number> {
  const env = await loadEnv(io)
  const location = parseDatabaseUrl(env.DATABASE_URL)
  let store: Store
  try {
    // Read-only for inspection: never creates or migrates a file next to a running service.
    store = location.kind === 'sqlite' && mode === 'read' ? openSqliteStore({ file: location.file, readonly: true }) : await openStore(location)
  } catch (err) {
    throw new CliExit(exitCodes.unusable, `cannot open the store (DATABASE_URL=${redactUrl(env.DATABASE_URL)}): ${(err as Error).message}`)
  }
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}

/** A database URL without its password, for messages. */
function redactUrl (url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
}

function table (items: DeliverySummary[]): string {
  if (items.length === 0) return 'no deliveries\n'
  const rows = items.map(d => [d.id, d.state, d.route, d.source, String(d.attempts), d.lastStatus === null ? '-' : String(d.lastStatus), d.createdAt.toISOString(), d.outcome ?? '-', oneLine(d.lastError ?? '')])
  const header = ['ID', 'STATE', 'ROUTE', 'SOURCE', 'ATTEMPTS', 'STATUS', 'CREATED', 'OUTCOME', 'LAST ERROR']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const format = (row: string[]): string => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)).join('  ').trimEnd()
  return [format(header), ...rows.map(format)].join('\n') + '\n'
}

function oneLine (text: string): string {
  const line = text.replace(/\s+/g, ' ')
  return line.length > 80 ? `${line.slice(0, 77)}...` : line
}

function detail (d: DeliveryDetail): string {
  const lines = [
    `delivery  ${d.id}`,
    `state     ${d.state} (attempts ${d.attempts}/${d.maxAttempts})`,
    `route     ${d.route} (source ${d.source}, record ${d.recordKey})`,
    `event     ${d.event.event.id} received ${d.receivedAt.toISOString()}`,
    `created   ${d.createdAt.toISOString()}${d.finishedAt === null ? '' : `, finished ${d.finishedAt.toISOString()}`}`
  ]
  if (d.executionId !== null) lines.push(`execution ${d.executionId}${d.outcome === null ? '' : ` → ${d.outcome}`}`)
  if (d.supersededBy !== null) lines.push(`superseded by ${d.supersededBy}`)
  if (d.lastError !== null) lines.push(`error     ${d.lastError}`)
  if (d.hint !== null) lines.push(`hint      ${d.hint}`)
  lines.push('', 'attempts:')
  if (d.attemptLog.length === 0) lines.push('  (none yet)')
  for (const a of d.attemptLog) {
    lines.push(`  #${a.number} ${a.startedAt.toISOString()} ${a.outcome} status ${a.status ?? '-'} in ${a.durationMs} ms${a.correlationId === null ? '' : ` correlation ${a.correlationId}`}`)
    if (a.error !== null) lines.push(`     error: ${a.error}`)
    if (a.hint !== null) lines.push(`     hint: ${a.hint}`)
    if (a.response !== null) lines.push(`     response: ${oneLine(a.response)}`)
  }
  if (d.outcomeDetail !== null) lines.push('', 'outcome:', JSON.stringify(d.outcomeDetail, null, 2))
  lines.push('', 'request:', JSON.stringify(d.request, null, 2), '', 'event:', JSON.stringify(d.event, null, 2))
  return lines.join('\n') + '\n'
}
