import { test } from 'node:test'
import assert from 'node:assert/strict'
import { endpointId } from '../src/endpoint-id.ts'

test('endpointId builds app:identity:device', () => {
  assert.equal(
    endpointId({ app: 'myapp', identity: 'alice@example.com', deviceId: 'device1' }),
    'myapp:alice@example.com:device1',
  )
  assert.equal(endpointId({ app: 'a', identity: 'x:y', deviceId: 'd' }), 'a:x:y:d')
})

test('endpointId refuses empty parts, colons in app or deviceId, and results over 256 characters', () => {
  assert.throws(() => endpointId({ app: '', identity: 'a', deviceId: 'd' }), TypeError)
  assert.throws(() => endpointId({ app: 'a', identity: '', deviceId: 'd' }), TypeError)
  assert.throws(() => endpointId({ app: 'a:b', identity: 'a', deviceId: 'd' }), TypeError)
  assert.throws(() => endpointId({ app: 'a', identity: 'a', deviceId: 'd:e' }), TypeError)
  assert.throws(() => endpointId({ app: 'a', identity: 1 as any, deviceId: 'd' }), TypeError)
  assert.equal(endpointId({ app: 'a', identity: 'x'.repeat(252), deviceId: 'd' }).length, 256)
  assert.throws(
    () => endpointId({ app: 'a', identity: 'x'.repeat(253), deviceId: 'd' }),
    RangeError,
  )
})
