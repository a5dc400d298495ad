/**
 * Hostile traffic at the gateway (reliability.md R13, R15, R19): malformed frames affect only the offending socket,
 * idle unauthenticated sockets are closed at the auth deadline while legitimate clients still get in, and one
 * identity's sockets share one rate limit.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import fc from 'fast-check'
import { WebSocket } from 'ws'
import { clientFrame, upgradeRequest } from '../../bench/support/twilsock-client.ts'
import { encodePacket } from '../../src/compat/twilio/twilsock/framing.ts'
import { mintParley, RawClient, sleep, startGateway, until } from './support.ts'

test(
  'R13: 2,000 malformed frames over 40 sockets leave 5 busy bystanders untouched',
  { timeout: 20_000 },
  async (t) => {
    const h = await startGateway({
      limits: { maxPayloadBytes: 4096, rateBurst: 1000, ratePerSecond: 1000 },
    })
    t.after(() => h.close())
    // 1. Bystanders that keep a request/response loop going the whole time.
    const bystanders = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const c = await RawClient.connect(h.url)
        await c.init(mintParley(h.keys, `bystander${i}`))
        return c
      }),
    )
    let stop = false
    let answered = 0
    const loops = bystanders.map(async (c) => {
      while (!stop) {
        const r = await c.reply(c.send({ method: 'telemetry.v1' }), 5000)
        assert.equal((r.header['status'] as { code: number }).code, 200)
        answered++
      }
    })
    // 2. Generated garbage: random bytes, a valid magic with random rest, broken JSON headers, wrong types, text
    //    frames, oversize frames; half the sockets initialise first.
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => ({ data: Buffer.from(b), binary: true })),
      fc
        .uint8Array({ maxLength: 200 })
        .map((b) => ({ data: Buffer.concat([Buffer.from('TWILSOCK V3.0 '), b]), binary: true })),
      fc.string().map((s) => ({
        data: Buffer.from(`TWILSOCK V3.0 ${Buffer.byteLength(s)}\r\n${s}\r\n`),
        binary: true,
      })),
      fc
        .record({
          method: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
          id: fc.oneof(fc.string(), fc.constant(undefined)),
          payload_size: fc.oneof(fc.integer(), fc.string()),
        })
        .map((h) => {
          const j = JSON.stringify(h)
          return {
            data: Buffer.from(`TWILSOCK V3.0 ${Buffer.byteLength(j)}\r\n${j}\r\n`),
            binary: true,
          }
        }),
      fc.jsonValue().map((v) => ({
        data: encodePacket({ method: 'message', id: 'TMx', http_request: v as never }),
        binary: true,
      })),
      fc.string().map((s) => ({ data: Buffer.from(s), binary: false })),
      fc.constant({ data: Buffer.alloc(5000, 1), binary: true }),
    )
    const samples = fc.sample(frame, { numRuns: 2000, seed: 42 })
    const codes: number[] = []
    for (let s = 0; s < 40; s++) {
      const c = await RawClient.connect(h.url)
      if (s % 2 === 0) await c.init(mintParley(h.keys, `hostile${s}`))
      for (const f of samples.slice(s * 50, s * 50 + 50)) {
        if (c.ws.readyState !== WebSocket.OPEN) break
        c.ws.send(f.data, { binary: f.binary })
      }
      c.close()
      codes.push((await c.closed).code)
    }
    stop = true
    await Promise.all(loops)
    // 3. Every hostile socket ended with a protocol close code (or its own normal close); bystanders never missed a reply.
    for (const code of codes)
      assert.ok([1000, 1002, 1003, 1005, 1008, 1009].includes(code), `close code ${code}`)
    assert.ok(answered > 50, `bystanders answered ${answered}`)
    for (const c of bystanders) assert.equal(c.ws.readyState, WebSocket.OPEN)
    await until(() => h.gateway.sessions.size === 5)
    for (const c of bystanders) c.close()
  },
)

test(
  'R19: 300 idle unauthenticated sockets are closed at the auth deadline; a real client still connects',
  { timeout: 20_000 },
  async (t) => {
    const h = await startGateway({ limits: { authDeadlineMs: 500 } })
    t.after(() => h.close())
    // The close listener is attached at creation: under load the deadline can pass before all 300 are open.
    const sockets = Array.from({ length: 300 }, () => {
      const ws = new WebSocket(h.url)
      const opened = new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('error', reject)
      })
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
      return { opened, closed }
    })
    await Promise.all(sockets.map((s) => s.opened))
    const closed = Promise.all(sockets.map((s) => s.closed))
    const started = Date.now()
    const c = await RawClient.connect(h.url)
    const r = await c.init(mintParley(h.keys, 'alice'))
    assert.equal((r.header['status'] as { code: number }).code, 200)
    assert.ok(Date.now() - started < 1000)
    const codes = await closed
    assert.ok(codes.every((x) => x === 1008))
    await sleep(100)
    assert.equal(h.gateway.connections, 1)
    assert.equal(c.ws.readyState, WebSocket.OPEN)
    c.close()
  },
)

test('R15: three sockets of one identity share its rate limit; reconnecting does not refill it; others are unaffected', async (t) => {
  const h = await startGateway({
    limits: {
      rateBurst: 1000,
      ratePerSecond: 1000,
      identityRateBurst: 12,
      identityRatePerSecond: 0.5,
      floodCloseAfter: 1000,
    },
  })
  t.after(() => h.close())
  const sockets = await Promise.all(
    [0, 1, 2].map(async () => {
      const c = await RawClient.connect(h.url)
      await c.init(mintParley(h.keys, 'mallory'))
      return c
    }),
  )
  const bob = await RawClient.connect(h.url)
  await bob.init(mintParley(h.keys, 'bob'))
  const started = Date.now()
  const codes = await Promise.all(
    sockets.flatMap((c) =>
      Array.from({ length: 20 }, async () => {
        const r = await c.reply(c.send({ method: 'telemetry.v1' }))
        const status = (r.header['status'] as { code: number }).code
        if (status === 429) assert.ok((r.body as { retry_after_ms: number }).retry_after_ms > 0)
        return status
      }),
    ),
  )
  const seconds = (Date.now() - started) / 1000
  const accepted = codes.filter((c) => c === 200).length
  assert.ok(accepted >= 12, `accepted ${accepted}`)
  assert.ok(accepted <= 12 + Math.ceil(0.5 * seconds) + 1, `accepted ${accepted} in ${seconds} s`)
  assert.equal(codes.filter((c) => c === 429).length, 60 - accepted)
  // Another identity has its own budget.
  const id = bob.send({ method: 'telemetry.v1' })
  assert.equal(((await bob.reply(id)).header['status'] as { code: number }).code, 200)
  // All of mallory's sockets gone and a new one opened: the budget is still spent.
  for (const c of sockets) c.close()
  await until(() => h.gateway.sessions.countForIdentity(h.keys.serviceSid, 'mallory') === 0)
  const again = await RawClient.connect(h.url)
  await again.init(mintParley(h.keys, 'mallory'))
  const r = await again.reply(again.send({ method: 'telemetry.v1' }))
  assert.equal((r.header['status'] as { code: number }).code, 429)
  again.close()
  bob.close()
})

test('R19: one address holds at most maxUnauthenticatedPerAddress sockets before init; initialised ones and other addresses do not count', async (t) => {
  const h = await startGateway({ limits: { maxUnauthenticatedPerAddress: 20 } })
  t.after(() => h.close())
  const idle = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(h.url)))
  await assert.rejects(RawClient.connect(h.url), { statusCode: 429 })
  // Another address still gets in.
  const other = await RawClient.connect(h.url, { localAddress: '127.0.0.2' })
  await other.init(mintParley(h.keys, 'bob'))
  // One of the twenty completes init: it no longer counts, so one more socket fits, and no more.
  await idle[0]!.init(mintParley(h.keys, 'alice'))
  const fits = await RawClient.connect(h.url)
  await assert.rejects(RawClient.connect(h.url), { statusCode: 429 })
  // Sockets that leave before init free their places.
  for (const c of idle.slice(1, 6)) c.close()
  await until(() => h.gateway.connections === 17)
  const more = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(h.url)))
  await assert.rejects(RawClient.connect(h.url), { statusCode: 429 })
  for (const c of [...idle, other, fits, ...more]) c.close()
})

/** Opens a WebSocket by hand (to send frames no client library would) and returns the raw socket after the 101. */
async function rawWebSocket(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' })
  await once(socket, 'connect')
  socket.write(upgradeRequest(port))
  let head = ''
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    head += chunk.toString('latin1')
  }
  assert.match(head, /^HTTP\/1\.1 101/)
  return socket
}

/** The code of the close frame the server sends on `socket` (first frame it sends after the handshake). */
async function serverCloseCode(socket: Socket): Promise<number> {
  let buf = Buffer.alloc(0)
  for (;;) {
    while (buf.length >= 2) {
      const len = buf[1]! & 0x7f
      const head = len < 126 ? 2 : len === 126 ? 4 : 10
      const size =
        len < 126 ? len : len === 126 ? buf.readUInt16BE(2) : Number(buf.readBigUInt64BE(2))
      if (buf.length < head + size) break
      if ((buf[0]! & 0x0f) === 0x8) return size >= 2 ? buf.readUInt16BE(head) : 1005
      buf = buf.subarray(head + size)
    }
    const chunk = await Promise.race([
      once(socket, 'data').then(([c]) => c as Buffer),
      once(socket, 'close').then(() => undefined),
    ])
    if (chunk === undefined) return 1006
    buf = Buffer.concat([buf, chunk])
  }
}

test('R13: frames the WebSocket layer must refuse close only their own socket with the RFC 6455 code', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const bystander = await RawClient.connect(h.url)
  await bystander.init(mintParley(h.keys, 'bystander'))
  const fragments = (n: number): Buffer =>
    Buffer.concat(
      Array.from({ length: n }, (_, i) => {
        const f = clientFrame(Buffer.from('x'), i === 0 ? 0x2 : 0x0)
        if (i < n - 1) f[0] = f[0]! & 0x7f // FIN only on the last
        return f
      }),
    )
  const unmasked = clientFrame(Buffer.from('abc'))
  const cases: [string, Buffer, number][] = [
    ['text frame with invalid UTF-8', clientFrame(Buffer.from([0xc3, 0x28, 0xff]), 0x1), 1007],
    ['ping with a 126-byte payload', clientFrame(Buffer.alloc(126, 1), 0x9), 1002],
    ['reserved opcode', clientFrame(Buffer.from('x'), 0x3), 1002],
    ['message in more fragments than allowed', fragments(65), 1008],
    [
      'unmasked client frame',
      Buffer.concat([Buffer.from([unmasked[0]!, unmasked[1]! & 0x7f]), unmasked.subarray(6)]),
      1002,
    ],
    ['reserved bit set', Buffer.from([0xc2, ...clientFrame(Buffer.from('x')).subarray(1)]), 1002],
  ]
  for (const [what, frame, code] of cases) {
    const s = await rawWebSocket(h.port)
    t.after(() => s.destroy())
    s.write(frame)
    assert.equal(await serverCloseCode(s), code, what)
    const r = await bystander.reply(bystander.send({ method: 'telemetry.v1' }))
    assert.equal((r.header['status'] as { code: number }).code, 200, `bystander after: ${what}`)
  }
  bystander.close()
})
