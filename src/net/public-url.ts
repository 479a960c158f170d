/**
 * The URL the CRM called, for signatures that cover it (HubSpot v3) and for logs: the source's
 * `publicUrl` setting when set, else what the request says — X-Forwarded-Proto and
 * X-Forwarded-Host count only from proxies TRUST_PROXY trusts (src/net/trust-proxy.ts).
 *
 * The setting is read from `Mappings#describe()` (the validated file with secrets masked; a URL is
 * not one) once per loaded mappings object: a reload builds a new object, so the WeakMap never
 * serves a stale value and drops it with the old mappings.
 */
import type { FastifyRequest } from 'fastify'
import type { Mappings } from '../mapping/mappings.js'

const configuredUrls = new WeakMap<Mappings, ReadonlyMap<string, string>>()

/** `sources.<name>.publicUrl` of each source that sets it. */
export function configuredPublicUrls (mappings: Mappings): ReadonlyMap<string, string> {
  let urls = configuredUrls.get(mappings)
  if (urls === undefined) {
    const described = (mappings.describe() as { sources?: Record<string, { publicUrl?: unknown } | undefined> } | null)?.sources ?? {}
    const found = new Map<string, string>()
    for (const [name, settings] of Object.entries(described)) {
      if (typeof settings?.publicUrl === 'string') found.set(name, settings.publicUrl)
    }
    urls = found
    configuredUrls.set(mappings, urls)
  }
  return urls
}

/**
 * For POST /webhooks/:source: the configured URL (plus the received query string when it has
 * none, as HubSpot signs it), else `<protocol>://<host><path and query>` as Fastify resolves them.
 */
export function publicUrlFor (request: FastifyRequest, mappings: Mappings): string {
  const source = (request.params as { source?: unknown } | undefined)?.source
  const configured = typeof source === 'string' ? configuredPublicUrls(mappings).get(source) : undefined
  if (configured === undefined) return `${request.protocol}://${request.host}${request.url}`
  if (configured.includes('?')) return configured
  const query = request.url.indexOf('?')
  return query === -1 ? configured : configured + request.url.slice(query)
}
