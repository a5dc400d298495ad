import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChatError } from '@parley/token'
import { coreTwilsockVerifier } from '../../src/compat/twilio/twilsock/core-verifier.ts'
import { rejectionStatus } from '../../src/compat/twilio/twilsock/verify.ts'
import type { Core } from '../../src/core/api.ts'
import { makeKeys, mintParley } from './support.ts'

function fakeCore(keys: ReturnType<typeof makeKeys>, services: Set<string>) {
  let fetches = 0
  const core = {
    resolveApiKey: async (sid: string) =>
      sid === keys.keySid ? { secret: keys.secret, accountSid: keys.accountSid } : undefined,
    services: {
      fetch: async (actor: { accountSid: string }, serviceSid: string) => {
        fetches++
        if (!services.has(`${actor.accountSid}|${serviceSid}`))
          throw new ChatError(20404, 'Service not found')
        return {}
      },
    },
  } as unknown as Pick<Core, 'resolveApiKey' | 'services'>
  return { core, fetches: () => fetches }
}

test('coreTwilsockVerifier checks that the service belongs to the account and caches positive answers', async () => {
  const keys = makeKeys()
  const services = new Set([`${keys.accountSid}|${keys.serviceSid}`])
  let now = Date.now()
  const f = fakeCore(keys, services)
  const verify = coreTwilsockVerifier(f.core, { now: () => now, serviceCacheMs: 1000 })
  const v = await verify(mintParley(keys, 'alice'))
  assert.deepEqual(
    { identity: v.identity, serviceSid: v.serviceSid, accountSid: v.accountSid, keySid: v.keySid },
    {
      identity: 'alice',
      serviceSid: keys.serviceSid,
      accountSid: keys.accountSid,
      keySid: keys.keySid,
    },
  )
  await verify(mintParley(keys, 'bob'))
  assert.equal(f.fetches(), 1, 'second init within the cache time does not read the store')
  // After the cache time, a deleted service is noticed.
  services.clear()
  now += 1001
  await assert.rejects(
    verify(mintParley(keys, 'alice')),
    (e: unknown) => rejectionStatus(e).errorCode === 51101,
  )
  assert.equal(f.fetches(), 2)
  // Unknown key: 20107 → 51117.
  const other = makeKeys()
  await assert.rejects(
    verify(mintParley(other, 'alice')),
    (e: unknown) => rejectionStatus(e).errorCode === 51117,
  )
})

test('coreTwilsockVerifier lets store failures through as 500 (retryable), not as a token rejection', async () => {
  const keys = makeKeys()
  const core = {
    resolveApiKey: async () => ({ secret: keys.secret, accountSid: keys.accountSid }),
    services: {
      fetch: async () => {
        throw new Error('SQLITE_BUSY')
      },
    },
  } as unknown as Pick<Core, 'resolveApiKey' | 'services'>
  const verify = coreTwilsockVerifier(core)
  await assert.rejects(
    verify(mintParley(keys, 'alice')),
    (e: unknown) => rejectionStatus(e).code === 500,
  )
})
