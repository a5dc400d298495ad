/**
 * `ers.` — the push registrar the SDKs reach through Twilsock for apn/fcm registrations, kept as core Bindings.
 *
 * What `@twilio/notifications` 1.0.5 (`RegistrarConnector`, used by twilio-chat 6 `setPushRegistrationId('apn' |
 * 'fcm', token)`) sends, relative to `https://ers.{region}.twilio.com/v1/registrations` (`notifications.ersUrl`):
 *
 * | Request | Body | Reads |
 * |---|---|---|
 * | `POST /v1/registrations?productId=ip_messaging` | `{endpoint_platform, channel_type, version, message_types, data:{registration_id}}` | `body.id` |
 * | `DELETE /v1/registrations/{id}?productId=…` | `{}` | status only |
 * | `DELETE /v1/registrations?productId=…` (remove a device token) | `{binding_type, address}` | status only |
 *
 * A registration is the session user's Binding of type `channel_type` for the session's endpoint, with the token as
 * its (never shown) address; its id is the binding SID. Deletes are idempotent (an unknown id answers 200), because
 * the SDK retries a failed delete.
 *
 * @module
 */
import { isChatError } from '@parley/token/errors'
import type { Core } from '../../../core/api.ts'
import type { UserActor } from '../../../core/types.ts'
import { actorOf } from '../projection/chat-projection.ts'
import type { TwilsockSession, UpstreamRequest, UpstreamResponse } from '../upstream.ts'

/** The `ers.` upstream handler. */
export type ErsHandler = (
  req: UpstreamRequest,
  session: TwilsockSession,
) => Promise<UpstreamResponse>

const JSON_HEADERS = { 'Content-Type': 'application/json' } as const

function reply(status: number, body: unknown): UpstreamResponse {
  return { status, headers: JSON_HEADERS, body }
}

function failure(status: number, code: number, message: string): UpstreamResponse {
  return reply(status, {
    status,
    code,
    message,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
  })
}

function jsonBody(text: string): Record<string, unknown> | undefined {
  if (text.trim() === '') return {}
  try {
    const v = JSON.parse(text) as unknown
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

/**
 * Builds the `ers.` handler over the core's Bindings.
 *
 * @example
 * ```ts
 * const ers = createErsHandler({ core })
 * const upstream: UpstreamHandler = (req, s) => (req.host.startsWith('ers.') ? ers(req, s) : other(req, s))
 * ```
 */
export function createErsHandler(options: {
  core: Pick<Core, 'bindings'>
  onError?: (err: unknown) => void
}): ErsHandler {
  const { bindings } = options.core
  const onError = options.onError ?? (() => {})

  async function route(
    req: UpstreamRequest,
    actor: UserActor,
    endpoint: string,
  ): Promise<UpstreamResponse> {
    const m = /^\/v1\/registrations(?:\/([^/]+))?\/?$/.exec(req.path)
    const body = jsonBody(req.body)
    if (m === null) return failure(404, 20404, 'The requested resource was not found')
    if (body === undefined) return failure(400, 20001, 'Invalid JSON body')
    const id = m[1] === undefined ? undefined : decodeURIComponent(m[1])
    if (req.method === 'POST' && id === undefined) {
      const data = body['data'] as { registration_id?: unknown } | undefined
      const b = await bindings.upsertFromClient(actor, {
        bindingType: String(body['channel_type'] ?? ''),
        endpoint,
        address: text(data?.registration_id) ?? null,
        messageTypes: Array.isArray(body['message_types'])
          ? (body['message_types'] as unknown[]).filter((t) => typeof t === 'string')
          : [],
      })
      return reply(200, {
        id: b.sid,
        channel_type: b.bindingType,
        endpoint: b.endpoint,
        message_types: b.messageTypes,
      })
    }
    if (req.method === 'DELETE' && id !== undefined) {
      try {
        await bindings.delete(actor, actor.serviceSid, id)
      } catch (err) {
        if (!isChatError(err) || err.code !== 20404) throw err
      }
      return reply(200, {})
    }
    if (req.method === 'DELETE') {
      const address = text(body['address'])
      if (address === undefined) return failure(400, 20001, 'address is required')
      await bindings.deleteFromClient(actor, {
        bindingType: String(body['binding_type'] ?? ''),
        address,
      })
      return reply(200, {})
    }
    return failure(405, 20004, 'Method not allowed')
  }

  return async (req, session) => {
    try {
      return await route(req, actorOf(session.principal), session.principal.endpointId)
    } catch (err) {
      if (isChatError(err)) return failure(err.status, err.code, err.message)
      onError(err)
      return failure(500, 20500, 'Internal server error')
    }
  }
}
