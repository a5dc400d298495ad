/**
 * The full REST route table: Chat v2 (`/v2/...`), the 2010 `Keys` resource and IAM `/v1/Keys`.
 *
 * @module
 */
import type { Core } from '../core/api.ts'
import type { RouteDef } from './context.ts'
import { channelRoutes } from './routes/channels.ts'
import { keyRoutes } from './routes/keys.ts'
import { serviceRoutes } from './routes/services.ts'
import { userRoutes } from './routes/users.ts'

/** Every REST route, wired to `core`. */
export function restRoutes(core: Core): RouteDef[] {
  return [...serviceRoutes(core), ...channelRoutes(core), ...userRoutes(core), ...keyRoutes(core)]
}
