/**
 * `/v2/Services` and `/v2/Services/{Sid}` (chat-rest-v2.md §5, §6.1).
 *
 * @module
 */
import { ChatError } from '@parley/token/errors'
import type { Core } from '../../core/api.ts'
import type { ServiceUpdate } from '../../core/types.ts'
import type { RouteDef } from '../context.ts'
import type { Params } from '../form.ts'
import { serializeService } from '../serialize.ts'
import { emptyToNull, inAccount, nonEmpty, put, resourceRoutes, type Input } from './common.ts'

const I32 = 2_147_483_647

/** Routes of the Service resource. */
export function serviceRoutes(core: Core): RouteDef[] {
  const { services } = core
  return resourceRoutes({
    path: '/v2/Services',
    key: 'services',
    maxPageSize: 100,
    scope: inAccount,
    serialize: serializeService,
    list:
      ([actor]) =>
      (page) =>
        services.list(actor, page),
    create: ([actor], ctx) => {
      const friendlyName = ctx.form.required('FriendlyName', { max: 256 })
      return services.create(actor, { friendlyName })
    },
    fetch: ([actor], sid) => services.fetch(actor, sid),
    update: ([actor], sid, ctx) => services.update(actor, sid, readServiceUpdate(ctx.form)),
    delete: ([actor], sid) => services.delete(actor, sid),
  })
}

function readSetting(f: Params, prefix: string, withBadge: boolean): Input {
  const o: Input = {}
  put(o, 'enabled', f.bool(`${prefix}.Enabled`))
  put(o, 'template', emptyToNull(f.string(`${prefix}.Template`, { max: 1024 })))
  put(o, 'sound', emptyToNull(f.string(`${prefix}.Sound`, { max: 256 })))
  if (withBadge) put(o, 'badgeCountEnabled', f.bool(`${prefix}.BadgeCountEnabled`))
  return o
}

/** Form parameters of a Service update → {@link ServiceUpdate}. */
export function readServiceUpdate(f: Params): ServiceUpdate {
  const u: Input = {}
  put(u, 'friendlyName', f.string('FriendlyName', { max: 256 }))
  put(u, 'defaultServiceRoleSid', f.string('DefaultServiceRoleSid', { max: 64 }))
  put(u, 'defaultChannelRoleSid', f.string('DefaultChannelRoleSid', { max: 64 }))
  put(u, 'defaultChannelCreatorRoleSid', f.string('DefaultChannelCreatorRoleSid', { max: 64 }))
  put(u, 'readStatusEnabled', f.bool('ReadStatusEnabled'))
  put(u, 'reachabilityEnabled', f.bool('ReachabilityEnabled'))
  put(u, 'typingIndicatorTimeout', f.int('TypingIndicatorTimeout', 0, I32))
  put(u, 'consumptionReportInterval', f.int('ConsumptionReportInterval', 0, I32))

  const n: Input = {}
  const nm = readSetting(f, 'Notifications.NewMessage', true)
  if (nonEmpty(nm)) n['newMessage'] = nm
  const ac = readSetting(f, 'Notifications.AddedToChannel', false)
  if (nonEmpty(ac)) n['addedToChannel'] = ac
  const rc = readSetting(f, 'Notifications.RemovedFromChannel', false)
  if (nonEmpty(rc)) n['removedFromChannel'] = rc
  const ic = readSetting(f, 'Notifications.InvitedToChannel', false)
  if (nonEmpty(ic)) n['invitedToChannel'] = ic
  put(n, 'logEnabled', f.bool('Notifications.LogEnabled'))
  if (nonEmpty(n)) u['notifications'] = n

  put(u, 'preWebhookUrl', emptyToNull(f.string('PreWebhookUrl', { max: 2048 })))
  put(u, 'postWebhookUrl', emptyToNull(f.string('PostWebhookUrl', { max: 2048 })))
  put(u, 'webhookMethod', f.string('WebhookMethod', { max: 16 }))
  if (f.has('WebhookFilters')) u['webhookFilters'] = f.all('WebhookFilters').filter((v) => v !== '')
  put(u, 'preWebhookRetryCount', f.int('PreWebhookRetryCount', 0, I32))
  put(u, 'postWebhookRetryCount', f.int('PostWebhookRetryCount', 0, I32))

  const l: Input = {}
  try {
    put(l, 'channelMembers', f.int('Limits.ChannelMembers', 0, I32))
  } catch {
    throw new ChatError(50061)
  }
  put(l, 'userChannels', f.int('Limits.UserChannels', 0, I32))
  if (nonEmpty(l)) u['limits'] = l

  if (f.has('Media.CompatibilityMessage')) {
    u['media'] = {
      compatibilityMessage: emptyToNull(f.string('Media.CompatibilityMessage', { max: 1024 })),
    }
  }
  return u as ServiceUpdate
}
