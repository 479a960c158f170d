/**
 * The budget every Genesys call spends from: launches, schema reads, outcome polls and token
 * requests alike, because Genesys counts them all against one client (fact sheet §6).
 */
export interface RateLimiter {
  /** Resolves when one call may start; rejects with `signal`'s reason when aborted. */
  acquire (signal?: AbortSignal): Promise<void>
  /** Genesys answered 429: nobody calls until `until`, then one probe goes first. */
  pause (until: Date): void
  /** A call ended with anything but a 429 (an answer or a network error); ends a probe. */
  answered (): void
  /** Time until the current pause ends, 0 when not paused. */
  pausedForMs (): number
  /** Calls that could start now without waiting (Infinity when unlimited). */
  available (): number
  /** ms until at least one call could start: 0 now, Infinity while a probe is out. */
  msUntilAvailable (): number
}

/**
 * The refill rate that keeps every 60 s window within `perMinute` calls, burst included: Genesys
 * counts calls over a rolling minute, so a bucket refilled at the full rate would allow
 * burst + perMinute in the first minute and draw a 429.
 */
export function sustainedPerMinute (perMinute: number, burst: number): number {
  if (perMinute <= 0) return 0
  return Math.max(1, perMinute - Math.max(1, burst))
}

export interface TokenBucketOptions {
  perMinute: number
  burst: number
  now?: () => number
  onWait?: (ms: number) => void
}

/**
 * An in-process token bucket refilled at `perMinute / 60` per second and holding at most `burst`
 * tokens. Waiters are served first in, first out. `perMinute: 0` turns the limit off (pauses still apply).
 */
export class TokenBucket implements RateLimiter {
  readonly #perMs: number
  readonly #burst: number
  readonly #now: () => number
  readonly #onWait: ((ms: number) => void) | undefined
  #tokens: number
  #updatedAt: number
  #pausedUntil = 0
  #probing = false
  #probeInFlight = false
  #waiters: Array<{ resolve: () => void, reject: (err: unknown) => void, signal: AbortSignal | undefined, onAbort: () => void }> = []
  #timer: NodeJS.Timeout | null = null

  constructor (options: TokenBucketOptions) {
    this.#burst = Math.max(1, options.burst)
    this.#perMs = sustainedPerMinute(options.perMinute, this.#burst) / 60_000
    this.#now = options.now ?? Date.now
    this.#onWait = options.onWait
    this.#tokens = this.#burst
    this.#updatedAt = this.#now()
  }

  async acquire (signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.#waiters.length === 0 && this.#tryTake()) return
    const queuedAt = this.#now()
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiters = this.#waiters.filter(w => w !== waiter)
          if (this.#waiters.length === 0 && this.#timer !== null) {
            clearTimeout(this.#timer)
            this.#timer = null
          }
          reject(signal?.reason)
        }
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.#waiters.push(waiter)
      this.#schedule()
    })
    this.#onWait?.(this.#now() - queuedAt)
  }

  pause (until: Date): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, until.getTime())
    this.#probing = true
    this.#probeInFlight = false
    this.#tokens = 0
    this.#schedule()
  }

  answered (): void {
    if (!this.#probing) return
    this.#probing = false
    this.#probeInFlight = false
    this.#updatedAt = this.#now()
    this.#schedule()
  }

  pausedForMs (): number {
    return Math.max(0, this.#pausedUntil - this.#now())
  }

  available (): number {
    if (this.pausedForMs() > 0) return 0
    if (this.#probing) return this.#probeInFlight ? 0 : 1
    if (this.#perMs === 0) return Infinity
    this.#refill()
    return Math.max(0, Math.floor(this.#tokens) - this.#waiters.length)
  }

  msUntilAvailable (): number {
    const paused = this.pausedForMs()
    if (paused > 0) return paused
    if (this.#probing) return this.#probeInFlight ? Infinity : 0
    if (this.available() > 0) return 0
    return Math.max(1, Math.ceil((1 + this.#waiters.length - this.#tokens) / this.#perMs))
  }

  #refill (): void {
    const now = this.#now()
    if (this.#perMs > 0) this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#updatedAt) * this.#perMs)
    this.#updatedAt = now
  }

  #tryTake (): boolean {
    if (this.pausedForMs() > 0) return false
    if (this.#probing) {
      if (this.#probeInFlight) return false
      this.#probeInFlight = true
      return true
    }
    if (this.#perMs === 0) return true
    this.#refill()
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return true
    }
    return false
  }

  #schedule (): void {
    if (this.#timer !== null) return
    while (this.#waiters.length > 0 && this.#tryTake()) {
      const waiter = this.#waiters.shift()!
      waiter.signal?.removeEventListener('abort', waiter.onAbort)
      waiter.resolve()
    }
    if (this.#waiters.length === 0) return
    let delay = this.pausedForMs()
    if (delay === 0 && !this.#probing) delay = Math.max(1, Math.ceil((1 - this.#tokens) / this.#perMs))
    if (delay === 0) return // waiting for the probe: answered() or pause() reschedules
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#schedule()
    }, delay)
  }
}
