/**
 * When to try a failed launch again. Pure: time and randomness come in as arguments.
 *
 * Defaults (docs/configuration.md): 12 attempts within 24 h, delays from 1 s doubling to at most
 * 10 min, full jitter. 24 h matches how long Salesforce and HubSpot keep redelivering themselves:
 * past that, the CRM data the flow would act on is likely stale.
 */
export interface RetryPolicy {
  maxAttempts: number
  maxAgeMs: number
  baseDelayMs: number
  maxDelayMs: number
}

/** Statuses worth another try: the request was not processed, or may succeed later. */
const retryableStatuses = new Set([408, 429, 500, 502, 503, 504])

export function isRetryableStatus (status: number): boolean {
  return retryableStatuses.has(status)
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base·2^(attempt−1))]. */
export function backoffDelay (attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 40))
  return Math.round(random() * ceiling)
}

export type RetryDecision =
  | { retry: true, runAt: Date, delayMs: number }
  | { retry: false, reason: string }

export function decideRetry (input: {
  /** The attempt that just failed, 1-based. */
  attempt: number
  maxAttempts: number
  createdAt: Date
  now: Date
  /** Genesys's Retry-After in ms: the delay is never shorter. */
  retryAfterMs: number | null
  policy: RetryPolicy
  random: () => number
}): RetryDecision {
  if (input.attempt >= input.maxAttempts) {
    return { retry: false, reason: `gave up after ${input.attempt} attempt${input.attempt === 1 ? '' : 's'} (max ${input.maxAttempts})` }
  }
  const delayMs = Math.max(backoffDelay(input.attempt, input.policy, input.random), input.retryAfterMs ?? 0)
  const runAt = new Date(input.now.getTime() + delayMs)
  const ageAtRetry = runAt.getTime() - input.createdAt.getTime()
  if (ageAtRetry > input.policy.maxAgeMs) {
    return { retry: false, reason: `gave up: the next attempt would be ${Math.round(ageAtRetry / 60_000)} min after the event arrived (max ${Math.round(input.policy.maxAgeMs / 60_000)} min)` }
  }
  return { retry: true, runAt, delayMs }
}
