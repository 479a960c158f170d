// Container HEALTHCHECK (Dockerfile, docker-compose.yml): exits 0 when GET <url> answers 2xx
// within 4 s, 1 otherwise. node:*-slim images have no curl, and node is there anyway.
//   node docker/healthcheck.mjs [url]
// Default URL: this container's /healthz on 127.0.0.1:$PORT, over HTTPS when TLS_CERT_FILE is set.
import http from 'node:http'
import https from 'node:https'

const tls = (process.env.TLS_CERT_FILE ?? '').trim() !== ''
const url = new URL(process.argv[2] ?? `${tls ? 'https' : 'http'}://127.0.0.1:${process.env.PORT ?? '8080'}/healthz`)
const client = url.protocol === 'https:' ? https : http
// The certificate names the public host, not 127.0.0.1; this checks liveness on loopback, not identity.
const request = client.get(url, { timeout: 4000, rejectUnauthorized: false }, response => {
  response.resume()
  const ok = response.statusCode !== undefined && response.statusCode >= 200 && response.statusCode < 300
  if (!ok) console.error(`healthcheck: ${url.href} answered ${response.statusCode}`)
  process.exit(ok ? 0 : 1)
})
request.on('timeout', () => { request.destroy(new Error('no answer within 4 s')) })
request.on('error', err => {
  console.error(`healthcheck: ${url.href}: ${err.message}`)
  process.exit(1)
})
