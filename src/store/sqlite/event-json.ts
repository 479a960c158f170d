import type { NormalizedEvent } from '../../sources/normalized-event.js'

/**
 * The stored form of a normalized event. Where `record.fields` is an object inside `raw` (the
 * generic source's `fields: record`), it is stored once, as a path into `raw` (`record.fieldsAt`):
 * otherwise every stored event carries the record twice, and the row and its WAL frames are about
 * twice the size. Rows written without `fieldsAt` read back unchanged.
 *
 * `rawJson`, the text `raw` was parsed from, is spliced in as it came instead of serializing `raw`
 * again (that took about 4% of the event loop's time per generic webhook: docs/benchmarks.md).
 */
export function encodeEvent (event: NormalizedEvent, rawJson?: string): string {
  const fieldsAt = pathOf(event.raw, event.record.fields)
  const record = fieldsAt === undefined ? event.record : { ...event.record, fields: undefined, fieldsAt }
  if (rawJson === undefined) return fieldsAt === undefined ? JSON.stringify(event) : JSON.stringify({ ...event, record })
  const rest = JSON.stringify({ event: event.event, record, source: event.source })
  return `${rest.slice(0, -1)},"raw":${rawJson}}`
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
  if (!isObject(root) || isEmpty(target)) return undefined
  for (const key in root) {
    if (Object.hasOwn(root, key) && root[key] === target) return [key]
  }
  for (const key in root) {
    const value = root[key]
    if (!Object.hasOwn(root, key) || !isObject(value)) continue
    for (const inner in value) {
      if (Object.hasOwn(value, inner) && value[inner] === target) return [key, inner]
    }
  }
  return undefined
}

function isEmpty (value: object): boolean {
  for (const key in value) if (Object.hasOwn(value, key)) return false
  return true
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
