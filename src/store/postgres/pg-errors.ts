import { StoreUnavailableError } from '../store.js'

/** Socket-level failures: the server is not there (yet, or any more). */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ECONNABORTED'])

/**
 * SQLSTATE classes that mean "this database cannot take the work now", as opposed to a problem
 * with one statement: 08 connection exception, 53 insufficient resources (too many connections,
 * disk full), 57P operator intervention (admin/crash shutdown, cannot connect now), 58 system error.
 * @see {@link https://www.postgresql.org/docs/current/errcodes-appendix.html}
 */
const unavailableSqlState = /^(08|53|57P|58)/

/** pg and pg-pool report these without a code. */
const unavailableMessages = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end',
  'Query read timeout',
  'connection timeout'
]

export function isUnavailable (err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true
  if (typeof err !== 'object' || err === null) return false
  const { code, message } = err as { code?: unknown, message?: unknown }
  if (typeof code === 'string' && (networkCodes.has(code) || unavailableSqlState.test(code))) return true
  if (err instanceof AggregateError) return err.errors.some(isUnavailable)
  return typeof message === 'string' && unavailableMessages.some(m => message.includes(m))
}

/** Rethrows connection-level failures as StoreUnavailableError (ingest answers 503); others as they are. */
export function mapPgError (err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isUnavailable(err)) return err
  const code = (err as { code?: unknown }).code
  return new StoreUnavailableError(`PostgreSQL unavailable: ${(err as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err })
}
