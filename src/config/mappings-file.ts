import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isAbsolute, relative } from 'node:path'
import { LineCounter, parseDocument, isMap, isSeq, type Document } from 'yaml'
import { z } from 'zod'
import { mappingsFileSchema, type MappingsFileContent } from './mappings-schema.js'
import { sourceEntrySchema, type SourceType } from '../sources/source-type.js'

export type ConfigPath = Array<string | number>

export interface ConfigProblem {
  path: ConfigPath
  message: string
  line?: number
  column?: number
}

/**
 * A mappings file that cannot be used. `kind` tells the CLI's exit code apart: `unreadable` and
 * `syntax` are unusable input (2), `invalid` is a file that parsed but says something wrong (1).
 */
export class MappingsFileError extends Error {
  readonly file: string
  readonly kind: 'unreadable' | 'syntax' | 'invalid'
  readonly problems: ConfigProblem[]
  constructor (file: string, kind: MappingsFileError['kind'], problems: ConfigProblem[]) {
    super(`mappings file ${displayPath(file)} ${kind === 'invalid' ? 'is invalid' : kind === 'syntax' ? 'cannot be parsed' : 'cannot be read'}:\n` +
      problems.map(p => `  ${formatProblem(p)}`).join('\n'))
    this.name = 'MappingsFileError'
    this.file = file
    this.kind = kind
    this.problems = problems
  }
}

export function formatPath (path: ConfigPath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (/^[A-Za-z_][\w-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out === '' ? '(top level)' : out
}

export function formatProblem (problem: ConfigProblem): string {
  const where = problem.line === undefined ? '' : `line ${problem.line}: `
  return `${where}${formatPath(problem.path)}: ${problem.message}`
}

function displayPath (file: string): string {
  if (!isAbsolute(file)) return file
  const rel = relative(process.cwd(), file)
  return rel.startsWith('..') ? file : rel
}

export interface LoadedMappingsFile {
  file: string
  hash: string
  content: MappingsFileContent
  /** Validated `sources.<name>` entries, each parsed by its type's schema (defaults applied). */
  sourceSettings: Map<string, { type: SourceType, settings: Record<string, unknown> }>
}

export interface LoadOptions {
  env: Record<string, string | undefined>
  sourceTypes: ReadonlyMap<string, SourceType>
}

/** Reads, parses (YAML or JSON), substitutes `${VAR}`, validates; throws `MappingsFileError`. */
export function loadMappingsFile (file: string, options: LoadOptions): LoadedMappingsFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new MappingsFileError(file, 'unreadable', [{ path: [], message: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message }])
  }
  return parseMappingsText(text, file, options)
}

export function parseMappingsText (text: string, file: string, options: LoadOptions): LoadedMappingsFile {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    // One mistake makes the parser report a cascade; the first few are the useful ones.
    throw new MappingsFileError(file, 'syntax', doc.errors.slice(0, 3).map(error => {
      const pos = lineCounter.linePos(error.pos[0])
      return { path: [], message: error.message.split('\n')[0] ?? error.message, line: pos.line, column: pos.col }
    }))
  }
  const locate = (problem: ConfigProblem): ConfigProblem => ({ ...problem, ...lineOf(doc, lineCounter, problem.path) })

  const problems: ConfigProblem[] = []
  const substituted = substituteEnv(doc.toJS({ maxAliasCount: 100 }), [], options.env, problems)
  if (problems.length > 0) throw new MappingsFileError(file, 'invalid', problems.map(locate))

  const parsed = mappingsFileSchema.safeParse(substituted)
  if (!parsed.success) throw new MappingsFileError(file, 'invalid', zodProblems(parsed.error).map(locate))
  const content = parsed.data

  const sourceSettings = new Map<string, { type: SourceType, settings: Record<string, unknown> }>()
  for (const [name, entry] of Object.entries(content.sources)) {
    const type = options.sourceTypes.get(entry.type)
    if (type === undefined) {
      problems.push({ path: ['sources', name, 'type'], message: `unknown source type "${entry.type}"; known types: ${[...options.sourceTypes.keys()].join(', ')}` })
      continue
    }
    const result = sourceEntrySchema(type).safeParse(entry)
    if (!result.success) {
      problems.push(...zodProblems(result.error, ['sources', name]))
      continue
    }
    sourceSettings.set(name, { type, settings: result.data as Record<string, unknown> })
  }

  const routeNames = new Set<string>()
  content.routes.forEach((route, index) => {
    if (routeNames.has(route.name)) problems.push({ path: ['routes', index, 'name'], message: `route name "${route.name}" is used twice` })
    routeNames.add(route.name)
    if (content.sources[route.source] === undefined) {
      problems.push({ path: ['routes', index, 'source'], message: `no source named "${route.source}"; defined sources: ${Object.keys(content.sources).join(', ') || '(none)'}` })
    }
    const bareNames = new Map<string, string>()
    for (const name of Object.keys(route.inputs)) {
      const bare = name.replace(/^Flow\./, '')
      const other = bareNames.get(bare)
      if (other !== undefined) problems.push({ path: ['routes', index, 'inputs', name], message: `maps the same flow input as "${other}"` })
      bareNames.set(bare, name)
    }
    for (const [i, redacted] of (route.redact ?? []).entries()) {
      if (!bareNames.has(redacted.replace(/^Flow\./, ''))) problems.push({ path: ['routes', index, 'redact', i], message: `"${redacted}" is not one of this route's inputs` })
    }
  })
  if (problems.length > 0) throw new MappingsFileError(file, 'invalid', problems.map(locate))

  return { file, hash: createHash('sha256').update(text).digest('hex'), content, sourceSettings }
}

const envReference = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** Replaces `${VAR}` and `${VAR:-fallback}` in every string; an unset variable without fallback is a problem. */
function substituteEnv (value: unknown, path: ConfigPath, env: LoadOptions['env'], problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    return value.replace(envReference, (whole, name: string, fallback: string | undefined) => {
      const resolved = env[name]
      if (resolved !== undefined && resolved !== '') return resolved
      if (fallback !== undefined) return fallback
      problems.push({ path, message: `environment variable ${name} is not set` })
      return whole
    })
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, [...path, i], env, problems))
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, [...path, k], env, problems)]))
  }
  return value
}

function zodProblems (error: z.ZodError, prefix: ConfigPath = []): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  for (const issue of error.issues) {
    // A union reports one branch's issues; show the branch that got furthest instead of "invalid input".
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const best = issue.errors.reduce((a, b) => (deepest(b) > deepest(a) ? b : a))
      if (best.length > 0 && deepest(best) > 0) {
        problems.push(...zodProblems(new z.ZodError(best), [...prefix, ...issue.path as ConfigPath]))
        continue
      }
    }
    problems.push({ path: [...prefix, ...issue.path as ConfigPath], message: issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map(k => `"${k}"`).join(', ')}` : issue.message })
  }
  return problems
}

function deepest (issues: z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map(i => i.path.length + (i.code === 'invalid_type' ? 0 : 0.5)))
}

/** The line of the deepest node of `path` that exists in the YAML document. */
function lineOf (doc: Document, lineCounter: LineCounter, path: ConfigPath): { line?: number, column?: number } {
  let node: unknown = doc.contents
  let offset: number | undefined = (node as { range?: [number] } | null)?.range?.[0]
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(item => (item.key as { value?: unknown } | null)?.value === segment)
      if (pair === undefined) break
      const keyRange = (pair.key as { range?: [number] } | null)?.range
      offset = keyRange?.[0] ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment]
      offset = (node as { range?: [number] } | undefined)?.range?.[0] ?? offset
    } else break
  }
  if (offset === undefined) return {}
  const pos = lineCounter.linePos(offset)
  return { line: pos.line, column: pos.col }
}
