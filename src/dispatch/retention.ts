import type { Log } from '../logging/log.js'
import type { Store } from '../store/store.js'

export interface RetentionOptions {
  store: Store
  log: Log
  /** Succeeded, dry-run and superseded deliveries older than this are deleted. Failed ones stay until replayed or purged by an admin. */
  keepFinishedMs: number
  everyMs: number
  /** Rows per purge call, so one sweep never holds the store for long. */
  batchSize?: number
}

/**
 * Periodically deletes finished deliveries past their retention, in batches, so the store stays
 * the size of the recent past whatever the traffic.
 */
export function startRetention (options: RetentionOptions): { stop: () => void, sweep: () => Promise<number> } {
  const batchSize = options.batchSize ?? 5000
  let running: Promise<number> | null = null

  const sweep = async (): Promise<number> => {
    const before = new Date(Date.now() - options.keepFinishedMs)
    let total = 0
    for (;;) {
      const purged = await options.store.purge({ states: ['succeeded', 'dry_run', 'superseded'], before, limit: batchSize })
      total += purged
      if (purged < batchSize) break
    }
    if (total > 0) options.log.info({ event: 'retention.purged', deliveries: total, before: before.toISOString() }, 'old finished deliveries purged')
    return total
  }

  const timer = setInterval(() => {
    if (running !== null) return
    running = sweep()
      .catch(err => { options.log.warn({ event: 'retention.failed', err }, 'retention sweep failed; will try again'); return 0 })
      .finally(() => { running = null })
  }, options.everyMs)
  timer.unref()
  return { stop: () => { clearInterval(timer) }, sweep }
}
