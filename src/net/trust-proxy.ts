/**
 * TRUST_PROXY → Fastify's `trustProxy`, which decides whether `request.ip`, `request.protocol` and
 * `request.host` come from X-Forwarded-For/-Proto/-Host. Only trust what you run: a caller that
 * reaches the service directly could otherwise claim any address (defeating `allowIps`) and any
 * host (changing the URL HubSpot's v3 signature is checked against).
 * @see https://fastify.dev/docs/latest/Reference/Server/#trustproxy
 */
import { ConfigError } from '../config/env.js'
import { parseCidr } from '../sources/ip-allow-list.js'

/** Fastify's `trustProxy` forms this returns. */
export type TrustProxy = boolean | string[] | ((address: string, hop: number) => boolean)

/** proxy-addr's names for the loopback, link-local and unique-local (private) ranges. */
const namedRanges = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * `false` (default; also empty) — X-Forwarded-* ignored;
 * `true` — trust every hop (only when the service is unreachable except through the proxy);
 * `N` — trust the N closest hops;
 * `10.0.0.0/8,192.0.2.10,loopback` — trust the proxies at these addresses.
 */
export function parseTrustProxy (value: string | undefined): TrustProxy {
  const text = (value ?? '').trim()
  if (text === '' || text === 'false') return false
  if (text === 'true') return true
  if (/^\d+$/.test(text)) {
    const hops = Number(text)
    // What Fastify does with a number (its types only admit the function form).
    return hops === 0 ? false : (_address: string, hop: number) => hop < hops
  }
  const entries = text.split(',').map(entry => entry.trim()).filter(entry => entry !== '')
  for (const entry of entries) {
    if (namedRanges.has(entry) || parseCidr(entry) !== null) continue
    throw new ConfigError(`env/TRUST_PROXY: "${entry}" is not an IP address or CIDR range; expected false, true, a hop count, or a comma-separated list of addresses, CIDR ranges (10.0.0.0/8, 2001:db8::/32) and the names loopback, linklocal, uniquelocal`)
  }
  return entries
}
