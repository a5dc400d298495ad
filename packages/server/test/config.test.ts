/**
 * `loadConfig` for the realtime gateway's settings, and the `parley serve` flags that feed it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, DEFAULT_REALTIME_LIMITS, loadConfig } from '../src/config.ts'
import { parseServeArgs } from '../src/cli/serve.ts'

const HEX_SECRET = 'ab'.repeat(32)

test('loadConfig gives the realtime defaults when nothing is set', () => {
  const c = loadConfig({}, {})
  assert.deepEqual(
    { ...c.realtime },
    {
      ...DEFAULT_REALTIME_LIMITS,
      allowedOrigins: undefined,
      continuationSecret: undefined,
      socketProcess: false,
    },
  )
  assert.equal(c.realtime.tokenWarningLeadSeconds, 180)
  assert.equal(c.realtime.authFailureLimit, 0)
  assert.ok(Object.isFrozen(c.realtime))
})

test('loadConfig reads every realtime variable', () => {
  const c = loadConfig(
    {},
    {
      PARLEY_ALLOWED_ORIGINS:
        ' https://Chat.Example.com , http://localhost:3000,https://a.example:443 ',
      PARLEY_TOKEN_WARNING_LEAD_SECONDS: '30',
      PARLEY_TWILSOCK_AUTH_FAILURE_LIMIT: '20',
      PARLEY_TWILSOCK_MAX_FRAME_BYTES: '131072',
      PARLEY_TWILSOCK_OUTBOUND_QUEUE_BYTES: '2097152',
      PARLEY_HEARTBEAT_INTERVAL_MS: '5000',
      PARLEY_AUTH_DEADLINE_MS: '3000',
      PARLEY_MAX_SESSIONS_PER_IDENTITY: '7',
      PARLEY_TWILSOCK_MAX_UNAUTHENTICATED_PER_ADDRESS: '40',
      PARLEY_CONTINUATION_SECRET: HEX_SECRET,
      PARLEY_SOCKET_PROCESS: 'true',
    },
  )
  assert.deepEqual(c.realtime.allowedOrigins, [
    'https://chat.example.com',
    'http://localhost:3000',
    'https://a.example',
  ])
  assert.equal(c.realtime.tokenWarningLeadSeconds, 30)
  assert.equal(c.realtime.authFailureLimit, 20)
  assert.equal(c.realtime.maxFrameBytes, 131072)
  assert.equal(c.realtime.outboundQueueBytes, 2097152)
  assert.equal(c.realtime.heartbeatIntervalMs, 5000)
  assert.equal(c.realtime.authDeadlineMs, 3000)
  assert.equal(c.realtime.maxSessionsPerIdentity, 7)
  assert.equal(c.realtime.maxUnauthenticatedPerAddress, 40)
  assert.equal(c.realtime.continuationSecret, HEX_SECRET)
  assert.equal(c.realtime.socketProcess, true)
  for (const [raw, want] of [
    ['1', true],
    ['ON', true],
    ['0', false],
    ['no', false],
  ] as const)
    assert.equal(loadConfig({}, { PARLEY_SOCKET_PROCESS: raw }).realtime.socketProcess, want)
  assert.equal(
    loadConfig({ socketProcess: false }, { PARLEY_SOCKET_PROCESS: '1' }).realtime.socketProcess,
    false,
  )
})

test('loadConfig: explicit options win over the environment; * allows every origin', () => {
  const c = loadConfig(
    { allowedOrigins: '*', realtime: { tokenWarningLeadSeconds: 5 } },
    { PARLEY_ALLOWED_ORIGINS: 'https://x.example', PARLEY_TOKEN_WARNING_LEAD_SECONDS: '60' },
  )
  assert.deepEqual(c.realtime.allowedOrigins, ['*'])
  assert.equal(c.realtime.tokenWarningLeadSeconds, 5)
  // An empty variable counts as unset.
  assert.equal(loadConfig({}, { PARLEY_ALLOWED_ORIGINS: ' ' }).realtime.allowedOrigins, undefined)
  // base64 secrets are accepted too.
  const b64 = Buffer.alloc(48, 7).toString('base64')
  assert.equal(loadConfig({}, { PARLEY_CONTINUATION_SECRET: b64 }).realtime.continuationSecret, b64)
})

test('loadConfig rejects malformed realtime settings with a ConfigError naming the variable', () => {
  const bad: [Record<string, string>, RegExp][] = [
    [
      { PARLEY_TOKEN_WARNING_LEAD_SECONDS: 'soon' },
      /PARLEY_TOKEN_WARNING_LEAD_SECONDS.*between 1 and 86400/,
    ],
    [{ PARLEY_TOKEN_WARNING_LEAD_SECONDS: '0' }, /PARLEY_TOKEN_WARNING_LEAD_SECONDS/],
    [{ PARLEY_TOKEN_WARNING_LEAD_SECONDS: '-5' }, /PARLEY_TOKEN_WARNING_LEAD_SECONDS/],
    [{ PARLEY_TOKEN_WARNING_LEAD_SECONDS: '1.5' }, /PARLEY_TOKEN_WARNING_LEAD_SECONDS/],
    [{ PARLEY_TWILSOCK_MAX_FRAME_BYTES: '10' }, /PARLEY_TWILSOCK_MAX_FRAME_BYTES/],
    [{ PARLEY_TWILSOCK_OUTBOUND_QUEUE_BYTES: 'lots' }, /PARLEY_TWILSOCK_OUTBOUND_QUEUE_BYTES/],
    [{ PARLEY_HEARTBEAT_INTERVAL_MS: '10' }, /PARLEY_HEARTBEAT_INTERVAL_MS/],
    [{ PARLEY_AUTH_DEADLINE_MS: '99999999' }, /PARLEY_AUTH_DEADLINE_MS/],
    [{ PARLEY_MAX_SESSIONS_PER_IDENTITY: '0' }, /PARLEY_MAX_SESSIONS_PER_IDENTITY/],
    [{ PARLEY_TWILSOCK_AUTH_FAILURE_LIMIT: 'x' }, /PARLEY_TWILSOCK_AUTH_FAILURE_LIMIT/],
    [{ PARLEY_ALLOWED_ORIGINS: 'chat.example.com' }, /PARLEY_ALLOWED_ORIGINS.*not an origin/],
    [{ PARLEY_ALLOWED_ORIGINS: 'https://chat.example.com/app' }, /PARLEY_ALLOWED_ORIGINS/],
    [{ PARLEY_ALLOWED_ORIGINS: 'ftp://chat.example.com' }, /PARLEY_ALLOWED_ORIGINS/],
    [{ PARLEY_ALLOWED_ORIGINS: 'https://u:p@chat.example.com' }, /PARLEY_ALLOWED_ORIGINS/],
    [{ PARLEY_ALLOWED_ORIGINS: ',,' }, /PARLEY_ALLOWED_ORIGINS.*at least one/],
    [{ PARLEY_CONTINUATION_SECRET: 'too-short' }, /PARLEY_CONTINUATION_SECRET.*32 bytes/],
    [{ PARLEY_CONTINUATION_SECRET: 'ab'.repeat(16) }, /PARLEY_CONTINUATION_SECRET/],
    [{ PARLEY_SOCKET_PROCESS: 'maybe' }, /PARLEY_SOCKET_PROCESS.*true or false/],
  ]
  for (const [env, message] of bad) {
    assert.throws(
      () => loadConfig({}, env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    )
  }
})

test('a rejected continuation secret is not echoed in the error', () => {
  const secret = 'not-a-valid-secret-but-private'
  assert.throws(
    () => loadConfig({}, { PARLEY_CONTINUATION_SECRET: secret }),
    (e: unknown) => e instanceof ConfigError && !e.message.includes(secret),
  )
})

test('parseServeArgs maps --allowed-origins and --token-warning-lead into config options', () => {
  const opts = parseServeArgs([
    '--allowed-origins',
    'https://chat.example.com,http://localhost:3000',
    '--token-warning-lead=45',
    '--port',
    '0',
  ])
  assert.notEqual(opts, 'help')
  const c = loadConfig(opts as Exclude<typeof opts, 'help'>, {})
  assert.deepEqual(c.realtime.allowedOrigins, ['https://chat.example.com', 'http://localhost:3000'])
  assert.equal(c.realtime.tokenWarningLeadSeconds, 45)
  assert.throws(() => parseServeArgs(['--token-warning-lead']), /needs a value/)
  assert.throws(
    () => loadConfig(parseServeArgs(['--token-warning-lead', 'x']) as object, {}),
    /tokenWarningLeadSeconds/,
  )
})

test('PARLEY_FAULT: unset in production; crash_after_commit[:N] for reliability tests; anything else is refused', () => {
  assert.equal(loadConfig({}, {}).fault, undefined)
  assert.deepEqual(loadConfig({}, { PARLEY_FAULT: 'crash_after_commit' }).fault, {
    kind: 'crash_after_commit',
    afterMessages: 1,
  })
  assert.deepEqual(loadConfig({}, { PARLEY_FAULT: ' crash_after_commit:100 ' }).fault, {
    kind: 'crash_after_commit',
    afterMessages: 100,
  })
  for (const bad of [
    'crash',
    'crash_after_commit:0',
    'crash_after_commit:-1',
    'crash_after_commit:x',
  ]) {
    assert.throws(
      () => loadConfig({}, { PARLEY_FAULT: bad }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.match(e.message, /PARLEY_FAULT/)
        return true
      },
    )
  }
})
