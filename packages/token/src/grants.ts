/**
 * The grant classes of the official `twilio` helper (`AccessToken.ChatGrant` and friends), with the same payload
 * shapes: every member is emitted only when truthy, so `new ChatGrant()` serialises as `{}`.
 *
 * @module
 */

/**
 * Base class of every grant: a payload key (`chat`, `video`, …) and a `toPayload()` producing the snake_case
 * object written under `grants[key]`. Subclass it for a grant type this package does not ship.
 *
 * @typeParam TOptions - the camelCase constructor options
 * @typeParam TPayload - the snake_case payload object
 * @typeParam TKey - the payload key under `grants`
 */
export abstract class Grant<TOptions, TPayload, TKey extends string> {
  /** The member name of this grant inside the token's `grants` claim. */
  readonly key: TKey
  /** Phantom member carrying `TOptions` for type inference; never set at runtime. */
  declare readonly _options?: TOptions

  protected constructor(key: TKey) {
    this.key = key
  }

  /** The snake_case object written under `grants[this.key]`. */
  abstract toPayload(): TPayload
}

/** Any grant, whatever its options, payload and key. */
export type AnyGrant = Grant<any, any, string>

/** Options of {@link ChatGrant} (camelCase, as in the helper). */
export interface ChatGrantOptions {
  /** The Chat / Conversations Service SID (`IS…`). Parley's verifier requires it. */
  serviceSid?: string
  /** The endpoint ID, recommended shape `<app>:<identity>:<device>` (see {@link endpointId}). */
  endpointId?: string
  /** SID of the deployment role to be assigned to the user. */
  deploymentRoleSid?: string
  /** The Push Credentials SID (`CR…`). */
  pushCredentialSid?: string
}

/** The `chat` grant payload. */
export interface ChatGrantPayload {
  service_sid?: string
  endpoint_id?: string
  deployment_role_sid?: string
  push_credential_sid?: string
}

/**
 * The `chat` grant: the one Parley reads. Also used by Conversations (`serviceSid` is the Conversation Service).
 *
 * @example
 * ```ts
 * token.addGrant(new ChatGrant({ serviceSid: 'IS0123…', endpointId: endpointId({ app: 'demo', identity: 'alice', deviceId: 'web' }) }))
 * ```
 */
export class ChatGrant
  extends Grant<ChatGrantOptions, ChatGrantPayload, 'chat'>
  implements ChatGrantOptions
{
  serviceSid?: string
  endpointId?: string
  deploymentRoleSid?: string
  pushCredentialSid?: string

  constructor(options?: ChatGrantOptions) {
    const o = options || {}
    super('chat')
    assignDefined(this, 'serviceSid', o.serviceSid)
    assignDefined(this, 'endpointId', o.endpointId)
    assignDefined(this, 'deploymentRoleSid', o.deploymentRoleSid)
    assignDefined(this, 'pushCredentialSid', o.pushCredentialSid)
  }

  toPayload(): ChatGrantPayload {
    const grant: ChatGrantPayload = {}
    if (this.serviceSid) grant.service_sid = this.serviceSid
    if (this.endpointId) grant.endpoint_id = this.endpointId
    if (this.deploymentRoleSid) grant.deployment_role_sid = this.deploymentRoleSid
    if (this.pushCredentialSid) grant.push_credential_sid = this.pushCredentialSid
    return grant
  }
}

/** Options of {@link TaskRouterGrant}. */
export interface TaskRouterGrantOptions {
  /** The workspace unique ID. */
  workspaceSid?: string
  /** The worker unique ID. */
  workerSid?: string
  /** The role of the grant. */
  role?: string
}

/** The `task_router` grant payload. */
export interface TaskRouterGrantPayload {
  workspace_sid?: string
  worker_sid?: string
  role?: string
}

/** The `task_router` grant (TaskRouter SDK). Parley ignores it when verifying. */
export class TaskRouterGrant
  extends Grant<TaskRouterGrantOptions, TaskRouterGrantPayload, 'task_router'>
  implements TaskRouterGrantOptions
{
  workspaceSid?: string
  workerSid?: string
  role?: string

  constructor(options?: TaskRouterGrantOptions) {
    const o = options || {}
    super('task_router')
    assignDefined(this, 'workspaceSid', o.workspaceSid)
    assignDefined(this, 'workerSid', o.workerSid)
    assignDefined(this, 'role', o.role)
  }

  toPayload(): TaskRouterGrantPayload {
    const grant: TaskRouterGrantPayload = {}
    if (this.workspaceSid) grant.workspace_sid = this.workspaceSid
    if (this.workerSid) grant.worker_sid = this.workerSid
    if (this.role) grant.role = this.role
    return grant
  }
}

/** Options of {@link VideoGrant}. */
export interface VideoGrantOptions {
  /** The Room name or Room SID. */
  room?: string
}

/** The `video` grant payload. */
export interface VideoGrantPayload {
  room?: string
}

/** The `video` grant (Video SDK). Parley ignores it when verifying. */
export class VideoGrant
  extends Grant<VideoGrantOptions, VideoGrantPayload, 'video'>
  implements VideoGrantOptions
{
  room?: string

  constructor(options?: VideoGrantOptions) {
    const o = options || {}
    super('video')
    assignDefined(this, 'room', o.room)
  }

  toPayload(): VideoGrantPayload {
    const grant: VideoGrantPayload = {}
    if (this.room) grant.room = this.room
    return grant
  }
}

/** Options of {@link SyncGrant}. */
export interface SyncGrantOptions {
  /** The Sync Service SID. */
  serviceSid?: string
  /** The endpoint ID. */
  endpointId?: string
}

/** The `data_sync` grant payload. */
export interface SyncGrantPayload {
  service_sid?: string
  endpoint_id?: string
}

/** The `data_sync` grant (Sync SDK). Parley ignores it when verifying. */
export class SyncGrant
  extends Grant<SyncGrantOptions, SyncGrantPayload, 'data_sync'>
  implements SyncGrantOptions
{
  serviceSid?: string
  endpointId?: string

  constructor(options?: SyncGrantOptions) {
    const o = options || {}
    super('data_sync')
    assignDefined(this, 'serviceSid', o.serviceSid)
    assignDefined(this, 'endpointId', o.endpointId)
  }

  toPayload(): SyncGrantPayload {
    const grant: SyncGrantPayload = {}
    if (this.serviceSid) grant.service_sid = this.serviceSid
    if (this.endpointId) grant.endpoint_id = this.endpointId
    return grant
  }
}

/** Options of {@link VoiceGrant}. */
export interface VoiceGrantOptions {
  /** Whether this endpoint may receive incoming calls as `grants.identity`. */
  incomingAllow?: boolean
  /** Application SID to call when placing an outgoing call. */
  outgoingApplicationSid?: string
  /** Request parameters passed to the application. */
  outgoingApplicationParams?: object
  /** Push Credential SID used to register for incoming call notifications. */
  pushCredentialSid?: string
  /** Endpoint identifier of this device. */
  endpointId?: string
}

/** The `voice` grant payload. */
export interface VoiceGrantPayload {
  incoming?: { allow: boolean }
  outgoing?: { application_sid: string; params?: object }
  push_credential_sid?: string
  endpoint_id?: string
}

/** The `voice` grant (Voice SDK). Parley ignores it when verifying. */
export class VoiceGrant
  extends Grant<VoiceGrantOptions, VoiceGrantPayload, 'voice'>
  implements VoiceGrantOptions
{
  incomingAllow?: boolean
  outgoingApplicationSid?: string
  outgoingApplicationParams?: object
  pushCredentialSid?: string
  endpointId?: string

  constructor(options?: VoiceGrantOptions) {
    const o = options || {}
    super('voice')
    assignDefined(this, 'incomingAllow', o.incomingAllow)
    assignDefined(this, 'outgoingApplicationSid', o.outgoingApplicationSid)
    assignDefined(this, 'outgoingApplicationParams', o.outgoingApplicationParams)
    assignDefined(this, 'pushCredentialSid', o.pushCredentialSid)
    assignDefined(this, 'endpointId', o.endpointId)
  }

  toPayload(): VoiceGrantPayload {
    const grant: VoiceGrantPayload = {}
    if (this.incomingAllow === true) grant.incoming = { allow: true }
    if (this.outgoingApplicationSid) {
      grant.outgoing = { application_sid: this.outgoingApplicationSid }
      if (this.outgoingApplicationParams) grant.outgoing.params = this.outgoingApplicationParams
    }
    if (this.pushCredentialSid) grant.push_credential_sid = this.pushCredentialSid
    if (this.endpointId) grant.endpoint_id = this.endpointId
    return grant
  }
}

/** Options of {@link PlaybackGrant}. */
export interface PlaybackGrantOptions {
  /** The PlaybackGrant object retrieved from Twilio's API. */
  grant?: object
}

/** The `player` grant payload: the object passed as `grant`, or `{}`. */
export type PlaybackGrantPayload = object

/** The `player` grant (Live Player SDK). Parley ignores it when verifying. */
export class PlaybackGrant
  extends Grant<PlaybackGrantOptions, PlaybackGrantPayload, 'player'>
  implements PlaybackGrantOptions
{
  grant?: object

  constructor(options?: PlaybackGrantOptions) {
    const o = options || {}
    super('player')
    assignDefined(this, 'grant', o.grant)
  }

  toPayload(): PlaybackGrantPayload {
    // The helper returns the caller's object itself, not a copy.
    return this.grant ? this.grant : {}
  }
}

/**
 * Sets `target[key] = value` when value is not undefined. The helper always assigns (leaving `undefined` own
 * members); skipping them changes nothing observable in the payload and keeps `exactOptionalPropertyTypes` happy.
 */
function assignDefined<T extends object, K extends keyof T>(
  target: T,
  key: K,
  value: T[K] | undefined,
): void {
  if (value !== undefined) target[key] = value
}
