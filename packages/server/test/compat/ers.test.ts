/**
 * The `ers.` push registrar: what @twilio/notifications' RegistrarConnector sends, kept as core Bindings.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createErsHandler } from '../../src/compat/twilio/ers/handler.ts'
import { harness } from '../core/harness.ts'
import { FakeSession, request } from './support/fakes.ts'

async function setup() {
  const h = await harness()
  const ers = createErsHandler({ core: h.core, onError: (e) => assert.fail(String(e)) })
  const session = (identity: string, endpoint: string): FakeSession => {
    const s = new FakeSession(identity, h.serviceSid)
    Object.assign(s.principal, { accountSid: h.boot.account.sid, endpointId: endpoint })
    return s
  }
  const send = async (s: FakeSession, method: string, path: string, body?: unknown) => {
    const res = await ers(
      request(method, path, { productId: 'ip_messaging' }, body, 'ers.us1.twilio.com'),
      s,
    )
    return { status: res.status, body: res.body as any }
  }
  const list = async () => (await h.core.bindings.list(h.admin, h.serviceSid)).items
  return { h, session, send, list }
}

const registration = (channelType: string, token: string) => ({
  endpoint_platform: 'web',
  channel_type: channelType,
  version: '3',
  message_types: ['twilio.channel.new_message', 'twilio.channel.invited_to_channel'],
  data: { registration_id: token },
})

test('POST registers a binding and answers its id; re-registering the endpoint keeps the id', async () => {
  const { h, session, send, list } = await setup()
  const phone = session('alice', 'ep-phone')
  const a = await send(phone, 'POST', '/v1/registrations', registration('fcm', 'tok-1'))
  assert.equal(a.status, 200)
  assert.match(a.body.id, /^BS[0-9a-f]{32}$/)
  const b = await send(phone, 'POST', '/v1/registrations', registration('fcm', 'tok-2'))
  assert.equal(b.body.id, a.body.id)
  const [binding] = await list()
  assert.equal(binding?.bindingType, 'fcm')
  assert.equal(binding?.endpoint, 'ep-phone')
  assert.equal(binding?.address, 'tok-2')
  assert.deepEqual(binding?.messageTypes, ['new_message', 'invited_to_channel'])
  await h.close()
})

test('DELETE by id and by device token; deletes are idempotent and scoped to the caller', async () => {
  const { h, session, send, list } = await setup()
  const phone = session('alice', 'ep-phone')
  const tablet = session('alice', 'ep-tablet')
  const mallory = session('mallory', 'ep-m')
  const a = await send(phone, 'POST', '/v1/registrations', registration('apn', 'shared-token'))
  await send(tablet, 'POST', '/v1/registrations', registration('apn', 'shared-token'))
  await send(phone, 'POST', '/v1/registrations', registration('fcm', 'other'))
  assert.equal((await list()).length, 3)
  // 1. Someone else's id: 200 (nothing to say), nothing removed.
  assert.equal((await send(mallory, 'DELETE', `/v1/registrations/${a.body.id}`, {})).status, 200)
  assert.equal((await list()).length, 3)
  // 2. By id, twice.
  assert.equal((await send(phone, 'DELETE', `/v1/registrations/${a.body.id}`, {})).status, 200)
  assert.equal((await send(phone, 'DELETE', `/v1/registrations/${a.body.id}`, {})).status, 200)
  assert.equal((await list()).length, 2)
  // 3. By device token: every endpoint of the caller with that apn token goes, the fcm one stays.
  const del = await send(phone, 'DELETE', '/v1/registrations', {
    binding_type: 'apn',
    address: 'shared-token',
  })
  assert.equal(del.status, 200)
  assert.deepEqual(
    (await list()).map((b) => b.bindingType),
    ['fcm'],
  )
  await h.close()
})

test('bad requests are Twilio-shaped errors: unknown channel type, missing address, bad JSON, unknown path', async () => {
  const { h, session, send } = await setup()
  const s = session('alice', 'ep')
  const sms = await send(s, 'POST', '/v1/registrations', registration('sms', 't'))
  assert.equal(sms.status, 400)
  assert.equal(sms.body.code, 20001)
  assert.equal((await send(s, 'DELETE', '/v1/registrations', { binding_type: 'apn' })).status, 400)
  assert.equal((await send(s, 'POST', '/v1/registrations', '{nope')).status, 400)
  assert.equal((await send(s, 'GET', '/v2/whatever')).status, 404)
  assert.equal((await send(s, 'PUT', '/v1/registrations', {})).status, 405)
  await h.close()
})
