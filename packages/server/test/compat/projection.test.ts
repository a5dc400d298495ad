import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChatError } from '@parley/token/errors'
import {
  createChatProjection,
  DEFAULT_AUTH_CACHE_MS,
} from '../../src/compat/twilio/projection/chat-projection.ts'
import { objectSid, parseObjectId } from '../../src/compat/twilio/projection/names.ts'
import { projectEvent } from '../../src/compat/twilio/projection/data.ts'
import type { ChatEvent, Message, UserChannel } from '../../src/core/types.ts'

const CH = 'CH' + 'a'.repeat(32)
const US = 'US' + 'b'.repeat(32)

function ev<T>(type: ChatEvent['type'], key: string | null, data: T, streamSeq = 1): ChatEvent<T> {
  return {
    seq: 1,
    stream: 's',
    streamSeq,
    type,
    key,
    data,
    accountSid: 'AC',
    serviceSid: 'IS',
    createdAt: 1_700_000_000_000,
  }
}

test('object names and SIDs round-trip for every kind', () => {
  assert.deepEqual(parseObjectId('document', `${CH}.channel`), {
    kind: 'channel',
    by: 'entity',
    entitySid: CH,
  })
  assert.deepEqual(parseObjectId('list', `${CH}.messages`), {
    kind: 'messages',
    by: 'entity',
    entitySid: CH,
  })
  assert.deepEqual(parseObjectId('map', `${CH}.roster`), {
    kind: 'roster',
    by: 'entity',
    entitySid: CH,
  })
  assert.deepEqual(parseObjectId('map', 'a.b@c.userInfo'), {
    kind: 'userInfo',
    by: 'identity',
    identity: 'a.b@c',
  })
  assert.deepEqual(parseObjectId('map', 'alice.channels'), {
    kind: 'userChannels',
    by: 'identity',
    identity: 'alice',
  })
  for (const kind of ['channel', 'messages', 'roster'] as const) {
    const type = kind === 'channel' ? 'document' : kind === 'messages' ? 'list' : 'map'
    assert.deepEqual(parseObjectId(type, objectSid(kind, CH)), {
      kind,
      by: 'entity',
      entitySid: CH,
    })
  }
  assert.deepEqual(parseObjectId('map', objectSid('userInfo', US)), {
    kind: 'userInfo',
    by: 'entity',
    entitySid: US,
  })
  assert.equal(parseObjectId('list', `${CH}.channel`), undefined)
  assert.equal(parseObjectId('document', 'nothing'), undefined)
})

test('a message becomes a list item with text, author and JSON attributes', () => {
  const m: Message = {
    sid: 'IM1',
    accountSid: 'AC',
    serviceSid: 'IS',
    channelSid: CH,
    from: 'alice',
    body: 'hi',
    attributes: '{"a":1}',
    index: 4,
    type: 'text',
    media: null,
    wasEdited: false,
    lastUpdatedBy: null,
    clientMessageId: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    revision: 1,
  }
  const [mut] = projectEvent('messages', ev('message_added', '4', m))
  assert.equal(mut?.op, 'item_added')
  assert.ok(mut !== undefined && mut.op === 'item_added')
  assert.equal(mut.key, '4')
  const data = mut.data as Record<string, unknown>
  assert.equal(data['text'], 'hi')
  assert.equal(data['body'], undefined)
  assert.equal(data['author'], 'alice')
  assert.equal(data['attributes'], '{"a":1}')
  assert.equal(data['timestamp'], '2023-11-14T22:13:20Z')
})

test('a user channel becomes a {identity}.channels item naming the channel objects', () => {
  const uc: UserChannel = {
    accountSid: 'AC',
    serviceSid: 'IS',
    channelSid: CH,
    userSid: US,
    identity: 'alice',
    memberSid: 'MB1',
    status: 'joined',
    lastConsumedMessageIndex: null,
    notificationLevel: 'default',
    createdAt: 0,
    updatedAt: 0,
    revision: 1,
  }
  const [mut] = projectEvent('userChannels', ev('user_channel_added', CH, uc))
  assert.ok(mut !== undefined && mut.op === 'item_added')
  assert.equal(mut.key, CH)
  assert.deepEqual(
    { ...(mut.data as object), dateCreated: undefined, dateUpdated: undefined },
    {
      status: 'joined',
      channel: `${CH}.channel`,
      messages: `${CH}.messages`,
      roster: `${CH}.roster`,
      lastConsumedMessageIndex: null,
      notificationLevel: 'default',
      dateCreated: undefined,
      dateUpdated: undefined,
    },
  )
  assert.deepEqual(
    projectEvent('userChannels', ev('user_channel_removed', CH, uc)).map((m) => m.op),
    ['item_removed'],
  )
})

test('access decisions are cached briefly, forgotten on membership changes, and never cached across one', async () => {
  const IS = 'IS' + 'c'.repeat(32)
  const principal = {
    accountSid: 'AC' + 'd'.repeat(32),
    serviceSid: IS,
    identity: 'bob',
    keySid: 'SK',
    endpointId: 'e',
    expiresAt: 0,
  }
  let member = false
  let lookups = 0
  let gate: Promise<void> | undefined
  const core = {
    channels: { fetch: async () => ({ sid: CH, type: 'public' }) },
    members: {
      fetch: async () => {
        lookups++
        const answer = member
        await gate
        if (!answer) throw new ChatError(50200)
        return { identity: 'bob' }
      },
    },
    users: {},
  }
  const projection = createChatProjection({ core: core as never })
  const ref = {
    sid: objectSid('messages', CH),
    uniqueName: `${CH}.messages`,
    type: 'list' as const,
    stream: `messages:${CH}`,
  }
  const at = (type: ChatEvent['type'], stream: string, key: string | null, data: unknown = {}) => ({
    ...ev(type, key, data),
    stream,
  })

  projection.observe?.([at('channel_created', `channel:${CH}`, null, { sid: CH, type: 'public' })])
  // 1. A "no" is cached: the second check does not ask the core.
  assert.equal(await projection.authorize(ref, principal), false)
  assert.equal(await projection.authorize(ref, principal), false)
  assert.equal(lookups, 1)

  // 2. A join on this channel forgets it.
  member = true
  projection.observe?.([at('member_added', `members:${CH}`, 'MB1')])
  assert.equal(await projection.authorize(ref, principal), true)
  assert.equal(lookups, 2)

  // 3. Counter updates (channel_updated without a type change) keep the cache; a type change does not.
  projection.observe?.([at('channel_updated', `channel:${CH}`, null, { sid: CH, type: 'public' })])
  assert.equal(await projection.authorize(ref, principal), true)
  assert.equal(lookups, 2)
  projection.observe?.([at('channel_updated', `channel:${CH}`, null, { sid: CH, type: 'private' })])
  assert.equal(await projection.authorize(ref, principal), true)
  assert.equal(lookups, 3)

  // 4. A decision read before a membership change is returned but not cached.
  member = false
  projection.observe?.([at('member_removed', `members:${CH}`, 'MB1')])
  let open!: () => void
  gate = new Promise((r) => (open = r))
  const before = lookups
  const stale = projection.authorize(ref, principal) // reads "not a member"
  while (lookups === before) await new Promise((r) => setImmediate(r))
  member = true
  projection.observe?.([at('user_channel_added', `userchannels:${US}`, CH)])
  open()
  assert.equal(await stale, false)
  gate = undefined
  assert.equal(await projection.authorize(ref, principal), true)
  assert.equal(lookups, 5)
})

test('a cached access decision is looked up again once the cache period (default 30 s) has passed, with no event in between', async () => {
  let t = 1_000_000
  let member = true
  let lookups = 0
  const core = {
    channels: { fetch: async () => ({ sid: CH, type: 'public' }) },
    members: {
      fetch: async () => {
        lookups++
        if (!member) throw new ChatError(50200)
        return { identity: 'bob' }
      },
    },
    users: {},
  }
  const projection = createChatProjection({ core: core as never, now: () => t })
  const ref = {
    sid: objectSid('messages', CH),
    uniqueName: `${CH}.messages`,
    type: 'list' as const,
    stream: `messages:${CH}`,
  }
  const principal = {
    accountSid: 'AC' + 'd'.repeat(32),
    serviceSid: 'IS' + 'c'.repeat(32),
    identity: 'bob',
    keySid: 'SK',
    endpointId: 'e',
    expiresAt: 0,
  }
  assert.equal(await projection.authorize(ref, principal), true)
  // A change no event announced: seen only after the cache period.
  member = false
  assert.equal(DEFAULT_AUTH_CACHE_MS, 30_000)
  t += DEFAULT_AUTH_CACHE_MS - 1
  assert.equal(await projection.authorize(ref, principal), true)
  assert.equal(lookups, 1)
  t += 1
  assert.equal(await projection.authorize(ref, principal), false)
  assert.equal(lookups, 2)
})
