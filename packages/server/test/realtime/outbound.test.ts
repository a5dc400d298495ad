/**
 * Whole WebSocket frames written by the server: `ws`'s own client-side parser reads back exactly the payload, at
 * every length class (7-bit, 16-bit and 64-bit lengths and their boundaries); `FramedSocket` writes one frame per
 * message and reports `ws`'s buffered amount. The per-turn write batching: a turn's first write goes straight out,
 * a second one corks the socket until the turn ends.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import {
  binaryFrame,
  FramedSocket,
  MAX_BATCH_BYTES,
  sendWithin,
  WriteBatcher,
} from '../../src/realtime/outbound.ts'

const require = createRequire(import.meta.url)
// ws's Receiver is not in its type declarations.
const { Receiver } = require('ws') as { Receiver: any }

/** The messages `ws` reads from `bytes` as a client would (unmasked frames), and any protocol error. */
function readFrames(bytes: Buffer): {
  messages: { data: Buffer; binary: boolean }[]
  error?: Error
} {
  const receiver = new Receiver({ isServer: false, maxPayload: 0 })
  const out: { messages: { data: Buffer; binary: boolean }[]; error?: Error } = { messages: [] }
  receiver.on('message', (data: Buffer, binary: boolean) => out.messages.push({ data, binary }))
  receiver.on('error', (err: Error) => (out.error = err))
  receiver.write(bytes)
  return out
}

test('binaryFrame: ws reads back the payload, at every length class and boundary', () => {
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70_000]) {
    const payload = Buffer.alloc(n, n % 251)
    const frame = binaryFrame(payload)
    assert.equal(frame.length - n, n < 126 ? 2 : n < 65536 ? 4 : 10, `header for ${n}`)
    const got = readFrames(frame)
    assert.equal(got.error, undefined)
    assert.equal(got.messages.length, 1)
    assert.equal(got.messages[0]!.binary, true)
    assert.ok(got.messages[0]!.data.equals(payload), `payload of ${n}`)
  }
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 8 }), (payloads) => {
      // Back to back on one stream, as on a socket.
      const bytes = Buffer.concat(payloads.map((p) => binaryFrame(Buffer.from(p))))
      const got = readFrames(bytes)
      assert.equal(got.error, undefined)
      assert.deepEqual(
        got.messages.map((m) => [m.binary, [...m.data]]),
        payloads.map((p) => [true, [...p]]),
      )
    }),
  )
})

test('FramedSocket writes one whole frame per message and reports the WebSocket buffered amount', () => {
  const writes: Buffer[] = []
  const raw = {
    write: (b: Buffer) => writes.push(b) > 0,
    cork: () => {},
    uncork: () => {},
  }
  const ws = { bufferedAmount: 1234 }
  const s = new FramedSocket(ws, raw)
  s.send(Buffer.from('hello'))
  s.send(Buffer.alloc(300, 7))
  assert.equal(writes.length, 2)
  assert.deepEqual(
    readFrames(Buffer.concat(writes)).messages.map((m) => m.data.length),
    [5, 300],
  )
  assert.equal(s.bufferedAmount, 1234)
  ws.bufferedAmount = 99
  assert.equal(s.bufferedAmount, 99)
})

/** A socket that logs what happens to it, behind a BufferedSocket that writes to it. */
function loggingSocket() {
  const log: string[] = []
  let corked = 0
  const raw = {
    cork: () => {
      corked++
      log.push('cork')
    },
    uncork: () => {
      corked--
      log.push('uncork')
    },
  }
  const out = {
    bufferedAmount: 0,
    send: (data: Buffer) => log.push(`${corked > 0 ? 'held' : 'write'} ${data.length}`),
  }
  return { log, raw, out }
}

const tick = (): Promise<void> => new Promise((r) => process.nextTick(r))

test('WriteBatcher: one write per turn goes straight out; more are corked until the turn ends', async () => {
  const { log, raw, out } = loggingSocket()
  const b = new WriteBatcher(raw)
  assert.ok(sendWithin(out, b, Buffer.alloc(1), 1e9))
  await tick()
  assert.deepEqual(log, ['write 1'])
  log.length = 0
  for (const n of [1, 2, 3]) assert.ok(sendWithin(out, b, Buffer.alloc(n), 1e9))
  assert.deepEqual(log, ['write 1', 'cork', 'held 2', 'held 3'])
  await tick()
  assert.deepEqual(log, ['write 1', 'cork', 'held 2', 'held 3', 'uncork'])
  // The next turn starts afresh.
  log.length = 0
  assert.ok(sendWithin(out, b, Buffer.alloc(4), 1e9))
  await tick()
  assert.deepEqual(log, ['write 4'])
})

test('WriteBatcher: a burst is flushed early past MAX_BATCH_BYTES held, then batched again', async () => {
  const { log, raw, out } = loggingSocket()
  const b = new WriteBatcher(raw)
  const big = Buffer.alloc(MAX_BATCH_BYTES / 2)
  for (let i = 0; i < 5; i++) assert.ok(sendWithin(out, b, big, 1e9))
  await tick()
  const n = big.length
  assert.deepEqual(log, [
    `write ${n}`,
    'cork',
    `held ${n}`,
    `held ${n}`,
    'uncork', // MAX_BATCH_BYTES held
    `write ${n}`,
    'cork',
    `held ${n}`,
    'uncork', // the turn's end
  ])
})

test('sendWithin: over the bound with a batch held, the batch goes out first, then the bound is judged again', () => {
  const { log, raw } = loggingSocket()
  let buffered = 0
  const out = {
    get bufferedAmount() {
      return buffered
    },
    send: (data: Buffer) => {
      buffered += data.length
      log.push(`send ${data.length}`)
    },
  }
  const b = new WriteBatcher(raw)
  assert.ok(sendWithin(out, b, Buffer.alloc(10), 25))
  assert.ok(sendWithin(out, b, Buffer.alloc(10), 25))
  // 20 buffered (10 of them held): 10 more would pass 25. Flushing lets the kernel take the held bytes.
  raw.uncork = () => {
    buffered = 0
    log.push('uncork')
  }
  assert.ok(sendWithin(out, b, Buffer.alloc(10), 25))
  assert.deepEqual(log, ['send 10', 'cork', 'send 10', 'uncork', 'cork', 'send 10'])
  // Still over with nothing held: a slow consumer.
  buffered = 30
  assert.equal(sendWithin(out, new WriteBatcher(raw), Buffer.alloc(1), 25), false)
})
