/**
 * The gateway suites again, with WebSocket framing and socket I/O in the socket process (`socketProcess: true`):
 * every protocol, lifecycle, hostile-input and fan-out test must hold the same way over it. Then what only the socket
 * process has: its death, and handshakes it refuses.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import {
  harnessDefaults,
  mintParley,
  RawClient,
  socketProcesses,
  startGateway,
  until,
} from './support.ts'

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
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(h.port, '127.0.0.1', () =>
      s.write(
        'GET /v3/wsconnect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n',
      ),
    )
    let got = ''
    s.on('data', (d) => (got += d.toString('latin1')))
    s.on('close', () => resolve(got))
    s.on('error', reject)
  })
  assert.match(answer, /^HTTP\/1\.1 400 /)
  assert.equal(h.gateway.connections, 0)
  // The socket process still serves good clients.
  const c = await RawClient.connect(h.url)
  assert.equal(
    ((await c.init(mintParley(h.keys, 'alice'))).header['status'] as { code: number }).code,
    200,
  )
  c.close()
})
