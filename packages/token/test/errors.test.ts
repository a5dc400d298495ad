import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ChatError, ERRORS, isChatError, type ErrorCode } from '../src/errors.ts'

test('docs/errors.md lists exactly the codes, statuses and messages of ERRORS', () => {
  const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8')
  const rows = new Map<number, { status: number; message: string }>()
  for (const line of doc.split('\n')) {
    // Cells are padded to align the columns (Prettier's table format).
    const m = /^\| (\d{5}) +\| (\d{3}) +\| (.*?) *\|$/.exec(line)
    if (m) rows.set(Number(m[1]), { status: Number(m[2]), message: m[3]!.replace(/\\\|/g, '|') })
  }
  const expected = new Map(Object.entries(ERRORS).map(([k, v]) => [Number(k), { ...v }]))
  assert.deepEqual(rows, expected, 'run `npm run docs:errors` after changing ERRORS')
})

test('ChatError carries the code, the registry status and a Twilio-shaped JSON body', () => {
  const e = new ChatError(20104, 'token expired')
  assert.equal(e.code, 20104)
  assert.equal(e.status, 401)
  assert.equal(e.name, 'ChatError')
  assert.deepEqual(e.toJSON(), {
    code: 20104,
    message: 'token expired',
    more_info: 'https://www.twilio.com/docs/errors/20104',
    status: 401,
  })
  assert.equal(new ChatError(50300).message, ERRORS[50300].message)
})

test('isChatError recognises ChatError by brand, not by shape', () => {
  assert.equal(isChatError(new ChatError(20404)), true)
  assert.equal(isChatError({ code: 20404, status: 404, message: 'x' }), false)
  assert.equal(isChatError(new Error('x')), false)
  assert.equal(isChatError(null), false)
})

test('every registry status is a 4xx or 5xx HTTP status', () => {
  for (const [code, { status }] of Object.entries(ERRORS)) {
    assert.ok(status >= 400 && status < 600, `${code} has status ${status}`)
    assert.ok(new ChatError(Number(code) as ErrorCode).status === status)
  }
})
