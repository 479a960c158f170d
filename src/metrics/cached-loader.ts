/**
 * Reuses one result of an async load for `ttlMs`, and shares a load in progress among concurrent
 * callers: several scrapers (or one scraper and a dashboard) hitting /metrics cost the store one
 * query per `ttlMs`, not one per scrape.
 */
export interface CachedLoader<T> {
  /** The cached value while fresh, else a new load; rejects when that load fails (nothing cached then). */
  get (): Promise<T>
}

export function cachedLoader<T> (load: () => Promise<T>, options: { ttlMs: number, now?: () => number }): CachedLoader<T> {
  const now = options.now ?? Date.now
  let cached: { value: T, at: number } | null = null
  let pending: Promise<T> | null = null
  return {
    async get () {
      if (cached !== null && now() - cached.at < options.ttlMs) return cached.value
      pending ??= load()
        .then(value => {
          cached = { value, at: now() }
          return value
        })
        .finally(() => { pending = null })
      return await pending
    }
  }
}
