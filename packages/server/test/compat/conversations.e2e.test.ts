import { test } from 'node:test'
import assert from 'node:assert/strict'
import { nextEvent, startChatHarness, type AnyClient } from './support/chat-harness.ts'

test(
  'unmodified @twilio/conversations 3 clients initialise, create a conversation, add a participant and message',
  { timeout: 30_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const [alice, bob] = await Promise.all([h.conversations('alice'), h.conversations('bob')])
      const joined = nextEvent(
        alice,
        'conversationJoined',
        (c: AnyClient) => c.uniqueName === 'conv1',
      )
      const conv = await alice.createConversation({ uniqueName: 'conv1', friendlyName: 'Conv 1' })
      await conv.join()
      await joined
      const bobJoined = nextEvent(bob, 'conversationJoined', (c: AnyClient) => c.sid === conv.sid)
      await conv.add('bob')
      const convB = await bobJoined
      const got = nextEvent(bob, 'messageAdded', (m: AnyClient) => m.body === 'hi bob')
      await conv.sendMessage('hi bob', { x: 1 })
      const m = await got
      assert.equal(m.author, 'alice')
      assert.deepEqual(m.attributes, { x: 1 })
      assert.equal(m.conversation.sid, convB.sid)
      const byName = await bob.getConversationByUniqueName('conv1')
      assert.equal(byName.sid, conv.sid)
      const mine = await bob.getSubscribedConversations()
      assert.ok(mine.items.some((c: AnyClient) => c.sid === conv.sid))
      const read = await convB.setAllMessagesRead()
      assert.equal(read, 0)

      // read horizon: bob's index and unread count, and alice sees bob's participant updated
      await conv.getMessages() // alice's participants map is open: bob's updates arrive as events
      const texts = ['two', 'three', 'four']
      const last = nextEvent(bob, 'messageAdded', (x: AnyClient) => x.body === 'four')
      for (const t of texts) await conv.sendMessage(t)
      assert.equal((await last).index, 3)
      const horizon = nextEvent(
        conv,
        'participantUpdated',
        (e: AnyClient) =>
          e.participant.identity === 'bob' && e.updateReasons.includes('lastReadMessageIndex'),
      )
      assert.equal(await convB.updateLastReadMessageIndex(1), 2)
      assert.equal((await horizon).participant.lastReadMessageIndex, 1)
      assert.equal(await convB.advanceLastReadMessageIndex(0), 2) // never moves backwards
      assert.equal(await convB.setAllMessagesRead(), 0)
      assert.equal(await conv.getParticipantsCount(), 2)
      const page = await convB.getMessages(2)
      assert.deepEqual(
        page.items.map((x: AnyClient) => x.body),
        ['three', 'four'],
      )
    } finally {
      await h.close()
    }
  },
)
