import t from 'tap'
import { spawnSync } from 'node:child_process'
import { serverEntry } from '../process-helper.js'
import { basicMappings, tempDir, writeFile } from '../helper.js'

/** Runs the built service with `env` and returns its exit code and output (it must stop by itself). */
function run (env: Record<string, string>): { status: number | null, output: string } {
  const result = spawnSync(process.execPath, [serverEntry], { env: { PATH: process.env.PATH, PORT: '0', ...env }, encoding: 'utf8', timeout: 20_000 })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

t.test('a bad environment variable stops startup with its name', async t => {
  const { status, output } = run({ PORT: 'not-a-port' })
  t.equal(status, 1)
  t.match(output, /"event":"startup.failed"/)
  t.match(output, /env\/PORT must be integer/)
})

t.test('a bad mappings file stops startup naming the file, line and path', async t => {
  const dir = tempDir(t)
  const file = writeFile(dir, 'broken.yaml', basicMappings().replace('a1b2c3d4-e5f6-7890-abcd-ef1234567890', 'flow-123'))
  const { status, output } = run({ MAPPINGS_FILE: file, CRM_WEBHOOK_SECRET: 'x', DATABASE_URL: `sqlite:${dir}/db.sqlite` })
  t.equal(status, 1)
  t.match(output, /crm-flow-bridge: startup failed: mappings file .*broken\.yaml is invalid:\n {2}line 15/, 'plain text on stderr for a person')
  t.match(output, /line 15: routes\[0\]\.flow\.id: flow ids are UUIDs/)
})

t.test('the client secret never appears in startup errors', async t => {
  const dir = tempDir(t)
  const { status, output } = run({ GENESYS_CLIENT_SECRET: 'super-secret-value-123', DATABASE_URL: `sqlite:${dir}/db.sqlite` })
  t.equal(status, 1)
  t.match(output, /GENESYS_CLIENT_ID must be set when GENESYS_CLIENT_SECRET is/)
  t.notMatch(output, /super-secret-value-123/)
})
