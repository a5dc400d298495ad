import assert from 'node:assert/strict'
import { test } from 'node:test'
import { harness, rejectsCode } from './harness.ts'

test('users: create, fetch by SID or identity, duplicates → 50201, unknown → 50200', async () => {
  const h = await harness()
  const u = await h.core.users.create(h.admin, h.serviceSid, {
    identity: 'alice',
    friendlyName: 'Alice',
    attributes: '{"a":1}',
  })
  assert.match(u.sid, /^US[0-9a-f]{32}$/)
  assert.equal(u.roleSid, h.boot.service.defaultServiceRoleSid)
  assert.equal(u.isOnline, null)
  assert.equal(u.joinedChannelsCount, 0)
  assert.deepEqual(await h.core.users.fetch(h.admin, h.serviceSid, 'alice'), u)
  assert.deepEqual(await h.core.users.fetch(h.admin, h.serviceSid, u.sid), u)
  await rejectsCode(h.core.users.create(h.admin, h.serviceSid, { identity: 'alice' }), 50201)
  await rejectsCode(h.core.users.fetch(h.admin, h.serviceSid, 'nobody'), 50200)
  await rejectsCode(h.core.users.create(h.admin, h.serviceSid, { identity: 'unique' }), 50203)
  await rejectsCode(
    h.core.users.create(h.admin, h.serviceSid, {
      identity: 'alice2',
      roleSid: h.boot.service.defaultChannelRoleSid,
    }),
    50105,
  )
  await h.close()
})

test('users: update attributes, name and role; list hides reachability', async () => {
  const h = await harness()
  await h.core.services.update(h.admin, h.serviceSid, { reachabilityEnabled: true })
  await h.core.users.create(h.admin, h.serviceSid, { identity: 'alice' })
  const online = await h.core.users.setOnline(h.user('alice'), true)
  assert.equal(online?.isOnline, true)
  assert.equal((await h.core.users.fetch(h.admin, h.serviceSid, 'alice')).isOnline, true)
  assert.equal((await h.core.users.list(h.admin, h.serviceSid)).items[0]?.isOnline, null)
  const roles = (await h.core.roles.list(h.admin, h.serviceSid)).items
  const adminRole = roles.find((r) => r.friendlyName === 'service admin')!
  const u = await h.core.users.update(h.admin, h.serviceSid, 'alice', {
    friendlyName: 'A',
    attributes: '{"b":2}',
    roleSid: adminRole.sid,
  })
  assert.equal(u.friendlyName, 'A')
  assert.equal(u.attributes, '{"b":2}')
  assert.equal(u.roleSid, adminRole.sid)
  await h.close()
})

test('deleting a user removes its memberships and invites', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'a' })
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'b' })
  await h.core.members.create(h.admin, h.serviceSid, 'a', { identity: 'alice' })
  await h.core.invites.create(h.admin, h.serviceSid, 'b', { identity: 'alice' })
  await h.core.users.delete(h.admin, h.serviceSid, 'alice')
  await rejectsCode(h.core.users.fetch(h.admin, h.serviceSid, 'alice'), 50200)
  assert.equal((await h.core.channels.fetch(h.admin, h.serviceSid, 'a')).membersCount, 0)
  assert.equal((await h.core.members.list(h.admin, h.serviceSid, 'a')).items.length, 0)
  assert.equal((await h.core.invites.list(h.admin, h.serviceSid, 'b')).items.length, 0)
  await h.close()
})

test('bindings: SDK registration is idempotent per endpoint, REST lists, filters and deletes', async () => {
  const h = await harness()
  const alice = h.user('alice')
  const b1 = await h.core.bindings.create(alice, { endpoint: 'ep1', bindingType: 'fcm' })
  const again = await h.core.bindings.create(alice, { endpoint: 'ep1', bindingType: 'fcm' })
  assert.equal(again.sid, b1.sid)
  await h.core.bindings.create(alice, { endpoint: 'ep2', bindingType: 'apn' })
  await h.core.bindings.create(h.user('bob'), { endpoint: 'ep3', bindingType: 'fcm' })
  await rejectsCode(h.core.bindings.create(alice, { endpoint: 'x', bindingType: 'sms' }), 20001)
  assert.equal((await h.core.users.fetch(h.admin, h.serviceSid, 'alice')).isNotifiable, true)
  assert.equal((await h.core.bindings.list(h.admin, h.serviceSid)).items.length, 3)
  assert.equal(
    (await h.core.bindings.list(h.admin, h.serviceSid, { bindingTypes: ['fcm'] })).items.length,
    2,
  )
  assert.equal(
    (await h.core.bindings.list(h.admin, h.serviceSid, { identities: ['alice'] })).items.length,
    2,
  )
  assert.equal(
    (await h.core.bindings.list(h.admin, h.serviceSid, { userRef: 'bob' })).items.length,
    1,
  )
  await rejectsCode(h.core.bindings.fetch(h.admin, h.serviceSid, b1.sid, 'bob'), 20404)
  await h.core.bindings.delete(h.admin, h.serviceSid, b1.sid, 'alice')
  await rejectsCode(h.core.bindings.fetch(h.admin, h.serviceSid, b1.sid), 20404)
  await h.close()
})

/** Counts the store's write transactions (the core calls `store.write` through the same object). */
function countWrites(h: { store: { write: (...a: any[]) => Promise<unknown> } }): {
  readonly n: number
} {
  const counter = { n: 0 }
  const write = h.store.write.bind(h.store)
  h.store.write = (...a: any[]) => {
    counter.n++
    return write(...a)
  }
  return counter
}

test('setOnline writes nothing while reachability is disabled (the default)', async () => {
  const h = await harness()
  await h.core.users.create(h.admin, h.serviceSid, { identity: 'alice' })
  const writes = countWrites(h)
  const mark = h.published.length
  const u = await h.core.users.setOnline(h.user('alice'), true)
  assert.equal(u?.identity, 'alice')
  assert.equal(u?.isOnline, null)
  await h.core.users.setOnline(h.user('alice'), false)
  // A user who never did anything is not created by connecting.
  assert.equal(await h.core.users.setOnline(h.user('ghost'), true), undefined)
  assert.equal(writes.n, 0)
  assert.equal(h.published.length, mark)
  await rejectsCode(h.core.users.fetch(h.admin, h.serviceSid, 'ghost'), 50200)
  await h.close()
})

test('setOnline with reachability enabled writes only on a change, creating the user if needed', async () => {
  const h = await harness()
  await h.core.services.update(h.admin, h.serviceSid, { reachabilityEnabled: true })
  const writes = countWrites(h)
  const u = await h.core.users.setOnline(h.user('bob'), true)
  assert.equal(u?.isOnline, true)
  assert.equal(writes.n, 1)
  assert.equal((await h.core.users.setOnline(h.user('bob'), true))?.isOnline, true)
  assert.equal(writes.n, 1)
  assert.equal((await h.core.users.setOnline(h.user('bob'), false))?.isOnline, false)
  assert.equal(writes.n, 2)
  const types = (await h.core.events.readStream(`user:${u!.sid}`, 0)).map((e) => e.type)
  assert.deepEqual(types, ['user_created', 'reachability_updated', 'reachability_updated'])
  await h.close()
})

test('bindings from SDK registrations: twilsock and push types, SDK message type names, REST list/filter/delete', async () => {
  const h = await harness()
  const alice = h.user('alice')
  // 1. A Twilsock notification context (what @twilio/notifications sends in put_notification_ctx).
  const ts = await h.core.bindings.upsertFromClient(alice, {
    bindingType: 'twilsock',
    endpoint: 'parley:ep1',
    address: 'ctx-1',
    messageTypes: [
      'twilio.channel.new_message',
      'twilio.channel.consumption_update',
      'twilio.sync.event',
      'new_message',
    ],
  })
  assert.match(ts.sid, /^BS[0-9a-f]{32}$/)
  assert.equal(ts.bindingType, 'twilsock')
  assert.equal(ts.identity, 'alice')
  assert.deepEqual(ts.messageTypes, ['new_message', 'consumption_update'])
  // In-socket delivery is not a push registration.
  assert.equal((await h.core.users.fetch(h.admin, h.serviceSid, 'alice')).isNotifiable, null)
  // 2. Re-registering the endpoint (new context id) replaces the binding.
  const again = await h.core.bindings.upsertFromClient(alice, {
    bindingType: 'twilsock',
    endpoint: 'parley:ep1',
    address: 'ctx-2',
    messageTypes: ['twilio.channel.added_to_channel'],
  })
  assert.equal(again.sid, ts.sid)
  assert.deepEqual(again.messageTypes, ['added_to_channel'])
  // 3. A push registration (ers) makes the user notifiable.
  const fcm = await h.core.bindings.upsertFromClient(alice, {
    bindingType: 'fcm',
    endpoint: 'parley:ep1',
    address: 'fcm-token',
    messageTypes: ['twilio.channel.new_message'],
  })
  const aliceUser = await h.core.users.fetch(h.admin, h.serviceSid, 'alice')
  assert.equal(aliceUser.isNotifiable, true)
  // The change is an event on the user's stream (the SDKs' reachability item follows it live).
  const reach = (await h.core.events.readStream(`user:${aliceUser.sid}`, 0)).filter(
    (e) => e.type === 'reachability_updated',
  )
  assert.equal(reach.length, 1)
  assert.equal((reach[0]!.data as { isNotifiable: boolean }).isNotifiable, true)
  await rejectsCode(
    h.core.bindings.upsertFromClient(alice, {
      bindingType: 'sms',
      endpoint: 'e',
      messageTypes: [],
    }),
    20001,
  )
  await rejectsCode(
    h.core.bindings.upsertFromClient(alice, { bindingType: 'fcm', endpoint: '', messageTypes: [] }),
    20001,
  )
  await rejectsCode(
    h.core.bindings.upsertFromClient(alice, {
      bindingType: 'fcm',
      endpoint: 'e',
      messageTypes: [],
      address: 'a\u0000',
    }),
    20001,
  )
  // 4. REST sees both, filters by type, never shows the address.
  const all = (await h.core.bindings.list(h.admin, h.serviceSid)).items
  assert.deepEqual(all.map((b) => b.bindingType).sort(), ['fcm', 'twilsock'])
  assert.deepEqual(
    (await h.core.bindings.list(h.admin, h.serviceSid, { bindingTypes: ['twilsock'] })).items.map(
      (b) => b.sid,
    ),
    [ts.sid],
  )
  // 5. Removing the context: a stale id does not remove the newer registration; the current one does.
  assert.equal(
    await h.core.bindings.deleteFromClient(alice, {
      bindingType: 'twilsock',
      endpoint: 'parley:ep1',
      address: 'ctx-1',
    }),
    false,
  )
  assert.equal(
    await h.core.bindings.deleteFromClient(alice, {
      bindingType: 'twilsock',
      endpoint: 'parley:ep1',
      address: 'ctx-2',
    }),
    true,
  )
  assert.equal(
    await h.core.bindings.deleteFromClient(alice, {
      bindingType: 'twilsock',
      endpoint: 'parley:ep1',
    }),
    false,
  )
  assert.equal((await h.core.users.fetch(h.admin, h.serviceSid, 'alice')).isNotifiable, true)
  // 6. REST delete of the last push binding clears isNotifiable.
  await h.core.bindings.delete(h.admin, h.serviceSid, fcm.sid)
  assert.equal((await h.core.users.fetch(h.admin, h.serviceSid, 'alice')).isNotifiable, false)
  const reach2 = (await h.core.events.readStream(`user:${aliceUser.sid}`, 0)).filter(
    (e) => e.type === 'reachability_updated',
  )
  assert.deepEqual(
    reach2.map((e) => (e.data as { isNotifiable: boolean; revision: number }).isNotifiable),
    [true, false],
  )
  assert.equal((reach2[1]!.data as { revision: number }).revision, reach2[1]!.streamSeq)
  assert.equal((await h.core.bindings.list(h.admin, h.serviceSid)).items.length, 0)
  // 7. Another user cannot remove alice's registration.
  await h.core.bindings.upsertFromClient(alice, {
    bindingType: 'twilsock',
    endpoint: 'e',
    messageTypes: [],
  })
  assert.equal(
    await h.core.bindings.deleteFromClient(h.user('mallory'), {
      bindingType: 'twilsock',
      endpoint: 'e',
    }),
    false,
  )
  assert.equal((await h.core.bindings.list(h.admin, h.serviceSid)).items.length, 1)
  await h.close()
})

test('bindings: at most 20 per identity and type; one more drops the least recently registered', async () => {
  const h = await harness()
  const alice = h.user('alice')
  const sids: string[] = []
  for (let i = 0; i < 20; i++) {
    sids.push((await h.core.bindings.create(alice, { bindingType: 'apn', endpoint: `ep${i}` })).sid)
    h.clock.advance(1)
  }
  // Re-registering ep0 makes it the most recent, so ep1 is the one to go.
  await h.core.bindings.create(alice, { bindingType: 'apn', endpoint: 'ep0' })
  h.clock.advance(1)
  await h.core.bindings.create(alice, { bindingType: 'apn', endpoint: 'ep20' })
  await h.core.bindings.create(alice, { bindingType: 'fcm', endpoint: 'other' })
  const apn = (await h.core.bindings.list(h.admin, h.serviceSid, { bindingTypes: ['apn'] })).items
  assert.equal(apn.length, 20)
  assert.equal(
    apn.some((b) => b.endpoint === 'ep1'),
    false,
  )
  assert.equal(
    apn.some((b) => b.sid === sids[0]),
    true,
  )
  assert.equal(
    (await h.core.bindings.list(h.admin, h.serviceSid, { bindingTypes: ['fcm'] })).items.length,
    1,
  )
  await h.close()
})

test('credentials: secrets are write-only; type is required and fixed', async () => {
  const h = await harness()
  await rejectsCode(h.core.credentials.create(h.admin, { type: 'sms' }), 20001)
  const c = await h.core.credentials.create(h.admin, {
    type: 'apn',
    friendlyName: 'ios',
    certificate: 'CERT',
    privateKey: 'KEY',
    sandbox: true,
  })
  assert.match(c.sid, /^CR[0-9a-f]{32}$/)
  assert.equal(c.sandbox, 'true')
  assert.equal(JSON.stringify(c).includes('CERT'), false)
  const u = await h.core.credentials.update(h.admin, c.sid, { friendlyName: 'ios2', secret: 'S' })
  assert.equal(u.friendlyName, 'ios2')
  await rejectsCode(h.core.credentials.update(h.admin, c.sid, { type: 'gcm' }), 20001)
  assert.equal((await h.core.credentials.list(h.admin)).items.length, 1)
  await h.core.credentials.delete(h.admin, c.sid)
  await rejectsCode(h.core.credentials.fetch(h.admin, c.sid), 20404)
  await h.close()
})
