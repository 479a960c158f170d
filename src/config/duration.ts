const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `500ms`, `3s`, `2m`, `1h`, `7d` or a plain number of milliseconds → milliseconds; null if unreadable. */
export function parseDuration (value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value)
  if (match === null) return null
  return Math.round(Number(match[1]) * (units[match[2] ?? 'ms'] ?? 1))
}
