import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

export const serverEntry = fileURLToPath(new URL('../dist/server.js', import.meta.url))

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export interface ServiceProcess {
  child: ChildProcess
  url: string
  /** Every stdout line (JSON log lines). */
  lines: string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * Runs the built service (`dist/server.js`, from `npm run build`) as a real process and waits
 * until /healthz answers.
 */
export async function startServiceProcess (env: Record<string, string>, options: { port?: number, readyTimeoutMs?: number } = {}): Promise<ServiceProcess> {
  const port = options.port ?? await freePort()
  const child = spawn(process.execPath, [serverEntry], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: string[] = []
  let buffer = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8')
    const parts = buffer.split('\n')
    buffer = parts.pop() ?? ''
    lines.push(...parts.filter(line => line !== ''))
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000)
  let exitedEarly = false
  void exited.then(() => { exitedEarly = true })
  for (;;) {
    if (exitedEarly) throw new Error(`service exited before it was ready:\n${stderr}\n${lines.slice(-5).join('\n')}`)
    try {
      const response = await fetch(`${url}/healthz`)
      if (response.ok) break
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`service not ready in time:\n${stderr}\n${lines.slice(-5).join('\n')}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return { child, url, lines, exited }
}

/** SIGKILL, and wait for the process to be gone. */
export async function killHard (service: ServiceProcess): Promise<void> {
  if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL')
  await service.exited
}
