/**
 * docs/operations.md stays in step with the code: every log event in src/ is listed, every metric
 * the service exports is listed (and nothing listed is gone), and the sample alert rules only use
 * metrics that exist.
 */
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { parse as parseYaml } from 'yaml'
import { createMetrics, metricPrefix } from '../../src/metrics/metrics.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const doc = readFileSync(join(root, 'docs/operations.md'), 'utf8')

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** Rows of the doc's markdown tables whose first cell is a `code` name. */
function documentedNames (): Set<string> {
  const names = new Set<string>()
  for (const match of doc.matchAll(/^\| `([\w.:]+)` \|/gm)) names.add(match[1]!)
  return names
}

t.test('every log event in src/ is listed in docs/operations.md', async t => {
  const documented = documentedNames()
  // The sandbox is a separate program with its own plain logs (docs/sandbox.md).
  const files = sourceFiles(join(root, 'src')).filter(file => !file.includes(`${join('src', 'sandbox')}`))
  const events = new Set<string>()
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bevent: '([a-z_]+\.[a-z_.]+)'/g)) events.add(match[1]!)
  }
  t.ok(events.size > 40, `${events.size} events found`)
  for (const event of [...events].sort()) t.ok(documented.has(event), `${event} is documented (add a row to docs/operations.md#events)`)
  // docs/logging.md is the field reference for the same events; it must not fall behind either.
  const logging = readFileSync(join(root, 'docs/logging.md'), 'utf8')
  const inLogging = new Set([...logging.matchAll(/^\| `([\w.:]+)`/gm)].map(m => m[1]!))
  for (const event of [...events].sort()) t.ok(inLogging.has(event), `${event} is in docs/logging.md`)
})

t.test('the metric list matches what the service exports', async t => {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false })
  const exported = (await metrics.registry.getMetricsAsJSON()).map(metric => metric.name).filter(name => name.startsWith(metricPrefix)).sort()
  const listed = [...documentedNames()].filter(name => name.startsWith(metricPrefix)).sort()
  t.same(listed, exported)
})

t.test('the sample alert rules use existing metrics and parse', async t => {
  const block = /```yaml\n(groups:[\s\S]*?)```/.exec(doc)?.[1]
  t.ok(block, 'the alert rules block')
  const rules = (parseYaml(block!) as { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> }).groups.flatMap(group => group.rules)
  t.ok(rules.length >= 3)
  const metrics = createMetrics(new Registry(), { defaultMetrics: false })
  const exported = new Set((await metrics.registry.getMetricsAsJSON()).map(metric => metric.name))
  for (const rule of rules) {
    for (const [name] of rule.expr.matchAll(/crm_bridge_\w+/g)) {
      const base = name.replace(/_(bucket|sum|count)$/, '')
      t.ok(exported.has(name) || exported.has(base), `${rule.alert}: ${name} exists`)
    }
  }
})
