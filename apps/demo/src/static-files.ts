/**
 * The browser chat's files, read once at startup.
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StaticFile } from './app.ts'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
}

/** The browser files: everything in `apps/demo/public` plus the official SDK build, served as-is. */
export function loadStaticFiles(
  publicDir = fileURLToPath(new URL('../../public/', import.meta.url)),
): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  for (const name of readdirSync(publicDir)) {
    const path = join(publicDir, name)
    const type = CONTENT_TYPES[extname(name)]
    if (!type || !statSync(path).isFile()) continue
    files.set(`/${name}`, { body: readFileSync(path), contentType: type })
  }
  const index = files.get('/index.html')
  if (index) files.set('/', index)
  const sdk = createRequire(import.meta.url).resolve('twilio-chat/builds/twilio-chat.min.js')
  files.set('/vendor/twilio-chat.min.js', {
    body: readFileSync(sdk),
    contentType: CONTENT_TYPES['.js'] ?? '',
  })
  return files
}
