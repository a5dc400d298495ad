// The fan-out bench load client's byte-level pieces: the in-place WebSocket frame reader and the fast Twilsock
// packet reader/writers, checked against the server's own framing (`encodePacket` / `decodePacket`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodePacket, encodePacket } from '../src/compat/twilio/twilsock/framing.ts'
import {
  newScan,
  OutArea,
  SCAN_ITEM,
  SCAN_OTHER,
  SCAN_REPLY,
  scanPacket,
  SendTemplate,
  sidAt,
  writeAck,
} from '../bench/support/fanout-wire.ts'
import { ackFrame, requestFrame, ServerStream } from '../bench/support/twilsock-client.ts'

/** An unmasked server frame, as the gateway (ws) sends it. */
function serverFrame(payload: Buffer, opcode = 0x2): Buffer {
  const len = payload.length
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigLen(len)])
  return Buffer.concat([head, payload])
}
function bigLen(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

/** The payload of a zero-masked client frame. */
function clientPayload(frame: Buffer): Buffer {
  const len7 = frame[1]! & 0x7f
  const off = len7 < 126 ? 2 : len7 === 126 ? 4 : 10
  assert.equal(frame[1]! & 0x80, 0x80, 'masked')
  assert.deepEqual([...frame.subarray(off, off + 4)], [0, 0, 0, 0])
  return frame.subarray(off + 4)
}

const UPGRADE = Buffer.from(
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
)

/** Feeds `bytes` in the given chunk sizes through one shared, reused read buffer (as `onread` does). */
function feed(
  bytes: Buffer,
  sizes: (i: number) => number,
): { frames: [number, Buffer][]; ok: boolean } {
  const frames: [number, Buffer][] = []
  const stream = new ServerStream((op, b, s, e) => frames.push([op, Buffer.from(b.subarray(s, e))]))
  const shared = Buffer.alloc(1 << 18)
  let ok = true
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.min(sizes(i), bytes.length - at)
    bytes.copy(shared, 0, at, at + n)
    ok = stream.push(shared, 0, n) && ok
    shared.fill(0xee) // the read buffer is reused: the stream must have kept what it needs
    at += n
  }
  return { frames, ok }
}

test('ServerStream: upgrade response and frames of every length class, across any chunk boundary', () => {
  const payloads = [
    Buffer.from('x'),
    Buffer.alloc(0),
    Buffer.alloc(125, 1),
    Buffer.alloc(126, 2),
    Buffer.alloc(781, 3),
    Buffer.alloc(65535, 4),
    Buffer.alloc(70_000, 5),
    Buffer.from('tail'),
  ]
  const bytes = Buffer.concat([UPGRADE, ...payloads.map((p) => serverFrame(p))])
  const expected = payloads.map((p) => [0x2, p])
  for (const size of [1, 2, 3, 7, 10, 11, 100, 1000, bytes.length]) {
    const r = feed(bytes, () => size)
    assert.ok(r.ok)
    assert.deepEqual(r.frames, expected, `chunks of ${size}`)
  }
  let seed = 7
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 300
  for (let i = 0; i < 20; i++) assert.deepEqual(feed(bytes, () => 1 + rnd()).frames, expected)
  // Every split point of a short stream.
  const small = Buffer.concat([
    UPGRADE,
    serverFrame(Buffer.from('ab')),
    serverFrame(Buffer.alloc(300, 9)),
  ])
  for (let cut = 1; cut < small.length; cut++) {
    const r = feed(small, (i) => (i === 0 ? cut : small.length))
    assert.deepEqual(r.frames, [
      [0x2, Buffer.from('ab')],
      [0x2, Buffer.alloc(300, 9)],
    ])
  }
})

test('ServerStream: opcodes pass through; a refused upgrade returns false', () => {
  const r = feed(
    Buffer.concat([UPGRADE, serverFrame(Buffer.from('p'), 0x9), serverFrame(Buffer.alloc(0), 0x8)]),
    () => 3,
  )
  assert.deepEqual(r.frames, [
    [0x9, Buffer.from('p')],
    [0x8, Buffer.alloc(0)],
  ])
  assert.equal(feed(Buffer.from('HTTP/1.1 403 Forbidden\r\n\r\n'), () => 5).ok, false)
})

const LIST = 'ES34325d18a4dadea528b962c757282cc0'
/** A `list_item_added` as the gateway sends it (shape captured from the server). */
function itemAdded(id: string, index: number, text: string, author = 'fanout-user-0'): Buffer {
  return encodePacket(
    {
      method: 'notification',
      id,
      message_type: 'twilio.sync.event',
      payload_type: 'application/json',
    },
    JSON.stringify({
      event_type: 'list_item_added',
      event: {
        id: index + 1,
        date_created: '2026-11-27T21:06:46Z',
        list_sid: LIST,
        list_unique_name: `CH${LIST.slice(2)}.messages`,
        item_index: index,
        item_data: {
          sid: 'IMdd5fae8f0ad5cac521b318b99f398ad2',
          author,
          text,
          attributes: '{}',
          timestamp: '2026-11-27T21:06:46Z',
          dateUpdated: '2026-11-27T21:06:46Z',
          lastUpdatedBy: null,
          type: 'text',
          media: null,
        },
        item_revision: '1',
        item_url: `https://cds.us1.twilio.com/v3/Lists/${LIST}/Items/${index}`,
        list_revision: '1',
        date_expires: null,
      },
    }),
  )
}

test('scanPacket reads a list_item_added made by encodePacket, in place', () => {
  const id = 'TM4dd388ea-48c3-448d-8b98-e334094542a4'
  const pkt = itemAdded(id, 1234, 'fb:0000000042', 'an "odd" author, "text":"fb:9"')
  // Inside a larger buffer, as in a read chunk with other frames around it.
  const buf = Buffer.concat([Buffer.from('junk'), pkt, Buffer.from('more')])
  const s = newScan()
  assert.equal(scanPacket(buf, 4, 4 + pkt.length, s), SCAN_ITEM)
  assert.equal(buf.toString('latin1', s.idStart, s.idEnd), id)
  assert.equal(s.index, 1234)
  assert.equal(s.seq, 42)
  assert.ok(sidAt(buf, s.listSidAt, Buffer.from(LIST)))
  assert.ok(!sidAt(buf, s.listSidAt, Buffer.from(LIST.replace('c0', 'c1'))))
  // Unpadded bodies too (the JSON path's `Number()` reads both the same way).
  assert.equal(
    scanPacket(itemAdded(id, 0, 'fb:7'), 0, itemAdded(id, 0, 'fb:7').length, s),
    SCAN_ITEM,
  )
  assert.equal(s.seq, 7)
})

test('scanPacket leaves anything else to the JSON path', () => {
  const s = newScan()
  const other = (b: Buffer) => scanPacket(b, 0, b.length, s)
  const ok = itemAdded('TMx', 1, 'fb:1')
  assert.equal(other(ok), SCAN_ITEM)
  for (let cut = 1; cut < ok.length; cut++)
    assert.equal(other(ok.subarray(0, cut)), SCAN_OTHER, `truncated to ${cut}`)
  assert.equal(other(itemAdded('TMx', 1, 'hello')), SCAN_OTHER, 'not a bench message')
  assert.equal(
    other(
      encodePacket({ id: 'TMx', method: 'notification', message_type: 'twilio.sync.event' }, '{}'),
    ),
    SCAN_OTHER,
    'other header order',
  )
  assert.equal(
    other(
      encodePacket(
        { method: 'notification', id: 'TMx', message_type: 'twilio.sync.event' },
        JSON.stringify({ event_type: 'list_item_updated', event: { list_sid: LIST } }),
      ),
    ),
    SCAN_OTHER,
  )
  assert.equal(other(Buffer.from('TWILSOCK V3.0 x\r\n{}\r\n')), SCAN_OTHER)
  assert.equal(
    other(encodePacket({ method: 'reply', id: 'TMsetup1', status: { code: 200 } })),
    SCAN_OTHER,
    'a setup reply',
  )
})

test('scanPacket reads the reply to a send', () => {
  const s = newScan()
  const reply = (code: number | undefined) =>
    encodePacket(
      {
        method: 'reply',
        id: 'TMfb0000000042',
        payload_type: 'application/json',
        status: { code: 200, status: 'OK' },
        ...(code === undefined ? {} : { http_status: { code, status: 'x' } }),
        http_headers: { 'Content-Type': 'application/json' },
      },
      '{"sid":"IM1","body":"fb:0000000042"}',
    )
  for (const code of [201, 429]) {
    const b = reply(code)
    assert.equal(scanPacket(b, 0, b.length, s), SCAN_REPLY)
    assert.equal(s.seq, 42)
    assert.equal(s.code, code)
  }
  const none = reply(undefined)
  assert.equal(scanPacket(none, 0, none.length, s), SCAN_REPLY)
  assert.equal(s.code, -1)
})

test('writeAck writes the bytes of ackFrame, and the server decodes them', () => {
  for (const id of ['TM1', 'TM4dd388ea-48c3-448d-8b98-e334094542a4', `TM${'z'.repeat(200)}`]) {
    const src = Buffer.from(`..${id}..`)
    const dst = Buffer.alloc(600, 0xee)
    const end = writeAck(dst, 5, src, 2, 2 + id.length)
    assert.deepEqual(dst.subarray(5, end), ackFrame(id))
    const pkt = decodePacket(clientPayload(dst.subarray(5, end)))
    assert.equal(pkt.method, 'reply')
    assert.equal(pkt.id, id)
    assert.deepEqual(pkt.header['status'], { code: 200, status: 'OK' })
  }
})

test('SendTemplate writes requestFrame with the sequence number in id and body', () => {
  const path = '/Client/v1/Channels/CH34325d18a4dadea528b962c757282cc0/Messages'
  const build = (id: string, body: string) =>
    requestFrame(id, 'aim.us1.twilio.com', 'POST', path, { body, attributes: '{}' })
  const t = new SendTemplate(build)
  const dst = Buffer.alloc(t.frame.length + 10)
  for (const seq of [0, 7, 123_456_789, 9_999_999_999]) {
    const end = t.write(dst, 3, seq)
    const padded = String(seq).padStart(10, '0')
    assert.deepEqual(dst.subarray(3, end), build(`TMfb${padded}`, `fb:${padded}`))
    const pkt = decodePacket(clientPayload(dst.subarray(3, end)))
    assert.equal(pkt.id, `TMfb${padded}`)
    assert.deepEqual(JSON.parse(pkt.payload.toString()), { body: `fb:${padded}`, attributes: '{}' })
  }
})

test('OutArea: views already taken survive a move to a fresh area', () => {
  const out = new OutArea(16)
  out.reserve(10)
  out.pos += Buffer.from('0123456789').copy(out.buf, out.pos)
  const first = out.take()
  out.reserve(4)
  out.pos += Buffer.from('abcd').copy(out.buf, out.pos)
  out.reserve(8) // does not fit: 'abcd' moves along, `first` keeps its bytes
  out.pos += Buffer.from('efghijkl').copy(out.buf, out.pos)
  assert.equal(out.pending, 12)
  assert.equal(out.take().toString(), 'abcdefghijkl')
  assert.equal(first.toString(), '0123456789')
  assert.equal(out.pending, 0)
})
