import assert from 'node:assert/strict'
import { test } from 'node:test'
import { harness } from './harness.ts'

test('bootstrap, channel, members and messages work end to end', async () => {
  const h = await harness()
  const { core, admin, serviceSid } = h
  const ch = await core.channels.create(admin, serviceSid, {
    uniqueName: 'general',
    friendlyName: 'General',
  })
  assert.equal(ch.createdBy, 'system')
  const m = await core.members.create(admin, serviceSid, 'general', { identity: 'alice' })
  assert.equal(m.identity, 'alice')
  const r = await core.messages.create(h.user('alice'), serviceSid, ch.sid, { body: 'hi' })
  assert.equal(r.message.index, 0)
  assert.equal(r.message.from, 'alice')
  const page = await core.messages.list(admin, serviceSid, 'general')
  assert.equal(page.items.length, 1)
  const fetched = await core.channels.fetch(admin, serviceSid, ch.sid)
  assert.equal(fetched.messagesCount, 1)
  assert.equal(fetched.membersCount, 1)
  await h.close()
})
