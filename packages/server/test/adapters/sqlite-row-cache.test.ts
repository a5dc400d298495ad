/**
 * The SQLite store's row cache: coherence with the database (reads see committed data, writes see their batch), and
 * identical answers with the cache on and off. Everything goes through the public `sqliteStore` API; a failed COMMIT
 * is simulated by wrapping better-sqlite3's `prepare` (only the statement `COMMIT`, only while a flag is set).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { CachedRow } from '../../src/adapters/store/row-cache.ts'
import { sqliteStore, type SqliteStoreOptions } from '../../src/adapters/store/sqlite.ts'
import { defaultServiceSettings } from '../../src/core/rules.ts'
import type {
  Channel,
  Invite,
  Member,
  Message,
  Service,
  User,
  UserChannel,
} from '../../src/core/types.ts'
import type { ReadRepos, Store, WriteRepos } from '../../src/ports/store.ts'
import { channelRow, messageRow, userRow } from './fixtures/rows.ts'

const root = mkdtempSync(join(tmpdir(), 'parley-rowcache-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0

const AC = 'AC' + '0'.repeat(32)
const SV = 'IS' + '0'.repeat(32)
const sid = (prefix: string, n: number | string): string => prefix + String(n).padStart(32, '0')

function user(
  n: number,
  identity: string,
  serviceSid = SV,
  friendlyName: string | null = null,
): User {
  return userRow({
    sid: sid('US', n),
    serviceSid,
    identity,
    friendlyName,
    createdAt: n,
    updatedAt: n,
  })
}

function channel(
  n: number,
  uniqueName: string | null,
  friendlyName: string | null = null,
): Channel {
  return channelRow({ sid: sid('CH', n), uniqueName, friendlyName, createdAt: n, updatedAt: n })
}

function member(n: number, channelSid: string, identity: string, revision = 1): Member {
  return {
    sid: sid('MB', n),
    accountSid: AC,
    serviceSid: SV,
    channelSid,
    identity,
    userSid: sid('US', 0),
    roleSid: sid('RL', 0),
    lastConsumedMessageIndex: null,
    lastConsumptionTimestamp: null,
    attributes: '{}',
    createdAt: n,
    updatedAt: n,
    revision,
  }
}

function invite(n: number, channelSid: string, identity: string, createdBy = 'system'): Invite {
  return {
    sid: sid('IN', n),
    accountSid: AC,
    serviceSid: SV,
    channelSid,
    identity,
    roleSid: sid('RL', 0),
    createdBy,
    createdAt: n,
    updatedAt: n,
  }
}

function message(n: number, channelSid: string, index: number, body = 'hi'): Message {
  return messageRow({ sid: sid('IM', n), channelSid, index, body, createdAt: n, updatedAt: n })
}

function userChannel(userN: number, channelN: number, revision = 1): UserChannel {
  return {
    accountSid: AC,
    serviceSid: SV,
    channelSid: sid('CH', channelN),
    userSid: sid('US', userN),
    identity: 'u' + userN,
    memberSid: null,
    status: 'joined',
    lastConsumedMessageIndex: null,
    notificationLevel: 'default',
    createdAt: 1,
    updatedAt: 1,
    revision,
  }
}

/** The store modes the coherence tests run in. */
const modes: {
  name: string
  open: (extra?: SqliteStoreOptions) => ReturnType<typeof sqliteStore>
}[] = [
  { name: ':memory:', open: (extra) => sqliteStore({ filename: ':memory:', ...extra }) },
  { name: 'file', open: (extra) => sqliteStore({ dataDir: join(root, `f${++dirs}`), ...extra }) },
  {
    name: 'file, pipelined (slow fsync, batches of 2)',
    open: (extra) =>
      sqliteStore({
        dataDir: join(root, `p${++dirs}`),
        maxBatch: 2,
        fsync: () => new Promise<void>((r) => setImmediate(r)),
        ...extra,
      }),
  },
]

for (const mode of modes) {
  describe(`row cache coherence (${mode.name})`, () => {
    test('a write sees its own put, after having cached "not found" for the same keys', async () => {
      const s = mode.open()
      const u = user(1, 'alice')
      const seen = await s.write(async (tx) => {
        const before = [await tx.users.get(u.sid), await tx.users.getByIdentity(SV, 'alice')]
        await tx.users.put(u)
        const afterPut = [await tx.users.get(u.sid), await tx.users.getByIdentity(SV, 'alice')]
        return { before, afterPut }
      })
      assert.deepEqual(seen, { before: [undefined, undefined], afterPut: [u, u] })
      assert.deepEqual(await s.read((tx) => tx.users.get(u.sid)), u)
      assert.deepEqual(await s.read((tx) => tx.users.getByIdentity(SV, 'alice')), u)
      await s.close()
    })

    test('every read gets its own copy of a cached row, nested values included', async () => {
      const s = mode.open()
      const svc: Service = {
        ...defaultServiceSettings(),
        sid: sid('IS', 7),
        accountSid: AC,
        friendlyName: 'copies',
        createdAt: 1,
        updatedAt: 1,
        defaultServiceRoleSid: sid('RL', 1),
        defaultChannelRoleSid: sid('RL', 2),
        defaultChannelCreatorRoleSid: sid('RL', 3),
        webhookFilters: ['onMessageSent'],
      }
      await s.write((tx) => tx.services.put(svc))
      const first = await s.read((tx) => tx.services.get(svc.sid))
      const second = await s.read((tx) => tx.services.get(svc.sid))
      assert.deepEqual(first, svc)
      assert.notEqual(first, second)
      // Changes to what one caller got, at every depth, are not seen by the next read (nor in a write batch).
      first!.friendlyName = 'changed'
      first!.limits.channelMembers = 1
      first!.webhookFilters.push('onChannelAdded')
      first!.notifications.newMessage.enabled = true
      second!.media.sizeLimitMb = 2
      assert.deepEqual(await s.read((tx) => tx.services.get(svc.sid)), svc)
      assert.deepEqual(await s.write((tx) => tx.services.get(svc.sid)), svc)
      await s.close()
    })

    test('"not found" is cached, then an insert is found by every key', async () => {
      const s = mode.open()
      const ch = channel(1, 'general')
      const m = member(1, ch.sid, 'bob')
      const inv = invite(1, ch.sid, 'carol')
      const probe = (tx: ReadRepos) =>
        Promise.all([
          tx.channels.get(ch.sid),
          tx.channels.getByUniqueName(SV, 'general'),
          tx.members.get(m.sid),
          tx.members.getByIdentity(ch.sid, 'bob'),
          tx.invites.get(inv.sid),
          tx.invites.getByIdentity(ch.sid, 'carol'),
          tx.userChannels.get(sid('US', 1), ch.sid),
        ])
      // Twice: the second answer comes from the cache.
      for (let i = 0; i < 2; i++) assert.deepEqual(await s.read(probe), Array(7).fill(undefined))
      await s.write(async (tx) => {
        await tx.channels.put(ch)
        await tx.members.put(m)
        await tx.invites.put(inv)
        await tx.userChannels.put(userChannel(1, 1))
      })
      const want = [ch, ch, m, m, inv, inv, userChannel(1, 1)]
      for (let i = 0; i < 2; i++) assert.deepEqual(await s.read(probe), want)
      assert.deepEqual(await s.write(probe), want)
      await s.close()
    })

    test('an op that throws: its writes are seen neither by later ops of its batch nor by later reads', async () => {
      const s = mode.open()
      const u = user(1, 'alice', SV, 'v0')
      await s.write(async (tx) => tx.users.put(u))
      // Cache the committed state on both sides.
      assert.deepEqual(await s.read((tx) => tx.users.getByIdentity(SV, 'alice')), u)
      assert.equal(await s.read((tx) => tx.users.getByIdentity(SV, 'bob')), undefined)
      // One batch: op 1 renames alice to bob and throws; op 2 and op 3 (after it) must see the old state.
      const bad = s.write(async (tx) => {
        await tx.users.put({ ...u, identity: 'bob', friendlyName: 'v1' })
        assert.equal(await tx.users.getByIdentity(SV, 'alice'), undefined)
        assert.equal((await tx.users.getByIdentity(SV, 'bob'))?.friendlyName, 'v1')
        throw new Error('boom')
      })
      const ok = s.write(async (tx) => [
        await tx.users.get(u.sid),
        await tx.users.getByIdentity(SV, 'alice'),
        await tx.users.getByIdentity(SV, 'bob'),
      ])
      await assert.rejects(bad, /boom/)
      assert.deepEqual(await ok, [u, u, undefined])
      assert.deepEqual(
        await s.read(async (tx) => [
          await tx.users.get(u.sid),
          await tx.users.getByIdentity(SV, 'alice'),
          await tx.users.getByIdentity(SV, 'bob'),
        ]),
        [u, u, undefined],
      )
      await s.close()
    })

    test('a changed unique name: the old name misses, the new one hits', async () => {
      const s = mode.open()
      const ch = channel(1, 'old')
      await s.write(async (tx) => tx.channels.put(ch))
      const names = (tx: ReadRepos) =>
        Promise.all([
          tx.channels.getByUniqueName(SV, 'old'),
          tx.channels.getByUniqueName(SV, 'new'),
        ])
      assert.deepEqual(await s.read(names), [ch, undefined])
      assert.deepEqual(await s.write(names), [ch, undefined])
      // Only the data changes (the row is updated in place): every key sees the new version.
      const edited = { ...ch, friendlyName: 'edited' }
      await s.write(async (tx) => tx.channels.put(edited))
      assert.deepEqual(await s.read(names), [edited, undefined])
      assert.deepEqual(await s.write(names), [edited, undefined])
      assert.deepEqual(await s.read((tx) => tx.channels.get(ch.sid)), edited)
      const renamed = { ...edited, uniqueName: 'new' }
      await s.write(async (tx) => tx.channels.put(renamed))
      assert.deepEqual(await s.read(names), [undefined, renamed])
      assert.deepEqual(await s.write(names), [undefined, renamed])
      // To no unique name at all (NULL), then the old name reused by another channel.
      const unnamed = { ...renamed, uniqueName: null }
      await s.write(async (tx) => tx.channels.put(unnamed))
      assert.deepEqual(await s.read(names), [undefined, undefined])
      const other = channel(2, 'old')
      await s.write(async (tx) => tx.channels.put(other))
      assert.deepEqual(await s.read(names), [other, undefined])
      assert.deepEqual(await s.read((tx) => tx.channels.get(ch.sid)), unnamed)
      await s.close()
    })

    test('a member deleted by SID is gone by identity too (and a user, an invite)', async () => {
      const s = mode.open()
      const ch = sid('CH', 1)
      const m = member(1, ch, 'bob')
      const u = user(1, 'bob')
      const inv = invite(1, ch, 'bob')
      await s.write(async (tx) => {
        await tx.members.put(m)
        await tx.users.put(u)
        await tx.invites.put(inv)
      })
      const probe = (tx: ReadRepos) =>
        Promise.all([
          tx.members.get(m.sid),
          tx.members.getByIdentity(ch, 'bob'),
          tx.users.get(u.sid),
          tx.users.getByIdentity(SV, 'bob'),
          tx.invites.get(inv.sid),
          tx.invites.getByIdentity(ch, 'bob'),
        ])
      assert.deepEqual(await s.read(probe), [m, m, u, u, inv, inv])
      assert.deepEqual(await s.write(probe), [m, m, u, u, inv, inv])
      await s.write(async (tx) => {
        await tx.members.delete(m.sid)
        await tx.users.delete(u.sid)
        await tx.invites.delete(inv.sid)
        assert.deepEqual(await probe(tx), Array(6).fill(undefined))
      })
      assert.deepEqual(await s.read(probe), Array(6).fill(undefined))
      assert.deepEqual(await s.write(probe), Array(6).fill(undefined))
      await s.close()
    })

    test('deleteByChannel empties the cached invites, messages and webhooks of the channel', async () => {
      const s = mode.open()
      const ch = sid('CH', 1)
      const inv = invite(1, ch, 'bob')
      const msg = message(1, ch, 0)
      const wh = { sid: sid('WH', 1), channelSid: ch, createdAt: 1 } as unknown as Parameters<
        WriteRepos['webhooks']['put']
      >[0]
      await s.write(async (tx) => {
        await tx.invites.put(inv)
        await tx.messages.put(msg)
        await tx.webhooks.put(wh)
      })
      const probe = (tx: ReadRepos) =>
        Promise.all([
          tx.invites.get(inv.sid),
          tx.invites.getByIdentity(ch, 'bob'),
          tx.messages.get(msg.sid),
          tx.webhooks.get(wh.sid),
        ])
      assert.deepEqual(await s.read(probe), [inv, inv, msg, wh])
      const inside = await s.write(async (tx) => {
        assert.deepEqual(await probe(tx), [inv, inv, msg, wh])
        await tx.invites.deleteByChannel(ch)
        await tx.messages.deleteByChannel(ch)
        await tx.webhooks.deleteByChannel(ch)
        const gone = await probe(tx)
        // Rows put after the bulk delete, in the same write.
        await tx.invites.put({ ...inv, createdBy: 'again' })
        return [gone, await tx.invites.getByIdentity(ch, 'bob')]
      })
      assert.deepEqual(inside, [Array(4).fill(undefined), { ...inv, createdBy: 'again' }])
      assert.deepEqual(await s.read(probe), [
        { ...inv, createdBy: 'again' },
        { ...inv, createdBy: 'again' },
        undefined,
        undefined,
      ])
      await s.close()
    })

    test('reads interleaved with a batch never see its uncommitted writes; the cache is right afterwards', async () => {
      const s = mode.open()
      const ch = channel(1, 'general', 'v0')
      const m = member(1, ch.sid, 'bob')
      await s.write(async (tx) => {
        await tx.channels.put(ch)
        await tx.members.put(m)
      })
      const snapshot = (tx: ReadRepos) =>
        Promise.all([
          tx.channels.get(ch.sid),
          tx.channels.getByUniqueName(SV, 'general'),
          tx.channels.getByUniqueName(SV, 'renamed'),
          tx.members.getByIdentity(ch.sid, 'bob'),
          tx.members.getByIdentity(ch.sid, 'zed'),
          tx.users.getByIdentity(SV, 'tmp'),
        ])
      const before = await s.read(snapshot)
      const v2 = { ...ch, uniqueName: 'renamed', friendlyName: 'v2' }
      const zed = member(2, ch.sid, 'zed')
      const afterState = [v2, undefined, v2, undefined, zed, undefined]
      const reads: Promise<unknown[]>[] = []
      /** Starts a read (not awaited: the write must only await its own tx) that runs while the batch is open. */
      const spawnRead = () => {
        reads.push(s.read(snapshot))
      }
      const op1 = s.write(async (tx) => {
        spawnRead()
        await tx.channels.put({ ...ch, friendlyName: 'v1' }) // never committed: overwritten below
        spawnRead()
        assert.equal((await tx.channels.get(ch.sid))?.friendlyName, 'v1')
        spawnRead()
        await tx.members.delete(m.sid)
        await tx.members.put(zed)
        spawnRead()
        await tx.channels.put(v2)
        spawnRead()
        return tx.channels.getByUniqueName(SV, 'renamed')
      })
      const op2 = s.write(async (tx) => {
        spawnRead()
        await tx.users.put(user(9, 'tmp'))
        spawnRead()
        assert.ok(await tx.users.getByIdentity(SV, 'tmp'))
        spawnRead()
        throw new Error('rolled back')
      })
      assert.deepEqual(await op1, v2)
      await assert.rejects(op2, /rolled back/)
      const seen = await Promise.all(reads)
      assert.equal(seen.length, 8)
      // Each interleaved read saw the state before the batch, or (where a read straddled the COMMIT, or `:memory:`
      // made it wait for the batch) after it; never the uncommitted 'v1', nor the rolled-back user.
      for (const r of seen) {
        for (let i = 0; i < r.length; i++)
          assert.ok(
            [before[i], afterState[i]].some((x) => isDeepEqual(x, r[i])),
            `${i}`,
          )
      }
      // The cache now answers the committed state, on both connections.
      assert.deepEqual(await s.read(snapshot), afterState)
      assert.deepEqual(await s.write(snapshot), afterState)
      await s.close()
    })

    test("a stream's last sequence number follows appends, rolled-back ops and failed commits", async () => {
      const s = withFailingCommit(() => mode.open())
      const last = (tx: ReadRepos) => Promise.all([tx.events.lastSeq('a'), tx.events.lastSeq('b')])
      const both = async (want: number[]) => {
        // Twice each: the second answer may come from the cache.
        for (let i = 0; i < 2; i++) assert.deepEqual(await s.store.read(last), want)
        for (let i = 0; i < 2; i++) assert.deepEqual(await s.store.write(last), want)
      }
      await both([0, 0])
      // The usual pattern (read, then append the next), over several batches.
      for (let n = 1; n <= 3; n++) {
        await s.store.write(async (tx) => appendEvent(tx, 'a', (await tx.events.lastSeq('a')) + 1))
        await both([n, 0])
      }
      // One batch: op 1 appends to both streams and throws, op 2 appends the next of one stream after what it reads.
      const bad = s.store.write(async (tx) => {
        await appendEvent(tx, 'a', (await tx.events.lastSeq('a')) + 1)
        await appendEvent(tx, 'b', (await tx.events.lastSeq('b')) + 1)
        assert.deepEqual(await last(tx), [4, 1])
        throw new Error('boom')
      })
      const ok = s.store.write(async (tx) => {
        const seq = (await tx.events.lastSeq('a')) + 1
        await appendEvent(tx, 'a', seq)
        return seq
      })
      await assert.rejects(bad, /boom/)
      assert.equal(await ok, 4)
      await both([4, 0])
      await s.store.write(async (tx) => appendEvent(tx, 'b', (await tx.events.lastSeq('b')) + 1))
      await both([4, 1])
      // An append that does not follow the last known number (a gap, then one below the greatest).
      await s.store.write(async (tx) => appendEvent(tx, 'a', 9))
      await both([9, 1])
      await s.store.write(async (tx) => appendEvent(tx, 'a', 7))
      await both([9, 1])
      // A batch whose COMMIT fails: nothing of it shows.
      s.failNextCommit()
      await assert.rejects(
        s.store.write(async (tx) => appendEvent(tx, 'a', (await tx.events.lastSeq('a')) + 1)),
        { code: 52001 },
      )
      await both([9, 1])
      await s.store.write(async (tx) => appendEvent(tx, 'a', (await tx.events.lastSeq('a')) + 1))
      await both([10, 1])
      await s.store.close()
    })

    test('a batch whose COMMIT fails leaves no trace in the cache', async () => {
      const s = withFailingCommit(() => mode.open())
      const u = user(1, 'alice', SV, 'v0')
      await s.store.write(async (tx) => tx.users.put(u))
      const probe = (tx: ReadRepos) =>
        Promise.all([
          tx.users.get(u.sid),
          tx.users.getByIdentity(SV, 'alice'),
          tx.users.getByIdentity(SV, 'bob'),
        ])
      assert.deepEqual(await s.store.read(probe), [u, u, undefined])
      assert.deepEqual(await s.store.write(probe), [u, u, undefined])
      s.failNextCommit()
      const lost = s.store.write(async (tx) => {
        await tx.users.put({ ...u, identity: 'bob', friendlyName: 'lost' })
        return probe(tx)
      })
      await assert.rejects(lost, { code: 52001 })
      assert.deepEqual(await s.store.read(probe), [u, u, undefined])
      assert.deepEqual(await s.store.write(probe), [u, u, undefined])
      await s.store.close()
    })
  })
}

/** `assert.deepStrictEqual` as a predicate. */
function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b)
    return true
  } catch {
    return false
  }
}

/**
 * Opens a store whose `COMMIT` statement can be made to fail once (as an I/O error would): the store then rolls
 * back and rejects the batch with 52001. Only statements prepared while `open` runs are wrapped.
 */
function withFailingCommit(open: () => Store): { store: Store; failNextCommit: () => void } {
  let fail = false
  const proto = Database.prototype as unknown as { prepare: (sql: string) => Database.Statement }
  const original = proto.prepare
  proto.prepare = function (this: Database.Database, sql: string) {
    const stmt = original.call(this, sql)
    if (sql !== 'COMMIT') return stmt
    const run = stmt.run.bind(stmt)
    return Object.assign(Object.create(stmt) as Database.Statement, {
      run: (...args: unknown[]) => {
        if (fail) {
          fail = false
          throw new Database.SqliteError('simulated COMMIT failure', 'SQLITE_IOERR')
        }
        return run(...args)
      },
    })
  }
  try {
    return { store: open(), failNextCommit: () => (fail = true) }
  } finally {
    proto.prepare = original
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Property: the same random ops (some throwing, some conflicting) give the same answers with the cache on and off.
// ---------------------------------------------------------------------------------------------------------------

type Action =
  | { t: 'putUser'; n: number; sv: number; id: number; v: number }
  | { t: 'delUser'; n: number }
  | { t: 'getUser'; n: number }
  | { t: 'userById'; sv: number; id: number }
  | { t: 'putChannel'; n: number; name: number | null; v: number }
  | { t: 'delChannel'; n: number }
  | { t: 'getChannel'; n: number }
  | { t: 'channelByName'; name: number }
  | { t: 'putMember'; n: number; ch: number; id: number; v: number }
  | { t: 'delMember'; n: number }
  | { t: 'getMember'; n: number }
  | { t: 'memberById'; ch: number; id: number }
  | { t: 'putInvite'; n: number; ch: number; id: number; v: number }
  | { t: 'delInvite'; n: number }
  | { t: 'invitesByChannel'; ch: number }
  | { t: 'getInvite'; n: number }
  | { t: 'inviteById'; ch: number; id: number }
  | { t: 'putUserChannel'; u: number; ch: number; v: number }
  | { t: 'delUserChannel'; u: number; ch: number }
  | { t: 'getUserChannel'; u: number; ch: number }
  | { t: 'lastSeq'; s: number }
  | { t: 'appendNext'; s: number }
  | { t: 'appendAt'; s: number; seq: number }

const ids = ['a', 'b']
const svs = [SV, sid('IS', 1)]
const chs = [sid('CH', 1), sid('CH', 2)]
const streamNames = ['messages:a', 'channel:a']

// Small key spaces, so that sequences often hit the same rows and keys through different paths.
const small = fc.integer({ min: 0, max: 2 })
const id = fc.integer({ min: 0, max: ids.length - 1 })
const sv = fc.constantFrom(0, 0, 0, 1)
const ch = fc.constantFrom(0, 0, 1)
const v = fc.integer({ min: 0, max: 9 })
const readAction: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant('getUser' as const), n: small }),
  fc.record({ t: fc.constant('userById' as const), sv, id }),
  fc.record({ t: fc.constant('getChannel' as const), n: small }),
  fc.record({ t: fc.constant('channelByName' as const), name: id }),
  fc.record({ t: fc.constant('getMember' as const), n: small }),
  fc.record({ t: fc.constant('memberById' as const), ch, id }),
  fc.record({ t: fc.constant('getInvite' as const), n: small }),
  fc.record({ t: fc.constant('inviteById' as const), ch, id }),
  fc.record({ t: fc.constant('getUserChannel' as const), u: small, ch }),
  fc.record({ t: fc.constant('lastSeq' as const), s: fc.constantFrom(0, 1) }),
)
const writeAction: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant('putUser' as const), n: small, sv, id, v }),
  fc.record({ t: fc.constant('delUser' as const), n: small }),
  fc.record({
    t: fc.constant('putChannel' as const),
    n: small,
    name: fc.option(id, { nil: null }),
    v,
  }),
  fc.record({ t: fc.constant('delChannel' as const), n: small }),
  fc.record({ t: fc.constant('putMember' as const), n: small, ch, id, v }),
  fc.record({ t: fc.constant('delMember' as const), n: small }),
  fc.record({ t: fc.constant('putInvite' as const), n: small, ch, id, v }),
  fc.record({ t: fc.constant('delInvite' as const), n: small }),
  fc.record({ t: fc.constant('invitesByChannel' as const), ch }),
  fc.record({ t: fc.constant('putUserChannel' as const), u: small, ch, v }),
  fc.record({ t: fc.constant('delUserChannel' as const), u: small, ch }),
  // The core's pattern (read the last number, append the next), and appends anywhere (gaps, repeats, below the top).
  fc.record({ t: fc.constant('appendNext' as const), s: fc.constantFrom(0, 1) }),
  fc.record({
    t: fc.constant('appendAt' as const),
    s: fc.constantFrom(0, 1),
    seq: fc.integer({ min: 1, max: 12 }),
  }),
)
const action = fc.oneof(readAction, writeAction)

/** Runs one action; reads give their row, writes `null`, a failure its error's name. */
async function runAction(tx: WriteRepos | ReadRepos, a: Action): Promise<unknown> {
  const w = tx as WriteRepos
  try {
    switch (a.t) {
      case 'putUser':
        return await w.users.put(user(a.n, ids[a.id]!, svs[a.sv], `v${a.v}`)).then(() => null)
      case 'delUser':
        return await w.users.delete(sid('US', a.n)).then(() => null)
      case 'getUser':
        return await tx.users.get(sid('US', a.n))
      case 'userById':
        return await tx.users.getByIdentity(svs[a.sv]!, ids[a.id]!)
      case 'putChannel':
        return await w.channels
          .put(channel(a.n, a.name === null ? null : ids[a.name]!, `v${a.v}`))
          .then(() => null)
      case 'delChannel':
        return await w.channels.delete(sid('CH', a.n)).then(() => null)
      case 'getChannel':
        return await tx.channels.get(sid('CH', a.n))
      case 'channelByName':
        return await tx.channels.getByUniqueName(SV, ids[a.name]!)
      case 'putMember':
        return await w.members.put(member(a.n, chs[a.ch]!, ids[a.id]!, a.v)).then(() => null)
      case 'delMember':
        return await w.members.delete(sid('MB', a.n)).then(() => null)
      case 'getMember':
        return await tx.members.get(sid('MB', a.n))
      case 'memberById':
        return await tx.members.getByIdentity(chs[a.ch]!, ids[a.id]!)
      case 'putInvite':
        return await w.invites.put(invite(a.n, chs[a.ch]!, ids[a.id]!, `v${a.v}`)).then(() => null)
      case 'delInvite':
        return await w.invites.delete(sid('IN', a.n)).then(() => null)
      case 'invitesByChannel':
        return await w.invites.deleteByChannel(chs[a.ch]!).then(() => null)
      case 'getInvite':
        return await tx.invites.get(sid('IN', a.n))
      case 'inviteById':
        return await tx.invites.getByIdentity(chs[a.ch]!, ids[a.id]!)
      case 'putUserChannel':
        return await w.userChannels.put({ ...userChannel(a.u, a.ch + 1, a.v) }).then(() => null)
      case 'delUserChannel':
        return await w.userChannels.delete(sid('US', a.u), sid('CH', a.ch + 1)).then(() => null)
      case 'getUserChannel':
        return await tx.userChannels.get(sid('US', a.u), sid('CH', a.ch + 1))
      case 'lastSeq':
        return await tx.events.lastSeq(streamNames[a.s]!)
      case 'appendNext': {
        const next = (await w.events.lastSeq(streamNames[a.s]!)) + 1
        return await appendEvent(w, streamNames[a.s]!, next).then(() => next)
      }
      case 'appendAt':
        return await appendEvent(w, streamNames[a.s]!, a.seq).then(() => null)
    }
  } catch (err) {
    return (err as Error).name
  }
}

function appendEvent(w: WriteRepos, stream: string, streamSeq: number) {
  return w.events.append({
    stream,
    streamSeq,
    type: 'message_added',
    key: null,
    data: { streamSeq },
    accountSid: AC,
    serviceSid: SV,
    createdAt: 1,
  })
}

/** One write: its actions, whether it throws at the end, and read-only action lists it starts as concurrent reads. */
interface Op {
  actions: Action[]
  fail: boolean
  spawn: Action[][]
}
type Step = { kind: 'writes'; ops: Op[] } | { kind: 'read'; actions: Action[] }

const readOnly = fc.array(readAction, { minLength: 1, maxLength: 6 })
const op: fc.Arbitrary<Op> = fc.record({
  actions: fc.array(action, { minLength: 1, maxLength: 8 }),
  fail: fc.constantFrom(false, false, true),
  spawn: fc.array(readOnly, { maxLength: 2 }),
})
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('writes' as const),
    ops: fc.array(op, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('read' as const), actions: readOnly }),
)

/**
 * Runs the steps on one store. Returns every answer of every write (in-transaction reads and the outcome) and of
 * every read issued between steps. Reads spawned inside a write run concurrently with its batch: they exercise the
 * cache, but their answers depend on interleaving and are not compared.
 */
async function runSteps(store: Store, steps: Step[]): Promise<unknown[]> {
  const out: unknown[] = []
  for (const st of steps) {
    if (st.kind === 'read') {
      out.push(await store.read(async (tx) => seq(tx, st.actions)))
      continue
    }
    const spawned: Promise<unknown>[] = []
    const writes = st.ops.map((o) =>
      store
        .write(async (tx) => {
          for (const sp of o.spawn) spawned.push(store.read((r) => seq(r, sp)))
          const r = await seq(tx, o.actions)
          if (o.fail) throw new Error('op failed')
          return r
        })
        .then(
          (r) => ({ ok: r }),
          (e: unknown) => ({ err: (e as Error).message }),
        ),
    )
    out.push(await Promise.all(writes))
    await Promise.all(spawned)
  }
  return out
}

async function seq(tx: WriteRepos | ReadRepos, actions: Action[]): Promise<unknown[]> {
  const r: unknown[] = []
  for (const a of actions) r.push(await runAction(tx, a))
  return r
}

describe('row cache: cached and uncached stores answer alike (property)', () => {
  const variants: { name: string; open: (rowCache: boolean) => Store; runs: number }[] = [
    {
      name: ':memory:',
      open: (rowCache) => sqliteStore({ filename: ':memory:', rowCache }),
      runs: 150,
    },
    {
      name: ':memory:, a cache of 5 entries',
      open: (rowCache) =>
        sqliteStore({
          filename: ':memory:',
          rowCache: rowCache === false ? false : { maxEntries: 5 },
        }),
      runs: 100,
    },
    {
      name: 'file, pipelined, batches of 2',
      open: (rowCache) =>
        sqliteStore({
          dataDir: join(root, `q${++dirs}`),
          maxBatch: 2,
          fsync: () => new Promise<void>((r) => setImmediate(r)),
          rowCache,
        }),
      runs: 40,
    },
  ]
  for (const variant of variants) {
    test(variant.name, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 16 }), async (steps) => {
          const cached = variant.open(true)
          const plain = variant.open(false)
          try {
            const [a, b] = await Promise.all([runSteps(cached, steps), runSteps(plain, steps)])
            assert.deepStrictEqual(a, b)
          } finally {
            await Promise.all([cached.close(), plain.close()])
          }
        }),
        { numRuns: variant.runs, seed: 20261127 },
      )
    })
  }
})

describe('row cache: a cached row decodes like JSON.parse (property)', () => {
  test('decode() equals JSON.parse of its text and is a fresh, independent copy each time', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.constantFrom('__proto__', 'constructor', 'a'),
        (value, key) => {
          // Rows are objects; a key like `__proto__` must stay an own data property, as JSON.parse makes it.
          const text = JSON.stringify({ [key]: value, nested: { [key]: [value] }, value })
          const row = new CachedRow(text)
          const a = row.decode<Record<string, unknown>>()
          const b = row.decode<Record<string, unknown>>()
          const expected = JSON.parse(text) as unknown
          assert.deepEqual(a, expected)
          assert.equal(Object.getPrototypeOf(a), Object.prototype)
          assert.deepEqual(Object.keys(a), Object.keys(expected as object))
          // Mutating every container of one copy leaves the next decode unchanged.
          const scramble = (v: unknown): void => {
            if (typeof v !== 'object' || v === null) return
            for (const k of Object.keys(v)) {
              scramble((v as Record<string, unknown>)[k])
              Object.defineProperty(v, k, {
                value: 'x',
                writable: true,
                enumerable: true,
                configurable: true,
              })
            }
            if (Array.isArray(v)) v.push('extra')
          }
          scramble(a)
          assert.deepEqual(b, expected)
          assert.deepEqual(row.decode(), expected)
        },
      ),
      { numRuns: 300 },
    )
  })
})
