/**
 * The Clock port: the only source of time for `core/`.
 *
 * @module
 */

/**
 * Wall-clock time in milliseconds since the Unix epoch.
 *
 * Contract:
 * - `now()` MUST return an integer number of milliseconds.
 * - `now()` SHOULD be non-decreasing; core MUST NOT rely on it being strictly increasing.
 */
export interface Clock {
  now(): number
}
