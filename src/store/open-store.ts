import type { StoreLocation } from '../config/env.js'
import type { Log } from '../logging/log.js'
import { openPostgresStore } from './postgres/postgres-store.js'
import { openSqliteStore } from './sqlite/sqlite-store.js'
import type { Store } from './store.js'

/** Opens the store DATABASE_URL names. */
export async function openStore (location: StoreLocation, options: { poolSize?: number, log?: Log, sqliteWriterThread?: boolean } = {}): Promise<Store> {
  if (location.kind === 'sqlite') {
    const store = openSqliteStore({ file: location.file, writerThread: options.sqliteWriterThread === true })
    try {
      // A file the writer thread cannot open fails the startup, not the first webhook.
      await store.ping()
    } catch (error) {
      await store.close()
      throw error
    }
    return store
  }
  const { url, schema } = splitSchema(location.url)
  return await openPostgresStore({ url, schema, poolSize: options.poolSize, log: options.log })
}

/** `?schema=name` on a postgres:// URL picks the schema; pg itself would ignore the parameter. */
function splitSchema (raw: string): { url: string, schema: string | undefined } {
  if (!/[?&]schema=/.test(raw)) return { url: raw, schema: undefined }
  const url = new URL(raw)
  const schema = url.searchParams.get('schema') ?? undefined
  url.searchParams.delete('schema')
  return { url: url.toString(), schema }
}
