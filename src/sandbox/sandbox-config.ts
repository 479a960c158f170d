/**
 * Validation of sandbox flows and config files (YAML or JSON). The same flow schema guards
 * `upsertFlow` and `POST /__sandbox/flows`, so a typo in a test fixture fails loudly instead of producing
 * a flow that silently accepts nothing.
 */
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { INPUT_TYPES } from './input-schema.js'
import type { SandboxInputType } from './sandbox-types.js'

const variables = z.record(
  z.string().min(1).refine(name => !name.startsWith('Flow.'), 'declare variables without the "Flow." prefix'),
  z.enum(INPUT_TYPES as [SandboxInputType, ...SandboxInputType[]])
)

const flowVersionSchema = z.strictObject({
  id: z.string().min(1),
  inputs: variables.default({}),
  outputs: variables.optional(),
  datePublished: z.iso.datetime().optional()
})

const outcomeSchema = z.strictObject({
  status: z.enum(['COMPLETED', 'FAILED', 'ERROR']),
  afterMs: z.number().nonnegative().optional(),
  errorCode: z.string().optional(),
  errorMessage: z.string().optional(),
  outputData: z.record(z.string(), z.unknown()).optional()
})

export const flowSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  type: z.string().min(1).transform(type => type.toLowerCase()),
  versions: z.array(flowVersionSchema).default([]),
  publishedVersion: z.string().min(1).nullable().default(null),
  outcome: outcomeSchema.optional()
}).refine(
  flow => flow.publishedVersion === null || flow.versions.some(version => version.id === flow.publishedVersion),
  { message: 'publishedVersion must be the id of one of the versions', path: ['publishedVersion'] }
)

export const clientSchema = z.strictObject({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  tokenTtlSeconds: z.number().positive().optional()
})

export const sandboxConfigSchema = z.strictObject({
  flows: z.array(flowSchema).default([]),
  clients: z.array(clientSchema).min(1),
  rateLimitPerMinute: z.int().nonnegative().optional(),
  unknownInputs: z.enum(['reject', 'ignore']).optional()
}).refine(
  config => new Set(config.flows.map(flow => flow.id)).size === config.flows.length,
  { message: 'flow ids must be unique', path: ['flows'] }
)

export type SandboxConfig = z.infer<typeof sandboxConfigSchema>

/** `flows[2].versions[0].inputs.x: message`, one issue per line. */
export function formatIssues (error: z.ZodError): string {
  return error.issues.map(issue => {
    const path = issue.path.map((part, i) => typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`).join('')
    return `${path === '' ? '(root)' : path}: ${issue.message}`
  }).join('\n')
}

export function parseSandboxConfig (value: unknown, source = 'config'): SandboxConfig {
  const result = sandboxConfigSchema.safeParse(value)
  if (!result.success) throw new Error(`invalid sandbox ${source}:\n${formatIssues(result.error)}`)
  return result.data
}

export async function loadSandboxConfig (file: string): Promise<SandboxConfig> {
  const text = await readFile(file, 'utf8')
  // YAML 1.2 is a superset of JSON, so one parser reads both kinds of file.
  return parseSandboxConfig(parseYaml(text), `config ${file}`)
}
