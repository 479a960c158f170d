/**
 * Reads a flow version's raw `inputSchema` (JSON Schema draft-07 with Architect `definitions`) into the
 * declared inputs and the bridge's value types. The typed SDK models drop `definitions`, so this reads
 * the raw JSON: each property is a `$ref` to a definition, an array of such refs, or (defensively) an
 * inline definition. A definition's type is taken from its `archDataTypeId` first, then from its name,
 * then from the shape of its `oneOf`/`type`; nothing is assumed from the property name.
 * @see /work/shared/genesys-api.md §8 (observed shape) and docs/sandbox.md (input types table)
 */
import type { InputType, ScalarInputType } from '../mapping/input-types.js'

export interface DeclaredInput {
  /** Fully qualified name as the schema lists it, e.g. `Flow.contactId`. */
  name: string
  /** The bridge's type for values of this input; null when the definition is not one the bridge knows. */
  type: InputType | null
  /** What the flow declares, for messages: `archString`, `archInteger[]`, or what was found instead. */
  declared: string
}

export interface FlowInputSchema {
  inputs: ReadonlyMap<string, DeclaredInput>
  /** Inputs the schema lists as required (Genesys usually lists none: inputs fall back to initial values). */
  required: readonly string[]
  /** False when the schema says `additionalProperties: false` (undeclared keys are not inputs). */
  additionalProperties: boolean
}

/** `archDataTypeId` values and definition names → bridge types. */
const byArchDataTypeId: Record<string, ScalarInputType> = {
  str: 'string', string: 'string',
  int: 'integer', integer: 'integer',
  dec: 'decimal', decimal: 'decimal', num: 'decimal', number: 'decimal',
  bool: 'boolean', boolean: 'boolean',
  datetime: 'datetime',
  date: 'date',
  json: 'json'
}
const byDefinitionName: Record<string, ScalarInputType> = {
  archString: 'string',
  archInteger: 'integer',
  archDecimal: 'decimal',
  archNumber: 'decimal',
  archBoolean: 'boolean',
  archDateTime: 'datetime',
  archDate: 'date',
  archJson: 'json'
}

type JsonObject = Record<string, unknown>
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Parses a raw input schema; a missing or empty schema declares no inputs. */
export function readInputSchema (raw: unknown): FlowInputSchema {
  const schema = isObject(raw) ? raw : {}
  const definitions = isObject(schema.definitions) ? schema.definitions : {}
  const properties = isObject(schema.properties) ? schema.properties : {}
  const inputs = new Map<string, DeclaredInput>()
  for (const [name, property] of Object.entries(properties)) {
    const { type, declared } = propertyType(property, definitions)
    inputs.set(name, { name, type, declared })
  }
  const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : []
  return { inputs, required, additionalProperties: schema.additionalProperties !== false }
}

function propertyType (property: unknown, definitions: JsonObject): { type: InputType | null, declared: string } {
  if (!isObject(property)) return { type: null, declared: 'an unreadable property' }
  if (property.type === 'array') {
    const item = scalarType(property.items, definitions)
    // Lists of JSON objects have no bridge type (`json[]`): values pass as the mapping builds them.
    const type = item.type === null || item.type === 'json' ? null : `${item.type}[]` as InputType
    return { type, declared: `${item.declared}[]` }
  }
  return scalarType(property, definitions)
}

function scalarType (node: unknown, definitions: JsonObject): { type: ScalarInputType | null, declared: string } {
  if (!isObject(node)) return { type: null, declared: 'an unreadable definition' }
  if (typeof node.$ref === 'string') {
    const match = /^#\/definitions\/(.+)$/.exec(node.$ref)
    const name = match?.[1]
    const definition = name === undefined ? undefined : definitions[decodeURIComponent(name)]
    if (name === undefined || !isObject(definition)) return { type: null, declared: `an unresolvable $ref ${node.$ref}` }
    return { type: definitionType(definition) ?? byDefinitionName[name] ?? null, declared: name }
  }
  const type = definitionType(node)
  return { type, declared: typeof node.archDataTypeId === 'string' ? `archDataTypeId ${node.archDataTypeId}` : `an inline ${type ?? 'unknown'} definition` }
}

/** The type a definition declares: its `archDataTypeId`, else the shape of its non-null branches. */
function definitionType (definition: JsonObject): ScalarInputType | null {
  if (typeof definition.archDataTypeId === 'string') return byArchDataTypeId[definition.archDataTypeId] ?? null
  const branches = Array.isArray(definition.oneOf) ? definition.oneOf.filter(isObject) : [definition]
  const shapes = branches.map(shapeType).filter((t): t is ScalarInputType => t !== null)
  // archInteger is `null | integer | numeric string`: the non-string branch says what the value is.
  return shapes.find(t => t !== 'string') ?? shapes[0] ?? null
}

function shapeType (branch: JsonObject): ScalarInputType | null {
  switch (branch.type) {
    case 'string': return branch.format === 'date-time' ? 'datetime' : branch.format === 'date' ? 'date' : 'string'
    case 'integer': return 'integer'
    case 'number': return 'decimal'
    case 'boolean': return 'boolean'
    case 'object': return 'json'
    default: return null
  }
}

/** The types a mapping can use from a schema (`buildLaunchRequest`'s `schemaTypes`). */
export function schemaTypes (schema: FlowInputSchema): Map<string, InputType> {
  const types = new Map<string, InputType>()
  for (const input of schema.inputs.values()) if (input.type !== null) types.set(input.name, input.type)
  return types
}
