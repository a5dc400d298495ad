/**
 * Twilsock V3.0 packet framing (twilio-client-protocol.md §3), byte-compatible with twilsock 0.12/1.0
 * `Parser.createPacket` / `Parser.parse`:
 *
 * ```
 * "TWILSOCK V3.0 <byteLen(headerJson)>\r\n" + headerJson + "\r\n" + payload
 * ```
 *
 * Decoding is strict: the magic, a decimal header length, a UTF-8 JSON object header, the CRLF separator and a
 * payload of exactly `payload_size` bytes. Anything else is a {@link FramingError}; nothing here throws any other
 * error on hostile input.
 *
 * @module
 */

import type { EncodedNotification } from '../upstream.ts'

const MAGIC = 'TWILSOCK V3.0 '
const MAGIC_BYTES = Buffer.from(MAGIC, 'latin1')
const CR = 0x0d
const LF = 0x0a
/** At most 7 digits for the header length: more than any frame `maxPayload` admits. */
const MAX_LEN_DIGITS = 7
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A packet header: the JSON object between the magic line and the payload. */
export type PacketHeader = Record<string, unknown>

/** A decoded packet. */
export interface Packet {
  readonly header: PacketHeader
  /** `header.method` when it is a string, else `undefined`. */
  readonly method: string | undefined
  /** `header.id` when it is a non-empty string, else `undefined`. */
  readonly id: string | undefined
  /** The raw payload bytes (`payload_size` of them). */
  readonly payload: Buffer
}

/** Why a frame could not be decoded. */
export type FramingErrorReason =
  | 'magic'
  | 'header_length'
  | 'header_json'
  | 'separator'
  | 'payload_size'
  | 'truncated'
  | 'trailing_bytes'

/** A frame that is not a well-formed Twilsock V3.0 packet. */
export class FramingError extends Error {
  override name = 'FramingError'
  readonly reason: FramingErrorReason
  /** The header, when it was parsed before the error (so a reply can still name the packet id). */
  readonly header: PacketHeader | undefined
  constructor(reason: FramingErrorReason, message: string, header?: PacketHeader) {
    super(message)
    this.reason = reason
    this.header = header
  }
}

/**
 * Decodes one binary WebSocket message.
 *
 * @throws {FramingError} when the bytes are not exactly one well-formed packet.
 */
export function decodePacket(frame: Buffer): Packet {
  if (
    frame.length < MAGIC_BYTES.length + 3 ||
    !frame.subarray(0, MAGIC_BYTES.length).equals(MAGIC_BYTES)
  ) {
    throw new FramingError('magic', 'not a TWILSOCK V3.0 packet')
  }
  let i = MAGIC_BYTES.length
  let headerLen = 0
  const digitsStart = i
  while (i < frame.length && frame[i]! >= 0x30 && frame[i]! <= 0x39) {
    headerLen = headerLen * 10 + (frame[i]! - 0x30)
    i++
    if (i - digitsStart > MAX_LEN_DIGITS)
      throw new FramingError('header_length', 'header length too long')
  }
  if (i === digitsStart) throw new FramingError('header_length', 'missing header length')
  if (frame[i] !== CR || frame[i + 1] !== LF)
    throw new FramingError('header_length', 'bad magic line')
  const headerStart = i + 2
  const headerEnd = headerStart + headerLen
  if (headerLen === 0 || headerEnd > frame.length) {
    throw new FramingError('truncated', 'header shorter than its declared length')
  }
  let header: unknown
  try {
    header = JSON.parse(utf8.decode(frame.subarray(headerStart, headerEnd)))
  } catch {
    throw new FramingError('header_json', 'header is not UTF-8 JSON')
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new FramingError('header_json', 'header is not a JSON object')
  }
  const h = header as PacketHeader
  const size = h['payload_size'] ?? 0
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new FramingError('payload_size', 'payload_size is not a non-negative integer', h)
  }
  let payload: Buffer
  if (headerEnd === frame.length) {
    // No separator at all: tolerated only for an empty payload.
    if (size !== 0) throw new FramingError('truncated', 'payload missing', h)
    payload = Buffer.alloc(0)
  } else {
    if (frame[headerEnd] !== CR || frame[headerEnd + 1] !== LF) {
      throw new FramingError('separator', 'missing CRLF after the header', h)
    }
    const start = headerEnd + 2
    const rest = frame.length - start
    if (rest < size) throw new FramingError('truncated', 'payload shorter than payload_size', h)
    if (rest > size) throw new FramingError('trailing_bytes', 'bytes after the payload', h)
    payload = frame.subarray(start)
  }
  const method = typeof h['method'] === 'string' ? h['method'] : undefined
  const id = typeof h['id'] === 'string' && h['id'].length > 0 ? h['id'] : undefined
  return { header: h, method, id, payload }
}

/**
 * Encodes one packet. `payload_size` is set from the payload; an object payload is serialised as JSON.
 *
 * @example
 * ```ts
 * ws.send(encodePacket({ method: 'reply', id, status: { code: 200, status: 'OK' } }))
 * ```
 */
export function encodePacket(header: PacketHeader, payload?: string | Buffer): Buffer {
  const body =
    payload === undefined
      ? EMPTY
      : typeof payload === 'string'
        ? Buffer.from(payload, 'utf8')
        : payload
  const headerJson = Buffer.from(JSON.stringify({ ...header, payload_size: body.length }), 'utf8')
  const magic = Buffer.from(`${MAGIC}${headerJson.length}\r\n`, 'latin1')
  return Buffer.concat(
    [magic, headerJson, CRLF, body],
    magic.length + headerJson.length + 2 + body.length,
  )
}

const EMPTY = Buffer.alloc(0)
const CRLF = Buffer.from('\r\n', 'latin1')

/** The header of a notification up to its id, as `encodePacket` orders the fields. */
const NOTIFICATION_HEAD = '{"method":"notification","id":'
/** Per encoded payload: the header after the id (`,"message_type":…,"payload_size":N}`), as UTF-8. */
const notificationTails = new WeakMap<EncodedNotification, Buffer>()
/** Ids that need no JSON escaping (all of the server's own). */
const PLAIN_ID = /^[A-Za-z0-9_.-]*$/

/**
 * Encodes a `notification` packet around a payload serialised once for many sockets. The bytes equal
 * `encodePacket({ method: 'notification', id, message_type, payload_type: 'application/json' }, json)`; only the
 * magic line and the id are built per call.
 */
export function encodeNotification(id: string, n: EncodedNotification): Buffer {
  let tail = notificationTails.get(n)
  if (tail === undefined) {
    tail = Buffer.from(
      `,"message_type":${JSON.stringify(n.messageType)},"payload_type":"application/json","payload_size":${n.json.length}}`,
      'utf8',
    )
    notificationTails.set(n, tail)
  }
  const idJson = PLAIN_ID.test(id) ? `"${id}"` : JSON.stringify(id)
  const headerLen = NOTIFICATION_HEAD.length + Buffer.byteLength(idJson, 'utf8') + tail.length
  const head = `${MAGIC}${headerLen}\r\n${NOTIFICATION_HEAD}${idJson}`
  const headBytes = Buffer.byteLength(head, 'utf8')
  const buf = Buffer.allocUnsafe(headBytes + tail.length + 2 + n.json.length)
  let off = buf.write(head, 0, 'utf8')
  off += tail.copy(buf, off)
  buf[off++] = CR
  buf[off++] = LF
  n.json.copy(buf, off)
  return buf
}

/**
 * The canonical client ack of a server packet: `reply` 200 with no payload, in the field orders twilsock's `Reply`
 * (`id, method, payload_type, status`) and a plain `{method, id, status}` produce, with or without
 * `payload_size` 0. Only an exact match is taken (ids of letters, digits, `_` and `-`), so the header is certainly
 * valid JSON and {@link decodePacket} would return the same packet. As a regular expression (the tests check
 * {@link ackId} against it):
 *
 * ```text
 * ^TWILSOCK V3\.0 ([1-9]\d{0,6})\r\n(\{"(?:id":"([\w-]{1,128})","method":"reply"|method":"reply","id":"([\w-]{1,128})")
 * (?:,"payload_type":"application\/json")?,"status":\{"code":200,"status":"OK"\}(?:,"payload_size":0)?\})(?:\r\n)?$
 * ```
 * where the header's length (group 2) must equal the number in group 1. {@link ackId} reads it byte by byte.
 */
const ACK_MAGIC = Buffer.from('TWILSOCK V3.0 ', 'latin1')
const ACK_ID_FIRST = Buffer.from('{"id":"', 'latin1')
const ACK_METHOD_AFTER_ID = Buffer.from('","method":"reply"', 'latin1')
const ACK_METHOD_FIRST = Buffer.from('{"method":"reply","id":"', 'latin1')
const ACK_QUOTE = Buffer.from('"', 'latin1')
const ACK_PAYLOAD_TYPE = Buffer.from(',"payload_type":"application/json"', 'latin1')
const ACK_STATUS = Buffer.from(',"status":{"code":200,"status":"OK"}', 'latin1')
const ACK_PAYLOAD_SIZE = Buffer.from(',"payload_size":0', 'latin1')
/** Longest frame {@link ackId} looks at: longer ones cannot be a canonical ack. */
const MAX_ACK_FRAME = 400

/** Whether `frame` holds `lit` at `at`. */
function has(frame: Buffer, at: number, lit: Buffer): boolean {
  if (at + lit.length > frame.length) return false
  for (let i = 0; i < lit.length; i++) if (frame[at + i] !== lit[i]) return false
  return true
}

/** End of the id (`[\w-]{1,128}`) that starts at `at`, or -1. */
function idEnd(frame: Buffer, at: number): number {
  let i = at
  while (i < frame.length && i - at < 129) {
    const c = frame[i]!
    const word =
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45
    if (!word) break
    i++
  }
  return i - at >= 1 && i - at <= 128 ? i : -1
}

/**
 * The packet id when `frame` is exactly a canonical client ack (see {@link ACK_MAGIC}'s comment), else `undefined`
 * (decode it with {@link decodePacket}). Cheap: no JSON parsing, no header object, no copy of the frame; the
 * most frequent packet by far.
 */
export function ackId(frame: Buffer): string | undefined {
  if (frame.length > MAX_ACK_FRAME || !has(frame, 0, ACK_MAGIC)) return undefined
  let at = ACK_MAGIC.length
  // The header length: 1–7 digits, no leading zero.
  let declared = 0
  const digits = at
  while (at < frame.length && frame[at]! >= 48 && frame[at]! <= 57 && at - digits < 8) {
    declared = declared * 10 + frame[at]! - 48
    at++
  }
  if (at === digits || at - digits > 7 || frame[digits] === 48) return undefined
  if (frame[at] !== CR || frame[at + 1] !== LF) return undefined
  at += 2
  const header = at
  let idStart: number
  let idStop: number
  if (has(frame, at, ACK_ID_FIRST)) {
    idStart = at + ACK_ID_FIRST.length
    idStop = idEnd(frame, idStart)
    if (idStop < 0 || !has(frame, idStop, ACK_METHOD_AFTER_ID)) return undefined
    at = idStop + ACK_METHOD_AFTER_ID.length
  } else if (has(frame, at, ACK_METHOD_FIRST)) {
    idStart = at + ACK_METHOD_FIRST.length
    idStop = idEnd(frame, idStart)
    if (idStop < 0 || !has(frame, idStop, ACK_QUOTE)) return undefined
    at = idStop + 1
  } else return undefined
  if (has(frame, at, ACK_PAYLOAD_TYPE)) at += ACK_PAYLOAD_TYPE.length
  if (!has(frame, at, ACK_STATUS)) return undefined
  at += ACK_STATUS.length
  if (has(frame, at, ACK_PAYLOAD_SIZE)) at += ACK_PAYLOAD_SIZE.length
  if (frame[at] !== 0x7d /* } */) return undefined
  at++
  if (at - header !== declared) return undefined
  if (at === frame.length - 2 && frame[at] === CR && frame[at + 1] === LF) at += 2
  if (at !== frame.length) return undefined
  return frame.toString('latin1', idStart, idStop)
}

/**
 * Decodes a payload as strict UTF-8 text.
 *
 * @returns `undefined` when the bytes are not valid UTF-8.
 */
export function payloadText(payload: Buffer): string | undefined {
  if (payload.length === 0) return ''
  try {
    return utf8.decode(payload)
  } catch {
    return undefined
  }
}
