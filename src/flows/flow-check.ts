/**
 * Checks one route against what its flow declares: the flow exists, is a workflow, is published (or
 * the pinned version exists), every mapped input is a declared input, and the type the route sends
 * fits the declared type. Pure: the look-up is done by the caller (FlowCatalog), so this is tested
 * without Genesys. Each problem names the route, the input, what the flow declares and a suggestion.
 */
import { ConversionError, convertValue, type InputType } from '../mapping/input-types.js'
import type { CompiledInput, CompiledRoute } from '../mapping/mapping-engine.js'
import type { FlowLookup } from './flow-catalog.js'
import type { DeclaredInput } from './flow-schema.js'

export const flowProblemCodes = [
  'flow_not_found', 'not_a_workflow', 'not_published', 'version_not_found',
  'input_not_declared', 'input_case_mismatch', 'input_type_mismatch', 'input_value_invalid',
  'input_type_unknown', 'required_input_unmapped', 'check_failed'
] as const
export type FlowProblemCode = typeof flowProblemCodes[number]

export interface FlowProblem {
  route: string
  flowId: string
  /** The version checked (pinned, or published at the time); null when none could be resolved. */
  flowVersion: string | null
  /** Fully qualified input name (`Flow.x`); null for problems of the flow as a whole. */
  input: string | null
  code: FlowProblemCode
  /** `error`: launches will fail or misbehave. `warning`: worth a look; may work. */
  severity: 'error' | 'warning'
  message: string
  /** What the flow declares that the message is about. */
  declared: string | null
  suggestion: string | null
}

/** Every problem of `route` given its flow look-up; [] when the route fits its flow. */
export function checkRoute (route: CompiledRoute, lookup: FlowLookup): FlowProblem[] {
  const base = { route: route.name, flowId: route.flowId, flowVersion: route.flowVersion, input: null }
  switch (lookup.status) {
    case 'failed':
      return [{ ...base, code: 'check_failed', severity: 'warning', message: `could not read flow ${route.flowId} from Genesys: ${lookup.message}`, declared: null, suggestion: 'The route was not checked; see the genesys check of /readyz.' }]
    case 'flow_not_found':
      return [{ ...base, code: 'flow_not_found', severity: 'error', message: `flow ${route.flowId} does not exist in this Genesys organization and region`, declared: null, suggestion: 'Check the route\'s flow.id (Architect shows it in the flow\'s URL) and GENESYS_REGION.' }]
    case 'not_published':
      return [...typeProblems(route, lookup.flow.type, lookup.flow.name, base), {
        ...base, code: 'not_published', severity: 'error', message: `flow ${flowLabel(lookup.flow.name, route.flowId)} has no published version`, declared: 'no published version', suggestion: 'Publish the flow in Architect, or pin a version with flow.version.'
      }]
    case 'version_not_found':
      return [...typeProblems(route, lookup.flow.type, lookup.flow.name, base), {
        ...base,
        code: 'version_not_found',
        severity: 'error',
        message: `flow ${flowLabel(lookup.flow.name, route.flowId)} has no version "${lookup.versionId}"`,
        declared: lookup.flow.publishedVersion === null ? 'no published version' : `published version ${lookup.flow.publishedVersion}`,
        suggestion: lookup.flow.publishedVersion === null ? 'Publish the flow, or pin an existing version.' : `Pin version "${lookup.flow.publishedVersion}", or remove flow.version to follow the published version.`
      }]
    case 'ok': {
      const checked = { ...base, flowVersion: lookup.versionId }
      const problems = typeProblems(route, lookup.flow.type, lookup.flow.name, checked)
      for (const input of route.inputs) problems.push(...inputProblems(input, lookup.schema.inputs, checked, lookup.flow.name, lookup.versionId))
      const mapped = new Set(route.inputs.map(i => i.name))
      for (const name of lookup.schema.required) {
        if (!mapped.has(name)) problems.push({ ...checked, input: name, code: 'required_input_unmapped', severity: 'error', message: `the flow requires ${name}, but the route does not map it`, declared: `${name} (required)`, suggestion: `Map ${name.replace(/^Flow\./, '')} in the route's inputs.` })
      }
      return problems
    }
  }
}

function flowLabel (name: string | null, id: string): string {
  return name === null ? id : `"${name}" (${id})`
}

function typeProblems (route: CompiledRoute, type: string | null, name: string | null, base: Omit<FlowProblem, 'code' | 'severity' | 'message' | 'declared' | 'suggestion'>): FlowProblem[] {
  if (type === null || type.toLowerCase() === 'workflow') return []
  return [{ ...base, code: 'not_a_workflow', severity: 'error', message: `flow ${flowLabel(name, route.flowId)} is of type ${type}, not a workflow; only workflows can be launched with POST /api/v2/flows/executions`, declared: `type ${type}`, suggestion: 'Point the route at a workflow (Architect → Workflows), or wrap this logic in one.' }]
}

type Base = Omit<FlowProblem, 'code' | 'severity' | 'message' | 'declared' | 'suggestion'>

function inputProblems (input: CompiledInput, declared: ReadonlyMap<string, DeclaredInput>, base: Base, flowName: string | null, versionId: string): FlowProblem[] {
  const at = { ...base, input: input.name }
  const target = declared.get(input.name)
  if (target === undefined) return [undeclared(input.name, declared, at, flowName, versionId)]
  const problems: FlowProblem[] = []
  const describeDeclared = `${target.name}: ${target.declared}${target.type === null ? '' : ` (${target.type})`}`
  if (target.type === null) {
    problems.push({ ...at, code: 'input_type_unknown', severity: 'warning', message: `${input.name} is declared as ${target.declared}, a type the bridge cannot convert to; values are sent as the route converts them (${input.type ?? 'string'})`, declared: describeDeclared, suggestion: 'Check a preview of the request against what the flow expects.' })
    return problems
  }
  const sent = input.type ?? target.type
  if (input.type !== null && !fits(input.type, target.type)) {
    const lenient = input.type === 'string' && ['integer', 'decimal', 'date', 'datetime'].includes(target.type)
    problems.push({
      ...at,
      code: 'input_type_mismatch',
      severity: lenient ? 'warning' : 'error',
      message: `${input.name} is declared ${target.declared} (${target.type}), but the route converts it to ${input.type}` + (lenient ? '; Genesys accepts it only if the text is a valid ' + target.type : ''),
      declared: describeDeclared,
      suggestion: `Set type: ${target.type}, or remove type to use the flow's.`
    })
  }
  for (const [what, value] of [['value', input.from === null ? input.value : undefined], ['default', input.fallback]] as const) {
    if (value === undefined) continue
    try {
      convertValue(value, sent)
    } catch (err) {
      if (!(err instanceof ConversionError)) throw err
      problems.push({ ...at, code: 'input_value_invalid', severity: 'error', message: `the ${what} of ${input.name} cannot be sent as ${sent}: ${err.message}`, declared: describeDeclared, suggestion: `Change the ${what} to a valid ${sent}.` })
    }
  }
  return problems
}

/** Type `sent` can go to an input declared `declared`: equal, or an integer into a decimal. */
function fits (sent: InputType, declared: InputType): boolean {
  return sent === declared || (sent === 'integer' && declared === 'decimal') || (sent === 'integer[]' && declared === 'decimal[]')
}

function undeclared (name: string, declared: ReadonlyMap<string, DeclaredInput>, at: Base & { input: string }, flowName: string | null, versionId: string): FlowProblem {
  const names = [...declared.keys()]
  const list = names.length === 0 ? 'none' : names.join(', ')
  const flow = `flow ${flowName === null ? at.flowId : `"${flowName}"`} version ${versionId}`
  const sameButCase = names.find(n => n.toLowerCase() === name.toLowerCase())
  if (sameButCase !== undefined) {
    return { ...at, code: 'input_case_mismatch', severity: 'error', message: `${name} is not an input of ${flow}: the flow declares ${sameButCase}, which differs only in letter case (names are case-sensitive)`, declared: `inputs: ${list}`, suggestion: `Rename the input to "${bare(sameButCase)}" (the bridge adds the "Flow." prefix, so "${sameButCase}" works too).` }
  }
  const closest = closestName(name, names)
  return {
    ...at,
    code: 'input_not_declared',
    severity: 'error',
    message: `${name} is not an input of ${flow}`,
    declared: `inputs: ${list}`,
    suggestion: closest !== null
      ? `Did you mean "${bare(closest)}"? (with or without "Flow.": the bridge adds the prefix)`
      : 'If the flow should take it, tick "Input to Flow" on the variable in Architect and publish; otherwise remove it from the route.'
  }
}

function bare (name: string): string {
  return name.replace(/^Flow\./, '')
}

/** The declared name nearest to `name` (Levenshtein on the bare, lower-cased names), if near enough. */
export function closestName (name: string, candidates: readonly string[]): string | null {
  const wanted = bare(name).toLowerCase()
  let best: { name: string, distance: number } | null = null
  for (const candidate of candidates) {
    const distance = levenshtein(wanted, bare(candidate).toLowerCase())
    if (best === null || distance < best.distance) best = { name: candidate, distance }
  }
  if (best === null) return null
  // Near enough to be a typo: a third of the name, at least 2 edits (e.g. "emial" → "email").
  const limit = Math.max(2, Math.floor(wanted.length / 3))
  return best.distance <= limit ? best.name : null
}

export function levenshtein (a: string, b: string): number {
  if (a === b) return 0
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

export function formatFlowProblem (problem: FlowProblem): string {
  const parts = [`${problem.severity === 'error' ? 'error' : 'warning'}: route ${problem.route}${problem.input === null ? '' : `, input ${problem.input}`}: ${problem.message}`]
  if (problem.declared !== null) parts.push(`flow declares: ${problem.declared}`)
  if (problem.suggestion !== null) parts.push(`suggestion: ${problem.suggestion}`)
  return parts.join('\n    ')
}
