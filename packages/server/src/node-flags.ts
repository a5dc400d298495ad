/**
 * The Node.js (V8) flags the server process starts with: the `parley` command's shim (its sh line), `npm run serve`,
 * `npm start` (through the demo's launcher) and the benchmarks all use these; a test keeps the first two in sync with
 * this list. Run `node <flags> packages/server/dist/src/cli.js serve` when starting the server another way.
 *
 * `--initial-old-space-size=128`: under steady traffic the server promotes a little data that dies later (caches of
 * recent events, rows and encoded notifications turning over). With V8's default sizing for a small heap, that
 * starts a full (mark-compact) collection every ≈ 3 s, and each one slows deliveries for 30–50 ms (incremental
 * marking steps of up to 8 ms, then the final pause). Letting the old generation start at 128 MiB before the first
 * full collection makes them rare: at 2,000 deliveries/s the benchmark's p99 went from 30–160 ms to 9–48 ms in five
 * alternating pairs on a busy VM (docs/internals/fanout-performance.md). It is a limit, not an allocation: memory is
 * only used as the heap grows.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128']
