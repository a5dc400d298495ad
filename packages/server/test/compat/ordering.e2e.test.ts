/**
 * R03 (reliability.md, "Ordering under contention") end to end on one node, scaled down from 4 × 2,500 messages to
 * 4 × 500 so that it runs in well under 30 s on a loaded 2-core machine. The real server runs in this process, as in
 * `slow-consumer.e2e.test.ts`. Four writers post numbered bodies into one channel at the same time, each one message
 * after the other: two through the REST API, two as members over Twilsock (the Conversations client's
 * `POST /Client/v1/Channels/{CH}/Messages`). A Twilsock writer spreads its messages over several sockets of its own
 * identities, round robin, so that the per-socket and per-identity packet limits (100 burst and 50/s, 300 and 150/s)
 * slow it down as little as possible; a 429 is waited out (`retry_after_ms`) and the same message sent again.
 * Three raw clients subscribed to the channel's messages list from the start must each get every index exactly once,
 * in strictly increasing order, and the history read back through REST must hold indexes 0..n−1, each body once, with
 * every writer's sequence increasing with the index.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { benchKeys, mintToken } from '../../bench/support/twilsock-client.ts'
import { loadConfig } from '../../src/config.ts'
import type { Actor } from '../../src/core/types.ts'
import { silentLogger } from '../../src/http/log.ts'
import { createParleyServer } from '../../src/main.ts'
import { RawClient, sleep, until } from '../twilsock/support.ts'
import { AIM, subscribe, tunnel, type SyncEvent } from './support/raw-sync.ts'

const PER_WRITER = 500
const REST_WRITERS = 2
const TWILSOCK_WRITERS = 2
const WRITERS = REST_WRITERS + TWILSOCK_WRITERS
const TOTAL = WRITERS * PER_WRITER
/** Sockets (each with its own identity) per Twilsock writer. */
const SOCKETS_PER_WRITER = 4
const SUBSCRIBERS = 3

/** A message as the REST API lists it. */
interface RestMessage {
  index: number
  body: string
  from: string
}

/** Writer `w`'s `seq`-th body, e.g. `w2:000017`. */
const body = (w: number, seq: number): string => `w${w}:${String(seq).padStart(6, '0')}`
const parseBody = (text: string | undefined): { w: number; seq: number } | undefined => {
  const m = /^w(\d+):(\d{6})$/.exec(text ?? '')
  return m ? { w: Number(m[1]), seq: Number(m[2]) } : undefined
}

const statusCode = (header: Record<string, unknown>, key: string): number | undefined =>
  (header[key] as { code?: number } | undefined)?.code

/**
 * What is wrong with a subscriber's received items, given the history: each index 0..n−1 exactly once, in order,
 * with the history's body. At most a few faults are listed.
 */
function orderFaults(items: { index: number; text: string | undefined }[], history: RestMessage[]) {
  const faults: string[] = []
  if (items.length !== history.length)
    faults.push(`${items.length} items received, ${history.length} expected`)
  items.forEach((item, i) => {
    if (faults.length >= 5) return
    if (item.index !== i) faults.push(`item ${i} has index ${item.index}`)
    else if (item.text !== history[i]?.body)
      faults.push(`index ${i}: body ${item.text}, history ${history[i]?.body}`)
  })
  return faults
}

test(
  `R03 (scaled down to ${WRITERS} × ${PER_WRITER}): concurrent REST and Twilsock writers get contiguous indexes, and ${SUBSCRIBERS} subscribers see them in order`,
  { timeout: 60_000 },
  async (t) => {
    // 1. The server, in this process; one channel whose members are the Twilsock writers and the subscribers.
    const compatErrors: unknown[] = []
    const parley = await createParleyServer(loadConfig({ port: 0, host: '127.0.0.1' }, {}), {
      storage: 'memory',
      bootstrap: true,
      logger: silentLogger,
      twilio: { onError: (err) => compatErrors.push(err) },
    })
    const clients: RawClient[] = []
    t.after(async () => {
      for (const c of clients) c.ws.terminate()
      await parley.close()
    })
    const creds = parley.bootstrapped!
    const keys = benchKeys(creds)
    const admin: Actor = { kind: 'admin', accountSid: keys.accountSid }
    const ch = await parley.core.channels.create(admin, keys.serviceSid, { uniqueName: 'r03' })
    const listSid = `ES${ch.sid.slice(2)}`
    /** Writer w's identities: one `From` for a REST writer, one per socket for a Twilsock writer. */
    const writerIdentities = Array.from({ length: WRITERS }, (_, w) =>
      w < REST_WRITERS
        ? [`writer${w}`]
        : Array.from({ length: SOCKETS_PER_WRITER }, (_, s) => `writer${w}-${s}`),
    )
    const subscriberIdentities = Array.from({ length: SUBSCRIBERS }, (_, i) => `subscriber${i}`)
    for (const identity of [
      ...writerIdentities.slice(REST_WRITERS).flat(),
      ...subscriberIdentities,
    ]) {
      await parley.core.users.create(admin, keys.serviceSid, { identity })
      await parley.core.members.create(admin, keys.serviceSid, ch.sid, { identity })
    }
    const wsUrl = `${parley.url.replace(/^http/, 'ws')}/v3/wsconnect`
    const connect = async (identity: string): Promise<RawClient> => {
      const c = await RawClient.connect(wsUrl)
      clients.push(c)
      const init = await c.init(mintToken(keys, identity))
      assert.equal(statusCode(init.header, 'status'), 200)
      return c
    }

    // 2. The subscribers connect and subscribe before anything is written. Each keeps the index and text of every
    // `list_item_added` of the list, as it arrives; its listener runs after RawClient's own (which acks) and empties
    // RawClient's queue.
    const subscribers = await Promise.all(subscriberIdentities.map(connect))
    await Promise.all(subscribers.map((c) => subscribe(c, listSid)))
    const received = subscribers.map(() => [] as { index: number; text: string | undefined }[])
    subscribers.forEach((c, r) => {
      c.ws.on('message', () => {
        for (const p of c.received.splice(0)) {
          const b = p.body as SyncEvent | undefined
          if (p.header['method'] !== 'notification' || b?.event_type !== 'list_item_added') continue
          if (b.event?.list_sid !== listSid) continue
          received[r]!.push({ index: b.event.item_index ?? -1, text: b.event.item_data?.text })
        }
      })
    })
    const writerSockets = await Promise.all(
      writerIdentities.slice(REST_WRITERS).map((ids) => Promise.all(ids.map(connect))),
    )

    // 3. The writers. Each sends its bodies one after the other (the next once the previous is acknowledged) and
    // keeps the index it was given; all four run at once.
    const auth = `Basic ${Buffer.from(`${keys.accountSid}:${creds.authToken}`).toString('base64')}`
    const restUrl = `${parley.url}/v2/Services/${keys.serviceSid}/Channels/${ch.sid}/Messages`
    const restWriter = async (w: number): Promise<number[]> => {
      const indexes: number[] = []
      for (let seq = 0; seq < PER_WRITER; seq++) {
        const res = await fetch(restUrl, {
          method: 'POST',
          headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            Body: body(w, seq),
            From: writerIdentities[w]![0]!,
          }).toString(),
        })
        const json = (await res.json()) as RestMessage
        assert.equal(res.status, 201, `writer ${w} message ${seq}`)
        indexes.push(json.index)
      }
      return indexes
    }
    let rateLimited = 0
    const twilsockWriter = async (w: number): Promise<number[]> => {
      const sockets = writerSockets[w - REST_WRITERS]!
      const indexes: number[] = []
      for (let seq = 0; seq < PER_WRITER; seq++) {
        const c = sockets[seq % sockets.length]!
        for (;;) {
          const reply = await tunnel(c, AIM, 'POST', `/Client/v1/Channels/${ch.sid}/Messages`, {
            body: body(w, seq),
          })
          if (statusCode(reply.header, 'status') === 429) {
            rateLimited++
            await sleep(Math.max(1, Number(reply.header['retry_after_ms'] ?? 20)))
            continue
          }
          assert.equal(statusCode(reply.header, 'http_status'), 201, `writer ${w} message ${seq}`)
          indexes.push((reply.body as RestMessage).index)
          break
        }
      }
      return indexes
    }
    const t0 = performance.now()
    const given = await Promise.all(
      Array.from({ length: WRITERS }, (_, w) =>
        w < REST_WRITERS ? restWriter(w) : twilsockWriter(w),
      ),
    )
    const writeMs = performance.now() - t0

    // 4. The history, read back through REST, page by page.
    const history: RestMessage[] = []
    for (let url: string | null = `${restUrl}?PageSize=1000`; url !== null;) {
      const res = await fetch(url, { headers: { Authorization: auth } })
      assert.equal(res.status, 200)
      const page = (await res.json()) as {
        messages: RestMessage[]
        meta: { next_page_url: string | null }
      }
      history.push(...page.messages)
      url = page.meta.next_page_url
    }
    await until(() => received.every((items) => items.length >= TOTAL), 15_000).catch(() => {})
    // Anything late or duplicated would land now.
    await sleep(200)
    // How interleaved the writers were: consecutive indexes written by different writers.
    const switches = history.filter(
      (m, i) => i > 0 && parseBody(m.body)?.w !== parseBody(history[i - 1]!.body)?.w,
    ).length
    t.diagnostic(
      `${TOTAL} messages from ${WRITERS} writers in ${(writeMs / 1000).toFixed(1)} s, ` +
        `${switches} writer changes between consecutive indexes ` +
        `(${rateLimited} Twilsock sends refused with 429 and retried); ` +
        `subscribers received ${received.map((items) => items.length).join(', ')}`,
    )

    // 5. Indexes 0..n−1 contiguous, each body exactly once, and what each writer was told agrees with the history.
    assert.deepEqual(
      history.map((m) => m.index),
      Array.from({ length: TOTAL }, (_, i) => i),
      'indexes 0..n−1, contiguous, in order',
    )
    const bodies = history.map((m) => m.body)
    assert.equal(new Set(bodies).size, TOTAL, 'each body once')
    for (let w = 0; w < WRITERS; w++)
      for (let seq = 0; seq < PER_WRITER; seq++)
        assert.equal(history[given[w]![seq]!]?.body, body(w, seq), `writer ${w} message ${seq}`)
    // 6. Each writer's sequence increases with the index, and its messages carry its identities.
    const lastSeq = new Array<number>(WRITERS).fill(-1)
    for (const m of history) {
      const parsed = parseBody(m.body)
      assert.ok(parsed !== undefined && parsed.w < WRITERS, `unexpected body ${m.body}`)
      assert.equal(parsed.seq, lastSeq[parsed.w]! + 1, `writer ${parsed.w} at index ${m.index}`)
      lastSeq[parsed.w] = parsed.seq
      assert.ok(writerIdentities[parsed.w]!.includes(m.from), `author ${m.from} of ${m.body}`)
    }
    // 7. Every subscriber got every index exactly once, in strictly increasing order, with its body.
    received.forEach((items, r) =>
      assert.deepEqual(orderFaults(items, history), [], `subscriber ${r}`),
    )
    assert.deepEqual(compatErrors, [])
  },
)
