import type { NormalizedEvent } from '../sources/normalized-event.js'

/**
 * Life of a delivery (one event × one matched route):
 * queued → running (leased by one dispatcher) → succeeded | failed | dry_run, or back to queued
 * with a later run_at (retry); superseded when coalesced into a later delivery of the same record.
 */
export const deliveryStates = ['queued', 'running', 'succeeded', 'failed', 'dry_run', 'superseded'] as const
export type DeliveryState = typeof deliveryStates[number]
export const pendingStates: readonly DeliveryState[] = ['queued', 'running']

/** Outcome of one attempt, as recorded. */
export type AttemptOutcome = 'succeeded' | 'retry' | 'failed' | 'dry_run'

export interface AttemptRecord {
  number: number
  startedAt: Date
  durationMs: number
  outcome: AttemptOutcome
  /** HTTP status from Genesys; null for a network error, a dry run or a mapping failure. */
  status: number | null
  error: string | null
  hint: string | null
  correlationId: string | null
  /** The request as sent (inputs a route redacts are masked). */
  request: unknown
  /** Bounded summary of the response body. */
  response: string | null
}

export interface NewDelivery {
  id: string
  route: string
  /** Ordering key: deliveries with the same route and record key launch one at a time, in order. */
  recordKey: string
  runAt: Date
  maxAttempts: number
}

export interface IngestItem {
  eventId: string
  source: string
  dedupeKey: string
  event: NormalizedEvent
  /** The JSON text of `event.raw` as received, when the source has it (SourceEvent.rawJson). */
  rawJson?: string
  receivedAt: Date
  deliveries: NewDelivery[]
}

export interface IngestResult {
  /** False when (source, dedupeKey) was seen before: nothing new was stored. */
  inserted: boolean
  /** The stored event's id (the earlier one for a duplicate). */
  eventId: string
}

export interface ClaimedDelivery {
  id: string
  eventId: string
  route: string
  source: string
  recordKey: string
  /** 1-based number of the attempt this claim starts. */
  attempt: number
  maxAttempts: number
  createdAt: Date
  /** The event this delivery carries (the merged one when others were coalesced into it). */
  event: NormalizedEvent
  leaseUntil: Date
}

export interface RetryUpdate {
  attempt: AttemptRecord
  runAt: Date
}

export interface FinishUpdate {
  attempt: AttemptRecord
  state: 'succeeded' | 'failed' | 'dry_run'
  executionId?: string | null
}

export interface DeliveryFilter {
  state?: DeliveryState | undefined
  route?: string | undefined
  source?: string | undefined
  recordKey?: string | undefined
  /** Created at or after. */
  since?: Date | undefined
}

export interface DeliverySummary {
  id: string
  eventId: string
  route: string
  source: string
  recordKey: string
  state: DeliveryState
  attempts: number
  maxAttempts: number
  runAt: Date
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
  lastStatus: number | null
  lastError: string | null
  hint: string | null
  executionId: string | null
  supersededBy: string | null
  outcome: string | null
}

export interface DeliveryDetail extends DeliverySummary {
  event: NormalizedEvent
  dedupeKey: string
  receivedAt: Date
  /** The last request built for this delivery (redacted inputs masked). */
  request: unknown
  attemptLog: AttemptRecord[]
  outcomeDetail: unknown
  lockedBy: string | null
  lockedUntil: Date | null
}

/** A launched delivery whose execution outcome is still to be found (see `Store.pendingOutcomes`). */
export interface PendingOutcome {
  id: string
  route: string
  executionId: string
  finishedAt: Date
}

export interface Page<T> {
  items: T[]
  /** Opaque; pass back to get the next page; null at the end. */
  nextCursor: string | null
}

export interface QueueStats {
  byState: Record<DeliveryState, number>
  /** Age in ms of the oldest queued or running delivery; null when none is pending. */
  oldestPendingAgeMs: number | null
}

/**
 * Durable store for events and deliveries. Implementations: SQLite (embedded default) and
 * PostgreSQL (several instances). Every method that takes `owner` checks the lease: it returns
 * false, changing nothing, when `owner` no longer holds the delivery.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres'
  /** Stores events and their deliveries; all items of one call commit together or not at all. */
  ingest (items: IngestItem[]): Promise<IngestResult[]>
  /**
   * Leases up to `limit` due deliveries, each the head of its (route, record key) queue with none
   * of that queue running, ordered by run_at. Expired leases count as not running and are reclaimed.
   */
  claim (options: { owner: string, limit: number, leaseMs: number, now?: Date }): Promise<ClaimedDelivery[]>
  /**
   * Folds the queued followers of a claimed delivery's record into it with `mergeEvents`
   * (coalescing); returns the ids it superseded.
   */
  absorbFollowers (id: string, owner: string): Promise<string[]>
  /** Extends a lease still held. */
  extendLease (id: string, owner: string, leaseMs: number): Promise<boolean>
  retry (id: string, owner: string, update: RetryUpdate): Promise<boolean>
  finish (id: string, owner: string, update: FinishUpdate): Promise<boolean>
  /** Gives leases back without counting an attempt (shutdown). */
  release (ids: string[], owner: string): Promise<number>
  /** Puts running deliveries whose lease expired back in the queue; returns how many. */
  reclaimExpired (now?: Date): Promise<number>
  /** Records the outcome of a launched execution (outcome tracking). */
  setOutcome (id: string, outcome: { status: string, detail: unknown, checkedAt: Date }): Promise<void>
  /**
   * Outcome tracking after a restart: succeeded deliveries of `routes` with an execution id and no
   * recorded outcome, finished at or after `finishedAfter`, oldest first, at most `limit`.
   */
  pendingOutcomes (options: { routes: string[], finishedAfter: Date, limit: number }): Promise<PendingOutcome[]>
  getDelivery (id: string): Promise<DeliveryDetail | null>
  listDeliveries (filter: DeliveryFilter, page: { limit: number, cursor?: string | null }): Promise<Page<DeliverySummary>>
  /** Queues finished deliveries again (replay); returns the ids requeued. */
  requeue (filter: DeliveryFilter & { ids?: string[] }, options: { maxAttempts: number, now?: Date }): Promise<string[]>
  /** Deletes finished deliveries (and their attempts, and events left without deliveries) older than `before`. */
  purge (options: { states: DeliveryState[], before: Date, limit?: number }): Promise<number>
  stats (now?: Date): Promise<QueueStats>
  /** Throws when the store cannot be reached. */
  ping (): Promise<void>
  close (): Promise<void>
}

export class StoreUnavailableError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}
