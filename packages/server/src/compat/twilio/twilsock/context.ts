/**
 * The normalised gateway options and shared services every {@link Session} uses (one object per gateway, so
 * sessions carry no per-connection copies of the options).
 *
 * @module
 */
import type { Heartbeat } from '../../../realtime/heartbeat.ts'
import type { KeyedBuckets, TokenBucketOptions } from '../../../realtime/rate-limiter.ts'
import type { Timers } from '../../../realtime/timers.ts'
import type { UpstreamHandler } from '../upstream.ts'
import type { ContinuationTokens } from './continuation.ts'
import type { NotificationContextStore } from './notification-contexts.ts'
import type { SessionRegistry } from './registry.ts'
import type { Session } from './session.ts'
import type { TwilsockVerifier } from './verify.ts'

/** Structured log sink. MUST NOT receive tokens, secrets or Authorization headers (callers never pass them). */
export type GatewayLog = (
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void

/** Shared, normalised state of one gateway. */
export interface GatewayContext {
  readonly timers: Timers
  readonly verify: TwilsockVerifier
  readonly route: (host: string) => UpstreamHandler | undefined
  readonly registry: SessionRegistry
  readonly heartbeat: Heartbeat
  readonly continuation: ContinuationTokens
  readonly notificationContexts: NotificationContextStore
  readonly isRevoked: (keySid: string) => boolean
  readonly log: GatewayLog
  readonly authDeadlineMs: number
  readonly warnLeadMs: number
  readonly closeGraceMs: number
  readonly maxOutboundBytes: number
  readonly maxInflight: number
  readonly maxUnacked: number
  readonly maxUnackedBytes: number
  readonly maxSessionsPerIdentity: number
  readonly upstreamTimeoutMs: number
  readonly rate: TokenBucketOptions
  /** One bucket per identity, shared by its active sessions (keyed by the registry's `identityKey`). */
  readonly identityRate: KeyedBuckets
  readonly flood: { readonly windowMs: number; readonly closeAfter: number }
  /** Gateway-wide counters, mutated by sessions. */
  readonly stats: { inflightRequests: number }
  /** Records a rejected `init` (401/403) from an address. */
  readonly onAuthFailure: (remoteAddress: string) => void
  readonly onSessionOpen: (s: Session) => void
  readonly onSessionClose: (s: Session, wasActive: boolean) => void
}
