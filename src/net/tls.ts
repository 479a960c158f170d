/**
 * Optional TLS termination in the service itself, for setups without a proxy in front:
 * TLS_CERT_FILE and TLS_KEY_FILE (PEM; the certificate file may carry the chain after the leaf).
 * Read before Fastify is constructed, because its `https` option cannot be added later.
 * @see https://fastify.dev/docs/latest/Reference/Server/#https
 */
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { ConfigError } from '../config/env.js'

export interface TlsFiles {
  cert: Buffer
  key: Buffer
}

/** null when neither variable is set; throws ConfigError naming the variable and the file otherwise. */
export function loadTlsFiles (env: Record<string, string | undefined>): TlsFiles | null {
  const certFile = nonEmpty(env.TLS_CERT_FILE)
  const keyFile = nonEmpty(env.TLS_KEY_FILE)
  if (certFile === null && keyFile === null) return null
  if (certFile === null || keyFile === null) {
    const [missing, present] = certFile === null ? ['TLS_CERT_FILE', 'TLS_KEY_FILE'] : ['TLS_KEY_FILE', 'TLS_CERT_FILE']
    throw new ConfigError(`env/${missing} must be set when ${present} is: TLS needs both the certificate and its private key`)
  }
  const cert = readPem('TLS_CERT_FILE', certFile)
  const key = readPem('TLS_KEY_FILE', keyFile)
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw new ConfigError(`env/TLS_CERT_FILE "${certFile}" and TLS_KEY_FILE "${keyFile}" are not a usable certificate and private key pair: ${(err as Error).message}`)
  }
  return { cert, key }
}

function readPem (variable: string, file: string): Buffer {
  let content: Buffer
  try {
    content = readFileSync(file)
  } catch (err) {
    throw new ConfigError(`env/${variable}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!content.includes('-----BEGIN ')) throw new ConfigError(`env/${variable}: "${file}" is not a PEM file (no -----BEGIN line)`)
  return content
}

function nonEmpty (value: string | undefined): string | null {
  return value === undefined || value.trim() === '' ? null : value
}
