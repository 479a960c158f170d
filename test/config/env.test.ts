import t from 'tap'
import { deriveSettings, parseDatabaseUrl, type Env } from '../../src/config/env.js'
import { genesysRegions, regionUrls, resolveRegionHost } from '../../src/config/regions.js'
import { buildApp } from '../../src/app.js'
import { createLogger } from '../../src/logging/logger.js'
import { LogSink, basicMappings, tempDir, writeFile } from '../helper.js'

const baseEnv: Env = {
  PORT: 8080, HOST: '127.0.0.1', LOG_LEVEL: 'info', MAPPINGS_FILE: 'x', GENESYS_REGION: 'mypurecloud.com', GENESYS_TIMEOUT_MS: 15000,
  GENESYS_RATE_LIMIT_PER_MINUTE: 300, GENESYS_RATE_BURST: 5, GENESYS_MAX_IN_FLIGHT: 8, DATABASE_URL: 'sqlite:./data/bridge.db',
  BODY_LIMIT_BYTES: 1048576, DISPATCH_POLL_MS: 500, LEASE_MS: 60000, RETRY_MAX_ATTEMPTS: 12, RETRY_MAX_AGE_MS: 86400000,
  RETRY_BASE_DELAY_MS: 1000, RETRY_MAX_DELAY_MS: 600000, LOG_PAYLOAD_MAX_BYTES: 4096, SHUTDOWN_GRACE_MS: 10000,
  RETENTION_SUCCEEDED_MS: 604800000, RETENTION_SWEEP_MS: 60000, FLOW_SCHEMA_TTL_MS: 300000, WATCH_MAPPINGS: true, OUTCOME_POLL_BASE_MS: 2000,
  OUTCOME_POLL_MAX_MS: 60000, OUTCOME_TIMEOUT_MS: 3600000, TRUST_PROXY: 'false', DATABASE_POOL_SIZE: 10, SQLITE_WRITER_THREAD: false
}

t.test('all 18 regions resolve by key and by host, with api. and login. hosts', async t => {
  t.equal(Object.keys(genesysRegions).length, 18)
  for (const [key, host] of Object.entries(genesysRegions)) {
    t.equal(resolveRegionHost(key), host)
    t.equal(resolveRegionHost(host), host)
    t.same(regionUrls(key), { apiUrl: `https://api.${host}`, loginUrl: `https://login.${host}` })
  }
  t.equal(resolveRegionHost('https://api.usw2.pure.cloud/'), 'usw2.pure.cloud')
  t.equal(resolveRegionHost('eu-west-1'), 'mypurecloud.ie')
  t.throws(() => resolveRegionHost('mypurecloud.api.mypurecloud.com'), /not a Genesys Cloud region/)
})

t.test('dry-run follows credentials unless DRY_RUN says otherwise', async t => {
  t.equal(deriveSettings(baseEnv).dryRun, true)
  const withCreds = { ...baseEnv, GENESYS_CLIENT_ID: 'id', GENESYS_CLIENT_SECRET: 'secret' }
  t.equal(deriveSettings(withCreds).dryRun, false)
  t.equal(deriveSettings({ ...withCreds, DRY_RUN: true }).dryRun, true)
  t.throws(() => deriveSettings({ ...baseEnv, DRY_RUN: false }), /DRY_RUN is false but GENESYS_CLIENT_ID/)
  t.throws(() => deriveSettings({ ...baseEnv, GENESYS_CLIENT_ID: 'id' }), /GENESYS_CLIENT_SECRET must be set/)
})

t.test('explicit URLs override the region', async t => {
  const settings = deriveSettings({ ...baseEnv, GENESYS_REGION: 'nowhere', GENESYS_API_URL: 'http://127.0.0.1:9/', GENESYS_LOGIN_URL: 'http://127.0.0.1:9' })
  t.equal(settings.genesys.apiUrl, 'http://127.0.0.1:9')
  t.throws(() => deriveSettings({ ...baseEnv, GENESYS_REGION: 'nowhere' }), /GENESYS_REGION "nowhere" is not a Genesys Cloud region/)
})

t.test('DATABASE_URL forms', async t => {
  t.same(parseDatabaseUrl('sqlite:./data/x.db'), { kind: 'sqlite', file: './data/x.db' })
  t.same(parseDatabaseUrl('sqlite:///var/lib/x.db'), { kind: 'sqlite', file: '/var/lib/x.db' })
  t.same(parseDatabaseUrl('postgres://u@h/db'), { kind: 'postgres', url: 'postgres://u@h/db' })
  t.throws(() => parseDatabaseUrl('sqlite:'), /needs a file path/)
})

t.test('startup stops with a message naming the bad variable', async t => {
  const dir = tempDir(t)
  const mappings = writeFile(dir, 'm.yaml', basicMappings())
  const start = async (env: Record<string, string>): Promise<unknown> =>
    await buildApp({ env: { MAPPINGS_FILE: mappings, CRM_WEBHOOK_SECRET: 'x', DATABASE_URL: `sqlite:${dir}/db`, ...env }, logger: createLogger('silent', new LogSink()) })
  await t.rejects(start({ PORT: 'eighty' }), /env\/PORT must be integer/)
  await t.rejects(start({ LOG_LEVEL: 'loud' }), /env\/LOG_LEVEL must be equal to one of the allowed values/)
  await t.rejects(start({ DATABASE_URL: 'mysql://x' }), /env\/DATABASE_URL must match pattern/)
  await t.rejects(start({ GENESYS_REGION: 'mars' }), /GENESYS_REGION "mars" is not a Genesys Cloud region/)
  await t.rejects(start({ MAPPINGS_FILE: `${dir}/missing.yaml` }), /missing\.yaml cannot be read/)
})
