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

/** The HTTP upgrade request for `/v3/wsconnect` (a fixed key: the load client does not check the accept hash). */
export function upgradeRequest(port: number): Buffer {
  return Buffer.from(
    `GET /v3/wsconnect HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
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

/**
 * Incremental reader of what the server sends on one socket: the HTTP upgrade response, then WebSocket frames
 * (server frames are unmasked; no fragmentation is expected from the gateway).
 */
export class ServerStream {
  #buf: Buffer = Buffer.alloc(0)
  #upgraded = false

  /**
   * Feeds bytes. `onFrame(opcode, payload)` gets each complete frame. Returns `false` when the upgrade was refused
   * (not `101`), `true` otherwise.
   */
  push(chunk: Buffer, onFrame: (opcode: number, payload: Buffer) => void): boolean {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    if (!this.#upgraded) {
      const end = this.#buf.indexOf('\r\n\r\n')
      if (end === -1) return true
      if (!this.#buf.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) return false
      this.#upgraded = true
      this.#buf = this.#buf.subarray(end + 4)
    }
    for (;;) {
      const b = this.#buf
      if (b.length < 2) return true
      const opcode = b[0]! & 0x0f
      let len = b[1]! & 0x7f
      let off = 2
      if (len === 126) {
        if (b.length < 4) return true
        len = b.readUInt16BE(2)
        off = 4
      } else if (len === 127) {
        if (b.length < 10) return true
        len = Number(b.readBigUInt64BE(2))
        off = 10
      }
      if (b.length < off + len) return true
      this.#buf = b.subarray(off + len)
      onFrame(opcode, b.subarray(off, off + len))
    }
  }
}
