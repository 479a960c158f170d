#!/usr/bin/env node
/**
 * `crm-flow-bridge` command line: validate mappings (locally and against Genesys), preview the
 * request a webhook would produce, and inspect or replay deliveries. Reads the same environment as
 * the service. Exit status: 0 ok, 1 problems found, 2 unusable input. See docs/admin.md.
 */
import { createRequire } from 'node:module'
import { CliExit, exitCodes, type Io } from './common.js'
import { deliveriesCommand } from './deliveries.js'
import { previewCommand } from './preview.js'
import { validateCommand } from './validate.js'

export const mainHelp = `Usage: crm-flow-bridge <command> [options]

Commands:
  validate     check a mappings file, and with --remote every route against its Genesys flow
  preview      print the exact Genesys request a webhook would produce, or why none
  deliveries   list, show and replay stored deliveries (list | show | replay)

Run "crm-flow-bridge <command> --help" for a command's options. The commands read the same
environment as the service (MAPPINGS_FILE, DATABASE_URL, GENESYS_*, …).

Exit status: 0 ok, 1 problems found, 2 unusable input.
`

export async function run (argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'validate': return await validateCommand(rest, io)
      case 'preview': return await previewCommand(rest, io)
      case 'deliveries': return await deliveriesCommand(rest, io)
      case '-v':
      case '--version':
        io.out(`${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}\n`)
        return exitCodes.ok
      case '-h':
      case '--help':
      case 'help':
        io.out(mainHelp)
        return exitCodes.ok
      case undefined:
        io.err(mainHelp)
        return exitCodes.unusable
      default:
        io.err(`unknown command "${command}"\n\n${mainHelp}`)
        return exitCodes.unusable
    }
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message !== '') io.err(`${err.message.replace(/\n*$/, '')}\n`)
      return err.code
    }
    // parseArgs: unknown option, missing value, unexpected argument.
    if (typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('ERR_PARSE_ARGS')) {
      io.err(`${(err as Error).message}\nRun "crm-flow-bridge ${command ?? ''} --help" for the options.\n`)
      return exitCodes.unusable
    }
    io.err(`crm-flow-bridge ${command ?? ''}: ${(err as Error).stack ?? String(err)}\n`)
    return exitCodes.unusable
  }
}

const io: Io = {
  out: text => { process.stdout.write(text) },
  err: text => { process.stderr.write(text) },
  env: process.env
}
process.exitCode = await run(process.argv.slice(2), io)
