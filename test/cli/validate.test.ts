import t from 'tap'
import { basicMappings, tempDir, webhookSecret, writeFile } from '../helper.js'
import { clientId, clientSecret, contactFlow, startTestSandbox } from '../sandbox-helper.js'
import { brokenMappings, ivrFlow } from '../flows/flows-fixtures.js'
import { cli } from './cli-helper.js'

const baseEnv = { CRM_WEBHOOK_SECRET: webhookSecret }

t.test('--help for the program and each command', async t => {
  const commands = [['--help'], ['validate', '--help'], ['preview', '--help'], ['deliveries', '--help'], ['deliveries', 'list', '--help'], ['deliveries', 'show', '--help'], ['deliveries', 'replay', '--help']]
  const results = await Promise.all(commands.map(async args => await cli(args)))
  for (const [i, result] of results.entries()) {
    t.equal(result.code, 0, commands[i]!.join(' '))
    t.match(result.stdout, /^Usage: crm-flow-bridge/, commands[i]!.join(' '))
  }
  const nothing = await cli([])
  t.equal(nothing.code, 2)
  t.match(nothing.stderr, /Usage: crm-flow-bridge <command>/)
  const unknown = await cli(['frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command "frobnicate"/)
  const badOption = await cli(['validate', '--remtoe'])
  t.equal(badOption.code, 2)
  t.match(badOption.stderr, /Unknown option '--remtoe'.*\n.*validate --help/)
})

t.test('local validation: 0 valid, 1 invalid, 2 unusable', async t => {
  const dir = tempDir(t)
  const good = writeFile(dir, 'good.yaml', basicMappings())
  const ok = await cli(['validate', '--mappings', good], baseEnv)
  t.equal(ok.code, 0)
  t.match(ok.stdout, /good\.yaml: the file is valid \(sources: crm; routes: contact-sync\)/)

  const invalid = writeFile(dir, 'invalid.yaml', basicMappings().replace('recordType: Contact', 'recordTyp: Contact'))
  const bad = await cli(['validate', '--mappings', invalid], baseEnv)
  t.equal(bad.code, 1)
  t.match(bad.stderr, /invalid\.yaml is invalid:\n {2}line 14: routes\[0\]\.when: unknown key "recordTyp"/)

  const unset = await cli(['validate', '--mappings', good])
  t.equal(unset.code, 1, 'an unset ${VAR} is a problem of the file in this environment')
  t.match(unset.stderr, /environment variable CRM_WEBHOOK_SECRET is not set/)

  const syntax = writeFile(dir, 'syntax.yaml', 'routes: [\n  - name: x\n')
  const broken = await cli(['validate', '--mappings', syntax, '--json'], baseEnv)
  t.equal(broken.code, 2)
  t.match(JSON.parse(broken.stdout), { valid: false, kind: 'syntax', problems: [{ line: Number }] })

  const missing = await cli(['validate', '--mappings', `${dir}/nope.yaml`], baseEnv)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /cannot be read:\n.*no such file/)

  const fromEnv = await cli(['validate'], { ...baseEnv, MAPPINGS_FILE: good })
  t.equal(fromEnv.code, 0, 'MAPPINGS_FILE as the service reads it')
  const badEnv = await cli(['validate'], { ...baseEnv, MAPPINGS_FILE: good, PORT: 'eighty' })
  t.equal(badEnv.code, 2)
  t.match(badEnv.stderr, /^environment: .*PORT/)
})

t.test('--remote: a typo, an undeclared input, a wrong type and a non-workflow flow, each precisely', async t => {
  const sandbox = await startTestSandbox(t, { flows: [contactFlow, ivrFlow] })
  const dir = tempDir(t)
  const file = writeFile(dir, 'mappings.yaml', brokenMappings)
  const env = { ...baseEnv, ...sandbox.env, MAPPINGS_FILE: file }

  const human = await cli(['validate', '--remote'], env)
  t.equal(human.code, 1)
  t.match(human.stdout, /the file is valid/)
  t.match(human.stdout, /checked against Genesys \(http:\/\/127\.0\.0\.1:\d+\): 4 error\(s\), 0 warning\(s\)/)
  t.match(human.stdout, /line 23: routes\[1\]\.inputs\.emial: error: route typo, input Flow\.emial: Flow\.emial is not an input of flow "Contact sync" version 3\.0\n {4}flow declares: inputs: Flow\.contactId, Flow\.action, Flow\.email, Flow\.attempts\n {4}suggestion: Did you mean "email"\?/)
  t.match(human.stdout, /routes\[2\]\.inputs\.nickname: error: route undeclared, input Flow\.nickname: Flow\.nickname is not an input/)
  t.match(human.stdout, /routes\[3\]\.inputs\.attempts: error: route wrong-type, input Flow\.attempts: Flow\.attempts is declared archInteger \(integer\), but the route converts it to boolean/)
  t.match(human.stdout, /routes\[4\]\.flow\.id: error: route ivr: flow "Main IVR" .* is of type INBOUNDCALL, not a workflow/)
  t.notMatch(human.stdout, /route good/)

  const asJson = await cli(['validate', '--remote', '--json'], env)
  t.equal(asJson.code, 1)
  const report = JSON.parse(asJson.stdout)
  t.match(report, { valid: false, remote: { checked: true } })
  t.same(report.flowProblems.map((p: any) => [p.route, p.input, p.code]), [
    ['typo', 'Flow.emial', 'input_not_declared'],
    ['undeclared', 'Flow.nickname', 'input_not_declared'],
    ['wrong-type', 'Flow.attempts', 'input_type_mismatch'],
    ['ivr', null, 'not_a_workflow']
  ])
  t.match(report.flowProblems[0], { path: 'routes[1].inputs.emial', line: 23, declared: String, suggestion: /email/ })

  const good = writeFile(dir, 'good.yaml', basicMappings())
  const clean = await cli(['validate', '--remote', '--mappings', good], env)
  t.equal(clean.code, 0)
  t.match(clean.stdout, /every enabled route fits its flow in Genesys/)
  t.notOk(`${human.stdout}${human.stderr}${asJson.stdout}`.includes(clientSecret))
})

t.test('--remote cannot run: no credentials, refused credentials, unreachable Genesys → 2', async t => {
  const sandbox = await startTestSandbox(t)
  const file = writeFile(tempDir(t), 'mappings.yaml', basicMappings())
  const noCredentials = await cli(['validate', '--remote', '--mappings', file], baseEnv)
  t.equal(noCredentials.code, 2)
  t.match(noCredentials.stderr, /--remote: GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET are not set/)

  const refused = await cli(['validate', '--remote', '--mappings', file], { ...baseEnv, ...sandbox.env, GENESYS_CLIENT_SECRET: 'wrong' })
  t.equal(refused.code, 2)
  t.match(refused.stderr, /cannot get a Genesys token from http:\/\/127\.0\.0\.1:\d+: token request answered 401/)
  t.notMatch(refused.stderr, /wrong/, 'the secret is not echoed')

  const unreachable = await cli(['validate', '--remote', '--mappings', file], { ...baseEnv, GENESYS_API_URL: 'http://127.0.0.1:1', GENESYS_LOGIN_URL: 'http://127.0.0.1:1', GENESYS_CLIENT_ID: clientId, GENESYS_CLIENT_SECRET: clientSecret })
  t.equal(unreachable.code, 2)
  t.match(unreachable.stderr, /cannot get a Genesys token/)
})
