/**
 * Starts Parley (`parley serve`) and then the demo, for `npm start`, and prints the URL to open.
 *
 * 1. `parley serve` starts first (extra arguments are passed to it); its output, including the first-start banner with
 *    the credentials, goes to this terminal unchanged.
 * 2. Once it prints where it listens, the demo starts, pointed at that URL (unless `PARLEY_URL` or `PARLEY_PUBLIC_URL`
 *    says otherwise), so a stale `url` in credentials.json (e.g. after `--port 0`) does not matter.
 * 3. When the demo listens, a short block says which URL to open.
 *
 * Ctrl-C / SIGTERM / SIGHUP stop both and exit 0 once both have stopped cleanly. The children run in their own
 * process groups, so a Ctrl-C in the terminal reaches them once (through this launcher) rather than twice (`parley
 * serve` treats a second signal as "exit immediately"). A second Ctrl-C is passed on as such. When either child exits
 * on its own, the other is stopped and its exit code is ours.
 *
 * Run: `npm start` from the repository root, or `node apps/demo/dist/src/start-with-parley.js` after `npx tsc -b`.
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
/** The server's node flags (`SERVER_NODE_FLAGS` in packages/server/src/node-flags.ts), loaded once it is built. */
const nodeFlagsModule = new URL(
  '../../../../packages/server/dist/src/node-flags.js',
  import.meta.url,
)

for (const file of [parleyCli, fileURLToPath(nodeFlagsModule)]) {
  if (!existsSync(file)) {
    process.stderr.write(`Parley is not built (${file} is missing): run \`npx tsc -b\` first.\n`)
    process.exit(1)
  }
}

/** Parley prints this on every start (first start: first line of the banner; later starts: the only line). */
const PARLEY_READY = /Parley Chat Service is running at (https?:\/\/[^\s()]+)/

/** How long stopped children get to exit after SIGTERM before they are killed. */
const STOP_GRACE_MS = 30_000

// Both run where the user ran npm, so they agree on `./.parley`.
const cwd = workingDirectory()
const children: ChildProcess[] = []
/** The first failure (a non-zero exit or a death by signal), else 0. */
let exitCode = 0
let stopping = false
let stopSignals = 0
let forceTimer: NodeJS.Timeout | undefined

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/** Pipe a child's output to ours line by line (so lines of the two never interleave mid-line). */
function relay(
  stream: NodeJS.ReadableStream | null,
  out: NodeJS.WriteStream,
  onLine?: (line: string) => void,
): void {
  if (!stream) return
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    pending += chunk
    const end = pending.lastIndexOf('\n')
    if (end < 0) return
    const lines = pending.slice(0, end + 1)
    pending = pending.slice(end + 1)
    out.write(lines)
    if (onLine) for (const line of lines.split('\n')) onLine(line)
  })
  stream.on('end', () => {
    if (pending) out.write(`${pending}\n`)
    pending = ''
  })
}

/** Children already asked to stop: one child exiting must not signal the others a second time. */
const signaled = new WeakSet<ChildProcess>()

/**
 * Asks every running child to stop with `signal`, once: a child that already got a stop signal gets none again
 * (parley serve reads a second signal as "exit immediately"), unless `again` (the user pressed Ctrl-C twice).
 */
function stopAll(signal: NodeJS.Signals, again = false): void {
  stopping = true
  for (const child of children) {
    if (!running(child) || (signaled.has(child) && !again)) continue
    signaled.add(child)
    child.kill(signal)
  }
  forceTimer ??= setTimeout(() => {
    process.stderr.write('start-with-parley: still running after 30 s, killing\n')
    if (exitCode === 0) exitCode = 1
    for (const child of children) if (running(child)) child.kill('SIGKILL')
  }, STOP_GRACE_MS)
  forceTimer.unref()
}

function watch(child: ChildProcess): void {
  children.push(child)
  // 'close' comes after the child's output is fully relayed.
  child.on('close', (code, signal) => {
    if (exitCode === 0 && (code !== 0 || signal !== null)) exitCode = code || 1
    stopAll('SIGTERM')
    if (children.every((c) => !running(c))) process.exit(exitCode)
  })
}

function startDemo(parleyUrl: string): void {
  if (stopping) return
  const env = { ...process.env }
  if (!env['PARLEY_URL']?.trim() && !env['PARLEY_PUBLIC_URL']?.trim()) env['PARLEY_URL'] = parleyUrl
  const demo = spawn(process.execPath, [demoMain], {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  watch(demo)
  relay(demo.stdout, process.stdout)
  relay(demo.stderr, process.stderr)
  demo.on('message', (m: unknown) => {
    const msg = m as { type?: unknown; url?: unknown } | null
    if (msg?.type !== 'demo-listening' || typeof msg.url !== 'string') return
    process.stdout.write(
      [
        '',
        '  ────────────────────────────────────────────────────────────',
        `  Open the demo chat in your browser:  ${msg.url}`,
        '',
        '  Create an account, create a channel, then open a second browser',
        '  (or a private window) as another user to chat.',
        `  Parley Chat Service: ${parleyUrl}    Stop both: Ctrl-C`,
        '  ────────────────────────────────────────────────────────────',
        '',
        '',
      ].join('\n'),
    )
  })
}

const { SERVER_NODE_FLAGS } = (await import(nodeFlagsModule.href)) as {
  SERVER_NODE_FLAGS: readonly string[]
}
const parley = spawn(
  process.execPath,
  [...SERVER_NODE_FLAGS, parleyCli, 'serve', ...process.argv.slice(2)],
  {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  },
)
watch(parley)
let parleyReady = false
relay(parley.stdout, process.stdout, (line) => {
  const m = parleyReady ? null : PARLEY_READY.exec(line)
  if (!m) return
  parleyReady = true
  startDemo(m[1]!.replace(/\/+$/, ''))
})
relay(parley.stderr, process.stderr)

function onSignal(signal: NodeJS.Signals): void {
  stopSignals++
  // A second Ctrl-C: pass it on, so that parley serve stops without waiting for in-flight requests.
  stopAll(stopSignals === 1 ? 'SIGTERM' : signal, stopSignals > 1)
  if (children.every((c) => !running(c))) process.exit(exitCode)
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
process.on('SIGHUP', onSignal)
