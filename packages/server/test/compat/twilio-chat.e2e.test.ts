import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { nextEvent, startChatHarness, type AnyClient } from './support/chat-harness.ts'

const require = createRequire(import.meta.url)

test(
  'Client.create (the deprecated factory) resolves with an initialized client',
  { timeout: 20_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const { Client } = require('twilio-chat')
      const states: string[] = []
      const carol = await Client.create(h.token('carol'), {
        twilsock: { uri: h.wsUri },
        logLevel: 'silent',
      })
      h.adopt(carol)
      carol.on('stateChanged', (s: string) => states.push(s))
      // create() also resolves after a failed initialisation: prove this one succeeded.
      assert.equal(carol.user.identity, 'carol')
      assert.equal(carol.reachabilityEnabled, false) // throws before initialisation
      assert.equal(carol.connectionState, 'connected')
      assert.deepEqual(states, [])
    } finally {
      await h.close()
    }
  },
)

test(
  'two unmodified twilio-chat 6 clients create, find, join a channel and exchange messages',
  { timeout: 30_000 },
  async () => {
    const h = await startChatHarness()
    try {
      // 1. both clients initialise
      const [alice, bob] = await Promise.all([h.chat('alice'), h.chat('bob')])
      assert.equal(alice.user.identity, 'alice')

      // 2. alice creates a public channel and joins it
      const joinedA = nextEvent(
        alice,
        'channelJoined',
        (c: AnyClient) => c.uniqueName === 'general',
      )
      const chA = await alice.createChannel({
        uniqueName: 'general',
        friendlyName: 'General',
        attributes: { topic: 't' },
      })
      assert.match(chA.sid, /^CH[0-9a-f]{32}$/)
      await chA.join()
      await joinedA
      // alice's roster is open, so bob's join is a live memberJoined (not part of its first read)
      await chA.getMessages()

      // 3. bob finds it in the public directory and by unique name, then joins
      const dir = await bob.getPublicChannelDescriptors()
      const d = dir.items.find((x: AnyClient) => x.uniqueName === 'general')
      assert.ok(d, 'the channel is listed in the public directory')
      assert.equal(d.friendlyName, 'General')
      const chB = await bob.getChannelByUniqueName('general')
      assert.equal(chB.sid, chA.sid)
      const joinedB = nextEvent(bob, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      const memberJoined = nextEvent(chA, 'memberJoined', (m: AnyClient) => m.identity === 'bob')
      await chB.join()
      await joinedB
      await memberJoined
      await chB.getMessages() // bob's messages list is open: new messages arrive as messageAdded

      // 4. alice sends, bob receives author, body and attributes
      const got = nextEvent(bob, 'messageAdded', (m: AnyClient) => m.body === 'hello bob')
      const index = await chA.sendMessage('hello bob', { mood: 'happy' })
      assert.equal(index, 0)
      const m = await got
      assert.equal(m.author, 'alice')
      assert.deepEqual(m.attributes, { mood: 'happy' })
      assert.equal(m.index, 0)

      // 5. history paging
      for (let i = 1; i <= 4; i++) await chA.sendMessage(`m${i}`)
      const page = await chB.getMessages(2)
      assert.deepEqual(
        page.items.map((x: AnyClient) => x.body),
        ['m3', 'm4'],
      )
      assert.ok(page.hasPrevPage)
      const prev = await page.prevPage()
      assert.deepEqual(
        prev.items.map((x: AnyClient) => x.body),
        ['m1', 'm2'],
      )
      const fromAnchor = await chB.getMessages(2, 1, 'forward')
      assert.deepEqual(
        fromAnchor.items.map((x: AnyClient) => x.index),
        [1, 2],
      )

      // 6. a message created through the core (as REST does) arrives live
      const rest = nextEvent(bob, 'messageAdded', (x: AnyClient) => x.body === 'from REST')
      await h.parley.core.messages.create(
        { kind: 'admin', accountSid: h.creds.account.sid },
        h.creds.service.sid,
        chA.sid,
        {
          body: 'from REST',
          from: 'system',
        },
      )
      assert.equal((await rest).author, 'system')

      // 7. bob's subscribed channels include it
      const subscribed = await bob.getSubscribedChannels()
      assert.ok(subscribed.items.some((c: AnyClient) => c.sid === chA.sid))
    } finally {
      await h.close()
    }
  },
)
