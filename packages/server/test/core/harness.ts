/**
 * Test harness for the core: a core over an in-memory SQLite store, a recording bus, a manual clock and real ids.
 */
import { randomBytes } from 'node:crypto'
import { memoryBus } from '../../src/adapters/bus/memory.ts'
import { cryptoIds } from '../../src/adapters/ids/crypto.ts'
import { sqliteStore, type SqliteStoreOptions } from '../../src/adapters/store/sqlite.ts'
import { aesGcmVault } from '../../src/adapters/vault/aes-gcm.ts'
import type { Core } from '../../src/core/api.ts'
import { createCore } from '../../src/core/create-core.ts'
import type { AdminActor, BootstrapResult, UserActor } from '../../src/core/types.ts'
import type { BusMessage } from '../../src/ports/bus.ts'
import type { Store } from '../../src/ports/store.ts'

/** A manual clock starting at 2026-01-01T00:00:00Z. */
export function manualClock(start = Date.UTC(2026, 0, 1)) {
  let t = start
  return {
    now: () => t,
    advance(ms: number) {
      t += ms
    },
  }
}

/** Everything a core test needs. */
export interface Harness {
  core: Core
  store: Store
  bus: ReturnType<typeof memoryBus>
  published: BusMessage[]
  clock: ReturnType<typeof manualClock>
  boot: BootstrapResult
  admin: AdminActor
  serviceSid: string
  user(identity: string): UserActor
  close(): Promise<void>
}

/** Builds a bootstrapped core (account, key, default service). */
export async function harness(
  storeOptions: SqliteStoreOptions = { filename: ':memory:' },
): Promise<Harness> {
  const store = sqliteStore(storeOptions)
  const bus = memoryBus()
  const published: BusMessage[] = []
  bus.subscribe((m) => published.push(m))
  const clock = manualClock()
  const vault = aesGcmVault(randomBytes(32))
  const core = createCore({ store, bus, clock, ids: cryptoIds(), vault })
  const boot = await core.bootstrap()
  const admin: AdminActor = { kind: 'admin', accountSid: boot.account.sid }
  return {
    core,
    store,
    bus,
    published,
    clock,
    boot,
    admin,
    serviceSid: boot.service.sid,
    user: (identity) => ({
      kind: 'user',
      accountSid: boot.account.sid,
      serviceSid: boot.service.sid,
      identity,
    }),
    close: () => store.close(),
  }
}

/** Asserts that `p` rejects with a ChatError of `code`. */
export async function rejectsCode(p: Promise<unknown>, code: number): Promise<void> {
  try {
    await p
  } catch (err) {
    const c = (err as { code?: unknown }).code
    if (c !== code)
      throw new Error(`expected code ${code}, got ${String(c)}: ${(err as Error).message}`, {
        cause: err,
      })
    return
  }
  throw new Error(`expected code ${code}, but it resolved`)
}
