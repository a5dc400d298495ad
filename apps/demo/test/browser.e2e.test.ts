/**
 * Browser end-to-end test of the seed's flow: a person signs up on "your server" (the demo), the page fetches an
 * Access Token from POST /token, and the official twilio-chat 6.0.0 browser build talks to Parley over Twilsock.
 *
 * Needs Chromium at /usr/bin/chromium and a Parley server that speaks the Twilio chat protocol. Parley comes from
 * `PARLEY_E2E_DATA_DIR` (the data directory of a running server: its credentials.json, with `url`) or else from
 * `parley serve --port 0` (packages/server/dist/src/cli.js) in a temporary directory. Every test SKIPS, with the
 * reason, when Chromium is missing or when a probe client does not reach `stateChanged: 'initialized'`.
 * Against an existing server the tests create users and channels there and turn on the service's reachability.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, test } from 'node:test'
import { chromium, type Browser, type Page, type WebSocket as PwWebSocket } from 'playwright-core'
import { createDemoApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { openDemoStore } from '../src/db.ts'
import { createNodeServer } from '../src/node.ts'
import { loadStaticFiles } from '../src/static-files.ts'

// The page functions below run in the browser; this package compiles without the DOM lib.
declare const document: any
declare const window: any

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
]
const PASSWORD = 'e2e password 1'
/** The about-to-expire lead given to the Parley this test starts (`PARLEY_TOKEN_WARNING_LEAD_SECONDS`). */
const LEAD_SECONDS = 8
/** Screenshots of the run, kept as artifacts (gitignored): `<repo>/artifacts/demo-e2e/*.png`. */
const ARTIFACTS = fileURLToPath(new URL('../../../../artifacts/demo-e2e/', import.meta.url))
const suffix = Math.random().toString(36).slice(2, 7)
const name = (base: string): string => `${base}-${suffix}`

interface ParleyInfo {
  url: string
  dataDir: string
  accountSid: string
  authToken: string
  serviceSid: string
  /** The service's about-to-expire lead in seconds, when this test started it (unknown for an existing server). */
  leadSeconds: number | undefined
}

interface Demo {
  url: string
  close(): Promise<void>
}

interface Env {
  skip: string | false
  parley?: ParleyInfo
  browser?: Browser
  demo?: Demo
  startDemo(tokenTtl: number): Promise<Demo>
  close(): Promise<void>
}

const cleanups: (() => Promise<void> | void)[] = []

async function waitForCredentials(file: string, child: ChildProcess | undefined, ms: number) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) return undefined
    try {
      const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>
      if (c['url'] && c['service_sid']) return c
    } catch {
      /* not written yet */
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return undefined
}

async function startParley(): Promise<ParleyInfo | string> {
  let dataDir = process.env['PARLEY_E2E_DATA_DIR']
  let child: ChildProcess | undefined
  if (!dataDir) {
    const cli = fileURLToPath(
      new URL('../../../../packages/server/dist/src/cli.js', import.meta.url),
    )
    if (!existsSync(cli)) return `the Parley CLI is not built (${cli})`
    dataDir = mkdtempSync(join(tmpdir(), 'parley-e2e-'))
    const dir = dataDir
    child = spawn(
      process.execPath,
      [cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dir, '--log-level', 'error'],
      {
        stdio: 'ignore',
        env: { ...process.env, PARLEY_TOKEN_WARNING_LEAD_SECONDS: String(LEAD_SECONDS) },
      },
    )
    const proc = child
    cleanups.push(async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM')
        await new Promise((r) => proc.once('exit', r))
      }
      rmSync(dir, { recursive: true, force: true })
    })
  }
  const c = await waitForCredentials(join(dataDir, 'credentials.json'), child, 15_000)
  if (!c) return `no Parley credentials.json with a url appeared in ${dataDir}`
  return {
    url: c['url']!,
    dataDir,
    accountSid: c['account_sid']!,
    authToken: c['auth_token']!,
    serviceSid: c['service_sid']!,
    leadSeconds: child ? LEAD_SECONDS : undefined,
  }
}

async function startDemoFor(parley: ParleyInfo, tokenTtl: number): Promise<Demo> {
  const config = loadConfig({
    env: {
      PARLEY_DATA_DIR: parley.dataDir,
      PARLEY_URL: parley.url,
      DEMO_DATA_DIR: join(parley.dataDir, 'demo-e2e'),
      DEMO_TOKEN_TTL: String(tokenTtl),
    },
  })
  const store = openDemoStore(':memory:')
  const app = createDemoApp({
    config,
    store,
    sessionKey: Buffer.alloc(32, 9),
    files: loadStaticFiles(),
    scrypt: { N: 1024, r: 8, p: 1 },
  })
  const server = createNodeServer(app)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      store.close()
    },
  }
}

/** In a real page: sign up, get a token, and try to initialize a twilio-chat client against Parley. */
async function probeChat(browser: Browser, demo: Demo): Promise<string | undefined> {
  const page = await browser.newPage()
  try {
    await page.goto(demo.url)
    return await page.evaluate(async (username: string) => {
      const post = async (path: string, body: unknown, csrf: string) => {
        const r = await fetch(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify(body),
        })
        return (await r.json()) as Record<string, string>
      }
      const s = (await (await fetch('/api/session')).json()) as Record<string, string>
      const up = await post(
        '/api/signup',
        { username, password: 'probe password' },
        s['csrfToken']!,
      )
      const t = await post('/token', { deviceId: 'probe-device-1' }, up['csrfToken']!)
      const Client = (window as any).Twilio?.Chat?.Client
      if (!Client) return 'the twilio-chat browser build did not load'
      const client = new Client(t['token'], {
        twilsock: { uri: t['twilsockUrl'] },
        logLevel: 'silent',
      })
      const result = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(
          () => resolve(`no 'initialized' within 15 s (${client.connectionState})`),
          15_000,
        )
        client.on('stateChanged', (st: string) => {
          clearTimeout(timer)
          resolve(
            st === 'initialized' ? undefined : `client state '${st}' (${client.connectionState})`,
          )
        })
      })
      client.shutdown().catch(() => {})
      return result
    }, name('probe'))
  } finally {
    await page.close()
  }
}

async function setUp(): Promise<Env> {
  const env: Env = {
    skip: false,
    startDemo: async (ttl) => {
      const d = await startDemoFor(env.parley!, ttl)
      cleanups.push(() => d.close())
      return d
    },
    async close() {
      for (const c of cleanups.reverse()) await c()
    },
  }
  if (!existsSync(CHROMIUM)) return { ...env, skip: `${CHROMIUM} is not installed` }
  const parley = await startParley()
  if (typeof parley === 'string') return { ...env, skip: parley }
  env.parley = parley
  env.demo = await env.startDemo(3600)
  env.browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
  const browser = env.browser
  cleanups.push(() => browser.close())
  const problem = await probeChat(env.browser, env.demo)
  if (problem) env.skip = `Parley's chat protocol is not available at ${parley.url}: ${problem}`
  return env
}

const env = await setUp()
after(() => env.close())
if (env.skip) console.log(`# browser e2e skipped: ${env.skip}`)

/** A signed-up user in their own browser context, with page errors collected. */
interface Person {
  page: Page
  username: string
  errors: string[]
  tokenRequests: number
  /** `exp` of each token the page got from /token, in order. */
  tokenExps: number[]
  sockets: PwWebSocket[]
  /** When (Date.now()) Parley's `token_about_to_expire` notices arrived. */
  warnings: number[]
  /** When the page sent Parley a new token (Twilsock `update`). */
  updates: number[]
}

/** The last console lines of each page (for failure reports). */
const consoleLines = new WeakMap<Page, string[]>()

/** Poll a condition on the test's own records (page events), up to a generous ceiling. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function person(
  base: string,
  demoUrl = env.demo!.url,
  viewport = { width: 1280, height: 720 },
): Promise<Person> {
  const context = await env.browser!.newContext({ viewport })
  // Waits end as soon as the page gets there; the ceiling is for a heavily loaded machine.
  context.setDefaultTimeout(60_000)
  const page = await context.newPage()
  const p: Person = {
    page,
    username: name(base),
    errors: [],
    tokenRequests: 0,
    tokenExps: [],
    sockets: [],
    warnings: [],
    updates: [],
  }
  page.on('pageerror', (e) => p.errors.push(e.message))
  const lines: string[] = []
  consoleLines.set(page, lines)
  page.on('console', (m) => {
    lines.push(`${m.type()}: ${m.text()}`.slice(0, 300))
    if (lines.length > 20) lines.shift()
  })
  page.on('request', (r) => {
    if (r.url().endsWith('/token')) p.tokenRequests++
  })
  page.on('response', (r) => {
    if (r.url().endsWith('/token') && r.ok())
      r.text().then(
        (body) => p.tokenExps.push(tokenExp(body)),
        () => {},
      )
  })
  page.on('websocket', (ws) => {
    p.sockets.push(ws)
    ws.on('framereceived', (f) => {
      if (String(f.payload).includes('token_about_to_expire')) p.warnings.push(Date.now())
    })
    ws.on('framesent', (f) => {
      if (/"method":"update"/.test(String(f.payload))) p.updates.push(Date.now())
    })
  })
  await page.goto(demoUrl)
  // A marker that a page reload would erase.
  await page.evaluate(() => ((window as any).__noReload = true))
  await page.fill('#sign-up-username', p.username)
  await page.fill('#sign-up-password', PASSWORD)
  await page.click('#sign-up-form button[type=submit]')
  await connected(page)
  return p
}

function connected(page: Page, timeout = 15_000): Promise<unknown> {
  return page.waitForFunction(
    () => document.querySelector('#connection')?.textContent === 'Connected',
    null,
    { timeout },
  )
}

async function createChannel(page: Page, channel: string): Promise<void> {
  await page.fill('#new-channel-name', channel)
  await page.click('#new-channel-form button[type=submit]')
  try {
    await page.waitForSelector(`#channel-title:text-is("${channel}")`)
  } catch (e) {
    // Say where it stuck: still creating (button disabled), refused (error text), or created in Parley but not shown.
    const seen = await page
      .evaluate(() => ({
        connection: document.querySelector('#connection')?.textContent,
        creating: document.querySelector('#new-channel-form button')?.disabled,
        error: document.querySelector('#new-channel-error')?.textContent,
        title: document.querySelector('#channel-title')?.textContent,
        // Set once after the first load: false means the page was reloaded (e.g. a native form submission).
        sameDocument: (window as any).__noReload === true,
      }))
      .catch(() => null)
    let inParley: unknown = 'unknown'
    try {
      const channels = (await rest('/Channels?PageSize=1000'))['channels'] as {
        sid: string
        friendly_name: string
      }[]
      const ch = channels.find((c) => c.friendly_name === channel)
      inParley = ch
        ? {
            members: (
              (await rest(`/Channels/${ch.sid}/Members`))['members'] as { identity: string }[]
            ).map((m) => m.identity),
          }
        : false
    } catch {
      /* diagnostics only */
    }
    const consoleTail = consoleLines.get(page) ?? []
    throw new Error(
      `channel ${channel} did not open: ${JSON.stringify({ ...seen, inParley, console: consoleTail })}`,
      {
        cause: e,
      },
    )
  }
  await page.waitForSelector('#composer:not([hidden])')
}

async function send(page: Page, text: string): Promise<void> {
  await page.fill('#composer-input', text)
  await page.press('#composer-input', 'Enter')
  try {
    await page.waitForSelector(`.message-body:text-is("${text}")`)
  } catch (e) {
    // Say what the page showed: was it sent (composer emptied) but never delivered back, or refused?
    const seen = await page
      .evaluate(() => ({
        connection: document.querySelector('#connection')?.textContent,
        banner: document.querySelector('#banner')?.hidden
          ? null
          : document.querySelector('#banner-text')?.textContent,
        composer: document.querySelector('#composer-input')?.value,
        channel: document.querySelector('#channel-title')?.textContent,
        messages: document.querySelectorAll('.message-body').length,
      }))
      .catch(() => null)
    // And whether Parley has it (so a lost event can be told from a message that was never stored).
    let stored: boolean | string = 'unknown'
    try {
      const channels = (await rest('/Channels?PageSize=1000'))['channels'] as {
        sid: string
        friendly_name: string
      }[]
      const ch = channels.find((c) => c.friendly_name === seen?.channel)
      if (ch) {
        const msgs = (await rest(`/Channels/${ch.sid}/Messages?PageSize=100`))['messages'] as {
          body: string
        }[]
        stored = msgs.some((m) => m.body === text)
      }
    } catch {
      /* diagnostics only */
    }
    throw new Error(
      `"${text}" did not appear in the page: ${JSON.stringify({ ...seen, storedInParley: stored })}`,
      { cause: e },
    )
  }
}

async function joinPublic(page: Page, channel: string): Promise<void> {
  const button = page.locator(`#public-channels button[aria-label="Join ${channel}"]`)
  // A channel created after this page loaded shows up once the list is read again (the Refresh button).
  const deadline = Date.now() + 30_000
  while (!(await button.isVisible())) {
    if (Date.now() > deadline) throw new Error(`${channel} is not among the public channels`)
    await page.click('#refresh-public')
    await button.waitFor({ timeout: 2000 }).catch(() => {})
  }
  await button.click()
  await page.waitForSelector(`#channel-title:text-is("${channel}")`)
}

/** Save a screenshot of the page as `artifacts/demo-e2e/<file>.png`; returns the PNG. */
async function shot(page: Page, file: string): Promise<Buffer> {
  mkdirSync(ARTIFACTS, { recursive: true })
  return page.screenshot({ path: join(ARTIFACTS, `${file}.png`) })
}

/** Two people's screenshots side by side, each captioned, as `artifacts/demo-e2e/<file>.png`. */
async function sideBySide(file: string, shots: [string, Buffer][]): Promise<void> {
  const context = await env.browser!.newContext({ viewport: { width: 1000, height: 400 } })
  const page = await context.newPage()
  const figures = shots
    .map(
      ([caption, png]) =>
        `<figure><figcaption>${caption}</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`,
    )
    .join('')
  await page.setContent(
    `<style>body{margin:0;padding:16px;display:flex;gap:16px;background:#d4d8de;font:600 15px system-ui,sans-serif}` +
      `figure{margin:0}figcaption{margin:0 0 6px 2px;color:#1a1d23}img{display:block;border:1px solid #9aa1ad;border-radius:6px}</style>` +
      figures,
  )
  await page.waitForFunction(() => [...document.images].every((i: any) => i.complete))
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, `${file}.png`), fullPage: true })
  await context.close()
}

/** The `exp` (seconds) of the Access Token in a POST /token response; the token itself is never logged. */
function tokenExp(body: string): number {
  const token = (JSON.parse(body) as { token: string }).token
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
    exp: number
  }
  return payload.exp
}

/** The Parley REST API with the account's Basic credentials. */
async function rest(path: string, form?: Record<string, string>): Promise<Record<string, any>> {
  const p = env.parley!
  const res = await fetch(`${p.url}/v2/Services/${p.serviceSid}${path}`, {
    method: form ? 'POST' : 'GET',
    headers: {
      authorization: `Basic ${Buffer.from(`${p.accountSid}:${p.authToken}`).toString('base64')}`,
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(form ? { body: new URLSearchParams(form).toString() } : {}),
  })
  assert.ok(res.ok, `${path}: ${res.status}`)
  return (await res.json()) as Record<string, any>
}

const opts = { skip: env.skip, timeout: 180_000 }

void describe('the browser chat against Parley', { concurrency: false }, () => {
  void test(
    'two people sign up, create and join a channel, and chat live with a typing indicator',
    opts,
    async () => {
      // A window size that keeps the three columns and makes a readable side-by-side screenshot.
      const viewport = { width: 900, height: 620 }
      const alice = await person('alice', env.demo!.url, viewport)
      const channel = name('general')
      await createChannel(alice.page, channel)
      await send(alice.page, 'hello from alice')

      const bob = await person('bob', env.demo!.url, viewport)
      await joinPublic(bob.page, channel)
      await bob.page.waitForSelector('.message-body:text-is("hello from alice")')

      // Typing: bob types, alice sees it.
      await bob.page.type('#composer-input', 'hi al', { delay: 30 })
      await alice.page.waitForFunction(
        (who: string) => document.querySelector('#typing')?.textContent?.includes(who),
        bob.username,
        { timeout: 30_000 },
      )
      await bob.page.fill('#composer-input', '')
      await send(bob.page, 'hi alice')
      await alice.page.waitForSelector('.message-body:text-is("hi alice")', { timeout: 30_000 })
      // The new message is announced to screen readers.
      await alice.page.waitForSelector('#announcer :text("hi alice")')
      // Both are listed as members of the channel.
      await alice.page.waitForSelector(`#members :text("${bob.username}")`, { timeout: 30_000 })
      await bob.page.waitForSelector(`#members :text("${alice.username}")`, { timeout: 30_000 })

      // Typing the other way: alice types, bob sees it; it goes away once she sends. (The SDK sends at most one typing
      // notice per 5 s per channel, and alice sent one with her first message: she keeps typing until bob sees it.)
      let bobSaw = false
      const seeing = bob.page
        .waitForFunction(
          (who: string) => document.querySelector('#typing')?.textContent?.includes(who),
          alice.username,
          { timeout: 30_000 },
        )
        .finally(() => (bobSaw = true))
      await alice.page.type('#composer-input', 'how are', { delay: 30 })
      while (!bobSaw) await alice.page.type('#composer-input', '.', { delay: 250 })
      await seeing
      const bobSees = await shot(bob.page, 'bob-sees-alice-typing')
      await alice.page.fill('#composer-input', '')
      await send(alice.page, 'how are you, bob?')
      await bob.page.waitForSelector('.message-body:text-is("how are you, bob?")', {
        timeout: 30_000,
      })
      await bob.page.waitForFunction(
        (who: string) => !document.querySelector('#typing')?.textContent?.includes(who),
        alice.username,
        { timeout: 15_000 },
      )
      await send(bob.page, 'great, thanks!')
      await alice.page.waitForSelector('.message-body:text-is("great, thanks!")', {
        timeout: 30_000,
      })
      // Each sees the whole conversation, in order.
      const order = ['hello from alice', 'hi alice', 'how are you, bob?', 'great, thanks!']
      for (const p of [alice, bob]) {
        const bodies = await p.page.locator('.message-body').allTextContents()
        assert.deepEqual(bodies, order)
      }
      await alice.page.locator('#composer-input').blur()
      await bob.page.locator('#composer-input').blur()
      await sideBySide('two-users', [
        [`${alice.username}'s browser`, await shot(alice.page, 'alice')],
        [`${bob.username}'s browser`, await shot(bob.page, 'bob')],
      ])
      assert.ok(bobSees.length > 0)
      await alice.page.context().close()
      await bob.page.context().close()
    },
  )

  void test('edits and deletions of your own messages reach the other person', opts, async () => {
    const alice = await person('alice2')
    const channel = name('edits')
    await createChannel(alice.page, channel)
    const bob = await person('bob2')
    await joinPublic(bob.page, channel)
    await send(bob.page, 'typo mesage')
    await alice.page.waitForSelector('.message-body:text-is("typo mesage")', { timeout: 30_000 })
    // Only one's own messages have Edit/Delete.
    assert.equal(await alice.page.locator('.message button:text("Edit")').count(), 0)

    await bob.page.click('.message.mine button:text("Edit")')
    await bob.page.fill('.message-edit textarea', 'typo message')
    await bob.page.press('.message-edit textarea', 'Enter')
    await alice.page.waitForSelector('.message-body:text-is("typo message")', { timeout: 30_000 })

    bob.page.once('dialog', (d) => void d.accept())
    await bob.page.click('.message.mine button:text("Delete")')
    await alice.page.waitForSelector('.message-body:text-is("typo message")', {
      state: 'detached',
      timeout: 30_000,
    })
    await alice.page.context().close()
    await bob.page.context().close()
  })

  void test(
    'a channel that is not open shows its unread count; leaving removes it',
    opts,
    async () => {
      const alice = await person('alice3')
      const busy = name('busy')
      await createChannel(alice.page, busy)
      const bob = await person('bob3')
      await joinPublic(bob.page, busy)
      await createChannel(bob.page, name('quiet'))
      await send(alice.page, 'one')
      await send(alice.page, 'two')
      const badge = bob.page.locator(`#my-channels button[aria-label^="${busy},"] .badge`)
      await badge.waitFor({ timeout: 30_000 })
      await bob.page.waitForFunction(
        (label: string) =>
          document.querySelector(`#my-channels button[aria-label^="${label},"] .badge`)
            ?.textContent === '2',
        busy,
        { timeout: 30_000 },
      )
      await shot(bob.page, 'unread-count')
      // Opening it clears the count.
      await bob.page.click(`#my-channels button[aria-label^="${busy},"]`)
      await bob.page.waitForSelector(`#my-channels button[aria-label="${busy}"]`)
      // And the other way: alice looks at another channel while bob writes in this one.
      await createChannel(alice.page, name('elsewhere'))
      await send(bob.page, 'three')
      await alice.page.waitForFunction(
        (label: string) =>
          document.querySelector(`#my-channels button[aria-label^="${label},"] .badge`)
            ?.textContent === '1',
        busy,
        { timeout: 30_000 },
      )
      await alice.page.click(`#my-channels button[aria-label^="${busy},"]`)
      await alice.page.waitForSelector(`#my-channels button[aria-label="${busy}"]`)
      await alice.page.waitForSelector('.message-body:text-is("three")')
      // Leave it: it goes back to the public list.
      bob.page.once('dialog', (d) => void d.accept())
      await bob.page.click('#leave-channel')
      await bob.page.waitForSelector(`#public-channels button[aria-label="Join ${busy}"]`, {
        timeout: 30_000,
      })
      await alice.page.context().close()
      await bob.page.context().close()
    },
  )

  void test(
    'older messages page in when scrolling up (getMessages(pageSize, anchor))',
    opts,
    async () => {
      const unique = name('history')
      const ch = await rest('/Channels', {
        UniqueName: unique,
        FriendlyName: unique,
        Type: 'public',
      })
      for (let i = 1; i <= 70; i++) {
        await rest(`/Channels/${ch['sid']}/Messages`, { Body: `m${i}`, From: 'system' })
      }
      const carol = await person('carol')
      await joinPublic(carol.page, unique)
      const items = carol.page.locator('#messages > li')
      await carol.page.waitForSelector('.message-body:text-is("m70")')
      assert.equal(await items.count(), 30)
      await carol.page.evaluate(() => {
        document.querySelector('#messages-pane')!.scrollTop = 0
      })
      await carol.page.waitForFunction(
        () => document.querySelectorAll('#messages > li').length === 60,
      )
      await carol.page.evaluate(() => {
        document.querySelector('#messages-pane')!.scrollTop = 0
      })
      await carol.page.waitForFunction(
        () => document.querySelectorAll('#messages > li').length === 70,
      )
      await carol.page.waitForSelector('#history-status:text("Start of the conversation.")')
      const first = await carol.page.locator('.message-body').first().textContent()
      assert.equal(first, 'm1')
      await carol.page.context().close()
    },
  )

  void test(
    'messages that arrive while a channel opens are shown once each, in order',
    opts,
    async () => {
      // The first page of history and the live messageAdded events race: a message posted while the page loads comes
      // both ways. Messages are posted back to back through the REST API while oscar joins and the channel opens.
      const unique = name('race')
      const ch = await rest('/Channels', {
        UniqueName: unique,
        FriendlyName: unique,
        Type: 'public',
      })
      const bodies: string[] = []
      const post = async (body: string): Promise<void> => {
        await rest(`/Channels/${ch['sid']}/Messages`, { Body: body, From: 'system' })
        bodies.push(body)
      }
      for (let i = 1; i <= 3; i++) await post(`before ${i}`)
      const oscar = await person('oscar')
      let posting = true
      const poster = (async () => {
        for (let i = 1; posting && i <= 24; i++) await post(`during ${i}`)
      })()
      await joinPublic(oscar.page, unique)
      await oscar.page.waitForTimeout(300)
      posting = false
      await poster
      // And one once the channel is open: it can only arrive live.
      await post('after it opened')
      await oscar.page.waitForSelector('.message-body:text-is("after it opened")', {
        timeout: 30_000,
      })
      assert.deepEqual(await oscar.page.locator('.message-body').allTextContents(), bodies)
      await oscar.page.context().close()
    },
  )

  void test(
    'a private channel: its creator adds someone, who then sees it; not listed publicly',
    opts,
    async () => {
      const ivan = await person('ivan')
      const judy = await person('judy')
      const channel = name('private')
      await ivan.page.fill('#new-channel-name', channel)
      await ivan.page.check('#new-channel-private')
      await ivan.page.click('#new-channel-form button[type=submit]')
      await ivan.page.waitForSelector(`#channel-title:text-is("${channel}")`)
      await ivan.page.fill('#add-member-name', judy.username)
      await ivan.page.click('#add-member-form button[type=submit]')
      await ivan.page.waitForSelector(`#members :text("${judy.username}")`, { timeout: 30_000 })
      // Adding again is refused in plain words.
      await ivan.page.fill('#add-member-name', judy.username)
      await ivan.page.click('#add-member-form button[type=submit]')
      await ivan.page.waitForSelector('#add-member-error:text("already in this channel")', {
        timeout: 30_000,
      })
      // judy has it among her channels, and can post.
      await judy.page.click(`#my-channels button[aria-label^="${channel}"]`, { timeout: 30_000 })
      await send(judy.page, 'thanks for the invite')
      await ivan.page.waitForSelector('.message-body:text-is("thanks for the invite")', {
        timeout: 30_000,
      })
      // A third person does not see it in the public list.
      const kim = await person('kim')
      await kim.page.waitForTimeout(500)
      assert.equal(await kim.page.locator(`#public-channels :text("${channel}")`).count(), 0)
      for (const p of [ivan, judy, kim]) await p.page.context().close()
    },
  )

  void test(
    'who is online: members show online/offline when the service enables reachability',
    opts,
    async () => {
      await rest('', { ReachabilityEnabled: 'true' })
      const gina = await person('gina')
      const channel = name('presence')
      await createChannel(gina.page, channel)
      const hal = await person('hal')
      await joinPublic(hal.page, channel)
      const status = (who: string) => gina.page.locator(`#members li:has-text("${who}") .presence`)
      await gina.page.waitForSelector('#presence-note', { state: 'hidden' })
      await status(hal.username)
        .filter({ hasText: /^online$/ })
        .waitFor({ timeout: 30_000 })
      // hal signs out: his client shuts down, and the demo session ends
      await hal.page.click('#sign-out')
      await hal.page.waitForSelector('#auth:not([hidden])')
      const after = await hal.page.evaluate(async () => {
        const s = (await (await fetch('/api/session')).json()) as {
          csrfToken: string
          user: unknown
        }
        const r = await fetch('/token', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrfToken },
          body: JSON.stringify({ deviceId: 'after-sign-out' }),
        })
        return { user: s.user, status: r.status }
      })
      assert.deepEqual(after, { user: null, status: 401 })
      await status(hal.username)
        .filter({ hasText: /^offline$/ })
        .waitFor({ timeout: 10_000 })
      await gina.page.context().close()
      await hal.page.context().close()
    },
  )

  void test(
    'keyboard only, every control named, errors in plain words: sign up, create a channel, send, edit and cancel',
    opts,
    async () => {
      const context = await env.browser!.newContext()
      context.setDefaultTimeout(60_000)
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      await page.goto(env.demo!.url)
      await page.waitForSelector('#auth:not([hidden])')
      /** Ids (or markup) of visible controls without an accessible name. */
      const unnamed = () =>
        page.evaluate(() =>
          [...document.querySelectorAll('button, input, textarea, select, a[href]')]
            .filter((e: any) => e.offsetParent !== null)
            .filter((e: any) => {
              const byLabelledby = (e.getAttribute('aria-labelledby') ?? '')
                .split(/\s+/)
                .some((id: string) => document.getElementById(id)?.textContent?.trim())
              const byLabel = [...(e.labels ?? [])].some((l: any) => l.textContent.trim())
              const own = e.tagName === 'BUTTON' || e.tagName === 'A' ? e.textContent.trim() : ''
              return !(e.getAttribute('aria-label')?.trim() || byLabelledby || byLabel || own)
            })
            .map((e: any) => e.id || e.outerHTML.slice(0, 80)),
        )
      /** Press Tab until the element with this id has focus (it must be reachable by keyboard). */
      const tabTo = async (id: string) => {
        for (let i = 0; i < 40; i++) {
          if (await page.evaluate((x: string) => document.activeElement?.id === x, id)) return
          await page.keyboard.press('Tab')
        }
        assert.fail(`#${id} is not reachable with Tab`)
      }
      assert.deepEqual(await unnamed(), [])
      // The page starts with focus in the sign-in form; the skip link leads to the content.
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'sign-in-username')
      assert.equal(await page.getAttribute('.skip-link', 'href'), '#main')

      // A too-short password: refused in plain words, the field marked, nothing thrown.
      const username = name('kbd')
      await tabTo('sign-up-username')
      await page.keyboard.type(username)
      await tabTo('sign-up-password')
      await page.keyboard.type('short')
      await page.keyboard.press('Enter')
      await page.waitForSelector('#sign-up-error:text("8 characters")')
      // Now a good one, still from the keyboard (focus went back to the password).
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'sign-up-password')
      await page.keyboard.press('Control+A')
      await page.keyboard.type(PASSWORD)
      await page.keyboard.press('Enter')
      await connected(page)
      assert.deepEqual(await unnamed(), [])

      // Create a channel (Enter submits), then write in it (Enter sends).
      const channel = name('keyboard')
      await tabTo('new-channel-name')
      await page.keyboard.type(channel)
      await page.keyboard.press('Enter')
      await page.waitForSelector(`#channel-title:text-is("${channel}")`)
      await tabTo('composer-input')
      await page.keyboard.type('typed with keys')
      await page.keyboard.press('Enter')
      await page.waitForSelector('.message-body:text-is("typed with keys")')
      assert.deepEqual(await unnamed(), [])

      // Edit from the keyboard; Escape cancels and leaves the message as it was.
      await page.focus('.message.mine button[aria-label="Edit your message"]')
      await page.keyboard.press('Enter')
      await page.waitForSelector('.message-edit textarea')
      assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'TEXTAREA')
      await page.keyboard.type(' and changed')
      await page.keyboard.press('Escape')
      await page.waitForSelector('.message-edit', { state: 'detached' })
      await page.waitForSelector('.message-body:text-is("typed with keys")')
      // Focus is not lost to <body> after the editor closes.
      assert.notEqual(await page.evaluate(() => document.activeElement?.tagName), 'BODY')
      assert.deepEqual(errors, [])
      await context.close()
    },
  )

  // twilio-chat.min.js bundles twilio-sync 3.0.6 (event protocol v3: `subscription_established.event`, singular),
  // unlike Node, where twilio-sync 3.4 speaks v4 (`events: [...]`); this catches a server that answers one shape only.
  void test('the page raises no uncaught errors while chatting', opts, async () => {
    const frank = await person('frank')
    await createChannel(frank.page, name('clean'))
    await send(frank.page, 'no errors please')
    await frank.page.waitForTimeout(1000)
    assert.deepEqual(frank.errors, [])
    await frank.page.context().close()
  })
})

// The token lifecycle tests wait on real token lifetimes (10 s); they run side by side, each on its own demo server.
void describe('the token lifecycle in the browser', { concurrency: true }, () => {
  void test('a short-lived token is refreshed in place with updateToken', opts, async () => {
    const demo = await env.startDemo(10)
    const dave = await person('dave', demo.url)
    const updates: string[] = []
    for (const ws of dave.sockets) {
      ws.on('framesent', (f) => {
        if (/"method":"update"/.test(String(f.payload))) updates.push('update')
      })
    }
    // Parley warns at once for a token shorter than its lead time; the page refreshes at 3/4 of the lifetime.
    const deadline = Date.now() + 40_000
    while ((updates.length === 0 || dave.tokenRequests < 2) && Date.now() < deadline) {
      await dave.page.waitForTimeout(250)
    }
    assert.ok(dave.tokenRequests >= 2, `token requests: ${dave.tokenRequests}`)
    assert.ok(updates.length >= 1, 'the client sent a Twilsock update')
    assert.equal(dave.sockets.length, 1, 'no reconnection was needed')
    await connected(dave.page, 1000)
    await createChannel(dave.page, name('after-refresh'))
    await send(dave.page, 'still here')
    assert.equal(await dave.page.evaluate(() => (window as any).__noReload), true)
    await dave.page.context().close()
  })

  void test(
    'TTL 20 s, lead 8 s: tokenAboutToExpire refreshes the token in place and two people chat on past its expiry',
    { ...opts, timeout: 150_000 },
    async () => {
      const ttl = 20
      const demo = await env.startDemo(ttl)
      const lead = env.parley!.leadSeconds
      const viewport = { width: 900, height: 620 }
      const uma = await person('uma', demo.url, viewport)
      const vic = await person('vic', demo.url, viewport)
      const channel = name('long-talk')
      await createChannel(uma.page, channel)
      await joinPublic(vic.page, channel)
      await send(uma.page, 'before the first token expires')
      await vic.page.waitForSelector('.message-body:text-is("before the first token expires")', {
        timeout: 30_000,
      })

      // Event-driven: each page is warned (token_about_to_expire from Parley) and sends Parley a new token (update).
      let lastExp = 0
      for (const p of [uma, vic]) {
        // (the second token's body is read from the /token response asynchronously, so wait for it too)
        await until(
          () => p.warnings.length >= 1 && p.updates.length >= 1 && p.tokenExps.length >= 2,
          60_000,
        )
        const exp = p.tokenExps[0]!
        lastExp = Math.max(lastExp, exp)
        if (lead !== undefined) {
          // Not at once (the default 180 s lead would warn at once for a 20 s token): no earlier than `lead` before
          // exp (timers do not fire early; 1 s for rounding exp to whole seconds).
          assert.ok(
            p.warnings[0]! >= (exp - lead - 1) * 1000,
            `${p.username} was warned ${Math.round(exp - p.warnings[0]! / 1000)} s before exp; lead is ${lead} s`,
          )
        }
        assert.ok(p.updates[0]! >= p.warnings[0]!, 'the new token was sent after the warning')
        assert.ok(p.tokenRequests >= 2, 'a second token was fetched from /token')
        assert.ok(p.tokenExps.length >= 2 && p.tokenExps[1]! > exp, 'the new token lasts longer')
      }

      // Past the first tokens' expiry…
      const wait = lastExp * 1000 + 1500 - Date.now()
      if (wait > 0) await uma.page.waitForTimeout(wait)
      // …both still chat, on the same connection (no reconnect: the refresh came before exp), without a reload.
      await send(vic.page, 'after the first token expired')
      await uma.page.waitForSelector('.message-body:text-is("after the first token expired")', {
        timeout: 15_000,
      })
      await send(uma.page, 'still here')
      await vic.page.waitForSelector('.message-body:text-is("still here")', { timeout: 15_000 })
      for (const p of [uma, vic]) {
        await connected(p.page, 1000)
        assert.equal(p.sockets.length, 1, `${p.username}: no reconnection was needed`)
        assert.equal(await p.page.evaluate(() => (window as any).__noReload), true)
        assert.deepEqual(p.errors, [])
      }
      await sideBySide('after-first-token-expiry', [
        [`${uma.username} (token TTL ${ttl} s)`, await shot(uma.page, 'uma-after-expiry')],
        [`${vic.username} (token TTL ${ttl} s)`, await shot(vic.page, 'vic-after-expiry')],
      ])
      await uma.page.context().close()
      await vic.page.context().close()
    },
  )

  void test(
    'after tokenExpired the page recovers with a new client, without a reload',
    opts,
    async () => {
      const demo = await env.startDemo(10)
      const erin = await person('erin', demo.url)
      // 1. the demo server becomes unreachable for /token: refreshes fail and the token expires
      let blocked = true
      await erin.page.route('**/token', (r) => (blocked ? r.abort() : r.continue()))
      await erin.page.waitForFunction(
        () => document.querySelector('#connection')?.textContent !== 'Connected',
        null,
        { timeout: 20_000 },
      )
      // 2. the banner explains in plain words
      await erin.page.waitForSelector('#banner:not([hidden])')
      // 3. /token works again: the page reconnects by itself
      blocked = false
      await connected(erin.page, 40_000)
      assert.ok(erin.sockets.length >= 2, 'a new client opened a new socket')
      await createChannel(erin.page, name('after-expiry'))
      await send(erin.page, 'back again')
      assert.equal(await erin.page.evaluate(() => (window as any).__noReload), true)
      await erin.page.context().close()
    },
  )
})
