import type { NormalizedEvent } from '../../sources/normalized-event.js'

/**
 * The stored form of a normalized event. Where `record.fields` is an object inside `raw` (the
 * generic source's `fields: record`), it is stored once, as a path into `raw` (`record.fieldsAt`):
 * otherwise every stored event carries the record twice, and the row and its WAL frames are about
 * twice the size. Rows written without `fieldsAt` read back unchanged.
 */
export function encodeEvent (event: NormalizedEvent): string {
  const fieldsAt = pathOf(event.raw, event.record.fields)
  if (fieldsAt === undefined) return JSON.stringify(event)
  return JSON.stringify({ ...event, record: { ...event.record, fields: undefined, fieldsAt } })
}

export function decodeEvent (text: string): NormalizedEvent {
  const stored = JSON.parse(text) as NormalizedEvent & { record: { fieldsAt?: string[] } }
  const { fieldsAt, ...record } = stored.record
  if (fieldsAt === undefined) return stored
  let fields: unknown = stored.raw
  for (const key of fieldsAt) fields = (fields as Record<string, unknown>)[key]
  return { ...stored, record: { ...record, fields: fields as Record<string, unknown> } }
}

/** The keys leading from `root` to `target` (the same object), searching two levels deep. */
function pathOf (root: unknown, target: object): string[] | undefined {
  if (!isObject(root) || Object.keys(target).length === 0) return undefined
  for (const [key, value] of Object.entries(root)) {
    if (value === target) return [key]
  }
  for (const [key, value] of Object.entries(root)) {
    if (!isObject(value)) continue
    for (const [inner, innerValue] of Object.entries(value)) {
      if (innerValue === target) return [key, inner]
    }
  }
  return undefined
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
