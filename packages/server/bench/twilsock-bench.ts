/**
 * Twilsock gateway benchmark: how many connections per second are established *and* initialised (`init` → reply
 * 200, with full `@parley/token` verification), and how much server memory an idle initialised connection costs,
 * at 10,000 connections.
 *
 * Run (after `npx tsc -b`):
 *
 * ```
 * node packages/server/dist/bench/twilsock-bench.js [--connections 10000] [--concurrency 128] [--core] [--json]
 * ```
 *
 * `--core` runs the server as `createParleyServer` (in-memory SQLite, bootstrapped, the built-in Twilio plugin), so
 * every `init` also goes through `core.resolveApiKey` and the service lookup.
 *
 * Three processes: this orchestrator, the server (gateway on node:http, `--expose-gc`, an in-memory key table so the
 * numbers are the gateway's and not the store's) and a lean load client that speaks WebSocket + Twilsock by hand
 * on raw TCP sockets (one write per connection: the upgrade request with the `init` frame right behind it). Each
 * child raises its soft file-descriptor limit to the hard limit through `sh -c 'ulimit -n …'`.
 *
 * Targets: ≥ 3,000 inits/s; ≤ 20 KB per idle connection.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { argv, cpuUsage, env, exit, memoryUsage, stdout } from 'node:process'
import { fileURLToPath } from 'node:url'
import { createTwilsockGateway } from '../src/compat/twilio/twilsock/gateway.ts'
import { createTwilsockVerifier } from '../src/compat/twilio/twilsock/verify.ts'
import { loadConfig } from '../src/config.ts'
import { silentLogger } from '../src/http/log.ts'
import { createParleyServer } from '../src/main.ts'
import {
  benchKeys,
  clientFrame,
  initFrame,
  mintToken,
  ServerStream,
  upgradeRequest,
  type BenchKeys,
} from './support/twilsock-client.ts'
import { SERVER_NODE_FLAGS } from '../src/node-flags.ts'
import { once, runRole, spawnRole } from './support/roles.ts'

type Keys = BenchKeys

type ToServer = { type: 'baseline' } | { type: 'measure' } | { type: 'stop' }
type FromServer =
  | { type: 'listening'; port: number; keys: Keys }
  | {
      type: 'memory'
      rss: number
      heapUsed: number
      external: number
      arrayBuffers: number
      sessions: number
      /** Process CPU time (user + system) so far, µs. */
      cpuMicros: number
    }
type ToClient =
  | { type: 'run'; port: number; keys: Keys; connections: number; concurrency: number }
  | { type: 'stop' }
type FromClient = {
  type: 'done'
  ok: number
  failed: number
  elapsedMs: number
  latency: { p50: number; p99: number; max: number }
  mintMs: number
}

const self = fileURLToPath(import.meta.url)
const hex = (n: number) => randomBytes(n).toString('hex')

function arg(name: string, def: number): number {
  const i = argv.indexOf(`--${name}`)
  if (i === -1) return def
  const v = Number(argv[i + 1])
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`--${name} needs a positive integer`)
  return v
}

// ---- orchestrator ----------------------------------------------------------------------------------------------

async function orchestrate(): Promise<void> {
  const connections = arg('connections', 10_000)
  const concurrency = arg('concurrency', 128)
  const keys: Keys = {
    accountSid: `AC${hex(16)}`,
    keySid: `SK${hex(16)}`,
    secret: randomBytes(32).toString('base64url'),
    serviceSid: `IS${hex(16)}`,
  }
  // Extra node flags for the server process, e.g. TWILSOCK_BENCH_SERVER_FLAGS=--cpu-prof to profile it.
  const extra = (env['TWILSOCK_BENCH_SERVER_FLAGS'] ?? '').split(' ').filter(Boolean)
  const server = spawnRole(self, 'server', [
    '--expose-gc',
    '--max-old-space-size=2048',
    ...SERVER_NODE_FLAGS,
    ...extra,
  ])
  const core = argv.includes('--core')
  server.send({ type: 'keys', keys, core })
  const listening = await once<{ port: number; keys: Keys }>(server, 'listening')
  const port = listening.port
  Object.assign(keys, listening.keys)
  server.send({ type: 'baseline' } satisfies ToServer)
  const base = await once<Extract<FromServer, { type: 'memory' }>>(server, 'memory')

  const client = spawnRole(
    self,
    'client',
    (env['TWILSOCK_BENCH_CLIENT_FLAGS'] ?? '').split(' ').filter(Boolean),
  )
  client.send({ type: 'run', port, keys, connections, concurrency } satisfies ToClient)
  const res = await once<FromClient>(client, 'done')
  // Let the last replies flush and timers settle before measuring the idle state.
  await new Promise((r) => setTimeout(r, 2000))
  server.send({ type: 'measure' } satisfies ToServer)
  const after = await once<Extract<FromServer, { type: 'memory' }>>(server, 'memory')
  client.send({ type: 'stop' } satisfies ToClient)
  server.send({ type: 'stop' } satisfies ToServer)

  const per = (k: 'rss' | 'heapUsed' | 'external') =>
    (after[k] - base[k]) / Math.max(1, after.sessions)
  const result = {
    server: core ? 'createParleyServer (core + SQLite)' : 'gateway (in-memory keys)',
    connections,
    concurrency,
    initialised: res.ok,
    failed: res.failed,
    elapsedMs: Math.round(res.elapsedMs),
    initsPerSecond: Math.round((res.ok / res.elapsedMs) * 1000),
    initLatencyMs: res.latency,
    // Contention-independent: server CPU (user + system) per initialised connection, including accept, HTTP
    // upgrade, token verification and the reply; 1e6 / this is the single-core ceiling in inits/s.
    serverCpuMicrosPerInit: Math.round((after.cpuMicros - base.cpuMicros) / Math.max(1, res.ok)),
    serverSessions: after.sessions,
    bytesPerIdleConnection: {
      rss: Math.round(per('rss')),
      heapUsed: Math.round(per('heapUsed')),
      external: Math.round(per('external')),
    },
    serverMemoryMiB: {
      baselineRss: +(base.rss / 2 ** 20).toFixed(1),
      rss: +(after.rss / 2 ** 20).toFixed(1),
      heapUsed: +(after.heapUsed / 2 ** 20).toFixed(1),
    },
    targets: { initsPerSecond: 3000, bytesPerIdleConnection: 20_000 },
  }
  if (argv.includes('--json')) {
    stdout.write(JSON.stringify(result) + '\n')
  } else {
    stdout.write(
      [
        `twilsock bench (${result.server}): ${result.initialised}/${connections} initialised (${result.failed} failed), concurrency ${concurrency}`,
        `  inits/s                 ${result.initsPerSecond}  (target ≥ 3000)  in ${result.elapsedMs} ms`,
        `  server CPU / init        ${result.serverCpuMicrosPerInit} µs (single-core ceiling ≈ ${Math.round(1e6 / Math.max(1, result.serverCpuMicrosPerInit))} inits/s)`,
        `  init latency ms         p50 ${res.latency.p50.toFixed(1)}  p99 ${res.latency.p99.toFixed(1)}  max ${res.latency.max.toFixed(1)}`,
        `  bytes / idle connection RSS ${result.bytesPerIdleConnection.rss}  heap ${result.bytesPerIdleConnection.heapUsed}  external ${result.bytesPerIdleConnection.external}  (target ≤ 20000)`,
        `  server RSS              ${result.serverMemoryMiB.baselineRss} → ${result.serverMemoryMiB.rss} MiB (heap ${result.serverMemoryMiB.heapUsed} MiB), ${after.sessions} sessions`,
        '',
      ].join('\n'),
    )
  }
  await Promise.all([
    new Promise((r) => server.once('exit', r)),
    new Promise((r) => client.once('exit', r)),
  ])
}

// ---- server ----------------------------------------------------------------------------------------------------

async function runServer(): Promise<void> {
  const send = (m: FromServer) => process.send!(m)
  const init = await new Promise<{ keys: Keys; core: boolean }>((resolve) =>
    process.once('message', (m: { type: string; keys: Keys; core: boolean }) => resolve(m)),
  )
  let keys = init.keys
  let sessions: () => number
  let port: number
  let stop: () => Promise<void>
  if (init.core) {
    // The real thing: core on in-memory SQLite with the built-in Twilio plugin.
    let open = 0
    const parley = await createParleyServer(loadConfig({ port: 0, host: '127.0.0.1' }, {}), {
      storage: 'memory',
      bootstrap: true,
      logger: silentLogger,
      twilio: {
        limits: { maxConnections: 1_000_000 },
        onSessionOpen: () => open++,
        onSessionClose: (s) => {
          if (s) open--
        },
      },
    })
    const b = parley.bootstrapped!
    keys = benchKeys(b)
    sessions = () => open
    port = Number(new URL(parley.url).port)
    stop = () => parley.close()
  } else {
    const gateway = createTwilsockGateway({
      verify: createTwilsockVerifier({
        resolveKey: (sid) =>
          sid === keys.keySid ? { secret: keys.secret, accountSid: keys.accountSid } : undefined,
        serviceBelongsTo: (serviceSid, accountSid) =>
          serviceSid === keys.serviceSid && accountSid === keys.accountSid,
      }),
      upstream: async () => ({ status: 404 }),
      limits: { maxConnections: 1_000_000 },
    })
    const server = createServer((_req, res) => res.writeHead(404).end())
    server.on('upgrade', (req, socket, head) => {
      if (!gateway.handleUpgrade(req, socket, head)) socket.destroy()
    })
    await new Promise<void>((resolve) =>
      server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve),
    )
    sessions = () => gateway.sessions.size
    port = (server.address() as AddressInfo).port
    stop = async () => {
      await gateway.close()
      server.closeAllConnections()
      server.close()
    }
  }
  const gc = (globalThis as { gc?: () => void }).gc
  const measure = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      gc?.()
      await new Promise((r) => setTimeout(r, 100))
    }
    const m = memoryUsage()
    const cpu = cpuUsage()
    send({
      type: 'memory',
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      sessions: sessions(),
      cpuMicros: cpu.user + cpu.system,
    })
  }
  process.on('message', (m: ToServer) => {
    if (m.type === 'baseline' || m.type === 'measure') void measure()
    if (m.type === 'stop') {
      void stop().then(() => exit(0))
    }
  })
  send({ type: 'listening', port, keys })
}

// ---- lean load client ------------------------------------------------------------------------------------------

interface Conn {
  socket: Socket
  stream: ServerStream
  started: number
  done: boolean
}

async function runClient(): Promise<void> {
  const m = await new Promise<Extract<ToClient, { type: 'run' }>>((resolve) =>
    process.once('message', (x: ToClient) => resolve(x as Extract<ToClient, { type: 'run' }>)),
  )
  const { port, keys, connections, concurrency } = m
  const t0 = performance.now()
  const requests: Buffer[] = []
  const upgrade = upgradeRequest(port)
  for (let i = 0; i < connections; i++) {
    requests.push(Buffer.concat([upgrade, initFrame(`TMbench${i}`, mintToken(keys, `user${i}`))]))
  }
  const mintMs = performance.now() - t0

  const latencies: number[] = []
  let ok = 0
  let failed = 0
  let next = 0
  let inflight = 0
  const open: Socket[] = []
  const start = performance.now()

  await new Promise<void>((resolveAll) => {
    const finish = (c: Conn, success: boolean): void => {
      if (c.done) return
      c.done = true
      inflight--
      if (success) {
        ok++
        latencies.push(performance.now() - c.started)
      } else {
        failed++
        c.socket.destroy()
      }
      if (ok + failed === connections) resolveAll()
      else pump()
    }
    /** One server frame of `c`: pings are answered, a close fails it, the first binary frame is the init reply. */
    const onFrame = (c: Conn, opcode: number, buf: Buffer, start: number, end: number): void => {
      if (opcode === 0x9) c.socket.write(clientFrame(Buffer.from(buf.subarray(start, end)), 0xa))
      else if (opcode === 0x8) finish(c, false)
      else if (opcode === 0x2 && !c.done) {
        const text = buf.toString('latin1', start, end)
        finish(c, text.includes('"method":"reply"') && text.includes('"status":{"code":200'))
      }
    }
    const pump = (): void => {
      while (inflight < concurrency && next < connections) {
        const req = requests[next++]!
        inflight++
        const socket = connect({ port, host: '127.0.0.1', noDelay: true })
        const c: Conn = {
          socket,
          // Frames from the server are unmasked; ServerStream also reads the upgrade response.
          stream: new ServerStream((opcode, buf, start, end) =>
            onFrame(c, opcode, buf, start, end),
          ),
          started: performance.now(),
          done: false,
        }
        open.push(socket)
        socket.on('connect', () => socket.write(req))
        socket.on('data', (d: Buffer) => {
          if (!c.stream.push(d)) finish(c, false)
        })
        socket.on('error', () => finish(c, false))
        socket.on('close', () => finish(c, false))
      }
    }
    pump()
  })
  const elapsedMs = performance.now() - start
  latencies.sort((a, b) => a - b)
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0
  process.send!({
    type: 'done',
    ok,
    failed,
    elapsedMs,
    mintMs,
    latency: { p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? 0 },
  } satisfies FromClient)
  process.on('message', (x: ToClient) => {
    if (x.type === 'stop') {
      for (const s of open) s.destroy()
      exit(0)
    }
  })
}

runRole({ server: runServer, client: runClient }, orchestrate)
