/**
 * The unmodified SDKs against a server whose sockets live in the socket process (`PARLEY_SOCKET_PROCESS`): messaging
 * both ways with twilio-chat 6, then the socket process killed mid-conversation: the clients reconnect on their own
 * (the next upgrade starts a new socket process) and receive what was sent meanwhile, once, in order. And
 * @twilio/conversations 3 end to end.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { socketProcesses } from '../twilsock/support.ts'
import { nextEvent, startChatHarness, type AnyClient } from './support/chat-harness.ts'

test(
  'twilio-chat 6 over the socket process: messages both ways, then a crash of the socket process is survived with nothing lost or repeated',
  { timeout: 60_000 },
  async () => {
    const h = await startChatHarness({ socketProcess: true })
    try {
      const [alice, bob] = await Promise.all([h.chat('alice'), h.chat('bob')])
      const pids = socketProcesses()
      assert.equal(pids.length, 1, 'one socket process serves both clients')

      const chA = await alice.createChannel({ uniqueName: 'pumped' })
      await chA.join()
      const chB = await bob.getChannelByUniqueName('pumped')
      const joined = nextEvent(bob, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      await chB.join()
      await joined
      await Promise.all([chA.getMessages(), chB.getMessages()])

      const bobSeen: string[] = []
      const aliceSeen: string[] = []
      bob.on('messageAdded', (m: AnyClient) => bobSeen.push(m.body))
      alice.on('messageAdded', (m: AnyClient) => aliceSeen.push(m.body))
      const toBob = nextEvent(bob, 'messageAdded', (m: AnyClient) => m.body === 'hi bob')
      await chA.sendMessage('hi bob')
      await toBob
      const toAlice = nextEvent(alice, 'messageAdded', (m: AnyClient) => m.body === 'hi alice')
      await chB.sendMessage('hi alice')
      await toAlice
      const typing = nextEvent(chB, 'typingStarted', (m: AnyClient) => m.identity === 'alice')
      await chA.typing()
      await typing

      // 1. The socket process dies: both clients lose their sockets.
      const aliceDown = nextEvent(alice, 'connectionStateChanged', (s: string) => s !== 'connected')
      const bobDown = nextEvent(bob, 'connectionStateChanged', (s: string) => s !== 'connected')
      process.kill(pids[0]!, 'SIGKILL')
      await Promise.all([aliceDown, bobDown])

      // 2. Meanwhile the channel goes on through the REST side of the core.
      const admin = { kind: 'admin' as const, accountSid: h.creds.account.sid }
      for (const body of ['while down 1', 'while down 2']) {
        await h.parley.core.messages.create(admin, h.creds.service.sid, chA.sid, { body })
      }

      // 3. The clients reconnect by themselves (a new socket process takes them) and catch up exactly once.
      const caughtUp = Promise.all([
        nextEvent(bob, 'messageAdded', (m: AnyClient) => m.body === 'while down 2', 30_000),
        nextEvent(alice, 'messageAdded', (m: AnyClient) => m.body === 'while down 2', 30_000),
      ])
      await caughtUp
      const after = socketProcesses()
      assert.equal(after.length, 1)
      assert.notEqual(after[0], pids[0], 'a new socket process')
      const last = Promise.all(
        [bob, alice].map((c) => nextEvent(c, 'messageAdded', (m: AnyClient) => m.body === 'after')),
      )
      await chA.sendMessage('after')
      await last
      const expected = ['hi bob', 'hi alice', 'while down 1', 'while down 2', 'after']
      assert.deepEqual(bobSeen, expected)
      assert.deepEqual(aliceSeen, expected)
    } finally {
      await h.close()
    }
    assert.deepEqual(socketProcesses(), [], 'the socket process ends with the server')
  },
)

test(
  '@twilio/conversations 3 over the socket process: create, add a participant, send and receive, read horizon',
  { timeout: 45_000 },
  async () => {
    const h = await startChatHarness({ socketProcess: true })
    try {
      const [alice, bob] = await Promise.all([h.conversations('alice'), h.conversations('bob')])
      const conv = await alice.createConversation({ uniqueName: 'pumped-conv' })
      await conv.join()
      const bobJoined = nextEvent(bob, 'conversationJoined', (c: AnyClient) => c.sid === conv.sid)
      await conv.add('bob')
      const convB = await bobJoined
      const got = nextEvent(convB, 'messageAdded', (m: AnyClient) => m.body === 'hello')
      await conv.sendMessage('hello')
      const m = await got
      assert.equal(m.author, 'alice')
      await convB.setAllMessagesRead()
      const horizon = await convB.getUnreadMessagesCount()
      assert.equal(horizon, 0)
    } finally {
      await h.close()
    }
  },
)
