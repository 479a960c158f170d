import type Database from 'better-sqlite3'
import { StoreUnavailableError } from '../store.js'

interface PendingWrite {
  run: () => unknown
  durable: boolean
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
}

export interface GroupCommitOptions {
  /** Makes every transaction committed before it started durable (an fsync of the WAL). */
  sync?: () => Promise<void>
  /** Called after each group's commit, before its callers are answered. */
  committed?: () => void
}

type Settle = (failure?: unknown) => void
type WriteResult = { ok: true, value: unknown } | { ok: false, error: unknown }

/**
 * Group commit: every write asked for during one turn of the event loop runs in one transaction,
 * so concurrent requests share one commit instead of paying one each. A write that throws rolls
 * back alone (the group is then replayed with a savepoint per write); callers are answered only once
 * the commit is durable.
 *
 * With `sync` (the connection then runs `synchronous=NORMAL`), durability is an fsync of the WAL
 * that runs off the event loop: the loop goes on parsing the next webhooks while the last group
 * syncs, and one fsync covers every group committed before it started. This is what
 * `synchronous=FULL` does at each commit, without blocking the loop for the disk.
 *
 * One fsync runs at a time, and durable writes asked for while it runs wait for it to end, then
 * commit together. They could not be answered sooner (a second fsync of the same file waits for the
 * first in the kernel), and under load the groups grow from one turn's requests to everything that
 * arrived during an fsync: fewer, larger transactions write fewer WAL pages per webhook.
 */
export class GroupCommitter {
  readonly #db: Database.Database
  readonly #sync: (() => Promise<void>) | undefined
  readonly #committed: (() => void) | undefined
  #queue: PendingWrite[] = []
  /** A flush is due: on the next turn, or (`#deferred`) when the fsync in flight ends. */
  #scheduled = false
  #deferred = false
  /** Committed groups waiting for an fsync that started after their commit, oldest first. */
  #unsynced: Array<{ group: number, settle: Settle }> = []
  #committedGroups = 0
  /** The newest group an fsync in flight will make durable. */
  #syncRequestedUpTo = 0
  #syncInFlight = false
  #whenSynced: Array<() => void> = []

  constructor (db: Database.Database, options: GroupCommitOptions = {}) {
    this.#db = db
    this.#sync = options.sync
    this.#committed = options.committed
  }

  /**
   * `write` runs synchronously inside the group's transaction. It may run twice (a write of the same
   * group threw and the group is replayed one savepoint per write), so it must only touch the database.
   * `durable: false` answers right after the commit, without waiting for the fsync: for writes whose
   * loss in a power cut costs nothing that the at-least-once guarantee does not already allow.
   */
  async run<T> (write: () => T, options: { durable?: boolean } = {}): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      const durable = options.durable ?? true
      this.#queue.push({ run: write, durable, resolve: resolve as (value: unknown) => void, reject })
      if (!this.#scheduled || (this.#deferred && !durable)) {
        this.#scheduled = true
        this.#deferred = false
        setImmediate(() => { this.#flush() })
      }
    })
  }

  /** Resolves once everything queued so far has been committed (and synced) or rejected. */
  async drain (): Promise<void> {
    while (this.#queue.length > 0 || this.#scheduled || this.#unsynced.length > 0) {
      if (this.#unsynced.length > 0) await new Promise<void>(resolve => this.#whenSynced.push(resolve))
      else await new Promise<void>(resolve => setImmediate(resolve))
    }
  }

  #flush (): void {
    // A write that need not be durable (a claim) is not held back for someone else's fsync.
    if (this.#syncInFlight && this.#queue.every(write => write.durable)) {
      this.#deferred = true
      return
    }
    this.#scheduled = false
    const batch = this.#queue
    this.#queue = []
    if (batch.length === 0) return
    let results: WriteResult[]
    try {
      results = this.#commitTogether(batch) ?? this.#commitEachInSavepoint(batch)
    } catch (error) {
      const unavailable = new StoreUnavailableError(`SQLite commit failed: ${(error as Error).message}`, { cause: error })
      for (const write of batch) write.reject(unavailable)
      return
    }
    this.#committed?.()
    const sync = this.#sync
    // Only what waits for the fsync is kept until it ends: a claim's deliveries are not.
    const waiting: Array<{ write: PendingWrite, result: WriteResult }> = []
    batch.forEach((write, i) => {
      if (sync !== undefined && write.durable) waiting.push({ write, result: results[i]! })
      else settleWrite(write, results[i]!)
    })
    if (sync === undefined || waiting.length === 0) return
    this.#unsynced.push({ group: ++this.#committedGroups, settle: failure => { for (const { write, result } of waiting) settleWrite(write, result, failure) } })
    this.#startSync(sync)
  }

  /**
   * The fast path: every write of the group in one transaction, no savepoints (a savepoint per write
   * made each webhook's insert about twice as slow). Undefined when a write of a larger group threw:
   * the transaction is rolled back and the group runs again through the savepoints.
   */
  #commitTogether (batch: PendingWrite[]): WriteResult[] | undefined {
    const results: WriteResult[] = []
    try {
      this.#db.transaction(() => {
        for (const write of batch) results.push({ ok: true, value: write.run() })
      }).immediate()
      return results
    } catch (error) {
      if (isStorageFailure(error)) throw error
      return batch.length === 1 ? [{ ok: false, error }] : undefined
    }
  }

  /** Each write in its own savepoint, so one that throws rolls back alone and the others commit. */
  #commitEachInSavepoint (batch: PendingWrite[]): WriteResult[] {
    const results: WriteResult[] = []
    this.#db.transaction(() => {
      for (const write of batch) {
        try {
          results.push({ ok: true, value: this.#db.transaction(write.run)() })
        } catch (error) {
          if (isStorageFailure(error)) throw error
          results.push({ ok: false, error })
        }
      }
    }).immediate()
    return results
  }

  /** Starts an fsync covering every group committed so far, unless one is in flight. */
  #startSync (sync: () => Promise<void>): void {
    if (this.#syncRequestedUpTo >= this.#committedGroups || this.#syncInFlight) return
    const upTo = this.#committedGroups
    this.#syncRequestedUpTo = upTo
    this.#syncInFlight = true
    sync().then(() => { this.#synced(sync, upTo) }, (error: unknown) => {
      this.#synced(sync, upTo, new StoreUnavailableError(`SQLite WAL fsync failed: ${(error as Error).message}`, { cause: error }))
    })
  }

  #synced (sync: () => Promise<void>, upTo: number, failure?: StoreUnavailableError): void {
    this.#syncInFlight = false
    while (this.#unsynced.length > 0 && this.#unsynced[0]!.group <= upTo) this.#unsynced.shift()!.settle(failure)
    if (this.#deferred) {
      // On the next turn, so the requests read in this one join the group; its commit starts the
      // fsync that also covers any group left unsynced.
      this.#deferred = false
      setImmediate(() => { this.#flush() })
    } else if (this.#unsynced.length > 0) {
      this.#startSync(sync)
    }
    if (this.#unsynced.length === 0) for (const resolve of this.#whenSynced.splice(0)) resolve()
  }
}

function settleWrite (write: PendingWrite, result: WriteResult, failure?: unknown): void {
  if (failure !== undefined) write.reject(failure)
  else if (result.ok) write.resolve(result.value)
  else write.reject(result.error)
}

/** Errors that mean the database itself cannot take writes (as opposed to a constraint on one row). */
function isStorageFailure (error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|BUSY|LOCKED|PROTOCOL|NOMEM)/.test(code)
}
