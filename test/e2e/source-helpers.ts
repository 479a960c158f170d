/**
 * Shared helpers for the per-CRM end-to-end tests (`test/e2e/source-<type>.test.ts`): raw HTTP posts
 * to the real service, waiting for every delivery to finish, and the "nothing stored, nothing
 * launched" check for refused requests.
 */
import { existsSync, readFileSync } from 'node:fs'
import type { Test } from 'tap'
import type { SandboxFlow, SandboxInputType } from '../../src/sandbox/genesys-sandbox.js'
import type { DeliveryDetail, DeliverySummary } from '../../src/store/store.js'
import { waitFor, type LogLine, type RunningBridge } from '../helper.js'
import type { TestSandbox } from '../sandbox-helper.js'

export interface RawResponse {
  status: number
  contentType: string | null
  /** The body exactly as received. */
  text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any
}

/** POSTs `body` as-is to `<bridge>/<path>` (path includes `/webhooks/<name>` and any query). */
export async function postRaw (bridge: RunningBridge, path: string, body: string | Buffer, headers: Record<string, string>): Promise<RawResponse> {
  const response = await fetch(`${bridge.url}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) })
  const text = await response.text()
  let json: unknown
  try { json = JSON.parse(text) } catch {}
  return { status: response.status, contentType: response.headers.get('content-type'), text, json }
}

/** A published workflow whose declared inputs are exactly `inputs` (the sandbox rejects any other). */
export function workflow (id: string, name: string, inputs: Record<string, SandboxInputType>): SandboxFlow {
  return { id, name, type: 'workflow', publishedVersion: '1.0', versions: [{ id: '1.0', inputs }] }
}

export async function allDeliveries (bridge: RunningBridge): Promise<DeliverySummary[]> {
  return (await bridge.app.bridge.store.listDeliveries({}, { limit: 1000 })).items
}

/** Waits until exactly `count` deliveries exist and all are finished; returns their details. */
export async function settleAll (bridge: RunningBridge, count: number, timeoutMs = 10_000): Promise<DeliveryDetail[]> {
  const final = ['succeeded', 'failed', 'dry_run']
  const summaries = await waitFor(async () => {
    const list = await allDeliveries(bridge)
    return list.length === count && list.every(d => final.includes(d.state)) ? list : null
  }, timeoutMs, `${count} deliveries to finish`)
  const details = await Promise.all(summaries.map(async d => await bridge.app.bridge.store.getDelivery(d.id)))
  return details.map(d => d!)
}

/** The sandbox's launch bodies keyed by delivery id (the execution name carries it). */
export function launchesByDelivery (sandbox: TestSandbox): Map<string, any> {
  const map = new Map<string, any>()
  for (const launch of sandbox.launches()) {
    const name = String(launch.body?.name ?? '')
    map.set(name.replace(/^crm-flow-bridge /, ''), launch.body)
  }
  return map
}

/** Total deliveries in the store, whatever their state. */
export async function storedCount (bridge: RunningBridge): Promise<number> {
  const stats = await bridge.app.bridge.store.stats()
  return Object.values(stats.byState).reduce((a, b) => a + b, 0)
}

/**
 * After refused requests: the store holds nothing (every state count zero, no delivery listed)
 * and the sandbox saw no launch, even after the dispatcher had time to poll.
 */
export async function assertNothingStored (t: Test, bridge: RunningBridge, sandbox: TestSandbox): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, 150))
  const stats = await bridge.app.bridge.store.stats()
  t.same(Object.values(stats.byState).filter(n => n !== 0), [], 'store stats: every state count is zero')
  t.same(await allDeliveries(bridge), [], 'no delivery listed')
  t.equal(sandbox.launches().length, 0, 'nothing launched')
}

/** The `webhook.rejected` log lines of one source. */
export function rejectedLines (bridge: RunningBridge, source: string): LogLine[] {
  return bridge.logs.events('webhook.rejected').filter(line => line.source === source)
}

/** The SQLite database, WAL and shared-memory files as text, to scan for values that must never be stored. */
export function databaseText (bridge: RunningBridge): string {
  return ['', '-wal', '-shm']
    .map(suffix => `${bridge.dbFile}${suffix}`)
    .filter(file => existsSync(file))
    .map(file => readFileSync(file).toString('latin1'))
    .join('\n')
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'
