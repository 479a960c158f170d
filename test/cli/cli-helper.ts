import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The built CLI (`npm run build` first), run as a user would: node dist/cli/main.js. */
export const cliEntry = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI without blocking this process (the sandbox it talks to lives here). */
export async function cli (args: string[], env: Record<string, string | undefined> = {}, stdin?: string): Promise<CliResult> {
  return await new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [cliEntry, ...args], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', ...env },
      timeout: 60_000
    }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(error)
        return
      }
      resolve({ code: error === null ? 0 : error.code as number, stdout, stderr })
    })
    if (stdin !== undefined) child.stdin!.end(stdin)
    else child.stdin!.end()
  })
}
