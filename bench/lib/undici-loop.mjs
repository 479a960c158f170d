/**
 * Baseline for dispatch: the least a launcher can do. One undici Agent (the bridge's client uses one
 * too), one token, then `concurrency` loops each POSTing /api/v2/flows/executions with the body the
 * bridge would send, reading and parsing the answer. No store, no mapping, no logs. Options as JSON
 * in BENCH_LOOP: { url, concurrency, duration, warmup, clientId, clientSecret }. Prints
 * { launches, seconds, launchesPerSecond, statuses } on stdout, counted after the warm-up.
 */
import { Agent } from 'undici'
import { launchBody } from './payloads.mjs'

const options = JSON.parse(process.env.BENCH_LOOP)
const agent = new Agent({ keepAliveTimeout: 30_000, headersTimeout: 15_000, bodyTimeout: 15_000 })
const origin = options.url

const basic = Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')
const tokenResponse = await agent.request({
  origin,
  path: '/oauth/token',
  method: 'POST',
  headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  body: 'grant_type=client_credentials'
})
const token = (await tokenResponse.body.json()).access_token
if (typeof token !== 'string') throw new Error('no token from the sandbox')

let n = 0
let counting = false
let launches = 0
const statuses = {}
let stop = false

async function worker () {
  while (!stop) {
    const response = await agent.request({
      origin,
      path: '/api/v2/flows/executions',
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json' },
      body: launchBody(n++)
    })
    const text = await response.body.text()
    JSON.parse(text)
    if (counting) {
      statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1
      if (response.statusCode === 200) launches++
    }
  }
}

const workers = Array.from({ length: options.concurrency }, () => worker())
await new Promise(resolve => setTimeout(resolve, (options.warmup ?? 2) * 1000))
counting = true
const started = performance.now()
await new Promise(resolve => setTimeout(resolve, options.duration * 1000))
counting = false
const seconds = (performance.now() - started) / 1000
stop = true
await Promise.allSettled(workers)
await agent.close()
process.stdout.write(JSON.stringify({ launches, seconds, launchesPerSecond: launches / seconds, statuses }))
