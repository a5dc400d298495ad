/**
 * Continuation tokens: the opaque value a Twilsock client sends back in `init.continuation_token` on every
 * reconnect, used to keep a derived endpoint id stable across reconnects when the Access Token has no
 * `endpoint_id`.
 *
 * Format: `<random 16 bytes, base64url>.<first 16 bytes of HMAC-SHA256(secret, account|service|identity|random)>`,
 * so a token issued to one identity cannot be replayed by another to take over its endpoint.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** Who a continuation token is bound to. */
export interface ContinuationSubject {
  readonly accountSid: string
  readonly serviceSid: string
  readonly identity: string
}

/** The result of {@link ContinuationTokens.resolve}. */
export interface Continuation {
  /** The token to return in the `init` reply. */
  readonly token: string
  /** The endpoint id derived from it. */
  readonly endpointId: string
  /** True when the presented token was missing or not valid for this subject, so a new one was issued. */
  readonly reissued: boolean
}

const SHAPE = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/

/** Issues and checks continuation tokens with one secret. */
export class ContinuationTokens {
  readonly #secret: Buffer

  /** @param secret at least 32 bytes; a random one by default (endpoints then change across restarts). */
  constructor(secret: Buffer = randomBytes(32)) {
    if (secret.length < 32) throw new RangeError('continuation secret must be at least 32 bytes')
    this.#secret = secret
  }

  /** Reuses `presented` when it is valid for `subject`, else issues a new token. */
  resolve(subject: ContinuationSubject, presented: unknown): Continuation {
    if (typeof presented === 'string' && SHAPE.test(presented)) {
      const dot = presented.indexOf('.')
      const nonce = presented.slice(0, dot)
      const mac = Buffer.from(presented.slice(dot + 1), 'base64url')
      if (mac.length === 16 && timingSafeEqual(mac, this.#mac(subject, nonce))) {
        return { token: presented, endpointId: endpointIdOf(nonce), reissued: false }
      }
    }
    const nonce = randomBytes(16).toString('base64url')
    return {
      token: `${nonce}.${this.#mac(subject, nonce).toString('base64url')}`,
      endpointId: endpointIdOf(nonce),
      reissued: true,
    }
  }

  #mac(s: ContinuationSubject, nonce: string): Buffer {
    return createHmac('sha256', this.#secret)
      .update(`${s.accountSid}|${s.serviceSid}|${s.identity}|${nonce}`)
      .digest()
      .subarray(0, 16)
  }
}

function endpointIdOf(nonce: string): string {
  return `parley:${nonce}`
}
