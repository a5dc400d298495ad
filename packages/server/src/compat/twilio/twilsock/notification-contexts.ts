/**
 * Storage for Twilsock push registrations (`put_notification_ctx` / `delete_notification_ctx`).
 *
 * What the SDKs send (read from `@twilio/notifications` 1.0.5 `TwilsockConnector` and twilsock 0.12.2
 * `services/registrations.js`): header `notification_ctx_id` (a uuid v4 per Notifications client), payload
 * `{product_id, notification_protocol_version: 4, endpoint_platform, message_types}`; twilsock re-sends every context
 * after each reconnect. Only the `twilsock` channel uses these packets; apn/fcm registrations are `ers.` HTTP requests.
 *
 * Push delivery is out of scope (twilio-client-protocol.md §12). {@link coreNotificationContexts} (what the server
 * uses) keeps each context as a Binding of type `twilsock`, visible through the REST Bindings resources;
 * {@link MemoryNotificationContexts} is a bounded in-memory stand-in for gateway tests.
 *
 * @module
 */
import type { Core } from '../../../core/api.ts'
import type { UserActor } from '../../../core/types.ts'
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

/**
 * A {@link NotificationContextStore} over the core: a context becomes the principal's Binding of type `twilsock` for
 * its endpoint (`endpoint` = the session's endpoint id, `address` = the context id, `message_types` from the
 * context, SDK prefixes removed). Putting again replaces it; deleting a context id that a newer one replaced is a
 * no-op.
 *
 * @example
 * ```ts
 * createTwilsockGateway({ verify, upstream, notificationContexts: coreNotificationContexts(core) })
 * ```
 */
export function coreNotificationContexts(core: Pick<Core, 'bindings'>): NotificationContextStore {
  const actorOf = (p: TwilsockPrincipal): UserActor => ({
    kind: 'user',
    accountSid: p.accountSid,
    serviceSid: p.serviceSid,
    identity: p.identity,
  })
  return {
    async put(principal, contextId, context) {
      const types = (context as { message_types?: unknown } | null)?.message_types
      await core.bindings.upsertFromClient(actorOf(principal), {
        bindingType: 'twilsock',
        endpoint: principal.endpointId,
        address: contextId,
        messageTypes: Array.isArray(types)
          ? (types as unknown[]).filter((t) => typeof t === 'string')
          : [],
      })
    },
    async delete(principal, contextId) {
      await core.bindings.deleteFromClient(actorOf(principal), {
        bindingType: 'twilsock',
        endpoint: principal.endpointId,
        address: contextId,
      })
    },
  }
}
