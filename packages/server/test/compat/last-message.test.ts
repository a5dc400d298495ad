/**
 * The channel document's `lastMessage` and counts are live: the core emits `channel_updated` with every message
 * posted or removed (and every join or leave), and the projection turns it into `document_updated`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTwilioCompat } from '../../src/compat/twilio/index.ts'
import { harness } from '../core/harness.ts'
import { nextEvent, startChatHarness, type AnyClient } from './support/chat-harness.ts'
import { compatCaller, waitFor } from './support/fakes.ts'

/** The compat layer over a bare core (no HTTP, no sockets); sessions are fakes that record notifications. */
async function setup() {
  const h = await harness()
  const compat = createTwilioCompat({
    core: h.core,
    bus: h.bus,
    onError: (e) => assert.fail(String(e)),
  })
  return {
    ...compatCaller(compat.upstream, h.boot.account.sid, h.serviceSid),
    async close() {
      compat.close()
      await h.close()
    },
  }
}

test('a subscriber of the channel document gets lastMessage and messagesCount live, on post and on remove', async () => {
  const h = await setup()
  try {
    const alice = h.session('alice')
    const bob = h.session('bob')
    const ch = await h.call(alice, 'POST', '/Client/v1/Channels', { unique_name: 'live' })
    for (const [s, id] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const) {
      await h.call(s, 'POST', `/Client/v1/Channels/${ch.body.sid}/Participants`, { identity: id })
    }
    // 1. bob subscribes to the document from its current state.
    const doc = await h.call(bob, 'GET', `/v3/Documents/${ch.body.sid}.channel`)
    assert.equal(doc.status, 200)
    assert.equal(doc.body.data.lastMessage, undefined)
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
    await waitFor(() => bob.control('subscription_established').length === 1, 20_000)
    const updates = () => bob.syncEvents().filter((e) => e.type === 'document_updated')
    // 2. alice posts twice: two document_updated events with increasing ids and the new lastMessage.
    const m0 = await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Messages`, {
      body: 'one',
    })
    const m1 = await h.call(alice, 'POST', `/Client/v1/Channels/${ch.body.sid}/Messages`, {
      body: 'two',
    })
    await waitFor(() => updates().length === 2, 20_000)
    const [u0, u1] = updates()
    assert.equal(u0!.event.document_sid, doc.body.sid)
    assert.ok(u0!.id > doc.body.last_event_id && u1!.id === u0!.id + 1)
    assert.equal(u0!.event.document_data.lastMessage.index, Number(m0.body.index))
    assert.equal(u1!.event.document_data.lastMessage.index, Number(m1.body.index))
    assert.match(u1!.event.document_data.lastMessage.timestamp, /^\d{4}-\d\d-\d\dT/)
    assert.equal(u1!.event.document_data.messagesCount, 2)
    assert.equal(u1!.event.document_data.friendlyName, doc.body.data.friendlyName)
    // 3. alice removes the newest: lastMessage moves back, the count drops.
    await h.call(alice, 'DELETE', `/Client/v1/Channels/${ch.body.sid}/Messages/${m1.body.sid}`)
    await waitFor(() => updates().length === 3, 20_000)
    const u2 = updates()[2]!
    assert.equal(u2.event.document_data.lastMessage.index, Number(m0.body.index))
    assert.equal(u2.event.document_data.messagesCount, 1)
    // 4. A fresh read agrees with what was delivered live.
    const again = await h.call(bob, 'GET', `/v3/Documents/${ch.body.sid}.channel`)
    assert.equal(again.body.last_event_id, u2.id)
    assert.deepEqual(again.body.data.lastMessage, u2.event.document_data.lastMessage)
  } finally {
    await h.close()
  }
})

test(
  'an unmodified twilio-chat 6 client sees channel.lastMessage change live (updated, reason lastMessage)',
  { timeout: 60_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const [alice, bob] = await Promise.all([h.chat('alice'), h.chat('bob')])
      const chA = await alice.createChannel({ uniqueName: 'lm' })
      await chA.join()
      const chB = await bob.getChannelByUniqueName('lm')
      const joined = nextEvent(bob, 'channelJoined', (c: AnyClient) => c.sid === chB.sid, 20_000)
      await chB.join()
      await joined
      assert.equal(chB.lastMessage, undefined)
      const updated = nextEvent(
        bob,
        'channelUpdated',
        (e: AnyClient) => e.channel.sid === chB.sid && e.updateReasons.includes('lastMessage'),
        20_000,
      )
      const index = await chA.sendMessage('hello')
      await updated
      assert.equal(chB.lastMessage.index, index)
      assert.ok(chB.lastMessage.dateCreated instanceof Date)
    } finally {
      await h.close()
    }
  },
)
