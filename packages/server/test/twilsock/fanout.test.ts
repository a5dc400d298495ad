/**
 * The fan-out send path: payloads encoded once and shared by every socket, per-session packet ids, writes coalesced
 * per socket and turn, and the cheap path for the client's acks. Every byte a client sees must stay what the
 * per-subscriber encoding produced.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { WebSocket } from 'ws'
import {
  ackId,
  decodePacket,
  encodeNotification,
  encodePacket,
} from '../../src/compat/twilio/twilsock/framing.ts'
import { EncodedNotification, type TwilsockSession } from '../../src/compat/twilio/upstream.ts'
import { mintParley, RawClient, startGateway, until, type Harness } from './support.ts'

const require = createRequire(import.meta.url)
type ReplyClass = new (id: string) => object
type ParserClass = { createPacket(h: object, p?: string): ArrayBuffer }
// twilsock 0.12 (twilio-chat 6.0.0) and 1.0 (@twilio/conversations 3.0.1): the acks the SDKs really send.
const sdks = ['twilio-chat/node_modules/twilsock/dist/', 'twilsock/dist/'].map((dir) => ({
  Reply: (require(`${dir}protocol/messages/reply.js`) as { Reply: ReplyClass }).Reply,
  Parser: (require(`${dir}parser.js`) as { Parser: ParserClass }).Parser,
}))

/** What `Session.notify` sent before payloads were shared: one `encodePacket` per subscriber. */
function perSubscriber(id: string, messageType: string, value: unknown): Buffer {
  const header = {
    method: 'notification',
    id,
    message_type: messageType,
    payload_type: 'application/json',
  }
  return encodePacket(header, value === undefined ? undefined : JSON.stringify(value))
}

test('encodeNotification gives the bytes of the per-subscriber encodePacket, for any payload', () => {
  const id = fc.oneof(
    fc.stringMatching(/^TM[0-9a-z]{1,30}$/),
    fc.string({ minLength: 1, maxLength: 20 }),
  )
  fc.assert(
    fc.property(
      id,
      fc.string(),
      fc.option(fc.jsonValue(), { nil: undefined }),
      (i, type, value) => {
        const n = new EncodedNotification(type, value)
        // Twice: the second call uses the header tail memoised on the payload.
        assert.deepEqual(encodeNotification(i, n), perSubscriber(i, type, value))
        assert.deepEqual(encodeNotification(i, n), perSubscriber(i, type, value))
      },
    ),
    { numRuns: 500 },
  )
  const golden =
    'TWILSOCK V3.0 125\r\n{"method":"notification","id":"TMab1","message_type":"twilio.sync.event",' +
    '"payload_type":"application/json","payload_size":14}\r\n{"ü":"\\"x\\n"}'
  const n = new EncodedNotification('twilio.sync.event', { ü: '"x\n' })
  assert.equal(encodeNotification('TMab1', n).toString('utf8'), golden)
})

test('an unserialisable payload is recorded, not thrown', () => {
  const cyclic: Record<string, unknown> = {}
  cyclic['self'] = cyclic
  const n = new EncodedNotification('twilio.sync.event', cyclic)
  assert.ok(n.error instanceof TypeError)
  assert.equal(n.json.length, 0)
})

test('ackId recognises the acks twilsock sends, and nothing decodePacket would read differently', () => {
  for (const { Reply, Parser } of sdks) {
    for (const id of ['TM1', 'TMab12cd34ef56gh', 'TMa1b2c3d4-e5f6-47a8-b9c0-d1e2f3a4b5c6']) {
      const frame = Buffer.from(Parser.createPacket(new Reply(id)))
      assert.equal(ackId(frame), id)
      assert.equal(decodePacket(frame).id, id)
    }
  }
  const plain = (h: string, tail = '\r\n'): Buffer =>
    Buffer.from(`TWILSOCK V3.0 ${Buffer.byteLength(h)}\r\n${h}${tail}`, 'utf8')
  const ok = '{"method":"reply","id":"TMx","status":{"code":200,"status":"OK"},"payload_size":0}'
  assert.equal(ackId(plain(ok)), 'TMx')
  assert.equal(ackId(plain(ok, '')), 'TMx')
  assert.equal(ackId(plain(ok.replace(',"payload_size":0', ''))), 'TMx')
  // Anything else takes the full decoder (and its errors).
  for (const f of [
    plain(ok, '\r\nx'),
    plain(ok, '\r'),
    plain(ok.replace('200', '500')),
    plain(ok.replace('"payload_size":0', '"payload_size":1')),
    plain(ok.replace('TMx', 'TM\\u0078')),
    plain(ok.replace('TMx', '')),
    plain(`${ok} `),
    Buffer.from(`TWILSOCK V3.0 ${ok.length + 1}\r\n${ok}\r\n`),
    Buffer.from(`TWILSOCK V3.0 0${ok.length}\r\n${ok}\r\n`),
    Buffer.from(`TWILSOCK V3.1 ${ok.length}\r\n${ok}\r\n`),
  ]) {
    assert.equal(ackId(f), undefined, f.toString('latin1'))
  }
  // Property: whenever the fast path takes a frame, the strict decoder reads the same reply.
  const frames = fc
    .tuple(
      fc.constantFrom('TWILSOCK V3.0 ', 'TWILSOCK V3.0  '),
      fc.constantFrom(0, 1, -1),
      fc.string({ maxLength: 10 }),
      fc.constantFrom(
        '{"id":"ID","method":"reply","payload_type":"application/json","status":{"code":200,"status":"OK"},"payload_size":0}',
        ok.replace('TMx', 'ID'),
        '{"method":"reply","id":"ID","status":{"code":200,"status":"OK"}}',
      ),
      fc.constantFrom('', '\r\n', '\n', '\r\n\r\n'),
    )
    .map(([magic, delta, id, h, tail]) => {
      const header = h.replace('ID', id)
      return Buffer.from(`${magic}${Buffer.byteLength(header) + delta}\r\n${header}${tail}`, 'utf8')
    })
  fc.assert(
    fc.property(frames, (f) => {
      const id = ackId(f)
      if (id === undefined) return
      const pkt = decodePacket(f)
      assert.equal(pkt.method, 'reply')
      assert.equal(pkt.id, id)
      assert.equal(pkt.payload.length, 0)
    }),
    { numRuns: 500 },
  )
})

/** The canonical ack as the regular expression in `framing.ts`'s documentation: the oracle for the byte reader. */
const ACK_REGEX =
  /^TWILSOCK V3\.0 ([1-9]\d{0,6})\r\n(\{"(?:id":"([\w-]{1,128})","method":"reply"|method":"reply","id":"([\w-]{1,128})")(?:,"payload_type":"application\/json")?,"status":\{"code":200,"status":"OK"\}(?:,"payload_size":0)?\})(?:\r\n)?$/
function ackIdByRegex(frame: Buffer): string | undefined {
  if (frame.length > 400) return undefined
  const m = ACK_REGEX.exec(frame.toString('latin1'))
  if (m === null || Number(m[1]) !== m[2]!.length) return undefined
  return m[3] ?? m[4]
}

test('ackId reads bytes exactly as the documented regular expression does', () => {
  const pieces = [
    'TWILSOCK V3.0 ',
    'TWILSOCK V3.0  ',
    'TWILSOCK V3.1 ',
    '\r\n',
    '\r',
    '\n',
    '{"id":"',
    '{"method":"reply","id":"',
    '","method":"reply"',
    '"',
    ',"payload_type":"application/json"',
    ',"status":{"code":200,"status":"OK"}',
    ',"status":{"code":500,"status":"OK"}',
    ',"payload_size":0',
    ',"payload_size":1',
    '}',
    ' ',
    'TM',
    'x',
    '-',
    '_',
    'é',
    '0',
    '7',
  ]
  // Canonical acks with random ids and a right, wrong or off-by-one length, then random splices of the grammar's
  // pieces: whatever the bytes, both readers agree.
  const canonical = fc
    .tuple(
      fc.constantFrom(0, 1),
      fc.stringMatching(/^[\w-]{0,130}$/),
      fc.boolean(),
      fc.boolean(),
      fc.constantFrom(0, 1, -1, 1000),
      fc.constantFrom('', '\r\n', '\n', '\r\n\r\n', 'x'),
    )
    .map(([order, id, type, size, delta, tail]) => {
      const h =
        (order === 0 ? `{"id":"${id}","method":"reply"` : `{"method":"reply","id":"${id}"`) +
        (type ? ',"payload_type":"application/json"' : '') +
        ',"status":{"code":200,"status":"OK"}' +
        (size ? ',"payload_size":0' : '') +
        '}'
      return Buffer.from(`TWILSOCK V3.0 ${h.length + delta}\r\n${h}${tail}`, 'latin1')
    })
  const spliced = fc
    .array(fc.constantFrom(...pieces), { maxLength: 14 })
    .map((ps) => Buffer.from(ps.join(''), 'utf8'))
  fc.assert(
    fc.property(fc.oneof(canonical, spliced), (f) => {
      assert.equal(ackId(f), ackIdByRegex(f), JSON.stringify(f.toString('latin1')))
    }),
    { numRuns: 3000 },
  )
})

/** A client that keeps every raw frame it receives. */
async function rawFrames(
  h: Harness,
  identity: string,
  autoAck = true,
): Promise<{ c: RawClient; frames: Buffer[]; session: TwilsockSession }> {
  const c = await RawClient.connect(h.url, { autoAck })
  await c.init(mintParley(h.keys, identity))
  const frames: Buffer[] = []
  c.ws.on('message', (d: Buffer) => frames.push(Buffer.from(d)))
  const session = h.gateway.sessions.forIdentity(h.keys.serviceSid, identity)[0]!
  return { c, frames, session }
}

test('one shared payload reaches every session byte-identical to the per-subscriber encoding', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const peers = await Promise.all(['alice', 'bob', 'carol'].map((who) => rawFrames(h, who)))
  const value = {
    event_type: 'list_item_added',
    event: { id: 7, item_data: { body: 'héllo "x"' } },
  }
  const n = new EncodedNotification('twilio.sync.event', value)
  for (const p of peers) p.session.notifyEncoded(n)
  peers[0]!.session.notify('twilio.sync.event', value)
  await until(() => peers.every((p) => p.frames.length >= 1) && peers[0]!.frames.length === 2)
  for (const p of peers) {
    for (const f of p.frames) {
      const id = decodePacket(f).id!
      assert.deepEqual(f, perSubscriber(id, 'twilio.sync.event', value))
    }
  }
  for (const p of peers) p.c.close()
})

test('packet ids are unique within a session and keep the TM prefix', async (t) => {
  const h = await startGateway({ limits: { maxUnacked: 10_000 } })
  t.after(() => h.close())
  const a = await rawFrames(h, 'alice', false)
  const b = await rawFrames(h, 'bob', false)
  const n = new EncodedNotification('twilio.sync.event', { i: 0 })
  for (let i = 0; i < 2000; i++) a.session.notifyEncoded(n)
  for (let i = 0; i < 10; i++) b.session.notify('twilio.sync.event', { i })
  await until(() => a.frames.length === 2000 && b.frames.length === 10)
  const ids = a.frames.map((f) => decodePacket(f).id!)
  assert.equal(new Set(ids).size, 2000)
  const idsB = b.frames.map((f) => decodePacket(f).id!)
  for (const id of [...ids, ...idsB]) assert.match(id, /^TM[0-9a-z]+$/)
  // Another session numbers its own packets: its ids differ from the first session's.
  assert.equal(
    idsB.some((id) => ids.includes(id)),
    false,
  )
  a.c.close()
  b.c.close()
})

test('notifications sent in one turn arrive intact, one frame each, in order', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const a = await rawFrames(h, 'alice')
  // Many small ones, then enough bytes to pass the batch size within the same turn.
  for (let i = 0; i < 200; i++) a.session.notify('twilio.sync.event', { i })
  for (let i = 200; i < 230; i++)
    a.session.notify('twilio.sync.event', { i, pad: 'x'.repeat(8 * 1024) })
  await until(() => a.frames.length === 230)
  assert.deepEqual(
    a.frames.map((f) => (JSON.parse(decodePacket(f).payload.toString('utf8')) as { i: number }).i),
    Array.from({ length: 230 }, (_, i) => i),
  )
  const s = a.session as TwilsockSession & { unacked: number }
  await until(() => s.unacked === 0)
  a.c.close()
})

test('a reader that stops is closed as a slow consumer even when one turn overfills its socket', async (t) => {
  const closes: (number | undefined)[] = []
  const h = await startGateway({
    limits: { maxOutboundBytes: 128 * 1024 },
    onSessionClose: (_s, info) => closes.push(info.code),
  })
  t.after(() => h.close())
  const a = await rawFrames(h, 'alice', false)
  ;(a.c.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  const n = new EncodedNotification('twilio.sync.event', { data: 'x'.repeat(16 * 1024) })
  let sent = 0
  // All in one turn: nothing is written until the batch is flushed, unless the bound forces it.
  while (!a.session.closed && sent < 20_000) {
    a.session.notifyEncoded(n)
    sent++
  }
  assert.equal(a.session.closed, true)
  ;(a.c.ws as unknown as { _socket: { resume(): void } })._socket.resume()
  const closed = await a.c.closed
  assert.ok(closed.code === 4008 || closed.code === 1006, `close code ${closed.code}`)
  await until(() => closes.length > 0)
  assert.equal(closes[0], 4008)
})

test('acks in the SDK shapes and in any other valid shape clear unacked packets; stray ones do not', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const a = await rawFrames(h, 'alice', false)
  const s = a.session as TwilsockSession & { unacked: number }
  for (let i = 0; i < 4; i++) s.notify('twilio.sync.event', { i })
  await until(() => a.frames.length === 4)
  assert.equal(s.unacked, 4)
  const ids = a.frames.map((f) => decodePacket(f).id!)
  for (const [k, { Reply, Parser }] of sdks.entries()) {
    a.c.sendRaw(Buffer.from(Parser.createPacket(new Reply(ids[k]!))))
  }
  a.c.sendRaw(Buffer.from(sdks[0]!.Parser.createPacket(new sdks[0]!.Reply('TMnothing'))))
  await until(() => s.unacked === 2)
  // Field order and extra fields differ from the canonical shapes: the full decoder takes them.
  a.c.send({ status: { code: 200, status: 'OK' }, method: 'reply', id: ids[2]! })
  a.c.send({ method: 'reply', id: ids[3]!, status: { code: 200, status: 'OK' }, extra: true })
  await until(() => s.unacked === 0)
  assert.equal(a.c.ws.readyState, WebSocket.OPEN)
  a.c.close()
})
