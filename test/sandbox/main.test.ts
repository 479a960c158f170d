import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import t from 'tap'
import { request } from 'undici'

// Runs src/sandbox/main.ts under the same TypeScript loader tap uses for this file.
const loader = process.execArgv.filter(arg => arg.includes('@tapjs/typescript'))

function runMain (env: Record<string, string>) {
  const child = spawn(process.execPath, [...loader, 'src/sandbox/main.ts'], {
    env: { ...process.env, SANDBOX_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<{ msg: string, resolve: (line: Record<string, unknown>) => void }> = []
  createInterface({ input: child.stdout }).on('line', text => {
    const line = JSON.parse(text) as Record<string, unknown>
    lines.push(line)
    for (const waiter of waiters.filter(w => w.msg === line['msg'])) waiter.resolve(line)
  })
  const waitFor = (msg: string) => new Promise<Record<string, unknown>>(resolve => {
    const seen = lines.find(line => line['msg'] === msg)
    if (seen !== undefined) resolve(seen)
    else waiters.push({ msg, resolve })
  })
  return { child, lines, waitFor }
}

t.test('npm run sandbox: serves the default config, logs JSON lines and stops on SIGTERM', async t => {
  const { child, lines, waitFor } = runMain({})
  t.teardown(() => { child.kill('SIGKILL') })
  const started = await waitFor('genesys sandbox listening')
  t.match(started, { level: 30, configFile: 'docker/sandbox.yaml', clients: ['sandbox-client'] })
  const url = started['url'] as string
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)

  const res = await request(`${url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('sandbox-client:sandbox-secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded'
    },
    body: 'grant_type=client_credentials'
  })
  t.equal(res.statusCode, 200)
  await res.body.dump()

  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0)
  t.ok(lines.some(line => line['msg'] === 'closing' && line['signal'] === 'SIGTERM'))
})

t.test('a broken config exits 1 with a fatal log line', async t => {
  const { child, waitFor } = runMain({ SANDBOX_CONFIG: 'does/not/exist.yaml' })
  t.teardown(() => { child.kill('SIGKILL') })
  const fatal = await waitFor('genesys sandbox failed to start')
  t.equal(fatal['level'], 60)
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
})
