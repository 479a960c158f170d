import { BlockList, isIP } from 'node:net'

/** `13.108.0.0/14`, `2001:db8::/32` or a single address; null when it is none of these. */
export function parseCidr (text: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, ...rest] = text.trim().split('/')
  const version = isIP(address)
  if (rest.length > 0 || version === 0) return null
  const max = version === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1
  if (prefix < 0 || prefix > max) return null
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }
}

/**
 * The common `allowIps` setting as a predicate: true for an address inside one of the ranges.
 * IPv4-mapped IPv6 addresses (`::ffff:13.108.0.1`, what a dual-stack socket reports) count as IPv4.
 */
export function addressFilter (cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList()
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr)
    if (parsed === null) throw new Error(`not an IP address or CIDR range: "${cidr}"`)
    list.addSubnet(parsed.address, parsed.prefix, parsed.family)
  }
  return address => {
    const plain = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1] ?? address
    const version = isIP(plain)
    return version !== 0 && list.check(plain, version === 4 ? 'ipv4' : 'ipv6')
  }
}
