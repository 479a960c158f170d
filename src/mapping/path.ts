/**
 * Dotted paths into parsed JSON: `record.fields.email`, `items[0].id`, `items.0.id`,
 * and `fields["Full Name"]` for keys with dots or spaces.
 */
export type PathSegment = string | number

const segmentPattern = /([^.[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g

export function parsePath (path: string): PathSegment[] {
  const segments: PathSegment[] = []
  for (const match of path.matchAll(segmentPattern)) {
    if (match[1] !== undefined) segments.push(/^\d+$/.test(match[1]) ? Number(match[1]) : match[1])
    else if (match[2] !== undefined) segments.push(Number(match[2]))
    else if (match[3] !== undefined) segments.push(match[3].replace(/\\(.)/g, '$1'))
  }
  return segments
}

export function getPath (value: unknown, path: string | PathSegment[]): unknown {
  const segments = typeof path === 'string' ? parsePath(path) : path
  let current: unknown = value
  for (const segment of segments) {
    if (current === null || current === undefined) return undefined
    if (typeof segment === 'number') {
      if (!Array.isArray(current)) return undefined
      current = current[segment]
    } else {
      if (typeof current !== 'object' || Array.isArray(current)) return undefined
      if (!Object.hasOwn(current, segment)) return undefined
      current = (current as Record<string, unknown>)[segment]
    }
  }
  return current
}
