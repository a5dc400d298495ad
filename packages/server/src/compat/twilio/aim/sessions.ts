/**
 * Which Twilsock sessions belong to which user, for notifications that are not Sync events (typing) and for
 * reachability (first session online, last session offline).
 *
 * @module
 */
import type { TwilsockPrincipal, TwilsockSession } from '../upstream.ts'

const userKey = (p: Pick<TwilsockPrincipal, 'accountSid' | 'serviceSid' | 'identity'>): string =>
  `${p.accountSid}|${p.serviceSid}|${p.identity}`

/** A registry of live sessions by user. */
export class SessionRegistry {
  private readonly byUser = new Map<string, Set<TwilsockSession>>()
  private readonly known = new WeakSet<TwilsockSession>()
  private readonly onFirst: ((p: TwilsockPrincipal) => void) | undefined
  private readonly onLast: ((p: TwilsockPrincipal) => void) | undefined

  constructor(
    hooks: {
      onFirst?: (p: TwilsockPrincipal) => void
      onLast?: (p: TwilsockPrincipal) => void
    } = {},
  ) {
    this.onFirst = hooks.onFirst
    this.onLast = hooks.onLast
  }

  /** Records `session` (idempotent); it is forgotten when it closes. */
  track(session: TwilsockSession): void {
    if (this.known.has(session) || session.closed) return
    this.known.add(session)
    const key = userKey(session.principal)
    let set = this.byUser.get(key)
    if (set === undefined) this.byUser.set(key, (set = new Set()))
    set.add(session)
    if (set.size === 1) this.onFirst?.(session.principal)
    session.onClose(() => {
      const s = this.byUser.get(key)
      if (s === undefined || !s.delete(session)) return
      if (s.size === 0) {
        this.byUser.delete(key)
        this.onLast?.(session.principal)
      }
    })
  }

  /** Live sessions of a user. */
  sessionsOf(
    p: Pick<TwilsockPrincipal, 'accountSid' | 'serviceSid' | 'identity'>,
  ): TwilsockSession[] {
    return [...(this.byUser.get(userKey(p)) ?? [])].filter((s) => !s.closed)
  }
}
