/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function (name, file:line),
 * top N, as a share of all samples. Also usable from the shell:
 *   node bench/lib/cpuprofile.mjs <file.cpuprofile> [top]
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot } from './common.mjs'

export function summarizeProfile (file, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  const counts = new Map()
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1)
  const total = profile.samples.length
  const durationMs = (profile.endTime - profile.startTime) / 1000
  const self = new Map()
  for (const [id, count] of counts) {
    const { callFrame } = byId.get(id)
    const url = callFrame.url.startsWith('file://') ? relative(repoRoot, new URL(callFrame.url).pathname) : callFrame.url
    const key = `${callFrame.functionName || '(anonymous)'} ${url}${url === '' ? '' : `:${callFrame.lineNumber + 1}`}`
    self.set(key, (self.get(key) ?? 0) + count)
  }
  // Self time grouped by file (or by V8 category for native frames), to see which module costs most.
  const byFile = new Map()
  for (const [key, count] of self) {
    const location = key.slice(key.indexOf(' ') + 1)
    const file = location === '' ? key : location.replace(/:\d+$/, '').replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, 'node_modules/$1')
    byFile.set(file, (byFile.get(file) ?? 0) + count)
  }
  const share = count => Math.round(count / total * 1000) / 10
  return {
    file,
    durationMs: Math.round(durationMs),
    samples: total,
    topFunctions: [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, count]) => ({ fn, selfPct: share(count) })),
    topFiles: [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([file, count]) => ({ file, selfPct: share(count) }))
  }
}

/** Summaries of every .cpuprofile in `dir`. */
export function summarizeDir (dir, top = 25) {
  return readdirSync(dir).filter(name => name.endsWith('.cpuprofile')).map(name => summarizeProfile(join(dir, name), top))
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const summary = summarizeProfile(process.argv[2], Number(process.argv[3] ?? 30))
  console.log(`${summary.file}: ${summary.samples} samples over ${summary.durationMs} ms`)
  for (const { fn, selfPct } of summary.topFunctions) console.log(`${String(selfPct).padStart(5)}%  ${fn}`)
  console.log('\nby file:')
  for (const { file, selfPct } of summary.topFiles) console.log(`${String(selfPct).padStart(5)}%  ${file}`)
}
