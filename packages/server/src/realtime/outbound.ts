/**
 * Bounded outbound buffering (reliability.md §2.4): a socket whose unsent bytes would exceed the limit is a slow
 * consumer and gets closed instead of letting its queue grow without bound.
 *
 * @module
 */

/** Close code for a slow consumer (Parley's private-use code, reliability.md §2.4). */
export const CLOSE_SLOW_CONSUMER = 4008

/** The part of a `ws` WebSocket this module needs. */
export interface BufferedSocket {
  /** Bytes accepted by `send` but not yet written to the kernel (`ws` includes its own queue). */
  readonly bufferedAmount: number
  send(data: Buffer, cb?: (err?: Error) => void): void
}

/**
 * Sends `data` unless that would leave more than `maxBytes` unsent on the socket.
 *
 * @returns `true` when sent; `false` when the socket is over its limit (the caller closes it with
 *   {@link CLOSE_SLOW_CONSUMER}). Nothing is sent in that case.
 */
export function sendBounded(socket: BufferedSocket, data: Buffer, maxBytes: number): boolean {
  if (socket.bufferedAmount + data.length > maxBytes) return false
  socket.send(data)
  return true
}
