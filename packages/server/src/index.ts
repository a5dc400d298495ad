/**
 * `@parley/server`: the Parley Chat Service.
 *
 * Most users run `parley serve`; embedders call {@link createParleyServer}, or mount the REST app
 * ({@link createApp} + {@link restRoutes}) on their own node:http server with {@link createNodeBridge}.
 *
 * @example
 * ```ts
 * import { createParleyServer, loadConfig } from '@parley/server'
 *
 * const parley = await createParleyServer(loadConfig({ port: 3210 }), { bootstrap: true })
 * parley.onUpgrade('/my/ws', (req, socket, head) => myWss.handleUpgrade(req, socket, head, onConnection))
 * process.on('SIGTERM', () => void parley.close())
 * ```
 *
 * @module
 */
export {
  createParleyServer,
  loadOrCreateContinuationSecret,
  CONTINUATION_SECRET_FILE,
  CREDENTIALS_FILE,
} from './main.ts'
export type { ParleyServer, ParleyServerOptions, ParleyPlugin, PluginContext } from './main.ts'
export { SERVER_NODE_FLAGS } from './node-flags.ts'
export {
  loadConfig,
  ConfigError,
  DEFAULT_LIMITS,
  DEFAULT_REALTIME_LIMITS,
  LOG_LEVELS,
  parseContinuationSecret,
} from './config.ts'
export type {
  Config,
  ConfigOptions,
  Limits,
  LogLevel,
  RealtimeConfig,
  RealtimeLimits,
} from './config.ts'
export { originCheck } from './http/upgrade-origin.ts'
export type { OriginCheck } from './http/upgrade-origin.ts'
export { createApp } from './http/app.ts'
export type { App, AppOptions, Authenticate } from './http/app.ts'
export { restRoutes } from './http/routes.ts'
export { coreAuthenticator } from './http/auth.ts'
export { createNodeBridge } from './http/node.ts'
export type { NodeBridge, UpgradeHandler } from './http/node.ts'
export { createLogger } from './http/log.ts'
export type { Logger } from './http/log.ts'
