/**
 * The in-process bus (default for a single node).
 *
 * @module
 */
import type { Bus, BusMessage } from '../../ports/bus.ts'

/** Options of {@link memoryBus}. */
export interface MemoryBusOptions {
  /** Called when a subscriber throws; defaults to `console.error`. */
  onError?: (err: unknown) => void
}

/**
 * A {@link Bus} that delivers synchronously, in publish order, to every subscriber of this process.
 *
 * @example
 * ```ts
 * const bus = memoryBus()
 * const off = bus.subscribe((m) => console.log(m.type))
 * bus.publish({ type: 'key_revoked', accountSid: 'AC…', keySid: 'SK…' })
 * off()
 * ```
 */
export function memoryBus(options: MemoryBusOptions = {}): Bus {
  const onError =
    options.onError ?? ((err: unknown) => console.error('parley bus subscriber failed', err))
  let subscribers: ((msg: BusMessage) => void)[] = []
  let closed = false
  return {
    publish(msg) {
      if (closed) return
      // Snapshot so that (un)subscribing during delivery does not disturb this round.
      for (const deliver of subscribers) {
        try {
          deliver(msg)
        } catch (err) {
          onError(err)
        }
      }
    },
    subscribe(deliver) {
      if (closed) return () => {}
      let active = true
      const wrapped = (msg: BusMessage): void => {
        if (active) deliver(msg)
      }
      subscribers = [...subscribers, wrapped]
      return () => {
        active = false
        subscribers = subscribers.filter((s) => s !== wrapped)
      }
    },
    close() {
      closed = true
      subscribers = []
      return Promise.resolve()
    },
  }
}
