import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import {
  decodePacket,
  encodePacket,
  FramingError,
} from '../../src/compat/twilio/twilsock/framing.ts'

const require = createRequire(import.meta.url)
// The parser of the twilsock version twilio-chat 6.0.0 uses (0.12.2) and of @twilio/conversations' (1.0.2).
const parsers = [
  require('twilio-chat/node_modules/twilsock/dist/parser.js').Parser,
  require('twilsock/dist/parser.js').Parser,
] as {
  createPacket(h: object, p?: string): ArrayBuffer
  parse(
    m: ArrayBuffer,
  ): { method: string; header: Record<string, unknown>; payload: unknown } | null
}[]

test('encodePacket produces the same bytes as twilsock Parser.createPacket', () => {
  for (const Parser of parsers) {
    for (const [header, payload] of [
      [{ method: 'reply', id: 'TM1', status: { code: 200, status: 'OK' } }, ''],
      [
        {
          method: 'notification',
          id: 'TM2',
          message_type: 'twilio.sync.event',
          payload_type: 'application/json',
        },
        '{"a":"é€😀"}',
      ],
      [{ method: 'reply', id: 'TM3', http_status: { code: 404, status: 'Not Found' } }, '{"x":1}'],
    ] as const) {
      const theirs = Buffer.from(Parser.createPacket({ ...header }, payload))
      const ours = encodePacket({ ...header }, payload)
      assert.deepEqual(ours, theirs)
    }
  }
})

test('decodePacket reads what twilsock writes, and twilsock reads what encodePacket writes', () => {
  fc.assert(
    fc.property(
      fc.string(),
      fc.string({ maxLength: 200 }),
      fc.option(fc.jsonValue(), { nil: undefined }),
      (id, text, value) => {
        const payload = value === undefined ? '' : JSON.stringify(value)
        for (const Parser of parsers) {
          const bytes = Buffer.from(
            Parser.createPacket({ method: 'message', id, note: text }, payload),
          )
          const p = decodePacket(bytes)
          assert.equal(p.method, 'message')
          assert.equal(p.header['note'], text)
          assert.equal(p.payload.toString('utf8'), payload)
          const back = Parser.parse(
            new Uint8Array(
              encodePacket(
                { method: 'notification', id, note: text, payload_type: 'application/json' },
                payload,
              ),
            ).buffer,
          )
          assert.ok(back)
          assert.equal(back.header['note'], text)
          if (payload !== '') assert.deepEqual(back.payload, JSON.parse(payload))
        }
      },
    ),
    { numRuns: 200 },
  )
})

const raw = (header: string, rest: string) =>
  Buffer.from(`TWILSOCK V3.0 ${Buffer.byteLength(header)}\r\n${header}${rest}`)

test('decodePacket rejects malformed frames with a FramingError reason', () => {
  const good = encodePacket({ method: 'init', id: 'TM1' }, '{"a":1}')
  const cases: [Buffer, string][] = [
    [Buffer.from('HELLO'), 'magic'],
    [Buffer.from('TWILSOCK V2.0 2\r\n{}\r\n'), 'magic'],
    [Buffer.from('TWILSOCK V3.0 \r\n{}\r\n'), 'header_length'],
    [Buffer.from('TWILSOCK V3.0 12345678\r\n{}'), 'header_length'],
    [Buffer.from('TWILSOCK V3.0 2x\r\n{}'), 'header_length'],
    [Buffer.from('TWILSOCK V3.0 50\r\n{}\r\n'), 'truncated'],
    [Buffer.from('TWILSOCK V3.0 3\r\n{x}\r\n'), 'header_json'],
    [Buffer.from('TWILSOCK V3.0 2\r\n[]\r\n'), 'header_json'],
    [
      Buffer.concat([
        Buffer.from('TWILSOCK V3.0 4\r\n"'),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from('"\r\n'),
      ]),
      'header_json',
    ],
    [raw('{"payload_size":-1}', '\r\n'), 'payload_size'],
    [raw('{"payload_size":"1"}', '\r\n'), 'payload_size'],
    [raw('{"payload_size":1.5}', '\r\n'), 'payload_size'],
    [raw('{"payload_size":5}', '\r\nab'), 'truncated'],
    [raw('{"payload_size":1}', 'XXab'), 'separator'],
    [raw('{"payload_size":1}', ''), 'truncated'],
    [Buffer.concat([good, Buffer.from('junk')]), 'trailing_bytes'],
  ]
  for (const [frame, reason] of cases) {
    assert.throws(
      () => decodePacket(frame),
      (e: unknown) => e instanceof FramingError && e.reason === reason,
      `${reason}: ${frame.toString('latin1')}`,
    )
  }
  assert.equal(decodePacket(good).method, 'init')
})

test('decodePacket never throws anything but FramingError on random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, prefixed) => {
      const frame = prefixed
        ? Buffer.concat([Buffer.from('TWILSOCK V3.0 '), bytes])
        : Buffer.from(bytes)
      try {
        decodePacket(frame)
      } catch (e) {
        assert.ok(e instanceof FramingError)
      }
    }),
    { numRuns: 2000 },
  )
})
