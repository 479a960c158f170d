/**
 * Genesys Cloud regions: SDK key → host. API is `https://api.<host>`, login `https://login.<host>`.
 * @see ../../docs/configuration.md (GENESYS_REGION); source: PureCloudRegionHosts.js of the JS SDK 259.0.0
 */
export const genesysRegions: Readonly<Record<string, string>> = {
  us_east_1: 'mypurecloud.com',
  us_east_2: 'use2.us-gov-pure.cloud',
  us_west_2: 'usw2.pure.cloud',
  ca_central_1: 'cac1.pure.cloud',
  sa_east_1: 'sae1.pure.cloud',
  mx_central_1: 'mxc1.pure.cloud',
  eu_west_1: 'mypurecloud.ie',
  eu_west_2: 'euw2.pure.cloud',
  eu_central_1: 'mypurecloud.de',
  eu_central_2: 'euc2.pure.cloud',
  eusc_de_east_1: 'edee1.eusc-pure.cloud',
  me_central_1: 'mec1.pure.cloud',
  ap_south_1: 'aps1.pure.cloud',
  ap_southeast_1: 'apse1.pure.cloud',
  ap_southeast_2: 'mypurecloud.com.au',
  ap_northeast_1: 'mypurecloud.jp',
  ap_northeast_2: 'apne2.pure.cloud',
  ap_northeast_3: 'apne3.pure.cloud'
}

const knownHosts = new Set(Object.values(genesysRegions))

/**
 * Accepts an SDK key (`us_west_2`), a host (`usw2.pure.cloud`), or a host written with a scheme or an
 * `api.`/`login.` prefix, and returns the bare region host; throws with the list of valid values otherwise.
 */
export function resolveRegionHost (region: string): string {
  const value = region.trim().toLowerCase()
  const byKey = genesysRegions[value.replace(/-/g, '_')]
  if (byKey !== undefined) return byKey
  const host = value.replace(/^https?:\/\//, '').replace(/\/.*$/, '').replace(/^(api|login)\./, '')
  if (knownHosts.has(host)) return host
  throw new Error(`GENESYS_REGION "${region}" is not a Genesys Cloud region; use a host such as ${[...knownHosts].slice(0, 3).join(', ')} or a key such as us_east_1, eu_west_1 (see docs/configuration.md)`)
}

export function regionUrls (region: string): { apiUrl: string, loginUrl: string } {
  const host = resolveRegionHost(region)
  return { apiUrl: `https://api.${host}`, loginUrl: `https://login.${host}` }
}
