/**
 * `@parley/demo`: the seed's "your server" (its own login and a `/token` endpoint) and a browser chat on the official
 * twilio-chat SDK. Start it with `src/main.ts`; these exports are for tests and embedding.
 *
 * @module
 */
export {
  createDemoApp,
  usernameProblem,
  type DemoApp,
  type DemoAppOptions,
  type StaticFile,
} from './app.ts'
export {
  ConfigError,
  loadConfig,
  loadCredentials,
  twilsockUrlFor,
  type DemoConfig,
} from './config.ts'
export { openDemoStore, type DemoStore } from './db.ts'
export { createNodeServer } from './node.ts'
export { loadStaticFiles } from './static-files.ts'
