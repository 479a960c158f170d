import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { linesPerTurn } from '../../src/logging/logger.js'

const builtLogger = fileURLToPath(new URL('../../dist/logging/logger.js', import.meta.url))

function recordingStream (): { writes: string[], write: (chunk: string) => void } {
  const writes: string[] = []
  return { writes, write: chunk => { writes.push(chunk) } }
}

t.test('the lines of one event-loop turn reach the stream in one write, when the turn ends', async t => {
  const stream = recordingStream()
  const lines = linesPerTurn(stream)
  lines.write('{"n":1}\n')
  lines.write('{"n":2}\n')
  lines.write('{"n":3}\n')
  t.same(stream.writes, [], 'nothing written during the turn')
  await new Promise(resolve => setImmediate(resolve))
  t.same(stream.writes, ['{"n":1}\n{"n":2}\n{"n":3}\n'], 'one write with every line, in order')
  lines.write('{"n":4}\n')
  await new Promise(resolve => setImmediate(resolve))
  t.same(stream.writes.at(-1), '{"n":4}\n', 'a later turn writes its own lines')
  t.equal(stream.writes.length, 2)
})

t.test('flush writes what waits at once, and the scheduled write then has nothing to add', async t => {
  const stream = recordingStream()
  const lines = linesPerTurn(stream)
  lines.write('{"n":1}\n')
  let called = false
  lines.flush(() => { called = true })
  t.same(stream.writes, ['{"n":1}\n'])
  t.ok(called, 'the callback runs after the write')
  await new Promise(resolve => setImmediate(resolve))
  t.equal(stream.writes.length, 1, 'no empty write at the end of the turn')
})

t.test('a line logged just before process.exit() is on stdout', async t => {
  const script = `import(${JSON.stringify(builtLogger)}).then(({ createLogger }) => {
    const log = createLogger('info')
    log.info({ event: 'probe.logged' }, 'logged, then exit at once')
    process.exit(3)
  })`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString('utf8') })
  const code = await new Promise(resolve => child.once('close', resolve))
  t.equal(code, 3)
  const lines = out.trim().split('\n').map(line => JSON.parse(line) as { event?: string, msg?: string })
  t.same(lines.map(line => line.event), ['probe.logged'])
})
