/**
 * The Ids port: SIDs and random secrets for `core/` (which never calls `Math.random()`).
 *
 * @module
 */

/** Two-letter SID prefixes Parley generates (chat-rest-v2.md §4). */
export type SidPrefix =
  'AC' | 'SK' | 'IS' | 'CH' | 'MB' | 'IM' | 'US' | 'RL' | 'CR' | 'IN' | 'BS' | 'WH' | 'ME'

/**
 * Generator of identifiers and secrets.
 *
 * Contract:
 * - `sid(prefix)` MUST return `prefix` followed by 32 lower-case hex digits from a CSPRNG (unguessable, unique).
 * - `secret(bytes)` MUST return `bytes` bytes from a CSPRNG, encoded as lower-case hex (2 × bytes characters).
 * - Implementations MUST NOT reuse values across calls.
 */
export interface Ids {
  sid(prefix: SidPrefix): string
  secret(bytes: number): string
}
