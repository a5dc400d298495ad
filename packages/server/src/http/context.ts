/**
 * What a route handler receives, and the handler type.
 *
 * @module
 */
import type { Params } from './form.ts'
import type { PathParams } from './router.ts'
import type { AdminActor, AppRequest, AppResponse } from './types.ts'

/** The per-request context passed to a {@link Handler}. */
export interface Ctx {
  readonly req: AppRequest
  /** Decoded path parameters (`serviceSid`, `sid`, …). */
  readonly params: PathParams
  /** Query-string parameters. */
  readonly query: Params
  /** Form body parameters (POST); empty for other methods. */
  readonly form: Params
  /** The authenticated admin principal. */
  readonly actor: AdminActor
  /** Absolute base URL of this server as the caller sees it, without a trailing slash. */
  readonly baseUrl: string
  /** `X-Twilio-Webhook-Enabled` as sent (`true`/`false`), undefined when absent or unrecognised. */
  readonly webhookEnabled: boolean | undefined
  /** The configured default `PageSize`. */
  readonly defaultPageSize: number
}

/** A route handler: returns the response or throws a `ChatError`. */
export type Handler = (ctx: Ctx) => Promise<AppResponse> | AppResponse

/** Route-table entry used by the routes modules: method, pattern, handler. */
export interface RouteDef {
  readonly method: 'GET' | 'POST' | 'DELETE'
  readonly pattern: string
  readonly handler: Handler
}
