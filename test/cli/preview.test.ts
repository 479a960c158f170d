import t from 'tap'
import { basicMappings, contactEvent, flowId, sign, startBridge, tempDir, waitFor, webhookSecret, writeFile } from '../helper.js'
import { startTestSandbox } from '../sandbox-helper.js'
import { singleRoute } from '../flows/flows-fixtures.js'
import { cli } from './cli-helper.js'

t.test('preview prints exactly what a real delivery then sends', async t => {
  const sandbox = await startTestSandbox(t)
  const dir = tempDir(t)
  // No type on attempts: the flow's declared integer applies, read from Genesys as the service does.
  const mappings = singleRoute('      contactId: { from: record.id, required: true }\n      email: { from: record.fields.email, transform: [trim, lowercase] }\n      attempts: record.fields.count', '    redact: [email]')
  const file = writeFile(dir, 'mappings.yaml', mappings)
  const body = contactEvent('evt-cli-preview')
  const bodyFile = writeFile(dir, 'body.json', body)
  const env = { ...sandbox.env, CRM_WEBHOOK_SECRET: webhookSecret, MAPPINGS_FILE: file }

  const result = await cli(['preview', '--route', 'contact-sync', '--body', bodyFile, '--header', `X-Signature: ${sign(body)}`, '--json'], env)
  t.equal(result.code, 0, result.stderr)
  const preview = JSON.parse(result.stdout)
  t.match(preview, { ok: true, source: 'crm', launches: 1, request: { method: 'POST', url: `${sandbox.url}/api/v2/flows/executions` } })
  const previewed = preview.events[0].routes[0]
  t.match(previewed, { route: 'contact-sync', matched: true, flowTypesKnown: true })
  t.equal(sandbox.launches().length, 0, 'nothing launched')

  const bridge = await startBridge(t, { env: sandbox.env, mappings })
  const id = (await bridge.post(body)).body.accepted[0].deliveryId
  await waitFor(() => sandbox.launches().length === 1, 5000, 'the real launch')
  const sent = sandbox.launches()[0]!.body
  t.same(previewed.request, { ...sent, name: 'crm-flow-bridge <delivery-id>' }, 'identical but for the delivery id in the name')
  t.equal(sent.name, `crm-flow-bridge ${String(id)}`)
  t.same(sent.inputData, { 'Flow.contactId': '003A', 'Flow.email': 'ada@example.com', 'Flow.attempts': 3 })

  const human = await cli(['preview', '--route', 'contact-sync', '--body', '-', '--header', `X-Signature: ${sign(body)}`], env, body)
  t.equal(human.code, 0)
  t.match(human.stdout, new RegExp(`# route contact-sync: would send\\nPOST ${sandbox.url}/api/v2/flows/executions\\nContent-Type: application/json\\n\\n\\{\\n  "flowId": "${flowId}"`))
  const redacted = await cli(['preview', '--route', 'contact-sync', '--body', bodyFile, '--skip-auth', '--redact', '--json'], env)
  t.equal(JSON.parse(redacted.stdout).events[0].routes[0].request.inputData['Flow.email'], '[redacted]')
})

t.test('preview says why nothing would be sent', async t => {
  const dir = tempDir(t)
  const file = writeFile(dir, 'mappings.yaml', basicMappings())
  const env = { CRM_WEBHOOK_SECRET: webhookSecret, MAPPINGS_FILE: file }
  const body = contactEvent('evt-why')
  const bodyFile = writeFile(dir, 'body.json', body)

  const badSignature = await cli(['preview', '--route', 'contact-sync', '--body', bodyFile, '--header', 'X-Signature: sha256=00'], env)
  t.equal(badSignature.code, 1)
  t.match(badSignature.stdout, /no request would be sent: the webhook would be refused at authenticate \(401 bad_signature\): X-Signature does not match the body/)

  const unsigned = await cli(['preview', '--route', 'contact-sync', '--body', bodyFile, '--json'], env)
  t.equal(unsigned.code, 1)
  t.match(JSON.parse(unsigned.stdout), { ok: false, stage: 'authenticate', code: 'missing_signature' })

  const dryRun = await cli(['preview', '--route', 'contact-sync', '--body', bodyFile, '--skip-auth'], env)
  t.equal(dryRun.code, 0)
  t.match(dryRun.stderr, /note: flow input types not read \(GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET are not set\)/)

  const leadFile = writeFile(dir, 'lead.json', contactEvent('evt-lead', { type: 'Lead' }))
  const noMatch = await cli(['preview', '--route', 'contact-sync', '--body', leadFile, '--skip-auth'], env)
  t.equal(noMatch.code, 1)
  t.match(noMatch.stdout, /# route contact-sync: does not match this event/)

  const badValueFile = writeFile(dir, 'bad.json', contactEvent('evt-bad', { count: 'three' }))
  const mappingFails = await cli(['preview', '--route', 'contact-sync', '--body', badValueFile, '--skip-auth'], env)
  t.equal(mappingFails.code, 1)
  t.match(mappingFails.stdout, /the delivery would fail without a launch \(mapping failed\):\n# {3}Flow\.attempts: cannot convert to integer: "three" is not an integer/)

  const wrongType = await cli(['preview', '--route', 'contact-sync', '--body', bodyFile, '--skip-auth', '--header', 'Content-Type: text/plain'], env)
  t.equal(wrongType.code, 1)
  t.match(wrongType.stdout, /refused at content_type \(415 unsupported_content_type\)/)

  const unknownRoute = await cli(['preview', '--route', 'nope', '--body', bodyFile], env)
  t.equal(unknownRoute.code, 2)
  t.match(unknownRoute.stderr, /no route named "nope"; routes: contact-sync/)
  t.equal((await cli(['preview', '--route', 'contact-sync', '--body', `${dir}/missing.json`], env)).code, 2)
  t.equal((await cli(['preview', '--body', bodyFile], env)).code, 2, '--route is required')
  t.equal((await cli(['preview', '--route', 'contact-sync', '--body', bodyFile, '--header', 'nocolon'], env)).code, 2)
})
