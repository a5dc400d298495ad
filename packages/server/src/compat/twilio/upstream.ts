/**
 * The seam between the Twilsock transport (`twilsock/`) and the services tunnelled through it
 * (`aim/` chat client API, `sync/` CDS subset, `ers` push registrations).
 *
 * Twilsock `message` packets carry an HTTP request (`http_request` in the frame header, the body as payload);
 * the gateway authenticates the socket once at `init`, then hands each tunnelled request to an
 * {@link UpstreamHandler} together with the {@link TwilsockSession} it arrived on.
 *
 * @module
 */

/** Who is on the other end of a Twilsock socket, from the verified Access Token. */
export interface TwilsockPrincipal {
  readonly accountSid: string
  readonly keySid: string
  readonly serviceSid: string
  readonly identity: string
  /** The endpoint: the token's `endpoint_id`, or one the server derived and keeps across reconnects. */
  readonly endpointId: string
  /** Unix seconds. */
  readonly expiresAt: number
}

/** A tunnelled HTTP request, decoded from a Twilsock `message` packet. */
export interface UpstreamRequest {
  /** e.g. `aim.us1.twilio.com` (lower-cased by the gateway); only the prefix before the first dot is meaningful. */
  readonly host: string
  /** Path without the query, e.g. `/Client/v1/Configuration`. */
  readonly path: string
  /** Upper-cased, e.g. `GET`. */
  readonly method: string
  /**
   * Query parameters (`http_request.params`), values as strings. The gateway percent-decodes names and values
   * (twilsock sends them raw from the URL), keeps the first value of a repeated key, and maps a key without a
   * value to `''`.
   */
  readonly params: Readonly<Record<string, string>>
  /** Request headers, names lower-cased by the gateway (e.g. `x-twilio-mutation-id`). */
  readonly headers: Readonly<Record<string, string>>
  /** The payload as text (JSON for aim/cds, form-encoded for typing), or '' when there is none. */
  readonly body: string
}

/** The HTTP response to put into the `reply` packet (`http_status`, `http_headers`, payload). */
export interface UpstreamResponse {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  /** Serialised as JSON into the payload; `undefined` sends an empty payload. */
  readonly body?: unknown
}

/** What a tunnelled service may do with the socket its request came from. */
export interface TwilsockSession {
  readonly id: string
  readonly principal: TwilsockPrincipal
  /**
   * Queue a server-originated `notification` packet (`message_type`, JSON payload) to this socket.
   * MUST NOT block; the transport enforces the per-socket outbound byte limit and closes slow consumers.
   */
  notify(messageType: string, payload: unknown): void
  /**
   * Same as `notify` with the payload `n` was built from, serialised once for every session it goes to (the bytes on
   * the wire are identical).
   */
  notifyEncoded(n: EncodedNotification): void
  /**
   * Bytes of notifications sent and not yet acknowledged by the client: its backlog. The transport closes the socket as
   * a slow consumer past its limit; a sender of bulk data (a replay) should pause well before.
   */
  readonly unackedBytes: number
  /** Register a cleanup that runs once when the socket closes (for any reason). */
  onClose(fn: () => void): void
  readonly closed: boolean
}

/** Handles one tunnelled request. MUST resolve (errors become an HTTP error status), never reject. */
export type UpstreamHandler = (
  req: UpstreamRequest,
  session: TwilsockSession,
) => Promise<UpstreamResponse>

/**
 * A notification payload serialised to JSON once, to be sent to many sessions (Sync fan-out: every subscriber of a
 * stream gets the same bytes for one event). Only the Twilsock header (with its per-socket packet id) is built per
 * socket.
 */
export class EncodedNotification {
  readonly messageType: string
  /** `JSON.stringify(value)` as UTF-8; empty when it is `undefined` (no payload). */
  readonly json: Buffer
  /** Why `value` could not be serialised (then nothing is sent); `undefined` when it could. */
  readonly error: unknown

  constructor(messageType: string, value: unknown) {
    this.messageType = messageType
    let json: string | undefined
    try {
      json = value === undefined ? undefined : (JSON.stringify(value) as string | undefined)
    } catch (err) {
      this.error = err
    }
    this.json = json === undefined ? EMPTY : Buffer.from(json, 'utf8')
  }
}

const EMPTY = Buffer.alloc(0)
