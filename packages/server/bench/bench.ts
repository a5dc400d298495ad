/**
 * REST benchmark: message creates over real HTTP (keep-alive) against a server on the durable on-disk SQLite store
 * (`synchronous=FULL`, group commit), with the load generator in a separate process.
 *
 * 1. Throughput: 64 concurrent keep-alive requests as fast as possible → creates/s (target ≥ 5,000/s).
 * 2. Latency: a fixed arrival rate of 2,000/s → p50 / p99 from the scheduled send time (target p99 < 20 ms).
 *
 * Run with `npm run bench -w @parley/server` (after `npm run build`). Environment: `BENCH_SECONDS` (default 10),
 * `BENCH_CONCURRENCY` (64), `BENCH_RATE` (2000), `BENCH_CHANNELS` (16).
 *
 * @module
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { loadConfig } from '../src/config.ts'
import type { Actor } from '../src/core/types.ts'
import { silentLogger } from '../src/http/log.ts'
import { createParleyServer } from '../src/main.ts'

const seconds = Number(process.env['BENCH_SECONDS'] ?? 10)
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? 64)
const rate = Number(process.env['BENCH_RATE'] ?? 2000)
const channelCount = Number(process.env['BENCH_CHANNELS'] ?? 16)

interface LoadResult {
  requests: number
  elapsedMs: number
  statuses: Record<string, number>
  errors: number
  p50: number
  p90: number
  p99: number
  max: number
}

function load(input: Record<string, unknown>): Promise<LoadResult> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'load.js')
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, JSON.stringify(input)],
      { maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`load generator failed: ${(stderr || err.message).slice(-2000)}`))
        else resolve(JSON.parse(stdout) as LoadResult)
      },
    )
  })
}

const data = mkdtempSync(join(tmpdir(), 'parley-bench-'))
const parley = await createParleyServer(
  loadConfig({ port: 0, dataDir: data, logLevel: 'silent' }, {}),
  {
    bootstrap: true,
    logger: silentLogger,
  },
)
try {
  const creds = parley.bootstrapped!
  const actor: Actor = { kind: 'admin', accountSid: creds.account.sid }
  const is = creds.service.sid
  const paths: string[] = []
  for (let i = 0; i < channelCount; i++) {
    const ch = await parley.core.channels.create(actor, is, { friendlyName: `bench-${i}` })
    paths.push(`/v2/Services/${is}/Channels/${ch.sid}/Messages`)
  }
  const auth =
    'Basic ' + Buffer.from(`${creds.apiKey.sid}:${creds.apiKey.secret}`).toString('base64')
  const common = { url: parley.url, auth, paths, concurrency }

  // Warm-up (JIT, page cache, connection pool).
  await load({ ...common, mode: 'closed', durationMs: 1500 })

  // Event-loop delay in the server process: how long it was blocked (fsync in group commit, WAL checkpoints, GC).
  const eld = monitorEventLoopDelay({ resolution: 1 })
  eld.enable()
  const cpu0 = process.cpuUsage()
  const t = await load({ ...common, mode: 'closed', durationMs: seconds * 1000 })
  const cpuT = process.cpuUsage(cpu0)
  const eldT = { p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 }
  eld.reset()
  const created = t.statuses['201'] ?? 0
  const throughput = created / (t.elapsedMs / 1000)
  const cpuPerCreateUs = (cpuT.user + cpuT.system) / Math.max(1, created)

  const l = await load({ ...common, mode: 'open', rate, durationMs: seconds * 1000 })
  const eldL = { p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 }
  eld.disable()

  const fmt = (n: number): string => n.toFixed(2)
  const cpu = cpus()
  const lines = [
    `Parley REST benchmark — message creates, on-disk SQLite (WAL, synchronous=FULL, group commit)`,
    `  machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, node ${process.version}; load generator in a separate process`,
    `  throughput: ${Math.round(throughput)} creates/s  (${created} × 201 in ${fmt(t.elapsedMs / 1000)} s, ` +
      `concurrency ${concurrency}, ${channelCount} channels; statuses ${JSON.stringify(t.statuses)}; ` +
      `p50 ${fmt(t.p50)} ms, p99 ${fmt(t.p99)} ms; server CPU ${Math.round(cpuPerCreateUs)} µs/create ` +
      `(user ${Math.round(cpuT.user / Math.max(1, created))}, system ${Math.round(cpuT.system / Math.max(1, created))}); ` +
      `server event-loop delay p99 ${fmt(eldT.p99)} ms, ` +
      `max ${fmt(eldT.max)} ms)  target ≥ 5000 → ${throughput >= 5000 ? 'PASS' : 'FAIL'}`,
    `  latency at ${rate}/s: p50 ${fmt(l.p50)} ms, p90 ${fmt(l.p90)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms ` +
      `(${l.requests} requests; statuses ${JSON.stringify(l.statuses)}; server event-loop delay p99 ` +
      `${fmt(eldL.p99)} ms, max ${fmt(eldL.max)} ms)  target p99 < 20 ms → ${l.p99 < 20 ? 'PASS' : 'FAIL'}`,
    `  host load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (other processes on this machine skew both numbers)`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
  process.stdout.write(
    JSON.stringify({
      throughput: { createsPerSecond: Math.round(throughput), cpuPerCreateUs, ...t },
      fixedRate: { rate, ...l },
    }) + '\n',
  )
  // Consistency check after the run.
  const check = parley.store.integrityCheck()
  if (check !== 'ok') throw new Error(`integrity_check: ${check}`)
} finally {
  await parley.close()
  rmSync(data, { recursive: true, force: true })
}
