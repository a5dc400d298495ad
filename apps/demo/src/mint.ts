/**
 * Minting the chat Access Token for a signed-in user, exactly as the seed's "your server" does with the official
 * helper: identity, the chat grant's service SID, and an `endpoint_id` per app, user and device.
 *
 * @module
 */
import { AccessToken, endpointId } from '@parley/token'
import type { ParleyCredentials } from './config.ts'

/** What {@link mintChatToken} needs besides the credentials. */
export interface MintRequest {
  /** The signed-in user's name: the token's identity. */
  identity: string
  /** The browser's device id (validated by the caller with {@link isValidDeviceId}). */
  deviceId: string
  /** Application name for `endpoint_id`. */
  app: string
  /** Lifetime in seconds. */
  ttl: number
}

/** A browser-supplied device id: 8 to 64 base64url characters (a random id kept in `localStorage`). */
export function isValidDeviceId(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(value)
}

/**
 * Mint a chat token (HS256, the helper's default).
 *
 * @example
 * const jwt = mintChatToken(creds, { identity: 'alice', deviceId: 'k3j4h5g6', app: 'ParleyDemo', ttl: 3600 })
 */
export function mintChatToken(credentials: ParleyCredentials, request: MintRequest): string {
  const token = new AccessToken(
    credentials.accountSid,
    credentials.apiKeySid,
    credentials.apiKeySecret,
    {
      identity: request.identity,
      ttl: request.ttl,
    },
  )
  token.addGrant(
    new AccessToken.ChatGrant({
      serviceSid: credentials.serviceSid,
      endpointId: endpointId({
        app: request.app,
        identity: request.identity,
        deviceId: request.deviceId,
      }),
    }),
  )
  return token.toJwt()
}
