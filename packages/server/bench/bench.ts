/**
 * REST benchmark: message creates over real HTTP (keep-alive) against a server on the durable on-disk SQLite store
 * (durability `fsync-async`: every batch is fdatasync'ed before its creates are answered; group commit), with the load
 * generator in a separate process.
 *
 * 1. Throughput: 64 concurrent keep-alive requests as fast as possible → creates/s (target ≥ 5,000/s).
 * 2. Latency: a fixed arrival rate of 2,000/s → p50 / p99 from the scheduled send time (target p99 < 20 ms).
 *
 * Each phase runs on a fresh server and data directory after a short warm-up, so one phase's database growth and
 * WAL checkpoints do not leak into the other. The server process also reports its CPU time per create, its
 * event-loop delay (time blocked in fsync, checkpoints, GC) and its GC pauses.
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
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks'
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

interface PhaseResult {
  load: LoadResult
  cpuPerCreateUs: number
  eventLoopDelay: { p99: number; max: number }
  gc: { count: number; totalMs: number; maxMs: number }
}

/** Start a fresh server, warm it up, run one measured load, and tear everything down. */
async function phase(measured: Record<string, unknown>): Promise<PhaseResult> {
  const data = mkdtempSync(join(tmpdir(), 'parley-bench-'))
  const parley = await createParleyServer(
    loadConfig({ port: 0, dataDir: data, logLevel: 'silent' }, {}),
    { bootstrap: true, logger: silentLogger },
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

    const gc = { count: 0, totalMs: 0, maxMs: 0 }
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gc.count++
        gc.totalMs += e.duration
        gc.maxMs = Math.max(gc.maxMs, e.duration)
      }
    })
    gcObserver.observe({ entryTypes: ['gc'] })
    const eld = monitorEventLoopDelay({ resolution: 1 })
    eld.enable()
    const cpu0 = process.cpuUsage()
    const result = await load({ ...common, ...measured })
    const cpu = process.cpuUsage(cpu0)
    eld.disable()
    gcObserver.disconnect()

    const check = parley.store.integrityCheck()
    if (check !== 'ok') throw new Error(`integrity_check: ${check}`)
    const created = result.statuses['201'] ?? 0
    return {
      load: result,
      cpuPerCreateUs: (cpu.user + cpu.system) / Math.max(1, created),
      eventLoopDelay: { p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 },
      gc,
    }
  } finally {
    await parley.close()
    rmSync(data, { recursive: true, force: true })
  }
}

const fmt = (n: number): string => n.toFixed(2)
const server = (r: PhaseResult): string =>
  `server: ${Math.round(r.cpuPerCreateUs)} µs CPU/create, event-loop delay p99 ${fmt(r.eventLoopDelay.p99)} ms ` +
  `max ${fmt(r.eventLoopDelay.max)} ms, GC max ${fmt(r.gc.maxMs)} ms`

const t = await phase({ mode: 'closed', durationMs: seconds * 1000 })
const created = t.load.statuses['201'] ?? 0
const throughput = created / (t.load.elapsedMs / 1000)
const l = await phase({ mode: 'open', rate, durationMs: seconds * 1000 })

const cpu = cpus()
const lines = [
  `Parley REST benchmark — message creates, on-disk SQLite (WAL, group commit, fdatasync before every answer)`,
  `  machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, node ${process.version}; load generator in a separate process`,
  `  throughput: ${Math.round(throughput)} creates/s  (${created} × 201 in ${fmt(t.load.elapsedMs / 1000)} s, ` +
    `concurrency ${concurrency}, ${channelCount} channels; statuses ${JSON.stringify(t.load.statuses)}; ` +
    `p50 ${fmt(t.load.p50)} ms, p99 ${fmt(t.load.p99)} ms; ${server(t)})  ` +
    `target ≥ 5000 → ${throughput >= 5000 ? 'PASS' : 'FAIL'}`,
  `  latency at ${rate}/s: p50 ${fmt(l.load.p50)} ms, p90 ${fmt(l.load.p90)} ms, p99 ${fmt(l.load.p99)} ms, ` +
    `max ${fmt(l.load.max)} ms (${l.load.requests} requests; statuses ${JSON.stringify(l.load.statuses)}; ` +
    `${server(l)})  target p99 < 20 ms → ${l.load.p99 < 20 ? 'PASS' : 'FAIL'}`,
  `  host load average at the end: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} (other processes on this machine skew both numbers)`,
]
process.stdout.write(lines.join('\n') + '\n')
process.stdout.write(
  JSON.stringify({
    throughput: { createsPerSecond: Math.round(throughput), ...t },
    fixedRate: { rate, ...l },
  }) + '\n',
)
