/**
 * `@parley/server`: the Parley Chat Service.
 *
 * @module
 */
export { createParleyServer } from './main.ts'
export type { ParleyServer, ParleyServerOptions, ParleyPlugin, PluginContext } from './main.ts'
export { loadConfig, ConfigError, DEFAULT_LIMITS, LOG_LEVELS } from './config.ts'
export type { Config, ConfigOptions, Limits, LogLevel } from './config.ts'
export { createApp } from './http/app.ts'
export type { App, AppOptions, Authenticate } from './http/app.ts'
export type { UpgradeHandler } from './http/node.ts'
export type { Logger } from './http/log.ts'
