/**
 * Conversion of mapped values to the value types a flow input expects. A value that cannot be
 * converted is a `ConversionError` with a reason an admin can act on.
 */
export const scalarInputTypes = ['string', 'integer', 'decimal', 'boolean', 'datetime', 'date', 'json'] as const
export type ScalarInputType = typeof scalarInputTypes[number]
export type InputType = ScalarInputType | `${Exclude<ScalarInputType, 'json'>}[]`
export const inputTypes: readonly InputType[] = [
  ...scalarInputTypes,
  ...scalarInputTypes.filter(t => t !== 'json').map(t => `${t}[]` as InputType)
]

export class ConversionError extends Error {}

const integerPattern = /^[+-]?\d+$/
const decimalPattern = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const datePattern = /^\d{4}-\d{2}-\d{2}$/
// Genesys archInteger bounds (fact sheet §1: ±999999999999999).
const maxArchInteger = 999_999_999_999_999

export function convertValue (value: unknown, type: InputType): unknown {
  if (value === null) return null
  if (type.endsWith('[]')) {
    const itemType = type.slice(0, -2) as ScalarInputType
    const list = Array.isArray(value) ? value : [value]
    return list.map((item, index) => {
      try {
        return convertValue(item, itemType)
      } catch (err) {
        throw new ConversionError(`item ${index}: ${(err as Error).message}`)
      }
    })
  }
  switch (type as ScalarInputType) {
    case 'string': return toString(value)
    case 'integer': return toInteger(value)
    case 'decimal': return toDecimal(value)
    case 'boolean': return toBoolean(value)
    case 'datetime': return toDate(value).toISOString()
    case 'date': return toDateOnly(value)
    case 'json': return value
  }
  /* c8 ignore next - the type union is exhaustive */
  throw new ConversionError(`unknown type ${type}`)
}

function describe (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

function toString (value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  throw new ConversionError(`${describe(value)} is ${Array.isArray(value) ? 'a list' : 'an object'}, not a string (use type: json, or map one of its fields)`)
}

function toInteger (value: unknown): number {
  const number = typeof value === 'string' && integerPattern.test(value.trim()) ? Number(value.trim()) : value
  if (typeof number !== 'number' || !Number.isInteger(number)) throw new ConversionError(`${describe(value)} is not an integer`)
  if (Math.abs(number) > maxArchInteger) throw new ConversionError(`${describe(value)} is outside the integer range of a flow input (±${maxArchInteger})`)
  return number
}

function toDecimal (value: unknown): number {
  const number = typeof value === 'string' && decimalPattern.test(value.trim()) ? Number(value.trim()) : value
  if (typeof number !== 'number' || !Number.isFinite(number)) throw new ConversionError(`${describe(value)} is not a number`)
  return number
}

function toBoolean (value: unknown): boolean {
  if (typeof value === 'boolean') return value
  const text = typeof value === 'string' ? value.trim().toLowerCase() : typeof value === 'number' ? String(value) : ''
  if (['true', '1', 'yes', 'y', 'on'].includes(text)) return true
  if (['false', '0', 'no', 'n', 'off'].includes(text)) return false
  throw new ConversionError(`${describe(value)} is not a boolean (true/false, yes/no, 1/0)`)
}

function toDate (value: unknown): Date {
  let date: Date | null = null
  if (typeof value === 'number' && Number.isFinite(value)) date = new Date(value < 1e11 ? value * 1000 : value)
  else if (typeof value === 'string' && /^\d{10,13}$/.test(value.trim())) {
    const n = Number(value.trim())
    date = new Date(n < 1e11 ? n * 1000 : n)
  } else if (typeof value === 'string' && value.trim() !== '') date = new Date(value.trim())
  if (date === null || Number.isNaN(date.getTime())) throw new ConversionError(`${describe(value)} is not a date or time`)
  return date
}

function toDateOnly (value: unknown): string {
  if (typeof value === 'string' && datePattern.test(value.trim())) return value.trim()
  return toDate(value).toISOString().slice(0, 10)
}
