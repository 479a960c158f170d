/**
 * What every CLI command shares: the service's environment (validated by the same schema as the
 * service), the mappings file, output helpers and the exit-code convention:
 * 0 clean / done, 1 problems found (or the thing asked for would not happen), 2 unusable input.
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import fastifyEnv from '@fastify/env'
import pino from 'pino'
import { deriveSettings, envSchema, ConfigError, type Env, type Settings } from '../config/env.js'
import { createGenesysClient, type GenesysClient } from '../genesys/genesys-client.js'
import { TokenBucket } from '../genesys/rate-limiter.js'
import { sourceTypes } from '../sources/index.js'
import { compileMappings, type Mappings } from '../mapping/mappings.js'
import { MappingsFileError, formatProblem, parseMappingsText } from '../config/mappings-file.js'

export const exitCodes = { ok: 0, problems: 1, unusable: 2 } as const

/** Ends a command with an exit code and a message for stderr (or nothing, when output was printed). */
export class CliExit extends Error {
  readonly code: number
  constructor (code: number, message = '') {
    super(message)
    this.name = 'CliExit'
    this.code = code
  }
}

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
  env: Record<string, string | undefined>
}

/** The environment as the service reads it (defaults applied, types checked); bad values exit 2. */
export async function loadEnv (io: Io): Promise<Env> {
  const app = Fastify({ logger: false })
  try {
    await app.register(fastifyEnv, { schema: envSchema, data: io.env })
    await app.ready()
    return app.config as unknown as Env
  } catch (err) {
    throw new CliExit(exitCodes.unusable, `environment: ${(err as Error).message}`)
  } finally {
    await app.close()
  }
}

export function settingsOf (env: Env): Settings {
  try {
    return deriveSettings(env)
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(exitCodes.unusable, `environment: ${err.message}`)
    throw err
  }
}

export interface LoadedFile {
  file: string
  text: string
  mappings: Mappings
}

export type MappingsOutcome = { ok: true, loaded: LoadedFile } | { ok: false, file: string, error: MappingsFileError }

/** Reads and validates a mappings file; never throws for a bad file (the caller reports it). */
export function readMappings (file: string, io: Io): MappingsOutcome {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return { ok: false, file, error: new MappingsFileError(file, 'unreadable', [{ path: [], message: code === 'ENOENT' ? 'no such file' : (err as Error).message }]) }
  }
  try {
    return { ok: true, loaded: { file, text, mappings: compileMappings(parseMappingsText(text, file, { env: io.env, sourceTypes })) } }
  } catch (err) {
    if (err instanceof MappingsFileError) return { ok: false, file, error: err }
    return { ok: false, file, error: new MappingsFileError(file, 'invalid', [{ path: [], message: (err as Error).message }]) }
  }
}

/** A mappings file that must be good for the command to go on (preview): a bad one exits 2. */
export function requireMappings (file: string, io: Io): LoadedFile {
  const outcome = readMappings(file, io)
  if (outcome.ok) return outcome.loaded
  throw new CliExit(exitCodes.unusable, outcome.error.message)
}

export function formatFileProblems (error: MappingsFileError): string {
  return error.problems.map(p => `  ${formatProblem(p)}`).join('\n')
}

/** A Genesys client for read-only look-ups, or null (with the reason) when there are no credentials. */
export function genesysFor (settings: Settings): { client: GenesysClient, close: () => Promise<void> } | { client: null, reason: string } {
  const { clientId, clientSecret } = settings.genesys
  if (clientId === null || clientSecret === null) return { client: null, reason: 'GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET are not set' }
  const client = createGenesysClient({
    apiUrl: settings.genesys.apiUrl,
    loginUrl: settings.genesys.loginUrl,
    clientId,
    clientSecret,
    timeoutMs: settings.genesys.timeoutMs,
    // Its own budget: the CLI's few reads must not exceed what Genesys allows per client either.
    rateLimiter: new TokenBucket({ perMinute: settings.genesys.ratePerMinute, burst: settings.genesys.rateBurst }),
    log: pino({ level: 'silent' })
  })
  return { client, close: async () => { await client.close() } }
}

/** Fails fast (exit 2) when no token can be had: every look-up would fail the same way. */
export async function checkToken (client: GenesysClient, loginUrl: string): Promise<void> {
  try {
    await client.checkToken(AbortSignal.timeout(30_000))
  } catch (err) {
    throw new CliExit(exitCodes.unusable, `cannot get a Genesys token from ${loginUrl}: ${(err as Error).message}`)
  }
}

export function json (value: unknown): string {
  return JSON.stringify(value, null, 2)
}
