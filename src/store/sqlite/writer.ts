import { closeSync, fdatasync, fsyncSync, openSync } from 'node:fs'
import { dirname, extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { StoreUnavailableError } from '../store.js'
import { Checkpointer } from './checkpointer.js'
import { GroupCommitter } from './group-commit.js'
import { SqliteWrites, type WriteOp } from './writes.js'

type Args<K extends WriteOp> = Parameters<SqliteWrites[K]>
type Result<K extends WriteOp> = ReturnType<SqliteWrites[K]>

/**
 * Runs the store's writes (SqliteWrites) through one group commit. `durable: false` answers once
 * committed, before the fsync (see GroupCommitter.run).
 */
export interface SqliteWriter {
  run<K extends WriteOp>(op: K, args: Args<K>, durable: boolean): Promise<Result<K>>
  /** Set once the writer can take no more writes; every write then rejects with it. */
  readonly failure: StoreUnavailableError | undefined
  /** Resolves once the writer can write; rejects if it never will. */
  whenReady(): Promise<void>
  /** Answers what was asked so far, then stops. */
  close(): Promise<void>
}

export interface WriterOptions {
  /** The database file; null for `:memory:` (no WAL to sync or checkpoint). */
  file: string | null
  /** Fsync the WAL before answering durable writes (synchronous=FULL). */
  durable: boolean
}

/** Writes on the calling thread, through the given connection. */
export class InlineWriter implements SqliteWriter {
  readonly failure = undefined
  readonly #writes: SqliteWrites
  readonly #committer: GroupCommitter
  readonly #wal: WalSync | undefined
  readonly #checkpointer: Checkpointer | undefined

  constructor (db: Database.Database, options: WriterOptions) {
    configureWriter(db)
    this.#writes = new SqliteWrites(db)
    if (options.file !== null && !db.readonly) {
      if (options.durable) this.#wal = new WalSync(options.file)
      this.#checkpointer = new Checkpointer(db, options.file)
    }
    const wal = this.#wal
    const checkpointer = this.#checkpointer
    this.#committer = new GroupCommitter(db, {
      ...(wal === undefined ? {} : { sync: async () => { await wal.sync() } }),
      ...(checkpointer === undefined ? {} : { committed: () => { checkpointer.committed() } })
    })
  }

  async whenReady (): Promise<void> {}

  async run<K extends WriteOp>(op: K, args: Args<K>, durable: boolean): Promise<Result<K>> {
    const write = this.#writes[op] as (...a: Args<K>) => Result<K>
    return await this.#committer.run(() => write.apply(this.#writes, args), { durable })
  }

  async close (): Promise<void> {
    await this.#committer.drain()
    await this.#checkpointer?.close()
    this.#wal?.close()
  }
}

/** Pragmas of the connection that writes; the file is already in WAL mode and migrated. */
export function configureWriter (db: Database.Database): void {
  // SQLite's own per-commit fsync would block the writer; durable stores sync the WAL off it
  // instead (WalSync), and SQLite still syncs around every checkpoint as NORMAL does.
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  // Savepoint journals in memory rather than temporary files.
  db.pragma('temp_store = MEMORY')
  db.pragma('busy_timeout = 5000')
}

const fdatasyncAsync = promisify(fdatasync)

/**
 * The WAL file, fsynced on a libuv thread. Committed frames are appended to the WAL before the
 * commit returns, so an fsync started after a commit makes it durable, as `synchronous=FULL`
 * would. The file exists from the first read of a WAL-mode database and lives as long as the
 * database has an open connection, so one descriptor serves for the writer's life.
 */
class WalSync {
  readonly #fd: number

  constructor (file: string) {
    this.#fd = openSync(`${file}-wal`, 'r')
    // The WAL's directory entry must be durable too, or a power cut could lose the file itself.
    const dir = openSync(dirname(file), 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
  }

  async sync (): Promise<void> {
    await fdatasyncAsync(this.#fd)
  }

  close (): void {
    closeSync(this.#fd)
  }
}

/** What the store posts to the writer thread: the writes asked for during one turn of its event loop. */
export interface WriteCall { id: number, op: WriteOp, args: unknown[], durable: boolean }
export type WriteReply = { id: number, ok: true, value: unknown } | { id: number, ok: false, error: { name: string, message: string, code?: unknown } }
export type WriterThreadMessage = { kind: 'ready' } | { kind: 'replies', replies: WriteReply[] }

// Built, the writer thread is writer-thread.js beside this file; under the test runner's loader, .ts.
const threadEntry = new URL(`./writer-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

/**
 * Writes on a worker thread with its own connection, so the event loop that answers webhooks never
 * runs an insert, a commit or a checkpoint: those were a quarter of its time per durable webhook
 * (docs/benchmarks.md). The writes asked for during one turn of the event loop go over in one
 * message, and the thread's group commit answers them together.
 */
export class ThreadWriter implements SqliteWriter {
  #failure: StoreUnavailableError | undefined
  readonly #worker: Worker
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (reason: unknown) => void }>()
  #outbox: WriteCall[] = []
  #nextId = 1
  #scheduled = false
  #closing: Promise<void> | undefined
  readonly #ready: Promise<void>
  #readyCallbacks: { resolve: () => void, reject: (reason: unknown) => void } | undefined

  constructor (options: WriterOptions & { file: string }) {
    this.#ready = new Promise((resolve, reject) => { this.#readyCallbacks = { resolve, reject } })
    // Nobody need wait for it: writes queue until the thread is up.
    this.#ready.catch(() => {})
    this.#worker = new Worker(threadEntry, { workerData: options })
    this.#worker.unref()
    this.#worker.on('message', (message: WriterThreadMessage) => {
      if (message.kind === 'ready') this.#readyCallbacks?.resolve()
      else this.#settle(message.replies)
    })
    this.#worker.on('error', error => { this.#fail(`SQLite writer thread failed: ${error.message}`, error) })
    this.#worker.on('exit', code => { this.#fail(`SQLite writer thread exited with code ${code}`) })
  }

  get failure (): StoreUnavailableError | undefined {
    return this.#failure
  }

  async whenReady (): Promise<void> {
    await this.#ready
  }

  async run<K extends WriteOp>(op: K, args: Args<K>, durable: boolean): Promise<Result<K>> {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#closing !== undefined) throw new StoreUnavailableError('SQLite store is closing')
    return await new Promise<Result<K>>((resolve, reject) => {
      const id = this.#nextId++
      if (this.#pending.size === 0) this.#worker.ref()
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.#outbox.push({ id, op, args, durable })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => { this.#post() })
      }
    })
  }

  async close (): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#failure !== undefined) return
      const exited = new Promise<void>(resolve => this.#worker.once('exit', () => { resolve() }))
      this.#worker.ref()
      // Writes asked for this turn go first: the thread answers everything it got, then exits.
      this.#post()
      this.#worker.postMessage('close')
      await exited
    })()
    await this.#closing
  }

  #post (): void {
    this.#scheduled = false
    const calls = this.#outbox
    this.#outbox = []
    if (calls.length === 0) return
    try {
      this.#worker.postMessage(calls)
    } catch (error) {
      // Arguments that cannot be cloned: a bug in the caller, answered like a write that threw.
      for (const call of calls) this.#answer(call.id, (pending) => { pending.reject(error) })
    }
  }

  #settle (replies: WriteReply[]): void {
    for (const reply of replies) {
      this.#answer(reply.id, pending => {
        if (reply.ok) pending.resolve(reply.value)
        else pending.reject(reviveError(reply.error))
      })
    }
  }

  #answer (id: number, settle: (pending: { resolve: (value: unknown) => void, reject: (reason: unknown) => void }) => void): void {
    const pending = this.#pending.get(id)
    if (pending === undefined) return
    this.#pending.delete(id)
    // Idle, the thread must not keep the process alive; closing, it must until it has exited.
    if (this.#pending.size === 0 && this.#closing === undefined) this.#worker.unref()
    settle(pending)
  }

  #fail (message: string, cause?: unknown): void {
    // A clean exit after close() has answered everything; anything else is an outage.
    if (this.#closing !== undefined && this.#pending.size === 0) return
    this.#failure ??= new StoreUnavailableError(message, cause === undefined ? undefined : { cause })
    this.#readyCallbacks?.reject(this.#failure)
    for (const id of [...this.#pending.keys()]) this.#answer(id, pending => { pending.reject(this.#failure) })
  }
}

function reviveError (error: { name: string, message: string, code?: unknown }): Error {
  if (error.name === 'StoreUnavailableError') return new StoreUnavailableError(error.message)
  return Object.assign(new Error(error.message), error)
}
