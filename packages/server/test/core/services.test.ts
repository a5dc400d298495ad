import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_ROLES } from '../../src/core/rules.ts'
import { harness, rejectsCode } from './harness.ts'

test('a new service has Twilio defaults and four default roles referenced by its default_*_role_sid', async () => {
  const h = await harness()
  const s = await h.core.services.create(h.admin, { friendlyName: 'svc' })
  assert.match(s.sid, /^IS[0-9a-f]{32}$/)
  assert.equal(s.readStatusEnabled, true)
  assert.equal(s.reachabilityEnabled, false)
  assert.equal(s.typingIndicatorTimeout, 5)
  assert.deepEqual(s.limits, { channelMembers: 100, userChannels: 250 })
  assert.equal(s.webhookMethod, 'POST')
  assert.equal(s.media.sizeLimitMb, 150)
  assert.equal(s.notifications.newMessage.enabled, false)
  const roles = (await h.core.roles.list(h.admin, s.sid)).items
  assert.deepEqual(roles.map((r) => r.friendlyName).sort(), [
    'channel admin',
    'channel user',
    'service admin',
    'service user',
  ])
  const byName = new Map(roles.map((r) => [r.friendlyName, r]))
  assert.equal(s.defaultServiceRoleSid, byName.get('service user')?.sid)
  assert.equal(s.defaultChannelRoleSid, byName.get('channel user')?.sid)
  assert.equal(s.defaultChannelCreatorRoleSid, byName.get('channel admin')?.sid)
  assert.deepEqual(byName.get('service user')?.permissions, [
    ...DEFAULT_ROLES.serviceUser.permissions,
  ])
  assert.equal(byName.get('service admin')?.type, 'deployment')
  await h.close()
})

test('service update stores and returns every setting; nested objects merge', async () => {
  const h = await harness()
  const s = await h.core.services.update(h.admin, h.serviceSid, {
    friendlyName: 'renamed',
    reachabilityEnabled: true,
    readStatusEnabled: false,
    typingIndicatorTimeout: 10,
    notifications: {
      newMessage: { enabled: true, template: '${USER}: ${MESSAGE}' },
      logEnabled: true,
    },
    preWebhookUrl: 'https://example.com/pre',
    postWebhookUrl: 'https://example.com/post',
    webhookMethod: 'get',
    webhookFilters: ['onMessageSent', 'onChannelAdded'],
    preWebhookRetryCount: 2,
    limits: { channelMembers: 10 },
    media: { compatibilityMessage: 'media!' },
  })
  assert.equal(s.friendlyName, 'renamed')
  assert.equal(s.webhookMethod, 'GET')
  assert.deepEqual(s.webhookFilters, ['onMessageSent', 'onChannelAdded'])
  assert.deepEqual(s.limits, { channelMembers: 10, userChannels: 250 })
  assert.equal(s.notifications.newMessage.enabled, true)
  assert.equal(s.notifications.newMessage.badgeCountEnabled, false)
  assert.equal(s.notifications.logEnabled, true)
  assert.equal(s.media.compatibilityMessage, 'media!')
  assert.deepEqual(await h.core.services.fetch(h.admin, h.serviceSid), s)
  await h.close()
})

test('service limits above 1000 are rejected (channel members with 50061)', async () => {
  const h = await harness()
  await rejectsCode(
    h.core.services.update(h.admin, h.serviceSid, { limits: { channelMembers: 1001 } }),
    50061,
  )
  await rejectsCode(
    h.core.services.update(h.admin, h.serviceSid, { limits: { userChannels: 1001 } }),
    20001,
  )
  await rejectsCode(
    h.core.services.update(h.admin, h.serviceSid, { webhookFilters: ['onNothing'] }),
    20001,
  )
  await rejectsCode(h.core.services.update(h.admin, h.serviceSid, { webhookMethod: 'PUT' }), 20001)
  await h.close()
})

test('default role SIDs must be roles of the right scope (50100/50101/50105)', async () => {
  const h = await harness()
  const s = h.boot.service
  await rejectsCode(
    h.core.services.update(h.admin, s.sid, { defaultServiceRoleSid: s.defaultChannelRoleSid }),
    50105,
  )
  await rejectsCode(
    h.core.services.update(h.admin, s.sid, { defaultChannelRoleSid: 'RL' + '0'.repeat(32) }),
    50101,
  )
  await rejectsCode(
    h.core.services.update(h.admin, s.sid, { defaultServiceRoleSid: 'RL' + '0'.repeat(32) }),
    50100,
  )
  await h.close()
})

test('roles: create validates type (50105) and permissions per scope (50104); update replaces the list', async () => {
  const h = await harness()
  await rejectsCode(
    h.core.roles.create(h.admin, h.serviceSid, {
      friendlyName: 'x',
      type: 'nope',
      permissions: ['sendMessage'],
    }),
    50105,
  )
  await rejectsCode(
    h.core.roles.create(h.admin, h.serviceSid, {
      friendlyName: 'x',
      type: 'channel',
      permissions: ['editOwnUserInfo'],
    }),
    50104,
  )
  const r = await h.core.roles.create(h.admin, h.serviceSid, {
    friendlyName: 'mod',
    type: 'channel',
    permissions: ['sendMessage'],
  })
  const u = await h.core.roles.update(h.admin, h.serviceSid, r.sid, {
    permissions: ['deleteAnyMessage', 'leaveChannel'],
  })
  assert.deepEqual(u.permissions, ['deleteAnyMessage', 'leaveChannel'])
  await rejectsCode(
    h.core.roles.update(h.admin, h.serviceSid, r.sid, { permissions: ['createChannel'] }),
    50104,
  )
  await h.core.roles.delete(h.admin, h.serviceSid, r.sid)
  await rejectsCode(h.core.roles.fetch(h.admin, h.serviceSid, r.sid), 50100)
  await rejectsCode(
    h.core.roles.delete(h.admin, h.serviceSid, h.boot.service.defaultChannelRoleSid),
    20409,
  )
  await h.close()
})

test('services are scoped to the account: another account gets 20404', async () => {
  const h = await harness()
  const other = await h.core.accounts.create({ friendlyName: 'other' })
  const otherAdmin = { kind: 'admin', accountSid: other.account.sid } as const
  await rejectsCode(h.core.services.fetch(otherAdmin, h.serviceSid), 20404)
  await rejectsCode(h.core.channels.list(otherAdmin, h.serviceSid), 20404)
  assert.equal((await h.core.services.list(otherAdmin)).items.length, 0)
  await h.close()
})

test('deleting a service removes its channels, users and roles', async () => {
  const h = await harness()
  const s = await h.core.services.create(h.admin, { friendlyName: 'tmp' })
  await h.core.channels.create(h.admin, s.sid, { uniqueName: 'a' })
  await h.core.members.create(h.admin, s.sid, 'a', { identity: 'alice' })
  await h.core.services.delete(h.admin, s.sid)
  await rejectsCode(h.core.services.fetch(h.admin, s.sid), 20404)
  const leftovers = await h.store.read(async (tx) => ({
    roles: await tx.roles.list(s.sid, { limit: 10 }),
    users: await tx.users.list(s.sid, { limit: 10 }),
    channels: await tx.channels.list(s.sid, {}, { limit: 10 }),
  }))
  assert.deepEqual(leftovers, { roles: [], users: [], channels: [] })
  await h.close()
})
