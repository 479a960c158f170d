import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'

/**
 * Copies the WAL back into the database file from a worker thread with its own connection, so
 * the event loop never runs a checkpoint. SQLite's automatic checkpoint runs inside the commit
 * that crosses 1,000 WAL pages: about 4 MB of writes and two fsyncs on the event loop every few
 * hundred webhooks, a third of the store's cost per webhook (docs/benchmarks.md).
 *
 * PASSIVE checkpoints run beside readers and the writer without blocking them. The WAL only starts
 * again from the beginning when a checkpoint has copied all of it before the next commit, which a
 * checkpoint on another thread rarely achieves under steady writes: once the WAL passes
 * RESTART_AT_FRAMES, the next commit finishes the copy on the event loop (the frames written since
 * the worker's last pass, a few hundred at most), and the commit after it restarts the WAL. With
 * `synchronous=NORMAL` a checkpoint syncs the WAL before copying and the database file after, so
 * nothing the WAL made durable is lost when it restarts. If the worker stops, SQLite's own
 * automatic checkpoint is switched back on.
 */
export class Checkpointer {
  readonly #db: Database.Database
  readonly #worker: Worker
  readonly #catchUp: Database.Statement
  #lastRequest = 0
  #walFrames = 0
  #closed = false

  constructor (db: Database.Database, file: string) {
    this.#db = db
    db.pragma('wal_autocheckpoint = 0')
    this.#catchUp = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
    this.#worker = new Worker(workerSource, {
      eval: true,
      workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3') }
    })
    this.#worker.unref()
    this.#worker.on('message', (result: CheckpointResult) => { this.#walFrames = result.log })
    this.#worker.on('error', () => { this.#fallBack() })
    this.#worker.on('exit', () => { this.#fallBack() })
  }

  /** After a commit: asks for a checkpoint, at most every CHECKPOINT_EVERY_MS. */
  committed (): void {
    if (this.#walFrames >= RESTART_AT_FRAMES && !this.#closed) {
      try {
        const result = this.#catchUp.get() as CheckpointResult
        if (result.busy === 0 && result.checkpointed === result.log) this.#walFrames = 0
      } catch {
        // The commit is already done; a checkpoint that cannot run now is tried at the next one.
      }
    }
    const now = Date.now()
    if (now - this.#lastRequest < CHECKPOINT_EVERY_MS || this.#closed) return
    this.#lastRequest = now
    this.#worker.postMessage('checkpoint')
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const exited = new Promise(resolve => this.#worker.once('exit', resolve))
    // Unreferenced so an idle store never holds the process open; waiting for its exit must.
    this.#worker.ref()
    this.#worker.postMessage('close')
    await exited
  }

  #fallBack (): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#db.open) this.#db.pragma('wal_autocheckpoint = 1000')
  }
}

const CHECKPOINT_EVERY_MS = 100
/** 16 MB of 4 KB pages. */
const RESTART_AT_FRAMES = 4096

interface CheckpointResult { busy: number, log: number, checkpointed: number }

// Plain JavaScript run with `eval`, so the worker needs no build step or loader of its own.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.file, { fileMustExist: true })
db.pragma('synchronous = NORMAL')
db.pragma('busy_timeout = 5000')
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
parentPort.on('message', message => {
  if (message === 'close') {
    db.close()
    process.exit(0)
  }
  parentPort.postMessage(checkpoint.get())
})
`
