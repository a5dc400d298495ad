/**
 * Push registrations of an unmodified twilio-chat 6 client are Bindings, listed and deleted through the REST API:
 * the Twilsock channel (`put_notification_ctx` / `delete_notification_ctx`, from the SDK's own @twilio/notifications
 * client) and apn/fcm (`client.setPushRegistrationId`, an `ers.` request through Twilsock).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rest, startChatHarness } from './support/chat-harness.ts'

async function until(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

test(
  'twilsock and fcm registrations from twilio-chat 6 are listed, filtered and deleted as Bindings over REST',
  { timeout: 60_000 },
  async () => {
    const h = await startChatHarness()
    try {
      const IS = h.creds.service.sid
      const alice = await h.chat('alice')
      const bindings = async (query = '') =>
        (await rest(h, 'GET', `/v2/Services/${IS}/Bindings${query}`)).body.bindings as any[]

      // 1. The SDK's notifications client registers its Twilsock channel: one put_notification_ctx.
      const notifications = alice.services.notificationClient
      notifications.setPushRegistrationId('twilsock', 'in-socket')
      notifications.subscribe('twilsock', 'twilio.channel.new_message')
      notifications.subscribe('twilsock', 'twilio.channel.added_to_channel')
      await notifications.commitChanges()
      const [ts] = await bindings('?BindingType=twilsock')
      assert.ok(ts, 'a twilsock binding')
      assert.match(ts.sid, /^BS[0-9a-f]{32}$/)
      assert.equal(ts.binding_type, 'twilsock')
      assert.equal(ts.identity, 'alice')
      assert.equal(ts.service_sid, IS)
      assert.ok(typeof ts.endpoint === 'string' && ts.endpoint.length > 0)
      assert.deepEqual(ts.message_types.sort(), ['added_to_channel', 'new_message'])
      assert.equal('address' in ts, false)
      // Also under the user, and by the user's identity filter.
      const mine = await rest(
        h,
        'GET',
        `/v2/Services/${IS}/Users/alice/Bindings?BindingType=twilsock`,
      )
      assert.deepEqual(
        mine.body.bindings.map((b: any) => b.sid),
        [ts.sid],
      )
      assert.equal((await bindings('?Identity=bob')).length, 0)

      // 2. The public push API: an fcm registration through ers, with the message types chat subscribes.
      await alice.setPushRegistrationId('fcm', 'fcm-device-token')
      const [fcm] = await bindings('?BindingType=fcm')
      assert.equal(fcm.identity, 'alice')
      assert.equal(fcm.endpoint, ts.endpoint)
      assert.ok(fcm.message_types.includes('new_message'))
      assert.equal(
        (await rest(h, 'GET', `/v2/Services/${IS}/Users/alice`)).body.is_notifiable,
        true,
      )
      assert.equal((await bindings()).length, 2)

      // 3. Unsubscribing its last message type makes the SDK send delete_notification_ctx: the binding goes.
      notifications.unsubscribe('twilsock', 'twilio.channel.new_message')
      notifications.unsubscribe('twilsock', 'twilio.channel.added_to_channel')
      await notifications.commitChanges()
      await until(async () => (await bindings('?BindingType=twilsock')).length === 0)
      assert.equal((await rest(h, 'GET', `/v2/Services/${IS}/Bindings/${ts.sid}`)).status, 404)

      // 4. REST delete of the fcm binding; the user is no longer notifiable.
      assert.equal((await rest(h, 'DELETE', `/v2/Services/${IS}/Bindings/${fcm.sid}`)).status, 204)
      assert.equal((await bindings()).length, 0)
      assert.equal(
        (await rest(h, 'GET', `/v2/Services/${IS}/Users/alice`)).body.is_notifiable,
        false,
      )
      // 5. The SDK then unregisters a binding REST already removed: still a success for the client.
      await alice.unsetPushRegistrationId('fcm')
    } finally {
      await h.close()
    }
  },
)
