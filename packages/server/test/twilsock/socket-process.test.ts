/**
 * The gateway suites again, with WebSocket framing and socket I/O in the socket process (`socketProcess: true`):
 * every protocol, lifecycle, hostile-input and fan-out test must hold the same way over it. Then what only the socket
 * process has: its death, and handshakes it refuses.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import {
  harnessDefaults,
  mintParley,
  RawClient,
  socketProcesses,
  startGateway,
  until,
} from './support.ts'
import { upgradeRequest } from '../../bench/support/twilsock-client.ts'

harnessDefaults.socketProcess = true
await import('./protocol.test.ts')
await import('./lifecycle.test.ts')
await import('./hostile.test.ts')
await import('./fanout.test.ts')

// ---- what only the socket process has ----------------------------------------------------------------------------

test('socket process: when it dies its sessions close (1006) and the next upgrade starts a new one', async (t) => {
  const closes: (number | undefined)[] = []
  const h = await startGateway({ onSessionClose: (_s, info) => closes.push(info.code) })
  t.after(() => h.close())
  const a = await RawClient.connect(h.url)
  const b = await RawClient.connect(h.url)
  await a.init(mintParley(h.keys, 'alice'))
  await b.init(mintParley(h.keys, 'bob'))
  assert.equal(h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice').length, 1)
  const [pid] = socketProcesses()
  process.kill(pid!, 'SIGKILL')
  assert.equal((await a.closed).code, 1006)
  assert.equal((await b.closed).code, 1006)
  await until(() => closes.length === 2)
  assert.deepEqual(closes, [1006, 1006])
  assert.equal(h.gateway.connections, 0)
  assert.equal(h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice').length, 0)
  // A new client is served by a new socket process.
  const c = await RawClient.connect(h.url)
  const r = await c.init(mintParley(h.keys, 'carol'))
  assert.equal((r.header['status'] as { code: number }).code, 200)
  assert.notEqual(socketProcesses()[0], pid)
  c.close()
})

test('socket process: a handshake it refuses gets 400 and leaves nothing behind', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const refused = rawUpgrade(h.port, 7)
  await refused.closed
  assert.match(refused.data(), /^HTTP\/1\.1 400 /)
  assert.equal(h.gateway.connections, 0)
  // The socket process still serves good clients.
  const c = await RawClient.connect(h.url)
  assert.equal(
    ((await c.init(mintParley(h.keys, 'alice'))).header['status'] as { code: number }).code,
    200,
  )
  c.close()
})

/** Opens a raw TCP connection and sends a WebSocket upgrade request (of that protocol version) for the gateway. */
function rawUpgrade(
  port: number,
  version = 13,
): { socket: Socket; closed: Promise<void>; data: () => string } {
  const socket = connect(port, '127.0.0.1', () => socket.write(upgradeRequest(port, version)))
  let got = ''
  socket.on('data', (d) => (got += d.toString('latin1')))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return { socket, closed, data: () => got }
}

/**
 * A gateway whose socket process serves one initialised client (`warm`), then is stopped (SIGSTOP) while four more
 * upgrades arrive: their handoffs wait in Node's handle queue.
 */
async function stuckWithQueuedUpgrades(h: Awaited<ReturnType<typeof startGateway>>) {
  const warm = await RawClient.connect(h.url)
  await warm.init(mintParley(h.keys, 'warm'))
  const [pid] = socketProcesses()
  process.kill(pid!, 'SIGSTOP')
  const queued = Array.from({ length: 4 }, () => rawUpgrade(h.port))
  await until(() => h.gateway.socketProcess!.opening === 4)
  return { pid: pid!, warm, queued }
}

test(
  'socket process: upgrades queued for a stuck child that then dies are closed, and shutdown does not hang',
  { timeout: 20_000 },
  async () => {
    const h = await startGateway()
    const { pid, warm, queued } = await stuckWithQueuedUpgrades(h)
    process.kill(pid, 'SIGKILL')
    await Promise.all(queued.map((q) => q.closed))
    assert.ok(queued.every((q) => !q.data().startsWith('HTTP/1.1 101')))
    assert.equal((await warm.closed).code, 1006)
    await until(() => h.gateway.socketProcess!.connections === 0)
    assert.equal(h.gateway.socketProcess!.opening, 0)
    // The HTTP server no longer counts them: close() returns.
    await h.close()
  },
)

test(
  'socket process: a client that resets while its handoff waits leaves no connection behind',
  { timeout: 20_000 },
  async (t) => {
    const h = await startGateway()
    t.after(() => h.close())
    const { pid, warm, queued } = await stuckWithQueuedUpgrades(h)
    for (const q of queued) q.socket.resetAndDestroy()
    await Promise.all(queued.map((q) => q.closed))
    process.kill(pid, 'SIGCONT')
    await until(() => h.gateway.socketProcess!.connections === 1)
    assert.equal(h.gateway.socketProcess!.opening, 0)
    warm.close()
    await until(() => h.gateway.socketProcess!.connections === 0)
  },
)

test('socket process: connections still being handed over count against maxConnections', async (t) => {
  const h = await startGateway({ limits: { maxConnections: 3 } })
  t.after(() => h.close())
  const results = await Promise.all(
    Array.from({ length: 12 }, () =>
      RawClient.connect(h.url).then(
        (c) => c,
        (err: { statusCode?: number }) => err.statusCode,
      ),
    ),
  )
  const open = results.filter((r): r is RawClient => r instanceof RawClient)
  assert.equal(open.length, 3)
  assert.ok(results.filter((r) => r === 503).length === 9)
  for (const c of open) c.close()
})
