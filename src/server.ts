import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { createLogger } from './logging/logger.js'

/**
 * Process entry: logger, listen, graceful shutdown on SIGTERM/SIGINT, mappings reload on SIGHUP.
 * The only module that reads process.env.
 */
const logger = createLogger(process.env.LOG_LEVEL ?? 'info')

let app
try {
  app = await buildApp({ env: process.env, logger })
} catch (err) {
  logger.fatal({ event: 'startup.failed', err: { message: (err as Error).message, name: (err as Error).name } }, `startup failed: ${(err as Error).message}`)
  logger.flush()
  // The JSON line is for log pipelines; a person starting the service by hand reads stderr.
  process.stderr.write(`crm-flow-bridge: startup failed: ${(err as Error).message}\n`)
  process.exitCode = 1
  await new Promise(resolve => setTimeout(resolve, 50))
  process.exit(1)
}

// SIGHUP reloads MAPPINGS_FILE (kept out of close-with-grace, which would shut down on it). A bad
// file is logged and rejected by the reloader; it never throws here.
const bridge = app.bridge
process.on('SIGHUP', () => {
  logger.info({ event: 'mappings.reload_requested', signal: 'SIGHUP' }, 'SIGHUP: reloading the mappings file')
  void bridge.reloader.reload('sighup')
})

const graceMs = app.config.SHUTDOWN_GRACE_MS + 5000
closeWithGrace({ delay: graceMs, logger, skip: ['SIGHUP'] }, async ({ signal, err }) => {
  if (err !== undefined) logger.error({ event: 'shutdown.error', err }, 'shutting down after an error')
  else logger.info({ event: 'shutdown.started', signal }, 'shutting down')
  await app.close()
  logger.info({ event: 'shutdown.finished' }, 'shut down')
  logger.flush()
})

await app.listen({ port: app.config.PORT, host: app.config.HOST })
