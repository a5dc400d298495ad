import assert from 'node:assert/strict'
import { test } from 'node:test'
import { harness, rejectsCode } from './harness.ts'

test('a user creating a channel is recorded as created_by, and joining gives the creator role', async () => {
  const h = await harness()
  const alice = h.user('alice')
  const ch = await h.core.channels.create(alice, h.serviceSid, {
    uniqueName: 'mine',
    createdBy: 'mallory',
  })
  assert.equal(ch.createdBy, 'alice')
  const m = await h.core.members.create(alice, h.serviceSid, 'mine', { identity: 'alice' })
  assert.equal(m.roleSid, h.boot.service.defaultChannelCreatorRoleSid)
  // The user was auto-created with the default service role.
  assert.equal(
    (await h.core.users.fetch(h.admin, h.serviceSid, 'alice')).roleSid,
    h.boot.service.defaultServiceRoleSid,
  )
  await h.close()
})

test('private channels are invisible (50300) to non-members; public member-only actions give 50400', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'priv', type: 'private' })
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'pub' })
  await h.core.members.create(h.admin, h.serviceSid, 'priv', { identity: 'member' })
  await h.core.messages.create(h.admin, h.serviceSid, 'priv', { body: 'secret' })
  const eve = h.user('eve')
  await rejectsCode(h.core.channels.fetch(eve, h.serviceSid, 'priv'), 50300)
  await rejectsCode(h.core.messages.list(eve, h.serviceSid, 'priv'), 50300)
  await rejectsCode(h.core.messages.create(eve, h.serviceSid, 'priv', { body: 'x' }), 50300)
  await rejectsCode(h.core.members.list(eve, h.serviceSid, 'priv'), 50300)
  await rejectsCode(h.core.members.create(eve, h.serviceSid, 'priv', { identity: 'eve' }), 50300)
  assert.deepEqual(
    (await h.core.channels.list(eve, h.serviceSid)).items.map((c) => c.uniqueName),
    ['pub'],
  )
  await h.core.channels.fetch(eve, h.serviceSid, 'pub')
  await rejectsCode(h.core.messages.list(eve, h.serviceSid, 'pub'), 50400)
  await rejectsCode(h.core.messages.create(eve, h.serviceSid, 'pub', { body: 'x' }), 50400)
  // Joining a public channel is allowed (joinChannel), then sending works with from = identity.
  await h.core.members.create(eve, h.serviceSid, 'pub', { identity: 'eve' })
  const r = await h.core.messages.create(eve, h.serviceSid, 'pub', { body: 'hi', from: 'spoofed' })
  assert.equal(r.message.from, 'eve')
  await h.close()
})

test('another service of the same account, or another account, is not found (20404)', async () => {
  const h = await harness()
  const other = await h.core.services.create(h.admin, { friendlyName: 'other' })
  await h.core.channels.create(h.admin, other.sid, { uniqueName: 'x' })
  await rejectsCode(h.core.channels.fetch(h.user('alice'), other.sid, 'x'), 20404)
  const acct = await h.core.accounts.create({})
  const foreign = {
    kind: 'user',
    accountSid: acct.account.sid,
    serviceSid: h.serviceSid,
    identity: 'z',
  } as const
  await rejectsCode(h.core.channels.list(foreign, h.serviceSid), 20404)
  await h.close()
})

test('channel users edit and delete only their own messages (50107 otherwise); channel admins may moderate', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const [a, b] = [h.user('alice'), h.user('bob')]
  await h.core.members.create(a, h.serviceSid, 'g', { identity: 'alice' })
  await h.core.members.create(b, h.serviceSid, 'g', { identity: 'bob' })
  const msg = (await h.core.messages.create(a, h.serviceSid, 'g', { body: 'mine' })).message
  await rejectsCode(
    h.core.messages.update(b, h.serviceSid, 'g', msg.sid, { body: 'hacked' }),
    50107,
  )
  await rejectsCode(h.core.messages.delete(b, h.serviceSid, 'g', msg.sid), 50107)
  const edited = await h.core.messages.update(a, h.serviceSid, 'g', msg.sid, { body: 'mine!' })
  assert.equal(edited.lastUpdatedBy, 'alice')
  assert.equal(edited.wasEdited, true)
  await h.core.members.update(h.admin, h.serviceSid, 'g', 'bob', {
    roleSid: h.boot.service.defaultChannelCreatorRoleSid,
  })
  await h.core.messages.delete(b, h.serviceSid, 'g', msg.sid)
  await h.close()
})

test('users cannot set roles (50205), nor do admin-only operations (50107)', async () => {
  const h = await harness()
  const a = h.user('alice')
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await rejectsCode(
    h.core.members.create(a, h.serviceSid, 'g', {
      identity: 'alice',
      roleSid: h.boot.service.defaultChannelCreatorRoleSid,
    }),
    50205,
  )
  await rejectsCode(
    h.core.users.update(a, h.serviceSid, 'alice', {
      roleSid: h.boot.service.defaultServiceRoleSid,
    }),
    50205,
  )
  await rejectsCode(h.core.users.create(a, h.serviceSid, { identity: 'x' }), 50107)
  await rejectsCode(
    h.core.roles.create(a, h.serviceSid, {
      friendlyName: 'r',
      type: 'channel',
      permissions: ['sendMessage'],
    }),
    50107,
  )
  await rejectsCode(h.core.services.update(a, h.serviceSid, {}), 50107)
  await rejectsCode(h.core.webhooks.list(a, h.serviceSid, 'g'), 50107)
  await rejectsCode(h.core.keys.list(a), 20006)
  await h.close()
})

test('channel users cannot rename, destroy or add others (50107); leaving needs leaveChannel', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const a = h.user('alice')
  await h.core.members.create(a, h.serviceSid, 'g', { identity: 'alice' })
  await rejectsCode(h.core.channels.update(a, h.serviceSid, 'g', { friendlyName: 'x' }), 50107)
  await rejectsCode(h.core.channels.delete(a, h.serviceSid, 'g'), 50107)
  await rejectsCode(h.core.members.create(a, h.serviceSid, 'g', { identity: 'bob' }), 50107)
  await rejectsCode(h.core.invites.create(a, h.serviceSid, 'g', { identity: 'bob' }), 50107)
  await h.core.members.delete(a, h.serviceSid, 'g', 'alice')
  await rejectsCode(h.core.members.fetch(h.admin, h.serviceSid, 'g', 'alice'), 20404)
  await h.close()
})

test('users edit their own info (editOwnUserInfo) but not others (50107); user channels are private to their user', async () => {
  const h = await harness()
  const a = h.user('alice')
  await h.core.users.ensure(h.user('bob'))
  const u = await h.core.users.update(a, h.serviceSid, 'alice', { friendlyName: 'Alice' })
  assert.equal(u.friendlyName, 'Alice')
  await rejectsCode(h.core.users.update(a, h.serviceSid, 'bob', { friendlyName: 'B' }), 50107)
  await rejectsCode(h.core.userChannels.list(a, h.serviceSid, 'bob'), 50107)
  assert.equal((await h.core.userChannels.list(a, h.serviceSid, 'alice')).items.length, 0)
  await h.close()
})

test('a user with an invalid identity is refused on first write (50203)', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await rejectsCode(h.core.users.ensure(h.user('system')), 50203)
  await rejectsCode(
    h.core.members.create(h.user('private'), h.serviceSid, 'g', { identity: 'private' }),
    50203,
  )
  await h.close()
})
