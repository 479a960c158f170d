/**
 * Label values for metrics, each from a small bounded set. Prometheus keeps one time series per
 * label combination, so a label fed from request data (a path segment, an error message, an id)
 * could grow without bound; every value here is either fixed in code or comes from the mappings
 * file.
 * @see https://prometheus.io/docs/practices/naming/#labels
 */
import type { GenesysOperation } from '../genesys/genesys-client.js'

/** `2xx`…`5xx`, or `network_error` when no HTTP answer came. */
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'network_error'

export function statusClass (status: number | null): StatusClass {
  if (status === null || !Number.isInteger(status) || status < 100 || status > 599) return 'network_error'
  return `${Math.floor(status / 100)}xx` as StatusClass
}

const operationLabels: Record<GenesysOperation, string> = {
  token: 'token',
  launch: 'launch',
  getFlow: 'get_flow',
  getFlowVersion: 'get_flow_version',
  getExecution: 'get_execution'
}

/** The Genesys client's operation names in snake_case; anything new reads `other` until added here. */
export function operationLabel (operation: GenesysOperation | string): string {
  return operationLabels[operation as GenesysOperation] ?? 'other'
}

/** Rejection codes are constants in the code (`bad_signature`, …); this guards against one that is not. */
const reasonPattern = /^[a-z][a-z0-9_]{0,47}$/
const maxReasons = 64

/**
 * Keeps the `reason` label bounded even if some code path one day passes text: anything that does
 * not look like a code, and any code past the first `maxReasons` distinct ones, becomes `other`.
 */
export function createReasonLabel (): (code: string) => string {
  const seen = new Set<string>()
  return code => {
    if (!reasonPattern.test(code)) return 'other'
    if (seen.has(code)) return code
    if (seen.size >= maxReasons) return 'other'
    seen.add(code)
    return code
  }
}

/** The reason for a webhook rejected before the route ran (body parser, error handler). */
export function reasonForStatus (status: number): string {
  switch (status) {
    case 400: return 'malformed_body'
    case 403: return 'forbidden'
    case 404: return 'unknown_source'
    case 413: return 'body_too_large'
    case 415: return 'unsupported_content_type'
    case 503: return 'unavailable'
    default: return status >= 500 ? 'internal_error' : `http_${status}`
  }
}
