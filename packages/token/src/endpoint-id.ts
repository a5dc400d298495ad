/**
 * The recommended `endpoint_id` shape of the chat grant.
 *
 * @module
 */

/** The maximum length of an `endpoint_id` that {@link verifyAccessToken} accepts (UTF-16 code units). */
export const MAX_ENDPOINT_ID_LENGTH = 256

/** Parts of an endpoint ID. */
export interface EndpointIdParts {
  /** The application name, e.g. `demo`. Must not contain `:`. */
  app: string
  /** The user's identity (may contain `:`; it is the middle part). */
  identity: string
  /** A stable per-device or per-browser id. Must not contain `:`. */
  deviceId: string
}

/**
 * Builds the endpoint ID Twilio recommends for the chat grant: `<app>:<identity>:<deviceId>`.
 *
 * @throws {TypeError} when a part is not a non-empty string, or `app` / `deviceId` contains `:`
 * @throws {RangeError} when the result is longer than 256 characters (the verifier's limit)
 * @example
 * ```ts
 * endpointId({ app: 'myapp', identity: 'alice@example.com', deviceId: 'device1' })
 * // 'myapp:alice@example.com:device1'
 * ```
 */
export function endpointId({ app, identity, deviceId }: EndpointIdParts): string {
  for (const [name, value] of [
    ['app', app],
    ['identity', identity],
    ['deviceId', deviceId],
  ] as const) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`endpointId: ${name} must be a non-empty string`)
    }
  }
  if (app.includes(':')) throw new TypeError('endpointId: app must not contain ":"')
  if (deviceId.includes(':')) throw new TypeError('endpointId: deviceId must not contain ":"')
  const id = `${app}:${identity}:${deviceId}`
  if (id.length > MAX_ENDPOINT_ID_LENGTH) {
    throw new RangeError(
      `endpointId: the result is ${id.length} characters, more than ${MAX_ENDPOINT_ID_LENGTH}`,
    )
  }
  return id
}
