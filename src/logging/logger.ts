import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino'

/**
 * Paths masked in every log line: credentials that could reach a log object by accident. Log
 * calls never put headers or tokens in fields on purpose; this is the second line of defence.
 * @see https://github.com/pinojs/pino/blob/main/docs/redaction.md
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-hubspot-signature"]',
  'req.headers["x-hubspot-signature-v3"]',
  'req.headers["x-zendesk-webhook-signature"]',
  'headers.authorization',
  'authorization',
  'accessToken',
  'access_token',
  'clientSecret',
  'secret',
  'password',
  'sessionId',
  'SessionId'
]

/** `/webhooks/x?code=abc&t` → `/webhooks/x?code=[redacted]&t`: query values can be credentials (Dataverse `?code=`, `?token=`). */
export function maskQueryValues (url: string): string {
  const start = url.indexOf('?')
  if (start === -1) return url
  const pairs = url.slice(start + 1).split('&').map(pair => pair.includes('=') ? `${pair.slice(0, pair.indexOf('='))}=[redacted]` : pair)
  return `${url.slice(0, start + 1)}${pairs.join('&')}`
}

/** Fastify's own request serializer, with the query values masked. */
function serializeRequest (req: { method?: string, url?: string, host?: string, ip?: string, socket?: { remotePort?: number } }): Record<string, unknown> {
  return { method: req.method, url: typeof req.url === 'string' ? maskQueryValues(req.url) : req.url, host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: { req: serializeRequest },
    base: { service: 'crm-flow-bridge' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: label => ({ level: label }) }
  }
}

/**
 * JSON lines on stdout, or pretty-printed when stdout is a terminal (and pino-pretty is installed).
 * Do not switch on NODE_ENV: a TTY is what tells a person is reading.
 */
export function createLogger (level: string, destination?: DestinationStream): Logger {
  if (destination !== undefined) return pino(loggerOptions(level), destination)
  if (process.stdout.isTTY === true) {
    return pino({ ...loggerOptions(level), transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard', ignore: 'pid,hostname,service' } } })
  }
  const stdout = linesPerTurn(pino.destination({ dest: 1, sync: true }))
  process.once('exit', () => { stdout.flushSync() })
  return pino(loggerOptions(level), stdout)
}

/**
 * Hands `stream` the lines logged during one turn of the event loop in one write, at the end of
 * the turn: under load a write(2) per line cost up to 3% of the event loop's time (docs/benchmarks.md).
 * A line waits at most until the turn that logged it ends; `flushSync` (also pino's
 * `logger.flush()`) writes what waits at once. Only a process killed outright loses the lines of
 * its last turn.
 */
export function linesPerTurn (stream: DestinationStream): DestinationStream & { flushSync: () => void, flush: (cb?: (err?: Error) => void) => void } {
  let pending = ''
  let scheduled = false
  const flushSync = (): void => {
    scheduled = false
    if (pending === '') return
    const lines = pending
    pending = ''
    stream.write(lines)
  }
  return {
    write (line: string): void {
      pending += line
      if (!scheduled) {
        scheduled = true
        setImmediate(flushSync)
      }
    },
    flushSync,
    flush (cb) {
      flushSync()
      cb?.()
    }
  }
}
