/**
 * Server-owned token lifecycle on a hand-driven clock (twilio-client-protocol.md §6.3, access-tokens.md §9.3, R09):
 * `client_update` at `exp − lead`, `close` 410 at `exp`, `update` re-arming both, and rejected updates leaving
 * the old token in force.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  claims,
  ManualTimers,
  RawClient,
  signClaims,
  sleep,
  startGateway,
  type Harness,
} from './support.ts'

async function setup(leadMs = 180_000): Promise<{
  h: Harness
  clock: ManualTimers
  nowSec: () => number
  token: (identity: string, ttl: number, secret?: string) => string
}> {
  const clock = new ManualTimers(Math.floor(Date.now() / 1000) * 1000)
  // The heartbeat runs on the same clock; keep it out of the way (pongs cannot arrive while time jumps).
  const h = await startGateway({
    timers: clock,
    tokenWarningLeadMs: leadMs,
    limits: { heartbeatIntervalMs: 1e9 },
  })
  const nowSec = () => Math.floor(clock.now() / 1000)
  const token = (identity: string, ttl: number, secret?: string) =>
    signClaims(h.keys, claims(h.keys, identity, nowSec(), nowSec() + ttl), secret)
  return { h, clock, nowSec, token }
}

/** Resolves true if a packet with `method` arrives within `ms`. */
async function arrives(c: RawClient, method: string, ms = 100): Promise<boolean> {
  try {
    await c.method(method, ms)
    return true
  } catch {
    return false
  }
}

test('client_update token_about_to_expire is sent at exp − lead and close 410 at exp', async (t) => {
  const { h, clock, token } = await setup()
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(token('alice', 600))
  clock.advance(419_000)
  assert.equal(await arrives(c, 'client_update'), false)
  clock.advance(1_000) // exp − 180 s
  const cu = await c.method('client_update')
  assert.equal(cu.header['client_update_type'], 'token_about_to_expire')
  assert.match(cu.header['id'] as string, /^TM/)
  clock.advance(179_000)
  assert.equal(await arrives(c, 'close'), false)
  clock.advance(1_000) // exp
  const close = await c.method('close')
  assert.deepEqual(close.header['status'], {
    code: 410,
    status: 'Gone',
    description: 'Connection expired',
    errorCode: 51006,
  })
  assert.equal((await c.closed).code, 1000)
})

test('with less than the lead time left at init, the warning is sent at once', async (t) => {
  const { h, token } = await setup()
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(token('alice', 60))
  assert.equal(
    (await c.method('client_update', 1000)).header['client_update_type'],
    'token_about_to_expire',
  )
  c.close()
})

test('a successful update keeps the session past the old exp and re-arms both timers', async (t) => {
  const { h, clock, token } = await setup(30_000)
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(token('alice', 100))
  clock.advance(70_000)
  await c.method('client_update')
  clock.advance(20_000) // exp − 10 s
  const id = c.send({ method: 'update', token: token('alice', 100) }) // t = 90: new exp = 190, old exp = 100
  assert.deepEqual((await c.reply(id)).header['status'], { code: 200, status: 'OK' })
  clock.advance(20_000) // t = 110, 10 s past the old exp
  assert.equal(await arrives(c, 'close'), false)
  assert.equal(h.gateway.sessions.size, 1)
  clock.advance(49_000) // t = 159
  assert.equal(await arrives(c, 'client_update'), false)
  clock.advance(1_000) // t = 160 = new exp − 30 s
  assert.equal(
    (await c.method('client_update')).header['client_update_type'],
    'token_about_to_expire',
  )
  clock.advance(30_000)
  assert.equal(((await c.method('close')).header['status'] as { code: number }).code, 410)
})

test('an update for another identity is refused with 403 and the old token stays in force until its exp', async (t) => {
  const { h, clock, token } = await setup(30_000)
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(token('alice', 100))
  const id = c.send({ method: 'update', token: token('mallory', 3600) })
  const r = await c.reply(id)
  assert.equal((r.header['status'] as { code: number; errorCode: number }).code, 403)
  assert.equal(h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice').length, 1)
  clock.advance(100_000)
  assert.equal(((await c.method('close')).header['status'] as { code: number }).code, 410)
})

test('an expired or badly signed update is refused (20104 / 51117) and the session still ends at the old exp', async (t) => {
  const { h, clock, nowSec, token } = await setup(30_000)
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(token('alice', 100))
  const expired = signClaims(h.keys, claims(h.keys, 'alice', nowSec() - 7200, nowSec() - 3600))
  const r1 = await c.reply(c.send({ method: 'update', token: expired }))
  assert.deepEqual(
    {
      code: (r1.header['status'] as { code: number }).code,
      errorCode: (r1.header['status'] as { errorCode: number }).errorCode,
    },
    { code: 401, errorCode: 20104 },
  )
  const r2 = await c.reply(
    c.send({ method: 'update', token: token('alice', 3600, 'not-the-secret-not-the-secret-00') }),
  )
  assert.equal((r2.header['status'] as { errorCode: number }).errorCode, 51117)
  const r3 = await c.reply(c.send({ method: 'update' }))
  assert.equal((r3.header['status'] as { code: number }).code, 401)
  // Still connected, old exp still in force.
  const tel = c.send({ method: 'telemetry.v1' })
  assert.equal(((await c.reply(tel)).header['status'] as { code: number }).code, 200)
  clock.advance(99_000)
  await sleep(20)
  assert.equal(h.gateway.sessions.size, 1)
  clock.advance(1_000)
  assert.equal(((await c.method('close')).header['status'] as { code: number }).code, 410)
})

test('an update before init closes the socket', async (t) => {
  const { h, token } = await setup()
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  c.send({ method: 'update', token: token('alice', 600) })
  assert.equal((await c.closed).code, 1008)
})
