#!/bin/sh
':' //; exec node --initial-old-space-size=128 "$0" "$@"
// The `parley` command. Line 2 is read by both: sh (it starts node with the server's flags, SERVER_NODE_FLAGS in
// src/node-flags.ts, a test keeps them equal; `exec` keeps the pid) and then node (a string and a comment). Plain
// `#!/usr/bin/env node` cannot pass flags, and `env -S` is missing from BusyBox (Alpine). This shim is committed
// (not built) so that npm links the bin at install time, before the TypeScript build has produced dist/; it then
// loads the compiled CLI.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/src/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write(
    'parley: the server is not built yet; run `npm run build` in the repository first\n',
  )
  process.exit(2)
}
await import(cli.href)
