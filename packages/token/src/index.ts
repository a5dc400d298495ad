/**
 * `@parley/token`: Twilio-format Access Tokens. Minting is a drop-in for the official `twilio` helper's
 * `AccessToken`; verification is strict and reports Twilio's error codes.
 *
 * @module
 */
export { ChatError, ERRORS, isChatError, moreInfo, type ErrorCode } from './errors.ts'
export {
  AccessToken,
  MAX_TTL_SECONDS,
  type AccessTokenOptions,
  type Algorithm,
} from './access-token.ts'
// Every grant class and its option/payload types (grants.ts exports nothing else).
export * from './grants.ts'
export { endpointId, MAX_ENDPOINT_ID_LENGTH, type EndpointIdParts } from './endpoint-id.ts'
export {
  decodeAccessToken,
  DEFAULT_LEEWAY_SECONDS,
  DEFAULT_MAX_TTL_SECONDS,
  formatNumericDate,
  LIFETIME_SLACK_SECONDS,
  MAX_IDENTITY_LENGTH,
  MAX_JSON_DEPTH,
  MAX_TOKEN_BYTES,
  MIN_SECRET_BYTES,
  verifyAccessToken,
  verifyAccessTokenSync,
  type AccessTokenPrincipal,
  type DecodedAccessToken,
  type KeyLookup,
  type ResolvedKey,
  type VerifyCheck,
  type VerifyOptions,
  type VerifySyncOptions,
} from './verify.ts'
export {
  defaultTwilsockErrorCode,
  twilsockErrorCode,
  type TwilsockErrorCode,
} from './twilsock-error-code.ts'
