import type { LogFn } from 'pino'

/** The logger every module takes: pino's, or Fastify's (a pino child). */
export interface Log {
  fatal: LogFn
  error: LogFn
  warn: LogFn
  info: LogFn
  debug: LogFn
  trace: LogFn
  child: (bindings: Record<string, unknown>) => Log
}
