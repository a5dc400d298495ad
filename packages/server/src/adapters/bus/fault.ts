/**
 * Fault injection on the bus, for reliability tests (reliability.md §3 and R07: "a message committed but never
 * published must still reach subscribers, exactly once"). Never used unless `PARLEY_FAULT` asks for it.
 *
 * @module
 */
import type { Bus } from '../../ports/bus.ts'

/**
 * Wraps `bus` so that the process kills itself (SIGKILL: no cleanup, as in a crash) when the `afterMessages`-th
 * `message_added` event is about to be published. The core publishes only after the write's COMMIT is durable and
 * before it answers the sender, so the message is then stored, announced to nobody, and unacknowledged: recovery
 * (subscribers replaying the log after they reconnect, the sender retrying with its id) must deliver it exactly once.
 *
 * @example
 * ```ts
 * const bus = crashAfterCommit(memoryBus(), 100)   // PARLEY_FAULT=crash_after_commit:100
 * ```
 */
export function crashAfterCommit(
  bus: Bus,
  afterMessages: number,
  die: () => void = () => process.kill(process.pid, 'SIGKILL'),
): Bus {
  let seen = 0
  return {
    publish(msg) {
      if (msg.type === 'events') {
        for (const ev of msg.events) {
          if (ev.type === 'message_added' && ++seen === afterMessages) {
            die()
            return
          }
        }
      }
      bus.publish(msg)
    },
    subscribe: (deliver) => bus.subscribe(deliver),
    ...(bus.close !== undefined ? { close: () => bus.close!() } : {}),
  }
}
