/**
 * Interop: the official `twilio` helper (6.3.1), unmodified, against Parley over real HTTP. Every Chat v2 resource
 * plus the 2010 and IAM key resources: create, list across several pages, fetch, update, remove, with both auth
 * styles, and error cases parsed into the helper's RestException with the right `code` and `status`.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startHarness, type Harness } from './harness.ts'

let h: Harness

before(async () => {
  h = await startHarness()
})
after(async () => {
  await h?.close()
})

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/
const RFC2822 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/

async function rejects(p: Promise<unknown>, status: number, code: number): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    // The helper's RestException (CJS default export, so compared by shape rather than instanceof).
    const e = err as {
      constructor: { name: string }
      status: unknown
      code: unknown
      moreInfo: unknown
    }
    assert.equal(e.constructor.name, 'RestException', `expected RestException, got ${String(err)}`)
    assert.equal(e.status, status)
    assert.equal(e.code, code)
    assert.equal(e.moreInfo, `https://www.twilio.com/docs/errors/${code}`)
    return true
  })
}

test('services: create, fetch, update nested settings, list over pages, remove', async () => {
  const v2 = h.admin.chat.v2
  const created = await v2.services.create({ friendlyName: 'svc-a' })
  assert.match(created.sid, /^IS[0-9a-f]{32}$/)
  assert.equal(created.friendlyName, 'svc-a')
  assert.equal(created.accountSid, h.creds.account.sid)
  assert.ok(created.dateCreated instanceof Date && !Number.isNaN(created.dateCreated.getTime()))
  assert.equal(created.url, `${h.url}/v2/Services/${created.sid}`)
  assert.equal(
    (created.links as Record<string, string>)['channels'],
    `${h.url}/v2/Services/${created.sid}/Channels`,
  )

  const updated = await v2.services(created.sid).update({
    friendlyName: 'svc-a2',
    'notifications.newMessage.enabled': true,
    'notifications.newMessage.template': 'New: ${MESSAGE}',
    webhookFilters: ['onMessageSent', 'onChannelAdded'],
    'limits.channelMembers': 10,
    reachabilityEnabled: true,
    typingIndicatorTimeout: 7,
  })
  assert.equal(updated.friendlyName, 'svc-a2')
  assert.deepEqual(updated.webhookFilters, ['onMessageSent', 'onChannelAdded'])
  assert.equal((updated.limits as Record<string, number>)['channel_members'], 10)
  assert.equal(updated.reachabilityEnabled, true)
  assert.equal(updated.typingIndicatorTimeout, 7)
  const nm = (updated.notifications as Record<string, Record<string, unknown>>)['new_message']
  assert.equal(nm?.['enabled'], true)
  assert.equal(nm?.['template'], 'New: ${MESSAGE}')

  const fetched = await v2.services(created.sid).fetch()
  assert.equal(fetched.friendlyName, 'svc-a2')

  for (let i = 0; i < 4; i++) await v2.services.create({ friendlyName: `svc-page-${i}` })
  const all = await v2.services.list({ pageSize: 2 })
  assert.equal(all.length, 6) // bootstrap + svc-a + 4
  assert.equal(new Set(all.map((s) => s.sid)).size, 6)
  const page = await v2.services.page({ pageSize: 2 })
  assert.equal(page.instances.length, 2)
  assert.ok(page.nextPageUrl?.startsWith(`${h.url}/v2/Services?`), page.nextPageUrl)
  const page2 = await page.nextPage()
  assert.ok(page2 !== undefined)
  assert.equal(page2.instances.length, 2)
  assert.notDeepEqual(
    page2.instances.map((s) => s.sid),
    page.instances.map((s) => s.sid),
  )
  // Page=1 without a PageToken (the helper's pageNumber) gives the same second page.
  const numbered = await v2.services.page({ pageSize: 2, pageNumber: 1 })
  assert.deepEqual(
    numbered.instances.map((s) => s.sid),
    page2.instances.map((s) => s.sid),
  )
  const back = await page2.previousPage()
  assert.deepEqual(
    back?.instances.map((s) => s.sid),
    page.instances.map((s) => s.sid),
  )
  const limited = await v2.services.list({ pageSize: 2, limit: 3 })
  assert.equal(limited.length, 3)

  assert.equal(await v2.services(created.sid).remove(), true)
  await rejects(v2.services(created.sid).fetch(), 404, 20404)
})

test('roles: create, list, fetch, replace permissions, remove; bad permission is 50104', async () => {
  const svc = h.admin.chat.v2.services(h.creds.service.sid)
  const role = await svc.roles.create({
    friendlyName: 'moderator',
    type: 'channel',
    permission: ['sendMessage', 'deleteAnyMessage'],
  })
  assert.match(role.sid, /^RL[0-9a-f]{32}$/)
  assert.deepEqual([...role.permissions].sort(), ['deleteAnyMessage', 'sendMessage'])
  const roles = await svc.roles.list({ pageSize: 2 })
  assert.ok(roles.length >= 5, `default roles + 1, got ${roles.length}`)
  const updated = await svc.roles(role.sid).update({ permission: ['leaveChannel'] })
  assert.deepEqual(updated.permissions, ['leaveChannel'])
  assert.equal((await svc.roles(role.sid).fetch()).friendlyName, 'moderator')
  assert.equal(await svc.roles(role.sid).remove(), true)
  await rejects(
    svc.roles.create({ friendlyName: 'x', type: 'channel', permission: ['editOwnUserInfo'] }),
    400,
    50104,
  )
})

test('users: create, fetch by sid and identity, update, list over pages, remove', async () => {
  const svc = h.admin.chat.v2.services(h.creds.service.sid)
  const alice = await svc.users.create({
    identity: 'alice@example.com',
    friendlyName: 'Alice',
    attributes: '{"a":1}',
  })
  assert.match(alice.sid, /^US[0-9a-f]{32}$/)
  assert.equal(alice.attributes, '{"a":1}')
  assert.equal(
    alice.roleSid,
    (await h.admin.chat.v2.services(h.creds.service.sid).fetch()).defaultServiceRoleSid,
  )
  const byIdentity = await svc.users('alice@example.com').fetch()
  assert.equal(byIdentity.sid, alice.sid)
  const upd = await svc.users(alice.sid).update({ friendlyName: 'Alice B' })
  assert.equal(upd.friendlyName, 'Alice B')
  for (const id of ['u1', 'u2', 'u3', 'u4']) await svc.users.create({ identity: id })
  const all = await svc.users.list({ pageSize: 2 })
  assert.equal(all.length, 5)
  for (const u of all) assert.equal(u.isOnline, null)
  assert.equal(await svc.users('u4').remove(), true)
  await rejects(svc.users('u4').fetch(), 404, 50200)
  await rejects(svc.users.create({ identity: 'u1' }), 409, 50201)
})

test('channels, members, messages, invites, webhooks: full lifecycle with paging', async () => {
  const svc = h.admin.chat.v2.services(h.creds.service.sid)
  const ch = await svc.channels.create({
    friendlyName: 'General',
    uniqueName: 'general',
    attributes: '{"topic":"x"}',
    type: 'private',
    xTwilioWebhookEnabled: 'true',
  })
  assert.match(ch.sid, /^CH[0-9a-f]{32}$/)
  assert.equal(ch.type, 'private')
  assert.equal(ch.createdBy, 'system')
  assert.equal(ch.attributes, '{"topic":"x"}')
  assert.equal((await svc.channels('general').fetch()).sid, ch.sid)
  await rejects(svc.channels.create({ uniqueName: 'general' }), 409, 50307)
  for (let i = 0; i < 3; i++) await svc.channels.create({ friendlyName: `pub-${i}` })
  const pub = await svc.channels.list({ type: ['public'], pageSize: 2 })
  assert.equal(pub.length, 3)
  const both = await svc.channels.list({ type: ['public', 'private'], pageSize: 2 })
  assert.equal(both.length, 4)
  const upd = await svc.channels(ch.sid).update({ friendlyName: 'General 2', attributes: '{}' })
  assert.equal(upd.friendlyName, 'General 2')

  const chan = svc.channels(ch.sid)
  // Members
  await svc.users.create({ identity: 'bob' })
  const m = await chan.members.create({ identity: 'bob' })
  assert.match(m.sid, /^MB[0-9a-f]{32}$/)
  await chan.members.create({ identity: 'carol' })
  await chan.members.create({ identity: 'dave' })
  await rejects(chan.members.create({ identity: 'bob' }), 409, 50404)
  assert.equal((await chan.members.list({ pageSize: 2 })).length, 3)
  assert.equal((await chan.members.list({ identity: ['carol'] })).length, 1)
  assert.equal((await chan.members('bob').fetch()).sid, m.sid)
  const mu = await chan
    .members(m.sid)
    .update({ attributes: '{"k":2}', lastConsumedMessageIndex: 0 })
  assert.equal(mu.attributes, '{"k":2}')
  assert.equal(await chan.members('dave').remove(), true)

  // Messages
  const sent = []
  for (let i = 0; i < 7; i++)
    sent.push(await chan.messages.create({ body: `hello ${i}`, from: 'bob' }))
  assert.deepEqual(
    sent.map((x) => x.index),
    [0, 1, 2, 3, 4, 5, 6],
  )
  assert.equal(sent[0]?.to, ch.sid)
  assert.equal(sent[0]?.from, 'bob')
  assert.equal(sent[0]?.wasEdited, false)
  const asc = await chan.messages.list({ pageSize: 3 })
  assert.deepEqual(
    asc.map((x) => x.body),
    sent.map((x) => x.body),
  )
  const desc = await chan.messages.list({ order: 'desc', pageSize: 3, limit: 5 })
  assert.deepEqual(
    desc.map((x) => x.index),
    [6, 5, 4, 3, 2],
  )
  // list({ limit }) sends PageSize = limit (500 > the maximum of 100): clamped, not refused.
  assert.equal((await chan.messages.list({ limit: 500 })).length, 7)
  const sys = await chan.messages.create({ body: 'from system' })
  assert.equal(sys.from, 'system')
  const mid = sent[3]!.sid
  const edited = await chan.messages(mid).update({ body: 'edited' })
  assert.equal(edited.body, 'edited')
  assert.equal(edited.wasEdited, true)
  assert.equal((await chan.messages(mid).fetch()).body, 'edited')
  assert.equal(await chan.messages(mid).remove(), true)
  await rejects(chan.messages(mid).fetch(), 404, 20404)
  assert.equal((await chan.fetch()).messagesCount, 7)

  // Invites
  const inv = await chan.invites.create({ identity: 'erin' })
  assert.match(inv.sid, /^IN[0-9a-f]{32}$/)
  await chan.invites.create({ identity: 'frank' })
  await chan.invites.create({ identity: 'gina' })
  assert.equal((await chan.invites.list({ pageSize: 2 })).length, 3)
  assert.equal((await chan.invites.list({ identity: ['frank'] })).length, 1)
  assert.equal((await chan.invites(inv.sid).fetch()).identity, 'erin')
  assert.equal(await chan.invites(inv.sid).remove(), true)

  // Webhooks
  const wh = await chan.webhooks.create({
    type: 'webhook',
    'configuration.url': 'https://example.com/hook',
    'configuration.method': 'POST',
    'configuration.filters': ['onMessageSent'],
  })
  assert.match(wh.sid, /^WH[0-9a-f]{32}$/)
  assert.equal((wh.configuration as Record<string, unknown>)['url'], 'https://example.com/hook')
  await chan.webhooks.create({
    type: 'trigger',
    'configuration.url': 'https://example.com/t',
    'configuration.triggers': ['go'],
  })
  await chan.webhooks.create({
    type: 'webhook',
    'configuration.url': 'https://example.com/3',
    'configuration.filters': ['onMemberAdded'],
  })
  assert.equal((await chan.webhooks.list({ pageSize: 2 })).length, 3)
  const whu = await chan.webhooks(wh.sid).update({ 'configuration.url': 'https://example.com/h2' })
  assert.equal((whu.configuration as Record<string, unknown>)['url'], 'https://example.com/h2')
  assert.equal((await chan.webhooks(wh.sid).fetch()).sid, wh.sid)
  assert.equal(await chan.webhooks(wh.sid).remove(), true)

  // UserChannels
  const ucs = await svc.users('bob').userChannels.list({ pageSize: 1 })
  assert.equal(ucs.length, 1)
  assert.equal(ucs[0]?.channelSid, ch.sid)
  assert.equal(ucs[0]?.status, 'joined')
  const uc = await svc.users('bob').userChannels(ch.sid).update({ notificationLevel: 'muted' })
  assert.equal(uc.notificationLevel, 'muted')
  assert.equal((await svc.users('bob').userChannels(ch.sid).fetch()).memberSid, m.sid)
  assert.equal(await svc.users('bob').userChannels(ch.sid).remove(), true)
  await rejects(chan.members('bob').fetch(), 404, 20404)

  // Channel remove
  assert.equal(await chan.remove(), true)
  await rejects(chan.fetch(), 404, 50300)
})

test('bindings and user bindings: list, fetch, remove (created through the SDK path)', async () => {
  const core = h.parley.core
  const svcSid = h.creds.service.sid
  const actor = {
    kind: 'user' as const,
    accountSid: h.creds.account.sid,
    serviceSid: svcSid,
    identity: 'pushy',
  }
  await core.users.ensure(actor)
  const made = []
  for (const ep of ['ep1', 'ep2', 'ep3']) {
    made.push(
      await core.bindings.create(actor, {
        endpoint: ep,
        bindingType: 'fcm',
        messageTypes: ['new_message'],
      }),
    )
  }
  const svc = h.admin.chat.v2.services(svcSid)
  const list = await svc.bindings.list({ pageSize: 2 })
  assert.equal(list.length, 3)
  assert.equal((await svc.bindings.list({ identity: ['pushy'], bindingType: ['fcm'] })).length, 3)
  assert.equal((await svc.bindings.list({ bindingType: ['apn'] })).length, 0)
  const b = await svc.bindings(made[0]!.sid).fetch()
  assert.equal(b.endpoint, 'ep1')
  assert.equal(b.bindingType, 'fcm')
  const ub = await svc.users('pushy').userBindings.list({ pageSize: 2 })
  assert.equal(ub.length, 3)
  assert.equal(
    (await svc.users('pushy').userBindings(made[1]!.sid).fetch()).userSid,
    ub[0]?.userSid,
  )
  assert.equal(await svc.users('pushy').userBindings(made[1]!.sid).remove(), true)
  assert.equal(await svc.bindings(made[0]!.sid).remove(), true)
  assert.equal((await svc.bindings.list()).length, 1)
})

test('credentials: create, list over pages, fetch, update, remove; secrets are never returned', async () => {
  const v2 = h.admin.chat.v2
  const cr = await v2.credentials.create({
    type: 'fcm',
    friendlyName: 'push',
    secret: 'server-key-123',
  })
  assert.match(cr.sid, /^CR[0-9a-f]{32}$/)
  assert.equal(cr.type, 'fcm')
  assert.doesNotMatch(JSON.stringify(cr.toJSON()), /server-key-123/)
  await v2.credentials.create({
    type: 'apn',
    friendlyName: 'apn',
    certificate: 'c',
    privateKey: 'k',
    sandbox: true,
  })
  await v2.credentials.create({ type: 'gcm', apiKey: 'g' })
  assert.equal((await v2.credentials.list({ pageSize: 2 })).length, 3)
  assert.equal(
    (await v2.credentials(cr.sid).update({ friendlyName: 'push2' })).friendlyName,
    'push2',
  )
  assert.equal((await v2.credentials(cr.sid).fetch()).friendlyName, 'push2')
  assert.equal(await v2.credentials(cr.sid).remove(), true)
  await rejects(v2.credentials(cr.sid).fetch(), 404, 20404)
})

test('2010 keys: create returns the secret once with RFC 2822 dates; list, fetch, update, remove', async () => {
  const acct = h.admin.api.v2010.accounts(h.creds.account.sid)
  const k = await acct.newKeys.create({ friendlyName: 'k1' })
  assert.match(k.sid, /^SK[0-9a-f]{32}$/)
  assert.ok(k.secret.length >= 32)
  assert.ok(k.dateCreated instanceof Date && !Number.isNaN(k.dateCreated.getTime()))
  for (let i = 0; i < 3; i++) await acct.newKeys.create({ friendlyName: `kp${i}` })
  const keys = await acct.keys.list({ pageSize: 2 })
  assert.equal(keys.length, 5) // bootstrap key + 4
  const fetched = await acct.keys(k.sid).fetch()
  assert.equal(fetched.friendlyName, 'k1')
  assert.equal('secret' in fetched.toJSON(), false)
  assert.equal((await acct.keys(k.sid).update({ friendlyName: 'k1b' })).friendlyName, 'k1b')

  // the raw response has RFC 2822 dates
  const raw = await fetch(
    `${h.url}/2010-04-01/Accounts/${h.creds.account.sid}/Keys/${k.sid}.json`,
    {
      headers: {
        authorization:
          'Basic ' + Buffer.from(`${h.creds.account.sid}:${h.creds.authToken}`).toString('base64'),
      },
    },
  )
  const body = (await raw.json()) as Record<string, string>
  assert.match(body['date_created'] ?? '', RFC2822)

  // the new key authenticates, then stops working once removed
  const kc = h.client(k.sid, k.secret)
  assert.equal((await kc.chat.v2.services(h.creds.service.sid).fetch()).sid, h.creds.service.sid)
  assert.equal(await acct.keys(k.sid).remove(), true)
  await rejects(kc.chat.v2.services(h.creds.service.sid).fetch(), 401, 20003)
})

test('IAM v1 keys: create, list, fetch, update, remove', async () => {
  const iam = h.admin.iam.v1
  const k = await iam.newApiKey.create({ accountSid: h.creds.account.sid, friendlyName: 'iam-k' })
  assert.match(k.sid, /^SK[0-9a-f]{32}$/)
  assert.ok(k.secret.length >= 32)
  const list = await iam.getApiKeys.list({ accountSid: h.creds.account.sid, pageSize: 2 })
  assert.ok(list.some((x) => x.sid === k.sid))
  assert.equal((await iam.apiKey(k.sid).fetch()).friendlyName, 'iam-k')
  assert.equal((await iam.apiKey(k.sid).update({ friendlyName: 'iam-k2' })).friendlyName, 'iam-k2')
  assert.equal(await iam.apiKey(k.sid).remove(), true)
  await rejects(iam.apiKey(k.sid).fetch(), 404, 20404)
  await rejects(
    iam.newApiKey.create({ accountSid: 'AC' + '0'.repeat(32), friendlyName: 'x' }),
    401,
    20003,
  )
})

test('API key auth works on chat resources; a standard key cannot manage keys', async () => {
  const kc = h.keyClient
  const s = await kc.chat.v2.services.create({ friendlyName: 'via-key' })
  assert.equal(s.accountSid, h.creds.account.sid)
  const ch = await kc.chat.v2.services(s.sid).channels.create({ friendlyName: 'k' })
  const msg = await kc.chat.v2.services(s.sid).channels(ch.sid).messages.create({ body: 'hi' })
  assert.equal(msg.index, 0)
  assert.equal(await kc.chat.v2.services(s.sid).remove(), true)
  await rejects(
    kc.api.v2010.accounts(h.creds.account.sid).newKeys.create({ friendlyName: 'nope' }),
    401,
    20003,
  )
})

test('errors: wrong credentials → 401 20003, unknown resources → 404, bad input → 400, and dates are ISO', async () => {
  await rejects(h.client(h.creds.account.sid, 'wrong').chat.v2.services.list(), 401, 20003)
  await rejects(h.client('SK' + '0'.repeat(32), 'nope').chat.v2.services.list(), 401, 20003)
  const svc = h.admin.chat.v2.services(h.creds.service.sid)
  await rejects(svc.channels('CH' + '0'.repeat(32)).fetch(), 404, 50300)
  await rejects(svc.channels('no-such-unique-name').fetch(), 404, 50300)
  await rejects(h.admin.chat.v2.services('IS' + '0'.repeat(32)).fetch(), 404, 20404)
  await rejects(svc.channels.create({ attributes: '{not json' }), 400, 20001)
  await rejects(svc.users.create({ identity: 'x'.repeat(300) }), 400, 50207)

  // ip-messaging v2 mirrors chat v2; Conversations is not served (its /v1/Services would collide with chat v1).
  const viaIpm = await h.admin.ipMessaging.v2.services(h.creds.service.sid).fetch()
  assert.equal(viaIpm.sid, h.creds.service.sid)
  await rejects(h.admin.conversations.v1.services.list(), 404, 20404)

  const raw = await fetch(`${h.url}/v2/Services/${h.creds.service.sid}`, {
    headers: {
      authorization:
        'Basic ' + Buffer.from(`${h.creds.account.sid}:${h.creds.authToken}`).toString('base64'),
    },
  })
  assert.equal(raw.status, 200)
  assert.equal(raw.headers.get('access-control-allow-origin'), null)
  const body = (await raw.json()) as Record<string, unknown>
  assert.match(String(body['date_created']), ISO)
  assert.deepEqual(Object.keys(body), [
    'sid',
    'account_sid',
    'friendly_name',
    'date_created',
    'date_updated',
    'default_service_role_sid',
    'default_channel_role_sid',
    'default_channel_creator_role_sid',
    'read_status_enabled',
    'reachability_enabled',
    'typing_indicator_timeout',
    'consumption_report_interval',
    'limits',
    'pre_webhook_url',
    'post_webhook_url',
    'webhook_method',
    'webhook_filters',
    'pre_webhook_retry_count',
    'post_webhook_retry_count',
    'notifications',
    'media',
    'url',
    'links',
  ])
})
