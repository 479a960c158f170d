/**
 * Where a flow problem sits in the mappings file: its config path (`routes[0].inputs.emial`) and line,
 * so logs, the CLI and the admin API point at the line to edit, like the loader's own problems do.
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { LineCounter, isMap, isSeq, parseDocument } from 'yaml'
import type { ConfigPath } from '../config/mappings-file.js'
import { qualifiedInputName } from '../mapping/mapping-engine.js'
import type { Mappings } from '../mapping/mappings.js'
import type { FlowProblem } from './flow-check.js'

export interface LocatedFlowProblem extends FlowProblem {
  path: ConfigPath
  line?: number
}

/** The config path of a problem, using the route's own spelling of the input key. */
export function problemPath (problem: FlowProblem, mappings: Mappings): ConfigPath {
  const index = mappings.routes.findIndex(route => route.name === problem.route)
  if (index === -1) return []
  if (problem.input === null) return ['routes', index, 'flow', problem.code === 'version_not_found' ? 'version' : 'id']
  const described = mappings.describe() as { routes?: Array<{ inputs?: Record<string, unknown> }> }
  const key = Object.keys(described.routes?.[index]?.inputs ?? {}).find(k => qualifiedInputName(k) === problem.input)
  return key === undefined ? ['routes', index, 'inputs'] : ['routes', index, 'inputs', key]
}

/**
 * Adds path and line to each problem. `text` is the file's content when the caller has it; otherwise
 * the file is read again and lines are given only if it is still the content these mappings came from.
 */
export function locateProblems (problems: readonly FlowProblem[], mappings: Mappings, text?: string): LocatedFlowProblem[] {
  if (problems.length === 0) return []
  let source = text
  if (source === undefined) {
    try {
      const current = readFileSync(mappings.file, 'utf8')
      if (createHash('sha256').update(current).digest('hex') === mappings.hash) source = current
    } catch {}
  }
  const lines = source === undefined ? null : lineFinder(source)
  return problems.map(problem => {
    const path = problemPath(problem, mappings)
    const line = lines?.(path)
    return line === undefined ? { ...problem, path } : { ...problem, path, line }
  })
}

function lineFinder (text: string): (path: ConfigPath) => number | undefined {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter })
  return path => {
    let node: unknown = doc.contents
    let offset: number | undefined
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find(item => (item.key as { value?: unknown } | null)?.value === segment)
        if (pair === undefined) break
        offset = (pair.key as { range?: [number] } | null)?.range?.[0] ?? offset
        node = pair.value
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment]
        offset = (node as { range?: [number] } | undefined)?.range?.[0] ?? offset
      } else break
    }
    return offset === undefined ? undefined : lineCounter.linePos(offset).line
  }
}
