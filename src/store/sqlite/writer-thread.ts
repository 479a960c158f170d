import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { InlineWriter, type WriteCall, type WriteReply, type WriterOptions, type WriterThreadMessage } from './writer.js'

/** The writer thread of ThreadWriter: its own connection, group commit, WAL fsync and checkpointer. */
const port = parentPort!
const options = workerData as WriterOptions & { file: string }
const db = new Database(options.file, { fileMustExist: true })
const writer = new InlineWriter(db, options)
port.postMessage({ kind: 'ready' } satisfies WriterThreadMessage)

let replies: WriteReply[] = []
let flushScheduled = false

function flush (): void {
  flushScheduled = false
  if (replies.length === 0) return
  port.postMessage({ kind: 'replies', replies } satisfies WriterThreadMessage)
  replies = []
}

// Writes settled together (one group's commit or fsync) go back in one message.
function reply (answer: WriteReply): void {
  replies.push(answer)
  if (!flushScheduled) {
    flushScheduled = true
    queueMicrotask(flush)
  }
}

function errorData (error: unknown): { name: string, message: string, code?: unknown } {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) }
  const code = (error as { code?: unknown }).code
  return code === undefined ? { name: error.name, message: error.message } : { name: error.name, message: error.message, code }
}

async function close (): Promise<void> {
  await writer.close()
  db.close()
  flush()
  port.close()
}

port.on('message', (message: WriteCall[] | 'close') => {
  if (message === 'close') {
    void close()
    return
  }
  for (const call of message) {
    writer.run(call.op, call.args as never, call.durable).then(
      value => { reply({ id: call.id, ok: true, value }) },
      (error: unknown) => { reply({ id: call.id, ok: false, error: errorData(error) }) }
    )
  }
})
