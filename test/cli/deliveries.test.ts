import t from 'tap'
import { contactEvent, startBridge, waitFor } from '../helper.js'
import { contactFlow, startTestSandbox } from '../sandbox-helper.js'
import { cli } from './cli-helper.js'

t.test('deliveries list, show and replay against the store of a running service', async t => {
  const sandbox = await startTestSandbox(t)
  const bridge = await startBridge(t, { env: sandbox.env })
  // Republished without email: launches fail with 400 until the flow is fixed.
  sandbox.state.upsertFlow({ ...contactFlow, publishedVersion: '4.0', versions: [...contactFlow.versions, { id: '4.0', inputs: { contactId: 'string', action: 'string', attempts: 'integer' } }] })
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await bridge.post(contactEvent(`cli-${i}`, { id: `C${i}` }))).body.accepted[0].deliveryId)
  await waitFor(async () => (await bridge.app.bridge.store.stats()).byState.failed === 3, 8000, 'three failures')
  const env = { DATABASE_URL: `sqlite:${bridge.dbFile}` }

  const list = await cli(['deliveries', 'list'], env)
  t.equal(list.code, 0, list.stderr)
  const lines = list.stdout.trim().split('\n')
  t.match(lines[0], /^ID\s+STATE\s+ROUTE\s+SOURCE\s+ATTEMPTS\s+STATUS\s+CREATED\s+OUTCOME\s+LAST ERROR$/)
  t.equal(lines.length, 4)
  t.match(lines[1], new RegExp(`^${ids[2]!}\\s+failed\\s+contact-sync\\s+crm\\s+1\\s+400\\s+`))

  const page1 = JSON.parse((await cli(['deliveries', 'list', '--status', 'failed', '--limit', '2', '--json'], env)).stdout)
  t.equal(page1.items.length, 2)
  t.type(page1.nextCursor, 'string')
  const page2 = JSON.parse((await cli(['deliveries', 'list', '--status', 'dead', '--limit', '2', '--cursor', page1.nextCursor, '--json'], env)).stdout)
  t.same([...page1.items, ...page2.items].map((d: any) => d.id), [...ids].reverse())
  t.equal(page2.nextCursor, null)
  t.same(JSON.parse((await cli(['deliveries', 'list', '--route', 'other', '--json'], env)).stdout).items, [])
  t.equal((await cli(['deliveries', 'list', '--status', 'lost'], env)).code, 2)
  t.equal((await cli(['deliveries', 'list', '--since', 'yesterday'], env)).code, 2)

  const show = await cli(['deliveries', 'show', ids[0]!], env)
  t.equal(show.code, 0)
  t.match(show.stdout, new RegExp(`delivery  ${ids[0]!}\\nstate     failed \\(attempts 1/12\\)`))
  t.match(show.stdout, /attempts:\n {2}#1 \S+ failed status 400 in \d+ ms correlation [0-9a-f-]{36}\n {5}error: HTTP 400; code bad\.request; .*Flow\.email/)
  t.match(show.stdout, /hint: Genesys rejected the request/)
  const shownJson = JSON.parse((await cli(['deliveries', 'show', ids[0]!, '--json'], env)).stdout)
  t.match(shownJson, { id: ids[0], state: 'failed', attemptLog: [{ status: 400, correlationId: String }], event: { event: { id: 'cli-0' } } })
  const missing = await cli(['deliveries', 'show', 'nope'], env)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no delivery nope/)

  // Fix the flow, then replay: one by id, the rest by filter. The running service launches them.
  sandbox.state.upsertFlow({ ...contactFlow, publishedVersion: '5.0', versions: [...contactFlow.versions, { id: '5.0', inputs: { contactId: 'string', action: 'string', email: 'string', attempts: 'integer' } }] })
  const one = await cli(['deliveries', 'replay', ids[0]!], env)
  t.equal(one.code, 0, one.stderr)
  t.equal(one.stdout, `replayed 1 delivery: ${ids[0]!}\n`)
  const rest = JSON.parse((await cli(['deliveries', 'replay', '--status', 'failed', '--route', 'contact-sync', '--json'], env)).stdout)
  t.equal(rest.replayed, 2)
  await waitFor(async () => (await bridge.app.bridge.store.stats()).byState.succeeded === 3, 8000, 'the replays to be launched')
  const again = await cli(['deliveries', 'replay', '--status', 'failed'], env)
  t.equal(again.code, 1, 'nothing left to replay')
  t.equal(again.stdout, 'replayed 0 deliveries\n')
  const notFinished = await cli(['deliveries', 'replay', 'nope'], env)
  t.equal(notFinished.code, 1)
  t.match(notFinished.stderr, /not replayed \(unknown, or not finished\): nope/)
  t.equal((await cli(['deliveries', 'replay'], env)).code, 2, 'ids or --status')
  t.equal((await cli(['deliveries', 'replay', ids[0]!, '--status', 'failed'], env)).code, 2, 'not both')
  t.equal((await cli(['deliveries', 'frob'], env)).code, 2)
})

t.test('a store that cannot be opened is unusable input', async t => {
  const result = await cli(['deliveries', 'list'], { DATABASE_URL: 'sqlite:/nonexistent/dir/bridge.db' })
  t.equal(result.code, 2)
  t.match(result.stderr, /cannot open the store \(DATABASE_URL=sqlite:\/nonexistent\/dir\/bridge\.db\)/)
})
