/**
 * `npm run sandbox`: runs the Genesys sandbox as a process, configured from a YAML or JSON file.
 *   SANDBOX_CONFIG  config file (default docker/sandbox.yaml)
 *   SANDBOX_PORT    default 9090
 *   SANDBOX_HOST    default 127.0.0.1 (use 0.0.0.0 in a container)
 *   LOG_LEVEL       pino level, default info; logs are JSON lines on stdout
 * @see docs/sandbox.md
 */
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { startSandbox } from './genesys-sandbox.js'
import { loadSandboxConfig } from './sandbox-config.js'

const log = pino({ name: 'genesys-sandbox', level: process.env['LOG_LEVEL'] ?? 'info' })

const configFile = process.env['SANDBOX_CONFIG'] ?? 'docker/sandbox.yaml'
const host = process.env['SANDBOX_HOST'] ?? '127.0.0.1'
const port = Number(process.env['SANDBOX_PORT'] ?? 9090)

try {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`SANDBOX_PORT must be a port number, got "${process.env['SANDBOX_PORT']}"`)
  const config = await loadSandboxConfig(configFile)
  const sandbox = await startSandbox({ ...config, host, port, logger: log })
  log.info({
    url: sandbox.url,
    configFile,
    flows: config.flows.map(flow => `${flow.id} (${flow.type}${flow.publishedVersion === null ? ', unpublished' : ` v${flow.publishedVersion}`})`),
    clients: config.clients.map(client => client.clientId),
    rateLimitPerMinute: config.rateLimitPerMinute ?? 300,
    unknownInputs: config.unknownInputs ?? 'reject'
  }, 'genesys sandbox listening')

  closeWithGrace({ delay: 5000, logger: log }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'closing after an error')
    else log.info({ signal }, 'closing')
    await sandbox.close()
  })
} catch (err) {
  log.fatal({ err }, 'genesys sandbox failed to start')
  process.exitCode = 1
}
