import assert from 'node:assert/strict'
import { test } from 'node:test'
import { harness, rejectsCode } from './harness.ts'

test('adding a member auto-creates the user, counts it, and creates a joined user channel', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const m = await h.core.members.create(h.admin, h.serviceSid, 'g', {
    identity: 'alice',
    attributes: '{"x":1}',
  })
  assert.match(m.sid, /^MB[0-9a-f]{32}$/)
  assert.equal(m.roleSid, h.boot.service.defaultChannelRoleSid)
  assert.equal(m.lastConsumedMessageIndex, null)
  const alice = await h.core.users.fetch(h.admin, h.serviceSid, 'alice')
  assert.equal(alice.roleSid, h.boot.service.defaultServiceRoleSid)
  assert.equal(alice.joinedChannelsCount, 1)
  assert.equal((await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)).membersCount, 1)
  const uc = await h.core.userChannels.fetch(h.admin, h.serviceSid, 'alice', 'g')
  assert.equal(uc.status, 'joined')
  assert.equal(uc.memberSid, m.sid)
  assert.deepEqual(await h.core.members.fetch(h.admin, h.serviceSid, 'g', 'alice'), m)
  assert.deepEqual(await h.core.members.fetch(h.admin, h.serviceSid, ch.sid, m.sid), m)
  await rejectsCode(h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'alice' }), 50404)
  await rejectsCode(h.core.members.fetch(h.admin, h.serviceSid, 'g', 'nobody'), 20404)
  await h.close()
})

test('member identity rules apply (50203, 50206, 50207)', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await rejectsCode(
    h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'system' }),
    50203,
  )
  await rejectsCode(
    h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'US' + '1'.repeat(32) }),
    50206,
  )
  await rejectsCode(
    h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'x'.repeat(257) }),
    50207,
  )
  await h.close()
})

test('channel member limit → 50403 and user channel limit → 50208', async () => {
  const h = await harness()
  await h.core.services.update(h.admin, h.serviceSid, {
    limits: { channelMembers: 2, userChannels: 2 },
  })
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'a' })
  await h.core.members.create(h.admin, h.serviceSid, 'a', { identity: 'u1' })
  await h.core.members.create(h.admin, h.serviceSid, 'a', { identity: 'u2' })
  await rejectsCode(h.core.members.create(h.admin, h.serviceSid, 'a', { identity: 'u3' }), 50403)
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'b' })
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'c' })
  await h.core.members.create(h.admin, h.serviceSid, 'b', { identity: 'u1' })
  await rejectsCode(h.core.members.create(h.admin, h.serviceSid, 'c', { identity: 'u1' }), 50208)
  await h.close()
})

test('member role must be a channel role (50101 / 50105); update changes role, attributes and horizon', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await rejectsCode(
    h.core.members.create(h.admin, h.serviceSid, 'g', {
      identity: 'a',
      roleSid: h.boot.service.defaultServiceRoleSid,
    }),
    50105,
  )
  await rejectsCode(
    h.core.members.create(h.admin, h.serviceSid, 'g', {
      identity: 'a',
      roleSid: 'RL' + '9'.repeat(32),
    }),
    50101,
  )
  await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'a' })
  for (let i = 0; i < 5; i++)
    await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: String(i) })
  const m = await h.core.members.update(h.admin, h.serviceSid, 'g', 'a', {
    roleSid: h.boot.service.defaultChannelCreatorRoleSid,
    lastConsumedMessageIndex: 2,
    attributes: '{"k":true}',
  })
  assert.equal(m.roleSid, h.boot.service.defaultChannelCreatorRoleSid)
  assert.equal(m.lastConsumedMessageIndex, 2)
  assert.equal(m.lastConsumptionTimestamp, h.clock.now())
  const uc = await h.core.userChannels.fetch(h.admin, h.serviceSid, 'a', 'g')
  assert.equal(uc.lastConsumedMessageIndex, 2)
  assert.equal(uc.unreadMessagesCount, 2)
  await h.close()
})

test('removing a member decrements counters and removes the user channel', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'a' })
  await h.core.members.delete(h.admin, h.serviceSid, 'g', 'a')
  assert.equal((await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)).membersCount, 0)
  assert.equal((await h.core.users.fetch(h.admin, h.serviceSid, 'a')).joinedChannelsCount, 0)
  await rejectsCode(h.core.userChannels.fetch(h.admin, h.serviceSid, 'a', 'g'), 20404)
  await h.close()
})

test('member list filters by identity and pages', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  for (const id of ['a', 'b', 'c', 'd']) {
    h.clock.advance(1)
    await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: id })
  }
  const f = await h.core.members.list(h.admin, h.serviceSid, 'g', { identities: ['b', 'd'] })
  assert.deepEqual(
    f.items.map((m) => m.identity),
    ['b', 'd'],
  )
  const p1 = await h.core.members.list(h.admin, h.serviceSid, 'g', {}, { pageSize: 3 })
  assert.equal(p1.items.length, 3)
  const p2 = await h.core.members.list(
    h.admin,
    h.serviceSid,
    'g',
    {},
    { pageSize: 3, pageToken: p1.nextPageToken ?? '' },
  )
  assert.deepEqual(
    p2.items.map((m) => m.identity),
    ['d'],
  )
  assert.equal(p2.nextPageToken, null)
  await h.close()
})

test('invites create an invited user channel; joining consumes the invite and uses its role', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'p', type: 'private' })
  const inv = await h.core.invites.create(h.admin, h.serviceSid, 'p', {
    identity: 'bob',
    roleSid: h.boot.service.defaultChannelCreatorRoleSid,
  })
  assert.match(inv.sid, /^IN[0-9a-f]{32}$/)
  assert.equal(inv.createdBy, 'system')
  const again = await h.core.invites.create(h.admin, h.serviceSid, 'p', { identity: 'bob' })
  assert.equal(again.sid, inv.sid)
  const uc = await h.core.userChannels.fetch(h.admin, h.serviceSid, 'bob', 'p')
  assert.equal(uc.status, 'invited')
  assert.equal(uc.memberSid, null)
  // Bob can see the private channel because he is invited, and can join it.
  const bob = h.user('bob')
  await h.core.channels.fetch(bob, h.serviceSid, 'p')
  const m = await h.core.members.create(bob, h.serviceSid, 'p', { identity: 'bob' })
  assert.equal(m.roleSid, h.boot.service.defaultChannelCreatorRoleSid)
  assert.equal((await h.core.invites.list(h.admin, h.serviceSid, 'p')).items.length, 0)
  assert.equal(
    (await h.core.userChannels.fetch(h.admin, h.serviceSid, 'bob', 'p')).status,
    'joined',
  )
  await rejectsCode(h.core.invites.create(h.admin, h.serviceSid, 'p', { identity: 'bob' }), 50404)
  // Declining an invite removes the user channel.
  await h.core.invites.create(h.admin, h.serviceSid, 'p', { identity: 'carol' })
  const carolInvite = (
    await h.core.invites.list(h.admin, h.serviceSid, 'p', { identities: ['carol'] })
  ).items[0]!
  await h.core.invites.delete(h.user('carol'), h.serviceSid, 'p', carolInvite.sid)
  await rejectsCode(h.core.userChannels.fetch(h.admin, h.serviceSid, 'carol', 'p'), 20404)
  await h.close()
})

test('user channels: notification level, consumption horizon, and delete leaves the channel', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'a' })
  const uc = await h.core.userChannels.update(h.admin, h.serviceSid, 'a', 'g', {
    notificationLevel: 'muted',
  })
  assert.equal(uc.notificationLevel, 'muted')
  await rejectsCode(
    h.core.userChannels.update(h.admin, h.serviceSid, 'a', 'g', { notificationLevel: 'loud' }),
    20001,
  )
  const uc2 = await h.core.userChannels.update(h.admin, h.serviceSid, 'a', 'g', {
    lastConsumedMessageIndex: 0,
  })
  assert.equal(uc2.lastConsumedMessageIndex, 0)
  assert.equal(
    (await h.core.members.fetch(h.admin, h.serviceSid, 'g', 'a')).lastConsumedMessageIndex,
    0,
  )
  await h.core.userChannels.delete(h.admin, h.serviceSid, 'a', 'g')
  await rejectsCode(h.core.members.fetch(h.admin, h.serviceSid, 'g', 'a'), 20404)
  await h.close()
})
