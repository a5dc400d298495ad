/**
 * REST fuzz (reliability.md R12): generated requests — random and real paths and methods, wrong types, invalid JSON
 * attributes, oversize bodies, malformed SIDs, wrong content types, NUL and lone surrogates, duplicate params,
 * broken percent-encoding, bad credentials — through `app.fetch`. Every response must be < 500; every error a
 * Twilio-shaped JSON body with a numeric code. Afterwards the database must be consistent: counters match rows,
 * message indexes are unique and ordered below the channel's next index, and `integrity_check` is ok.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Actor, Channel, Member, Message, Service, User } from '../../src/core/types.ts'
import { basicAuth, startHarness, type Harness } from './harness.ts'

const RUNS = Number(process.env['PARLEY_FUZZ_RUNS'] ?? 2500)
const SEED = Number(process.env['PARLEY_FUZZ_SEED'] ?? 20261127)

let h: Harness
let auth: string
let keyAuth: string
const real: {
  services: string[]
  channels: string[]
  users: string[]
  messages: string[]
  members: string[]
  roles: string[]
} = {
  services: [],
  channels: [],
  users: [],
  messages: [],
  members: [],
  roles: [],
}

before(async () => {
  h = await startHarness()
  auth = basicAuth(h.creds.account.sid, h.creds.authToken)
  keyAuth = basicAuth(h.creds.apiKey.sid, h.creds.apiKey.secret)
  const actor: Actor = { kind: 'admin', accountSid: h.creds.account.sid }
  const core = h.parley.core
  const is = h.creds.service.sid
  real.services.push(is)
  for (const r of (await core.roles.list(actor, is)).items) real.roles.push(r.sid)
  for (const id of ['alice', 'bob', 'carol'])
    real.users.push((await core.users.create(actor, is, { identity: id })).sid)
  for (let i = 0; i < 3; i++) {
    const ch = await core.channels.create(actor, is, { friendlyName: `c${i}`, uniqueName: `u${i}` })
    real.channels.push(ch.sid)
    for (const id of ['alice', 'bob'])
      real.members.push((await core.members.create(actor, is, ch.sid, { identity: id })).sid)
    for (let j = 0; j < 3; j++) {
      real.messages.push(
        (await core.messages.create(actor, is, ch.sid, { body: `m${j}`, from: 'alice' })).message
          .sid,
      )
    }
  }
})
after(async () => {
  await h?.close()
})

// --- generators -------------------------------------------------------------------------------------------------

const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/)
const junkText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfff',
    '\udc00\ud800',
    '😀',
    '../../etc/passwd',
    '%',
    '%%',
    '%zz',
    '-1',
    '1e309',
    '9007199254740993',
    '-99999999999999999999',
    'NaN',
    'true',
    'TRUE',
    'null',
    '{}',
    '{"a":1}',
    '{bad json',
    '[1,2',
    '"str"',
    '',
    ' ',
    '2024-13-45T99:99:99Z',
    '2024-01-02T03:04:05Z',
    'x'.repeat(300),
    'y'.repeat(70_000),
  ),
)

const sidLike = fc.oneof(
  fc
    .constantFrom('IS', 'CH', 'US', 'MB', 'IM', 'RL', 'IN', 'WH', 'BS', 'CR', 'SK', 'AC', 'XX')
    .chain((p) => hex32.map((x) => p + x)),
  fc.constantFrom('IS123', 'CH', 'ISZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ', 'is' + 'a'.repeat(32)),
  junkText,
)

const pick = (xs: string[]) => fc.constantFrom(...xs)
const seg = (xs: string[]) =>
  fc.oneof({ weight: 3, arbitrary: pick(xs) }, { weight: 1, arbitrary: sidLike })

/** Paths: real templates with real / fake / malformed ids, plus random garbage. Built once the fixtures exist. */
const makePathArb = () =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant('/v2/Services') },
    { weight: 2, arbitrary: seg(real.services).map((s) => `/v2/Services/${enc(s)}`) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(seg(real.services), fc.constantFrom('Channels', 'Users', 'Roles', 'Bindings'))
        .map(([s, r]) => `/v2/Services/${enc(s)}/${r}`),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          seg(real.services),
          seg(real.channels),
          fc.constantFrom('', '/Members', '/Messages', '/Invites', '/Webhooks'),
        )
        .map(([s, c, r]) => `/v2/Services/${enc(s)}/Channels/${enc(c)}${r}`),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          seg(real.services),
          seg(real.channels),
          fc.constantFrom('Members', 'Messages', 'Invites', 'Webhooks'),
          seg([...real.members, ...real.messages, 'alice', 'bob']),
        )
        .map(([s, c, r, x]) => `/v2/Services/${enc(s)}/Channels/${enc(c)}/${r}/${enc(x)}`),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          seg(real.services),
          seg([...real.users, 'alice', 'bob']),
          fc.constantFrom('', '/Channels', '/Bindings'),
        )
        .map(([s, u, r]) => `/v2/Services/${enc(s)}/Users/${enc(u)}${r}`),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(seg(real.services), seg(real.users), seg(real.channels))
        .map(([s, u, c]) => `/v2/Services/${enc(s)}/Users/${enc(u)}/Channels/${enc(c)}`),
    },
    {
      weight: 1,
      arbitrary: seg(real.roles).map(
        (r) => `/v2/Services/${enc(real.services[0] ?? '')}/Roles/${enc(r)}`,
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '/v2/Credentials',
        '/v1/Keys',
        '/healthz',
        '/metrics',
        '/',
        '/v2',
        '/v3/wsconnect',
      ),
    },
    { weight: 1, arbitrary: sidLike.map((k) => `/v1/Keys/${enc(k)}`) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.oneof(fc.constant('AC'), sidLike), sidLike)
        .map(([a, k]) => `/2010-04-01/Accounts/${enc(a)}/Keys${k === '' ? '' : '/' + enc(k)}.json`),
    },
    {
      weight: 2,
      arbitrary: fc
        .array(
          fc.oneof(
            junkText,
            fc.constantFrom('%00', '%ED%A0%80', '%C3', '%', '..', '.', 'v2', 'Services'),
          ),
          {
            maxLength: 8,
          },
        )
        .map((segs) => '/' + segs.map(rawSeg).join('/')),
    },
  )

const PARAM_NAMES = [
  'FriendlyName',
  'UniqueName',
  'Attributes',
  'Type',
  'Identity',
  'Body',
  'From',
  'RoleSid',
  'Permission',
  'PageSize',
  'Page',
  'PageToken',
  'Order',
  'DateCreated',
  'DateUpdated',
  'LastConsumedMessageIndex',
  'LastConsumptionTimestamp',
  'NotificationLevel',
  'ReadStatusEnabled',
  'ReachabilityEnabled',
  'TypingIndicatorTimeout',
  'Limits.ChannelMembers',
  'Limits.UserChannels',
  'Notifications.NewMessage.Enabled',
  'WebhookFilters',
  'WebhookMethod',
  'PreWebhookUrl',
  'Configuration.Url',
  'Configuration.Filters',
  'Configuration.RetryCount',
  'Configuration.Triggers',
  'AccountSid',
  'KeyType',
  'CreatedBy',
  'MediaSid',
  'BindingType',
  'Secret',
  'Sandbox',
  'DefaultServiceRoleSid',
]

const paramsArb = fc.array(
  fc.tuple(
    fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...PARAM_NAMES) },
      { weight: 1, arbitrary: junkText },
    ),
    junkText,
  ),
  { maxLength: 8 },
)

const contentTypeArb = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=x',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  '',
  undefined,
)

const methodArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('GET', 'POST', 'POST', 'DELETE') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('PUT', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'get', 'FOO'),
  },
)

const bodyKindArb = fc.constantFrom('form', 'form', 'form', 'raw-junk', 'huge', 'rawbytes')

const authArb = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('ok', 'ok', 'key') },
  { weight: 1, arbitrary: fc.constantFrom('none', 'bad', 'garbage') },
)

/** Plausible values: mostly well-formed for the parameter, so a good share of requests are accepted and mutate. */
const plausibleValue = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9_.@-]{0,15}$/),
  fc.integer({ min: -5, max: 200 }).map(String),
  fc.constantFrom(
    'true',
    'false',
    'public',
    'private',
    'asc',
    'desc',
    'muted',
    'default',
    'channel',
    'deployment',
  ),
  fc.constantFrom(
    'sendMessage',
    'leaveChannel',
    'createChannel',
    'joinChannel',
    'editOwnUserInfo',
    'webhook',
    'fcm',
  ),
  fc
    .dictionary(
      fc.stringMatching(/^[a-z]{1,5}$/),
      fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean()),
      {
        maxKeys: 3,
      },
    )
    .map((o) => JSON.stringify(o)),
  fc
    .date({ min: new Date('2000-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
    .map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')),
)
const plausibleParams = fc.array(fc.tuple(fc.constantFrom(...PARAM_NAMES), plausibleValue), {
  maxLength: 6,
})

type Req = [
  string,
  string,
  [string, string][],
  [string, string][],
  string | undefined,
  string,
  string,
  boolean,
]

/** Requests of every kind: random or real paths, junk or plausible parameters, sometimes broken encodings. */
function makeChaosArb(): fc.Arbitrary<Req> {
  return fc.tuple(
    methodArb,
    makePathArb(),
    fc.oneof({ weight: 1, arbitrary: paramsArb }, { weight: 2, arbitrary: plausibleParams }),
    fc.oneof({ weight: 1, arbitrary: paramsArb }, { weight: 3, arbitrary: plausibleParams }),
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constant<string | undefined>('application/x-www-form-urlencoded'),
      },
      { weight: 1, arbitrary: contentTypeArb },
    ),
    fc.oneof({ weight: 5, arbitrary: fc.constant('form') }, { weight: 1, arbitrary: bodyKindArb }),
    authArb,
    fc.boolean(),
  )
}

/** Well-formed mutations on the fixtures (creates, updates, deletes), so the database really changes. */
function makeValidArb(): fc.Arbitrary<Req> {
  const is = real.services[0]!
  const ch = pick(real.channels)
  const identity = fc.constantFrom(
    'alice',
    'bob',
    'carol',
    'dave',
    'erin',
    'frank',
    'u-' + 'x'.repeat(10),
  )
  const text = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'grapheme', maxLength: 10 }),
  )
  const F = 'application/x-www-form-urlencoded'
  const post = (
    path: fc.Arbitrary<string>,
    params: fc.Arbitrary<[string, string][]>,
  ): fc.Arbitrary<Req> =>
    fc
      .tuple(path, params, fc.boolean())
      .map(([p, ps, w]): Req => ['POST', p, [], ps, F, 'form', 'ok', w])
  const del = (path: fc.Arbitrary<string>): fc.Arbitrary<Req> =>
    path.map((p): Req => ['DELETE', p, [], [], undefined, 'form', 'ok', false])
  return fc.oneof(
    post(
      fc.constant(`/v2/Services/${is}/Channels`),
      fc.tuple(text, fc.constantFrom('public', 'private')).map(([n, t]): [string, string][] => [
        ['FriendlyName', n.slice(0, 60)],
        ['Type', t],
        ['Attributes', JSON.stringify({ n })],
      ]),
    ),
    post(
      ch.map((c) => `/v2/Services/${is}/Channels/${c}/Members`),
      identity.map((i): [string, string][] => [['Identity', i]]),
    ),
    post(
      ch.map((c) => `/v2/Services/${is}/Channels/${c}/Messages`),
      fc.tuple(text, identity).map(([b, f]): [string, string][] => [
        ['Body', b],
        ['From', f],
      ]),
    ),
    post(
      fc.constant(`/v2/Services/${is}/Users`),
      identity.map((i): [string, string][] => [['Identity', i + '2']]),
    ),
    post(
      fc
        .tuple(ch, pick(real.messages))
        .map(([c, m]) => `/v2/Services/${is}/Channels/${c}/Messages/${m}`),
      text.map((b): [string, string][] => [['Body', b]]),
    ),
    post(
      fc.tuple(ch, identity).map(([c, i]) => `/v2/Services/${is}/Channels/${c}/Members/${i}`),
      fc.nat(20).map((n): [string, string][] => [['LastConsumedMessageIndex', String(n)]]),
    ),
    del(
      fc
        .tuple(ch, pick(real.messages))
        .map(([c, m]) => `/v2/Services/${is}/Channels/${c}/Messages/${m}`),
    ),
    del(fc.tuple(ch, identity).map(([c, i]) => `/v2/Services/${is}/Channels/${c}/Members/${i}`)),
    del(identity.map((i) => `/v2/Services/${is}/Users/${i}`)),
    del(fc.tuple(identity, ch).map(([i, c]) => `/v2/Services/${is}/Users/${i}/Channels/${c}`)),
  )
}

// --- encoding helpers (encodeURIComponent throws on lone surrogates: emit their WTF-8 bytes instead) ------------

function enc(s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += encodeURIComponent(s[i]! + s[i + 1]!)
        i++
        continue
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      out += `%ED%${(0xa0 | ((c >> 6) & 0x0f)).toString(16).toUpperCase()}%${(0x80 | (c & 0x3f)).toString(16).toUpperCase()}`
    } else {
      out += encodeURIComponent(s[i]!)
    }
  }
  return out
}

/** A raw path segment: already-percent-encoded junk passes through as is; text is encoded. */
function rawSeg(s: string): string {
  return /^(%[0-9A-Fa-f]{0,2})+$|^\.{1,2}$|^(v2|Services)$/.test(s) ? s : enc(s)
}

function formEncode(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')
}

// --- the property -----------------------------------------------------------------------------------------------

test(`fuzz: ${RUNS} generated requests never get a 5xx and every error is Twilio-shaped`, async (t) => {
  let statuses = new Map<number, number>()
  await fc.assert(
    fc.asyncProperty(
      fc.oneof({ weight: 3, arbitrary: makeChaosArb() }, { weight: 1, arbitrary: makeValidArb() }),
      async ([method, path, query, params, contentType, bodyKind, authKind, webhookHeader]) => {
        // Keep the fixture service so the consistency check below has something to check.
        if (
          method === 'DELETE' &&
          /^\/v2\/Services\/[^/]+\/?$/.test(path) &&
          path.includes(real.services[0]!)
        )
          return
        const headers: Record<string, string> = {}
        if (authKind === 'ok') headers['authorization'] = auth
        if (authKind === 'key') headers['authorization'] = keyAuth
        if (authKind === 'bad') headers['authorization'] = basicAuth(h.creds.account.sid, 'nope')
        if (authKind === 'garbage') headers['authorization'] = 'Basic \u00ff\u00fe'
        if (contentType !== undefined) headers['content-type'] = contentType
        if (webhookHeader) headers['x-twilio-webhook-enabled'] = 'true'
        let body: string | Uint8Array | undefined
        if (method !== 'GET' && method !== 'HEAD') {
          if (bodyKind === 'form') body = formEncode(params)
          else if (bodyKind === 'raw-junk')
            body = params.map(([k, v]) => `${k}=${v}`).join('&') + '&%zz=%&=%00&A=%ED%A0%80'
          else if (bodyKind === 'huge') body = 'Body=' + 'x'.repeat(1024 * 1024 + 10)
          else body = new Uint8Array([0x41, 0x3d, 0xc3, 0x28, 0xff, 0x00, 0xed, 0xa0, 0x80])
        }
        const url = `http://127.0.0.1${path}${query.length > 0 ? '?' + formEncode(query) : ''}`
        let request: Request
        try {
          request = new Request(
            url,
            body === undefined ? { method, headers } : { method, headers, body },
          )
        } catch {
          return // the client itself refuses this request (e.g. an invalid header value): nothing reaches us
        }
        const res = await h.parley.app.fetch(request)
        const text = await res.text()
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        if (res.status >= 500) {
          assert.fail(`${method} ${url.slice(0, 300)} → ${res.status} ${text.slice(0, 300)}`)
        }
        if (res.status >= 400 && method !== 'HEAD') {
          let json: { code?: unknown; status?: unknown; message?: unknown; more_info?: unknown }
          try {
            json = JSON.parse(text) as typeof json
          } catch {
            assert.fail(
              `non-JSON error body for ${method} ${path.slice(0, 200)}: ${text.slice(0, 200)}`,
            )
          }
          assert.equal(typeof json.code, 'number', text)
          assert.equal(json.status, res.status, text)
          assert.equal(typeof json.message, 'string', text)
          assert.equal(typeof json.more_info, 'string', text)
        }
      },
    ),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  )
  t.diagnostic(
    `statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`,
  )
  const total = [...statuses.values()].reduce((a, b) => a + b, 0)
  assert.ok(total >= Math.min(RUNS, 2000) * 0.95, `only ${total} requests were sent`)
  // Not only rejections: a share of the generated requests must have been valid and served.
  const ok2xx = [...statuses.entries()].filter(([s]) => s < 300).reduce((a, [, n]) => a + n, 0)
  assert.ok(ok2xx > 0, `no 2xx at all: ${JSON.stringify([...statuses])}`)
  statuses = new Map()
})

test('after the fuzz the database is consistent: counters, indexes, memberships, integrity_check', async () => {
  const core = h.parley.core
  const actor: Actor = { kind: 'admin', accountSid: h.creds.account.sid }
  assert.equal(h.parley.store.integrityCheck(), 'ok')
  let checkedChannels = 0

  const services = await listAll<Service>((t) => core.services.list(actor, t))
  for (const svc of services) {
    const chans: Channel[] = await listAll<Channel>((t) =>
      core.channels.list(actor, svc.sid, {}, t),
    )
    const joined = new Map<string, number>()
    for (const ch of chans) {
      checkedChannels++
      const members: Member[] = await listAll<Member>((t) =>
        core.members.list(actor, svc.sid, ch.sid, {}, t),
      )
      assert.equal(ch.membersCount, members.length, `members_count of ${ch.sid}`)
      for (const m of members) joined.set(m.userSid, (joined.get(m.userSid) ?? 0) + 1)
      const messages: Message[] = await listAll<Message>((t) =>
        core.messages.list(actor, svc.sid, ch.sid, { order: 'asc' }, t),
      )
      assert.equal(ch.messagesCount, messages.length, `messages_count of ${ch.sid}`)
      const idx = messages.map((m) => m.index)
      for (let i = 1; i < idx.length; i++)
        assert.ok((idx[i] as number) > (idx[i - 1] as number), `indexes of ${ch.sid}`)
      if (idx.length > 0) assert.ok((idx[idx.length - 1] as number) < ch.nextMessageIndex)
      assert.equal(ch.lastMessageIndex, idx.length > 0 ? idx[idx.length - 1] : null)
    }
    const users: User[] = await listAll<User>((t) => core.users.list(actor, svc.sid, t))
    for (const u of users) {
      assert.equal(
        u.joinedChannelsCount,
        joined.get(u.sid) ?? 0,
        `joined_channels_count of ${u.identity}`,
      )
    }
  }
  assert.ok(checkedChannels > 0, 'the fuzz left no channel to check')
})

test('message indexes stay contiguous when nothing is deleted', async () => {
  const core = h.parley.core
  const actor: Actor = { kind: 'admin', accountSid: h.creds.account.sid }
  const is = h.creds.service.sid
  const ch = await core.channels.create(actor, is, { friendlyName: 'contiguous' })
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      core.messages.create(actor, is, ch.sid, { body: String(i) }),
    ),
  )
  const msgs = await listAll<Message>((t) => core.messages.list(actor, is, ch.sid, {}, t))
  assert.deepEqual(
    msgs.map((m) => m.index),
    Array.from({ length: 50 }, (_, i) => i),
  )
})

async function listAll<T>(
  list: (page: {
    pageSize: number
    pageToken?: string
  }) => Promise<{ items: T[]; nextPageToken: string | null }>,
): Promise<T[]> {
  const out: T[] = []
  let token: string | null = null
  do {
    const p: { items: T[]; nextPageToken: string | null } = await list(
      token === null ? { pageSize: 100 } : { pageSize: 100, pageToken: token },
    )
    out.push(...p.items)
    token = p.nextPageToken
  } while (token !== null)
  return out
}
