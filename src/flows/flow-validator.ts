/**
 * Keeps every enabled route checked against its flow's real inputs: at startup, after each mappings
 * reload, every FLOW_SCHEMA_TTL_MS (a flow can be republished with other inputs at any time), and right
 * after Genesys answers a launch with 400. Holds the latest verdict per route for /readyz and the admin
 * API, and gives the dispatcher the declared input types for coercion (`FlowSchemaSource`).
 *
 * A route that a republished flow breaks is reported once, loudly (`flows.route_broken`, /readyz 503),
 * and its deliveries keep being attempted: Genesys's answer stays the authority (our reading of the
 * schema could be stricter than Genesys), and the failures keep their hint so they can be replayed in
 * bulk once the flow or the mapping is fixed. See docs/admin.md, "Broken routes".
 */
import type { FlowSchemaSource } from '../dispatch/dispatcher.js'
import type { Log } from '../logging/log.js'
import type { InputType } from '../mapping/input-types.js'
import type { CompiledRoute } from '../mapping/mapping-engine.js'
import type { Mappings } from '../mapping/mappings.js'
import type { FlowCatalog } from './flow-catalog.js'
import { checkRoute, type FlowProblem } from './flow-check.js'
import { locateProblems, type LocatedFlowProblem } from './locate.js'

export type CheckReason = 'startup' | 'reload' | 'ttl' | 'launch_rejected'

export interface RouteFlowState {
  route: string
  flowId: string
  /** Version checked: the pinned one, or the one published at the time. */
  flowVersion: string | null
  flowName: string | null
  checkedAt: Date
  problems: LocatedFlowProblem[]
}

export interface FlowValidationStatus {
  /** `pending` until the first check of the mappings in force has finished. */
  state: 'pending' | 'checked'
  checkedAt: Date | null
  mappingsHash: string | null
  routes: RouteFlowState[]
  /** Names of routes with at least one error. */
  brokenRoutes: string[]
  problems: LocatedFlowProblem[]
}

export interface FlowValidatorOptions {
  catalog: FlowCatalog
  /** The mappings in force (a reload swaps them). */
  mappings: () => Mappings
  log: Log
  /** Re-check period; also the catalog's cache TTL. */
  ttlMs: number
  /** Minimum gap between two re-checks of one flow triggered by 400s (a burst of failures → one check). */
  recheckGapMs?: number
  now?: () => Date
}

export class FlowValidator implements FlowSchemaSource {
  readonly #o: Required<FlowValidatorOptions>
  #routes = new Map<string, RouteFlowState>()
  #checkedHash: string | null = null
  #checkedAt: Date | null = null
  #timer: NodeJS.Timeout | null = null
  readonly #rechecks = new Map<string, { running: boolean, at: number }>()
  readonly #inFlight = new Set<Promise<unknown>>()
  #stopped = false

  constructor (options: FlowValidatorOptions) {
    this.#o = { recheckGapMs: 1000, now: () => new Date(), ...options }
  }

  get catalog (): FlowCatalog {
    return this.#o.catalog
  }

  /** Starts the periodic re-check. */
  start (): void {
    if (this.#timer !== null || this.#stopped) return
    this.#timer = setInterval(() => { void this.#track(this.checkAll('ttl')) }, this.#o.ttlMs)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await Promise.allSettled([...this.#inFlight])
  }

  inputTypes (route: CompiledRoute): ReadonlyMap<string, InputType> | undefined {
    return this.#o.catalog.cachedTypes(route.flowId, route.flowVersion)
  }

  launchRejected (route: CompiledRoute): void {
    if (this.#stopped) return
    const now = Date.now()
    const last = this.#rechecks.get(route.flowId)
    if (last !== undefined && (last.running || now - last.at < this.#o.recheckGapMs)) return
    const entry = { running: true, at: now }
    this.#rechecks.set(route.flowId, entry)
    this.#o.log.info({ event: 'flows.recheck', reason: 'launch_rejected', route: route.name, flowId: route.flowId }, 'Genesys rejected a launch; checking the flow again')
    const mappings = this.#o.mappings()
    const routes = mappings.routes.filter(r => r.enabled && r.flowId === route.flowId)
    void this.#track(this.#check(mappings, routes, 'launch_rejected', now).finally(() => { entry.running = false }))
  }

  /** Checks every enabled route of `mappings` (default: those in force) and records the verdicts. */
  async checkAll (reason: CheckReason, mappings = this.#o.mappings()): Promise<RouteFlowState[]> {
    return await this.#check(mappings, mappings.routes.filter(r => r.enabled), reason, Date.now())
  }

  /** Checks a candidate without recording or logging anything (admin validate, CLI). */
  async checkCandidate (mappings: Mappings, options: { text?: string, signal?: AbortSignal } = {}): Promise<LocatedFlowProblem[]> {
    return await checkMappings(this.#o.catalog, mappings, options)
  }

  status (): FlowValidationStatus {
    const current = this.#o.mappings()
    const routes = [...this.#routes.values()]
    const problems = routes.flatMap(r => r.problems)
    return {
      state: this.#checkedHash === null || this.#checkedHash !== current.hash ? 'pending' : 'checked',
      checkedAt: this.#checkedAt,
      mappingsHash: this.#checkedHash,
      routes,
      brokenRoutes: routes.filter(r => r.problems.some(p => p.severity === 'error')).map(r => r.route),
      problems
    }
  }

  async #track<T> (promise: Promise<T>): Promise<T | undefined> {
    this.#inFlight.add(promise)
    try {
      return await promise
    } catch (err) {
      this.#o.log.error({ event: 'flows.check_crashed', err }, 'checking routes against their flows failed unexpectedly')
      return undefined
    } finally {
      this.#inFlight.delete(promise)
    }
  }

  async #check (mappings: Mappings, routes: readonly CompiledRoute[], reason: CheckReason, since: number): Promise<RouteFlowState[]> {
    const started = performance.now()
    const fresh = reason === 'ttl' || reason === 'launch_rejected'
    const results = await Promise.all(routes.map(async route => {
      const lookup = await this.#o.catalog.lookup(route.flowId, route.flowVersion, fresh ? { since } : {})
      return { route, lookup, problems: checkRoute(route, lookup) }
    }))
    // A reload may have swapped the mappings while Genesys answered: the verdict on mappings no longer
    // in force is dropped (their successor's own check reports), and a partial re-check only merges
    // into verdicts on the same mappings.
    if (mappings.hash !== this.#o.mappings().hash) return []
    const full = routes.length === mappings.routes.filter(r => r.enabled).length
    if (!full && mappings.hash !== this.#checkedHash) return []
    const located = locateProblems(results.flatMap(r => r.problems), mappings)
    const checkedAt = this.#o.now()
    const next = full ? new Map<string, RouteFlowState>() : new Map(this.#routes)
    const states: RouteFlowState[] = []
    for (const { route, lookup } of results) {
      const previous = this.#routes.get(route.name)
      let problems = located.filter(p => p.route === route.name)
      if (lookup.status === 'failed' && previous !== undefined && previous.flowId === route.flowId) {
        // Genesys could not be asked: what was known still holds (a blip must not mark a broken route fixed).
        problems = [...previous.problems.filter(p => p.code !== 'check_failed'), ...problems]
      }
      const state: RouteFlowState = {
        route: route.name,
        flowId: route.flowId,
        flowVersion: lookup.status === 'ok' ? lookup.versionId : lookup.status === 'failed' ? previous?.flowVersion ?? route.flowVersion : route.flowVersion,
        flowName: 'flow' in lookup ? lookup.flow.name : previous?.flowName ?? null,
        checkedAt,
        problems
      }
      next.set(route.name, state)
      states.push(state)
      this.#report(state, previous, reason)
    }
    this.#routes = next
    this.#checkedHash = mappings.hash
    this.#checkedAt = checkedAt
    const all = states.flatMap(s => s.problems)
    this.#o.log.info({
      event: 'flows.checked',
      reason,
      routes: states.length,
      broken: states.filter(s => s.problems.some(p => p.severity === 'error')).map(s => s.route),
      errors: all.filter(p => p.severity === 'error').length,
      warnings: all.filter(p => p.severity === 'warning').length,
      durationMs: Math.round(performance.now() - started)
    }, 'routes checked against their flows')
    return states
  }

  #report (state: RouteFlowState, previous: RouteFlowState | undefined, reason: CheckReason): void {
    const log = this.#o.log
    const errors = state.problems.filter(p => p.severity === 'error')
    const warnings = state.problems.filter(p => p.severity === 'warning')
    const fields = { route: state.route, flowId: state.flowId, flowVersion: state.flowVersion, reason }
    if (previous !== undefined && previous.flowId === state.flowId && previous.flowVersion !== state.flowVersion && state.flowVersion !== null) {
      log.info({ event: 'flows.version_changed', ...fields, previousVersion: previous.flowVersion }, 'the flow of a route has a new published version')
    }
    if (reason === 'startup' || reason === 'reload') {
      if (errors.length > 0) log.error({ event: 'flows.route_invalid', ...fields, problems: shown(state.problems) }, `route ${state.route} does not fit its flow: ${errors.map(p => p.message).join('; ')}`)
      else if (warnings.length > 0) log.warn({ event: 'flows.route_warning', ...fields, problems: shown(warnings) }, `route ${state.route}: ${warnings.map(p => p.message).join('; ')}`)
      return
    }
    const before = previous?.problems.filter(p => p.severity === 'error') ?? []
    if (errors.length > 0 && signature(errors) !== signature(before)) {
      log.error({ event: 'flows.route_broken', ...fields, previousVersion: previous?.flowVersion ?? null, problems: shown(state.problems) },
        `route ${state.route} no longer fits flow ${state.flowId}${state.flowVersion === null ? '' : ` version ${state.flowVersion}`}: ${errors.map(p => p.message).join('; ')}; deliveries are still attempted and will fail until the flow or the mapping is fixed`)
    } else if (errors.length === 0 && before.length > 0) {
      log.info({ event: 'flows.route_fixed', ...fields }, `route ${state.route} fits its flow again`)
    }
  }
}

function signature (problems: readonly FlowProblem[]): string {
  return problems.map(p => `${p.code}:${p.input ?? ''}`).sort().join(',')
}

/** Problems as logged: everything but the fields the log line already carries. */
function shown (problems: readonly LocatedFlowProblem[]): Array<Record<string, unknown>> {
  return problems.map(({ route: _r, flowId: _f, flowVersion: _v, ...rest }) => rest)
}

/** Checks every enabled route of `mappings` against the flows; `text` (the file's content) gives lines. */
export async function checkMappings (catalog: FlowCatalog, mappings: Mappings, options: { text?: string, signal?: AbortSignal } = {}): Promise<LocatedFlowProblem[]> {
  const lookupOptions = options.signal === undefined ? {} : { signal: options.signal }
  const checks = await Promise.all(mappings.routes.filter(r => r.enabled).map(async route => checkRoute(route, await catalog.lookup(route.flowId, route.flowVersion, lookupOptions))))
  return locateProblems(checks.flat(), mappings, options.text)
}
