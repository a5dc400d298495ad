import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTwilioCompat } from '../../src/compat/twilio/index.ts'
import { loadConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/http/log.ts'
import { createParleyServer } from '../../src/main.ts'
import { compatCaller, request, waitFor } from './support/fakes.ts'

async function setup() {
  const parley = await createParleyServer(loadConfig({ port: 0, host: '127.0.0.1' }, {}), {
    storage: 'memory',
    bootstrap: true,
    logger: silentLogger,
    twilio: false,
  })
  const creds = parley.bootstrapped!
  const compat = createTwilioCompat({
    core: parley.core,
    bus: parley.bus,
    onError: (e) => assert.fail(String(e)),
  })
  const { session, call } = compatCaller(compat.upstream, creds.account.sid, creds.service.sid)
  return {
    parley,
    compat,
    session,
    call,
    async close() {
      compat.close()
      await parley.close()
    },
  }
}

test('Configuration announces links, options and the per-user Sync objects, and creates the user', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice@example.com')
    const v1 = await h.call(alice, 'GET', '/Client/v1/Configuration')
    assert.equal(v1.status, 200)
    assert.equal(v1.body.identity, 'alice@example.com')
    assert.equal(v1.body.sync_objects.my_user_info, 'alice@example.com.userInfo')
    assert.equal(v1.body.sync_objects.my_conversations, 'alice@example.com.channels')
    assert.equal(
      v1.body.links.my_conversations,
      'https://aim.us1.twilio.com/Client/v1/Users/alice%40example.com/Channels',
    )
    assert.match(v1.body.options.consumption_report_interval, /^PT\d+S$/)
    const v2 = await h.call(alice, 'GET', '/Client/v2/Configuration')
    assert.ok(v2.body.links.media_set_service)
    const map = await h.call(alice, 'GET', '/v3/Maps/alice%40example.com.userInfo', undefined)
    assert.equal(map.status, 200)
    assert.match(map.body.sid, /^MU[0-9a-f]{32}$/)
  } finally {
    await h.close()
  }
})

test('a retried mutation with the same X-Twilio-Mutation-Id is applied once', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice')
    const ch = await h.call(alice, 'POST', '/Client/v1/Channels', {
      unique_name: 'idem',
      type: 'public',
    })
    assert.equal(ch.status, 201)
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'alice',
    })
    const headers = { 'x-twilio-mutation-id': '5b2c7f1e-0000-4000-8000-000000000001' }
    const path = `/Client/v1/Channels/${ch.body.sid}/Messages`
    const [a, b] = await Promise.all([
      h.call(alice, 'POST', path, { body: 'once', attributes: '{}' }, headers),
      h.call(alice, 'POST', path, { body: 'once', attributes: '{}' }, headers),
    ])
    const c = await h.call(alice, 'POST', path, { body: 'once', attributes: '{}' }, headers)
    assert.equal(a.body.sid, b.body.sid)
    assert.equal(a.body.sid, c.body.sid)
    assert.equal(a.body.index, 0)
    const list = await h.call(alice, 'GET', `/v3/Lists/${ch.body.sid}.messages/Items`)
    assert.equal(list.body.items.length, 1)
    // The same id with another request is refused (reliability.md §2.5), on the same channel or another one.
    const other = await h.call(alice, 'POST', path, { body: 'twice', attributes: '{}' }, headers)
    assert.deepEqual([other.status, other.body.code, other.body.status], [422, 20422, 422])
    const ch2 = await h.call(alice, 'POST', '/Client/v1/Channels', { unique_name: 'idem2' })
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch2.body.sid}/Participants`, {
      identity: 'alice',
    })
    const path2 = `/Client/v1/Channels/${ch2.body.sid}/Messages`
    const elsewhere = await h.call(
      alice,
      'POST',
      path2,
      { body: 'once', attributes: '{}' },
      headers,
    )
    assert.deepEqual([elsewhere.status, elsewhere.body.code], [422, 20422])
    const list2 = await h.call(alice, 'GET', `/v3/Lists/${ch2.body.sid}.messages/Items`)
    assert.equal(list2.body.items.length, 0)
    // Ids are per user: bob's request with the same id is his own.
    const bob = h.session('bob')
    await h.call(bob, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'bob',
    })
    const bobs = await h.call(bob, 'POST', path, { body: 'twice', attributes: '{}' }, headers)
    assert.deepEqual([bobs.status, bobs.body.index], [201, 1])
  } finally {
    await h.close()
  }
})

test('one send retried 25 times over REST and 25 times over Twilsock at once is stored once; all 50 answers agree (R02)', async () => {
  const h = await setup()
  try {
    const creds = h.parley.bootstrapped!
    const alice = h.session('alice')
    const ch = await h.call(alice, 'POST', '/Client/v1/Channels', { unique_name: 'race' })
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'alice',
    })
    const key = 'race-5b2c7f1e-0000-4000-8000-000000000002'
    const restSend = async (body: string, idempotencyKey = key) => {
      const res = await h.parley.app.fetch(
        new Request(
          `http://127.0.0.1/v2/Services/${creds.service.sid}/Channels/${ch.body.sid}/Messages`,
          {
            method: 'POST',
            headers: {
              authorization:
                'Basic ' +
                Buffer.from(`${creds.account.sid}:${creds.authToken}`).toString('base64'),
              'content-type': 'application/x-www-form-urlencoded',
              'i-twilio-idempotency-token': idempotencyKey,
            },
            body: new URLSearchParams({ Body: body, From: 'alice' }).toString(),
          },
        ),
      )
      const json = (await res.json()) as { sid?: string; index?: number; code?: number }
      return { status: res.status, sid: json.sid, index: json.index, code: json.code }
    }
    const path = `/Client/v1/Channels/${ch.body.sid}/Messages`
    const wsSend = async (body: string) => {
      const r = await h.call(
        alice,
        'POST',
        path,
        { body, attributes: '{}' },
        { 'x-twilio-mutation-id': key },
      )
      return { status: r.status, sid: r.body.sid, index: r.body.index, code: r.body.code }
    }
    const all = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? restSend('hello') : wsSend('hello'))),
    )
    const first = all[0]!
    assert.match(first.sid ?? '', /^IM[0-9a-f]{32}$/)
    for (const r of all) {
      assert.ok(r.status === 201 || r.status === 200, `status ${r.status} code ${r.code}`)
      assert.deepEqual([r.sid, r.index], [first.sid, 0])
    }
    const list = await h.call(alice, 'GET', `/v3/Lists/${ch.body.sid}.messages/Items`)
    assert.equal(list.body.items.length, 1)
    // The key with another body is refused on both paths, and stores nothing.
    assert.deepEqual(await restSend('changed'), {
      status: 422,
      sid: undefined,
      index: undefined,
      code: 20422,
    })
    const changed = await wsSend('changed')
    assert.deepEqual([changed.status, changed.code], [422, 20422])
    // A key longer than a client message id may be is refused, not cut short.
    const long = await restSend('x', 'k'.repeat(300))
    assert.deepEqual([long.status, long.code], [400, 20001])
    assert.equal(
      (await h.call(alice, 'GET', `/v3/Lists/${ch.body.sid}.messages/Items`)).body.items.length,
      1,
    )
  } finally {
    await h.close()
  }
})

test('errors carry the Twilio code and status; Sync reads are authorized at operation time', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice')
    const bob = h.session('bob')
    await h.call(bob, 'GET', '/Client/v1/Configuration')
    const pub = await h.call(alice, 'POST', '/Client/v1/Channels', { unique_name: 'pub' })
    const priv = await h.call(alice, 'POST', '/Client/v1/Channels', {
      unique_name: 'priv',
      type: 'private',
    })
    await h.call(alice, 'POST', `/Client/v1/Channels/${priv.body.sid}/Participants`, {
      identity: 'alice',
    })
    // 1. unknown channel: 404 with Twilio's channel code
    const missing = await h.call(bob, 'GET', '/Client/v1/Channels/nope')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.code, 50300)
    assert.equal(missing.body.status, 404)
    // 2. public channel: document visible, history only for members (403)
    assert.equal((await h.call(bob, 'GET', `/v3/Documents/${pub.body.sid}.channel`)).status, 200)
    assert.equal((await h.call(bob, 'GET', `/v3/Lists/${pub.body.sid}.messages`)).status, 403)
    // 3. private channel: invisible (404) to non-members, readable to members
    assert.equal((await h.call(bob, 'GET', `/v3/Documents/${priv.body.sid}.channel`)).status, 404)
    assert.equal((await h.call(alice, 'GET', `/v3/Lists/${priv.body.sid}.messages`)).status, 200)
    // 4. somebody else's channel list and map are invisible
    assert.equal((await h.call(bob, 'GET', '/Client/v1/Users/alice/Channels')).status, 404)
    assert.equal((await h.call(bob, 'GET', '/v3/Maps/alice.channels')).status, 404)
    // 5. sending without membership is refused by the core's permissions
    const send = await h.call(bob, 'POST', `/Client/v1/Channels/${pub.body.sid}/Messages`, {
      body: 'x',
    })
    assert.ok(send.status === 403 || send.status === 404, `status ${send.status}`)
    assert.equal(typeof send.body.code, 'number')
  } finally {
    await h.close()
  }
})

test('a member removed from a channel stops receiving its live events at once', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice')
    const bob = h.session('bob')
    const ch = await h.call(alice, 'POST', '/Client/v1/Channels', { unique_name: 'kick' })
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'alice',
    })
    await h.call(bob, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'bob',
    })
    const list = await h.call(bob, 'GET', `/v3/Lists/${ch.body.sid}.messages`)
    await h.call(bob, 'POST', '/v4/Subscriptions', {
      action: 'establish',
      correlation_id: 7,
      requests: [
        { object_sid: list.body.sid, object_type: 'list', last_event_id: list.body.last_event_id },
      ],
    })
    await waitFor(() => bob.control('subscription_established').length === 1)
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Messages`, { body: 'one' })
    await waitFor(() => bob.syncEvents().length === 1)
    await h.call(bob, 'DELETE', `/Client/v1/Channels/${ch.body.sid}/Participants/bob`)
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Messages`, { body: 'two' })
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(
      bob.syncEvents().map((e) => e.event.item_data.text),
      ['one'],
    )
    assert.equal(h.compat.sync.subscriptionCount(), 0)
  } finally {
    await h.close()
  }
})

test('subscribers of a deleted channel still get document_removed, then nothing', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice')
    const bob = h.session('bob')
    const ch = await h.call(alice, 'POST', '/Client/v1/Channels', { unique_name: 'doomed' })
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'alice',
    })
    await h.call(bob, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'bob',
    })
    const doc = await h.call(bob, 'GET', `/v3/Documents/${ch.body.sid}.channel`)
    await h.call(bob, 'POST', '/v4/Subscriptions', {
      action: 'establish',
      correlation_id: 1,
      requests: [
        {
          object_sid: doc.body.sid,
          object_type: 'document',
          last_event_id: doc.body.last_event_id,
        },
      ],
    })
    await waitFor(() => bob.control('subscription_established').length === 1)
    const del = await h.call(alice, 'DELETE', `/Client/v1/Channels/${ch.body.sid}`)
    assert.equal(del.status, 200)
    await waitFor(() => bob.syncEvents().some((e) => e.type === 'document_removed'))
    assert.equal(bob.syncEvents().at(-1)?.event.document_sid, doc.body.sid)
    assert.equal(h.compat.sync.subscriptionCount(), 0)
  } finally {
    await h.close()
  }
})

test('user descriptors by channel, my-channels paging fields, typing to the other members only', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice')
    const bob = h.session('bob')
    const ch = await h.call(alice, 'POST', '/Client/v1/Channels', {
      unique_name: 'room',
      friendly_name: 'Room',
    })
    for (const [s, id] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const) {
      await h.call(s, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, { identity: id })
    }
    const users = await h.compat.upstream(
      {
        ...request(
          'GET',
          '/Client/v1/Users',
          { ConversationSid: ch.body.sid },
          undefined,
          'aim.us1.twilio.com',
        ),
      },
      alice,
    )
    const body = users.body as any
    assert.deepEqual(body.users.map((u: any) => u.identity).sort(), ['alice', 'bob'])
    assert.equal(body.users[0].sync_objects.user_info_map, `${body.users[0].identity}.userInfo`)
    const mine = await h.call(bob, 'GET', '/Client/v1/Users/bob/Channels')
    assert.equal(mine.body.conversations[0].conversation_sid, ch.body.sid)
    assert.equal(mine.body.conversations[0].status, 'joined')
    assert.equal(mine.body.conversations[0].sync_objects.conversation, `${ch.body.sid}.channel`)
    assert.equal(mine.body.conversations[0].friendly_name, 'Room')
    assert.equal(mine.body.meta.next_token, null)
    const typing = await h.compat.upstream(
      {
        ...request(
          'POST',
          '/Client/v1/Typing',
          {},
          `ChannelSid=${ch.body.sid}`,
          'aim.us1.twilio.com',
        ),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      bob,
    )
    assert.equal(typing.status, 200)
    assert.equal(typeof (typing.body as any).typing_timeout, 'number')
    const got = alice.sent.filter((x) => x.type === 'twilio.ipmsg.typing_indicator')
    assert.deepEqual(
      got.map((x) => [x.payload.channel_sid, x.payload.identity]),
      [[ch.body.sid, 'bob']],
    )
    assert.equal(bob.sent.filter((x) => x.type === 'twilio.ipmsg.typing_indicator').length, 0)
  } finally {
    await h.close()
  }
})

test('a channel document read shows the current lastMessage and counts', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice')
    const ch = await h.call(alice, 'POST', '/Client/v1/Channels', { unique_name: 'lm' })
    await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, {
      identity: 'alice',
    })
    const before = await h.call(alice, 'GET', `/v3/Documents/${ch.body.sid}.channel`)
    assert.equal(before.body.data.lastMessage, undefined)
    for (const body of ['a', 'b'])
      await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Messages`, { body })
    const doc = await h.call(alice, 'GET', `/v3/Documents/${ch.body.sid}.channel`)
    assert.equal(doc.body.data.lastMessage.index, 1)
    assert.match(doc.body.data.lastMessage.timestamp, /Z$/)
    assert.equal(doc.body.data.messagesCount, 2)
    assert.equal(doc.body.data.membersCount, 1)
    assert.equal(doc.body.data.messages, `${ch.body.sid}.messages`)
  } finally {
    await h.close()
  }
})
