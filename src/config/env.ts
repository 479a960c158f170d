import { fileURLToPath } from 'node:url'
import { regionUrls } from './regions.js'

/** Where `npm start` finds its mappings when MAPPINGS_FILE is unset. */
export const exampleMappingsFile = fileURLToPath(new URL('../../config/mappings.example.yaml', import.meta.url))

/**
 * The environment, as @fastify/env validates it (JSON Schema through env-schema). Every key is
 * documented in docs/configuration.md; keep the two in step.
 */
export const envSchema = {
  type: 'object',
  required: [],
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    MAPPINGS_FILE: { type: 'string', minLength: 1, default: exampleMappingsFile },
    GENESYS_REGION: { type: 'string', minLength: 1, default: 'mypurecloud.com' },
    GENESYS_CLIENT_ID: { type: 'string' },
    GENESYS_CLIENT_SECRET: { type: 'string' },
    GENESYS_API_URL: { type: 'string', pattern: '^https?://' },
    GENESYS_LOGIN_URL: { type: 'string', pattern: '^https?://' },
    GENESYS_TIMEOUT_MS: { type: 'integer', minimum: 100, default: 15000 },
    GENESYS_RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 0, default: 300 },
    GENESYS_RATE_BURST: { type: 'integer', minimum: 1, default: 5 },
    GENESYS_MAX_IN_FLIGHT: { type: 'integer', minimum: 1, maximum: 256, default: 8 },
    DATABASE_URL: { type: 'string', pattern: '^(sqlite:|postgres://|postgresql://)', default: 'sqlite:./data/bridge.db' },
    DRY_RUN: { type: 'boolean' },
    ADMIN_TOKEN: { type: 'string', minLength: 16 },
    BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, default: 1048576 },
    DISPATCH_POLL_MS: { type: 'integer', minimum: 10, default: 500 },
    LEASE_MS: { type: 'integer', minimum: 1000, default: 60000 },
    RETRY_MAX_ATTEMPTS: { type: 'integer', minimum: 1, maximum: 1000, default: 12 },
    RETRY_MAX_AGE_MS: { type: 'integer', minimum: 1000, default: 86400000 },
    RETRY_BASE_DELAY_MS: { type: 'integer', minimum: 1, default: 1000 },
    RETRY_MAX_DELAY_MS: { type: 'integer', minimum: 1, default: 600000 },
    LOG_PAYLOAD_MAX_BYTES: { type: 'integer', minimum: 64, default: 4096 },
    SHUTDOWN_GRACE_MS: { type: 'integer', minimum: 0, default: 10000 },
    RETENTION_SUCCEEDED_MS: { type: 'integer', minimum: 60000, default: 604800000 },
    RETENTION_SWEEP_MS: { type: 'integer', minimum: 1000, default: 60000 },
    FLOW_SCHEMA_TTL_MS: { type: 'integer', minimum: 1000, default: 300000 },
    WATCH_MAPPINGS: { type: 'boolean', default: true },
    OUTCOME_POLL_BASE_MS: { type: 'integer', minimum: 100, default: 2000 },
    OUTCOME_POLL_MAX_MS: { type: 'integer', minimum: 100, default: 60000 },
    OUTCOME_TIMEOUT_MS: { type: 'integer', minimum: 1000, default: 3600000 },
    TRUST_PROXY: { type: 'string', default: 'false' },
    TLS_CERT_FILE: { type: 'string', minLength: 1 },
    TLS_KEY_FILE: { type: 'string', minLength: 1 },
    DATABASE_POOL_SIZE: { type: 'integer', minimum: 1, maximum: 200, default: 10 },
    SQLITE_WRITER_THREAD: { type: 'boolean', default: false }
  }
} as const

/** The raw, validated environment (`fastify.config`). */
export interface Env {
  PORT: number
  HOST: string
  LOG_LEVEL: string
  MAPPINGS_FILE: string
  GENESYS_REGION: string
  GENESYS_CLIENT_ID?: string
  GENESYS_CLIENT_SECRET?: string
  GENESYS_API_URL?: string
  GENESYS_LOGIN_URL?: string
  GENESYS_TIMEOUT_MS: number
  GENESYS_RATE_LIMIT_PER_MINUTE: number
  GENESYS_RATE_BURST: number
  GENESYS_MAX_IN_FLIGHT: number
  DATABASE_URL: string
  DRY_RUN?: boolean
  ADMIN_TOKEN?: string
  BODY_LIMIT_BYTES: number
  DISPATCH_POLL_MS: number
  LEASE_MS: number
  RETRY_MAX_ATTEMPTS: number
  RETRY_MAX_AGE_MS: number
  RETRY_BASE_DELAY_MS: number
  RETRY_MAX_DELAY_MS: number
  LOG_PAYLOAD_MAX_BYTES: number
  SHUTDOWN_GRACE_MS: number
  RETENTION_SUCCEEDED_MS: number
  RETENTION_SWEEP_MS: number
  FLOW_SCHEMA_TTL_MS: number
  WATCH_MAPPINGS: boolean
  OUTCOME_POLL_BASE_MS: number
  OUTCOME_POLL_MAX_MS: number
  OUTCOME_TIMEOUT_MS: number
  TRUST_PROXY: string
  TLS_CERT_FILE?: string
  TLS_KEY_FILE?: string
  DATABASE_POOL_SIZE: number
  SQLITE_WRITER_THREAD: boolean
}

export type StoreLocation = { kind: 'sqlite', file: string } | { kind: 'postgres', url: string }

/** Settings derived from the environment, checked beyond what JSON Schema can say. */
export interface Settings {
  genesys: {
    apiUrl: string
    loginUrl: string
    clientId: string | null
    clientSecret: string | null
    timeoutMs: number
    ratePerMinute: number
    rateBurst: number
    maxInFlight: number
  }
  dryRun: boolean
  store: StoreLocation
}

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export function parseDatabaseUrl (url: string): StoreLocation {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')
    if (file === '') throw new ConfigError('DATABASE_URL "sqlite:" needs a file path, e.g. sqlite:./data/bridge.db')
    return { kind: 'sqlite', file }
  }
  return { kind: 'postgres', url }
}

export function deriveSettings (env: Env): Settings {
  const clientId = nonEmpty(env.GENESYS_CLIENT_ID)
  const clientSecret = nonEmpty(env.GENESYS_CLIENT_SECRET)
  if ((clientId === null) !== (clientSecret === null)) {
    throw new ConfigError(`env/${clientId === null ? 'GENESYS_CLIENT_ID' : 'GENESYS_CLIENT_SECRET'} must be set when ${clientId === null ? 'GENESYS_CLIENT_SECRET' : 'GENESYS_CLIENT_ID'} is`)
  }
  const hasCredentials = clientId !== null
  if (env.DRY_RUN === false && !hasCredentials) {
    throw new ConfigError('env/DRY_RUN is false but GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET are not set: nothing could be launched')
  }
  let urls: { apiUrl: string, loginUrl: string }
  try {
    urls = regionUrls(env.GENESYS_REGION)
  } catch (err) {
    if (env.GENESYS_API_URL === undefined || env.GENESYS_LOGIN_URL === undefined) throw new ConfigError(`env/${(err as Error).message}`)
    urls = { apiUrl: env.GENESYS_API_URL, loginUrl: env.GENESYS_LOGIN_URL }
  }
  return {
    genesys: {
      apiUrl: stripSlash(env.GENESYS_API_URL ?? urls.apiUrl),
      loginUrl: stripSlash(env.GENESYS_LOGIN_URL ?? urls.loginUrl),
      clientId,
      clientSecret,
      timeoutMs: env.GENESYS_TIMEOUT_MS,
      ratePerMinute: env.GENESYS_RATE_LIMIT_PER_MINUTE,
      rateBurst: env.GENESYS_RATE_BURST,
      maxInFlight: env.GENESYS_MAX_IN_FLIGHT
    },
    dryRun: env.DRY_RUN ?? !hasCredentials,
    store: parseDatabaseUrl(env.DATABASE_URL)
  }
}

function nonEmpty (value: string | undefined): string | null {
  return value === undefined || value.trim() === '' ? null : value
}

function stripSlash (url: string): string {
  return url.replace(/\/+$/, '')
}
