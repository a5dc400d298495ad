#!/usr/bin/env -S node --initial-old-space-size=128
// The `parley` command. This shim is committed (not built) so that npm links the bin at install time, before the
// TypeScript build has produced dist/; it then loads the compiled CLI. Its node flags are SERVER_NODE_FLAGS
// (src/node-flags.ts; a test keeps them equal).
import { existsSync } from 'node:fs'

const cli = new URL('../dist/src/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write(
    'parley: the server is not built yet; run `npm run build` in the repository first\n',
  )
  process.exit(2)
}
await import(cli.href)
