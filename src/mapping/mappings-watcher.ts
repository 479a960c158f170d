/**
 * Hot reload of MAPPINGS_FILE, on a file change (watched) or on demand (SIGHUP). A good file
 * is swapped in whole (`MappingsHolder.replace`): work already under way keeps the snapshot it took.
 * A bad one is rejected: the last good mappings stay in force, the problems (paths, lines) are logged
 * and kept on the holder for /readyz and the admin API. Nothing here throws at the caller.
 *
 * The directory is watched, not the file: editors save by writing a new file and renaming it over the
 * old one (vim, IntelliJ), and Kubernetes ConfigMaps swap a `..data` symlink. Events are debounced,
 * and a reload whose content hash is unchanged is a no-op.
 * @see https://nodejs.org/docs/latest-v20.x/api/fs.html#caveats (fs.watch: filenames, rename events)
 */
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import { MappingsFileError, formatPath, type LoadOptions } from '../config/mappings-file.js'
import type { Log } from '../logging/log.js'
import type { MappingsHolder } from './mappings-holder.js'
import { loadMappings, parseMappings, type Mappings } from './mappings.js'

export type ReloadReason = 'watch' | 'sighup'

export type ReloadResult =
  | { status: 'reloaded', mappings: Mappings }
  | { status: 'unchanged', mappings: Mappings }
  | { status: 'rejected', error: MappingsFileError }

export interface MappingsReloaderOptions {
  holder: MappingsHolder
  file: string
  load: LoadOptions
  log: Log
  /** Quiet time after the last file event before reloading (default 150 ms). */
  debounceMs?: number
  /** Called after a good reload swapped new mappings in (e.g. to check them against the flows). */
  onReloaded?: (mappings: Mappings, reason: ReloadReason) => void
  /** Called with every reload's result, good or bad (metrics). */
  onResult?: (result: ReloadResult) => void
}

export class MappingsReloader {
  readonly #o: MappingsReloaderOptions & { debounceMs: number }
  #watcher: FSWatcher | null = null
  #timer: NodeJS.Timeout | null = null
  #running: Promise<ReloadResult> | null = null
  #again = false

  constructor (options: MappingsReloaderOptions) {
    this.#o = { debounceMs: 150, ...options }
  }

  get file (): string {
    return this.#o.file
  }

  /** Parses candidate text with the service's environment and source types (admin validate). */
  parse (text: string, file = this.#o.file): Mappings {
    return parseMappings(text, file, this.#o.load)
  }

  /** Starts watching the file's directory. A watch that cannot start is logged, not thrown. */
  watch (): void {
    if (this.#watcher !== null) return
    const dir = dirname(this.#o.file)
    const name = basename(this.#o.file)
    try {
      this.#watcher = watch(dir, { persistent: false }, (_type, changed) => {
        // null: the platform does not say which file; `..data` & co: a Kubernetes ConfigMap swap.
        if (changed === null || changed === name || changed.startsWith('..')) this.#schedule()
      })
      this.#watcher.on('error', err => {
        this.#o.log.warn({ event: 'mappings.watch_failed', file: this.#o.file, err: { message: err.message } }, 'watching the mappings file stopped; send SIGHUP to reload')
        this.unwatch()
      })
      this.#o.log.info({ event: 'mappings.watching', file: this.#o.file }, 'watching the mappings file for changes')
    } catch (err) {
      this.#o.log.warn({ event: 'mappings.watch_failed', file: this.#o.file, err: { message: (err as Error).message } }, 'cannot watch the mappings file; send SIGHUP to reload')
    }
  }

  unwatch (): void {
    this.#watcher?.close()
    this.#watcher = null
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  async close (): Promise<void> {
    this.unwatch()
    await this.#running
  }

  /**
   * Reads and validates the file and swaps it in if good. Calls made while one runs are folded into
   * one more run after it, so the last edit always wins.
   */
  async reload (reason: ReloadReason): Promise<ReloadResult> {
    if (this.#running !== null) {
      this.#again = true
      return await this.#running
    }
    this.#running = this.#reloadOnce(reason)
    try {
      const result = await this.#running
      this.#o.onResult?.(result)
      return result
    } finally {
      this.#running = null
      if (this.#again) {
        this.#again = false
        void this.reload(reason)
      }
    }
  }

  #schedule (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.reload('watch')
    }, this.#o.debounceMs)
    this.#timer.unref()
  }

  async #reloadOnce (reason: ReloadReason): Promise<ReloadResult> {
    const { holder, log } = this.#o
    let next: Mappings
    try {
      next = await this.#load(reason)
    } catch (err) {
      const error = err instanceof MappingsFileError
        ? err
        : new MappingsFileError(this.#o.file, 'invalid', [{ path: [], message: (err as Error).message }])
      holder.rejected(error)
      log.error({
        event: 'mappings.reload_failed',
        reason,
        file: this.#o.file,
        kind: error.kind,
        problems: error.problems.map(p => ({ path: formatPath(p.path), line: p.line ?? null, column: p.column ?? null, message: p.message })),
        keptHash: holder.current.hash
      }, `mappings reload rejected, still serving the previous mappings: ${error.message}`)
      return { status: 'rejected', error }
    }
    const previous = holder.current
    if (next.hash === previous.hash) {
      const hadError = holder.lastError !== null
      // Back to the content in force (e.g. a bad edit undone): clear the rejection, keep the same object.
      if (hadError) holder.replace(previous)
      log.debug({ event: 'mappings.unchanged', reason, hash: next.hash, clearedError: hadError }, 'mappings file unchanged')
      return { status: 'unchanged', mappings: previous }
    }
    holder.replace(next)
    log.info({
      event: 'mappings.reloaded',
      reason,
      file: next.file,
      hash: next.hash,
      previousHash: previous.hash,
      sources: [...next.sources.keys()],
      routes: next.routes.map(r => r.name)
    }, 'mappings reloaded')
    this.#o.onReloaded?.(next, reason)
    return { status: 'reloaded', mappings: next }
  }

  async #load (reason: ReloadReason): Promise<Mappings> {
    try {
      return loadMappings(this.#o.file, this.#o.load)
    } catch (err) {
      // Mid-save: the editor removed the file and has not renamed the new one in yet. Look once more.
      if (reason !== 'watch' || !(err instanceof MappingsFileError) || err.kind !== 'unreadable') throw err
      await new Promise(resolve => setTimeout(resolve, this.#o.debounceMs))
      return loadMappings(this.#o.file, this.#o.load)
    }
  }
}
