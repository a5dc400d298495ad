/**
 * twilio-chat 6 against Parley, two clients: message fields and edits, history paging in both directions with
 * anchors, the consumption horizon seen by the others, typing with the service's timeout, and user profile updates.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  nextEvent,
  rejection,
  rest,
  startChatHarness,
  type AnyClient,
} from './support/chat-harness.ts'

const indexes = (page: AnyClient): number[] => page.items.map((m: AnyClient) => m.index)

test(
  'twilio-chat 6: message fields, attribute edits, paging both ways with anchors, consumption seen by others',
  { timeout: 45_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const [alice, bob] = await Promise.all([h.chat('alice'), h.chat('bob')])
      const chA = await alice.createChannel({ uniqueName: 'history' })
      const aliceJoined = nextEvent(alice, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      await chA.join()
      await aliceJoined
      await chA.getMessages()
      const chB = await bob.getChannelByUniqueName('history')
      const bobJoined = nextEvent(bob, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      const bobSeen = nextEvent(chA, 'memberJoined', (m: AnyClient) => m.identity === 'bob')
      await chB.join()
      await Promise.all([bobJoined, bobSeen, chA.getMessages(), chB.getMessages()])

      // 1. six messages; bob receives every field
      const received: AnyClient[] = []
      const all = new Promise<void>((resolve) => {
        const on = (m: AnyClient): void => {
          received.push(m)
          if (received.length === 6) {
            bob.off('messageAdded', on)
            resolve()
          }
        }
        bob.on('messageAdded', on)
      })
      for (let i = 0; i < 6; i++) assert.equal(await chA.sendMessage(`m${i}`, { n: i }), i)
      await all
      assert.deepEqual(
        received.map((m) => [m.index, m.body, m.author, m.attributes.n]),
        [0, 1, 2, 3, 4, 5].map((i) => [i, `m${i}`, 'alice', i]),
      )
      const first = received[0]
      assert.ok(first.dateCreated instanceof Date && !Number.isNaN(first.dateCreated.getTime()))
      assert.equal(first.type, 'text')
      assert.equal(first.channel.sid, chA.sid)
      // The author's member SID rides along, so getMember() resolves it by SID.
      const aliceMember = await chB.getMemberByIdentity('alice')
      assert.match(first.memberSid, /^MB[0-9a-f]{32}$/)
      assert.equal(first.memberSid, aliceMember.sid)
      assert.equal((await first.getMember()).sid, aliceMember.sid)

      // 2. attribute and body edits: messageUpdated with reasons, lastUpdatedBy and dateUpdated
      const [mine] = (await chA.getMessages(1, 1, 'forward')).items
      const attrs = nextEvent(
        bob,
        'messageUpdated',
        (e: AnyClient) => e.message.index === 1 && e.updateReasons.includes('attributes'),
      )
      await mine.updateAttributes({ n: 1, pinned: true })
      const seenAttrs = (await attrs).message
      assert.deepEqual(seenAttrs.attributes, { n: 1, pinned: true })
      assert.equal(seenAttrs.lastUpdatedBy, 'alice')
      assert.ok(seenAttrs.dateUpdated.getTime() >= seenAttrs.dateCreated.getTime())
      const body = nextEvent(
        bob,
        'messageUpdated',
        (e: AnyClient) => e.message.index === 1 && e.updateReasons.includes('body'),
      )
      await mine.updateBody('m1 (edited)')
      assert.equal((await body).message.body, 'm1 (edited)')

      // 3. paging backwards from the end and from an anchor, forwards from an anchor, both page links
      const last = await chB.getMessages(2)
      assert.deepEqual(indexes(last), [4, 5])
      assert.equal(last.hasNextPage, false)
      assert.equal(last.hasPrevPage, true)
      const before = await last.prevPage()
      assert.deepEqual(indexes(before), [2, 3])
      assert.deepEqual(indexes(await before.prevPage()), [0, 1])
      const anchoredBack = await chB.getMessages(3, 3, 'backwards')
      assert.deepEqual(indexes(anchoredBack), [1, 2, 3])
      assert.equal(anchoredBack.items[0].body, 'm1 (edited)')
      const forward = await chB.getMessages(2, 1, 'forward')
      assert.deepEqual(indexes(forward), [1, 2])
      assert.equal(forward.hasNextPage, true)
      const next = await forward.nextPage()
      assert.deepEqual(indexes(next), [3, 4])
      assert.deepEqual(indexes(await next.nextPage()), [5])
      assert.equal(await chB.getMessagesCount(), 6)

      // 4. a removed message leaves a gap in the indexes
      const removed = nextEvent(bob, 'messageRemoved', (m: AnyClient) => m.index === 2)
      const [third] = (await chA.getMessages(1, 2, 'forward')).items
      await third.remove()
      await removed
      assert.deepEqual(indexes(await chB.getMessages(3, 3, 'backwards')), [0, 1, 3])

      // 5. bob's consumption horizon: his unread count, and alice sees his member updated
      const horizon = nextEvent(
        chA,
        'memberUpdated',
        (e: AnyClient) =>
          e.member.identity === 'bob' && e.updateReasons.includes('lastConsumedMessageIndex'),
      )
      assert.equal(await chB.updateLastConsumedMessageIndex(3), 2)
      const bobForAlice = (await horizon).member
      assert.equal(bobForAlice.lastConsumedMessageIndex, 3)
      assert.ok(bobForAlice.lastConsumptionTimestamp instanceof Date)
      assert.equal(await chB.advanceLastConsumedMessageIndex(1), 2) // never moves backwards
      await chB.setNoMessagesConsumed()
      assert.equal(await chB.setAllMessagesConsumed(), 0)
    } finally {
      await h.close()
    }
  },
)

test(
  "twilio-chat 6: typing starts and ends after the service's timeout; profile updates reach the others",
  { timeout: 45_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const admin = { kind: 'admin' as const, accountSid: h.creds.account.sid }
      await h.parley.core.services.update(admin, h.creds.service.sid, {
        typingIndicatorTimeout: 1,
      })
      const [alice, bob] = await Promise.all([h.chat('alice'), h.chat('bob')])
      const chA = await alice.createChannel({ uniqueName: 'typing' })
      const aliceJoined = nextEvent(alice, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      await chA.join()
      await aliceJoined
      await chA.getMessages() // the roster is open: bob's arrival is a live memberJoined
      const bobSeen = nextEvent(chA, 'memberJoined', (m: AnyClient) => m.identity === 'bob')
      const bobJoined = nextEvent(bob, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      await chA.add('bob')
      const chB = await bobJoined
      await Promise.all([bobSeen, chB.getMessages()])

      // 1. typing: started for alice, then ended on its own once the timeout passes
      const started = nextEvent(chA, 'typingStarted', (m: AnyClient) => m.identity === 'bob')
      const ended = nextEvent(chA, 'typingEnded', (m: AnyClient) => m.identity === 'bob')
      const typingOfBob = nextEvent(alice, 'typingStarted', (m: AnyClient) => m.identity === 'bob')
      await chB.typing()
      const member = await started
      await typingOfBob
      assert.equal(member.isTyping, true)
      await ended
      assert.equal(member.isTyping, false)

      // 2. bob's profile: friendlyName and attributes reach alice's User of bob as updates
      const bobForAlice = await alice.getUser('bob')
      const named = new Promise<void>((resolve) => {
        const on = (e: AnyClient): void => {
          if (bobForAlice.friendlyName !== 'Robert' || !('team' in bobForAlice.attributes)) return
          assert.ok(e.updateReasons.length > 0)
          bobForAlice.off('updated', on)
          resolve()
        }
        bobForAlice.on('updated', on)
      })
      const own = nextEvent(bob.user, 'updated', (e: AnyClient) =>
        e.updateReasons.includes('attributes'),
      )
      await bob.user.updateFriendlyName('Robert')
      await bob.user.updateAttributes({ team: 'blue' })
      await own
      await named
      assert.deepEqual(bobForAlice.attributes, { team: 'blue' })
      // a fresh read agrees (once twilio-chat's 500 ms cache of REST reads has passed: a fresh client has none)
      const carol = await h.chat('carol')
      const descriptor = await carol.getUserDescriptor('bob')
      assert.equal(descriptor.friendlyName, 'Robert')
      assert.deepEqual(descriptor.attributes, { team: 'blue' })
    } finally {
      await h.close()
    }
  },
)

test(
  'twilio-chat 6: messages posted back to back while a client joins reach it once each, in order (first page + messageAdded)',
  { timeout: 60_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const svc = `/v2/Services/${h.creds.service.sid}`
      for (let round = 0; round < 3; round++) {
        const unique = `joining-${round}`
        const ch = await rest(h, 'POST', `${svc}/Channels`, [
          ['UniqueName', unique],
          ['Type', 'public'],
        ])
        assert.equal(ch.status, 201)
        const post = async (body: string): Promise<number> => {
          const r = await rest(h, 'POST', `${svc}/Channels/${ch.body.sid}/Messages`, [
            ['Body', body],
          ])
          assert.equal(r.status, 201)
          return r.body.index as number
        }
        const posted: number[] = []
        for (let i = 0; i < 3; i++) posted.push(await post(`before ${i}`))
        const client = await h.chat(`joiner-${round}`)
        const live: number[] = []
        client.on('messageAdded', (m: AnyClient) => {
          if (m.channel.sid === ch.body.sid) live.push(m.index)
        })
        // 40 more, back to back, from before the join until well after the first page is read.
        const poster = (async () => {
          for (let i = 0; i < 40; i++) posted.push(await post(`during ${i}`))
        })()
        const channel = await client.getChannelByUniqueName(unique)
        await channel.join()
        const page = (await channel.getMessages(100)).items.map((m: AnyClient) => m.index)
        await poster
        // One more after the page was read: it can only arrive live.
        const after = await post('after the page')
        posted.push(after)
        const deadline = Date.now() + 10_000
        while (!live.includes(after) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20))
        // Live events come once each, in order. A message can come both ways (the list subscription is set up
        // ≈ 100 ms after the list opens, so the page may be read after it): together they hold every message once.
        assert.ok(live.includes(after), `round ${round}: the last message did not arrive live`)
        for (let i = 1; i < live.length; i++) assert.ok(live[i]! > live[i - 1]!, `live ${live}`)
        assert.deepEqual(
          [...new Set([...page, ...live])].sort((a, b) => a - b),
          posted,
          `round ${round}`,
        )
      }
    } finally {
      await h.close()
    }
  },
)

test(
  'twilio-chat 6: a body at the 32 KiB limit goes through whatever it is made of (escapes included); one byte more fails with 50504 and the client stays connected',
  { timeout: 45_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const [alice, bob] = await Promise.all([h.chat('alice'), h.chat('bob')])
      const chA = await alice.createChannel({ uniqueName: 'big' })
      await chA.join()
      await chA.getMessages()
      const chB = await bob.getChannelByUniqueName('big')
      await chB.join()
      await chB.getMessages()
      const limit = 32 * 1024
      // In the request's JSON a control character takes six bytes (\u0001), a newline or a quote two, a euro sign
      // three (UTF-8): the frame of a valid message is up to six times its body.
      const bodies = [
        'a'.repeat(limit),
        '\n'.repeat(limit),
        '"'.repeat(limit),
        '\u0001'.repeat(limit),
        '€'.repeat(Math.floor(limit / 3)),
      ]
      for (const [i, text] of bodies.entries()) {
        const seen = nextEvent(bob, 'messageAdded', (m: AnyClient) => m.index === i)
        assert.equal(await chA.sendMessage(text, { i, pad: '"\n'.repeat(1000) }), i)
        const m = await seen
        assert.equal(m.body, text, `body ${i}`)
        assert.equal(m.attributes.i, i)
      }
      assert.deepEqual(await rejection(chA.sendMessage('a'.repeat(limit + 1))), {
        status: 400,
        code: 50504,
      })
      assert.deepEqual(await rejection(chA.sendMessage('€'.repeat(Math.floor(limit / 3) + 1))), {
        status: 400,
        code: 50504,
      })
      assert.equal(alice.connectionState, 'connected')
      assert.equal(await chA.sendMessage('still here'), bodies.length)
    } finally {
      await h.close()
    }
  },
)
