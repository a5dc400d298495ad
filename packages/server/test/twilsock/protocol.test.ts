/**
 * The Twilsock gateway over real sockets with a raw `ws` client: every packet type and every kind of bad input.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { WebSocket } from 'ws'
import { encodePacket } from '../../src/compat/twilio/twilsock/framing.ts'
import { MemoryNotificationContexts } from '../../src/compat/twilio/twilsock/notification-contexts.ts'
import type {
  TwilsockSession,
  UpstreamRequest,
  UpstreamResponse,
} from '../../src/compat/twilio/upstream.ts'
import {
  claims,
  mintParley,
  RawClient,
  signClaims,
  sleep,
  startGateway,
  until,
  type Harness,
  type HarnessOptions,
} from './support.ts'

test('init with a valid token replies 200 with the §5.1 fields and registers the endpoint', async (t) => {
  const online: string[] = []
  const offline: string[] = []
  const h = await startGateway({
    reachability: {
      onOnline: (w) => online.push(w.identity),
      onOffline: (w) => offline.push(w.identity),
    },
  })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  const r = await c.init(mintParley(h.keys, 'alice'))
  assert.deepEqual(r.header['status'], { code: 200, status: 'OK' })
  assert.equal(typeof r.header['continuation_token'], 'string')
  assert.deepEqual(r.header['continuation_token_status'], { reissued: true })
  assert.deepEqual(r.header['capabilities'], ['client_update', 'offline_storage', 'telemetry.v1'])
  const storage = (r.header['offline_storage'] as Record<string, { storage_id: string }>)[
    'ip_messaging'
  ]
  assert.equal(typeof storage?.storage_id, 'string')
  assert.deepEqual(r.header['init_registrations'], [{ product: 'ip_messaging', type: 'ers' }])
  assert.equal(h.gateway.sessions.size, 1)
  assert.equal(h.gateway.sessions.isOnline(h.keys.serviceSid, 'alice'), true)
  const [s] = h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice')
  assert.equal(s!.principal.identity, 'alice')
  assert.equal(s!.principal.keySid, h.keys.keySid)
  assert.deepEqual(online, ['alice'])

  // A second endpoint of the same identity does not fire onOnline again; the last one leaving fires onOffline.
  const c2 = await RawClient.connect(h.url)
  await c2.init(mintParley(h.keys, 'alice'))
  assert.equal(h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice').length, 2)
  c.close()
  await until(() => h.gateway.sessions.size === 1)
  assert.deepEqual(offline, [])
  c2.close()
  await until(() => h.gateway.sessions.size === 0)
  assert.deepEqual(online, ['alice'])
  assert.deepEqual(offline, ['alice'])
})

test('the endpoint comes from endpoint_id, else from the continuation token across reconnects', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const c1 = await RawClient.connect(h.url)
  const r1 = await c1.init(mintParley(h.keys, 'bob'))
  const ep1 = h.gateway.sessions.forIdentity(h.keys.serviceSid, 'bob')[0]!.principal.endpointId
  c1.close()
  await until(() => h.gateway.sessions.size === 0)

  const c2 = await RawClient.connect(h.url)
  const r2 = await c2.init(mintParley(h.keys, 'bob'), {
    continuation_token: r1.header['continuation_token'],
  })
  assert.equal(r2.header['continuation_token'], r1.header['continuation_token'])
  assert.deepEqual(r2.header['continuation_token_status'], { reissued: false })
  assert.equal(
    h.gateway.sessions.forIdentity(h.keys.serviceSid, 'bob')[0]!.principal.endpointId,
    ep1,
  )

  // Another identity presenting bob's continuation token gets a new one (it is bound to the identity).
  const c3 = await RawClient.connect(h.url)
  const r3 = await c3.init(mintParley(h.keys, 'mallory'), {
    continuation_token: r1.header['continuation_token'],
  })
  assert.notEqual(r3.header['continuation_token'], r1.header['continuation_token'])
  assert.notEqual(
    h.gateway.sessions.forIdentity(h.keys.serviceSid, 'mallory')[0]!.principal.endpointId,
    ep1,
  )

  const c4 = await RawClient.connect(h.url)
  await c4.init(mintParley(h.keys, 'carol', 3600, { endpointId: 'app:carol:dev1' }))
  assert.equal(
    h.gateway.sessions.forIdentity(h.keys.serviceSid, 'carol')[0]!.principal.endpointId,
    'app:carol:dev1',
  )
  for (const c of [c2, c3, c4]) c.close()
})

test('init rejections reply 401 with the access-tokens.md §7.6 errorCode and then close the socket', async (t) => {
  const h = await startGateway({ limits: { closeGraceMs: 100 } })
  t.after(() => h.close())
  const now = Math.floor(Date.now() / 1000)
  const other = { ...h.keys, serviceSid: `IS${'0'.repeat(32)}` }
  const cases: [string, string, number][] = [
    ['expired', signClaims(h.keys, claims(h.keys, 'alice', now - 7200, now - 3600)), 20104],
    [
      'bad signature',
      signClaims(
        h.keys,
        claims(h.keys, 'alice', now, now + 600),
        'wrong-secret-wrong-secret-123456',
      ),
      51117,
    ],
    ['garbage', 'alice', 51130],
    [
      'unknown service',
      signClaims(h.keys, claims(h.keys, 'alice', now, now + 600, other.serviceSid)),
      51101,
    ],
    [
      'not yet valid',
      signClaims(h.keys, { ...claims(h.keys, 'alice', now, now + 600), nbf: now + 600 }),
      51120,
    ],
    ['empty token', '', 51130],
  ]
  for (const [name, token, errorCode] of cases) {
    const c = await RawClient.connect(h.url)
    const r = await c.init(token)
    const st = r.header['status'] as Record<string, unknown>
    assert.equal(st['code'], 401, name)
    assert.equal(st['errorCode'], errorCode, name)
    assert.equal(st['status'], 'Unauthorized', name)
    assert.equal(typeof st['description'], 'string', name)
    const closed = await c.closed
    assert.equal(closed.code, 1008, name)
  }
  assert.equal(h.gateway.sessions.size, 0)
})

test('a verifier failure that is not a ChatError replies 500 (retryable) without details', async (t) => {
  const h = await startGateway({
    verify: async () => {
      throw new Error('database is down')
    },
  })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  const r = await c.init('x.y.z')
  assert.deepEqual(r.header['status'], {
    code: 500,
    status: 'Internal Server Error',
    description: 'Token verification failed',
  })
  c.close()
})

test('message packets are tunnelled to the upstream handler by host prefix and answered with http_status', async (t) => {
  const seen: { prefix: string; req: UpstreamRequest; session: TwilsockSession }[] = []
  const h = await startGateway({
    upstream: {
      aim: async (req, session) => {
        seen.push({ prefix: 'aim', req, session })
        return {
          status: 200,
          headers: { 'X-Test': '1' },
          body: { identity: session.principal.identity, echo: req.body },
        }
      },
      cds: async (req, session) => {
        seen.push({ prefix: 'cds', req, session })
        return { status: 404, body: { message: 'no such map' } }
      },
      ers: async () => {
        throw new Error('boom')
      },
    },
  })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const id = c.send(
    {
      method: 'message',
      active_grant: 'ip_messaging',
      payload_type: 'application/json; charset=utf-8',
      http_request: {
        host: 'aim.us1.twilio.com',
        path: '/Client/v1/Configuration',
        method: 'POST',
        params: { PageToken: 'a%3Db', Key: ['x', 'y'], Empty: null },
        headers: { 'Content-Type': 'application/json', 'X-Twilio-Mutation-Id': 'm1' },
      },
    },
    '{"hello":"wörld"}',
  )
  const r = await c.reply(id)
  assert.deepEqual(r.header['status'], { code: 200, status: 'OK' })
  assert.deepEqual(r.header['http_status'], { code: 200, status: 'OK' })
  assert.equal((r.header['http_headers'] as Record<string, string>)['X-Test'], '1')
  assert.equal(r.header['payload_type'], 'application/json')
  assert.deepEqual(r.body, { identity: 'alice', echo: '{"hello":"wörld"}' })
  const req = seen[0]!.req
  assert.equal(req.host, 'aim.us1.twilio.com')
  assert.equal(req.path, '/Client/v1/Configuration')
  assert.equal(req.method, 'POST')
  assert.deepEqual({ ...req.params }, { PageToken: 'a=b', Key: 'x', Empty: '' })
  assert.equal(req.headers['x-twilio-mutation-id'], 'm1')

  const id2 = c.send({
    method: 'message',
    http_request: { host: 'cds.us1.twilio.com', path: '/v3/Maps/x', method: 'GET' },
  })
  const r2 = await c.reply(id2)
  assert.deepEqual(r2.header['status'], { code: 200, status: 'OK' })
  assert.deepEqual(r2.header['http_status'], { code: 404, status: 'Not Found' })
  assert.deepEqual(r2.body, { message: 'no such map' })
  assert.equal(seen[1]!.prefix, 'cds')

  const id3 = c.send({
    method: 'message',
    http_request: { host: 'ers.us1.twilio.com', path: '/v1/x', method: 'GET' },
  })
  assert.deepEqual((await c.reply(id3)).header['http_status'], {
    code: 500,
    status: 'Internal Server Error',
  })
  const id4 = c.send({
    method: 'message',
    http_request: { host: 'evil.example.com', path: '/', method: 'GET' },
  })
  assert.deepEqual((await c.reply(id4)).header['http_status'], { code: 404, status: 'Not Found' })
  const id5 = c.send({
    method: 'message',
    http_request: { host: 'aim.x', path: 'no-slash', method: 'GET' },
  })
  assert.equal(((await c.reply(id5)).header['status'] as { code: number }).code, 400)
  const id6 = c.send({ method: 'message' })
  assert.equal(((await c.reply(id6)).header['status'] as { code: number }).code, 400)
  const id7 = c.send(
    { method: 'message', http_request: { host: 'aim.x', path: '/', method: 'GET' } },
    Buffer.from([0xc0, 0xaf]),
  )
  assert.equal(((await c.reply(id7)).header['status'] as { code: number }).code, 400)
  c.close()
})

test('telemetry.v1, put_notification_ctx and delete_notification_ctx reply 200; unknown methods reply 400', async (t) => {
  const store = new MemoryNotificationContexts()
  const h = await startGateway({ notificationContexts: store })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const tel = c.send({ method: 'telemetry.v1', events: [{ title: 't' }] })
  assert.deepEqual((await c.reply(tel)).header['status'], { code: 200, status: 'OK' })

  const put = c.send(
    { method: 'put_notification_ctx', notification_ctx_id: 'ctx1' },
    '{"product_id":"ip_messaging","message_types":["twilio.channel.new_message"]}',
  )
  assert.deepEqual((await c.reply(put)).header['status'], { code: 200, status: 'OK' })
  const s = h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice')[0]!
  assert.deepEqual(store.get(s.principal, 'ctx1'), {
    product_id: 'ip_messaging',
    message_types: ['twilio.channel.new_message'],
  })
  const bad = c.send({ method: 'put_notification_ctx' }, '{}')
  assert.equal(((await c.reply(bad)).header['status'] as { code: number }).code, 400)
  const notJson = c.send({ method: 'put_notification_ctx', notification_ctx_id: 'ctx2' }, 'nope')
  assert.equal(((await c.reply(notJson)).header['status'] as { code: number }).code, 400)
  const del = c.send({ method: 'delete_notification_ctx', notification_ctx_id: 'ctx1' })
  assert.deepEqual((await c.reply(del)).header['status'], { code: 200, status: 'OK' })
  assert.equal(store.size, 0)

  const unk = c.send({ method: 'teleport' })
  assert.deepEqual((await c.reply(unk)).header['status'], {
    code: 400,
    status: 'Bad Request',
    description: 'Unsupported method',
  })
  const again = c.send({ method: 'init', token: mintParley(h.keys, 'alice') })
  assert.equal(((await c.reply(again)).header['status'] as { code: number }).code, 400)
  // The connection is still fine.
  const tel2 = c.send({ method: 'telemetry.v1' })
  assert.deepEqual((await c.reply(tel2)).header['status'], { code: 200, status: 'OK' })
  c.close()
})

test('a request before init gets a Twilsock close 401 and WebSocket close 1008', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  c.send({ method: 'message', http_request: { host: 'aim.x', path: '/', method: 'GET' } })
  const close = await c.method('close')
  assert.equal((close.header['status'] as { code: number }).code, 401)
  assert.equal((await c.closed).code, 1008)
})

test('malformed framing closes with 1002 (after a Twilsock close 406); a readable header gets a 400 reply', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  for (const junk of [
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    Buffer.from('TWILSOCK V3.0 5\r\n{"a":\r\n'),
    Buffer.from('TWILSOCK V3.0 99\r\n{}'),
  ]) {
    const c = await RawClient.connect(h.url)
    c.sendRaw(junk)
    assert.equal(((await c.method('close')).header['status'] as { code: number }).code, 406)
    assert.equal((await c.closed).code, 1002)
  }
  // Text frames are not Twilsock.
  const t1 = await RawClient.connect(h.url)
  t1.sendRaw('TWILSOCK V3.0 2\r\n{}\r\n', false)
  assert.equal((await t1.closed).code, 1003)

  // After init, a packet whose header names an id is answered and the socket survives.
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const header = JSON.stringify({ method: 'telemetry.v1', id: 'TMbad', payload_size: 10 })
  c.sendRaw(Buffer.from(`TWILSOCK V3.0 ${header.length}\r\n${header}\r\nshort`))
  const r = await c.reply('TMbad')
  assert.equal((r.header['status'] as { code: number }).code, 400)
  const ok = c.send({ method: 'telemetry.v1' })
  assert.equal(((await c.reply(ok)).header['status'] as { code: number }).code, 200)
  // A packet without an id cannot be answered: protocol error.
  c.sendRaw(encodePacket({ method: 'telemetry.v1' }))
  assert.equal((await c.closed).code, 1002)
  await until(() => h.gateway.sessions.size === 0)
})

test('a frame over maxPayload closes with 1009; other sockets are unaffected', async (t) => {
  const h = await startGateway({ limits: { maxPayloadBytes: 1024 } })
  t.after(() => h.close())
  const bystander = await RawClient.connect(h.url)
  await bystander.init(mintParley(h.keys, 'bob'))
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  c.send({ method: 'telemetry.v1' }, 'x'.repeat(2000))
  assert.equal((await c.closed).code, 1009)
  const id = bystander.send({ method: 'telemetry.v1' })
  assert.equal(((await bystander.reply(id)).header['status'] as { code: number }).code, 200)
  bystander.close()
})

test('a flood gets 429 replies with retry_after_ms, then close 1008 on sustained abuse', async (t) => {
  const h = await startGateway({ limits: { rateBurst: 5, ratePerSecond: 1, floodCloseAfter: 20 } })
  t.after(() => h.close())
  const bystander = await RawClient.connect(h.url)
  await bystander.init(mintParley(h.keys, 'bob'))
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice')) // uses 1 token
  const ids = Array.from({ length: 10 }, () => c.send({ method: 'telemetry.v1' }))
  const replies = await Promise.all(ids.map((id) => c.reply(id)))
  const codes = replies.map((r) => (r.header['status'] as { code: number }).code)
  assert.deepEqual(codes.filter((x) => x === 200).length, 4)
  assert.deepEqual(codes.filter((x) => x === 429).length, 6)
  const limited = replies.find((r) => (r.header['status'] as { code: number }).code === 429)!
  assert.ok((limited.body as { retry_after_ms: number }).retry_after_ms > 0)
  for (let i = 0; i < 30; i++) c.send({ method: 'telemetry.v1' })
  assert.equal((await c.closed).code, 1008)
  const id = bystander.send({ method: 'telemetry.v1' })
  assert.equal(((await bystander.reply(id)).header['status'] as { code: number }).code, 200)
  bystander.close()
})

test('a socket without init is closed with 1008 at the auth deadline', async (t) => {
  const h = await startGateway({ limits: { authDeadlineMs: 150 } })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  const started = Date.now()
  assert.equal((await c.closed).code, 1008)
  assert.ok(Date.now() - started >= 100)
  // An initialised socket survives past the deadline.
  const ok = await RawClient.connect(h.url)
  await ok.init(mintParley(h.keys, 'alice'))
  await sleep(300)
  assert.equal(ok.ws.readyState, WebSocket.OPEN)
  ok.close()
})

test('a consumer that stops reading is closed with 4008 once its unsent bytes pass the limit', async (t) => {
  const closes: (number | undefined)[] = []
  let session: TwilsockSession | undefined
  const h = await startGateway({
    limits: { maxOutboundBytes: 256 * 1024 },
    upstream: async (_req, s) => {
      session = s
      return { status: 200, body: {} }
    },
    onSessionClose: (_s, info) => closes.push(info.code),
  })
  t.after(() => h.close())
  const bystander = await RawClient.connect(h.url)
  await bystander.init(mintParley(h.keys, 'bob'))
  const c = await RawClient.connect(h.url, { autoAck: false })
  await c.init(mintParley(h.keys, 'alice'))
  await c.reply(
    c.send({ method: 'message', http_request: { host: 'aim.x', path: '/', method: 'GET' } }),
  )
  // 1. Stop reading: the kernel buffers fill, then ws buffers, then the limit trips.
  ;(c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause()
  const chunk = { data: 'x'.repeat(16 * 1024) }
  for (let i = 0; i < 2000 && !session!.closed; i++) {
    session!.notify('twilio.sync.event', chunk)
    if (i % 50 === 0) await sleep(1)
  }
  assert.equal(session!.closed, true)
  // 2. Resume: the client drains what was buffered and sees the 4008 close frame.
  ;(c.ws as unknown as { _socket: { resume(): void } })._socket.resume()
  const closed = await c.closed
  assert.ok(closed.code === 4008 || closed.code === 1006, `close code ${closed.code}`)
  await until(() => closes.length > 0)
  assert.equal(closes[0], 4008)
  // The other socket is unaffected.
  const id = bystander.send({ method: 'telemetry.v1' })
  assert.equal(((await bystander.reply(id)).header['status'] as { code: number }).code, 200)
  bystander.close()
})

test('server packets are tracked until the client acks them; stray acks are ignored', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const c = await RawClient.connect(h.url, { autoAck: false })
  await c.init(mintParley(h.keys, 'alice'))
  const s = h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice')[0] as TwilsockSession & {
    unacked: number
  }
  s.notify('twilio.sync.event', { event_type: 'x' })
  s.notify('twilio.ipmsg.typing_indicator', { channel_sid: 'CH1' })
  const n1 = await c.method('notification')
  const n2 = await c.method('notification')
  assert.equal(n1.header['message_type'], 'twilio.sync.event')
  assert.equal(n1.header['payload_type'], 'application/json')
  assert.deepEqual(n1.body, { event_type: 'x' })
  assert.equal(s.unacked, 2)
  c.send({ method: 'reply', id: n1.header['id'] as string, status: { code: 200, status: 'OK' } })
  c.send({ method: 'reply', id: 'TMnothing', status: { code: 200, status: 'OK' } })
  await until(() => s.unacked === 1)
  c.send({ method: 'reply', id: n2.header['id'] as string, status: { code: 200, status: 'OK' } })
  await until(() => s.unacked === 0)
  assert.equal(c.ws.readyState, WebSocket.OPEN)
  c.close()
})

test('a client that stops acking is closed as a slow consumer at maxUnacked', async (t) => {
  const h = await startGateway({ limits: { maxUnacked: 10 } })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url, { autoAck: false })
  await c.init(mintParley(h.keys, 'alice'))
  const s = h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice')[0]!
  for (let i = 0; i < 11; i++) s.notify('twilio.sync.event', { i })
  assert.equal((await c.closed).code, 4008)
})

test('a client whose unacknowledged bytes would pass maxUnackedBytes is closed as a slow consumer; acks make room', async (t) => {
  const h = await startGateway({ limits: { maxUnackedBytes: 10_000 } })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url, { autoAck: false })
  await c.init(mintParley(h.keys, 'alice'))
  const s = h.gateway.sessions.forIdentity(h.keys.serviceSid, 'alice')[0]! as TwilsockSession
  const kb = 'x'.repeat(1000)
  // About 1.1 KB per packet: eight fit, and acking them makes room for eight more.
  for (let i = 0; i < 8; i++) s.notify('twilio.sync.event', { kb })
  await until(() => c.received.length === 8)
  assert.ok(s.unackedBytes > 8000 && s.unackedBytes <= 10_000, `${s.unackedBytes} bytes`)
  for (const p of c.received.splice(0))
    c.send({ method: 'reply', id: p.header['id'], status: { code: 200, status: 'OK' } })
  await until(() => s.unackedBytes === 0)
  for (let i = 0; i < 8; i++) s.notify('twilio.sync.event', { kb })
  await until(() => c.received.length === 8)
  // The ninth unacknowledged one would pass the limit.
  s.notify('twilio.sync.event', { kb })
  assert.equal((await c.closed).code, 4008)
})

test('a peer that stops answering pings is terminated after 2 missed pongs', async (t) => {
  const h = await startGateway({ limits: { heartbeatIntervalMs: 100 } })
  t.after(() => h.close())
  const alive = await RawClient.connect(h.url)
  await alive.init(mintParley(h.keys, 'bob'))
  const ws = new WebSocket(h.url, { autoPong: false })
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  await new Promise((r) => ws.once('open', r))
  ws.send(encodePacket({ method: 'init', id: 'TMi', token: mintParley(h.keys, 'alice') }))
  const started = Date.now()
  assert.equal(await closed, 1006)
  assert.ok(Date.now() - started < 1000)
  assert.equal(alive.ws.readyState, WebSocket.OPEN)
  await until(() => h.gateway.sessions.size === 1)
  alive.close()
})

test('origins outside the allow-list are refused with 403 before the upgrade', async (t) => {
  const h = await startGateway({ allowedOrigins: ['https://chat.example.com'] })
  t.after(() => h.close())
  await assert.rejects(RawClient.connect(h.url, { headers: { Origin: 'https://evil.example' } }), {
    statusCode: 403,
  })
  const ok = await RawClient.connect(h.url, { headers: { Origin: 'https://chat.example.com' } })
  ok.close()
  const noOrigin = await RawClient.connect(h.url)
  noOrigin.close()
  // Other paths are not the gateway's.
  await assert.rejects(RawClient.connect(h.url.replace('/v3/wsconnect', '/other')))
})

test('revokeKey closes every session of that key with Twilsock close 410 and refuses the key afterwards', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  assert.equal(h.gateway.revokeKey(h.keys.keySid), 1)
  const close = await c.method('close')
  assert.deepEqual(close.header['status'], {
    code: 410,
    status: 'Gone',
    errorCode: 51115,
    description: 'Access token key revoked',
  })
  assert.equal((await c.closed).code, 1008)
  const c2 = await RawClient.connect(h.url)
  const r = await c2.init(mintParley(h.keys, 'alice'))
  assert.equal((r.header['status'] as { code: number }).code, 401)
})

test('with isKeyActive, a deleted key closes its sessions within the poll interval', async (t) => {
  const table: { keys?: Map<string, unknown> } = {}
  const h = await startGateway({
    keyPollIntervalMs: 100,
    isKeyActive: (sid) => table.keys?.has(sid) ?? true,
  })
  table.keys = h.keyTable
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const started = Date.now()
  h.keyTable.delete(h.keys.keySid)
  assert.equal((await c.closed).code, 1008)
  assert.ok(Date.now() - started < 2000)
})

test('with subscribeKeyRevocations, a revocation signal closes the sessions at once', async (t) => {
  let fire: ((keySid: string) => void) | undefined
  const h = await startGateway({
    subscribeKeyRevocations: (l) => {
      fire = l
      return () => (fire = undefined)
    },
  })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  fire!(h.keys.keySid)
  assert.equal((await c.closed).code, 1008)
})

test('close() sends Twilsock close 308 with backoff advice, then 1001, and refuses new upgrades', async () => {
  const h = await startGateway()
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const pending = await RawClient.connect(h.url)
  const closing = h.gateway.close()
  const pkt = await c.method('close')
  assert.equal((pkt.header['status'] as { code: number }).code, 308)
  const min = (pkt.body as { backoff_policy: { reconnect_min_ms: number } }).backoff_policy
    .reconnect_min_ms
  assert.ok(min >= 1000 && min <= 5000)
  assert.equal((await c.closed).code, 1001)
  assert.equal((await pending.closed).code, 1001)
  await closing
  await assert.rejects(RawClient.connect(h.url), { statusCode: 503 })
  h.server.closeAllConnections()
  await new Promise<void>((r) => h.server.close(() => r()))
})

/**
 * A gateway whose upstream holds every request until `release()` answers the last one with `answer`. After the test,
 * whatever happened, the request is released and the gateway closed (a held request would keep the server open).
 */
async function holdingGateway(
  t: TestContext,
  answer: UpstreamResponse,
  limits: HarnessOptions['limits'] = {},
): Promise<{ h: Harness; release: () => void; calls: () => number }> {
  let release: (() => void) | undefined
  let calls = 0
  const h = await startGateway({
    limits,
    upstream: () => {
      calls++
      return new Promise((resolve) => {
        release = () => resolve(answer)
      })
    },
  })
  t.after(async () => {
    release?.()
    await h.close()
  })
  return { h, release: () => release!(), calls: () => calls }
}

test('on close(), a request already running finishes and gets its real answer before the close packet; new ones get 503 unrun', async (t) => {
  const { h, release, calls } = await holdingGateway(t, { status: 201, body: { sid: 'IMdone' } })
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const request = { method: 'message', http_request: { host: 'aim.x', path: '/', method: 'POST' } }
  const running = c.send(request)
  await until(() => h.gateway.inflightRequests === 1)
  const closing = h.gateway.close()
  const order: string[] = []
  const runningReply = c.reply(running).then((r) => (order.push('running'), r))
  const closePacket = c.method('close').then((p) => (order.push('close'), p))
  // Sent after the close began: refused without running.
  const late = await c.reply(c.send(request))
  assert.deepEqual(late.header['status'], {
    code: 503,
    status: 'Service Unavailable',
    description: 'Server shutting down',
  })
  assert.equal(calls(), 1)
  release()
  const r = await runningReply
  assert.deepEqual(r.header['status'], { code: 200, status: 'OK' })
  assert.equal((r.header['http_status'] as { code: number }).code, 201)
  assert.deepEqual(r.body, { sid: 'IMdone' })
  assert.equal(((await closePacket).header['status'] as { code: number }).code, 308)
  assert.deepEqual(order, ['running', 'close'])
  assert.equal((await c.closed).code, 1001)
  await closing
})

test('on close(), a request still running after drainMs is answered 503 before the close packet', async (t) => {
  const { h, release } = await holdingGateway(t, { status: 200, body: {} }, { drainMs: 200 })
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const id = c.send({
    method: 'message',
    http_request: { host: 'aim.x', path: '/', method: 'GET' },
  })
  await until(() => h.gateway.inflightRequests === 1)
  const closing = h.gateway.close()
  const r = await c.reply(id)
  assert.equal((r.header['status'] as { code: number }).code, 503)
  assert.equal(((await c.method('close')).header['status'] as { code: number }).code, 308)
  release()
  await closing
})

test('requests still in flight when the server closes get a 503 reply before the close packet', async (t) => {
  const { h, release } = await holdingGateway(t, { status: 200, body: {} })
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const id = c.send({
    method: 'message',
    http_request: { host: 'aim.x', path: '/', method: 'GET' },
  })
  await until(() => h.gateway.inflightRequests === 1)
  h.gateway.revokeKey(h.keys.keySid)
  const r = await c.reply(id)
  assert.deepEqual(r.header['status'], {
    code: 503,
    status: 'Service Unavailable',
    description: 'Connection closing',
  })
  assert.equal(((await c.method('close')).header['status'] as { code: number }).code, 410)
  release()
  await c.closed
  await until(() => h.gateway.inflightRequests === 0)
})

test('an identity over maxSessionsPerIdentity gets an init reply 429 with backoff advice', async (t) => {
  const h = await startGateway({ limits: { maxSessionsPerIdentity: 2, closeGraceMs: 100 } })
  t.after(() => h.close())
  const a = await RawClient.connect(h.url)
  const b = await RawClient.connect(h.url)
  await a.init(mintParley(h.keys, 'alice'))
  await b.init(mintParley(h.keys, 'alice'))
  const c = await RawClient.connect(h.url)
  const r = await c.init(mintParley(h.keys, 'alice'))
  assert.equal((r.header['status'] as { code: number }).code, 429)
  assert.deepEqual(r.body, { backoff_policy: { reconnect_min_ms: 5000 } })
  assert.equal((await c.closed).code, 1008)
  const other = await RawClient.connect(h.url)
  assert.equal(
    ((await other.init(mintParley(h.keys, 'bob'))).header['status'] as { code: number }).code,
    200,
  )
  assert.equal(h.gateway.sessions.countForIdentity(h.keys.serviceSid, 'alice'), 2)
  for (const x of [a, b, other]) x.close()
})

test('an upstream handler slower than upstreamTimeoutMs is answered http_status 504', async (t) => {
  const h = await startGateway({
    limits: { upstreamTimeoutMs: 100 },
    upstream: () => new Promise(() => {}),
  })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const r = await c.reply(
    c.send({
      method: 'message',
      http_request: { host: 'cds.x', path: '/v3/Maps/m', method: 'GET' },
    }),
  )
  assert.deepEqual(r.header['status'], { code: 200, status: 'OK' })
  assert.deepEqual(r.header['http_status'], { code: 504, status: 'Gateway Timeout' })
  // The abandoned handler still counts as in flight.
  assert.equal(h.gateway.inflightRequests, 1)
  c.close()
})

test('with failedAuthPerAddress, an address that keeps failing init is refused with HTTP 429', async (t) => {
  const h = await startGateway({
    failedAuthPerAddress: { burst: 3, perSecond: 1 },
    limits: { closeGraceMs: 50 },
  })
  t.after(() => h.close())
  for (let i = 0; i < 3; i++) {
    const c = await RawClient.connect(h.url)
    assert.equal(((await c.init('bad.token.here')).header['status'] as { code: number }).code, 401)
    c.close()
  }
  await assert.rejects(RawClient.connect(h.url), { statusCode: 429 })
  // It refills: after a second one attempt is allowed again.
  await sleep(1100)
  const c = await RawClient.connect(h.url)
  assert.equal(
    ((await c.init(mintParley(h.keys, 'alice'))).header['status'] as { code: number }).code,
    200,
  )
  c.close()
})

test('throwing hooks (onSessionOpen, reachability) do not break the session or the process', async (t) => {
  const h = await startGateway({
    onSessionOpen: () => {
      throw new Error('hook bug')
    },
    onSessionClose: () => {
      throw new Error('hook bug')
    },
    reachability: {
      onOnline: () => {
        throw new Error('hook bug')
      },
    },
  })
  t.after(() => h.close())
  const c = await RawClient.connect(h.url)
  assert.equal(
    ((await c.init(mintParley(h.keys, 'alice'))).header['status'] as { code: number }).code,
    200,
  )
  const id = c.send({ method: 'telemetry.v1' })
  assert.equal(((await c.reply(id)).header['status'] as { code: number }).code, 200)
  c.close()
  await until(() => h.gateway.connections === 0)
})

test('an update signed by another key of the account moves the session to that key for revocation', async (t) => {
  const h = await startGateway()
  t.after(() => h.close())
  const key2 = {
    ...h.keys,
    keySid: `SK${'1'.repeat(32)}`,
    secret: 'second-secret-second-secret-0123',
  }
  h.keyTable.set(key2.keySid, key2)
  const c = await RawClient.connect(h.url)
  await c.init(mintParley(h.keys, 'alice'))
  const r = await c.reply(c.send({ method: 'update', token: mintParley(key2, 'alice') }))
  assert.deepEqual(r.header['status'], { code: 200, status: 'OK' })
  assert.equal(h.gateway.revokeKey(h.keys.keySid), 0)
  assert.equal(h.gateway.sessions.forKey(key2.keySid).length, 1)
  assert.equal(h.gateway.revokeKey(key2.keySid), 1)
  assert.equal((await c.closed).code, 1008)
})
