import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, test } from 'node:test'
import { verifyAccessTokenSync } from '@parley/token'
import { createDemoApp } from '../src/app.ts'
import { signValue } from '../src/cookies.ts'
import { makeHarness, ORIGIN, TestBrowser, type Harness } from './support/harness.ts'

const PASSWORD = 'correct horse battery'

let h: Harness
beforeEach(() => {
  h = makeHarness()
})
afterEach(() => h.close())

function verify(jwt: string, harness: Harness = h) {
  const keys = new Map([
    [
      harness.config.apiKeySid,
      { secret: harness.config.apiKeySecret, accountSid: harness.config.accountSid },
    ],
  ])
  return verifyAccessTokenSync(jwt, {
    resolveKey: (sid) => keys.get(sid),
    now: harness.clock.now / 1000,
  })
}

void describe('sign-up, sign-in and sign-out', () => {
  void test('sign-up creates the user and a HttpOnly SameSite=Lax session cookie', async () => {
    const b = new TestBrowser(h.app)
    const res = await b.signUp('alice', PASSWORD)
    assert.equal(res.status, 201)
    assert.deepEqual(res.body['user'], { username: 'alice' })
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('demo_session='))
    assert.ok(cookie)
    assert.match(cookie, /HttpOnly/)
    assert.match(cookie, /SameSite=Lax/)
    assert.doesNotMatch(cookie, /Secure/)
    const session = await b.session()
    assert.deepEqual(session.body['user'], { username: 'alice' })
  })

  void test('behind https (DEMO_PUBLIC_ORIGIN) the session cookie is Secure with the __Host- prefix', async () => {
    const secure = makeHarness({ DEMO_PUBLIC_ORIGIN: ORIGIN.replace('http:', 'https:') })
    try {
      const b = new TestBrowser(secure.app)
      b.origin = ORIGIN.replace('http:', 'https:')
      const res = await b.signUp('alice', PASSWORD)
      assert.equal(res.status, 201)
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-demo_session='))
      assert.ok(cookie)
      assert.match(cookie, /; Secure/)
      assert.equal(res.headers.get('strict-transport-security'), 'max-age=31536000')
      assert.equal((await b.token()).status, 200)
    } finally {
      secure.close()
    }
  })

  void test('sign-up refuses a taken name, case-insensitively, with 409', async () => {
    assert.equal((await new TestBrowser(h.app).signUp('alice', PASSWORD)).status, 201)
    const res = await new TestBrowser(h.app).signUp('ALICE', PASSWORD)
    assert.equal(res.status, 409)
    assert.equal(res.body['error'], 'username_taken')
  })

  void test('sign-up validates the name and the password length', async () => {
    for (const [username, password, code] of [
      ['al', PASSWORD, 'bad_username'],
      ['has space', PASSWORD, 'bad_username'],
      ['a'.repeat(33), PASSWORD, 'bad_username'],
      ['system', PASSWORD, 'bad_username'],
      ['bob', 'short', 'bad_password'],
      ['bob', 'x'.repeat(257), 'bad_password'],
      ['', '', 'missing_fields'],
    ] as const) {
      const res = await new TestBrowser(h.app).signUp(username, password)
      assert.equal(res.status, 400, `${username}/${password.length}`)
      assert.equal(res.body['error'], code)
      assert.equal(typeof res.body['message'], 'string')
    }
  })

  void test('sign-in with the right password starts a session; a wrong one or an unknown user gets the same 401', async () => {
    await new TestBrowser(h.app).signUp('alice', PASSWORD)
    const ok = new TestBrowser(h.app)
    const res = await ok.signIn('alice', PASSWORD)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body['user'], { username: 'alice' })
    assert.ok(ok.cookies.has('demo_session'))

    const wrong = await new TestBrowser(h.app).signIn('alice', 'not the password')
    const unknown = await new TestBrowser(h.app).signIn('mallory', PASSWORD)
    assert.equal(wrong.status, 401)
    assert.equal(unknown.status, 401)
    assert.deepEqual(wrong.body, unknown.body)
  })

  void test('sign-in is throttled after 10 failures for a name', async () => {
    await new TestBrowser(h.app).signUp('alice', PASSWORD)
    for (let i = 0; i < 10; i++)
      assert.equal((await new TestBrowser(h.app).signIn('alice', 'nope-nope')).status, 401)
    const blocked = await new TestBrowser(h.app).signIn('alice', PASSWORD)
    assert.equal(blocked.status, 429)
    assert.ok(Number(blocked.headers.get('retry-after')) > 0)
    h.clock.now += 16 * 60 * 1000
    assert.equal((await new TestBrowser(h.app).signIn('alice', PASSWORD)).status, 200)
  })

  void test('sign-in is throttled after 50 failures from one address, whatever the names', async () => {
    const b = new TestBrowser(h.app)
    await b.session()
    const attempt = (username: string) =>
      h.app.fetch(
        new Request(`${ORIGIN}/api/signin`, {
          method: 'POST',
          headers: {
            cookie: b.cookieHeader(),
            'content-type': 'application/json',
            'x-csrf-token': b.csrfToken,
            origin: ORIGIN,
          },
          body: JSON.stringify({ username, password: 'wrong password' }),
        }),
        { remoteAddress: '203.0.113.7' },
      )
    for (let i = 0; i < 50; i++) assert.equal((await attempt(`user${i}`)).status, 401)
    assert.equal((await attempt('someone-else')).status, 429)
    // Another address is not affected.
    assert.equal(
      (await new TestBrowser(h.app).signIn('someone-else', 'wrong password')).status,
      401,
    )
  })

  void test('sign-in rotates the session id', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    const first = b.cookies.get('demo_session')
    const stolen = new TestBrowser(h.app)
    stolen.cookies.set('demo_session', first!)
    await b.signIn('alice', PASSWORD)
    assert.notEqual(b.cookies.get('demo_session'), first)
    await stolen.session()
    assert.equal((await stolen.token()).status, 401)
  })

  void test('sign-out deletes the session server-side: replaying the old cookie gets 401 from /token', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    const old = b.cookies.get('demo_session')!
    const res = await b.send('POST', '/api/signout', {})
    assert.equal(res.status, 200)
    assert.equal(res.body['user'], null)
    assert.ok(!b.cookies.has('demo_session'))
    assert.equal((await b.token()).status, 401)

    const replay = new TestBrowser(h.app)
    replay.cookies.set('demo_session', old)
    await replay.session()
    assert.equal((await replay.token()).status, 401)
  })

  void test('an expired session gets 401', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    h.clock.now += h.config.sessionTtl * 1000 + 1
    assert.equal((await b.token()).status, 401)
    assert.equal((await b.session()).body['user'], null)
  })
})

void describe('password storage', () => {
  void test('stores a salted scrypt hash, never the password', async () => {
    await new TestBrowser(h.app).signUp('alice', PASSWORD)
    await new TestBrowser(h.app).signUp('bob', PASSWORD)
    const alice = h.store.findUser('alice')!
    const bob = h.store.findUser('bob')!
    assert.match(alice.passwordHash, /^scrypt\$\d+\$\d+\$\d+\$[\w-]+\$[\w-]+$/)
    assert.ok(!alice.passwordHash.includes(PASSWORD))
    assert.ok(!alice.passwordHash.includes(Buffer.from(PASSWORD).toString('base64url')))
    assert.notEqual(alice.passwordHash, bob.passwordHash, 'per-user salt')
  })
})

void describe('POST /token', () => {
  void test('without a session: 401 JSON', async () => {
    const b = new TestBrowser(h.app)
    await b.session()
    const res = await b.token()
    assert.equal(res.status, 401)
    assert.equal(res.body['error'], 'not_signed_in')
    assert.match(res.headers.get('content-type') ?? '', /application\/json/)
    assert.equal(res.body['token'], undefined)
  })

  void test('with no cookies and no CSRF token at all: still 401', async () => {
    const res = await new TestBrowser(h.app).send('POST', '/token', {
      deviceId: 'device-0123456789',
    })
    assert.equal(res.status, 401)
  })

  void test('a session gets a token that verifies, for that user, with service SID, endpoint_id and TTL', async () => {
    const ttl = makeHarness({ DEMO_TOKEN_TTL: '600' })
    try {
      const b = new TestBrowser(ttl.app)
      await b.signUp('alice', PASSWORD)
      const res = await b.token('browser-abcdefgh')
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.body['identity'], 'alice')
      assert.equal(res.body['ttl'], 600)
      assert.equal(res.body['twilsockUrl'], 'ws://parley.test:3210/v3/wsconnect')
      const p = verify(res.body['token'] as string, ttl)
      assert.equal(p.identity, 'alice')
      assert.equal(p.serviceSid, ttl.config.serviceSid)
      assert.equal(p.accountSid, ttl.config.accountSid)
      assert.equal(p.keySid, ttl.config.apiKeySid)
      assert.equal(p.endpointId, 'ParleyDemo:alice:browser-abcdefgh')
      assert.equal(p.expiresAt - (p.issuedAt ?? 0), 600)
    } finally {
      ttl.close()
    }
  })

  void test('each user gets their own identity', async () => {
    const a = new TestBrowser(h.app)
    const b = new TestBrowser(h.app)
    await a.signUp('alice', PASSWORD)
    await b.signUp('bob.smith', PASSWORD)
    assert.equal(verify((await a.token()).body['token'] as string).identity, 'alice')
    assert.equal(verify((await b.token()).body['token'] as string).identity, 'bob.smith')
  })

  void test('the identity keeps the case the user signed up with, whatever case they sign in with', async () => {
    await new TestBrowser(h.app).signUp('Alice', PASSWORD)
    const b = new TestBrowser(h.app)
    assert.equal((await b.signIn('alice', PASSWORD)).status, 200)
    assert.equal(verify((await b.token()).body['token'] as string).identity, 'Alice')
  })

  void test('rejects a missing or malformed device id with 400', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    for (const deviceId of [undefined, '', 'short', 'has:colon-1234', 'x'.repeat(65), 42]) {
      const res = await b.send('POST', '/token', { deviceId })
      assert.equal(res.status, 400, String(deviceId))
      assert.equal(res.body['error'], 'bad_device_id')
    }
  })

  void test('a tampered session cookie gets 401', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    const cookie = b.cookies.get('demo_session')!
    const [id, sig] = cookie.split('.') as [string, string]
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1)
    for (const bad of [`${flip(id)}.${sig}`, `${id}.${flip(sig)}`, id, `${id}.`, 'garbage', '']) {
      const t = new TestBrowser(h.app)
      t.cookies.set('demo_session', bad)
      await t.session()
      const res = await t.token()
      assert.equal(res.status, 401, bad)
    }
  })

  void test('a well-formed cookie signed with another key gets 401', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    const id = b.cookies.get('demo_session')!.split('.')[0]!
    const t = new TestBrowser(h.app)
    t.cookies.set('demo_session', signValue(randomBytes(32), 'session', id))
    await t.session()
    assert.equal((await t.token()).status, 401)
  })

  void test('GET /token is 405', async () => {
    const res = await new TestBrowser(h.app).send('GET', '/token')
    assert.equal(res.status, 405)
    assert.equal(res.headers.get('allow'), 'POST')
  })
})

void describe('CSRF protection', () => {
  void test('sign-up without the CSRF header, or with a wrong one, is refused with 403', async () => {
    const b = new TestBrowser(h.app)
    await b.session()
    const good = b.csrfToken
    b.csrfToken = ''
    assert.equal(
      (await b.send('POST', '/api/signup', { username: 'alice', password: PASSWORD })).body[
        'error'
      ],
      'csrf',
    )
    b.csrfToken = good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A')
    const res = await b.send('POST', '/api/signup', { username: 'alice', password: PASSWORD })
    assert.equal(res.status, 403)
    assert.equal(res.body['error'], 'csrf')
    assert.equal(h.store.findUser('alice'), undefined)
  })

  void test('a POST without the pre-session cookie is refused, even with a token from another browser', async () => {
    const other = new TestBrowser(h.app)
    await other.session()
    const b = new TestBrowser(h.app)
    b.csrfToken = other.csrfToken
    const res = await b.send('POST', '/api/signin', { username: 'alice', password: PASSWORD })
    assert.equal(res.status, 403)
    assert.equal(res.body['error'], 'csrf')
  })

  void test('a signed-in /token request needs the CSRF token of its own session', async () => {
    const a = new TestBrowser(h.app)
    const m = new TestBrowser(h.app)
    await a.signUp('alice', PASSWORD)
    await m.signUp('mallory', PASSWORD)
    a.csrfToken = m.csrfToken
    const res = await a.token()
    assert.equal(res.status, 403)
    assert.equal(res.body['error'], 'csrf')
  })

  void test('the pre-sign-in token stops working after sign-in (the token is bound to the session)', async () => {
    const b = new TestBrowser(h.app)
    await b.session()
    const pre = b.csrfToken
    await b.send('POST', '/api/signup', { username: 'alice', password: PASSWORD })
    b.csrfToken = pre
    assert.equal((await b.token()).status, 403)
  })

  void test('sign-out needs the CSRF token', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    b.csrfToken = 'nope'
    assert.equal((await b.send('POST', '/api/signout', {})).status, 403)
    b.csrfToken = ''
    await b.session()
    assert.equal((await b.token()).status, 200, 'still signed in')
  })

  void test('a cross-origin Origin is refused before anything else', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    b.origin = 'https://evil.example'
    const res = await b.token()
    assert.equal(res.status, 403)
    assert.equal(res.body['error'], 'bad_origin')
    b.origin = 'null'
    assert.equal((await b.token()).body['error'], 'bad_origin')
  })

  void test('without Origin, Sec-Fetch-Site cross-site is refused and a non-browser client with the token is allowed', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    b.origin = null
    const cross = await b.send(
      'POST',
      '/token',
      { deviceId: 'device-0123456789' },
      { 'sec-fetch-site': 'cross-site' },
    )
    assert.equal(cross.status, 403)
    assert.equal((await b.token()).status, 200)
  })

  void test('a form-encoded (simple) POST is refused with 415', async () => {
    const b = new TestBrowser(h.app)
    await b.signUp('alice', PASSWORD)
    const res = await b.send('POST', '/token', 'deviceId=device-0123456789', {
      'content-type': 'application/x-www-form-urlencoded',
    })
    assert.equal(res.status, 415)
  })
})

void describe('headers, static files and logging', () => {
  void test('every response carries CSP (allowing the Twilsock URL), no-referrer and nosniff', async () => {
    const res = await new TestBrowser(h.app).session()
    const csp = res.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.match(csp, /connect-src [^;]*ws:\/\/parley\.test:3210/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer')
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.body['twilsockUrl'], 'ws://parley.test:3210/v3/wsconnect')
    const notFound = await new TestBrowser(h.app).send('GET', '/nope')
    assert.equal(notFound.status, 404)
    assert.equal(notFound.headers.get('x-content-type-options'), 'nosniff')
  })

  void test('serves the static files it was given, and only those', async () => {
    const files = new Map([
      ['/', { body: new TextEncoder().encode('<!doctype html>'), contentType: 'text/html' }],
    ])
    const s = makeHarness({}, files)
    try {
      const res = await s.app.fetch(new Request(`${ORIGIN}/`))
      assert.equal(res.status, 200)
      assert.equal(await res.text(), '<!doctype html>')
      assert.equal((await s.app.fetch(new Request(`${ORIGIN}/../package.json`))).status, 404)
      assert.equal((await s.app.fetch(new Request(`${ORIGIN}/`, { method: 'POST' }))).status, 404)
    } finally {
      s.close()
    }
  })

  void test('logs never contain passwords, tokens, cookies or the API key secret', async () => {
    const lines: string[] = []
    const app = createDemoApp({
      config: h.config,
      store: h.store,
      sessionKey: randomBytes(32),
      scrypt: { N: 1024, r: 8, p: 1 },
      log: (l) => lines.push(JSON.stringify(l)),
    })
    const b = new TestBrowser(app)
    await b.signUp('alice', PASSWORD)
    await b.signIn('alice', 'wrong password!')
    const token = (await b.token()).body['token'] as string
    const all = lines.join('\n')
    assert.ok(lines.length >= 4)
    for (const secret of [
      PASSWORD,
      'wrong password!',
      token,
      h.config.apiKeySecret,
      b.cookies.get('demo_session')!,
      b.csrfToken,
    ]) {
      assert.ok(!all.includes(secret))
    }
  })

  void test('an unexpected failure is a generic 500 and the details stay in the log', async () => {
    const lines: string[] = []
    const broken = {
      ...h.store,
      findSession: () => {
        throw new Error('disk on fire: secret stuff')
      },
    }
    const key = randomBytes(32)
    const app = createDemoApp({
      config: h.config,
      store: broken,
      sessionKey: key,
      log: (l) => lines.push(JSON.stringify(l)),
    })
    const cookie = `demo_session=${signValue(key, 'session', 'some-session-id')}`
    const res = await app.fetch(new Request(`${ORIGIN}/api/session`, { headers: { cookie } }))
    assert.equal(res.status, 500)
    const text = await res.text()
    assert.ok(!text.includes('disk on fire'))
    assert.ok(res.headers.get('content-security-policy'))
    assert.ok(lines.some((l) => l.includes('"level":"error"')))
  })
})
