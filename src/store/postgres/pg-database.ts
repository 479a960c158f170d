import pg from 'pg'
import type { Log } from '../../logging/log.js'
import { isUnavailable, mapPgError } from './pg-errors.js'

/**
 * The one seam between the PostgreSQL code and `pg` (pg-boss's `IDatabase`, one level up): SQL
 * text and values in, rows out. Connection failures come out as StoreUnavailableError.
 */
export interface SqlRunner {
  query<R = Record<string, unknown>> (text: string, values?: unknown[]): Promise<{ rows: R[], rowCount: number | null }>
}

export interface PgDatabaseOptions {
  url: string
  /** Connections this process may hold (DATABASE_POOL_SIZE). */
  poolSize: number
  /** Schema the tables live in (created if missing); default: the role's search_path (usually `public`). */
  schema?: string | undefined
  /** Wait for a free connection or a new one before giving up as unavailable. */
  connectTimeoutMs?: number
  log?: Log
}

/**
 * A pg.Pool; given a schema, `search_path` is set per connection, so every statement names tables unqualified
 * and one database can hold a schema per test or per deployment.
 */
export class PgDatabase implements SqlRunner {
  readonly pool: pg.Pool
  /** The schema asked for; null means whatever search_path the server and URL give. */
  readonly schema: string | null

  constructor (options: PgDatabaseOptions) {
    this.schema = options.schema ?? null
    if (this.schema !== null && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(this.schema)) {
      // It travels in the startup packet's `options`, which splits on spaces: keep it a plain identifier.
      throw new Error(`PostgreSQL schema name "${this.schema}" must be letters, digits and underscores`)
    }
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'crm-flow-bridge',
      ...(this.schema === null ? {} : { options: `-c search_path=${quoteIdent(this.schema)}` })
    })
    // An idle connection that dies (server restart, admin shutdown) errors here; the pool drops it
    // and opens a new one on the next checkout. Without a listener the error would crash the process.
    this.pool.on('error', err => {
      options.log?.warn({ event: 'store.connection_lost', err: { message: err.message, code: (err as { code?: unknown }).code } }, 'an idle PostgreSQL connection was closed; it will be replaced')
    })
  }

  async query<R = Record<string, unknown>> (text: string, values?: unknown[]): Promise<{ rows: R[], rowCount: number | null }> {
    try {
      const result = await this.pool.query(text, values)
      return { rows: result.rows as R[], rowCount: result.rowCount }
    } catch (err) {
      throw mapPgError(err)
    }
  }

  /** Runs `work` in one transaction on one connection; a connection that failed is discarded, not reused. */
  async transaction<T> (work: (sql: SqlRunner) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw mapPgError(err)
    }
    // A checked-out client whose socket dies between statements emits 'error'; keep it from crashing the process.
    let broken: Error | null = null
    const onError = (err: Error): void => { broken = err }
    client.on('error', onError)
    const runner: SqlRunner = {
      query: async <R>(text: string, values?: unknown[]) => {
        const result = await client.query(text, values)
        return { rows: result.rows as R[], rowCount: result.rowCount }
      }
    }
    try {
      await client.query('BEGIN')
      const value = await work(runner)
      await client.query('COMMIT')
      return value
    } catch (err) {
      if (isUnavailable(err)) broken ??= err as Error
      try {
        await client.query('ROLLBACK')
      } catch (rollbackError) {
        broken ??= rollbackError as Error
      }
      throw mapPgError(err)
    } finally {
      client.removeListener('error', onError)
      client.release(broken ?? undefined)
    }
  }

  async close (): Promise<void> {
    if (!this.pool.ending) await this.pool.end()
  }
}

export function quoteIdent (name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
