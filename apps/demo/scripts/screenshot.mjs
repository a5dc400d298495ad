#!/usr/bin/env node
/* global process, URL, setTimeout, Buffer, fetch, console, document -- Node, plus page functions run in Chromium */
// Makes docs/images/demo-two-users.png, the README's picture of two people chatting: a throwaway `parley serve` in a
// temporary directory, the demo in-process, and two headless Chromium windows side by side.
// Run from the repository root after `npx tsc -b`: node apps/demo/scripts/screenshot.mjs [output.png]
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const out = resolve(process.argv[2] ?? join(root, 'docs/images/demo-two-users.png'))
const demo = (m) => import(join(root, 'apps/demo/dist/src', m))
const { loadConfig } = await demo('config.js')
const { createDemoApp } = await demo('app.js')
const { openDemoStore } = await demo('db.js')
const { createNodeServer } = await demo('node.js')
const { loadStaticFiles } = await demo('static-files.js')

const dir = mkdtempSync(join(tmpdir(), 'parley-shot-'))
const parley = spawn(
  process.execPath,
  [
    join(root, 'packages/server/dist/src/cli.js'),
    'serve',
    '--port',
    '0',
    '--data',
    dir,
    '--log-level',
    'error',
  ],
  { stdio: 'ignore' },
)
let browser
let server
try {
  let creds
  for (let i = 0; i < 300 && !creds?.url; i++) {
    try {
      creds = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8'))
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  if (!creds?.url) throw new Error('parley serve did not start')
  // Presence on, so the member list shows who is online.
  const auth = Buffer.from(`${creds.account_sid}:${creds.auth_token}`).toString('base64')
  await fetch(`${creds.url}/v2/Services/${creds.service_sid}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${auth}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'ReachabilityEnabled=true',
  })
  const config = loadConfig({
    env: { PARLEY_DATA_DIR: dir, PARLEY_URL: creds.url, DEMO_DATA_DIR: join(dir, 'demo') },
  })
  const store = openDemoStore(':memory:')
  const app = createDemoApp({
    config,
    store,
    sessionKey: Buffer.alloc(32, 7),
    files: loadStaticFiles(),
  })
  server = createNodeServer(app)
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${server.address().port}`

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox'],
  })
  const person = async (username) => {
    const context = await browser.newContext({
      viewport: { width: 900, height: 560 },
      colorScheme: 'light',
    })
    const page = await context.newPage()
    await page.goto(url)
    await page.fill('#sign-up-username', username)
    await page.fill('#sign-up-password', 'a demo password')
    await page.click('#sign-up-form button[type=submit]')
    await page.waitForFunction(
      () => document.querySelector('#connection')?.textContent === 'Connected',
    )
    return page
  }
  const send = async (page, text) => {
    await page.fill('#composer-input', text)
    await page.press('#composer-input', 'Enter')
    await page.waitForSelector(`.message-body:text-is("${text}")`)
  }
  const alice = await person('alice')
  await alice.fill('#new-channel-name', 'general')
  await alice.click('#new-channel-form button[type=submit]')
  await alice.waitForSelector('#composer:not([hidden])')
  await send(alice, 'Hi Bob! This chat runs on Parley, with the official twilio-chat SDK.')
  const bob = await person('bob')
  await bob.click('#public-channels button[aria-label="Join general"]')
  await bob.waitForSelector(
    '.message-body:text-is("Hi Bob! This chat runs on Parley, with the official twilio-chat SDK.")',
  )
  await send(bob, 'Hi Alice! And the token came from our own server.')
  await alice.waitForSelector(
    '.message-body:text-is("Hi Alice! And the token came from our own server.")',
  )
  await send(alice, 'No Twilio account needed.')
  await bob.waitForSelector('.message-body:text-is("No Twilio account needed.")')
  await bob.waitForSelector('#members .presence:text-is("online")')
  await alice.waitForFunction(() =>
    [...document.querySelectorAll('#members .presence')].every((e) => e.textContent === 'online'),
  )
  // bob starts typing; alice sees it
  await bob.type('#composer-input', 'Nice, let', { delay: 40 })
  while (
    !(await alice.evaluate(() => document.querySelector('#typing')?.textContent ?? '')).includes(
      'bob',
    )
  )
    await bob.type('#composer-input', '’', { delay: 300 })
  await bob.fill('#composer-input', 'Nice, let’s ship it')
  await alice.locator('#composer-input').blur()
  const shots = [
    ['alice', await alice.screenshot()],
    ['bob', await bob.screenshot()],
  ]
  const page = await (await browser.newContext({ viewport: { width: 800, height: 300 } })).newPage()
  await page.setContent(
    '<style>body{margin:0;padding:14px;display:flex;gap:14px;background:#d4d8de;font:600 15px system-ui,sans-serif}' +
      'figure{margin:0}figcaption{margin:0 0 6px 2px;color:#1a1d23}img{display:block;border:1px solid #9aa1ad;border-radius:6px}</style>' +
      shots
        .map(
          ([who, png]) =>
            `<figure><figcaption>${who}’s browser</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`,
        )
        .join(''),
  )
  await page.waitForFunction(() => [...document.images].every((i) => i.complete))
  mkdirSync(dirname(out), { recursive: true })
  await page.screenshot({ path: out, fullPage: true })
  console.log(`wrote ${out}`)
} finally {
  await browser?.close()
  server?.closeAllConnections()
  server?.close()
  parley.kill('SIGTERM')
  await new Promise((r) => parley.once('exit', r))
  rmSync(dir, { recursive: true, force: true })
}
