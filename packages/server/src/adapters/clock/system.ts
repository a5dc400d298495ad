/**
 * The system clock.
 *
 * @module
 */
import type { Clock } from '../../ports/clock.ts'

/** A {@link Clock} backed by `Date.now()`. */
export function systemClock(): Clock {
  return { now: () => Date.now() }
}
