/**
 * `crm-flow-bridge validate [--mappings FILE] [--remote] [--json]`: checks a mappings file the way the
 * service loads it (same environment, `${VAR}` substitution, source settings), and with `--remote`
 * every route against its flow's declared inputs in Genesys.
 * Exit: 0 valid (warnings allowed), 1 problems, 2 unusable input (unreadable or unparseable file, bad
 * environment, no credentials for --remote, Genesys could not be asked).
 */
import { parseArgs } from 'node:util'
import { FlowCatalog } from '../flows/flow-catalog.js'
import { formatFlowProblem, type FlowProblem } from '../flows/flow-check.js'
import { checkMappings } from '../flows/flow-validator.js'
import type { LocatedFlowProblem } from '../flows/locate.js'
import { formatPath } from '../config/mappings-file.js'
import { fileErrorView, flowProblemView } from '../routes/admin/views.js'
import { CliExit, checkToken, exitCodes, genesysFor, json, loadEnv, readMappings, settingsOf, type Io } from './common.js'

export const validateHelp = `Usage: crm-flow-bridge validate [--mappings FILE] [--remote] [--json]

Checks a mappings file as the service would load it: YAML/JSON syntax, the schema, \${VAR}
references (resolved against this environment), source settings, route names and inputs.

Options:
  --mappings FILE  the file to check (default: MAPPINGS_FILE, as the service)
  --remote         also check every enabled route against its flow in Genesys: the flow exists,
                   is a published workflow (or the pinned version exists), every mapped input is
                   declared, and its type fits. Needs GENESYS_CLIENT_ID/GENESYS_CLIENT_SECRET
                   (and GENESYS_REGION or GENESYS_API_URL/GENESYS_LOGIN_URL).
  --json           machine-readable output (same shape as POST /admin/mappings/validate)
  -h, --help       this help

Exit status: 0 valid (warnings allowed), 1 problems found, 2 unusable input (file unreadable or
not parseable, bad environment, --remote without credentials or Genesys unreachable).
`

export async function validateCommand (args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { mappings: { type: 'string' }, remote: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false
  })
  if (values.help === true) {
    io.out(validateHelp)
    return exitCodes.ok
  }
  const env = await loadEnv(io)
  const file = values.mappings ?? env.MAPPINGS_FILE
  const outcome = readMappings(file, io)

  if (!outcome.ok) {
    const code = outcome.error.kind === 'invalid' ? exitCodes.problems : exitCodes.unusable
    if (values.json === true) {
      const view = fileErrorView(outcome.error)
      io.out(json({ file, valid: false, kind: view.kind, problems: view.problems, flowProblems: [], remote: { checked: false, reason: 'the file itself has problems' }, hash: null }))
    } else {
      io.err(`${outcome.error.message}\n`)
    }
    return code
  }

  const { mappings, text } = outcome.loaded
  const summary = { sources: [...mappings.sources.keys()], routes: mappings.routes.map(r => r.name) }
  let flowProblems: LocatedFlowProblem[] = []
  let remote: Record<string, unknown> = { checked: false, reason: 'not asked (--remote)' }
  if (values.remote === true) {
    const settings = settingsOf(env)
    const genesys = genesysFor(settings)
    if (genesys.client === null) throw new CliExit(exitCodes.unusable, `--remote: ${genesys.reason}`)
    try {
      await checkToken(genesys.client, settings.genesys.loginUrl)
      flowProblems = await checkMappings(new FlowCatalog({ genesys: genesys.client, ttlMs: 60_000 }), mappings, { text })
    } finally {
      await genesys.close()
    }
    remote = { checked: true, apiUrl: settings.genesys.apiUrl }
    const failed = flowProblems.filter(p => p.code === 'check_failed')
    if (failed.length > 0) {
      report(io, values.json === true, file, summary, mappings.hash, flowProblems, { ...remote, checked: false, reason: 'Genesys could not be asked about every flow' })
      if (values.json !== true) io.err(`could not check every route against Genesys:\n${failed.map(p => `  ${p.message}`).join('\n')}\n`)
      return exitCodes.unusable
    }
  }
  report(io, values.json === true, file, summary, mappings.hash, flowProblems, remote)
  return flowProblems.some(p => p.severity === 'error') ? exitCodes.problems : exitCodes.ok
}

function report (io: Io, asJson: boolean, file: string, summary: { sources: string[], routes: string[] }, hash: string, problems: LocatedFlowProblem[], remote: Record<string, unknown>): void {
  const errors = problems.filter(p => p.severity === 'error')
  if (asJson) {
    io.out(json({ file, valid: errors.length === 0, kind: null, problems: [], flowProblems: problems.map(flowProblemView), remote, hash, summary }))
    return
  }
  const lines = [`${file}: the file is valid (sources: ${summary.sources.join(', ') || 'none'}; routes: ${summary.routes.join(', ') || 'none'})`]
  if (remote.checked === true) {
    if (problems.length === 0) lines.push(`every enabled route fits its flow in Genesys (${String(remote.apiUrl)})`)
    else {
      lines.push(`checked against Genesys (${String(remote.apiUrl)}): ${errors.length} error(s), ${problems.length - errors.length} warning(s)`)
      for (const problem of problems) lines.push(`  ${where(problem)}${formatFlowProblem(problem)}`)
    }
  } else if (remote.reason !== undefined && problems.length === 0) {
    lines.push('routes were not checked against their flows (use --remote)')
  }
  if (remote.checked !== true && problems.length > 0) for (const problem of problems) lines.push(`  ${where(problem)}${formatFlowProblem(problem)}`)
  io.out(lines.join('\n') + '\n')
}

function where (problem: LocatedFlowProblem | FlowProblem): string {
  if (!('path' in problem)) return ''
  return `${problem.line === undefined ? '' : `line ${problem.line}: `}${formatPath(problem.path)}: `
}
