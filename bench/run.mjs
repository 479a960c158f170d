/**
 * `npm run bench` runs every scenario; `npm run bench -- ingest dispatch` runs some. Builds first
 * (`npm run build`) unless `--no-build`. Options (defaults in each scenario):
 *   --runs N        repetitions; medians are taken over them (default 3)
 *   --duration S    seconds per load measurement (ingest 20, dispatch 30); memory: soak seconds (600)
 *   --profile       run the service under `node --cpu-prof` and summarise the top self-time functions
 *   --no-pg         skip PostgreSQL even when the build supports it
 * Everything listens on 127.0.0.1; every child process is stopped at the end. Raw results:
 * bench/results/<scenario>-<time>.json. Method and figures: docs/benchmarks.md.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { distDir, log, machine, parseArgs, repoRoot, writeResult } from './lib/common.mjs'
import { killAll } from './lib/procs.mjs'

const scenarios = {
  ingest: () => import('./scenarios/ingest.mjs'),
  dispatch: () => import('./scenarios/dispatch.mjs'),
  scaling: () => import('./scenarios/scaling.mjs'),
  memory: () => import('./scenarios/memory.mjs'),
  lifecycle: () => import('./scenarios/lifecycle.mjs')
}

const args = parseArgs(process.argv.slice(2))
const chosen = args._.length === 0 || args._.includes('all') ? Object.keys(scenarios) : args._
for (const name of chosen) {
  if (!(name in scenarios)) {
    console.error(`unknown scenario "${name}"; choose from ${Object.keys(scenarios).join(', ')}`)
    process.exit(2)
  }
}

if (args.build !== false) {
  log('npm run build')
  const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' })
  if (build.status !== 0) {
    console.error('the build failed; fix it, or benchmark the last build with --no-build')
    process.exit(1)
  }
}
if (!existsSync(join(distDir, 'server.js'))) {
  console.error(`${join(distDir, 'server.js')} is missing: run npm run build`)
  process.exit(1)
}

log(`machine: ${JSON.stringify(machine())}`)
let failed = false
for (const name of chosen) {
  const scenario = await scenarios[name]()
  log(`== ${name}: ${scenario.description}`)
  const started = Date.now()
  try {
    const result = await scenario.run(args)
    const file = writeResult(name, { args, seconds: Math.round((Date.now() - started) / 1000), ...result })
    log(`${name} done in ${Math.round((Date.now() - started) / 1000)} s → ${file}`)
    if (scenario.report !== undefined) console.log(scenario.report(result))
    else console.log(JSON.stringify(result.medians ?? result, null, 2))
  } catch (err) {
    failed = true
    log(`${name} failed: ${err.stack ?? err}`)
  }
  killAll()
}
process.exit(failed ? 1 : 0)
