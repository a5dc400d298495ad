/** Unit tests of the shared socket plumbing in src/realtime (no sockets). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { Heartbeat, type HeartbeatTarget } from '../../src/realtime/heartbeat.ts'
import { sendBounded } from '../../src/realtime/outbound.ts'
import { TokenBucket } from '../../src/realtime/rate-limiter.ts'
import { originAllowed, requestPath } from '../../src/realtime/upgrade.ts'
import { ManualTimers } from './support.ts'

test('TokenBucket allows a burst of capacity, then refills at the given rate', () => {
  const b = new TokenBucket({ capacity: 3, refillPerSecond: 2 }, 0)
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false])
  assert.equal(b.retryAfterMs(0), 500)
  assert.equal(b.take(499), false)
  assert.equal(b.take(500), true)
  assert.equal(b.take(10_000) && b.take(10_000) && b.take(10_000), true)
  assert.equal(b.take(10_000), false, 'never more than capacity')
  assert.throws(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }, 0), RangeError)
})

test('Heartbeat pings every interval and reports a target dead after maxMissed unanswered pings', () => {
  const clock = new ManualTimers(0)
  const hb = new Heartbeat({ intervalMs: 1000, maxMissed: 2, timers: clock })
  const log: string[] = []
  const mk = (name: string): HeartbeatTarget => ({
    missedPongs: 0,
    ping: () => log.push(`ping ${name}`),
    dead: () => log.push(`dead ${name}`),
  })
  const a = mk('a')
  const b = mk('b')
  hb.add(a)
  hb.add(b)
  clock.advance(1000)
  assert.deepEqual(log.splice(0), ['ping a', 'ping b'])
  hb.pong(a)
  clock.advance(1000)
  assert.deepEqual(log.splice(0), ['ping a', 'ping b'])
  hb.pong(a)
  clock.advance(1000) // b missed 2
  assert.deepEqual(log.splice(0), ['ping a', 'dead b'])
  assert.equal(hb.size, 1)
  hb.remove(a)
  clock.advance(5000)
  assert.deepEqual(log, [])
  hb.stop()
})

test('Heartbeat spreads a round over the interval: each target once per interval, a slice at a time', () => {
  const clock = new ManualTimers(0)
  // 10 s: 40 slices of 250 ms.
  const hb = new Heartbeat({ intervalMs: 10_000, maxMissed: 2, timers: clock })
  const pings = new Map<number, number>()
  const targets = Array.from({ length: 400 }, (_, i): HeartbeatTarget => {
    const t: HeartbeatTarget = {
      missedPongs: 0,
      ping: () => {
        pings.set(i, (pings.get(i) ?? 0) + 1)
        hb.pong(t)
      },
      dead: () => assert.fail('answered every ping'),
    }
    return t
  })
  for (const t of targets) hb.add(t)
  const perSlice: number[] = []
  let before = 0
  for (let k = 0; k < 40; k++) {
    clock.advance(250)
    const total = [...pings.values()].reduce((a, b) => a + b, 0)
    perSlice.push(total - before)
    before = total
  }
  // One round: every target pinged exactly once, never more than its share in one turn.
  assert.equal(pings.size, 400)
  assert.ok([...pings.values()].every((n) => n === 1))
  assert.ok(Math.max(...perSlice) <= 10, String(perSlice))
  clock.advance(10_000)
  assert.ok([...pings.values()].every((n) => n === 2))
  hb.stop()
})

test('sendBounded sends while the unsent bytes stay within the limit', () => {
  const sent: number[] = []
  const sock = { bufferedAmount: 0, send: (d: Buffer) => sent.push(d.length) }
  assert.equal(sendBounded(sock, Buffer.alloc(100), 150), true)
  sock.bufferedAmount = 100
  assert.equal(sendBounded(sock, Buffer.alloc(50), 150), true)
  assert.equal(sendBounded(sock, Buffer.alloc(51), 150), false)
  assert.deepEqual(sent, [100, 50])
})

test('originAllowed: no Origin or no list passes; otherwise an exact, case-insensitive match', () => {
  const req = (origin?: string) =>
    ({ headers: origin === undefined ? {} : { origin } }) as IncomingMessage
  assert.equal(originAllowed(req(), ['https://a.example']), true)
  assert.equal(originAllowed(req('https://evil.example'), undefined), true)
  assert.equal(originAllowed(req('https://A.example'), ['https://a.example']), true)
  assert.equal(originAllowed(req('https://a.example.evil'), ['https://a.example']), false)
  assert.equal(originAllowed(req('null'), ['https://a.example']), false)
  assert.equal(originAllowed(req('https://x'), ['*']), true)
  assert.equal(requestPath({ url: '/v3/wsconnect?x=1' } as IncomingMessage), '/v3/wsconnect')
})
