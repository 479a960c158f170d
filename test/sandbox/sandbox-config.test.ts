import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startSandbox } from '../../src/sandbox/genesys-sandbox.js'
import { loadSandboxConfig, parseSandboxConfig } from '../../src/sandbox/sandbox-config.js'

const CONTACT_SYNC = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890'

function tempFile (t: Test, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

t.test('docker/sandbox.yaml loads and describes the demo flows', async t => {
  const config = await loadSandboxConfig('docker/sandbox.yaml')
  t.same(config.clients.map(client => client.clientId), ['sandbox-client'])
  const contactSync = config.flows.find(flow => flow.id === CONTACT_SYNC)
  t.match(contactSync, { name: 'Contact sync', type: 'workflow', publishedVersion: '3.0' })
  t.same(contactSync?.versions.find(version => version.id === '3.0')?.inputs, {
    contactId: 'string', action: 'string', email: 'string', attempts: 'integer'
  })
  t.ok(config.flows.some(flow => flow.type !== 'workflow'), 'has a non-workflow flow')
  t.ok(config.flows.some(flow => flow.type === 'workflow' && flow.publishedVersion === null), 'has an unpublished workflow')

  const sandbox = await startSandbox(config)
  t.teardown(() => sandbox.close())
  t.equal(sandbox.app.hasRoute({ method: 'POST', url: '/api/v2/flows/executions' }), true)
})

t.test('JSON config files work too', async t => {
  const file = tempFile(t, 'sandbox.json', JSON.stringify({
    clients: [{ clientId: 'c', clientSecret: 's' }],
    flows: [{ id: 'f', name: 'F', type: 'Workflow', publishedVersion: '1.0', versions: [{ id: '1.0', inputs: { n: 'decimal[]' } }] }],
    rateLimitPerMinute: 0
  }))
  const config = await loadSandboxConfig(file)
  t.equal(config.flows[0]?.type, 'workflow', 'types are normalised to lower case')
  t.same(config.flows[0]?.versions[0]?.inputs, { n: 'decimal[]' })
  t.equal(config.rateLimitPerMinute, 0)
})

t.test('invalid configs fail with the path of each problem', async t => {
  const file = tempFile(t, 'bad.yaml', [
    'clients: []',
    'flows:',
    '  - id: f',
    '    name: F',
    '    type: workflow',
    '    publishedVersion: "2.0"',
    '    versions:',
    '      - id: "1.0"',
    '        inputs:',
    '          Flow.x: string',
    '          y: money',
    'unknownInputs: sometimes'
  ].join('\n'))
  const err = await loadSandboxConfig(file).then(() => null, (e: Error) => e)
  t.ok(err)
  t.match(err?.message, /clients:/)
  t.match(err?.message, /flows\[0\]\.versions\[0\]\.inputs\.Flow\.x/)
  t.match(err?.message, /flows\[0\]\.versions\[0\]\.inputs\.y/)
  t.match(err?.message, /unknownInputs/)
  t.throws(() => parseSandboxConfig({ clients: [{ clientId: 'c', clientSecret: 's' }], flows: [{ id: 'f', name: 'F', type: 'workflow', publishedVersion: '2.0', versions: [] }] }),
    /publishedVersion/)
  t.throws(() => parseSandboxConfig({ clients: [{ clientId: 'c', clientSecret: 's' }], flows: [{ id: 'f', name: 'F', type: 'workflow' }, { id: 'f', name: 'G', type: 'workflow' }] }),
    /unique/)
})

t.test('startSandbox refuses invalid flows given in code', async t => {
  await t.rejects(startSandbox({ clients: [], flows: [{ id: 'f', name: 'F', type: 'workflow', publishedVersion: 'x', versions: [] }] }), /publishedVersion/)
})
