/**
 * Multi-process plumbing of the benches: this script forks itself in a role (server, load client) with IPC, and
 * waits for typed messages from the child.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process'
import { execPath } from 'node:process'

/**
 * Forks `script role` through `sh` so that the soft file-descriptor limit can be raised to the hard limit first
 * (thousands of sockets per process). The child's stdout/stderr are inherited.
 */
export function spawnRole(script: string, role: string, execArgv: string[]): ChildProcess {
  return fork(
    '-c',
    [`ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`, execPath, ...execArgv, script, role],
    {
      execPath: '/bin/sh',
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  )
}

/** The next IPC message of `type` from `child`; rejects when the child exits first. */
export function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return
      child.off('message', on)
      child.off('exit', onExit)
      resolve(m as T)
    }
    const onExit = (code: number | null) =>
      reject(new Error(`child exited (${code}) before "${type}"`))
    child.on('message', on)
    child.once('exit', onExit)
  })
}

/**
 * Runs this process's part: the role named by `argv[2]` (a child forked by {@link spawnRole}), else the
 * orchestrator. An orchestrator failure is printed and exits with status 1.
 */
export function runRole(
  roles: Record<string, () => Promise<void>>,
  orchestrate: () => Promise<void>,
): void {
  const role = process.argv[2]
  const run = role !== undefined ? roles[role] : undefined
  if (run !== undefined) {
    void run()
    return
  }
  orchestrate().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
