/**
 * Pieces of a lean raw-protocol Twilsock load client, shared by the benches: WebSocket framing by hand on a raw TCP
 * socket (client frames masked with a zero key, RFC 6455 §5.3 allows any key), the upgrade request, an incremental
 * reader of the server's (unmasked) frames, and the Twilsock packets a load client sends (`init`, tunnelled
 * `message`, `reply` acks).
 *
 * @module
 */
import { AccessToken, ChatGrant } from '@parley/token'
import { encodePacket } from '../../src/compat/twilio/twilsock/framing.ts'
import type { BootstrapResult } from '../../src/core/types.ts'

/** What a load client needs to mint tokens. Never logged. */
export interface BenchKeys {
  accountSid: string
  keySid: string
  secret: string
  serviceSid: string
}

/** A masked (zero mask) client frame; binary unless `opcode` says otherwise. */
export function clientFrame(payload: Buffer, opcode = 0x2): Buffer {
  const len = payload.length
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10
  const f = Buffer.alloc(head + 4 + len)
  f[0] = 0x80 | opcode
  if (len < 126) f[1] = 0x80 | len
  else if (len < 65536) {
    f[1] = 0x80 | 126
    f.writeUInt16BE(len, 2)
  } else {
    f[1] = 0x80 | 127
    f.writeBigUInt64BE(BigInt(len), 2)
  }
  payload.copy(f, head + 4)
  return f
}

/** The keys a load client mints tokens with, from a bootstrapped server's credentials. */
export function benchKeys(b: BootstrapResult, serviceSid = b.service.sid): BenchKeys {
  return { accountSid: b.account.sid, keySid: b.apiKey.sid, secret: b.apiKey.secret, serviceSid }
}

/** The HTTP upgrade request for `/v3/wsconnect` (a fixed key: the load client does not check the accept hash). */
export function upgradeRequest(port: number, version = 13): Buffer {
  return Buffer.from(
    `GET /v3/wsconnect HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n\r\n`,
  )
}

/** A chat token for `identity`, as the SDK's app server would mint it. */
export function mintToken(keys: BenchKeys, identity: string, ttl = 3600): string {
  const t = new AccessToken(keys.accountSid, keys.keySid, keys.secret, { identity, ttl })
  t.addGrant(new ChatGrant({ serviceSid: keys.serviceSid }))
  return t.toJwt()
}

/** The header fields of the `init` packet twilio-chat 6 (twilsock 0.12) sends first, besides `id` and `token`. */
export const CHAT6_INIT_FIELDS = {
  continuation_token: null,
  metadata: { ver: '0.12.2', env: 'Node.js', type: 'chat', sdk: 'JS', sdkv: '6.0.0' },
  registrations: [
    {
      product: 'ip_messaging',
      type: 'ers',
      notification_protocol_version: 0,
      message_types: ['twilio.sync.event'],
    },
  ],
  tweaks: null,
  capabilities: ['client_update', 'offline_storage', 'telemetry.v1'],
} as const

/** The `init` packet twilio-chat 6 sends first, as a client frame. */
export function initFrame(id: string, token: string): Buffer {
  return clientFrame(encodePacket({ method: 'init', id, token, ...CHAT6_INIT_FIELDS }))
}

/** A tunnelled HTTP request (`message` packet) with a JSON body, as a client frame. */
export function requestFrame(
  id: string,
  host: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Buffer {
  return clientFrame(
    encodePacket(
      {
        method: 'message',
        id,
        active_grant: 'ip_messaging',
        payload_type: 'application/json; charset=utf-8',
        http_request: { host, path, method, params: {}, headers: {} },
      },
      body === undefined ? undefined : JSON.stringify(body),
    ),
  )
}

/** The ack of a server-originated packet (twilsock acks every notification). Built by hand: it is per event. */
export function ackFrame(id: string): Buffer {
  const header = `{"method":"reply","id":"${id}","status":{"code":200,"status":"OK"},"payload_size":0}`
  return clientFrame(Buffer.from(`TWILSOCK V3.0 ${header.length}\r\n${header}\r\n`, 'latin1'))
}

/**
 * Splits a Twilsock packet (`TWILSOCK V3.0 <len>\r\n<header>\r\n<payload>`) into its header and payload text.
 * Returns `undefined` on anything malformed.
 */
export function splitPacket(
  frame: Buffer,
): { header: Record<string, unknown>; payload: string } | undefined {
  const nl = frame.indexOf(0x0a)
  if (nl < 0 || frame.toString('latin1', 0, 14) !== 'TWILSOCK V3.0 ') return undefined
  const len = Number(frame.toString('latin1', 14, nl - 1))
  if (!Number.isInteger(len)) return undefined
  try {
    const header = JSON.parse(frame.toString('utf8', nl + 1, nl + 1 + len)) as Record<
      string,
      unknown
    >
    return { header, payload: frame.toString('utf8', nl + 1 + len + 2) }
  } catch {
    return undefined
  }
}

/** Handler of one complete server frame: its payload is `buf[start, end)`, valid only during the call. */
export type FrameHandler = (opcode: number, buf: Buffer, start: number, end: number) => void

/** Longest WebSocket frame header of a server frame (unmasked): 2 bytes + a 64-bit length. */
const MAX_HEAD = 10

/**
 * Total size (header + payload) of the server frame starting at `b[at]`, or -1 when its header is not complete in
 * `b[at, end)`. Server frames are unmasked; a 64-bit length above 2^53 is not expected from the gateway.
 */
export function frameSize(b: Buffer, at: number, end: number): number {
  const avail = end - at
  if (avail < 2) return -1
  const len = b[at + 1]! & 0x7f
  if (len < 126) return 2 + len
  if (len === 126) return avail < 4 ? -1 : 4 + ((b[at + 2]! << 8) | b[at + 3]!)
  return avail < 10 ? -1 : 10 + b.readUInt32BE(at + 2) * 0x1_0000_0000 + b.readUInt32BE(at + 6)
}

/** Size of the header of a server frame whose second byte is `b1`. */
const headSize = (b1: number): number => ((b1 & 0x7f) < 126 ? 2 : (b1 & 0x7f) === 126 ? 4 : 10)

/**
 * Incremental reader of what the server sends on one socket: the HTTP upgrade response, then WebSocket frames
 * (server frames are unmasked; no fragmentation is expected from the gateway).
 *
 * Built for a load client that reads with `net.connect({ onread })` into one buffer shared by all its sockets: frames
 * complete in a chunk are handed over in place (no copy, no allocation), and only the bytes of a frame cut by the
 * end of a chunk are copied, into a tail buffer kept per stream, so a chunk's buffer may be reused once
 * {@link ServerStream.push} returns.
 */
export class ServerStream {
  #tail: Buffer = Buffer.alloc(0)
  #tailLen = 0
  #upgraded = false
  readonly #onFrame: FrameHandler

  constructor(onFrame: FrameHandler) {
    this.#onFrame = onFrame
  }

  /** Bytes held back (a partial frame, or an incomplete upgrade response). */
  get buffered(): number {
    return this.#tailLen
  }

  /**
   * Feeds `chunk[start, end)`. Each complete frame goes to the handler, in order. Returns `false` when the upgrade
   * was refused (not `101`), `true` otherwise.
   */
  push(chunk: Buffer, start = 0, end = chunk.length): boolean {
    if (!this.#upgraded) return this.#pushUpgrade(chunk, start, end)
    let i = start
    if (this.#tailLen > 0) {
      i = this.#completeTail(chunk, start, end)
      if (i < 0) return true
    }
    for (;;) {
      const size = frameSize(chunk, i, end)
      if (size < 0 || end - i < size) break
      this.#onFrame(chunk[i]! & 0x0f, chunk, i + headSize(chunk[i + 1]!), i + size)
      i += size
    }
    if (i < end) this.#append(chunk, i, end)
    return true
  }

  #pushUpgrade(chunk: Buffer, start: number, end: number): boolean {
    this.#append(chunk, start, end)
    const t = this.#tail.subarray(0, this.#tailLen)
    const at = t.indexOf('\r\n\r\n')
    if (at === -1) return true
    if (!t.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) return false
    this.#upgraded = true
    this.#tailLen = 0
    // Once per connection: the frames right behind the response, copied out of the tail they are about to reuse.
    const rest = Buffer.from(t.subarray(at + 4))
    return rest.length === 0 || this.push(rest)
  }

  /** Completes the held-back frame from `chunk[start, end)`; returns where the chunk's next frame starts, or -1. */
  #completeTail(chunk: Buffer, start: number, end: number): number {
    let i = start
    let size = frameSize(this.#tail, 0, this.#tailLen)
    if (size < 0) {
      const k = Math.min(end - i, MAX_HEAD - this.#tailLen)
      this.#append(chunk, i, i + k)
      i += k
      size = frameSize(this.#tail, 0, this.#tailLen)
      if (size < 0) return -1
      // The header is known now; bytes copied past the end of a short frame are still in the chunk.
      if (this.#tailLen > size) {
        i -= this.#tailLen - size
        this.#tailLen = size
      }
    }
    const missing = size - this.#tailLen
    if (end - i < missing) {
      this.#append(chunk, i, end)
      return -1
    }
    this.#append(chunk, i, i + missing)
    i += missing
    this.#tailLen = 0
    const t = this.#tail
    this.#onFrame(t[0]! & 0x0f, t, headSize(t[1]!), size)
    return i
  }

  #append(chunk: Buffer, start: number, end: number): void {
    const n = end - start
    if (this.#tailLen + n > this.#tail.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#tail.length * 2, this.#tailLen + n, 1024))
      this.#tail.copy(grown, 0, 0, this.#tailLen)
      this.#tail = grown
    }
    chunk.copy(this.#tail, this.#tailLen, start, end)
    this.#tailLen += n
  }
}
