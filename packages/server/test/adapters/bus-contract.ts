/**
 * The Bus contract suite (crossws style): every Bus adapter runs it.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Bus, BusMessage } from '../../src/ports/bus.ts'

const msg = (n: number): BusMessage => ({
  type: 'key_revoked',
  accountSid: `AC${n}`,
  keySid: `SK${n}`,
})

/** Registers the contract tests for one bus adapter. `settle` waits until published messages are delivered. */
export function busContract(
  name: string,
  makeBus: () => Bus,
  settle: () => Promise<void> = () => Promise.resolve(),
  options: { skip?: string } = {},
): void {
  describe(`Bus contract: ${name}`, { skip: options.skip ?? false }, () => {
    test('delivers to every subscriber in publish order', async () => {
      const bus = makeBus()
      const a: BusMessage[] = []
      const b: BusMessage[] = []
      bus.subscribe((m) => a.push(m))
      bus.subscribe((m) => b.push(m))
      for (let i = 0; i < 5; i++) bus.publish(msg(i))
      await settle()
      assert.deepEqual(a, [0, 1, 2, 3, 4].map(msg))
      assert.deepEqual(b, a)
      await bus.close?.()
    })

    test('a throwing subscriber does not stop delivery to the others, and publish does not throw', async () => {
      const bus = makeBus()
      const got: BusMessage[] = []
      bus.subscribe(() => {
        throw new Error('bad subscriber')
      })
      bus.subscribe((m) => got.push(m))
      assert.doesNotThrow(() => bus.publish(msg(1)))
      await settle()
      assert.deepEqual(got, [msg(1)])
      await bus.close?.()
    })

    test('unsubscribe stops delivery, close stops everything', async () => {
      const bus = makeBus()
      const got: BusMessage[] = []
      const off = bus.subscribe((m) => got.push(m))
      bus.publish(msg(1))
      await settle()
      off()
      bus.publish(msg(2))
      await settle()
      assert.deepEqual(got, [msg(1)])
      const got2: BusMessage[] = []
      bus.subscribe((m) => got2.push(m))
      await bus.close?.()
      bus.publish(msg(3))
      await settle()
      assert.deepEqual(got2, [])
      await bus.close?.()
    })
  })
}
