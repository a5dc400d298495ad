/**
 * The REST plumbing without the core: form parsing, router, config, dates, paging, and the app pipeline
 * (health, metrics, 404/405/401/413/415/400, cross-site guard) through `app.fetch` with stub routes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, DEFAULT_LIMITS, loadConfig } from '../../src/config.ts'
import { createApp } from '../../src/http/app.ts'
import { parseBasicAuth } from '../../src/http/auth.ts'
import type { RouteDef } from '../../src/http/context.ts'
import { Params, parseIsoDate } from '../../src/http/form.ts'
import { isoDate, rfc2822Date } from '../../src/http/format.ts'
import { silentLogger } from '../../src/http/log.ts'
import { readPaging, v2ListBody } from '../../src/http/paging.ts'
import { Router } from '../../src/http/router.ts'
import { ok } from '../../src/http/routes/common.ts'

const AC = 'AC' + 'a'.repeat(32)
const TOKEN = 'f'.repeat(32)
const basic = (u: string, p: string): string =>
  'Basic ' + Buffer.from(`${u}:${p}`).toString('base64')
const AUTH = basic(AC, TOKEN)

function makeApp(bodyBytes = DEFAULT_LIMITS.bodyBytes, authFailureLimit = 0) {
  const routes: RouteDef[] = [
    {
      method: 'GET',
      pattern: '/v2/Things/:sid',
      handler: (ctx) => ok({ sid: ctx.params['sid'], q: ctx.query.all('X') }),
    },
    {
      method: 'POST',
      pattern: '/v2/Things',
      handler: (ctx) =>
        ok({
          keys: ctx.form.keys(),
          perm: ctx.form.all('Permission'),
          enabled: ctx.form.bool('Notifications.NewMessage.Enabled') ?? null,
          webhook: ctx.webhookEnabled ?? null,
          base: ctx.baseUrl,
        }),
    },
    {
      method: 'GET',
      pattern: '/v2/Boom',
      handler: () => {
        throw new Error('secret internal detail')
      },
    },
  ]
  const app = createApp({
    routes,
    authenticate: async (u, p) =>
      u === AC && p === TOKEN ? { kind: 'admin', accountSid: AC } : undefined,
    config: { publicUrl: undefined, limits: { ...DEFAULT_LIMITS, bodyBytes, authFailureLimit } },
    logger: silentLogger,
  })
  app.ready = true
  return app
}

const form = (body: string, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  body,
  headers: { authorization: AUTH, 'content-type': 'application/x-www-form-urlencoded', ...headers },
})

test('Params parses dotted keys, repeated keys, booleans, + as space and percent escapes', () => {
  const p = Params.parse(
    'Notifications.NewMessage.Enabled=true&Permission=a&Permission=b&Name=a+b%20c&Flag=FALSE',
  )
  assert.equal(p.bool('Notifications.NewMessage.Enabled'), true)
  assert.deepEqual(p.all('Permission'), ['a', 'b'])
  assert.equal(p.string('Name'), 'a b c')
  assert.equal(p.bool('Flag'), false)
  assert.equal(p.string('Missing'), undefined)
})

test('Params rejects NUL, lone surrogates, bad escapes and bad types with 20001', () => {
  for (const q of ['A=%00', 'A=%ED%A0%80', 'A=%E0%A4%A', 'A=%FF', '%00=1']) {
    assert.throws(() => Params.parse(q), { code: 20001, status: 400 }, q)
  }
  const p = Params.parse('B=yes&I=1.5&J=99999999999999999999&D=2024-02-30T00:00:00Z&J2=%7Bx')
  assert.throws(() => p.bool('B'), { code: 20001 })
  assert.throws(() => p.int('I', 0, 10), { code: 20001 })
  assert.throws(() => p.int('J', 0, 10), { code: 20001 })
  assert.throws(() => p.date('D'), { code: 20001 })
  assert.throws(() => p.json('J2'), { code: 20001 })
  assert.throws(() => p.required('Nope'), { code: 20001 })
})

test('parseIsoDate accepts the helper format, fractions and offsets', () => {
  assert.equal(parseIsoDate('2024-01-02T03:04:05Z')?.getTime(), Date.UTC(2024, 0, 2, 3, 4, 5))
  assert.equal(
    parseIsoDate('2024-01-02T03:04:05.250Z')?.getTime(),
    Date.UTC(2024, 0, 2, 3, 4, 5, 250),
  )
  assert.equal(parseIsoDate('2024-01-02T05:04:05+02:00')?.getTime(), Date.UTC(2024, 0, 2, 3, 4, 5))
  assert.equal(parseIsoDate('yesterday'), undefined)
})

test('dates are ISO-8601 without milliseconds, and RFC 2822 for the 2010 API', () => {
  const t = Date.UTC(2024, 0, 2, 3, 4, 5, 678)
  assert.equal(isoDate(t), '2024-01-02T03:04:05Z')
  assert.equal(rfc2822Date(t), 'Tue, 02 Jan 2024 03:04:05 +0000')
  assert.equal(isoDate(null), null)
})

test('Router matches params, .json suffixes and reports allowed methods', () => {
  const r = new Router<string>()
  r.add('GET', '/2010-04-01/Accounts/:accountSid/Keys/:sid.json', 'key')
  r.add('GET', '/v2/Services/:sid', 'svc')
  r.add('POST', '/v2/Services/:sid', 'svc-post')
  assert.deepEqual(r.match('GET', '/2010-04-01/Accounts/AC1/Keys/SK1.json'), {
    kind: 'found',
    handler: 'key',
    params: { accountSid: 'AC1', sid: 'SK1' },
    pattern: '/2010-04-01/Accounts/:accountSid/Keys/:sid.json',
  })
  const m = r.match('GET', '/v2/Services/a%2Fb%23c')
  assert.equal(m.kind === 'found' && m.params['sid'], 'a/b#c')
  assert.deepEqual(r.match('DELETE', '/v2/Services/x'), { kind: 'method', allow: ['GET', 'POST'] })
  assert.deepEqual(r.match('GET', '/v2/Nope'), { kind: 'none' })
})

test('parseBasicAuth accepts Basic user:pass and rejects everything else', () => {
  assert.deepEqual(parseBasicAuth(basic('AC1', 'p:w')), { username: 'AC1', password: 'p:w' })
  for (const h of [
    undefined,
    'Bearer x',
    'Basic !!!',
    basic('', 'x'),
    basic('AC1', ''),
    'Basic ' + 'A'.repeat(2000),
  ]) {
    assert.equal(parseBasicAuth(h), undefined)
  }
})

test('loadConfig applies defaults, env and options, and names the bad setting', () => {
  const c = loadConfig({}, {})
  assert.equal(c.host, '127.0.0.1')
  assert.equal(c.port, 3210)
  assert.equal(c.dataDir, './.parley')
  assert.equal(c.limits.bodyBytes, 1024 * 1024)
  const e = loadConfig(
    { port: '0' },
    { PARLEY_PORT: '9999', PARLEY_BODY_LIMIT_BYTES: '2048', PARLEY_LOG_LEVEL: 'WARN' },
  )
  assert.equal(e.port, 0)
  assert.equal(e.limits.bodyBytes, 2048)
  assert.equal(e.logLevel, 'warn')
  assert.throws(
    () => loadConfig({ port: 'abc' }, {}),
    (err: Error) => err instanceof ConfigError && /port/.test(err.message),
  )
  assert.throws(() => loadConfig({}, { PARLEY_LOG_LEVEL: 'loud' }), /logLevel/)
  assert.throws(() => loadConfig({}, { PARLEY_MASTER_KEY: 'short' }), /masterKey/)
  assert.throws(
    () => loadConfig({ limits: { headersTimeoutMs: 60_000, requestTimeoutMs: 1000 } }, {}),
    /headersTimeout/,
  )
  assert.equal(
    loadConfig({}, { PARLEY_PUBLIC_URL: 'https://chat.example.com/' }).publicUrl,
    'https://chat.example.com',
  )
})

test('readPaging clamps PageSize to the resource maximum and v2ListBody builds absolute meta URLs with filters', () => {
  assert.equal(readPaging(Params.parse('PageSize=101'), 100, 50).pageSize, 100)
  assert.equal(readPaging(Params.parse(''), 5, 50).pageSize, 5)
  assert.throws(() => readPaging(Params.parse('PageSize=-1'), 100, 50), { code: 20001 })
  assert.throws(() => readPaging(Params.parse('PageSize=abc'), 100, 50), { code: 20001 })
  assert.throws(() => readPaging(Params.parse('PageSize=0'), 100, 50), { code: 20001 })
  const q = Params.parse('Type=public&Type=private&PageSize=2&Page=1&PageToken=abc')
  const req = readPaging(q, 100, 50)
  const body = v2ListBody(
    'channels',
    [1, 2],
    req,
    { nextPageToken: 'next1', previousPageToken: 'prev0' },
    'http://h:1/v2/Services/IS1/Channels',
    q,
  ) as {
    meta: Record<string, unknown>
  }
  assert.deepEqual(body.meta, {
    page: 1,
    page_size: 2,
    first_page_url:
      'http://h:1/v2/Services/IS1/Channels?Type=public&Type=private&PageSize=2&Page=0',
    previous_page_url:
      'http://h:1/v2/Services/IS1/Channels?Type=public&Type=private&PageSize=2&Page=0&PageToken=prev0',
    url: 'http://h:1/v2/Services/IS1/Channels?Type=public&Type=private&PageSize=2&Page=1&PageToken=abc',
    next_page_url:
      'http://h:1/v2/Services/IS1/Channels?Type=public&Type=private&PageSize=2&Page=2&PageToken=next1',
    key: 'channels',
  })
})

test('healthz and metrics answer without auth; healthz is 503 when not ready', async () => {
  const app = makeApp()
  const h = await app.fetch(new Request('http://x/healthz'))
  assert.equal(h.status, 200)
  assert.deepEqual(await h.json(), { status: 'ok' })
  await app.fetch(new Request('http://x/v2/Nope'))
  const m = await app.fetch(new Request('http://x/metrics'))
  assert.equal(m.status, 200)
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain/)
  const text = await m.text()
  assert.match(text, /parley_http_requests_total\{code="4xx"\} 1/)
  assert.match(text, /parley_http_request_duration_seconds_bucket\{le="\+Inf"\} \d+/)
  assert.match(text, /process_resident_memory_bytes \d+/)
  app.ready = false
  assert.equal((await app.fetch(new Request('http://x/healthz'))).status, 503)
})

test('registered gauges and counters are rendered at every scrape; bad or duplicate names are refused', async () => {
  const app = makeApp()
  let n = 1
  const off = app.metrics.register('parley_test_things', 'gauge', 'Things.\nNow.', () => n)
  app.metrics.register('parley_test_broken', 'counter', 'Broken.', () => {
    throw new Error('x')
  })
  assert.throws(
    () => app.metrics.register('parley_test_things', 'gauge', 'Again.', () => 0),
    RangeError,
  )
  assert.throws(() => app.metrics.register('bad-name', 'gauge', 'Bad.', () => 0), RangeError)
  const scrape = async () => (await app.fetch(new Request('http://x/metrics'))).text()
  let text = await scrape()
  assert.match(
    text,
    /# HELP parley_test_things Things\. Now\.\n# TYPE parley_test_things gauge\nparley_test_things 1\n/,
  )
  assert.match(text, /# TYPE parley_test_broken counter\nparley_test_broken NaN\n/)
  n = 7
  assert.match(await scrape(), /\nparley_test_things 7\n/)
  off()
  text = await scrape()
  assert.doesNotMatch(text, /parley_test_things/)
})

test('unknown route → 404 20404, wrong method → 405 20004 with Allow, no auth → uniform 401', async () => {
  const app = makeApp()
  const nf = await app.fetch(
    new Request('http://x/v2/Services/IS1/Nope', { headers: { authorization: AUTH } }),
  )
  assert.equal(nf.status, 404)
  const nfb = (await nf.json()) as Record<string, unknown>
  assert.equal(nfb['code'], 20404)
  assert.equal(nfb['more_info'], 'https://www.twilio.com/docs/errors/20404')
  const na = await app.fetch(
    new Request('http://x/v2/Things/1', { method: 'DELETE', headers: { authorization: AUTH } }),
  )
  assert.equal(na.status, 405)
  assert.equal(na.headers.get('allow'), 'GET, HEAD')
  assert.equal(((await na.json()) as { code: number }).code, 20004)
  const bodies = new Set<string>()
  for (const h of [
    undefined,
    basic(AC, 'wrong'),
    basic('AC' + 'b'.repeat(32), TOKEN),
    'Basic zzz',
  ]) {
    const r = await app.fetch(
      new Request('http://x/v2/Things/1', h === undefined ? {} : { headers: { authorization: h } }),
    )
    assert.equal(r.status, 401)
    assert.equal(r.headers.get('access-control-allow-origin'), null)
    bodies.add(await r.text())
  }
  assert.deepEqual(
    [...bodies],
    [
      '{"status":401,"message":"Authenticate","code":20003,"more_info":"https://www.twilio.com/docs/errors/20003"}',
    ],
  )
})

test('form bodies: dotted and repeated keys reach the handler; webhook header and base URL are read', async () => {
  const app = makeApp()
  const r = await app.fetch(
    new Request(
      'http://127.0.0.1:3210/v2/Things',
      form('Permission=a&Permission=b&Notifications.NewMessage.Enabled=true', {
        'x-twilio-webhook-enabled': 'true',
      }),
    ),
  )
  assert.equal(r.status, 200)
  assert.deepEqual(await r.json(), {
    keys: ['Permission', 'Notifications.NewMessage.Enabled'],
    perm: ['a', 'b'],
    enabled: true,
    webhook: true,
    base: 'http://127.0.0.1:3210',
  })
})

test('wrong content type → 415, oversize body → 413, NUL / lone surrogate → 400, bad UTF-8 → 400', async () => {
  const app = makeApp(2048)
  const ct = await app.fetch(
    new Request('http://x/v2/Things', form('{"a":1}', { 'content-type': 'application/json' })),
  )
  assert.equal(ct.status, 415)
  assert.equal(((await ct.json()) as { code: number }).code, 20415)
  const big = await app.fetch(new Request('http://x/v2/Things', form('A=' + 'x'.repeat(5000))))
  assert.equal(big.status, 413)
  assert.equal(((await big.json()) as { code: number }).code, 20413)
  for (const body of ['A=%00', 'A=%ED%B0%80', 'A=%C3']) {
    const r = await app.fetch(new Request('http://x/v2/Things', form(body)))
    assert.equal(r.status, 400, body)
  }
  const raw = await app.fetch(
    new Request('http://x/v2/Things', {
      ...form(''),
      body: new Uint8Array([0x41, 0x3d, 0xff, 0xfe]),
    }),
  )
  assert.equal(raw.status, 400)
  const path = await app.fetch(
    new Request('http://x/v2/Things/a%00b', { headers: { authorization: AUTH } }),
  )
  assert.equal(path.status, 400)
})

test('cross-site state-changing requests are refused with 403; same-site ones pass', async () => {
  const app = makeApp()
  const r = await app.fetch(
    new Request('http://x/v2/Things', form('A=1', { 'sec-fetch-site': 'cross-site' })),
  )
  assert.equal(r.status, 403)
  assert.equal(((await r.json()) as { code: number }).code, 20006)
  const o = await app.fetch(
    new Request('http://x/v2/Things', form('A=1', { origin: 'https://evil.example' })),
  )
  assert.equal(o.status, 403)
  const same = await app.fetch(
    new Request('http://x/v2/Things', form('A=1', { 'sec-fetch-site': 'same-origin' })),
  )
  assert.equal(same.status, 200)
})

test('an unexpected exception becomes a generic 500 that does not leak the cause', async () => {
  const app = makeApp()
  const r = await app.fetch(new Request('http://x/v2/Boom', { headers: { authorization: AUTH } }))
  assert.equal(r.status, 500)
  const text = await r.text()
  assert.doesNotMatch(text, /secret internal detail/)
  assert.equal((JSON.parse(text) as { code: number }).code, 20500)
})

test('X-Twilio-Product naming another product than the path is a 404', async () => {
  const app = makeApp()
  const r = await app.fetch(
    new Request('http://x/v2/Things/1', {
      headers: { authorization: AUTH, 'x-twilio-product': 'conversations' },
    }),
  )
  assert.equal(r.status, 404)
  const ok2 = await app.fetch(
    new Request('http://x/v2/Things/1', {
      headers: { authorization: AUTH, 'x-twilio-product': 'chat' },
    }),
  )
  assert.equal(ok2.status, 200)
})

test('failed Basic-auth attempts are limited per client address with 429 20429 and Retry-After', async () => {
  const app = makeApp(DEFAULT_LIMITS.bodyBytes, 3)
  const from = (addr: string, authorization: string) =>
    app.handle({
      method: 'GET',
      path: '/v2/Things/1',
      query: '',
      body: null,
      remoteAddress: addr,
      header: (n) => (n === 'authorization' ? authorization : n === 'host' ? 'x' : undefined),
    })
  for (let i = 0; i < 3; i++) assert.equal((await from('10.0.0.1', basic(AC, 'wrong'))).status, 401)
  const blocked = await from('10.0.0.1', AUTH)
  assert.equal(blocked.status, 429)
  assert.equal((JSON.parse(blocked.body ?? '{}') as { code: number }).code, 20429)
  assert.ok(Number(blocked.headers['retry-after']) > 0)
  // another address is unaffected
  assert.equal((await from('10.0.0.2', AUTH)).status, 200)
})

test('the failed-auth limiter forgets an address once its window has passed', async () => {
  const { AuthFailureLimiter } = await import('../../src/http/auth-limiter.ts')
  let now = 1000
  const l = new AuthFailureLimiter(2, 100, () => now)
  l.fail('a')
  assert.equal(l.blockedFor('a'), 0)
  l.fail('a')
  assert.equal(l.blockedFor('a'), 100)
  now += 100
  assert.equal(l.blockedFor('a'), 0)
  const off = new AuthFailureLimiter(0, 100)
  for (let i = 0; i < 10; i++) off.fail('b')
  assert.equal(off.blockedFor('b'), 0)
})
