/**
 * The fault-injection bus (`PARLEY_FAULT=crash_after_commit:N`): a bus like any other (the shared contract), except
 * that the N-th message_added is never published and the process dies instead.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { crashAfterCommit } from '../../src/adapters/bus/fault.ts'
import { memoryBus } from '../../src/adapters/bus/memory.ts'
import type { BusMessage } from '../../src/ports/bus.ts'
import type { ChatEvent } from '../../src/core/types.ts'
import { busContract } from './bus-contract.ts'

busContract('crash_after_commit (not reached)', () =>
  crashAfterCommit(memoryBus({ onError: () => {} }), 1_000_000, () => assert.fail('died')),
)

const event = (type: ChatEvent['type'], key: string): ChatEvent =>
  ({ type, key, stream: 'messages:CH1', streamSeq: Number(key) + 1 }) as unknown as ChatEvent

test('crash_after_commit:3 dies at the third message_added instead of publishing it, and only then', () => {
  let died = 0
  const bus = crashAfterCommit(memoryBus(), 3, () => died++)
  const seen: BusMessage[] = []
  bus.subscribe((m) => seen.push(m))
  bus.publish({ type: 'events', events: [event('message_added', '0'), event('member_added', 'x')] })
  bus.publish({ type: 'key_revoked', accountSid: 'AC1', keySid: 'SK1' })
  bus.publish({ type: 'events', events: [event('message_added', '1')] })
  assert.equal(died, 0)
  assert.equal(seen.length, 3)
  bus.publish({ type: 'events', events: [event('message_added', '2')] })
  assert.equal(died, 1)
  assert.equal(seen.length, 3, 'the third message was not published')
})
