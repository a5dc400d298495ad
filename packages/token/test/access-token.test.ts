import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { AccessToken, MAX_TTL_SECONDS } from '../src/access-token.ts'
import {
  ChatGrant,
  PlaybackGrant,
  SyncGrant,
  TaskRouterGrant,
  VideoGrant,
  VoiceGrant,
  type AnyGrant,
} from '../src/grants.ts'
import * as index from '../src/index.ts'
import { TwilioAccessToken } from './support/tokens.ts'

const X_AC = 'ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
const X_SK = 'SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
const VECTOR_3_1 =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJqdGkiOiJTS3h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4LTE3MDAwMDAwMDAiLCJncmFudHMiOnsiaWRlbnRpdHkiOiJhbGljZUBleGFtcGxlLmNvbSIsImNoYXQiOnsic2VydmljZV9zaWQiOiJJU3h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4IiwiZW5kcG9pbnRfaWQiOiJteWFwcDphbGljZUBleGFtcGxlLmNvbTpkZXZpY2UxIiwicHVzaF9jcmVkZW50aWFsX3NpZCI6IkNSeHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHgifX0sImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJpc3MiOiJTS3h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4Iiwic3ViIjoiQUN4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eCJ9.3qykURrGj61xLqbVu9Kwwy0Sqh9BIjUConV-f27pXAc'

function decodePart(jwt: string, i: number): string {
  return Buffer.from(jwt.split('.')[i]!, 'base64url').toString('utf8')
}

test('toJwt reproduces the access-tokens.md §3.1 vector byte for byte', (t) => {
  t.mock.method(Date, 'now', () => 1700000000000)
  const token = new AccessToken(X_AC, X_SK, 'secret0123456789', {
    identity: 'alice@example.com',
    ttl: 3600,
  })
  token.addGrant(
    new AccessToken.ChatGrant({
      serviceSid: 'ISxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      endpointId: 'myapp:alice@example.com:device1',
      pushCredentialSid: 'CRxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    }),
  )
  const jwt = token.toJwt()
  assert.equal(jwt, VECTOR_3_1)
  assert.equal(jwt.length, 624)
  assert.equal(decodePart(jwt, 0), '{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}')
  assert.equal(Buffer.from(jwt.split('.')[1]!, 'base64url').length, 384)
})

test('toJwt reproduces the §3.2 shape: HS512, region, nbf, numeric identity, empty chat grant', (t) => {
  t.mock.method(Date, 'now', () => 1700000000000)
  const ours = new AccessToken(X_AC, X_SK, 'secret0123456789', {
    identity: 42,
    region: 'ie1',
    nbf: 1700000000,
  })
  ours.addGrant(new ChatGrant())
  const jwt = ours.toJwt('HS512')
  assert.equal(decodePart(jwt, 0), '{"alg":"HS512","typ":"JWT","cty":"twilio-fpa;v=1","twr":"ie1"}')
  assert.equal(
    decodePart(jwt, 1),
    `{"jti":"${X_SK}-1700000000","grants":{"identity":"42","chat":{}},"nbf":1700000000,"iat":1700000000,"exp":1700003600,"iss":"${X_SK}","sub":"${X_AC}"}`,
  )
  const theirs = new TwilioAccessToken(X_AC, X_SK, 'secret0123456789', {
    identity: 42,
    region: 'ie1',
    nbf: 1700000000,
  })
  theirs.addGrant(new TwilioAccessToken.ChatGrant())
  assert.equal(jwt, theirs.toJwt('HS512'))
})

// --- Byte identity with twilio@6.3.1 over a generated grid ---

const sidArb = (prefix: string) =>
  fc.oneof(
    fc.stringMatching(/^[0-9a-f]{32}$/).map((h) => prefix + h),
    fc.constant(prefix + 'x'.repeat(32)),
  )
const text = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  fc.constantFrom(
    'alice@example.com',
    'bob',
    'ünïcødé',
    '😀 emoji',
    'quote"back\\slash',
    'line\nbreak',
  ),
)
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })

interface GrantSpec {
  kind: 'chat' | 'video' | 'voice' | 'sync' | 'taskrouter' | 'playback'
  a: string | undefined
  b: string | undefined
  c: string | undefined
  d: string | undefined
  flag: boolean | undefined
  obj: Record<string, string> | undefined
}
const grantArb: fc.Arbitrary<GrantSpec> = fc.record({
  kind: fc.constantFrom('chat', 'video', 'voice', 'sync', 'taskrouter', 'playback'),
  a: opt(text),
  b: opt(text),
  c: opt(text),
  d: opt(text),
  flag: opt(fc.boolean()),
  obj: opt(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 })),
})

function makeGrant(ns: any, g: GrantSpec): AnyGrant {
  switch (g.kind) {
    case 'chat':
      return new ns.ChatGrant({
        serviceSid: g.a,
        endpointId: g.b,
        deploymentRoleSid: g.c,
        pushCredentialSid: g.d,
      })
    case 'video':
      return new ns.VideoGrant({ room: g.a })
    case 'voice':
      return new ns.VoiceGrant({
        incomingAllow: g.flag,
        outgoingApplicationSid: g.a,
        outgoingApplicationParams: g.obj,
        pushCredentialSid: g.c,
        endpointId: g.d,
      })
    case 'sync':
      return new ns.SyncGrant({ serviceSid: g.a, endpointId: g.b })
    case 'taskrouter':
      return new ns.TaskRouterGrant({ workspaceSid: g.a, workerSid: g.b, role: g.c })
    case 'playback':
      return new ns.PlaybackGrant({ grant: g.obj })
  }
}

test('toJwt is byte-identical to twilio@6.3.1 over a generated grid of inputs', (t) => {
  let nowMs = 0
  t.mock.method(Date, 'now', () => nowMs)
  fc.assert(
    fc.property(
      fc.record({
        accountSid: sidArb('AC'),
        keySid: sidArb('SK'),
        secret: fc.oneof(
          fc.string({ minLength: 1, maxLength: 64 }),
          fc.constant('secret0123456789'),
        ),
        identity: fc.oneof(
          text,
          fc.integer({ min: 1, max: 2 ** 31 }),
          fc.constant(Number.MAX_SAFE_INTEGER),
        ),
        ttl: opt(fc.integer({ min: 0, max: MAX_TTL_SECONDS })),
        nbf: opt(fc.integer({ min: 0, max: 4_000_000_000 })),
        region: opt(fc.constantFrom('ie1', 'us1', 'au1', 'de1', 'jp1', 'br1', 'sg1', '')),
        grants: fc.array(grantArb, { maxLength: 4 }),
        alg: fc.constantFrom(undefined, 'HS256', 'HS384', 'HS512'),
        nowMs: fc.integer({ min: 0, max: 4_000_000_000_000 }),
      }),
      (input) => {
        nowMs = input.nowMs
        const options = {
          identity: input.identity,
          ...(input.ttl !== undefined && { ttl: input.ttl }),
          ...(input.nbf !== undefined && { nbf: input.nbf }),
          ...(input.region !== undefined && { region: input.region }),
        }
        const ours = new AccessToken(input.accountSid, input.keySid, input.secret, options)
        const theirs = new TwilioAccessToken(input.accountSid, input.keySid, input.secret, options)
        for (const g of input.grants) {
          ours.addGrant(makeGrant(AccessToken, g))
          theirs.addGrant(makeGrant(TwilioAccessToken, g))
        }
        assert.equal(ours.toJwt(input.alg), theirs.toJwt(input.alg))
      },
    ),
    { numRuns: 500 },
  )
})

test('a grant added twice under the same key: the last one wins, as in the helper', (t) => {
  t.mock.method(Date, 'now', () => 1700000000000)
  const ours = new AccessToken(X_AC, X_SK, 'secret0123456789', { identity: 'a' })
  const theirs = new TwilioAccessToken(X_AC, X_SK, 'secret0123456789', { identity: 'a' })
  for (const tok of [ours, theirs]) {
    tok.addGrant(new AccessToken.ChatGrant({ serviceSid: 'IS1' }))
    tok.addGrant(new AccessToken.VideoGrant({ room: 'r' }))
    tok.addGrant(new AccessToken.ChatGrant({ serviceSid: 'IS2' }))
  }
  assert.equal(ours.toJwt(), theirs.toJwt())
  assert.match(
    decodePart(ours.toJwt(), 1),
    /"grants":\{"identity":"a","chat":\{"service_sid":"IS2"\},"video"/,
  )
})

test('the constructor throws the helper messages for missing arguments', () => {
  const cases: [unknown[], string][] = [
    [['', X_SK, 's', { identity: 'a' }], 'accountSid is required'],
    [[X_AC, undefined, 's', { identity: 'a' }], 'keySid is required'],
    [[X_AC, X_SK, '', { identity: 'a' }], 'secret is required'],
    [[X_AC, X_SK, 's', undefined], 'identity is required to be specified in options'],
    [[X_AC, X_SK, 's', {}], 'identity is required to be specified in options'],
    [[X_AC, X_SK, 's', { identity: '' }], 'identity is required to be specified in options'],
    [[X_AC, X_SK, 's', { identity: 0 }], 'identity is required to be specified in options'],
  ]
  for (const [args, message] of cases) {
    const A = AccessToken as any
    assert.throws(() => new A(...args), { message }, message)
    assert.throws(
      () => new TwilioAccessToken(...args),
      { message },
      `the helper agrees: ${message}`,
    )
  }
})

test('toJwt rejects an unsupported algorithm with the helper message', () => {
  const token = new AccessToken(X_AC, X_SK, 's', { identity: 'a' })
  const message = 'Algorithm not supported. Allowed values are HS256, HS384, HS512'
  for (const alg of ['none', 'RS256', 'hs256', 'HS1024'] as any[]) {
    assert.throws(() => token.toJwt(alg), { message })
    assert.throws(() => new TwilioAccessToken(X_AC, X_SK, 's', { identity: 'a' }).toJwt(alg), {
      message,
    })
  }
})

test('ttl 0 or absent means 3600, as in the helper', (t) => {
  t.mock.method(Date, 'now', () => 1700000000000)
  for (const ttl of [0, undefined]) {
    const jwt = new AccessToken(
      X_AC,
      X_SK,
      's',
      ttl === undefined ? { identity: 'a' } : { identity: 'a', ttl },
    ).toJwt()
    assert.match(decodePart(jwt, 1), /"iat":1700000000,"exp":1700003600,/)
  }
})

test('ttl boundaries: 1 and 86400 mint; 86401, -1, 1.5, Infinity and "1h" throw a RangeError', (t) => {
  t.mock.method(Date, 'now', () => 1700000000000)
  assert.match(
    decodePart(new AccessToken(X_AC, X_SK, 's', { identity: 'a', ttl: 1 }).toJwt(), 1),
    /"exp":1700000001,/,
  )
  assert.match(
    decodePart(new AccessToken(X_AC, X_SK, 's', { identity: 'a', ttl: 86400 }).toJwt(), 1),
    /"exp":1700086400,/,
  )
  for (const ttl of [86401, -1, 1.5, Infinity, '1h']) {
    const token = new AccessToken(X_AC, X_SK, 's', { identity: 'a', ttl: ttl as number })
    assert.throws(() => token.toJwt(), RangeError, String(ttl))
  }
  // A ttl changed after construction is checked too.
  const token = new AccessToken(X_AC, X_SK, 's', { identity: 'a' })
  token.ttl = 100000
  assert.throws(() => token.toJwt(), { name: 'RangeError', message: /from 1 to 86400/ })
})

test('nbf must be a safe integer; region must be printable ASCII', () => {
  for (const nbf of [1.5, Number.NaN, Infinity, 2 ** 53]) {
    assert.throws(
      () => new AccessToken(X_AC, X_SK, 's', { identity: 'a', nbf }).toJwt(),
      RangeError,
    )
  }
  assert.throws(
    () => new AccessToken(X_AC, X_SK, 's', { identity: 'a', region: 'ié1' }).toJwt(),
    TypeError,
  )
})

test('an identity that is neither a string nor an integer is refused (the helper silently drops it)', () => {
  for (const identity of [4.2, {}, ['a'], true] as any[]) {
    assert.throws(() => new AccessToken(X_AC, X_SK, 's', { identity }), TypeError)
  }
})

test('toJwt reads the clock once: jti, iat and exp share it', (t) => {
  let calls = 0
  t.mock.method(Date, 'now', () => {
    calls++
    return 1700000000999
  })
  const jwt = new AccessToken(X_AC, X_SK, 's', { identity: 'a', ttl: 60 }).toJwt()
  assert.equal(calls, 1)
  assert.match(
    decodePart(jwt, 1),
    new RegExp(`"jti":"${X_SK}-1700000000".*"iat":1700000000,"exp":1700000060`),
  )
})

test('the secret is not enumerable, so logging the token object does not print it', () => {
  const token = new AccessToken(X_AC, X_SK, 'top-secret-value', { identity: 'a' })
  assert.equal(token.secret, 'top-secret-value')
  assert.ok(!JSON.stringify(token).includes('top-secret-value'))
  assert.ok(!Object.keys(token).includes('secret'))
})

test('a changed secret is picked up by the next toJwt', (t) => {
  t.mock.method(Date, 'now', () => 1700000000000)
  const token = new AccessToken(X_AC, X_SK, 'first-secret', { identity: 'a' })
  const a = token.toJwt()
  token.secret = 'second-secret'
  const b = token.toJwt()
  const helper = new TwilioAccessToken(X_AC, X_SK, 'second-secret', { identity: 'a' })
  assert.notEqual(a, b)
  assert.equal(b, helper.toJwt())
})

test('grant classes are static members and named exports, with the helper keys and payloads', () => {
  assert.equal(AccessToken.ChatGrant, ChatGrant)
  assert.equal(AccessToken.VideoGrant, VideoGrant)
  assert.equal(AccessToken.VoiceGrant, VoiceGrant)
  assert.equal(AccessToken.SyncGrant, SyncGrant)
  assert.equal(AccessToken.TaskRouterGrant, TaskRouterGrant)
  assert.equal(AccessToken.PlaybackGrant, PlaybackGrant)
  assert.equal(index.ChatGrant, ChatGrant)
  assert.equal(index.AccessToken, AccessToken)
  assert.deepEqual(AccessToken.ALGORITHMS, ['HS256', 'HS384', 'HS512'])
  assert.equal(AccessToken.DEFAULT_ALGORITHM, 'HS256')
  const pairs: [AnyGrant, string, unknown][] = [
    [
      new ChatGrant({ serviceSid: 'IS1', deploymentRoleSid: 'RL1' }),
      'chat',
      { service_sid: 'IS1', deployment_role_sid: 'RL1' },
    ],
    [new VideoGrant({ room: 'r' }), 'video', { room: 'r' }],
    [
      new SyncGrant({ serviceSid: 'IS1', endpointId: 'e' }),
      'data_sync',
      { service_sid: 'IS1', endpoint_id: 'e' },
    ],
    [
      new TaskRouterGrant({ workspaceSid: 'WS1', workerSid: 'WK1', role: 'worker' }),
      'task_router',
      { workspace_sid: 'WS1', worker_sid: 'WK1', role: 'worker' },
    ],
    [new PlaybackGrant({ grant: { a: 1 } }), 'player', { a: 1 }],
    [new PlaybackGrant(), 'player', {}],
    [
      new VoiceGrant({
        incomingAllow: true,
        outgoingApplicationSid: 'AP1',
        outgoingApplicationParams: { x: 'y' },
        pushCredentialSid: 'CR1',
        endpointId: 'e',
      }),
      'voice',
      {
        incoming: { allow: true },
        outgoing: { application_sid: 'AP1', params: { x: 'y' } },
        push_credential_sid: 'CR1',
        endpoint_id: 'e',
      },
    ],
    [new VoiceGrant({ incomingAllow: false, outgoingApplicationParams: { x: 'y' } }), 'voice', {}],
  ]
  for (const [grant, key, payload] of pairs) {
    assert.equal(grant.key, key)
    assert.deepEqual(grant.toPayload(), payload)
  }
})

test('a custom Grant subclass is written under its key', (t) => {
  t.mock.method(Date, 'now', () => 1700000000000)
  class RtcGrant extends AccessToken.Grant<
    { p: string },
    { configuration_profile_sid: string },
    'rtc'
  > {
    constructor() {
      super('rtc')
    }
    toPayload() {
      return { configuration_profile_sid: 'VS1' }
    }
  }
  const token = new AccessToken(X_AC, X_SK, 's', { identity: 'a' })
  token.addGrant(new RtcGrant())
  assert.match(
    decodePart(token.toJwt(), 1),
    /"grants":\{"identity":"a","rtc":\{"configuration_profile_sid":"VS1"\}\}/,
  )
})

test('AccessToken.ChatGrant and the option types also work in type positions, as with the helper', () => {
  const options: AccessToken.ChatGrantOptions = { serviceSid: 'IS1' }
  const grant: AccessToken.ChatGrant = new AccessToken.ChatGrant(options)
  const payload: AccessToken.ChatGrantPayload = grant.toPayload()
  const tokenOptions: AccessToken.AccessTokenOptions = { identity: 'a', ttl: 60 }
  assert.deepEqual(payload, { service_sid: 'IS1' })
  assert.equal(new AccessToken(X_AC, X_SK, 's', tokenOptions).ttl, 60)
})
