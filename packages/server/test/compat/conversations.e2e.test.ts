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
    } finally {
      await h.close()
    }
  },
)
