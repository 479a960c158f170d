import type { RouteConfig, InputConfig } from '../config/mappings-schema.js'
import type { NormalizedEvent } from '../sources/normalized-event.js'
import { ConversionError, convertValue, type InputType } from './input-types.js'
import { getPath, parsePath, type PathSegment } from './path.js'
import { applyTransform, type Transform } from './transforms.js'

/** The body of `POST /api/v2/flows/executions` (FlowExecutionLaunchRequest). */
export interface LaunchRequest {
  flowId: string
  flowVersion?: string
  inputData: Record<string, unknown>
  name: string
}

export interface CompiledInput {
  /** Fully qualified flow variable name, `Flow.<name>`. */
  name: string
  from: PathSegment[] | null
  fromText: string | null
  value: unknown
  required: boolean
  fallback: unknown
  type: InputType | null
  transforms: Transform[]
}

export interface CompiledRoute {
  name: string
  source: string
  flowId: string
  flowVersion: string | null
  inputs: CompiledInput[]
  /** Fully qualified names of the inputs whose values never reach a log line. */
  redact: ReadonlySet<string>
  /** Coalescing window in ms; 0 when off. */
  coalesceMs: number
  trackOutcome: boolean
  maxAttempts: number | null
  enabled: boolean
  matches: (event: NormalizedEvent) => boolean
}

export interface InputProblem {
  input: string
  reason: string
}

export type MapResult =
  | { ok: true, request: LaunchRequest }
  | { ok: false, problems: InputProblem[] }

export function qualifiedInputName (name: string): string {
  return name.startsWith('Flow.') ? name : `Flow.${name}`
}

export function compileRoute (route: RouteConfig): CompiledRoute {
  const inputs = Object.entries(route.inputs).map(([name, raw]) => compileInput(name, raw as Exclude<InputConfig, string>))
  return {
    name: route.name,
    source: route.source,
    flowId: route.flow.id,
    flowVersion: route.flow.version ?? null,
    inputs,
    redact: new Set((route.redact ?? []).map(qualifiedInputName)),
    coalesceMs: route.coalesce ?? 0,
    trackOutcome: route.trackOutcome ?? false,
    maxAttempts: route.maxAttempts ?? null,
    enabled: route.enabled ?? true,
    matches: compileFilter(route.when)
  }
}

function compileInput (name: string, input: { from?: string | undefined, value?: unknown, required?: boolean | undefined, default?: unknown, type?: string | undefined, transform?: Transform[] | undefined }): CompiledInput {
  return {
    name: qualifiedInputName(name),
    from: input.from === undefined ? null : parsePath(input.from),
    fromText: input.from ?? null,
    value: input.value,
    required: input.required ?? false,
    fallback: input.default,
    type: (input.type as InputType | undefined) ?? null,
    transforms: input.transform ?? []
  }
}

function compileFilter (when: RouteConfig['when']): (event: NormalizedEvent) => boolean {
  if (when === undefined) return () => true
  const oneOf = (value: unknown, allowed: unknown): boolean =>
    Array.isArray(allowed) ? allowed.some(a => a === value) : allowed === value
  const checks: Array<(event: NormalizedEvent) => boolean> = []
  if (when.recordType !== undefined) {
    const allowed = when.recordType
    checks.push(event => oneOf(event.record.type, allowed))
  }
  if (when.eventType !== undefined) {
    const allowed = when.eventType
    checks.push(event => oneOf(event.event.type, allowed))
  }
  if (when.changed !== undefined) {
    const wanted = when.changed
    // A CRM that does not say what changed (record.changed null) sends a full snapshot: let it through.
    checks.push(event => event.record.changed === null || event.record.changed.some(name => wanted.includes(name)))
  }
  for (const [path, allowed] of Object.entries(when.match ?? {})) {
    const segments = parsePath(path)
    checks.push(event => oneOf(getPath(event, segments) ?? null, allowed))
  }
  return event => checks.every(check => check(event))
}

/**
 * Maps one event through one route into the exact launch request. `schemaTypes` (from the flow's
 * published input schema, when known) gives the type of inputs whose mapping names none.
 */
export function buildLaunchRequest (
  route: CompiledRoute,
  event: NormalizedEvent,
  executionName: string,
  schemaTypes?: ReadonlyMap<string, InputType>
): MapResult {
  const inputData: Record<string, unknown> = {}
  const problems: InputProblem[] = []
  for (const input of route.inputs) {
    let value = input.from === null ? input.value : getPath(event, input.from)
    for (const transform of input.transforms) value = applyTransform(value, transform)
    if ((value === undefined || value === '') && input.fallback !== undefined) value = input.fallback
    if (value === undefined) {
      if (input.required) problems.push({ input: input.name, reason: `required, but the event has no value at "${input.fromText ?? ''}"` })
      continue
    }
    if (input.required && (value === null || value === '')) {
      problems.push({ input: input.name, reason: `required, but the value at "${input.fromText ?? ''}" is ${value === null ? 'null' : 'empty'}` })
      continue
    }
    const type = input.type ?? schemaTypes?.get(input.name) ?? 'string'
    try {
      inputData[input.name] = convertValue(value, type)
    } catch (err) {
      if (!(err instanceof ConversionError)) throw err
      problems.push({ input: input.name, reason: `cannot convert to ${type}: ${err.message}` })
    }
  }
  if (problems.length > 0) return { ok: false, problems }
  const request: LaunchRequest = { flowId: route.flowId, inputData, name: executionName }
  if (route.flowVersion !== null) request.flowVersion = route.flowVersion
  return { ok: true, request }
}

/** A copy of a launch request safe to log or show: the route's `redact` inputs are masked. */
export function redactLaunchRequest (request: LaunchRequest, redact: ReadonlySet<string>): LaunchRequest {
  if (redact.size === 0) return request
  const inputData: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(request.inputData)) inputData[key] = redact.has(key) ? '[redacted]' : value
  return { ...request, inputData }
}

/** The execution `name` Genesys shows: carries the delivery id, so an execution traces back to it. */
export function executionName (deliveryId: string): string {
  return `crm-flow-bridge ${deliveryId}`
}
