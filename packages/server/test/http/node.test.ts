/**
 * The node:http bridge on a real socket (port 0): streaming body cap (413 before buffering), header limits (431),
 * slow headers, upgrade routing and the graceful drain.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DEFAULT_LIMITS, type Limits } from '../../src/config.ts'
import { createApp } from '../../src/http/app.ts'
import { silentLogger } from '../../src/http/log.ts'
import { createNodeBridge } from '../../src/http/node.ts'
import { ok } from '../../src/http/routes/common.ts'

const AC = 'AC' + 'a'.repeat(32)
const AUTH = 'Basic ' + Buffer.from(`${AC}:secret`).toString('base64')

async function start(limits: Partial<Limits> = {}, slow?: Promise<void>) {
  const all: Limits = { ...DEFAULT_LIMITS, ...limits }
  const app = createApp({
    routes: [
      {
        method: 'POST',
        pattern: '/v2/Echo',
        handler: async (ctx) => {
          if (slow) await slow
          return ok({ n: ctx.form.string('A')?.length ?? 0 })
        },
      },
    ],
    authenticate: async (u) => (u === AC ? { kind: 'admin', accountSid: AC } : undefined),
    config: { publicUrl: undefined, limits: all },
    logger: silentLogger,
  })
  app.ready = true
  const bridge = createNodeBridge(app, all)
  await new Promise<void>((r) => bridge.server.listen(0, '127.0.0.1', r))
  const port = (bridge.server.address() as AddressInfo).port
  return { app, bridge, port }
}

function rawExchange(
  port: number,
  data: string | Buffer,
  opts: { end?: boolean } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1')
    let out = ''
    s.on('data', (d) => (out += d.toString('latin1')))
    s.on('error', () => resolve(out))
    s.on('close', () => resolve(out))
    s.write(data, () => {
      if (opts.end) s.end()
    })
  })
}

test('a declared Content-Length over the cap gets 413 without reading the body', async () => {
  const { bridge, port, app } = await start({ bodyBytes: 1024 })
  const res = await rawExchange(
    port,
    `POST /v2/Echo HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Content-Length: 10485760\r\n\r\nA=xxxx`,
  )
  assert.match(res, /^HTTP\/1\.1 413 /)
  assert.match(res, /"code":20413/)
  assert.match(app.metrics.render(), /parley_http_body_rejected_total 1/)
  await bridge.drain(1000)
})

test('a chunked body growing past the cap gets 413 and the connection is closed', async () => {
  const { bridge, port } = await start({ bodyBytes: 1024 })
  const status = await new Promise<number>((resolve) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/v2/Echo',
        headers: { authorization: AUTH, 'content-type': 'application/x-www-form-urlencoded' },
      },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.on('error', () => resolve(-1))
    req.write('A=')
    const chunk = 'x'.repeat(512)
    let n = 0
    const pump = (): void => {
      if (n++ > 20) return
      req.write(chunk, () => setImmediate(pump))
    }
    pump()
  })
  assert.equal(status, 413)
  await bridge.drain(1000)
})

test('a body under the cap is served', async () => {
  const { bridge, port } = await start({ bodyBytes: 1024 })
  const res = await rawExchange(
    port,
    `POST /v2/Echo HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Content-Length: 7\r\nConnection: close\r\n\r\nA=hello`,
  )
  assert.match(res, /^HTTP\/1\.1 200 /)
  assert.match(res, /\{"n":5\}/)
  await bridge.drain(1000)
})

test('oversized headers get 431 from Node; a malformed request gets 400 JSON', async () => {
  const { bridge, port } = await start({ maxHeaderBytes: 2048 })
  const big = await rawExchange(
    port,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`,
  )
  assert.match(big, /^HTTP\/1\.1 431 /)
  const bad = await rawExchange(port, 'BLAH\r\n\r\n')
  assert.match(bad, /^HTTP\/1\.1 400 /)
  await bridge.drain(1000)
})

test('a client that trickles its headers is cut off after headersTimeout', async () => {
  const { bridge, port } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 1000 })
  const t0 = Date.now()
  const res = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n')
  const elapsed = Date.now() - t0
  assert.ok(elapsed < 3000, `closed after ${elapsed} ms`)
  assert.ok(res === '' || /^HTTP\/1\.1 408 /.test(res), res)
  await bridge.drain(1000)
})

test('upgrades go to the handler registered for the path; other paths get 404', async () => {
  const { bridge, port } = await start()
  const seen: string[] = []
  const off = bridge.onUpgrade('/v3/wsconnect', (req, socket) => {
    seen.push(req.url ?? '')
    socket.end(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    )
  })
  const up =
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
  const a = await rawExchange(port, `GET /v3/wsconnect?x=1 HTTP/1.1\r\nHost: x\r\n${up}\r\n`)
  assert.match(a, /^HTTP\/1\.1 101 /)
  assert.deepEqual(seen, ['/v3/wsconnect?x=1'])
  const b = await rawExchange(port, `GET /elsewhere HTTP/1.1\r\nHost: x\r\n${up}\r\n`)
  assert.match(b, /^HTTP\/1\.1 404 /)
  off()
  const c = await rawExchange(port, `GET /v3/wsconnect HTTP/1.1\r\nHost: x\r\n${up}\r\n`)
  assert.match(c, /^HTTP\/1\.1 404 /)
  assert.throws(() => {
    bridge.onUpgrade('/a', () => undefined)
    bridge.onUpgrade('/a', () => undefined)
  }, TypeError)
  await bridge.drain(1000)
})

test('drain lets an in-flight request finish, then closes the server', async () => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const { bridge, port, app } = await start({}, gate)
  const pending = new Promise<{ status: number; body: string; connection: string | undefined }>(
    (resolve, reject) => {
      const req = request(
        {
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/v2/Echo',
          headers: { authorization: AUTH, 'content-type': 'application/x-www-form-urlencoded' },
        },
        (res) => {
          let body = ''
          res.on('data', (d: Buffer) => (body += d.toString()))
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, connection: res.headers['connection'] }),
          )
        },
      )
      req.on('error', reject)
      req.end('A=abc')
    },
  )
  await new Promise((r) => setTimeout(r, 50))
  const drained = bridge.drain(5000)
  assert.equal(app.ready, false)
  await new Promise((r) => setTimeout(r, 50))
  release()
  const r = await pending
  assert.equal(r.status, 200)
  assert.equal(r.body, '{"n":3}')
  assert.equal(r.connection, 'close')
  await drained
  assert.equal(bridge.server.listening, false)
})
