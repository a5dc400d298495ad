import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createNodeServer } from '../src/node.ts'
import { loadStaticFiles } from '../src/static-files.ts'
import { makeHarness, type Harness } from './support/harness.ts'

void describe('the demo over node:http (port 0)', () => {
  let h: Harness
  let server: ReturnType<typeof createNodeServer>
  let base = ''
  before(async () => {
    h = makeHarness({}, loadStaticFiles())
    server = createNodeServer(h.app)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    h.close()
  })

  void test('serves the page, the app script and the unmodified twilio-chat build', async () => {
    const page = await fetch(`${base}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
    const html = await page.text()
    assert.match(html, /\/vendor\/twilio-chat\.min\.js/)
    assert.equal(
      (await fetch(`${base}/app.js`)).headers.get('content-type'),
      'text/javascript; charset=utf-8',
    )
    const sdk = await (await fetch(`${base}/vendor/twilio-chat.min.js`)).text()
    assert.match(sdk, /this\.Twilio\.Chat=/)
  })

  void test('sign-up, then /token, with real cookies and headers', async () => {
    const s = await fetch(`${base}/api/session`)
    const pre = s.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ')
    const { csrfToken } = (await s.json()) as { csrfToken: string }
    const up = await fetch(`${base}/api/signup`, {
      method: 'POST',
      headers: {
        cookie: pre,
        'content-type': 'application/json',
        'x-csrf-token': csrfToken,
        origin: base,
      },
      body: JSON.stringify({ username: 'carol', password: 'a long password' }),
    })
    assert.equal(up.status, 201)
    const session = up.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ')
    const body = (await up.json()) as { csrfToken: string }
    const tok = await fetch(`${base}/token`, {
      method: 'POST',
      headers: {
        cookie: session,
        'content-type': 'application/json',
        'x-csrf-token': body.csrfToken,
        origin: base,
      },
      body: JSON.stringify({ deviceId: 'integration-device' }),
    })
    assert.equal(tok.status, 200)
    assert.match(((await tok.json()) as { token: string }).token, /^eyJ/)
  })

  void test('a body over the limit gets 413 without reaching the app', async () => {
    const res = await fetch(`${base}/api/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(200 * 1024),
    })
    assert.equal(res.status, 413)
  })
})
