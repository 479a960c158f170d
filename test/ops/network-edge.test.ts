/**
 * The network edge: TLS termination in the service (TLS_CERT_FILE/TLS_KEY_FILE), X-Forwarded-*
 * honoured only from TRUST_PROXY, per-source `allowIps` (IPv4 and IPv6) and `publicUrl`.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Agent, fetch as undiciFetch } from 'undici'
import { loadTlsFiles } from '../../src/net/tls.js'
import { parseTrustProxy } from '../../src/net/trust-proxy.js'
import { publicUrlFor } from '../../src/net/public-url.js'
import { parseMappings } from '../../src/mapping/mappings.js'
import { sourceTypes } from '../../src/sources/index.js'
import { basicMappings, contactEvent, startBridge, tempDir, webhookSecret, writeFile } from '../helper.js'
import { serverEntry } from '../process-helper.js'
import { hmacBase64 } from '../sources/helpers.js'

/** A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI. */
function selfSigned (dir: string, name = 'server'): { certFile: string, keyFile: string } {
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  return { certFile, keyFile }
}

t.test('TLS termination', async t => {
  const dir = tempDir(t)
  const { certFile, keyFile } = selfSigned(dir)

  t.test('serves HTTPS with the given certificate, and no plain HTTP', async t => {
    const bridge = await startBridge(t, { env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } })
    const { port } = bridge.app.server.address() as AddressInfo
    const agent = new Agent({ connect: { ca: readFileSync(certFile) } })
    t.teardown(() => agent.close())
    const health = await undiciFetch(`https://127.0.0.1:${port}/healthz`, { dispatcher: agent })
    t.equal(health.status, 200)
    const body = contactEvent('evt-tls')
    const { createHmac } = await import('node:crypto')
    const signature = `sha256=${createHmac('sha256', webhookSecret).update(body).digest('hex')}`
    const webhook = await undiciFetch(`https://127.0.0.1:${port}/webhooks/crm`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': signature }, body })
    t.equal(webhook.status, 202)
    await t.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'plain HTTP is not answered')
  })

  t.test('needs both files', async t => {
    t.throws(() => loadTlsFiles({ TLS_CERT_FILE: certFile }), { name: 'ConfigError', message: 'env/TLS_KEY_FILE must be set when TLS_CERT_FILE is: TLS needs both the certificate and its private key' })
    t.throws(() => loadTlsFiles({ TLS_KEY_FILE: keyFile }), { message: /^env\/TLS_CERT_FILE must be set when TLS_KEY_FILE is/ })
    t.equal(loadTlsFiles({}), null)
    t.equal(loadTlsFiles({ TLS_CERT_FILE: '', TLS_KEY_FILE: ' ' }), null, 'empty counts as unset')
  })

  t.test('names the variable and the file it cannot use', async t => {
    const missing = join(dir, 'nope.pem')
    t.throws(() => loadTlsFiles({ TLS_CERT_FILE: missing, TLS_KEY_FILE: keyFile }), { message: `env/TLS_CERT_FILE: cannot read "${missing}": ENOENT` })
    const notPem = writeFile(dir, 'not.pem', 'hello')
    t.throws(() => loadTlsFiles({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: notPem }), { message: `env/TLS_KEY_FILE: "${notPem}" is not a PEM file (no -----BEGIN line)` })
    const other = selfSigned(dir, 'other')
    t.throws(() => loadTlsFiles({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: other.keyFile }), { message: new RegExp(`^env/TLS_CERT_FILE "${certFile}" and TLS_KEY_FILE "${other.keyFile}" are not a usable certificate and private key pair`) })
  })

  t.test('the built service refuses to start without the key, naming the variable', async t => {
    const result = spawnSync(process.execPath, [serverEntry], {
      env: { PATH: process.env.PATH, PORT: '0', TLS_CERT_FILE: certFile, DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}` },
      encoding: 'utf8',
      timeout: 20_000
    })
    t.equal(result.status, 1)
    t.match(`${result.stdout}${result.stderr}`, /env\/TLS_KEY_FILE must be set when TLS_CERT_FILE is/)
  })
})

t.test('TRUST_PROXY', async t => {
  t.test('parses every documented form', async t => {
    t.equal(parseTrustProxy(undefined), false)
    t.equal(parseTrustProxy(''), false)
    t.equal(parseTrustProxy('false'), false)
    t.equal(parseTrustProxy('0'), false)
    t.equal(parseTrustProxy('true'), true)
    const twoHops = parseTrustProxy('2') as (address: string, hop: number) => boolean
    t.same([twoHops('10.0.0.1', 0), twoHops('10.0.0.1', 1), twoHops('10.0.0.1', 2)], [true, true, false])
    t.same(parseTrustProxy(' 10.0.0.0/8, 192.0.2.10 ,loopback,2001:db8::/32 '), ['10.0.0.0/8', '192.0.2.10', 'loopback', '2001:db8::/32'])
    t.throws(() => parseTrustProxy('10.0.0.0/33'), { name: 'ConfigError', message: /^env\/TRUST_PROXY: "10\.0\.0\.0\/33" is not an IP address or CIDR range/ })
    t.throws(() => parseTrustProxy('proxy.internal'), { message: /"proxy\.internal"/ })
  })

  // The allowlist sees request.ip: it shows which address the service believes the client has.
  const allowlisted = basicMappings().replace('    type: generic\n', '    type: generic\n    allowIps: [203.0.113.0/24, "2001:db8::/32"]\n')

  t.test('X-Forwarded-For is ignored by default', async t => {
    const bridge = await startBridge(t, { mappings: allowlisted })
    const response = await bridge.post(contactEvent('evt-xff-1'), { 'x-forwarded-for': '203.0.113.5' })
    t.equal(response.status, 403)
    t.same(response.body.error, 'ip_not_allowed')
  })

  // The proxy (the test, on 127.0.0.1) appended the client it saw, 203.0.113.5 (allowed), to
  // whatever the client sent, 198.51.100.9 (not allowed).
  const cases = [
    ['127.0.0.1', 202, 'the peer is a trusted proxy: the client is the address it appended'],
    ['loopback', 202, 'the same, by range name'],
    ['1', 202, 'one hop trusted: the address the closest proxy appended'],
    ['true', 403, 'every hop trusted: the leftmost entry, which the caller chose'],
    ['10.0.0.0/8', 403, 'the peer is not a trusted proxy: the header is ignored']
  ] as const
  for (const [setting, expected, why] of cases) {
    t.test(`TRUST_PROXY=${setting}: ${why}`, async t => {
      const bridge = await startBridge(t, { mappings: allowlisted, env: { TRUST_PROXY: setting } })
      const response = await bridge.post(contactEvent(`evt-xff-${setting}`), { 'x-forwarded-for': '198.51.100.9, 203.0.113.5' })
      t.equal(response.status, expected)
    })
  }

  t.test('a bad TRUST_PROXY stops startup', async t => {
    await t.rejects(startBridge(t, { env: { TRUST_PROXY: '10.0.0.300' } }), { message: /^env\/TRUST_PROXY: "10\.0\.0\.300"/ })
  })

  t.test("HubSpot's v3 signature is checked against the forwarded scheme and host from a trusted proxy only", async t => {
    const secret = 'hubspot-secret-for-edge-tests'
    const mappings = `${basicMappings()}\n`.replace('routes:\n', `  hs:\n    type: hubspot\n    clientSecret: ${secret}\nroutes:\n`)
    const body = JSON.stringify([{ eventId: 1, subscriptionId: 2, portalId: 3, appId: 4, occurredAt: Date.now(), subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 5, changeSource: 'CRM' }])
    const send = async (bridge: Awaited<ReturnType<typeof startBridge>>): Promise<number> => {
      const timestamp = String(Date.now())
      const response = await fetch(`${bridge.url}/webhooks/hs`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'bridge.example.com',
          'x-hubspot-request-timestamp': timestamp,
          'x-hubspot-signature-v3': hmacBase64(secret, 'POST', 'https://bridge.example.com/webhooks/hs', body, timestamp)
        },
        body
      })
      return response.status
    }
    t.equal(await send(await startBridge(t, { mappings, env: { TRUST_PROXY: 'loopback' } })), 200)
    t.equal(await send(await startBridge(t, { mappings })), 401, 'without TRUST_PROXY the URL is http://127.0.0.1:<port>/…')
  })
})

t.test('allowIps', async t => {
  const mappings = basicMappings().replace('    type: generic\n', '    type: generic\n    allowIps: [203.0.113.0/24, "2001:db8::/32", 127.0.0.1]\n')

  t.test('answers 403 in the source\'s error form to other addresses and stores nothing', async t => {
    const bridge = await startBridge(t, { mappings: basicMappings().replace('    type: generic\n', '    type: generic\n    allowIps: [203.0.113.0/24]\n') })
    const response = await bridge.post(contactEvent('evt-ip'))
    t.equal(response.status, 403)
    t.match(response.headers.get('content-type'), /^application\/json/)
    t.match(response.body, { error: 'ip_not_allowed' })
    const stats = await bridge.app.bridge.store.stats()
    t.same(Object.values(stats.byState).reduce((a, b) => a + b, 0), 0, 'nothing stored')
    t.match(bridge.logs.events('webhook.rejected')[0], { level: 'warn', code: 'ip_not_allowed', status: 403 })
  })

  t.test('lets listed IPv4 addresses through', async t => {
    const bridge = await startBridge(t, { mappings })
    t.equal((await bridge.post(contactEvent('evt-ip4'))).status, 202, '127.0.0.1 is listed')
  })

  t.test('matches IPv6 ranges (through a trusted proxy) and IPv6 peers', async t => {
    const bridge = await startBridge(t, { mappings, env: { TRUST_PROXY: 'loopback' } })
    t.equal((await bridge.post(contactEvent('evt-ip6-a'), { 'x-forwarded-for': '2001:db8:ffff::1' })).status, 202)
    t.equal((await bridge.post(contactEvent('evt-ip6-b'), { 'x-forwarded-for': '2001:db9::1' })).status, 403)
    t.equal((await bridge.post(contactEvent('evt-ip6-c'), { 'x-forwarded-for': '203.0.113.77' })).status, 202)
  })

  t.test('checks a peer on ::1 against the list', async t => {
    const v6 = await startBridge(t, { mappings: basicMappings().replace('    type: generic\n', '    type: generic\n    allowIps: ["::1/128"]\n'), listen: false })
    try {
      await v6.app.listen({ host: '::1', port: 0 })
    } catch (err) {
      t.comment(`no IPv6 loopback here: ${(err as Error).message}`)
      return
    }
    const { port } = v6.app.server.address() as AddressInfo
    const body = contactEvent('evt-ip6-peer')
    const { createHmac } = await import('node:crypto')
    const response = await fetch(`http://[::1]:${port}/webhooks/crm`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': `sha256=${createHmac('sha256', webhookSecret).update(body).digest('hex')}` }, body })
    t.equal(response.status, 202)
  })

  t.test('a bad entry is refused when the mappings file loads', async t => {
    await t.rejects(startBridge(t, { mappings: basicMappings().replace('    type: generic\n', '    type: generic\n    allowIps: [10.0.0.0/40]\n') }), { message: /allowIps/ })
  })
})

t.test('publicUrl', async t => {
  const mappings = parseMappings(`${basicMappings()}`.replace('    type: generic\n', '    type: generic\n    publicUrl: https://crm-hooks.example.com/bridge/crm\n'), 'm.yaml', { env: { CRM_WEBHOOK_SECRET: 'x' }, sourceTypes })
  const request = (url: string, source = 'crm'): Parameters<typeof publicUrlFor>[0] => ({ params: { source }, url, protocol: 'http', host: '10.1.2.3:8080' }) as never
  t.equal(publicUrlFor(request('/webhooks/crm'), mappings), 'https://crm-hooks.example.com/bridge/crm', 'the setting wins over what the request says')
  t.equal(publicUrlFor(request('/webhooks/crm?tenant=a'), mappings), 'https://crm-hooks.example.com/bridge/crm?tenant=a', 'with the received query string')
  t.equal(publicUrlFor(request('/webhooks/other?x=1', 'other'), mappings), 'http://10.1.2.3:8080/webhooks/other?x=1', 'sources without the setting use the request')
})
