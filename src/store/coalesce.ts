import type { NormalizedEvent } from '../sources/normalized-event.js'

/**
 * Folds later updates of one record into one event: fields merged with the newest winning,
 * `record.changed` the union, event identity and time from the newest. `followers` come in
 * event order (occurred, then arrival).
 */
export function mergeEvents (carried: NormalizedEvent, followers: NormalizedEvent[]): NormalizedEvent {
  let merged = carried
  for (const next of followers) {
    const changed = merged.record.changed === null && next.record.changed === null
      ? null
      : [...new Set([...(merged.record.changed ?? []), ...(next.record.changed ?? [])])]
    merged = {
      event: next.event,
      record: {
        type: next.record.type ?? merged.record.type,
        id: next.record.id ?? merged.record.id,
        fields: { ...merged.record.fields, ...next.record.fields },
        changed
      },
      raw: next.raw,
      source: next.source
    }
  }
  return merged
}
