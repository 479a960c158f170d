/** The mappings examples in docs/sources.md load with the real loader, and their sources bind. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseMappingsText } from '../../src/config/mappings-file.js'
import { sourceTypes } from '../../src/sources/index.js'

const doc = readFileSync(new URL('../../docs/sources.md', import.meta.url), 'utf8')
const examples = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map(match => match[1] ?? '')
const env = Object.fromEntries([...doc.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map(match => [match[1], 'a-secret-from-the-environment']))

t.test('the registry holds every CRM type', async t => {
  t.same([...sourceTypes.keys()].sort(), ['dynamics', 'generic', 'hubspot', 'pipedrive', 'salesforce', 'zendesk'])
})

t.test('every example in docs/sources.md is a valid mappings file', async t => {
  t.equal(examples.length, 5)
  for (const example of examples) {
    const loaded = parseMappingsText(example, 'docs/sources.md', { env, sourceTypes })
    for (const [name, { type, settings }] of loaded.sourceSettings) {
      const adapter = type.create(name, settings)
      t.equal(adapter.name, name)
      t.equal(adapter.type, type.type)
    }
  }
})
