/**
 * `@parley/server`: the Parley Chat Service.
 *
 * @module
 */
export {}
