/**
 * R08 (reliability.md §2.4 and §4, "Slow consumer") end to end, on the real server with its default limits (outbound
 * queue 1 MiB): 101 raw Twilsock clients are members of one channel and subscribed to its messages list, as
 * twilio-sync does for `channel.getMessages()`, while 1 KB messages are posted to the channel at 50/s through the
 * REST API. After a short warm-up one client stops reading at the TCP level. It must be closed with 4008 within
 * 30 s, the process's RSS must grow by less than 64 MB, and the 100 others must get every message, once, in order
 * (their delivery latency p99 is reported).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { benchKeys, mintToken } from '../../bench/support/twilsock-client.ts'
import type { TwilsockSession } from '../../src/compat/twilio/upstream.ts'
import { loadConfig } from '../../src/config.ts'
import type { Actor } from '../../src/core/types.ts'
import { silentLogger } from '../../src/http/log.ts'
import { createParleyServer } from '../../src/main.ts'
import { CLOSE_SLOW_CONSUMER } from '../../src/realtime/outbound.ts'
import { RawClient, sleep, until } from '../twilsock/support.ts'
import { subscribe, type SyncEvent } from './support/raw-sync.ts'

const READERS = 100
const MESSAGES_PER_SECOND = 50
const BODY_BYTES = 1024
/** R08's bounds. */
const CLOSE_WITHIN_MS = 30_000
const RSS_GROWTH_LIMIT = 64 * 1024 * 1024
/** Traffic with every client reading before the stall: JIT, caches and heap reach their working size. */
const WARM_UP_MS = 2_000
/** How long the others keep receiving after the stalled one is closed. */
const AFTER_CLOSE_MS = 2_000
const MAX_MESSAGES = ((WARM_UP_MS + CLOSE_WITHIN_MS + AFTER_CLOSE_MS) / 1000) * MESSAGES_PER_SECOND
const MiB = 1024 * 1024

/** A 1 KB body whose first six characters are the message's sequence number. */
const body = (seq: number): string => String(seq).padStart(6, '0').padEnd(BODY_BYTES, '.')

const quantile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN

test(
  'R08: a reader that stops reading is closed with 4008 within 30 s, RSS grows < 64 MB, and 100 others get every message in order',
  { timeout: 90_000 },
  async (t) => {
    // 1. The server, in this process, with its default limits; the hooks only observe the sessions.
    const sessions = new Map<string, TwilsockSession>()
    const closeCodes = new Map<string, number | undefined>()
    const compatErrors: unknown[] = []
    const parley = await createParleyServer(loadConfig({ port: 0, host: '127.0.0.1' }, {}), {
      storage: 'memory',
      bootstrap: true,
      logger: silentLogger,
      twilio: {
        onError: (err) => compatErrors.push(err),
        onSessionOpen: (s) => sessions.set(s.principal.identity, s),
        onSessionClose: (s, info) => {
          if (s !== undefined) closeCodes.set(s.principal.identity, info.code)
        },
      },
    })
    const clients: RawClient[] = []
    const timers: NodeJS.Timeout[] = []
    t.after(async () => {
      for (const timer of timers) clearInterval(timer)
      for (const c of clients) c.ws.terminate()
      await parley.close()
    })
    const creds = parley.bootstrapped!
    const keys = benchKeys(creds)
    const admin: Actor = { kind: 'admin', accountSid: keys.accountSid }
    // The service's channel member limit (Twilio's Limits.ChannelMembers) is 100 by default: one more is needed.
    await parley.core.services.update(admin, keys.serviceSid, {
      limits: { channelMembers: READERS + 1 },
    })
    const ch = await parley.core.channels.create(admin, keys.serviceSid, { uniqueName: 'r08' })
    const listSid = `ES${ch.sid.slice(2)}`
    const identities = Array.from({ length: READERS + 1 }, (_, i) => `r08-${i}`)
    for (const identity of identities) {
      await parley.core.users.create(admin, keys.serviceSid, { identity })
      await parley.core.members.create(admin, keys.serviceSid, ch.sid, { identity })
    }

    // 2. 101 raw clients connect, init and subscribe to the channel's messages list; the last one will stall.
    const wsUrl = `${parley.url.replace(/^http/, 'ws')}/v3/wsconnect`
    const connected = await Promise.all(
      identities.map(async (identity) => {
        const c = await RawClient.connect(wsUrl)
        clients.push(c)
        const init = await c.init(mintToken(keys, identity))
        assert.equal((init.header['status'] as { code?: number } | undefined)?.code, 200)
        await subscribe(c, listSid)
        return c
      }),
    )
    const readers = connected.slice(0, READERS)
    const stalled = connected[READERS]!
    const stalledId = identities[READERS]!
    const stalledSession = sessions.get(stalledId)! as TwilsockSession & { unacked: number }

    // Each reader checks list, index order and sequence number of every item as it arrives, and keeps its latency
    // from the moment the REST post of the message started. `RawClient` queues what no waiter takes: this listener
    // runs after the client's own (which acks) and empties that queue, so the clients hold nothing.
    const sentAt = new Float64Array(MAX_MESSAGES)
    const latency = new Float64Array(READERS * MAX_MESSAGES)
    const got = readers.map(() => 0)
    const faults: string[] = []
    readers.forEach((c, r) => {
      let lastIndex = -1
      c.ws.on('message', () => {
        const now = performance.now()
        for (const p of c.received.splice(0)) {
          const b = p.body as SyncEvent | undefined
          if (p.header['method'] !== 'notification' || b?.event_type !== 'list_item_added') continue
          const seq = Number(b.event?.item_data?.text?.slice(0, 6))
          const index = b.event?.item_index ?? -1
          if (b.event?.list_sid !== listSid || index <= lastIndex || seq !== got[r]) {
            faults.push(`reader ${r}: item ${index} with seq ${seq}, expected seq ${got[r]}`)
            continue
          }
          lastIndex = index
          got[r]!++
          latency[r * MAX_MESSAGES + seq] = now - sentAt[seq]!
        }
      })
    })

    // 1 KB messages through the REST API on a fixed 50/s schedule, one after the other (so that sequence and index
    // orders agree), until `done()`.
    const auth = `Basic ${Buffer.from(`${keys.accountSid}:${creds.authToken}`).toString('base64')}`
    const messagesUrl = `${parley.url}/v2/Services/${keys.serviceSid}/Channels/${ch.sid}/Messages`
    let sent = 0
    const sendUntil = async (done: () => boolean): Promise<void> => {
      const start = performance.now()
      const first = sent
      while (sent < MAX_MESSAGES && !done()) {
        const due = start + ((sent - first) * 1000) / MESSAGES_PER_SECOND
        const now = performance.now()
        if (due > now) await sleep(due - now)
        sentAt[sent] = performance.now()
        const res = await fetch(messagesUrl, {
          method: 'POST',
          headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ Body: body(sent), From: identities[0]! }).toString(),
        })
        await res.arrayBuffer()
        assert.equal(res.status, 201, `message ${sent}`)
        sent++
      }
    }

    // 3. Warm-up: everyone reads.
    const warmUpEnd = performance.now() + WARM_UP_MS
    await sendUntil(() => performance.now() >= warmUpEnd)
    const firstStalledSeq = sent

    // 4. The stalled reader stops reading: its socket no longer reads from the kernel, so once the kernel's buffers
    // are full the server's unsent bytes for it grow. As soon as the server closes it, it reads again, to get the
    // close frame behind what the server had queued, before the server's close grace (2 s) cuts it.
    stalled.ws.pause()
    const t0 = performance.now()
    let closedAt = NaN
    timers.push(
      setInterval(() => {
        if (!Number.isNaN(closedAt) || !stalledSession.closed) return
        closedAt = performance.now()
        stalled.ws.resume()
      }, 5),
    )
    // RSS of this whole process: the server, but also the 101 clients, the REST calls and the garbage of all of them
    // that is not collected yet, and the in-memory database's growth. An upper bound of the server's own growth, from
    // a baseline taken after setup and warm-up; sampled every 100 ms, the peak counts.
    const rss0 = process.memoryUsage().rss
    let rssMax = rss0
    timers.push(setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 100))

    await sendUntil(() =>
      Number.isNaN(closedAt)
        ? performance.now() - t0 >= CLOSE_WITHIN_MS
        : performance.now() - closedAt >= AFTER_CLOSE_MS,
    )
    const stallMs = performance.now() - t0
    const unackedAtEnd = stalledSession.unacked
    const closeMs = closedAt - t0
    rssMax = Math.max(rssMax, process.memoryUsage().rss)
    // Not closed in time: it reads again so that it is drained, and the rest is still measured.
    if (Number.isNaN(closedAt)) stalled.ws.resume()

    // 5. What the stalled client and the server saw, what the others received, memory and latency.
    const clientClose = Number.isNaN(closedAt)
      ? undefined
      : await Promise.race([stalled.closed, sleep(5000).then(() => undefined)])
    if (clientClose !== undefined) await until(() => closeCodes.has(stalledId)).catch(() => {})
    await until(() => got.every((n) => n === sent), 10_000).catch(() => {})
    const stallLatencies = new Float64Array(READERS * (sent - firstStalledSeq))
    let k = 0
    for (let r = 0; r < READERS; r++)
      for (let seq = firstStalledSeq; seq < got[r]!; seq++)
        stallLatencies[k++] = latency[r * MAX_MESSAGES + seq]!
    const sorted = stallLatencies.subarray(0, k).sort()
    const p99 = quantile(sorted, 0.99)
    const rssGrowth = rssMax - rss0
    t.diagnostic(
      `${sent - firstStalledSeq} messages in ${(stallMs / 1000).toFixed(1)} s after the stall; stalled reader ` +
        (Number.isNaN(closeMs)
          ? `still open after ${(stallMs / 1000).toFixed(1)} s with ${unackedAtEnd} notifications unacknowledged`
          : `closed after ${(closeMs / 1000).toFixed(1)} s (server code ${closeCodes.get(stalledId)}, ` +
            `client code ${clientClose?.code})`),
    )
    t.diagnostic(
      `process RSS +${(rssGrowth / MiB).toFixed(1)} MiB at the peak (baseline ${(rss0 / MiB).toFixed(0)} MiB); ` +
        `others' delivery latency p50 ${quantile(sorted, 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ` +
        `max ${quantile(sorted, 1).toFixed(1)} ms over ${k} deliveries`,
    )

    // 6. The stalled reader was closed as a slow consumer in time, and got the close frame.
    assert.ok(
      closeMs < CLOSE_WITHIN_MS,
      `the stalled reader was not closed within ${CLOSE_WITHIN_MS} ms`,
    )
    assert.equal(closeCodes.get(stalledId), CLOSE_SLOW_CONSUMER)
    assert.equal(clientClose?.code, CLOSE_SLOW_CONSUMER)
    // 7. The others got every message, in order, and are still connected; the server's memory stayed bounded.
    assert.deepEqual(faults, [])
    assert.deepEqual(
      got.filter((n) => n !== sent),
      [],
      `every reader gets all ${sent} messages`,
    )
    assert.equal(k, READERS * (sent - firstStalledSeq))
    assert.deepEqual([...closeCodes.keys()], [stalledId], 'no other session was closed')
    assert.deepEqual(compatErrors, [])
    assert.ok(rssGrowth < RSS_GROWTH_LIMIT, `RSS grew by ${(rssGrowth / MiB).toFixed(1)} MiB`)
    // R08's latency bound (p99 < 200 ms; 15–25 ms measured here) is reported above, not asserted: tests assert
    // behaviour, benchmarks measure time (a shared machine's load must not turn a timing into a failure).
  },
)
