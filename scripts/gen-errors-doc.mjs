#!/usr/bin/env node
// Regenerates docs/errors.md from the ERRORS registry (packages/token/src/errors.ts, compiled).
// packages/token/test/errors.test.ts fails when the two disagree.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import prettier from 'prettier'
import { ERRORS } from '../packages/token/dist/src/errors.js'

const rows = Object.entries(ERRORS).map(
  ([code, { status, message }]) => `| ${code} | ${status} | ${message.replace(/\|/g, '\\|')} |`,
)
const doc = `# Error codes

Every error Parley returns carries one of these numeric codes (Twilio's numbering and meaning where Twilio has
the code; 52xxx are Parley's own). REST errors are \`{ code, message, more_info, status }\` with the HTTP status
below; Twilsock replies carry the code as \`errorCode\`. The table is generated from \`ERRORS\` in
\`packages/token/src/errors.ts\` by \`npm run docs:errors\`, and a test fails when the two disagree.

| Code | HTTP status | Message |
|---|---|---|
${rows.join('\n')}
`
// Written as Prettier formats it (aligned columns), so `npm run format:check` agrees with the generator.
const file = fileURLToPath(new URL('../docs/errors.md', import.meta.url))
const options = (await prettier.resolveConfig(file)) ?? {}
writeFileSync(file, await prettier.format(doc, { ...options, filepath: file }))
console.log(`docs/errors.md: ${rows.length} codes`)
