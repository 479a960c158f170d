import t from 'tap'
import { renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { basicMappings, contactEvent, flowId, startBridge, tempDir, waitFor, webhookSecret } from '../helper.js'
import { startServiceProcess, killHard } from '../process-helper.js'
import { clientId, clientSecret, startTestSandbox } from '../sandbox-helper.js'

async function launchedAction (bridge: Awaited<ReturnType<typeof startBridge>>, sandbox: Awaited<ReturnType<typeof startTestSandbox>>, eventId: string): Promise<unknown> {
  const before = sandbox.launches().length
  const response = await bridge.post(contactEvent(eventId, { id: eventId.toUpperCase() }))
  if (response.status !== 202) throw new Error(`webhook answered ${response.status}`)
  await waitFor(() => sandbox.launches().length > before, 5000, `the launch of ${eventId}`)
  return sandbox.launches().at(-1)!.body.inputData['Flow.action']
}

async function readyz (url: string): Promise<any> {
  const response = await fetch(`${url}/readyz`)
  return { ...(await response.json() as object), code: response.status }
}

t.test('a bad edit is rejected while the old mappings keep delivering; a good edit applies without restart', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  t.ok(bridge.logs.events('mappings.watching')[0], 'the file is watched')
  t.equal(await launchedAction(bridge, sandbox, 'r-1'), 'sync')
  const firstHash = bridge.app.bridge.mappings.current.hash

  // 1. An invalid edit: rejected with its path and line, the previous mappings stay in force.
  writeFileSync(bridge.mappingsFile, basicMappings().replace('recordType: Contact', 'recordTyp: Contact'))
  const failed = await waitFor(() => bridge.logs.events('mappings.reload_failed')[0], 5000, 'mappings.reload_failed')
  t.match(failed, { level: 'error', reason: 'watch', kind: 'invalid', keptHash: firstHash, problems: [{ path: 'routes[0].when', line: 14, message: 'unknown key "recordTyp"' }] })
  t.equal(bridge.app.bridge.mappings.current.hash, firstHash)
  const notReady = await readyz(bridge.url)
  t.equal(notReady.code, 503)
  t.match(notReady.checks.mappings, { ok: false, detail: /still serving the previous mappings/ })
  t.equal(await launchedAction(bridge, sandbox, 'r-2'), 'sync', 'still delivering with the old mappings')
  t.match(await (await fetch(`${bridge.url}/metrics`)).text(), /crm_bridge_mapping_reloads_total\{result="rejected"\} 1/, 'the rejected reload is counted')

  // 2. A syntax error: same, kind syntax.
  writeFileSync(bridge.mappingsFile, 'routes: [\n  - name: x\n')
  const syntax = await waitFor(() => bridge.logs.events('mappings.reload_failed').find(l => l.kind === 'syntax'), 5000, 'the syntax error')
  t.match(syntax.problems, [{ line: Number, message: String }])

  // 3. A good edit takes effect without a restart and clears the error.
  writeFileSync(bridge.mappingsFile, basicMappings().replace('value: sync', 'value: resync'))
  const reloaded = await waitFor(() => bridge.logs.events('mappings.reloaded')[0], 5000, 'mappings.reloaded')
  t.match(reloaded, { level: 'info', reason: 'watch', previousHash: firstHash, routes: ['contact-sync'], sources: ['crm'] })
  t.equal(bridge.app.bridge.mappings.lastError, null)
  t.equal(await launchedAction(bridge, sandbox, 'r-3'), 'resync')
  t.match(await (await fetch(`${bridge.url}/metrics`)).text(), /crm_bridge_mapping_reloads_total\{result="success"\} 1/, 'the good reload is counted')
  await waitFor(() => bridge.logs.events('flows.checked').some(l => l.reason === 'reload'), 5000, 'the new mappings to be checked against the flows')
  t.equal((await readyz(bridge.url)).code, 200)

  // 4. Editors that write a new file and rename it over the old one.
  const temp = join(bridge.mappingsFile, '..', '.mappings.yaml.swp')
  writeFileSync(temp, basicMappings().replace('value: sync', 'value: renamed'))
  renameSync(temp, bridge.mappingsFile)
  await waitFor(() => bridge.logs.events('mappings.reloaded').length === 2, 5000, 'the renamed-over file to load')
  t.equal(await launchedAction(bridge, sandbox, 'r-4'), 'renamed')

  // 5. A deleted file is an error, not a crash; the service keeps going.
  rmSync(bridge.mappingsFile)
  const gone = await waitFor(() => bridge.logs.events('mappings.reload_failed').find(l => l.kind === 'unreadable'), 5000, 'the deleted file')
  t.match(gone.problems, [{ message: 'no such file' }])
  t.equal(await launchedAction(bridge, sandbox, 'r-5'), 'renamed')

  // 6. Writing back what is in force clears the error without a swap.
  writeFileSync(bridge.mappingsFile, basicMappings().replace('value: sync', 'value: renamed'))
  await waitFor(() => bridge.app.bridge.mappings.lastError === null, 5000, 'the error to clear')
  t.equal(bridge.logs.events('mappings.reloaded').length, 2, 'same content: no reload logged')
  t.notOk(bridge.logs.text().includes(webhookSecret))
})

t.test('WATCH_MAPPINGS=false: edits wait for an explicit reload', async t => {
  const bridge = await startBridge(t, { env: { WATCH_MAPPINGS: 'false' } })
  t.equal(bridge.logs.events('mappings.watching').length, 0)
  writeFileSync(bridge.mappingsFile, basicMappings().replace('value: sync', 'value: later'))
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(bridge.logs.events('mappings.reloaded').length, 0, 'not picked up on its own')
  const result = await bridge.app.bridge.reloader.reload('sighup')
  t.equal(result.status, 'reloaded')
  t.match(bridge.logs.events('mappings.reloaded')[0], { reason: 'sighup' })
  t.equal(bridge.logs.events('flows.check_skipped').at(-1)!.reason, 'reload', 'dry-run: the reload notes the skipped flow check')
})

t.test('SIGHUP reloads the running service; a bad file on SIGHUP never stops it', async t => {
  const sandbox = await startTestSandbox(t)
  const dir = tempDir(t)
  const mappingsFile = join(dir, 'mappings.yaml')
  writeFileSync(mappingsFile, basicMappings())
  const service = await startServiceProcess({
    ...sandbox.env,
    GENESYS_CLIENT_ID: clientId,
    GENESYS_CLIENT_SECRET: clientSecret,
    MAPPINGS_FILE: mappingsFile,
    DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}`,
    CRM_WEBHOOK_SECRET: webhookSecret,
    WATCH_MAPPINGS: 'false'
  })
  t.teardown(async () => { await killHard(service) })
  const events = (name: string): any[] => service.lines.map(line => JSON.parse(line)).filter(line => line.event === name)

  writeFileSync(mappingsFile, basicMappings().replace('recordType: Contact', 'recordTyp: Contact'))
  service.child.kill('SIGHUP')
  await waitFor(() => events('mappings.reload_failed')[0], 5000, 'the rejected reload')
  t.match(events('mappings.reload_failed')[0], { reason: 'sighup', kind: 'invalid' })
  t.equal((await fetch(`${service.url}/healthz`)).status, 200, 'still running')

  writeFileSync(mappingsFile, basicMappings({ flowVersion: '3.0' }))
  service.child.kill('SIGHUP')
  await waitFor(() => events('mappings.reloaded')[0], 5000, 'the reload')
  t.match(events('mappings.reloaded')[0], { reason: 'sighup' })
  t.equal(events('shutdown.started').length, 0, 'SIGHUP does not shut the service down')
  t.equal(service.child.exitCode, null)
  await waitFor(() => events('flows.checked').some(l => l.reason === 'reload'), 5000, 'the flow check after the reload')
  t.ok(flowId)
})
