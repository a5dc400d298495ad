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
import type { Core } from './api.ts'

/** The ports the core runs on. */
export interface CoreDeps {
  store: Store
  bus: Bus
  clock: Clock
  ids: Ids
  vault: Vault
}

/**
 * Builds the chat core.
 *
 * @example
 * ```ts
 * const core = createCore({ store: sqliteStore({ path: ':memory:' }), bus: memoryBus(), clock: systemClock(),
 *   ids: cryptoIds(), vault: aesGcmVault(masterKey) })
 * const { account, authToken, apiKey, service } = await core.bootstrap()
 * ```
 */
export function createCore(deps: CoreDeps): Core {
  void deps
  throw new Error('createCore: not implemented yet')
}
