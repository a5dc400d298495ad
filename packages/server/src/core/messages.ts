/**
 * Messages: contiguous per-channel indexes assigned in the write transaction, idempotent sends by
 * `clientMessageId` (reliability.md §2.5, §2.6).
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { ReadRepos } from '../ports/store.ts'
import type { MessagesApi } from './api.ts'
import { saveChannelTx } from './channels.ts'
import {
  ensureUser,
  loadChannel,
  loadMemberChannel,
  loadService,
  memberAccess,
  requirePermission,
  scopeOf,
  streams,
  type Ctx,
} from './context.ts'
import { keysetPage } from './pagination.ts'
import { LIMITS, checkAttributes, checkBody, checkDates, isCleanText, isSid } from './rules.ts'
import type { Channel, Message, MessageMedia } from './types.ts'

async function loadMessage(tx: ReadRepos, channel: Channel, sid: string): Promise<Message> {
  const m = isSid('IM', sid) ? await tx.messages.get(sid) : undefined
  if (m === undefined || m.channelSid !== channel.sid)
    throw new ChatError(20404, 'Message not found')
  return m
}

function checkAuthor(from: string | null | undefined): string {
  if (from === null || from === undefined || from === '') return 'system'
  if (typeof from !== 'string' || from.length > LIMITS.identity) throw new ChatError(50207)
  if (!isCleanText(from)) throw new ChatError(20001, 'From contains invalid characters')
  return from
}

function checkClientId(id: string | null | undefined): string | null {
  if (id === null || id === undefined || id === '') return null
  if (typeof id !== 'string' || id.length > 128 || !isCleanText(id))
    throw new ChatError(20001, 'Invalid client message id')
  return id
}

/** Users cannot back-date messages: their dates are ignored. */
const NO_DATES = { createdAt: undefined, updatedAt: undefined } as const

/** The Messages API. */
export function messagesApi(ctx: Ctx): MessagesApi {
  return {
    async create(actor, serviceSid, channelRef, input) {
      const body = checkBody(input.body)
      const attributes = checkAttributes(input.attributes, LIMITS.messageAttributesBytes)
      const clientMessageId = checkClientId(input.clientMessageId)
      const adminFrom = actor.kind === 'admin' ? checkAuthor(input.from) : undefined
      const { createdAt: createdAtIn, updatedAt: updatedAtIn } =
        actor.kind === 'admin' ? checkDates(input) : NO_DATES
      let media: MessageMedia | null = null
      if (input.mediaSid !== undefined && input.mediaSid !== null && input.mediaSid !== '') {
        if (!isSid('ME', input.mediaSid)) throw new ChatError(20001, 'Invalid MediaSid')
        media = input.media ?? {
          sid: input.mediaSid,
          contentType: 'application/octet-stream',
          filename: null,
          size: 0,
        }
      } else if (input.media) media = input.media
      const lastUpdatedBy = actor.kind === 'admin' ? (input.lastUpdatedBy ?? null) : null
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, channelRef)
        let from: string
        let memberSid: string | null
        if (actor.kind === 'user') {
          await ensureUser(w, service, actor.identity)
          const access = await memberAccess(w.tx, actor, service, channel)
          requirePermission(access.perms, media ? 'sendMediaMessage' : 'sendMessage')
          from = actor.identity
          memberSid = access.member.sid
        } else {
          from = adminFrom ?? 'system'
          memberSid = (await w.tx.members.getByIdentity(channel.sid, from))?.sid ?? null
        }
        if (clientMessageId !== null) {
          const prior = await w.tx.messages.getByClientId(channel.sid, from, clientMessageId)
          if (prior !== undefined) {
            const same =
              prior.body === body &&
              prior.attributes === attributes &&
              (prior.media?.sid ?? null) === (media?.sid ?? null)
            if (!same) throw new ChatError(20422)
            return { message: prior, duplicate: true }
          }
        }
        const index = channel.nextMessageIndex
        const sid = w.sid('IM')
        const createdAt = createdAtIn ?? w.now
        const message = await w.emit(
          streams.messages(channel.sid),
          'message_added',
          String(index),
          scopeOf(channel),
          (revision): Message => ({
            sid,
            accountSid: channel.accountSid,
            serviceSid: channel.serviceSid,
            channelSid: channel.sid,
            from,
            body,
            attributes,
            index,
            type: media ? 'media' : 'text',
            media,
            wasEdited: false,
            lastUpdatedBy,
            clientMessageId,
            memberSid,
            createdAt,
            updatedAt: updatedAtIn ?? createdAt,
            revision,
          }),
        )
        await w.tx.messages.put(message)
        // The channel document's lastMessage and messagesCount go live with the message (same transaction).
        await saveChannelTx(w, {
          ...channel,
          nextMessageIndex: index + 1,
          messagesCount: channel.messagesCount + 1,
          lastMessageIndex: index,
          lastMessageAt: createdAt,
        })
        return { message, duplicate: false }
      })
    },

    async list(actor, serviceSid, channelRef, options, page) {
      const desc = options?.order === 'desc'
      if (options?.order !== undefined && options.order !== 'asc' && options.order !== 'desc') {
        throw new ChatError(20001, 'Order must be asc or desc')
      }
      return ctx.read(async (tx) => {
        const channel = await loadMemberChannel(tx, actor, serviceSid, channelRef)
        return keysetPage(
          page,
          { max: 100, keyOf: (m: Message) => [m.index], keyLength: 1, desc },
          (q) => tx.messages.list(channel.sid, q),
        )
      })
    },

    async fetch(actor, serviceSid, channelRef, messageSid) {
      return ctx.read(async (tx) => {
        const channel = await loadMemberChannel(tx, actor, serviceSid, channelRef)
        return loadMessage(tx, channel, messageSid)
      })
    },

    async fetchByIndex(actor, serviceSid, channelRef, index) {
      return ctx.read(async (tx) => {
        const channel = await loadMemberChannel(tx, actor, serviceSid, channelRef)
        const m = Number.isSafeInteger(index)
          ? await tx.messages.getByIndex(channel.sid, index)
          : undefined
        if (m === undefined) throw new ChatError(20404, 'Message not found')
        return m
      })
    },

    async update(actor, serviceSid, channelRef, messageSid, input) {
      const body = input.body === undefined ? undefined : checkBody(input.body)
      const attributes =
        input.attributes === undefined
          ? undefined
          : checkAttributes(input.attributes, LIMITS.messageAttributesBytes)
      const from =
        actor.kind === 'admin' && input.from !== undefined ? checkAuthor(input.from) : undefined
      const { createdAt, updatedAt } = actor.kind === 'admin' ? checkDates(input) : NO_DATES
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, channelRef)
        let lastUpdatedBy: string | null
        let message: Message
        if (actor.kind === 'user') {
          const access = await memberAccess(w.tx, actor, service, channel)
          message = await loadMessage(w.tx, channel, messageSid)
          const own = message.from === actor.identity
          if (body !== undefined)
            requirePermission(
              access.perms,
              own ? 'editOwnMessage' : 'editAnyMessage',
              'editAnyMessage',
            )
          if (attributes !== undefined) {
            requirePermission(
              access.perms,
              own ? 'editOwnMessageAttributes' : 'editAnyMessageAttributes',
              'editAnyMessageAttributes',
            )
          }
          lastUpdatedBy = actor.identity
        } else {
          message = await loadMessage(w.tx, channel, messageSid)
          lastUpdatedBy = input.lastUpdatedBy ?? 'system'
        }
        const next = await w.emit(
          streams.messages(channel.sid),
          'message_updated',
          String(message.index),
          scopeOf(channel),
          (revision): Message => ({
            ...message,
            body: body ?? message.body,
            attributes: attributes ?? message.attributes,
            from: from ?? message.from,
            wasEdited: message.wasEdited || (body !== undefined && body !== message.body),
            lastUpdatedBy,
            createdAt: createdAt ?? message.createdAt,
            updatedAt: updatedAt ?? w.now,
            revision,
          }),
        )
        await w.tx.messages.put(next)
        // An admin may re-date the newest message: the channel's lastMessage timestamp follows.
        if (next.index === channel.lastMessageIndex && next.createdAt !== channel.lastMessageAt) {
          await saveChannelTx(w, { ...channel, lastMessageAt: next.createdAt })
        }
        return next
      })
    },

    async delete(actor, serviceSid, channelRef, messageSid) {
      await ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, channelRef)
        let message: Message
        if (actor.kind === 'user') {
          const access = await memberAccess(w.tx, actor, service, channel)
          message = await loadMessage(w.tx, channel, messageSid)
          requirePermission(
            access.perms,
            message.from === actor.identity ? 'deleteOwnMessage' : 'deleteAnyMessage',
            'deleteAnyMessage',
          )
        } else message = await loadMessage(w.tx, channel, messageSid)
        await w.tx.messages.delete(message.sid)
        await w.emit(
          streams.messages(channel.sid),
          'message_removed',
          String(message.index),
          scopeOf(channel),
          () => message,
        )
        let lastMessageIndex = channel.lastMessageIndex
        let lastMessageAt = channel.lastMessageAt
        if (message.index === channel.lastMessageIndex) {
          const [newest] = await w.tx.messages.list(channel.sid, { limit: 1, desc: true })
          lastMessageIndex = newest?.index ?? null
          lastMessageAt = newest?.createdAt ?? null
        }
        await saveChannelTx(w, {
          ...channel,
          messagesCount: Math.max(0, channel.messagesCount - 1),
          lastMessageIndex,
          lastMessageAt,
        })
      })
    },
  }
}
