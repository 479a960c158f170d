import { loadMappingsFile, parseMappingsText, type LoadedMappingsFile, type LoadOptions } from '../config/mappings-file.js'
import type { SourceAdapter } from '../sources/source-adapter.js'
import { addressFilter } from '../sources/ip-allow-list.js'
import { compileRoute, type CompiledRoute } from './mapping-engine.js'

/**
 * One loaded, validated mappings file, ready to serve: the source adapters by name and the routes.
 * Immutable: a reload builds a new one and swaps it in, so work that started with this one finishes
 * with it.
 */
export interface Mappings {
  file: string
  hash: string
  loadedAt: Date
  sources: ReadonlyMap<string, SourceAdapter>
  routes: readonly CompiledRoute[]
  routesFor (source: string): readonly CompiledRoute[]
  route (name: string): CompiledRoute | undefined
  /** The file's content after validation, with secrets masked; safe to show an admin. */
  describe (): unknown
}

export function compileMappings (loaded: LoadedMappingsFile, loadedAt = new Date()): Mappings {
  const sources = new Map<string, SourceAdapter>()
  for (const [name, { type, settings }] of loaded.sourceSettings) {
    const adapter = type.create(name, settings)
    const allowIps = settings.allowIps as string[] | undefined
    sources.set(name, allowIps === undefined || allowIps.length === 0 ? adapter : { ...adapter, allowsAddress: addressFilter(allowIps) })
  }
  const routes = loaded.content.routes.map(compileRoute)
  const bySource = new Map<string, CompiledRoute[]>()
  for (const route of routes) {
    if (!route.enabled) continue
    const list = bySource.get(route.source) ?? []
    list.push(route)
    bySource.set(route.source, list)
  }
  const byName = new Map(routes.map(route => [route.name, route]))
  return {
    file: loaded.file,
    hash: loaded.hash,
    loadedAt,
    sources,
    routes,
    routesFor: source => bySource.get(source) ?? [],
    route: name => byName.get(name),
    describe: () => ({
      sources: Object.fromEntries([...loaded.sourceSettings].map(([name, { settings }]) => [name, maskSecrets(settings)])),
      routes: loaded.content.routes
    })
  }
}

export function loadMappings (file: string, options: LoadOptions): Mappings {
  return compileMappings(loadMappingsFile(file, options))
}

export function parseMappings (text: string, file: string, options: LoadOptions): Mappings {
  return compileMappings(parseMappingsText(text, file, options))
}

const secretKey = /secret|password|token|value|key|code/i

/** Source settings with every credential-like string replaced, for admin views and logs. */
export function maskSecrets (value: unknown, key = ''): unknown {
  if (typeof value === 'string') return secretKey.test(key) ? '[redacted]' : value
  if (Array.isArray(value)) return value.map(item => maskSecrets(item, key))
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k === 'type' ? '' : k)]))
  }
  return value
}
