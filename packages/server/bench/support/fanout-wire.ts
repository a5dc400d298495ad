/**
 * The fan-out bench load client's hot path, on bytes: reading the two packets it receives per delivery and per send
 * (`list_item_added` notifications, replies to its sends) without JSON parsing or string allocation, and writing its
 * two packets (sends, acks) from templates into a shared output area. Pure functions over Buffers, so they can be
 * tested against the server's own `encodePacket`.
 *
 * The readers rely on the gateway's header order (`method`, `id` first; see `twilsock/session.ts`), on the Sync
 * event's key order (`event_type`, `event`, then `list_sid` before `item_index` before `item_data.text`) and on the
 * bench's own ids and message bodies; anything else is {@link SCAN_OTHER} and takes the JSON path.
 *
 * @module
 */

/** {@link scanPacket}: not a packet the fast path knows (JSON path). */
export const SCAN_OTHER = 0
/** {@link scanPacket}: a `list_item_added` notification of a bench message (`fb:<seq>`). */
export const SCAN_ITEM = 1
/** {@link scanPacket}: the reply to a bench send (id {@link SEND_ID_PREFIX} + {@link SEQ_DIGITS} digits). */
export const SCAN_REPLY = 2

/** Width of the zero-padded sequence number in a send's packet id and message body. */
export const SEQ_DIGITS = 10
/** Packet id prefix of the bench's sends; setup requests must use other ids. */
export const SEND_ID_PREFIX = 'TMfb'
/** Message body prefix of the bench's sends. */
export const BODY_PREFIX = 'fb:'

/** What {@link scanPacket} read; one object reused for every packet. */
export interface Scan {
  /** {@link SCAN_ITEM}: the notification id (to ack) is `buf[idStart, idEnd)`. */
  idStart: number
  idEnd: number
  /** {@link SCAN_ITEM}: where the list SID (`ES` + 32 hex digits) starts. */
  listSidAt: number
  /** {@link SCAN_ITEM}: `item_index`. */
  index: number
  /** {@link SCAN_ITEM}, {@link SCAN_REPLY}: the bench's sequence number. */
  seq: number
  /** {@link SCAN_REPLY}: `http_status.code`, or -1 when absent. */
  code: number
}

export const newScan = (): Scan => ({
  idStart: 0,
  idEnd: 0,
  listSidAt: 0,
  index: 0,
  seq: 0,
  code: 0,
})

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1')
const MAGIC = bytes('TWILSOCK V3.0 ')
const NOTIFICATION = bytes('{"method":"notification","id":"')
const SYNC_EVENT = bytes('","message_type":"twilio.sync.event"')
const ITEM_ADDED = bytes('{"event_type":"list_item_added","event":{')
const LIST_SID = bytes('"list_sid":"')
const ITEM_INDEX = bytes('"item_index":')
const TEXT = bytes(`"text":"${BODY_PREFIX}`)
const REPLY = bytes(`{"method":"reply","id":"${SEND_ID_PREFIX}`)
const HTTP_STATUS = bytes('"http_status":{"code":')
/** From the list SID to `"item_index":` (the list's unique name is `CH<hex>.messages`): checked before searching. */
const SID_TO_INDEX = `ES${'0'.repeat(32)}","list_unique_name":"CH${'0'.repeat(32)}.messages",`
  .length
/** From the end of the item index to the author's name, which `"text":"` follows. */
const ITEM_DATA_SID = bytes(',"item_data":{"sid":"IM')
const INDEX_TO_AUTHOR = `,"item_data":{"sid":"IM${'0'.repeat(32)}","author":"`.length

/** Whether `needle` is at `b[at]` (within `end`). */
function startsAt(b: Buffer, at: number, end: number, needle: Buffer): boolean {
  const n = needle.length
  if (end - at < n) return false
  for (let i = 0; i < n; i++) if (b[at + i] !== needle[i]) return false
  return true
}

/**
 * First index ≥ `from` where `needle` (≥ 2 bytes) starts within `b[from, end)`, or -1. For short scans: cheaper
 * than a native `indexOf` call.
 */
function find(b: Buffer, needle: Buffer, from: number, end: number): number {
  const first = needle[0]!
  const second = needle[1]!
  const last = end - needle.length
  for (let i = from; i <= last; i++)
    if (b[i] === first && b[i + 1] === second && startsAt(b, i, end, needle)) return i
  return -1
}

/** The decimal number of exactly `width` digits (or, with `width` 0, of all digits) at `b[at]` before `end`, or -1. */
function digits(b: Buffer, at: number, end: number, width: number): number {
  let n = 0
  let i = at
  const stop = width === 0 ? end : Math.min(end, at + width)
  for (; i < stop; i++) {
    const d = b[i]! - 0x30
    if (d < 0 || d > 9) break
    n = n * 10 + d
  }
  return i === at || (width !== 0 && i !== at + width) ? -1 : n
}

/** Where the digits at `at` end. */
function digitsEnd(b: Buffer, at: number, end: number): number {
  let i = at
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39) i++
  return i
}

const PAYLOAD_SIZE = bytes('"payload_size":')

/** `payload_size`, when it is the header's last key (as `encodePacket` writes it), else -1 (0 when absent). */
function payloadSize(b: Buffer, h: number, hEnd: number): number {
  if (b[hEnd - 1] !== 0x7d) return -1
  let i = hEnd - 1
  while (i > h && b[i - 1]! >= 0x30 && b[i - 1]! <= 0x39) i--
  if (i === hEnd - 1) return 0
  return startsAt(b, i - PAYLOAD_SIZE.length, i, PAYLOAD_SIZE) ? digits(b, i, hEnd - 1, 0) : -1
}

/**
 * Reads the Twilsock packet `b[start, end)` (one WebSocket frame's payload) into `out`; returns {@link SCAN_ITEM},
 * {@link SCAN_REPLY} or {@link SCAN_OTHER}. Allocates nothing.
 */
export function scanPacket(b: Buffer, start: number, end: number, out: Scan): number {
  if (!startsAt(b, start, end, MAGIC)) return SCAN_OTHER
  const lenAt = start + MAGIC.length
  const lenEnd = digitsEnd(b, lenAt, end)
  const headerLen = digits(b, lenAt, lenEnd, 0)
  const h = lenEnd + 2
  const hEnd = h + headerLen
  if (headerLen < 0 || b[lenEnd] !== 0x0d || b[lenEnd + 1] !== 0x0a || hEnd + 2 > end)
    return SCAN_OTHER
  if (b[hEnd] !== 0x0d || b[hEnd + 1] !== 0x0a || payloadSize(b, h, hEnd) !== end - hEnd - 2)
    return SCAN_OTHER
  if (startsAt(b, h, hEnd, NOTIFICATION)) {
    const idStart = h + NOTIFICATION.length
    let idEnd = idStart
    while (idEnd < hEnd && b[idEnd] !== 0x22) idEnd++
    if (idEnd === idStart || !startsAt(b, idEnd, hEnd, SYNC_EVENT)) return SCAN_OTHER
    const p = hEnd + 2
    if (!startsAt(b, p, end, ITEM_ADDED)) return SCAN_OTHER
    const sidKey = find(b, LIST_SID, p + ITEM_ADDED.length, end)
    if (sidKey < 0) return SCAN_OTHER
    const sid = sidKey + LIST_SID.length
    if (b[sid + 34] !== 0x22) return SCAN_OTHER
    const indexKey = startsAt(b, sid + SID_TO_INDEX, end, ITEM_INDEX)
      ? sid + SID_TO_INDEX
      : find(b, ITEM_INDEX, sid + 34, end)
    if (indexKey < 0) return SCAN_OTHER
    const indexAt = indexKey + ITEM_INDEX.length
    const indexEnd = digitsEnd(b, indexAt, end)
    const index = digits(b, indexAt, indexEnd, 0)
    if (index < 0) return SCAN_OTHER
    const textKey =
      startsAt(b, indexEnd, end, ITEM_DATA_SID) && indexEnd + INDEX_TO_AUTHOR < end
        ? find(b, TEXT, indexEnd + INDEX_TO_AUTHOR, end)
        : find(b, TEXT, indexEnd, end)
    if (textKey < 0) return SCAN_OTHER
    const seqAt = textKey + TEXT.length
    const seq = digits(b, seqAt, end, 0)
    if (seq < 0 || b[digitsEnd(b, seqAt, end)] !== 0x22) return SCAN_OTHER
    out.idStart = idStart
    out.idEnd = idEnd
    out.listSidAt = sid
    out.index = index
    out.seq = seq
    return SCAN_ITEM
  }
  if (startsAt(b, h, hEnd, REPLY)) {
    const seqAt = h + REPLY.length
    const seq = digits(b, seqAt, hEnd, SEQ_DIGITS)
    if (seq < 0 || b[seqAt + SEQ_DIGITS] !== 0x22) return SCAN_OTHER
    const codeKey = find(b, HTTP_STATUS, seqAt + SEQ_DIGITS, hEnd)
    out.seq = seq
    out.code = codeKey < 0 ? -1 : digits(b, codeKey + HTTP_STATUS.length, hEnd, 0)
    return SCAN_REPLY
  }
  return SCAN_OTHER
}

/** Whether the list SID at `b[at]` is `sid` (`ES` + 32 hex digits, as bytes). */
export function sidAt(b: Buffer, at: number, sid: Buffer): boolean {
  return startsAt(b, at, at + sid.length, sid)
}

/** Writes `n` as exactly `width` decimal digits (zero-padded) at `b[at]`. */
export function writeDigits(b: Buffer, at: number, n: number, width: number): void {
  for (let i = at + width - 1; i >= at; i--) {
    b[i] = 0x30 + (n % 10)
    n = Math.floor(n / 10)
  }
}

const ACK_HEAD = bytes('{"method":"reply","id":"')
const ACK_TAIL = bytes('","status":{"code":200,"status":"OK"},"payload_size":0}')
const CRLF_LEN = 2

/** Upper bound of {@link writeAck}'s output for an id of `idLen` bytes. */
export const ackSize = (idLen: number): number =>
  8 + MAGIC.length + 7 + 2 * CRLF_LEN + ACK_HEAD.length + idLen + ACK_TAIL.length

/**
 * Writes at `dst[at]` the client frame (zero mask) acking the packet whose id is `src[idStart, idEnd)` — the bytes of
 * `ackFrame(id)` — and returns where it ends. `dst` needs {@link ackSize} bytes of room.
 */
export function writeAck(
  dst: Buffer,
  at: number,
  src: Buffer,
  idStart: number,
  idEnd: number,
): number {
  const headerLen = ACK_HEAD.length + (idEnd - idStart) + ACK_TAIL.length
  const lenDigits = headerLen < 10 ? 1 : headerLen < 100 ? 2 : headerLen < 1000 ? 3 : 4
  const len = MAGIC.length + lenDigits + CRLF_LEN + headerLen + CRLF_LEN
  let i = at
  dst[i++] = 0x82
  if (len < 126) dst[i++] = 0x80 | len
  else {
    dst[i++] = 0x80 | 126
    dst[i++] = len >> 8
    dst[i++] = len & 0xff
  }
  // The mask key (zero), then the packet. Whole-array `set`s and a byte loop: `Buffer#copy` of a range makes a view.
  dst[i++] = 0
  dst[i++] = 0
  dst[i++] = 0
  dst[i++] = 0
  dst.set(MAGIC, i)
  i += MAGIC.length
  writeDigits(dst, i, headerLen, lenDigits)
  i += lenDigits
  dst[i++] = 0x0d
  dst[i++] = 0x0a
  dst.set(ACK_HEAD, i)
  i += ACK_HEAD.length
  for (let j = idStart; j < idEnd; j++) dst[i++] = src[j]!
  dst.set(ACK_TAIL, i)
  i += ACK_TAIL.length
  dst[i++] = 0x0d
  dst[i++] = 0x0a
  return i
}

/**
 * A send's client frame as a template: the bytes of one `requestFrame` whose id and body carry the sequence number
 * zero-padded to {@link SEQ_DIGITS} digits, so every send has the same length and differs only in those two places.
 */
export class SendTemplate {
  readonly frame: Buffer
  readonly #idAt: number
  readonly #bodyAt: number

  /** `build(id, body)` must return the client frame of the send (e.g. `requestFrame(…, { body, … })`). */
  constructor(build: (id: string, body: string) => Buffer) {
    const zeros = '0'.repeat(SEQ_DIGITS)
    this.frame = build(`${SEND_ID_PREFIX}${zeros}`, `${BODY_PREFIX}${zeros}`)
    this.#idAt = this.frame.indexOf(`"${SEND_ID_PREFIX}${zeros}"`) + 1 + SEND_ID_PREFIX.length
    this.#bodyAt = this.frame.indexOf(`"${BODY_PREFIX}${zeros}"`) + 1 + BODY_PREFIX.length
    if (this.#idAt <= SEND_ID_PREFIX.length || this.#bodyAt <= BODY_PREFIX.length)
      throw new Error('SendTemplate: the frame does not carry the id and the body verbatim')
  }

  /** Writes the frame of send `seq` at `dst[at]`; returns where it ends. */
  write(dst: Buffer, at: number, seq: number): number {
    dst.set(this.frame, at)
    writeDigits(dst, at + this.#idAt, seq, SEQ_DIGITS)
    writeDigits(dst, at + this.#bodyAt, seq, SEQ_DIGITS)
    return at + this.frame.length
  }
}

/**
 * An append-only output area for socket writes: bytes are written at the end, {@link OutArea.take} hands out what
 * was written since the last take as a view, and the area is never rewritten (a full one is replaced), so a view
 * stays valid while the socket still holds it. One allocation per write (the view), as `Buffer.allocUnsafe` would do.
 */
export class OutArea {
  buf: Buffer
  pos = 0
  #start = 0
  readonly #size: number

  constructor(size = 1 << 20) {
    this.#size = size
    this.buf = Buffer.allocUnsafe(size)
  }

  /** Makes room for `n` more bytes after what is pending (moving the pending bytes into a fresh area if needed). */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const pending = this.pos - this.#start
    const next = Buffer.allocUnsafe(Math.max(this.#size, pending + n))
    this.buf.copy(next, 0, this.#start, this.pos)
    this.buf = next
    this.#start = 0
    this.pos = pending
  }

  /** Bytes written since the last take. */
  get pending(): number {
    return this.pos - this.#start
  }

  /** A view of the bytes written since the last take. */
  take(): Buffer {
    const v = this.buf.subarray(this.#start, this.pos)
    this.#start = this.pos
    return v
  }
}
