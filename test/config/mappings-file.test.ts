import t, { type Test } from 'tap'
import { loadMappingsFile, MappingsFileError } from '../../src/config/mappings-file.js'
import { sourceTypes } from '../../src/sources/index.js'
import { basicMappings, tempDir, writeFile } from '../helper.js'

const env = { CRM_WEBHOOK_SECRET: 's3cret-value' }
const load = (t: Test, text: string, name = 'mappings.yaml', extraEnv: Record<string, string> = env): ReturnType<typeof loadMappingsFile> =>
  loadMappingsFile(writeFile(tempDir(t), name, text), { env: extraEnv, sourceTypes })

function problemsOf (fn: () => unknown): MappingsFileError {
  try {
    fn()
  } catch (err) {
    if (err instanceof MappingsFileError) return err
    throw err
  }
  throw new Error('expected a MappingsFileError')
}

t.test('a valid file loads with ${VAR} substituted and defaults applied', async t => {
  const loaded = load(t, basicMappings())
  t.equal(loaded.content.routes[0]!.name, 'contact-sync')
  const crm = loaded.sourceSettings.get('crm')!.settings as { auth: { secret: string } }
  t.equal(crm.auth.secret, 's3cret-value')
  t.match(loaded.hash, /^[0-9a-f]{64}$/)
})

t.test('JSON files load too', async t => {
  const loaded = load(t, JSON.stringify({ sources: { s: { type: 'generic' } }, routes: [{ name: 'r', source: 's', flow: { id: 'a1b2c3d4-e5f6-7890-abcd-ef1234567890' }, inputs: { x: 'record.id' } }] }), 'm.json')
  t.equal(loaded.content.routes[0]!.inputs.x!.from, 'record.id')
})

t.test('errors name the file, the line, the path and the problem', async t => {
  const text = basicMappings().replace('a1b2c3d4-e5f6-7890-abcd-ef1234567890', 'not-a-uuid')
  const error = problemsOf(() => load(t, text))
  t.equal(error.kind, 'invalid')
  t.match(error.message, /mappings file .*mappings\.yaml is invalid/)
  t.match(error.message, /line 15: routes\[0\]\.flow\.id: flow ids are UUIDs/)
  t.equal(error.problems[0]!.line, 15)
})

t.test('a missing environment variable is reported at its path', async t => {
  const error = problemsOf(() => load(t, basicMappings(), 'm.yaml', {}))
  t.match(error.message, /line 5: sources\.crm\.auth\.secret: environment variable CRM_WEBHOOK_SECRET is not set/)
})

t.test('unknown keys, unknown source types and dangling references are each reported', async t => {
  const text = `
sources:
  crm: { type: generic, eventID: id }
  other: { type: marketo }
routes:
  - name: r1
    source: nowhere
    flow: { id: a1b2c3d4-e5f6-7890-abcd-ef1234567890 }
    inputs: { contactId: { from: record.id, type: strng } }
  - name: r1
    source: crm
    flow: { id: a1b2c3d4-e5f6-7890-abcd-ef1234567890 }
    inputs: { contactId: record.id, Flow.contactId: record.id }
    redact: [email]
`
  const error = problemsOf(() => load(t, text))
  const messages = error.problems.map(p => `${p.line ?? '?'} ${p.message}`)
  t.match(messages.join('\n'), /routes\[0\]|strng|Invalid option/)
  const error2 = problemsOf(() => load(t, text.replace('type: strng', 'type: string')))
  const text2 = error2.message
  t.match(text2, /sources\.crm: unknown key "eventID"/)
  t.match(text2, /sources\.other\.type: unknown source type "marketo"; known types: .*generic/)
  t.match(text2, /routes\[0\]\.source: no source named "nowhere"/)
  t.match(text2, /routes\[1\]\.name: route name "r1" is used twice/)
  t.match(text2, /maps the same flow input as "contactId"/)
  t.match(text2, /routes\[1\]\.redact\[0\]: "email" is not one of this route's inputs/)
})

t.test('a YAML syntax error is unusable input with its line', async t => {
  const error = problemsOf(() => load(t, 'sources:\n  crm: { type: generic\nroutes: []\n'))
  t.equal(error.kind, 'syntax')
  t.match(error.message, /cannot be parsed/)
  t.ok(error.problems[0]!.line !== undefined)
})

t.test('an unreadable file says so', async t => {
  const error = problemsOf(() => loadMappingsFile('/nonexistent/m.yaml', { env, sourceTypes }))
  t.equal(error.kind, 'unreadable')
  t.match(error.message, /\/nonexistent\/m\.yaml cannot be read:\n {2}\(top level\): no such file/)
})

t.test('an input must have exactly one of from and value', async t => {
  const text = basicMappings({ inputs: '      contactId: { from: record.id, value: 3 }' })
  t.match(problemsOf(() => load(t, text)).message, /routes\[0\]\.inputs\.contactId: give exactly one of "from"/)
})

t.test('secrets never appear in error messages', async t => {
  const text = basicMappings().replace('encoding: hex', 'encoding: hexx')
  const error = problemsOf(() => load(t, text))
  t.notMatch(error.message, /s3cret-value/)
  t.match(error.message, /sources\.crm\.auth\.encoding/)
})
