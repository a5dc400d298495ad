import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { ChatEvent } from '../../src/core/types.ts'
import { harness } from './harness.ts'

type Op =
  | { k: 'msg'; ch: number; body: string }
  | { k: 'join'; ch: number; who: number }
  | { k: 'leave'; ch: number; who: number }
  | { k: 'edit'; ch: number }
  | { k: 'del'; ch: number }
  | { k: 'rename'; ch: number; name: string }
  | { k: 'user'; who: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('msg' as const), ch: fc.nat(2), body: fc.string({ maxLength: 20 }) }),
  fc.record({ k: fc.constant('join' as const), ch: fc.nat(2), who: fc.nat(3) }),
  fc.record({ k: fc.constant('leave' as const), ch: fc.nat(2), who: fc.nat(3) }),
  fc.record({ k: fc.constant('edit' as const), ch: fc.nat(2) }),
  fc.record({ k: fc.constant('del' as const), ch: fc.nat(2) }),
  fc.record({
    k: fc.constant('rename' as const),
    ch: fc.nat(2),
    name: fc.string({ minLength: 1, maxLength: 10 }),
  }),
  fc.record({ k: fc.constant('user' as const), who: fc.nat(3) }),
)

test('event log: streamSeq is 1..n per stream, replay after N is exactly the suffix, bus order = log order', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
      const h = await harness()
      const { core, admin, serviceSid } = h
      const chs: string[] = []
      for (let i = 0; i < 3; i++)
        chs.push(
          (await core.channels.create(admin, serviceSid, { type: i === 2 ? 'private' : 'public' }))
            .sid,
        )
      const who = (n: number) => `user${n}`
      // Run concurrently to exercise group commit; individual failures (e.g. 50404) are expected.
      await Promise.allSettled(
        ops.map(async (op) => {
          switch (op.k) {
            case 'msg':
              return core.messages.create(admin, serviceSid, chs[op.ch]!, { body: op.body })
            case 'join':
              return core.members.create(admin, serviceSid, chs[op.ch]!, { identity: who(op.who) })
            case 'leave':
              return core.members.delete(admin, serviceSid, chs[op.ch]!, who(op.who))
            case 'edit': {
              const [m] = (
                await core.messages.list(
                  admin,
                  serviceSid,
                  chs[op.ch]!,
                  { order: 'desc' },
                  { pageSize: 1 },
                )
              ).items
              return m
                ? core.messages.update(admin, serviceSid, chs[op.ch]!, m.sid, { body: 'edited' })
                : undefined
            }
            case 'del': {
              const [m] = (
                await core.messages.list(
                  admin,
                  serviceSid,
                  chs[op.ch]!,
                  { order: 'desc' },
                  { pageSize: 1 },
                )
              ).items
              return m ? core.messages.delete(admin, serviceSid, chs[op.ch]!, m.sid) : undefined
            }
            case 'rename':
              return core.channels.update(admin, serviceSid, chs[op.ch]!, { friendlyName: op.name })
            case 'user':
              return core.users.ensure(h.user(who(op.who)))
          }
        }),
      )
      const log: ChatEvent[] = []
      for (let after = 0; ;) {
        const page = await core.events.readAfter(after, 7)
        if (page.length === 0) break
        log.push(...page)
        after = page[page.length - 1]!.seq
      }
      // 1. Global seq strictly increasing; per-stream streamSeq exactly 1, 2, 3, …
      const perStream = new Map<string, ChatEvent[]>()
      for (let i = 0; i < log.length; i++) {
        if (i > 0) assert.ok(log[i]!.seq > log[i - 1]!.seq)
        const list = perStream.get(log[i]!.stream) ?? []
        list.push(log[i]!)
        perStream.set(log[i]!.stream, list)
      }
      for (const [stream, evs] of perStream) {
        assert.deepEqual(
          evs.map((e) => e.streamSeq),
          evs.map((_, i) => i + 1),
          stream,
        )
        assert.equal(await core.events.lastSeq(stream), evs.length)
        // 2. Replay after N returns exactly the suffix.
        for (const n of [0, Math.floor(evs.length / 2), evs.length]) {
          assert.deepEqual(await core.events.readStream(stream, n), evs.slice(n))
        }
      }
      // 3. What the bus carried equals the log, in the same order, with no duplicate.
      const published = h.published.flatMap((m) => (m.type === 'events' ? m.events : []))
      assert.deepEqual(published, log)
      // 4. Rows carry the revision of their last event.
      for (const ch of chs) {
        const c = await core.channels.fetch(admin, serviceSid, ch)
        assert.equal(c.revision, await core.events.lastSeq(`channel:${ch}`))
        // The channel document folded from the log is the row: counters and lastMessage included.
        assert.deepEqual(perStream.get(`channel:${ch}`)!.at(-1)?.data, c)
        for (const m of (await core.members.list(admin, serviceSid, ch)).items) {
          const last = perStream
            .get(`members:${ch}`)!
            .filter((e) => e.key === m.sid)
            .at(-1)
          assert.equal(m.revision, last?.streamSeq)
          assert.deepEqual(last?.data, m)
        }
        for (const m of (await core.messages.list(admin, serviceSid, ch)).items) {
          const last = perStream
            .get(`messages:${ch}`)!
            .filter((e) => e.key === String(m.index))
            .at(-1)
          assert.deepEqual(last?.data, m)
        }
      }
      await h.close()
    }),
    { numRuns: 25 },
  )
})

test('a consumer that subscribes, replays, then follows live sees every event once (no gap, no duplicate)', async () => {
  const h = await harness()
  const { core, admin, serviceSid } = h
  const ch = await core.channels.create(admin, serviceSid, {})
  const stream = `messages:${ch.sid}`
  for (let i = 0; i < 30; i++)
    await core.messages.create(admin, serviceSid, ch.sid, { body: `before ${i}` })
  // 1. Subscribe first and buffer.
  const buffered: ChatEvent[] = []
  let live = false
  const delivered: number[] = []
  const deliver = (e: ChatEvent) => {
    if (e.streamSeq <= (delivered.at(-1) ?? 0)) return
    assert.equal(e.streamSeq, (delivered.at(-1) ?? 0) + 1)
    delivered.push(e.streamSeq)
  }
  h.bus.subscribe((m) => {
    if (m.type !== 'events') return
    for (const e of m.events)
      if (e.stream === stream) (live ? deliver : (x: ChatEvent) => buffered.push(x))(e)
  })
  // 2. Writes keep arriving while we replay.
  const writers = Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      core.messages.create(admin, serviceSid, ch.sid, { body: `during ${i}` }),
    ),
  )
  const replay = await core.events.readStream(stream, 10)
  delivered.push(...Array.from({ length: 10 }, (_, i) => i + 1))
  for (const e of replay) deliver(e)
  // 3. Drain the buffer (dropping what replay already covered), then go live.
  for (const e of buffered) deliver(e)
  live = true
  await writers
  for (let i = 0; i < 5; i++)
    await core.messages.create(admin, serviceSid, ch.sid, { body: `after ${i}` })
  assert.deepEqual(
    delivered,
    Array.from({ length: 55 }, (_, i) => i + 1),
  )
  await h.close()
})
