/**
 * Public types of the Genesys sandbox: the flows, clients and options it is configured with, and what it
 * records. Kept apart from the server code so config loading and tests can import them without Fastify.
 */

export type SandboxScalarType = 'string' | 'integer' | 'decimal' | 'boolean' | 'datetime' | 'date'
export type SandboxInputType = SandboxScalarType | 'json' | `${SandboxScalarType}[]`

export interface SandboxFlowVersion {
  /** Genesys version ids are strings such as "1.0", not integers. */
  id: string
  /** Declared flow inputs, keys WITHOUT the `Flow.` prefix. */
  inputs: Record<string, SandboxInputType>
  /** Declared flow outputs (keys without `Flow.`); only used to shape `outputSchema` and `outputData`. */
  outputs?: Record<string, SandboxInputType>
  /** ISO-8601; defaults to the time the sandbox started. */
  datePublished?: string
}

export type SandboxOutcomeStatus = 'COMPLETED' | 'FAILED' | 'ERROR'

export interface SandboxOutcome {
  status: SandboxOutcomeStatus
  /** How long executions stay RUNNING; default 0. */
  afterMs?: number
  errorCode?: string
  errorMessage?: string
  /** Values reported in `outputData` of COMPLETED executions, keys with the `Flow.` prefix. */
  outputData?: Record<string, unknown>
}

export interface SandboxFlow {
  id: string
  name: string
  /** Lower-case Architect flow type as used in the `type` query parameter: 'workflow', 'inboundcall', … */
  type: string
  versions: SandboxFlowVersion[]
  publishedVersion: string | null
  outcome?: SandboxOutcome
}

export interface SandboxClient {
  clientId: string
  clientSecret: string
  /** Default 86399 (what Genesys typically reports for a 24 h token). */
  tokenTtlSeconds?: number
}

export interface SandboxOptions {
  flows: SandboxFlow[]
  clients: SandboxClient[]
  /** Per client, rolling 60 s window over the API routes; default 300; 0 = off. */
  rateLimitPerMinute?: number
  /** What to do with inputData keys the flow does not declare; default 'reject'. */
  unknownInputs?: 'reject' | 'ignore'
  /** Fastify `logger` option, or a pino logger instance. Default false. */
  logger?: boolean | object
  /** Clock in epoch ms; injectable so tests can expire tokens and finish executions without sleeping. */
  now?: () => number
  /** [0, 1) source for fault probabilities; injectable for deterministic tests. */
  random?: () => number
  /** Oldest recorded requests are dropped beyond this; default 10000, so long benchmarks stay bounded. */
  maxRecordedRequests?: number
}

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string | string[]>
  /** Lower-cased request headers; `authorization` is replaced by '[redacted]'. */
  headers: Record<string, string | string[] | undefined>
  /** Parsed body (JSON value or form fields); undefined when there was none or it could not be parsed. */
  body: unknown
  /** ISO-8601 arrival time. */
  time: string
  /** Status answered; null while in flight or when a reset/hang fault dropped the connection. */
  status: number | null
  correlationId: string
  /** The OAuth client behind the bearer token, once authenticated. */
  clientId?: string
  /** Kind of the fault that answered (or delayed) this request. */
  fault?: string
}

export interface SandboxExecution {
  id: string
  name: string
  flowId: string
  flowName: string
  /** Snapshot of the version launched, so later flow upserts do not rewrite history. */
  flowVersion: SandboxFlowVersion
  /** inputData as accepted (undeclared keys dropped when unknownInputs is 'ignore'). */
  inputData: Record<string, unknown>
  launchedAt: number
  clientId: string
  correlationId: string
  outcome: SandboxOutcome
}

export interface SandboxStats {
  /** All recorded (non-control) requests. */
  requests: number
  /** Launches answered 200. */
  launches: number
  /** Launches answered 4xx by the sandbox's own validation. */
  launchesRejected: number
  tokensIssued: number
  /** 429s produced by the rate limiter. */
  organic429: number
  /** 429s produced by fault rules. */
  injected429: number
  /** Fault rules that fired, any kind. */
  faultsApplied: number
}
