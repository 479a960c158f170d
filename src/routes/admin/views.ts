/**
 * What the admin API and the CLI show of deliveries and mappings: JSON-ready views (ISO times),
 * the delivery filter both accept, and the masking that keeps secrets out of every answer.
 */
import { formatPath, type MappingsFileError } from '../../config/mappings-file.js'
import { parseDuration } from '../../config/duration.js'
import type { LocatedFlowProblem } from '../../flows/locate.js'
import { qualifiedInputName } from '../../mapping/mapping-engine.js'
import type { Mappings } from '../../mapping/mappings.js'
import type { MappingsHolder } from '../../mapping/mappings-holder.js'
import { deliveryStates, type DeliveryDetail, type DeliveryFilter, type DeliveryState, type DeliverySummary } from '../../store/store.js'

/** `status` values the filter accepts: the delivery states, and `dead` for `failed`. */
export const statusValues = [...deliveryStates, 'dead'] as const

export class FilterError extends Error {
  readonly field: string
  constructor (field: string, message: string) {
    super(message)
    this.name = 'FilterError'
    this.field = field
  }
}

export interface FilterInput {
  status?: string | undefined
  route?: string | undefined
  source?: string | undefined
  /** ISO-8601 time, or a duration back from now (`24h`, `30m`, `7d`). */
  since?: string | undefined
}

export function parseDeliveryFilter (input: FilterInput, now = new Date()): DeliveryFilter {
  const filter: DeliveryFilter = {}
  if (input.status !== undefined && input.status !== '') {
    const status = input.status === 'dead' ? 'failed' : input.status
    if (!(deliveryStates as readonly string[]).includes(status)) throw new FilterError('status', `status must be one of ${statusValues.join(', ')}`)
    filter.state = status as DeliveryState
  }
  if (input.route !== undefined && input.route !== '') filter.route = input.route
  if (input.source !== undefined && input.source !== '') filter.source = input.source
  if (input.since !== undefined && input.since !== '') filter.since = parseSince(input.since, now)
  return filter
}

export function parseSince (value: string, now = new Date()): Date {
  const ago = /^\d/.test(value) && !/[-T:]/.test(value) ? parseDuration(value) : null
  if (ago !== null) return new Date(now.getTime() - ago)
  const time = Date.parse(value)
  if (Number.isNaN(time)) throw new FilterError('since', `since "${value}" is neither an ISO-8601 time nor a duration such as 24h`)
  return new Date(time)
}

const iso = (date: Date | null): string | null => date === null ? null : date.toISOString()

export function deliverySummaryView (d: DeliverySummary): Record<string, unknown> {
  return {
    id: d.id,
    eventId: d.eventId,
    route: d.route,
    source: d.source,
    recordKey: d.recordKey,
    state: d.state,
    attempts: d.attempts,
    maxAttempts: d.maxAttempts,
    runAt: iso(d.runAt),
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    finishedAt: iso(d.finishedAt),
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    hint: d.hint,
    executionId: d.executionId,
    supersededBy: d.supersededBy,
    outcome: d.outcome
  }
}

export function deliveryDetailView (d: DeliveryDetail): Record<string, unknown> {
  return {
    ...deliverySummaryView(d),
    dedupeKey: d.dedupeKey,
    receivedAt: iso(d.receivedAt),
    event: d.event,
    request: d.request,
    attemptLog: d.attemptLog.map(a => ({
      number: a.number,
      startedAt: iso(a.startedAt),
      durationMs: a.durationMs,
      outcome: a.outcome,
      status: a.status,
      error: a.error,
      hint: a.hint,
      correlationId: a.correlationId,
      request: a.request,
      response: a.response
    })),
    outcomeDetail: d.outcomeDetail,
    lockedBy: d.lockedBy,
    lockedUntil: iso(d.lockedUntil)
  }
}

export function reloadErrorView (lastError: MappingsHolder['lastError']): Record<string, unknown> | null {
  if (lastError === null) return null
  return { at: lastError.at.toISOString(), ...fileErrorView(lastError.error) }
}

export function fileErrorView (error: MappingsFileError): { kind: string, file: string, message: string, problems: Array<Record<string, unknown>> } {
  return {
    kind: error.kind,
    file: error.file,
    message: error.message,
    problems: error.problems.map(p => ({ path: formatPath(p.path), line: p.line ?? null, column: p.column ?? null, message: p.message }))
  }
}

/** A flow problem with its config path as text, as the admin API and `validate --json` show it. */
export function flowProblemView (problem: LocatedFlowProblem): Record<string, unknown> {
  return { ...problem, path: formatPath(problem.path), line: problem.line ?? null }
}

const secretName = /secret|password|token|key|credential|auth/i

/**
 * The mappings as an admin may see them: source settings with credentials masked (`describe()`),
 * and route constants masked where the route redacts the input or its name looks like a credential.
 */
export function mappingsView (mappings: Mappings): { sources: unknown, routes: unknown } {
  const described = mappings.describe() as { sources: unknown, routes: Array<Record<string, unknown>> }
  const routes = described.routes.map(route => {
    const compiled = mappings.route(String(route.name))
    const inputs = Object.fromEntries(Object.entries((route.inputs ?? {}) as Record<string, unknown>).map(([name, input]) => {
      const sensitive = compiled?.redact.has(qualifiedInputName(name)) === true || secretName.test(name)
      if (!sensitive || typeof input !== 'object' || input === null) return [name, input]
      const masked = { ...(input as Record<string, unknown>) }
      for (const key of ['value', 'default']) if (key in masked) masked[key] = '[redacted]'
      return [name, masked]
    }))
    return { ...route, inputs }
  })
  return { sources: described.sources, routes }
}
