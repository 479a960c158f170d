/**
 * Failures of a Genesys call that never produced an HTTP answer we can classify, or whose answer
 * was an auth failure at the token endpoint. HTTP answers themselves are results, not errors.
 */
export class GenesysNetworkError extends Error {
  readonly code: string
  /** True when the request certainly did not reach Genesys (refused, DNS), so a retry cannot duplicate. */
  readonly notSent: boolean
  constructor (message: string, code: string, notSent: boolean, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GenesysNetworkError'
    this.code = code
    this.notSent = notSent
  }
}

export class GenesysTokenError extends Error {
  readonly status: number | null
  readonly code: string
  constructor (message: string, status: number | null, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GenesysTokenError'
    this.status = status
    this.code = code
  }
}

const notSentCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH'])

export function toNetworkError (err: unknown, what: string): GenesysNetworkError {
  const cause = err as { code?: string, message?: string, cause?: { code?: string } }
  const code = cause.code ?? cause.cause?.code ?? 'UNKNOWN'
  return new GenesysNetworkError(`${what}: ${cause.message ?? String(err)} (${code})`, code, notSentCodes.has(code), { cause: err })
}
