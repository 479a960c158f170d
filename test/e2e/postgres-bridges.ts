import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Test } from 'tap'
import { basicMappings, sign, tempDir, waitFor, webhookSecret, writeFile, type LogLine } from '../helper.js'
import { freePort } from '../pg-helper.js'

const serverJs = fileURLToPath(new URL('../../dist/server.js', import.meta.url))

export interface BridgeProcess {
  name: string
  url: string
  child: ChildProcess
  /** JSON log lines written so far (stdout). */
  logs: LogLine[]
  /** `hostname:pid:…`, the start of its `locked_by`. */
  lockPrefix: string
  exited: Promise<number | null>
  post: (body: string) => Promise<{ status: number, body: any, headers: Headers }>
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

/**
 * Starts `count` real bridge processes (`node dist/server.js`, so run `npm run build` first) on
 * free ports, all on `databaseUrl`, and SIGKILLs whatever is left at teardown.
 */
export async function spawnBridges (t: Pick<Test, 'teardown'>, count: number, options: { databaseUrl: string, env: Record<string, string> }): Promise<BridgeProcess[]> {
  if (!existsSync(serverJs)) throw new Error(`${serverJs} is missing: run npm run build first`)
  const dir = tempDir(t, 'cfb-e2e-')
  const mappingsFile = writeFile(dir, 'mappings.yaml', basicMappings())
  const bridges = await Promise.all(Array.from({ length: count }, async (_, i) => await spawnBridge(t, `bridge-${i + 1}`, {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    MAPPINGS_FILE: mappingsFile,
    DATABASE_URL: options.databaseUrl,
    DATABASE_POOL_SIZE: '5',
    CRM_WEBHOOK_SECRET: webhookSecret,
    DISPATCH_POLL_MS: '50',
    RETRY_BASE_DELAY_MS: '20',
    RETRY_MAX_DELAY_MS: '200',
    SHUTDOWN_GRACE_MS: '500',
    WATCH_MAPPINGS: 'false',
    ...options.env
  })))
  return bridges
}

async function spawnBridge (t: Pick<Test, 'teardown'>, name: string, env: Record<string, string>): Promise<BridgeProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, [serverJs], { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: LogLine[] = []
  const stderr: string[] = []
  let pending = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8')
    const lines = pending.split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      if (line.trim() === '') continue
      try { logs.push(JSON.parse(line) as LogLine) } catch { stderr.push(line) }
    }
  })
  child.stderr!.on('data', (chunk: Buffer) => { stderr.push(chunk.toString('utf8')) })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr.join('')}\n${JSON.stringify(logs.slice(-5))}`)
    try {
      return (await fetch(`${url}/healthz`)).status === 200
    } catch {
      return false
    }
  }, 30_000, `${name} to listen`)
  return {
    name,
    url,
    child,
    logs,
    lockPrefix: `${hostname()}:${child.pid}:`,
    exited,
    post: async body => {
      const response = await fetch(`${url}/webhooks/crm`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(body) }, body })
      const text = await response.text()
      let parsed: unknown = text
      try { parsed = JSON.parse(text) } catch {}
      return { status: response.status, body: parsed, headers: response.headers }
    },
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      await exited
    }
  }
}

/** A small pool on the test database, for looking at what the bridges wrote; closed at teardown. */
export function inspect (t: Pick<Test, 'teardown'>, databaseUrl: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  pool.on('error', () => {})
  t.teardown(async () => { await pool.end() })
  return pool
}

/** `crm-flow-bridge <deliveryId>` → deliveryId. */
export function deliveryIdOf (launch: { body: any }): string {
  return String(launch.body?.name ?? '').replace(/^crm-flow-bridge /, '')
}
