/**
 * The Bus port: notifications of committed changes, in the crossws three-method style.
 *
 * The bus carries **hints**, never the source of truth: the event log in the Store is. A consumer that misses a
 * notification (broker restart, slow node) recovers by reading the log (`Store.read(tx => tx.events.readStream(...))`).
 *
 * @module
 */
import type { ChatEvent } from '../core/types.ts'

/** Published after COMMIT of a write that appended events to the log, in commit (global `seq`) order per node. */
export interface EventsNotice {
  type: 'events'
  /** The committed events, ascending by `seq`. */
  events: readonly ChatEvent[]
}

/**
 * Published after COMMIT when an API key is deleted: every session whose token was signed by `keySid` must be closed,
 * and any cached secret for it dropped. Also recorded in the log as a `key_removed` event on stream `keys:{AC}`.
 */
export interface KeyRevokedNotice {
  type: 'key_revoked'
  accountSid: string
  keySid: string
}

/** Published after COMMIT when an account's auth token changes or the account is removed. */
export interface AccountChangedNotice {
  type: 'account_changed'
  accountSid: string
}

/** Everything that travels on the bus. */
export type BusMessage = EventsNotice | KeyRevokedNotice | AccountChangedNotice

/**
 * Publish/subscribe of {@link BusMessage}s between the core and realtime code, possibly across nodes.
 *
 * Contract:
 * - `publish(msg)` MUST deliver `msg` to every current subscriber on this node (including the publisher's own node)
 *   and, for cluster adapters, SHOULD deliver it to subscribers on other nodes.
 * - Within one node, messages MUST be delivered to each subscriber in `publish` order.
 * - `publish` MUST NOT throw because of a subscriber: a subscriber that throws is isolated (its error is reported,
 *   delivery to the others continues). A cluster adapter whose broker is down MUST still deliver locally and MUST NOT
 *   reject; it MAY drop the remote copy (consumers recover from the log).
 * - `deliver` callbacks MUST NOT be awaited by the bus and SHOULD return quickly (queue work, do not do IO inline).
 * - `subscribe(deliver)` returns an unsubscribe function; after it is called `deliver` MUST NOT be called again.
 * - `close()` MUST stop delivery to all subscribers and release broker connections. It is idempotent.
 */
export interface Bus {
  publish(msg: BusMessage): void
  subscribe(deliver: (msg: BusMessage) => void): () => void
  close?(): Promise<void>
}
