/**
 * `createParleyServer` over real sockets: readiness, metrics, the Twilsock upgrade hook on `/v3/wsconnect`, logs
 * without secrets, and a graceful close.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/http/log.ts'
import { createParleyServer } from '../../src/main.ts'
import { basicAuth } from './harness.ts'

test('createParleyServer serves REST, health and metrics, accepts Twilsock upgrades, logs no secrets, closes cleanly', async () => {
  const lines: string[] = []
  const logger = createLogger({ level: 'debug', sink: { write: (s: string) => lines.push(s) } })
  const parley = await createParleyServer(loadConfig({ port: 0 }, {}), {
    storage: 'memory',
    bootstrap: true,
    logger,
  })
  const creds = parley.bootstrapped!
  try {
    assert.match(parley.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal((await fetch(`${parley.url}/healthz`)).status, 200)

    const auth = basicAuth(creds.account.sid, creds.authToken)
    const svc = await fetch(`${parley.url}/v2/Services/${creds.service.sid}?Secret=shh`, {
      headers: { authorization: auth },
    })
    assert.equal(svc.status, 200)
    const body = (await svc.json()) as { url: string }
    assert.equal(body.url, `${parley.url}/v2/Services/${creds.service.sid}`)

    // The Twilsock gateway is attached to the upgrade hook.
    const ws = new WebSocket(`${parley.url.replace('http', 'ws')}/v3/wsconnect`)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    const other = new WebSocket(`${parley.url.replace('http', 'ws')}/elsewhere`)
    const status = await new Promise<number>((resolve) => {
      other.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      other.once('error', () => resolve(-1))
    })
    assert.equal(status, 404)

    const metrics = await (await fetch(`${parley.url}/metrics`)).text()
    assert.match(metrics, /parley_http_requests_total\{code="2xx"\} [1-9]/)
    assert.match(metrics, /parley_http_open_connections [1-9]/)

    ws.close()
  } finally {
    await parley.close()
  }
  assert.equal(parley.server.listening, false)
  const log = lines.join('')
  for (const secret of [
    creds.authToken,
    creds.apiKey.secret,
    'shh',
    basicAuth(creds.account.sid, creds.authToken),
  ]) {
    assert.ok(!log.includes(secret), 'secret in logs')
  }
  const requestLine = lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l['msg'] === 'request')
  assert.deepEqual(Object.keys(requestLine ?? {}).sort(), [
    'level',
    'method',
    'ms',
    'msg',
    'path',
    'status',
    'time',
  ])
  // closing twice is fine
  await parley.close()
})
