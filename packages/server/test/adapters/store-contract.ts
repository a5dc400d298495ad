/**
 * The Store contract suite: every Store adapter (SQLite today, PostgreSQL later) runs it unchanged.
 *
 * Usage: `storeContract('sqlite :memory:', () => sqliteStore({ filename: ':memory:' }))`. An adapter whose backend
 * is not configured passes `{ skip: 'reason' }`.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Channel, Message, User } from '../../src/core/types.ts'
import {
  StoreConflictError,
  type NewEvent,
  type Store,
  type WriteRepos,
} from '../../src/ports/store.ts'
import { channelRow, messageRow, userRow } from './fixtures/rows.ts'

let n = 0
const hex = (): string => (++n).toString(16).padStart(32, '0')

function user(serviceSid: string, identity: string, createdAt: number): User {
  return userRow({ sid: 'US' + hex(), serviceSid, identity, createdAt, updatedAt: createdAt })
}

function channel(serviceSid: string, uniqueName: string | null): Channel {
  return channelRow({ sid: 'CH' + hex(), serviceSid, uniqueName })
}

function message(
  channelSid: string,
  index: number,
  clientMessageId: string | null = null,
): Message {
  const sid = 'IM' + hex()
  return messageRow({
    sid,
    channelSid,
    index,
    body: `m${index}`,
    clientMessageId,
    revision: index + 1,
  })
}

async function append(tx: WriteRepos, stream: string) {
  const streamSeq = (await tx.events.lastSeq(stream)) + 1
  return tx.events.append({
    stream,
    streamSeq,
    type: 'message_added',
    key: String(streamSeq),
    data: { n: streamSeq },
    accountSid: 'AC' + '0'.repeat(32),
    serviceSid: null,
    createdAt: 1,
  })
}

/** Registers the contract tests for one adapter. */
export function storeContract(
  name: string,
  makeStore: () => Store | Promise<Store>,
  options: { skip?: string } = {},
): void {
  describe(`Store contract: ${name}`, { skip: options.skip ?? false }, () => {
    test('write returns the result and read sees the committed row', async () => {
      const store = await makeStore()
      const u = user('IS' + hex(), 'alice', 1)
      const r = await store.write(async (tx) => {
        await tx.users.put(u)
        return 42
      })
      assert.equal(r, 42)
      assert.deepEqual(await store.read((tx) => tx.users.get(u.sid)), u)
      assert.deepEqual(await store.read((tx) => tx.users.getByIdentity(u.serviceSid, 'alice')), u)
      await store.close()
    })

    test('a write that throws rolls back only itself, concurrent writes still commit', async () => {
      const store = await makeStore()
      const sv = 'IS' + hex()
      const ok1 = store.write(async (tx) => tx.users.put(user(sv, 'a', 1)))
      const bad = store.write(async (tx) => {
        await tx.users.put(user(sv, 'b', 2))
        await append(tx, 'rollback-stream')
        throw new Error('boom')
      })
      const ok2 = store.write(async (tx) => tx.users.put(user(sv, 'c', 3)))
      await ok1
      await assert.rejects(bad, /boom/)
      await ok2
      const ids = (await store.read((tx) => tx.users.list(sv, { limit: 10 }))).map(
        (x) => x.identity,
      )
      assert.deepEqual(ids, ['a', 'c'])
      assert.equal(await store.read((tx) => tx.events.lastSeq('rollback-stream')), 0)
      await store.close()
    })

    test('unique constraints raise StoreConflictError naming the constraint', async () => {
      const store = await makeStore()
      const sv = 'IS' + hex()
      await store.write(async (tx) => tx.users.put(user(sv, 'dup', 1)))
      await assert.rejects(
        store.write(async (tx) => tx.users.put(user(sv, 'dup', 2))),
        (e: unknown) => e instanceof StoreConflictError && e.constraint === 'users.identity',
      )
      await store.write(async (tx) => tx.channels.put(channel(sv, 'general')))
      await assert.rejects(
        store.write(async (tx) => tx.channels.put(channel(sv, 'general'))),
        (e: unknown) => e instanceof StoreConflictError && e.constraint === 'channels.unique_name',
      )
      // NULL unique names never conflict.
      await store.write(async (tx) => {
        await tx.channels.put(channel(sv, null))
        await tx.channels.put(channel(sv, null))
      })
      const ch = 'CH' + hex()
      await store.write(async (tx) => tx.messages.put(message(ch, 0, 'k1')))
      await assert.rejects(
        store.write(async (tx) => tx.messages.put(message(ch, 0))),
        (e: unknown) => e instanceof StoreConflictError && e.constraint === 'messages.index',
      )
      await assert.rejects(
        store.write(async (tx) => tx.messages.put(message(ch, 1, 'k1'))),
        (e: unknown) => e instanceof StoreConflictError && e.constraint === 'messages.client_id',
      )
      await assert.rejects(
        store.write(async (tx) => {
          const first: NewEvent = {
            stream: 's',
            streamSeq: 1,
            type: 'channel_created',
            key: null,
            data: {},
            accountSid: 'AC' + '0'.repeat(32),
            serviceSid: null,
            createdAt: 1,
          }
          await tx.events.append(first)
          return tx.events.append({ ...first })
        }),
        (e: unknown) => e instanceof StoreConflictError && e.constraint === 'events.stream_seq',
      )
      assert.equal(await store.read((tx) => tx.events.lastSeq('s')), 0)
      await store.close()
    })

    test('put replaces a row by primary key', async () => {
      const store = await makeStore()
      const u = user('IS' + hex(), 'x', 1)
      await store.write(async (tx) => tx.users.put(u))
      await store.write(async (tx) => tx.users.put({ ...u, friendlyName: 'X' }))
      assert.equal((await store.read((tx) => tx.users.get(u.sid)))?.friendlyName, 'X')
      await store.write(async (tx) => tx.users.delete(u.sid))
      assert.equal(await store.read((tx) => tx.users.get(u.sid)), undefined)
      await store.close()
    })

    test('keyset lists honour after, before and desc', async () => {
      const store = await makeStore()
      const ch = 'CH' + hex()
      await store.write(async (tx) => {
        for (let i = 0; i < 10; i++) await tx.messages.put(message(ch, i))
      })
      const idx = (ms: Message[]) => ms.map((m) => m.index)
      const list = (q: Parameters<WriteRepos['messages']['list']>[1]) =>
        store.read((tx) => tx.messages.list(ch, q))
      assert.deepEqual(idx(await list({ limit: 3 })), [0, 1, 2])
      assert.deepEqual(idx(await list({ limit: 3, after: [2] })), [3, 4, 5])
      assert.deepEqual(idx(await list({ limit: 3, before: [5] })), [2, 3, 4])
      assert.deepEqual(idx(await list({ limit: 3, desc: true })), [9, 8, 7])
      assert.deepEqual(idx(await list({ limit: 3, desc: true, after: [7] })), [6, 5, 4])
      assert.deepEqual(idx(await list({ limit: 3, desc: true, before: [4] })), [7, 6, 5])
      assert.deepEqual(idx(await list({ limit: 3, after: [9] })), [])
      // Composite keys [createdAt, sid].
      const sv = 'IS' + hex()
      const us = [user(sv, 'a', 5), user(sv, 'b', 5), user(sv, 'c', 6)]
      await store.write(async (tx) => {
        for (const u of us) await tx.users.put(u)
      })
      const sorted = [...us].sort((x, y) => x.createdAt - y.createdAt || (x.sid < y.sid ? -1 : 1))
      const first = await store.read((tx) => tx.users.list(sv, { limit: 1 }))
      assert.equal(first[0]?.sid, sorted[0]?.sid)
      const rest = await store.read((tx) =>
        tx.users.list(sv, { limit: 5, after: [first[0]!.createdAt, first[0]!.sid] }),
      )
      assert.deepEqual(
        rest.map((u) => u.sid),
        sorted.slice(1).map((u) => u.sid),
      )
      await store.close()
    })

    test('messages.countAfter counts the existing messages above an index, in one channel', async () => {
      const store = await makeStore()
      const ch = 'CH' + hex()
      const other = 'CH' + hex()
      const ms = Array.from({ length: 8 }, (_, i) => message(ch, i))
      await store.write(async (tx) => {
        for (const m of ms) await tx.messages.put(m)
        await tx.messages.put(message(other, 7))
        await tx.messages.delete(ms[5]!.sid)
        await tx.messages.delete(ms[2]!.sid)
      })
      const count = (after: number) => store.read((tx) => tx.messages.countAfter(ch, after))
      assert.equal(await count(-1), 6)
      assert.equal(await count(1), 4) // 3, 4, 6, 7
      assert.equal(await count(5), 2)
      assert.equal(await count(7), 0)
      assert.equal(await store.read((tx) => tx.messages.countAfter('CH' + hex(), -1)), 0)
      await store.close()
    })

    test('list filters (IN) narrow the result', async () => {
      const store = await makeStore()
      const sv = 'IS' + hex()
      const pub = channel(sv, null)
      const priv = { ...channel(sv, null), type: 'private' as const }
      await store.write(async (tx) => {
        await tx.channels.put(pub)
        await tx.channels.put(priv)
      })
      const only = await store.read((tx) =>
        tx.channels.list(sv, { types: ['private'] }, { limit: 10 }),
      )
      assert.deepEqual(
        only.map((c) => c.sid),
        [priv.sid],
      )
      const all = await store.read((tx) => tx.channels.list(sv, { types: [] }, { limit: 10 }))
      assert.equal(all.length, 2)
      await store.close()
    })

    test('the event log: streamSeq per stream, global seq in commit order, replay and head', async () => {
      const store = await makeStore()
      const a = 'a:' + hex()
      const b = 'b:' + hex()
      const head0 = await store.read((tx) => tx.events.head())
      await Promise.all([
        store.write((tx) => append(tx, a)),
        store.write((tx) => append(tx, b)),
        store.write((tx) => append(tx, a)),
      ])
      await store.write(async (tx) => {
        await append(tx, a)
        await append(tx, b)
      })
      assert.equal(await store.read((tx) => tx.events.lastSeq(a)), 3)
      assert.equal(await store.read((tx) => tx.events.lastSeq(b)), 2)
      const replay = await store.read((tx) => tx.events.readStream(a, 1, 100))
      assert.deepEqual(
        replay.map((e) => e.streamSeq),
        [2, 3],
      )
      assert.deepEqual(replay[0]?.data, { n: 2 })
      const all = await store.read((tx) => tx.events.readAfter(head0, 100))
      assert.equal(all.length, 5)
      for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq)
      assert.equal(await store.read((tx) => tx.events.head()), all[all.length - 1]!.seq)
      assert.deepEqual(await store.read((tx) => tx.events.readAfter(all[2]!.seq, 1)), [all[3]])
      await store.close()
    })

    test('a resolved write is visible to a read issued right after it', async () => {
      const store = await makeStore()
      const sv = 'IS' + hex()
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store
            .write(async (tx) => tx.users.put(user(sv, `u${i}`, i)))
            .then(() => store.read((tx) => tx.users.getByIdentity(sv, `u${i}`))),
        ),
      )
      assert.ok(results.every((u) => u !== undefined))
      await store.close()
    })

    test('after close, writes and reads reject with 52001', async () => {
      const store = await makeStore()
      await store.close()
      await assert.rejects(
        store.write(async () => 1),
        { code: 52001 },
      )
      await assert.rejects(
        store.read(async () => 1),
        { code: 52001 },
      )
      await store.close()
    })
  })
}
