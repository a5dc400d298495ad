/**
 * Types shared by the Sync (CDS) engine and the projection that feeds it.
 *
 * One event-log stream maps 1:1 onto one Sync object (docs/architecture.md, "The event log"); the engine knows
 * nothing about chat: it asks a {@link SyncProjection} to name, authorize and translate.
 *
 * @module
 */
import type { ChatEvent } from '../../../core/types.ts'
import type { TwilsockPrincipal } from '../upstream.ts'

/** The three Sync object kinds the chat SDKs use. */
export type SyncObjectType = 'document' | 'map' | 'list'

/** A resolved Sync object: its stable SID, unique name, kind and the event-log stream behind it. */
export interface SyncObjectRef {
  readonly sid: string
  readonly uniqueName: string
  readonly type: SyncObjectType
  readonly stream: string
}

/**
 * What one log event does to its Sync object. Several mutations of one event share the event's `streamSeq` as their
 * Sync event id (allowed when they touch different item keys).
 */
export type SyncMutation =
  | { readonly op: 'item_added' | 'item_updated'; readonly key: string; readonly data: unknown }
  | { readonly op: 'item_removed'; readonly key: string; readonly data: unknown }
  | { readonly op: 'document_updated'; readonly data: unknown }
  | { readonly op: 'object_removed' }

/** Who asks: the Twilsock principal of the session. */
export type SyncPrincipal = TwilsockPrincipal

/**
 * Chat-specific knowledge the engine needs.
 *
 * Contract:
 * - `resolve` MUST return the same `sid` and `stream` for the same object on every call and across restarts, and
 *   MUST throw a {@link SyncHttpError} (404 when the object does not exist or must stay invisible, 403 when it is
 *   visible but not readable) when the principal may not read it.
 * - `authorize` re-checks read access at delivery time (membership can change after subscribing).
 * - `project` MUST be pure: the same event always gives the same mutations (replay must equal live).
 */
export interface SyncProjection {
  resolve(type: SyncObjectType, sidOrName: string, principal: SyncPrincipal): Promise<SyncObjectRef>
  /** A cached decision may come back synchronously (it is asked on every delivery). */
  authorize(ref: SyncObjectRef, principal: SyncPrincipal): boolean | Promise<boolean>
  project(ref: SyncObjectRef, event: ChatEvent): readonly SyncMutation[]
  /** Sees every committed event before live fan-out (e.g. to forget cached access decisions). MUST NOT throw. */
  observe?(events: readonly ChatEvent[]): void
  /** Items that exist before the first event (id 0), e.g. a user's `friendlyName` and `attributes`. */
  baseline?(ref: SyncObjectRef): readonly { key: string; data: unknown }[]
}

/** The part of the event log the engine reads (`Core.events` satisfies it). */
export interface SyncEventLog {
  readStream(stream: string, afterStreamSeq: number, limit?: number): Promise<ChatEvent[]>
  lastSeq(stream: string): Promise<number>
}

/** An HTTP error with a Twilio-style body `{status, message, code}`. */
export class SyncHttpError extends Error {
  override name = 'SyncHttpError'
  readonly status: number
  readonly code: number
  constructor(status: number, code: number, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}
