/**
 * `crm-flow-bridge preview --route NAME --body FILE [--header K:V]... [--json]`: the exact Genesys
 * request the bridge would send for a webhook, through the route's real source adapter (content
 * type, signature check, parser), route matching and mapping with the flow's declared types, or why
 * it would send none. Launches nothing.
 * Exit: 0 a request would be sent, 1 none would (refused, no match, mapping fails), 2 unusable input.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { FlowCatalog } from '../flows/flow-catalog.js'
import { previewWebhook, type PreviewResult } from '../flows/preview.js'
import type { InputType } from '../mapping/input-types.js'
import { redactLaunchRequest } from '../mapping/mapping-engine.js'
import { CliExit, exitCodes, genesysFor, json, loadEnv, requireMappings, settingsOf, type Io } from './common.js'

export const previewHelp = `Usage: crm-flow-bridge preview --route NAME --body FILE [--header K:V]... [options]

Prints the exact request the bridge would send to Genesys (POST /api/v2/flows/executions) for a
webhook with this body and these headers, or why it would send none. The webhook goes through
the route's source exactly as at /webhooks/<source>: content type, signature or credential
check, parsing, route matching, mapping. Nothing is stored or launched.

Options:
  --route NAME      the route to preview (its source receives the webhook)
  --body FILE       the raw webhook body; - reads stdin
  --header K:V      a request header, repeatable (e.g. --header "X-Signature: sha256=…");
                    Content-Type defaults to the source's first accepted type
  --mappings FILE   mappings file (default: MAPPINGS_FILE)
  --skip-auth       do not check the signature/credentials
  --offline         do not read the flow's input types from Genesys (inputs without a type
                    are then sent as strings, as the service does before it has read the flow)
  --redact          mask the inputs the route redacts, as logs and the admin API do
  --json            machine-readable output
  -h, --help        this help

The execution name reads "crm-flow-bridge <delivery-id>": the real one carries the delivery id.
Exit status: 0 a request would be sent, 1 none would (refused, no route match, mapping fails),
2 unusable input (unknown route, unreadable body or mappings, bad environment).
`

export async function previewCommand (args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      route: { type: 'string' },
      body: { type: 'string' },
      header: { type: 'string', multiple: true },
      mappings: { type: 'string' },
      'skip-auth': { type: 'boolean' },
      offline: { type: 'boolean' },
      redact: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true,
    allowPositionals: false
  })
  if (values.help === true) {
    io.out(previewHelp)
    return exitCodes.ok
  }
  if (values.route === undefined || values.body === undefined) throw new CliExit(exitCodes.unusable, `preview needs --route and --body\n\n${previewHelp}`)
  const headers: Record<string, string> = {}
  for (const header of values.header ?? []) {
    const colon = header.indexOf(':')
    if (colon <= 0) throw new CliExit(exitCodes.unusable, `--header "${header}" is not Name: value`)
    headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim()
  }
  let body: Buffer
  try {
    body = values.body === '-' ? readFileSync(0) : readFileSync(values.body)
  } catch (err) {
    throw new CliExit(exitCodes.unusable, `cannot read --body ${values.body}: ${(err as Error).message}`)
  }

  const env = await loadEnv(io)
  const settings = settingsOf(env)
  const { mappings } = requireMappings(values.mappings ?? env.MAPPINGS_FILE, io)
  const notes: string[] = []
  const genesys = values.offline === true ? null : genesysFor(settings)
  if (genesys !== null && genesys.client === null) notes.push(`flow input types not read (${genesys.reason}): inputs without a type are sent as strings`)
  const catalog = genesys?.client == null ? null : new FlowCatalog({ genesys: genesys.client, ttlMs: 60_000 })
  let result: PreviewResult
  try {
    result = await previewWebhook({
      mappings,
      route: values.route,
      body,
      headers,
      baseUrl: `http://${env.HOST}:${env.PORT}`,
      checkAuth: values['skip-auth'] !== true,
      schemaTypes: async route => {
        if (catalog === null) return undefined
        const lookup = await catalog.lookup(route.flowId, route.flowVersion)
        if (lookup.status !== 'ok') {
          notes.push(`flow input types of route ${route.name} unknown (${lookup.status === 'failed' ? lookup.message : lookup.status.replaceAll('_', ' ')}): inputs without a type are sent as strings`)
          return undefined
        }
        return catalog.cachedTypes(route.flowId, route.flowVersion) as ReadonlyMap<string, InputType>
      }
    })
  } finally {
    if (genesys?.client != null) await genesys.close()
  }

  if (!result.ok && result.stage === 'usage') throw new CliExit(exitCodes.unusable, result.message)
  const url = `${settings.genesys.apiUrl}/api/v2/flows/executions`
  if (values.redact === true && result.ok) {
    for (const event of result.events) {
      for (const preview of event.routes) {
        const route = mappings.route(preview.route)
        if (preview.request !== undefined && route !== undefined) preview.request = redactLaunchRequest(preview.request, route.redact)
      }
    }
  }
  if (values.json === true) {
    io.out(json(result.ok ? { ...result, request: { method: 'POST', url, headers: { 'content-type': 'application/json' } }, notes } : { ...result, notes }))
  } else {
    for (const note of notes) io.err(`note: ${note}\n`)
    io.out(human(result, url))
  }
  return result.ok && result.launches > 0 && result.events.every(e => e.routes.every(r => r.problems === undefined)) ? exitCodes.ok : exitCodes.problems
}

function human (result: PreviewResult, url: string): string {
  if (!result.ok) return `no request would be sent: the webhook would be refused at ${result.stage} (${result.status ?? ''} ${result.code}): ${result.message}\n`
  const lines: string[] = []
  for (const event of result.events) {
    lines.push(`# event ${event.eventId}${event.recordId === null ? '' : ` (record ${event.recordId})`}`)
    for (const preview of event.routes) {
      if (!preview.matched) {
        lines.push(`# route ${preview.route}: does not match this event (see its "when"); nothing would be sent`)
      } else if (preview.problems !== undefined) {
        lines.push(`# route ${preview.route}: the delivery would fail without a launch (mapping failed):`)
        for (const problem of preview.problems) lines.push(`#   ${problem.input}: ${problem.reason}`)
      } else {
        lines.push(`# route ${preview.route}: would send`, `POST ${url}`, 'Content-Type: application/json', '', JSON.stringify(preview.request, null, 2), '')
      }
    }
  }
  return lines.join('\n') + '\n'
}
