import type pg from 'pg'
import type { Log } from '../../logging/log.js'
import { StoreUnavailableError } from '../store.js'
import type { Migration } from './migrations.js'
import { quoteIdent, type PgDatabase } from './pg-database.js'
import { mapPgError } from './pg-errors.js'

/** First key of every advisory lock this service takes, so they never meet another application's. */
export const advisoryLockSpace = 0x43464231 // 'CFB1'

export interface MigrateResult {
  schema: string
  /** Versions this call applied (empty when another instance had already migrated). */
  applied: number[]
}

/**
 * Brings the schema to the newest version under a session advisory lock keyed by the schema name:
 * instances starting together queue on the lock, the first applies the migrations, the others
 * find them recorded in `schema_migrations` and apply nothing. Each migration commits with its
 * version row, so a crash halfway resumes at the first unrecorded one.
 */
export async function migrate (db: PgDatabase, migrations: readonly Migration[], log?: Log): Promise<MigrateResult> {
  let client: pg.PoolClient
  try {
    client = await db.pool.connect()
  } catch (err) {
    throw mapPgError(err)
  }
  let broken: Error | undefined
  const onError = (err: Error): void => { broken = err }
  client.on('error', onError)
  try {
    const schema = db.schema ?? (await client.query<{ schema: string | null }>('SELECT current_schema() AS schema')).rows[0]!.schema
    if (schema === null) throw new StoreUnavailableError('PostgreSQL has no current schema: the search_path names no existing schema')
    const lockKey = [advisoryLockSpace, `migrate:${schema}`]
    await client.query('SELECT pg_advisory_lock($1, hashtext($2))', lockKey)
    try {
      return { schema, applied: await applyPending(client, schema, db.schema !== null, migrations, log) }
    } finally {
      // On a dead connection the server has dropped the session lock already.
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', lockKey).catch(() => {})
    }
  } catch (err) {
    broken ??= err as Error
    throw mapPgError(err)
  } finally {
    client.removeListener('error', onError)
    client.release(broken)
  }
}

async function applyPending (client: pg.PoolClient, schema: string, createSchema: boolean, migrations: readonly Migration[], log?: Log): Promise<number[]> {
  // Checked first because CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database.
  const { rows: [found] } = await client.query<{ missing: boolean }>('SELECT to_regnamespace($1) IS NULL AS missing', [quoteIdent(schema)])
  if (createSchema && found?.missing === true) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`)
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`)
  const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations')
  const current = rows[0]?.version ?? 0
  const newest = migrations.at(-1)?.version ?? 0
  if (current > newest) {
    throw new StoreUnavailableError(`PostgreSQL schema "${schema}" is at version ${current}, newer than this build knows (${newest}); run a newer crm-flow-bridge`)
  }
  const applied: number[] = []
  for (const migration of migrations.filter(m => m.version > current)) {
    await client.query('BEGIN')
    try {
      await client.query(migration.sql)
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    }
    applied.push(migration.version)
    log?.info({ event: 'store.migrated', schema, version: migration.version, name: migration.name }, 'PostgreSQL migration applied')
  }
  return applied
}
