/**
 * Flow input/output JSON schemas in Genesys' raw format (fact sheet §8), and the launch-time check of
 * `inputData` against a version's declared inputs.
 *
 * `archString` and `archInteger` are copied from real published workflows; the other definitions are the
 * sandbox's guess at the same pattern (their exact shapes are UNCONFIRMED, see docs/sandbox.md).
 * @see https://github.com/GenesysCloudBlueprints/wfm-hris-blueprint (postman_collection, execution GET bodies)
 */
import type { SandboxFlowVersion, SandboxInputType, SandboxScalarType } from './sandbox-types.js'

type ArchKind = SandboxScalarType | 'json'

interface ArchType {
  ref: string
  definition: Record<string, unknown>
  accepts: (value: unknown) => boolean
  expected: string
}

const MAX_ITEMS = 2000
const INTEGER_LIMIT = 999999999999999

const INPUT_DESCRIPTION = 'Schema defining flow input parameters.  Property names map to flow scoped variables marked as a flow input.  If you do not supply a property value for an input variable, the variable value will be set to the initial value configured on it in the flow at flow startup.'
const OUTPUT_DESCRIPTION = 'Schema defining flow output parameters.  Property names map to flow scoped variables marked as a flow output.'

const notSet = (typeName: string) => ({ type: 'null', description: `A NOT_SET ${typeName} value.` })

const codePoints = (value: string) => value.length <= 32000 ? value.length : Array.from(value).length

/** Calendar check on top of the shape, so "2025-02-30" is refused like a real date parser would. */
function isCalendarDate (year: string, month: string, day: string): boolean {
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)))
  return date.getUTCFullYear() === Number(year) && date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day)
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/
// The real archInteger string branch only bounds the length; requiring digits is the sandbox being stricter.
const INTEGER_STRING = /^-?\d{1,15}$/
const DECIMAL_STRING = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/

const ARCH_TYPES: Record<ArchKind, ArchType> = {
  string: {
    ref: 'archString',
    definition: {
      archDataTypeId: 'str',
      oneOf: [notSet('String'), { type: 'string', maxLength: 32000, description: 'A character string.  Examples: "", "Hello", "Just say \\"No!\\""' }]
    },
    accepts: v => v === null || (typeof v === 'string' && codePoints(v) <= 32000),
    expected: 'null or a string of at most 32000 characters'
  },
  integer: {
    ref: 'archInteger',
    definition: {
      archDataTypeId: 'int',
      oneOf: [
        notSet('Integer'),
        { type: 'integer', minimum: -INTEGER_LIMIT, maximum: INTEGER_LIMIT, description: 'An integral numeric value.  Examples: -3, 0, 1736' },
        { type: 'string', minLength: 1, maxLength: 16, description: 'A string representation of an integral numeric value.  Examples: "157", "-999999999999999"' }
      ]
    },
    accepts: v => v === null ||
      (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= INTEGER_LIMIT) ||
      (typeof v === 'string' && INTEGER_STRING.test(v)),
    expected: `null, an integer between -${INTEGER_LIMIT} and ${INTEGER_LIMIT}, or a string of 1-16 characters holding one`
  },
  decimal: {
    ref: 'archDecimal',
    definition: {
      archDataTypeId: 'dec',
      oneOf: [
        notSet('Decimal'),
        { type: 'number', description: 'A decimal numeric value.  Examples: -3.5, 0, 1736.25' },
        { type: 'string', minLength: 1, description: 'A string representation of a decimal numeric value.  Examples: "15.7", "-0.25"' }
      ]
    },
    accepts: v => v === null || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && DECIMAL_STRING.test(v)),
    expected: 'null, a number, or a numeric string'
  },
  boolean: {
    ref: 'archBoolean',
    definition: {
      archDataTypeId: 'bool',
      oneOf: [notSet('Boolean'), { type: 'boolean', description: 'A boolean value.  Examples: true, false' }]
    },
    accepts: v => v === null || typeof v === 'boolean',
    expected: 'null or a JSON boolean'
  },
  datetime: {
    ref: 'archDateTime',
    definition: {
      archDataTypeId: 'datetime',
      oneOf: [notSet('DateTime'), { type: 'string', format: 'date-time', description: 'An ISO-8601 date and time.  Examples: "2025-03-26T19:50:17.823Z"' }]
    },
    accepts: v => {
      if (v === null) return true
      const match = typeof v === 'string' ? DATE_TIME.exec(v) : null
      return match !== null && isCalendarDate(match[1] as string, match[2] as string, match[3] as string)
    },
    expected: 'null or an ISO-8601 date-time string with a UTC offset, e.g. "2025-03-26T19:50:17.823Z"'
  },
  date: {
    ref: 'archDate',
    definition: {
      archDataTypeId: 'date',
      oneOf: [notSet('Date'), { type: 'string', format: 'date', description: 'An ISO-8601 date.  Examples: "2025-03-29"' }]
    },
    accepts: v => {
      if (v === null) return true
      const match = typeof v === 'string' ? DATE.exec(v) : null
      return match !== null && isCalendarDate(match[1] as string, match[2] as string, match[3] as string)
    },
    expected: 'null or a date string YYYY-MM-DD'
  },
  json: {
    ref: 'archJson',
    definition: {
      archDataTypeId: 'json',
      oneOf: [notSet('JSON'), { type: 'object', description: 'A JSON object.  Examples: {}, {"a": 1}' }]
    },
    accepts: v => v === null || (typeof v === 'object' && !Array.isArray(v)),
    expected: 'null or a JSON object'
  }
}

function parseType (type: SandboxInputType): { kind: ArchKind, array: boolean } {
  return type.endsWith('[]')
    ? { kind: type.slice(0, -2) as SandboxScalarType, array: true }
    : { kind: type as ArchKind, array: false }
}

export const INPUT_TYPES: readonly SandboxInputType[] = [
  ...(Object.keys(ARCH_TYPES) as ArchKind[]),
  ...(Object.keys(ARCH_TYPES) as ArchKind[]).filter(k => k !== 'json').map(k => `${k}[]` as SandboxInputType)
]

function buildSchema (title: string, description: string, variables: Record<string, SandboxInputType>): Record<string, unknown> {
  const properties: Record<string, unknown> = {}
  const definitions: Record<string, unknown> = {}
  for (const [name, type] of Object.entries(variables)) {
    const { kind, array } = parseType(type)
    const arch = ARCH_TYPES[kind]
    const ref = { $ref: `#/definitions/${arch.ref}` }
    properties[`Flow.${name}`] = array ? { type: 'array', maxItems: MAX_ITEMS, items: ref } : ref
    definitions[arch.ref] = arch.definition
  }
  const schema: Record<string, unknown> = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title,
    description,
    type: 'object',
    properties,
    additionalProperties: false
  }
  // Real schemas without variables carry no `definitions` key at all.
  if (Object.keys(definitions).length > 0) schema['definitions'] = definitions
  return schema
}

export function buildInputSchema (inputs: Record<string, SandboxInputType>): Record<string, unknown> {
  return buildSchema('Flow input schema', INPUT_DESCRIPTION, inputs)
}

export function buildOutputSchema (outputs: Record<string, SandboxInputType>): Record<string, unknown> {
  return buildSchema('Flow output schema', OUTPUT_DESCRIPTION, outputs)
}

export type InputCheck =
  | { ok: true, accepted: Record<string, unknown> }
  | { ok: false, problems: string[] }

function describe (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

function valueProblem (key: string, value: unknown, type: SandboxInputType): string | null {
  const { kind, array } = parseType(type)
  const arch = ARCH_TYPES[kind]
  if (!array) {
    return arch.accepts(value) ? null : `${key}: ${describe(value)} is not valid for ${arch.ref}; expected ${arch.expected}`
  }
  if (!Array.isArray(value)) return `${key}: ${describe(value)} is not valid; expected an array (at most ${MAX_ITEMS} items) of ${arch.ref}`
  if (value.length > MAX_ITEMS) return `${key}: array has ${value.length} items; at most ${MAX_ITEMS} are allowed`
  const bad = value.findIndex(item => !arch.accepts(item))
  return bad === -1 ? null : `${key}[${bad}]: ${describe(value[bad])} is not valid for ${arch.ref}; expected ${arch.expected}`
}

/** Checks every key and value, so one 400 names all the problems instead of the first only. */
export function checkInputData (
  inputData: Record<string, unknown>,
  version: SandboxFlowVersion,
  unknownInputs: 'reject' | 'ignore'
): InputCheck {
  const problems: string[] = []
  const accepted: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(inputData)) {
    const name = key.slice(5)
    const type = key.startsWith('Flow.') && Object.hasOwn(version.inputs, name) ? version.inputs[name] : undefined
    if (type === undefined) {
      if (unknownInputs === 'reject') problems.push(unknownKeyProblem(key, version))
      continue
    }
    const problem = valueProblem(key, value, type)
    if (problem === null) accepted[key] = value
    else problems.push(problem)
  }
  return problems.length === 0 ? { ok: true, accepted } : { ok: false, problems }
}

function unknownKeyProblem (key: string, version: SandboxFlowVersion): string {
  const declared = Object.keys(version.inputs).map(name => `Flow.${name}`)
  const list = declared.length > 0 ? declared.join(', ') : 'none'
  if (!key.startsWith('Flow.')) {
    const hint = Object.hasOwn(version.inputs, key) ? `; did you mean "Flow.${key}"?` : ''
    return `inputData key "${key}" lacks the "Flow." prefix: keys are flow variable names such as "Flow.x" (declared inputs: ${list})${hint}`
  }
  return `inputData key "${key}" is not an input of flow version ${version.id} (declared inputs: ${list})`
}
