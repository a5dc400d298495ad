/**
 * `@parley/token`: Twilio-format Access Tokens. Minting is a drop-in for the official `twilio` helper's
 * `AccessToken`; verification is strict and reports Twilio's error codes.
 *
 * @module
 */
export { ChatError, ERRORS, isChatError, moreInfo, type ErrorCode } from './errors.ts'
