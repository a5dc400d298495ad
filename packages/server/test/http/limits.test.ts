/**
 * Size limits at the exact boundary over REST (reliability.md R14): message body 32 KB, message attributes 4 KB,
 * channel attributes 16 KB, identity 256, request body 1 MiB (413 20413).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { basicAuth, startHarness, type Harness } from './harness.ts'

let h: Harness
let channelPath: string

before(async () => {
  h = await startHarness()
  const ch = await h.parley.core.channels.create(
    { kind: 'admin', accountSid: h.creds.account.sid },
    h.creds.service.sid,
    { friendlyName: 'limits' },
  )
  channelPath = `/v2/Services/${h.creds.service.sid}/Channels/${ch.sid}`
})
after(async () => {
  await h?.close()
})

async function post(
  path: string,
  params: Record<string, string>,
): Promise<{ status: number; code?: number }> {
  const res = await h.parley.app.fetch(
    new Request(`http://127.0.0.1${path}`, {
      method: 'POST',
      headers: {
        authorization: basicAuth(h.creds.account.sid, h.creds.authToken),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(params).toString(),
    }),
  )
  const json = (await res.json()) as { code?: number }
  return json.code === undefined ? { status: res.status } : { status: res.status, code: json.code }
}

/** A JSON string literal whose encoding is exactly `bytes` bytes long. */
const jsonOf = (bytes: number): string => JSON.stringify('a'.repeat(bytes - 2))

test('message body: 32 KB accepted, one byte more → 50504', async () => {
  assert.equal((await post(`${channelPath}/Messages`, { Body: 'a'.repeat(32 * 1024) })).status, 201)
  assert.deepEqual(await post(`${channelPath}/Messages`, { Body: 'a'.repeat(32 * 1024 + 1) }), {
    status: 400,
    code: 50504,
  })
})

test('message attributes: 4 KB accepted, one byte more rejected with a 4xx code', async () => {
  assert.equal(
    (await post(`${channelPath}/Messages`, { Body: 'x', Attributes: jsonOf(4096) })).status,
    201,
  )
  const r = await post(`${channelPath}/Messages`, { Body: 'x', Attributes: jsonOf(4097) })
  assert.equal(r.status, 400)
  assert.equal(typeof r.code, 'number')
})

test('channel attributes: 16 KB accepted, one byte more → 50303', async () => {
  const base = `/v2/Services/${h.creds.service.sid}/Channels`
  assert.equal((await post(base, { Attributes: jsonOf(16 * 1024) })).status, 201)
  assert.deepEqual(await post(base, { Attributes: jsonOf(16 * 1024 + 1) }), {
    status: 400,
    code: 50303,
  })
})

test('identity: 256 accepted, 257 → 50207', async () => {
  const base = `/v2/Services/${h.creds.service.sid}/Users`
  assert.equal((await post(base, { Identity: 'i'.repeat(256) })).status, 201)
  assert.deepEqual(await post(base, { Identity: 'i'.repeat(257) }), { status: 400, code: 50207 })
})

test('request body: over 1 MiB → 413 20413', async () => {
  assert.deepEqual(await post(`${channelPath}/Messages`, { Body: 'a'.repeat(1024 * 1024) }), {
    status: 413,
    code: 20413,
  })
})
