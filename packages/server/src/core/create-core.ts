/**
 * The composition of the chat core: `createCore(deps)` returns the {@link Core} operations.
 *
 * @module
 */
import type { Bus } from '../ports/bus.ts'
import type { Clock } from '../ports/clock.ts'
import type { Ids } from '../ports/ids.ts'
import type { Store } from '../ports/store.ts'
import type { Vault } from '../ports/vault.ts'
import {
  accountsApi,
  authenticateBasic,
  bootstrap,
  keysApi,
  resolveApiKey,
  resolveAuthToken,
} from './accounts.ts'
import type { Core } from './api.ts'
import { channelsApi, invitesApi, membersApi, webhooksApi } from './channels.ts'
import { createContext } from './context.ts'
import { credentialsApi } from './credentials.ts'
import { messagesApi } from './messages.ts'
import { rolesApi, servicesApi } from './services.ts'
import { bindingsApi, userChannelsApi, usersApi } from './users.ts'

/** The ports the core runs on. */
export interface CoreDeps {
  store: Store
  bus: Bus
  clock: Clock
  ids: Ids
  vault: Vault
}

const MAX_EVENTS = 10_000
const KEY_CACHE_MS = 60_000

function limitOf(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return 1000
  return Math.max(1, Math.min(MAX_EVENTS, Math.floor(limit)))
}

/**
 * Builds the chat core.
 *
 * @example
 * ```ts
 * const core = createCore({ store: sqliteStore({ filename: ':memory:' }), bus: memoryBus(), clock: systemClock(),
 *   ids: cryptoIds(), vault: aesGcmVault(masterKey) })
 * const { account, authToken, apiKey, service } = await core.bootstrap()
 * const admin = { kind: 'admin', accountSid: account.sid } as const
 * const ch = await core.channels.create(admin, service.sid, { uniqueName: 'general' })
 * await core.messages.create(admin, service.sid, 'general', { from: 'alice', body: 'hi' })
 * ```
 */
export function createCore(deps: CoreDeps): Core {
  const ctx = createContext(deps)
  // Decrypted key secrets for token verification, kept ≤ 60 s (reliability.md §2.10) and dropped as soon as a
  // revocation is seen on the bus (from this node or, with a cluster bus, any other).
  const keyCache = new Map<
    string,
    { value: { secret: string; accountSid: string }; expires: number }
  >()
  deps.bus.subscribe((m) => {
    if (m.type === 'key_revoked') keyCache.delete(m.keySid)
    else if (m.type === 'account_changed') keyCache.clear()
  })
  const cachedResolveApiKey = async (keySid: string) => {
    const hit = keyCache.get(keySid)
    const now = deps.clock.now()
    if (hit !== undefined && hit.expires > now) return hit.value
    const value = await resolveApiKey(ctx, keySid)
    if (value === undefined) keyCache.delete(keySid)
    else {
      if (keyCache.size >= 10_000) keyCache.clear()
      keyCache.set(keySid, { value, expires: now + KEY_CACHE_MS })
    }
    return value
  }
  return {
    accounts: accountsApi(ctx),
    keys: keysApi(ctx),
    services: servicesApi(ctx),
    roles: rolesApi(ctx),
    users: usersApi(ctx),
    channels: channelsApi(ctx),
    members: membersApi(ctx),
    messages: messagesApi(ctx),
    invites: invitesApi(ctx),
    userChannels: userChannelsApi(ctx),
    credentials: credentialsApi(ctx),
    bindings: bindingsApi(ctx),
    webhooks: webhooksApi(ctx),
    events: {
      readStream: (stream, after, limit) =>
        ctx.read((tx) => tx.events.readStream(stream, after, limitOf(limit))),
      lastSeq: (stream) => ctx.read((tx) => tx.events.lastSeq(stream)),
      readAfter: (after, limit) => ctx.read((tx) => tx.events.readAfter(after, limitOf(limit))),
      head: () => ctx.read((tx) => tx.events.head()),
    },
    authenticateBasic: (u, p) => authenticateBasic(ctx, u, p),
    resolveApiKey: cachedResolveApiKey,
    resolveAuthToken: (sid) => resolveAuthToken(ctx, sid),
    bootstrap: (input) => bootstrap(ctx, input),
    hasAccounts: () => ctx.read(async (tx) => (await tx.accounts.list({ limit: 1 })).length > 0),
  }
}
