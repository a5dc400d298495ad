/**
 * Starts Parley (`parley serve`) and the demo side by side, for `npm start`: both inherit the environment and the
 * terminal, Ctrl-C / SIGTERM stop both, and when either exits the other is stopped too. The demo waits for the
 * `credentials.json` that `parley serve` writes on its first start, so the order does not matter.
 *
 * Run: `node apps/demo/dist/src/start-with-parley.js` (after `npx tsc -b`), or `npm run start:all -w @parley/demo`.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { workingDirectory } from './config.ts'

const parleyCli = fileURLToPath(
  new URL('../../../../packages/server/dist/src/cli.js', import.meta.url),
)
const demoMain = fileURLToPath(new URL('./main.js', import.meta.url))

if (!existsSync(parleyCli)) {
  process.stderr.write(`Parley is not built (${parleyCli} is missing): run \`npx tsc -b\` first.\n`)
  process.exit(1)
}

// Both run where the user ran npm, so they agree on `./.parley`.
const cwd = workingDirectory()
const children: ChildProcess[] = [
  spawn(process.execPath, [parleyCli, 'serve', ...process.argv.slice(2)], {
    stdio: 'inherit',
    cwd,
  }),
  spawn(process.execPath, [demoMain], { stdio: 'inherit', cwd }),
]
let exitCode: number | undefined

function stopAll(signal: NodeJS.Signals): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
}

for (const child of children) {
  child.on('exit', (code, signal) => {
    exitCode ??= code ?? (signal ? 1 : 0)
    stopAll('SIGTERM')
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(exitCode)
  })
}
process.on('SIGINT', () => stopAll('SIGINT'))
process.on('SIGTERM', () => stopAll('SIGTERM'))
