/**
 * Storage for Twilsock push registrations (`put_notification_ctx` / `delete_notification_ctx`).
 *
 * Push delivery is out of scope (twilio-client-protocol.md §12), so the gateway only has to accept and remember
 * the contexts. The default store is in memory and bounded; a core-backed store (Bindings) can replace it.
 *
 * @module
 */
import type { TwilsockPrincipal } from '../upstream.ts'

/**
 * Where notification contexts live.
 *
 * Implementations MUST be idempotent (`put` twice with the same id replaces; `delete` of an unknown id succeeds)
 * and MUST scope ids by the principal's service, identity and endpoint.
 */
export interface NotificationContextStore {
  put(principal: TwilsockPrincipal, contextId: string, context: unknown): Promise<void>
  delete(principal: TwilsockPrincipal, contextId: string): Promise<void>
}

/** An in-memory {@link NotificationContextStore} holding at most `maxEntries` contexts (oldest evicted first). */
export class MemoryNotificationContexts implements NotificationContextStore {
  readonly #entries = new Map<string, unknown>()
  readonly #max: number

  constructor(maxEntries = 100_000) {
    this.#max = maxEntries
  }

  get size(): number {
    return this.#entries.size
  }

  /** The stored context, for tests and diagnostics. */
  get(principal: TwilsockPrincipal, contextId: string): unknown {
    return this.#entries.get(keyOf(principal, contextId))
  }

  async put(principal: TwilsockPrincipal, contextId: string, context: unknown): Promise<void> {
    const k = keyOf(principal, contextId)
    this.#entries.delete(k)
    this.#entries.set(k, context)
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }

  async delete(principal: TwilsockPrincipal, contextId: string): Promise<void> {
    this.#entries.delete(keyOf(principal, contextId))
  }
}

function keyOf(p: TwilsockPrincipal, contextId: string): string {
  return JSON.stringify([p.serviceSid, p.identity, p.endpointId, contextId])
}
