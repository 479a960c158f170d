/**
 * Just enough of the Dockerfile and .dockerignore formats to lint this project's files and replay
 * their steps outside Docker: line continuations, comments, parser directives, exec (JSON) and
 * shell forms, `--flag=value` options, stages.
 * @see https://docs.docker.com/reference/dockerfile/
 * @see https://docs.docker.com/build/concepts/context/#dockerignore-files
 */
export interface Instruction {
  keyword: string
  /** The arguments as written, continuations joined, flags removed. */
  args: string
  flags: Record<string, string>
  /** The exec-form array, when the arguments are one. */
  json: string[] | null
  line: number
}

export interface Stage {
  image: string
  name: string | null
  instructions: Instruction[]
}

export const knownKeywords = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'MAINTAINER'])

export function parseDockerfile (text: string): Instruction[] {
  const instructions: Instruction[] = []
  const lines = text.split('\n')
  let buffer = ''
  let startLine = 0
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '')
    const trimmed = line.trim()
    // Comments (and parser directives) are whole lines; inside a continuation they are dropped too.
    if (trimmed.startsWith('#') || (trimmed === '' && buffer === '')) continue
    if (buffer === '') startLine = i + 1
    if (trimmed.endsWith('\\')) {
      buffer += `${trimmed.slice(0, -1).trim()} `
      continue
    }
    buffer += trimmed
    instructions.push(parseInstruction(buffer.trim(), startLine))
    buffer = ''
  }
  if (buffer.trim() !== '') instructions.push(parseInstruction(buffer.trim(), startLine))
  return instructions
}

function parseInstruction (text: string, line: number): Instruction {
  const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/s.exec(text) ?? []
  let args = rest
  const flags: Record<string, string> = {}
  for (;;) {
    const flag = /^--([\w-]+)(?:=(\S*))?\s*/.exec(args)
    if (flag === null) break
    flags[flag[1]!] = flag[2] ?? 'true'
    args = args.slice(flag[0].length)
  }
  let json: string[] | null = null
  if (args.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(args)
      if (Array.isArray(parsed) && parsed.every(item => typeof item === 'string')) json = parsed as string[]
    } catch {}
  }
  return { keyword: keyword.toUpperCase(), args, flags, json, line }
}

export function stages (instructions: Instruction[]): Stage[] {
  const out: Stage[] = []
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/)
      out.push({ image, name: as?.toUpperCase() === 'AS' ? name ?? null : null, instructions: [] })
    } else {
      out.at(-1)?.instructions.push(instruction)
    }
  }
  return out
}

/** `KEY=value KEY2="x y"` (and the legacy `KEY value`) → entries. */
export function parseKeyValues (args: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (!/^[\w.-]+=/.test(args)) {
    const [key = '', ...value] = args.split(/\s+/)
    out[key] = value.join(' ')
    return out
  }
  for (const match of args.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = match[2]!
    out[match[1]!] = raw.startsWith('"') ? JSON.parse(raw) as string : raw
  }
  return out
}

/** Shell-form `COPY a b dest` or exec-form `COPY ["a", "dest"]` → sources and destination. */
export function copyPaths (instruction: Instruction): { sources: string[], dest: string } {
  const parts = instruction.json ?? instruction.args.split(/\s+/)
  return { sources: parts.slice(0, -1), dest: parts.at(-1) ?? '' }
}

/** The commands of a RUN, split on `&&` (this project's Dockerfile chains with `&&` only). */
export function runCommands (instruction: Instruction): string[] {
  return (instruction.json === null ? instruction.args : instruction.json.join(' ')).split('&&').map(part => part.trim()).filter(part => part !== '')
}

/** A .dockerignore as a predicate over context-relative paths (`!` exceptions, `*`, `?`, `**`). */
export function dockerignore (text: string): (path: string) => boolean {
  const rules = text.split('\n')
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#'))
    .map(line => {
      const negate = line.startsWith('!')
      const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, '')
      return { negate, regex: globToRegex(pattern) }
    })
  return path => {
    // A path is excluded when it, or a folder above it, matches the last rule that applies.
    const parts = path.split('/')
    let excluded = false
    for (const rule of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (rule.regex.test(parts.slice(0, i).join('/'))) {
          excluded = !rule.negate
          break
        }
      }
    }
    return excluded
  }
}

function globToRegex (pattern: string): RegExp {
  let out = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        out += '(?:.*/)?'
        i += 2
      } else {
        out += '.*'
        i += 1
      }
    } else if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${out}$`)
}
