import type { StoreLocation } from '../config/env.js'
import { openSqliteStore } from './sqlite/sqlite-store.js'
import type { Store } from './store.js'

/** Opens the store DATABASE_URL names. */
export async function openStore (location: StoreLocation): Promise<Store> {
  if (location.kind === 'sqlite') return openSqliteStore({ file: location.file })
  throw new Error('PostgreSQL store is not available in this build yet (DATABASE_URL=postgres://…); use sqlite:<path>')
}
