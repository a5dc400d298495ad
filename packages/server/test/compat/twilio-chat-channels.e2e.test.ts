/**
 * twilio-chat 6 against Parley, several clients per scenario: channel kinds and lookups, membership changes and their
 * events, changes made through the REST API, and permissions from roles surfacing as Twilio error codes in the SDK.
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

/**
 * Client options: twilio-chat caches its REST reads (directory, my channels, counts) for `http_cache_interval` / 10
 * (500 ms), documented as "eventually correct"; the tests read right after changing, so they turn the cache off.
 */
const NO_CACHE = { httpCacheIntervalOverride: 'PT0S' }

/** Joins `channel` and resolves once the client has it as joined with its messages list open. */
async function join(client: AnyClient, channel: AnyClient): Promise<void> {
  const joined = nextEvent(client, 'channelJoined', (c: AnyClient) => c.sid === channel.sid)
  await channel.join()
  await joined
  await channel.getMessages()
}

test(
  'twilio-chat 6: public and private channels with and without unique names; directory, my channels, lookups',
  { timeout: 45_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const [alice, bob] = await Promise.all([h.chat('alice', NO_CACHE), h.chat('bob', NO_CACHE)])
      // 1. four kinds of channel
      const pub = await alice.createChannel({ uniqueName: 'pub', friendlyName: 'Pub' })
      const anon = await alice.createChannel({ friendlyName: 'Anon', attributes: { a: 1 } })
      const priv = await alice.createChannel({ uniqueName: 'priv', isPrivate: true })
      const privAnon = await alice.createChannel({ friendlyName: 'Hidden', isPrivate: true })
      assert.deepEqual(
        [pub.isPrivate, anon.isPrivate, priv.isPrivate, privAnon.isPrivate],
        [false, false, true, true],
      )
      assert.equal(anon.uniqueName, null)
      assert.equal(pub.createdBy, 'alice')
      for (const ch of [pub, anon, priv, privAnon]) await join(alice, ch)

      // 2. the public directory lists the public ones only, for anybody
      const dir = await bob.getPublicChannelDescriptors()
      const listed = dir.items.map((d: AnyClient) => d.sid).sort()
      assert.deepEqual(listed, [pub.sid, anon.sid].sort())
      const anonDescriptor = dir.items.find((d: AnyClient) => d.sid === anon.sid)
      assert.equal(anonDescriptor.friendlyName, 'Anon')
      assert.deepEqual(anonDescriptor.attributes, { a: 1 })
      assert.equal(anonDescriptor.membersCount, 1)

      // 3. my channels: alice's four, joined; bob has none
      const mine = await alice.getUserChannelDescriptors()
      assert.deepEqual(
        mine.items.map((d: AnyClient) => d.sid).sort(),
        [pub.sid, anon.sid, priv.sid, privAnon.sid].sort(),
      )
      assert.ok(mine.items.every((d: AnyClient) => d.status === 'joined'))
      assert.equal((await bob.getUserChannelDescriptors()).items.length, 0)
      const subscribed = await alice.getSubscribedChannels()
      assert.equal(subscribed.items.length, 4)

      // 4. lookups by SID and unique name; private channels stay invisible to non-members
      assert.equal((await bob.getChannelBySid(anon.sid)).friendlyName, 'Anon')
      assert.equal((await bob.getChannelByUniqueName('pub')).sid, pub.sid)
      await assert.rejects(bob.getChannelByUniqueName('priv'))
      await assert.rejects(bob.getChannelBySid(privAnon.sid))
      // ... also through Sync: the messages list of a private channel is not found for a non-member
      const sync = bob.services.syncClient
      await assert.rejects(sync.list({ id: `${priv.sid}.messages`, mode: 'open_existing' }), {
        status: 404,
      })
      // ... and a public channel's messages are for members only (403, "User not authorized for command")
      await assert.rejects(sync.list({ id: `${pub.sid}.messages`, mode: 'open_existing' }), {
        status: 403,
      })
    } finally {
      await h.close()
    }
  },
)

test(
  'twilio-chat 6: add, member attributes, channel attributes, remove and leave raise their events everywhere',
  { timeout: 45_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const [alice, bob, carol] = await Promise.all([
        h.chat('alice', NO_CACHE),
        h.chat('bob', NO_CACHE),
        h.chat('carol', NO_CACHE),
      ])
      const chA = await alice.createChannel({ uniqueName: 'team' })
      await join(alice, chA)

      // 1. add: channelJoined for the added users, memberJoined for the others
      const bobJoined = nextEvent(bob, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      const carolJoined = nextEvent(carol, 'channelJoined', (c: AnyClient) => c.sid === chA.sid)
      const seenBob = nextEvent(chA, 'memberJoined', (m: AnyClient) => m.identity === 'bob')
      const seenCarol = nextEvent(chA, 'memberJoined', (m: AnyClient) => m.identity === 'carol')
      await chA.add('bob')
      await chA.add('carol')
      const chB = await bobJoined
      const chC = await carolJoined
      await Promise.all([seenBob, seenCarol, chB.getMessages(), chC.getMessages()])
      assert.equal(await chA.getMembersCount(), 3)

      // 2. a member's attributes: memberUpdated for the others
      const updated = nextEvent(
        chA,
        'memberUpdated',
        (e: AnyClient) => e.member.identity === 'bob' && e.updateReasons.includes('attributes'),
      )
      const me = await chB.getMemberByIdentity('bob')
      await me.updateAttributes({ title: 'lead' })
      assert.deepEqual((await updated).member.attributes, { title: 'lead' })

      // 3. channel attributes: channelUpdated for every member
      const chUpdated = nextEvent(
        bob,
        'channelUpdated',
        (e: AnyClient) => e.channel.sid === chA.sid && e.updateReasons.includes('attributes'),
      )
      await chA.updateAttributes({ topic: 'launch' })
      await chUpdated
      assert.deepEqual(chB.attributes, { topic: 'launch' })

      // 4. remove: channelLeft for the removed user, memberLeft for the others
      const carolLeft = nextEvent(carol, 'channelLeft', (c: AnyClient) => c.sid === chA.sid)
      const goneForAlice = nextEvent(chA, 'memberLeft', (m: AnyClient) => m.identity === 'carol')
      const goneForBob = nextEvent(chB, 'memberLeft', (m: AnyClient) => m.identity === 'carol')
      await chA.removeMember('carol')
      await Promise.all([carolLeft, goneForAlice, goneForBob])
      assert.equal(chC.status, 'notParticipating')
      // carol is out: she may no longer post
      const refused = await rejection(chC.sendMessage('let me in'))
      assert.deepEqual(refused, { status: 403, code: 50400 })

      // 5. leave
      const bobLeft = nextEvent(bob, 'channelLeft', (c: AnyClient) => c.sid === chA.sid)
      const bobGone = nextEvent(chA, 'memberLeft', (m: AnyClient) => m.identity === 'bob')
      await chB.leave()
      await Promise.all([bobLeft, bobGone])
      assert.equal(await chA.getMembersCount(), 1)
    } finally {
      await h.close()
    }
  },
)

test(
  'twilio-chat 6: REST changes arrive live, and a permission removed from the channel role fails with 50107',
  { timeout: 45_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const IS = h.creds.service.sid
      const [alice, bob] = await Promise.all([h.chat('alice'), h.chat('bob')])
      const chA = await alice.createChannel({ uniqueName: 'ops', friendlyName: 'Ops' })
      await join(alice, chA)
      const chB = await bob.getChannelByUniqueName('ops')
      await join(bob, chB)

      // 1. a system message posted over REST reaches both clients live
      const toBob = nextEvent(bob, 'messageAdded', (m: AnyClient) => m.body === 'maintenance')
      const toAlice = nextEvent(alice, 'messageAdded', (m: AnyClient) => m.body === 'maintenance')
      const posted = await rest(h, 'POST', `/v2/Services/${IS}/Channels/${chA.sid}/Messages`, [
        ['Body', 'maintenance'],
        ['Attributes', '{"level":"info"}'],
      ])
      assert.equal(posted.status, 201)
      const m = await toBob
      assert.equal(m.author, 'system')
      assert.deepEqual(m.attributes, { level: 'info' })
      await toAlice

      // 2. a rename over REST: channelUpdated
      const renamed = nextEvent(
        bob,
        'channelUpdated',
        (e: AnyClient) => e.channel.sid === chA.sid && e.updateReasons.includes('friendlyName'),
      )
      const upd = await rest(h, 'POST', `/v2/Services/${IS}/Channels/${chA.sid}`, [
        ['FriendlyName', 'Operations'],
      ])
      assert.equal(upd.status, 200)
      await renamed
      assert.equal(chB.friendlyName, 'Operations')

      // 3. the service's channel user role loses sendMessage (REST): bob's send fails with Twilio's 50107;
      //    alice, the creator, has the channel admin role and still may
      const service = await rest(h, 'GET', `/v2/Services/${IS}`)
      const roleSid: string = service.body.default_channel_role_sid
      const role = await rest(h, 'GET', `/v2/Services/${IS}/Roles/${roleSid}`)
      const kept = (role.body.permissions as string[]).filter((p) => p !== 'sendMessage')
      assert.ok(kept.length < role.body.permissions.length)
      const changed = await rest(
        h,
        'POST',
        `/v2/Services/${IS}/Roles/${roleSid}`,
        kept.map((p): [string, string] => ['Permission', p]),
      )
      assert.equal(changed.status, 200)
      assert.deepEqual(await rejection(chB.sendMessage('muted?')), { status: 403, code: 50107 })
      const got = nextEvent(bob, 'messageAdded', (x: AnyClient) => x.body === 'admin speaks')
      await chA.sendMessage('admin speaks')
      await got

      // ... and what the channel user role never had: editing or deleting others' messages, removing members
      const [adminMessage] = (await chB.getMessages(1)).items
      assert.equal(adminMessage.author, 'alice')
      assert.deepEqual(await rejection(adminMessage.updateBody('hijacked')), {
        status: 403,
        code: 50107,
      })
      assert.deepEqual(await rejection(adminMessage.remove()), { status: 403, code: 50107 })
      assert.deepEqual(await rejection(chB.removeMember('alice')), { status: 403, code: 50107 })

      // 4. the permission restored: bob may send again
      await rest(
        h,
        'POST',
        `/v2/Services/${IS}/Roles/${roleSid}`,
        [...kept, 'sendMessage'].map((p): [string, string] => ['Permission', p]),
      )
      const back = nextEvent(alice, 'messageAdded', (x: AnyClient) => x.body === 'unmuted')
      await chB.sendMessage('unmuted')
      assert.equal((await back).author, 'bob')
    } finally {
      await h.close()
    }
  },
)
