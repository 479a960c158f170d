/**
 * `--profile`: the service runs under `node --cpu-prof`; the profile (written when it exits after
 * SIGTERM) is copied to bench/results/profiles/ and summarised by self time.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { resultsDir } from './common.mjs'
import { summarizeProfile } from './cpuprofile.mjs'

export function profileArgs (dir) {
  if (dir === null) return []
  mkdirSync(dir, { recursive: true })
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`]
}

/** Copies the profile(s) in `dir` to bench/results/profiles/<label>.cpuprofile and summarises them. */
export function summarizeProfiles (dir, label, top = 25) {
  if (!existsSync(dir)) return null
  const files = readdirSync(dir).filter(name => name.endsWith('.cpuprofile'))
  if (files.length === 0) return null
  const target = join(resultsDir, 'profiles')
  mkdirSync(target, { recursive: true })
  return files.map((name, i) => {
    const kept = join(target, `${label}${files.length > 1 ? `-${i}` : ''}.cpuprofile`)
    copyFileSync(join(dir, name), kept)
    return summarizeProfile(kept, top)
  })
}
