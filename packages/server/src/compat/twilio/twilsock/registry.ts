/**
 * The live Twilsock sessions of one gateway, indexed by identity (for fan-out and reachability) and by API key
 * (for revocation).
 *
 * @module
 */
import type { TwilsockSession } from '../upstream.ts'

/** An identity within a service: the unit of reachability. */
export interface ReachabilityKey {
  readonly accountSid: string
  readonly serviceSid: string
  readonly identity: string
}

/** Hooks called when an identity gains its first or loses its last connected endpoint. MUST NOT throw. */
export interface ReachabilityHooks {
  onOnline?(who: ReachabilityKey): void
  onOffline?(who: ReachabilityKey): void
}

/** Read-only view of the live, initialised sessions (exposed as `gateway.sessions`). */
export interface TwilsockSessions {
  /** Number of initialised sessions. */
  readonly size: number
  /** Every initialised session. */
  all(): IterableIterator<TwilsockSession>
  /** The sessions (endpoints) of one identity in one service, for fan-out. */
  forIdentity(serviceSid: string, identity: string): readonly TwilsockSession[]
  /** Number of sessions (endpoints) of one identity in one service. */
  countForIdentity(serviceSid: string, identity: string): number
  /** True while at least one endpoint of the identity is connected. */
  isOnline(serviceSid: string, identity: string): boolean
  /** Sessions authenticated with a token signed by `keySid`. */
  forKey(keySid: string): readonly TwilsockSession[]
  /** API key SIDs in use by at least one session. */
  keys(): IterableIterator<string>
}

const NONE: readonly TwilsockSession[] = Object.freeze([])

/** The mutable registry behind {@link TwilsockSessions}; only the gateway writes to it. */
export class SessionRegistry implements TwilsockSessions {
  readonly #all = new Set<TwilsockSession>()
  readonly #byIdentity = new Map<string, Set<TwilsockSession>>()
  readonly #byKey = new Map<string, Set<TwilsockSession>>()
  readonly #hooks: ReachabilityHooks
  readonly #onHookError: (err: unknown) => void

  constructor(hooks: ReachabilityHooks = {}, onHookError: (err: unknown) => void = () => {}) {
    this.#hooks = hooks
    this.#onHookError = onHookError
  }

  get size(): number {
    return this.#all.size
  }

  all(): IterableIterator<TwilsockSession> {
    return this.#all.values()
  }

  forIdentity(serviceSid: string, identity: string): readonly TwilsockSession[] {
    const set = this.#byIdentity.get(identityKey(serviceSid, identity))
    return set ? [...set] : NONE
  }

  countForIdentity(serviceSid: string, identity: string): number {
    return this.#byIdentity.get(identityKey(serviceSid, identity))?.size ?? 0
  }

  isOnline(serviceSid: string, identity: string): boolean {
    return this.#byIdentity.has(identityKey(serviceSid, identity))
  }

  forKey(keySid: string): readonly TwilsockSession[] {
    const set = this.#byKey.get(keySid)
    return set ? [...set] : NONE
  }

  keys(): IterableIterator<string> {
    return this.#byKey.keys()
  }

  /** Adds an initialised session; fires `onOnline` for the identity's first endpoint. */
  add(s: TwilsockSession): void {
    if (this.#all.has(s)) return
    this.#all.add(s)
    const p = s.principal
    addTo(this.#byKey, p.keySid, s)
    if (addTo(this.#byIdentity, identityKey(p.serviceSid, p.identity), s)) {
      this.#call('onOnline', p)
    }
  }

  /** Moves a session to another signing key (after an `update`). */
  rekey(s: TwilsockSession, oldKeySid: string): void {
    if (!this.#all.has(s) || oldKeySid === s.principal.keySid) return
    removeFrom(this.#byKey, oldKeySid, s)
    addTo(this.#byKey, s.principal.keySid, s)
  }

  /** Removes a session; fires `onOffline` when it was the identity's last endpoint. */
  remove(s: TwilsockSession): void {
    if (!this.#all.delete(s)) return
    const p = s.principal
    removeFrom(this.#byKey, p.keySid, s)
    if (removeFrom(this.#byIdentity, identityKey(p.serviceSid, p.identity), s)) {
      this.#call('onOffline', p)
    }
  }

  #call(hook: 'onOnline' | 'onOffline', p: ReachabilityKey): void {
    const fn = this.#hooks[hook]
    if (!fn) return
    try {
      fn.call(this.#hooks, {
        accountSid: p.accountSid,
        serviceSid: p.serviceSid,
        identity: p.identity,
      })
    } catch (err) {
      this.#onHookError(err)
    }
  }
}

/** The key of an identity within a service (also of its shared rate bucket). */
export function identityKey(serviceSid: string, identity: string): string {
  return `${serviceSid}\u0000${identity}`
}

/** Returns true when the set was created (first member). */
function addTo(map: Map<string, Set<TwilsockSession>>, key: string, s: TwilsockSession): boolean {
  const set = map.get(key)
  if (set) {
    set.add(s)
    return false
  }
  map.set(key, new Set([s]))
  return true
}

/** Returns true when the set became empty and was dropped. */
function removeFrom(
  map: Map<string, Set<TwilsockSession>>,
  key: string,
  s: TwilsockSession,
): boolean {
  const set = map.get(key)
  if (!set || !set.delete(s)) return false
  if (set.size > 0) return false
  map.delete(key)
  return true
}
