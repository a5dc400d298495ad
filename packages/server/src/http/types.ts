/**
 * The runtime-neutral request and response shapes the REST app works on.
 *
 * `app.fetch(Request)` and the node:http bridge both convert to {@link AppRequest}, so the hot path from a Node socket
 * never builds a WHATWG `Request`/`Response` pair (measurably cheaper under load), while tests still use `fetch` style.
 *
 * @module
 */

/** One incoming HTTP request, already read (the body is capped before it gets here). */
export interface AppRequest {
  /** Upper-case method. */
  readonly method: string
  /** Raw path as sent, still percent-encoded, without the query. */
  readonly path: string
  /** Raw query string without the leading `?` ('' when none). */
  readonly query: string
  /** Header lookup by lower-case name; repeated headers are joined with `, `. */
  header(name: string): string | undefined
  /** The body bytes, or `null` when the request had none. */
  readonly body: Uint8Array | null
  /** Peer address, for logs only. */
  readonly remoteAddress?: string | undefined
}

/** A response the app produced. `body` is the exact text sent (JSON) or `null` for an empty body. */
export interface AppResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | null
}

/** The authenticated principal of an admin request. */
export interface AdminActor {
  readonly kind: 'admin'
  readonly accountSid: string
  /** The API key that authenticated the request, or undefined for the Auth Token. */
  readonly keySid?: string | undefined
}
