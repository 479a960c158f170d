/**
 * Per-client rolling-window limiter modelled on `client.credentials.token.rate.per.minute` (fact sheet §6):
 * at most `perMinute` accepted API requests per client in any 60 s. Rejected requests are not counted,
 * so a client that waits `Retry-After` seconds is let through again.
 */

export const WINDOW_MS = 60_000

export type RateDecision = { ok: true } | { ok: false, retryAfterSeconds: number }

export interface RateLimiter {
  take (clientId: string): RateDecision
  reset (): void
}

export function createRateLimiter (perMinute: number, now: () => number): RateLimiter {
  // Timestamps of accepted requests per client, oldest first; never longer than perMinute.
  const windows = new Map<string, number[]>()
  return {
    take (clientId) {
      if (perMinute <= 0) return { ok: true }
      const time = now()
      let stamps = windows.get(clientId)
      if (stamps === undefined) windows.set(clientId, stamps = [])
      while (stamps.length > 0 && (stamps[0] as number) <= time - WINDOW_MS) stamps.shift()
      if (stamps.length < perMinute) {
        stamps.push(time)
        return { ok: true }
      }
      const freeAt = (stamps[0] as number) + WINDOW_MS
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((freeAt - time) / 1000)) }
    },
    reset () {
      windows.clear()
    }
  }
}
