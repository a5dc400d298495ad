#!/usr/bin/env node
/**
 * The `parley` command. Thin: parses argv and calls into the library. Each subcommand lives in `cli/`.
 *
 * Exit codes: 0 success, 1 a rejection the command reports (for example a token that fails verification),
 * 2 a wrong or missing argument (one clear line on stderr).
 *
 * @module
 */
import { argv, exit, stderr, stdout } from 'node:process'

const USAGE = `Usage: parley <command> [options]

Commands:
  serve                 run the chat service (embedded SQLite by default)
  token mint            mint an Access Token
  token decode <jwt>    show a token's header and payload
  token verify <jwt>    verify a token strictly

Run "parley <command> --help" for the options of a command.
`

async function main(args: string[]): Promise<number> {
  const [command] = args
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      stdout.write(USAGE)
      return 0
    case 'serve': {
      const { runServe } = await import('./cli/serve.ts')
      return runServe(args.slice(1))
    }
    case 'token': {
      const { runToken } = await import('./cli/token.ts')
      return runToken(args.slice(1))
    }
    default:
      stderr.write(`parley: unknown command "${command}" (run "parley --help")\n`)
      return 2
  }
}

main(argv.slice(2)).then(
  (code) => {
    exit(code)
  },
  (err: unknown) => {
    stderr.write(`parley: ${err instanceof Error ? err.message : String(err)}\n`)
    exit(1)
  },
)
