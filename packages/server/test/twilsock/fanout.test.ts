/**
 * The fan-out send path: payloads encoded once and shared by every socket, per-session packet ids, writes coalesced
 * per socket and turn, and the cheap path for the client's acks. Every byte a client sees must stay what the
 * per-subscriber encoding produced.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodePacket,
  encodeNotification,
  encodePacket,
} from '../../src/compat/twilio/twilsock/framing.ts'
import {
  EncodedNotification,
  notifyEncoded,
  type TwilsockSession,
} from '../../src/compat/twilio/upstream.ts'
import { mintParley, RawClient, startGateway, until, type Harness } from './support.ts'

/** What `Session.notify` sent before payloads were shared: one `encodePacket` per subscriber. */
function perSubscriber(id: string, messageType: string, value: unknown): Buffer {
  const header = {
    method: 'notification',
    id,
    message_type: messageType,
    payload_type: 'application/json',
  }
  return encodePacket(header, value === undefined ? undefined : JSON.stringify(value))
}

test('encodeNotification gives the bytes of the per-subscriber encodePacket, for any payload', () => {
  const id = fc.oneof(
    fc.stringMatching(/^TM[0-9a-z]{1,30}$/),
    fc.string({ minLength: 1, maxLength: 20 }),
  )
  fc.assert(
    fc.property(
      id,
      fc.string(),
      fc.option(fc.jsonValue(), { nil: undefined }),
      (i, type, value) => {
        const n = new EncodedNotification(type, value)
        // Twice: the second call uses the header tail memoised on the payload.
        assert.deepEqual(encodeNotification(i, n), perSubscriber(i, type, value))
        assert.deepEqual(encodeNotification(i, n), perSubscriber(i, type, value))
      },
    ),
    { numRuns: 500 },
  )
  const golden =
    'TWILSOCK V3.0 125\r\n{"method":"notification","id":"TMab1","message_type":"twilio.sync.event",' +
    '"payload_type":"application/json","payload_size":14}\r\n{"ü":"\\"x\\n"}'
  const n = new EncodedNotification('twilio.sync.event', { ü: '"x\n' })
  assert.equal(encodeNotification('TMab1', n).toString('utf8'), golden)
})

test('an unserialisable payload is recorded, not thrown', () => {
  const cyclic: Record<string, unknown> = {}
  cyclic['self'] = cyclic
  const n = new EncodedNotification('twilio.sync.event', cyclic)
  assert.ok(n.error instanceof TypeError)
  assert.equal(n.json.length, 0)
})

/** A client that keeps every raw frame it receives. */
async function rawFrames(
  h: Harness,
  identity: string,
  autoAck = true,
): Promise<{ c: RawClient; frames: Buffer[]; session: TwilsockSession }> {
  const c = await RawClient.connect(h.url, { autoAck })
  await c.init(mintParley(h.keys, identity))
  const frames: Buffer[] = []
  c.ws.on('message', (d: Buffer) => frames.push(Buffer.from(d)))
  const session = h.gateway.sessions.forIdentity(h.keys.serviceSid, identity)[0]!
  return { c, frames, session }
}

test('one shared payload reaches every session byte-identical to the per-subscriber encoding', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const peers = await Promise.all(['alice', 'bob', 'carol'].map((who) => rawFrames(h, who)))
  const value = {
    event_type: 'list_item_added',
    event: { id: 7, item_data: { body: 'héllo "x"' } },
  }
  const n = new EncodedNotification('twilio.sync.event', value)
  for (const p of peers) notifyEncoded(p.session, n)
  peers[0]!.session.notify('twilio.sync.event', value)
  await until(() => peers.every((p) => p.frames.length >= 1) && peers[0]!.frames.length === 2)
  for (const p of peers) {
    for (const f of p.frames) {
      const id = decodePacket(f).id!
      assert.deepEqual(f, perSubscriber(id, 'twilio.sync.event', value))
    }
  }
  for (const p of peers) p.c.close()
})

test('packet ids are unique within a session and keep the TM prefix', async (t) => {
  const h = await startGateway({ limits: { maxUnacked: 10_000 } })
  t.after(() => h.close())
  const a = await rawFrames(h, 'alice', false)
  const b = await rawFrames(h, 'bob', false)
  const n = new EncodedNotification('twilio.sync.event', { i: 0 })
  for (let i = 0; i < 2000; i++) notifyEncoded(a.session, n)
  for (let i = 0; i < 10; i++) b.session.notify('twilio.sync.event', { i })
  await until(() => a.frames.length === 2000 && b.frames.length === 10)
  const ids = a.frames.map((f) => decodePacket(f).id!)
  assert.equal(new Set(ids).size, 2000)
  const idsB = b.frames.map((f) => decodePacket(f).id!)
  for (const id of [...ids, ...idsB]) assert.match(id, /^TM[0-9a-z]+$/)
  // Another session numbers its own packets: its ids differ from the first session's.
  assert.equal(
    idsB.some((id) => ids.includes(id)),
    false,
  )
  a.c.close()
  b.c.close()
})
