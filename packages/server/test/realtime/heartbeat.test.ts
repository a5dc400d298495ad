/**
 * The heartbeat's dead-peer bound (reliability.md R20: "SIGSTOP a client process; the server closes its socket within
 * 2 × ping interval + 5 s and frees its queue"): exactly, on a hand-driven clock, for every pong phase and with other
 * sockets coming and going; then for real, with a client process stopped by SIGSTOP.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { Heartbeat, type HeartbeatTarget } from '../../src/realtime/heartbeat.ts'
import { encodePacket } from '../../src/compat/twilio/twilsock/framing.ts'
import type { TwilsockSession } from '../../src/compat/twilio/upstream.ts'
import { CHAT6_INIT_FIELDS } from '../../bench/support/twilsock-client.ts'
import { ManualTimers, mintParley, sleep, startGateway, until } from '../twilsock/support.ts'

test('Heartbeat at the defaults reports a peer dead on the first tick 2 × 25 s after its last pong, after 2 pings', () => {
  const clock = new ManualTimers(0)
  const hb = new Heartbeat({ timers: clock }) // 25 s, 2 missed: a tick every 250 ms from t = 0
  const tickMs = 250
  const pings: number[] = []
  let pongsLeft = 2
  let lastPong = 0
  let deadAt: number | undefined
  const peer: HeartbeatTarget = {
    missedPongs: 0,
    ping() {
      pings.push(clock.now())
      if (pongsLeft-- <= 0) return
      // Answered 100 ms later; a session resets missedPongs on a pong.
      clock.setTimeout(() => {
        peer.missedPongs = 0
        lastPong = clock.now()
      }, 100)
    },
    dead: () => (deadAt = clock.now()),
  }
  hb.add(peer)
  // 1. It answers its first two pings (both come within the first interval and a bit), then stops.
  clock.advance(2 * 25_000 + 100)
  assert.equal(pings.length, 2)
  assert.equal(lastPong, pings[1]! + 100)
  // 2. Open until just before the first tick at least 50 s after its last pong.
  const bound = Math.ceil((lastPong + 50_000) / tickMs) * tickMs
  clock.advance(bound - 1 - clock.now())
  assert.equal(deadAt, undefined)
  assert.equal(hb.size, 1)
  assert.equal(pings.filter((at) => at > lastPong).length, 2, 'two more pings')
  // 3. Dead at that tick: 50.15 s after the pong here, at most 50.25 s, inside R20's 2 × 25 s + 5 s.
  clock.advance(1)
  assert.equal(deadAt, bound)
  assert.equal(hb.size, 0)
  assert.deepEqual([lastPong, deadAt], [25_350, 75_500])
  clock.advance(100_000)
  assert.equal(pings.length, 4, 'no ping after death')
  hb.stop()
})

test('Heartbeat reports a silent peer dead maxMissed × interval to that plus one tick after its last pong, after maxMissed pings, whatever the pong phase and the churn of other sockets', () => {
  for (const [intervalMs, maxMissed] of [
    [25_000, 2],
    [1_000, 1],
    [10_000, 3],
    [200, 2],
  ] as const) {
    const tickMs = intervalMs / Math.min(100, Math.max(1, Math.floor(intervalMs / 250)))
    const phases = [0, 1, 137, tickMs, Math.floor(intervalMs / 2) + 3].filter((x) => x < intervalMs)
    // undefined: it never answers (being added counts as its last pong).
    const rtts = [undefined, 0, 1, tickMs - 1, tickMs, tickMs + 1, intervalMs / 2, intervalMs - 1]
    for (const lead of phases) {
      for (const rtt of rtts.filter((x) => x === undefined || (x >= 0 && x < intervalMs))) {
        const at = `interval ${intervalMs}, maxMissed ${maxMissed}, lead ${lead}, rtt ${rtt}`
        const clock = new ManualTimers(0)
        const hb = new Heartbeat({ intervalMs, maxMissed, timers: clock })
        const filler = (): HeartbeatTarget => {
          const f: HeartbeatTarget = {
            missedPongs: 0,
            ping: () => hb.pong(f),
            dead: () => assert.fail(`a peer that answers every ping died (${at})`),
          }
          return f
        }
        const fillers = Array.from({ length: 30 }, filler)
        for (const f of fillers) hb.add(f)
        clock.advance(lead)
        // 1. The peer answers each ping after `rtt` for two intervals, then stops. Being added counts as a pong.
        let answering = rtt !== undefined
        let lastPong = clock.now()
        let pingsSincePong = 0
        let died: { at: number; pings: number } | undefined
        const peer: HeartbeatTarget = {
          missedPongs: 0,
          ping() {
            pingsSincePong++
            if (!answering || rtt === undefined) return
            const pong = () => {
              if (died) return
              peer.missedPongs = 0
              lastPong = clock.now()
              pingsSincePong = 0
            }
            if (rtt === 0) pong()
            else clock.setTimeout(pong, rtt)
          },
          dead: () => (died = { at: clock.now(), pings: pingsSincePong }),
        }
        hb.add(peer)
        if (rtt !== undefined) {
          clock.advance(2 * intervalMs)
          // With maxMissed 1 a pong must come within about an interval of the previous one (or of the add).
          if (maxMissed > 1) assert.equal(died, undefined, `it stays while it answers (${at})`)
          answering = false
        }
        // 2. Other sockets go and come, which must not move the peer's pings.
        for (const f of fillers.slice(0, 20)) hb.remove(f)
        for (let i = 0; i < 25; i++) hb.add(filler())
        // 3. Dead maxMissed × interval to that plus one tick after its last pong, after maxMissed pings.
        clock.advance((maxMissed + 2) * intervalMs)
        assert.ok(died, at)
        const silence = died.at - lastPong
        assert.ok(
          silence >= maxMissed * intervalMs && silence <= maxMissed * intervalMs + tickMs,
          `dead ${silence} ms after its last pong (${at})`,
        )
        assert.equal(died.pings, maxMissed, `pings after the last pong (${at})`)
        if (intervalMs === 25_000) assert.ok(silence <= 55_000, `R20 (${at})`)
        assert.equal(hb.size, 35, `only the peer went (${at})`)
        hb.stop()
      }
    }
  }
})

// ---- a real client process, stopped ------------------------------------------------------------------------------

const require = createRequire(import.meta.url)

/** The client: connects, sends the init frame it is given, prints `ready` on the reply; `ws` answers pings itself. */
const CLIENT = `
const [wsPath, url, init] = process.argv.slice(1)
const WebSocket = require(wsPath)
const ws = new WebSocket(url, { perMessageDeflate: false })
ws.on('open', () => ws.send(Buffer.from(init, 'base64')))
ws.once('message', () => process.stdout.write('ready\\n'))
ws.on('error', () => {})
ws.on('close', () => process.exit(0))
`

for (const socketProcess of [false, true]) {
  test(`a client process stopped with SIGSTOP has its session closed and its queue freed within 2 × the ping interval + 2 s${socketProcess ? ' (socket process)' : ''}`, async (t) => {
    // 500 ms rather than less, so that a child starved of CPU for a moment on a loaded machine is not taken for dead.
    const intervalMs = 500
    const closes: { at: number; code: number | undefined }[] = []
    const h = await startGateway({
      socketProcess,
      limits: { heartbeatIntervalMs: intervalMs },
      onSessionClose: (_s, info) => closes.push({ at: Date.now(), code: info.code }),
    })
    t.after(() => h.close())
    const init = encodePacket({
      method: 'init',
      id: 'TMinit',
      token: mintParley(h.keys, 'alice'),
      ...CHAT6_INIT_FIELDS,
    })
    const child = spawn(
      process.execPath,
      ['-e', CLIENT, require.resolve('ws'), h.url, init.toString('base64')],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    t.after(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited
    })
    // 1. The child is in: its init was answered.
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d: string) => (out += d))
    await until(() => out.includes('ready'), 10_000)
    const s = h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice')[0] as
      (TwilsockSession & { unacked: number }) | undefined
    assert.ok(s)
    // 2. While it answers pings it stays.
    await sleep(3 * intervalMs)
    assert.equal(s.closed, false)
    assert.equal(closes.length, 0)
    // 3. Stopped: its kernel still acks TCP, but nothing answers pings or reads what the server sends.
    process.kill(child.pid!, 'SIGSTOP')
    const stoppedAt = Date.now()
    for (let i = 0; i < 5; i++) s.notify('twilio.sync.event', { i })
    assert.equal(s.unacked, 5)
    await until(() => closes.length > 0, 2 * intervalMs + 10_000)
    const elapsed = closes[0]!.at - stoppedAt
    t.diagnostic(`closed ${elapsed} ms after SIGSTOP`)
    assert.ok(elapsed <= 2 * intervalMs + 2_000, `closed ${elapsed} ms after SIGSTOP`)
    assert.equal(closes[0]!.code, 1001)
    assert.equal(s.closed, true)
    assert.equal(s.unacked, 0, 'its queue is freed')
    assert.equal(h.gateway.sessions.size, 0)
    await until(() => h.gateway.connections === 0)
  })
}
