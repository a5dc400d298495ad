/**
 * Load generator for `bench.ts`, run as a separate process so that it does not share an event loop with the server.
 *
 * It speaks HTTP/1.1 over plain keep-alive TCP connections with one request in flight per connection (what any
 * keep-alive client pool does), from a pre-built request buffer, and parses just the status line and
 * `Content-Length` of each response. That costs a few µs per request, so on a 2-core machine almost all CPU is left
 * to the server being measured.
 *
 * Input (argv[2], JSON): `{ url, auth, paths, mode: 'closed', concurrency, durationMs }` (as fast as possible with
 * `concurrency` connections) or `{ …, mode: 'open', rate, durationMs }` (a fixed arrival rate spread over the
 * connections; latency is measured from each request's *scheduled* time, so stalls are not hidden by coordinated
 * omission). Output (stdout, JSON): counts by status and a latency summary.
 *
 * @module
 */
import { connect, type Socket } from 'node:net'

interface Input {
  url: string
  auth: string
  paths: string[]
  mode: 'closed' | 'open'
  concurrency: number
  rate?: number
  durationMs: number
}

const input = JSON.parse(process.argv[2] ?? '{}') as Input
const target = new URL(input.url)
const body = 'Body=hello+from+the+benchmark&From=bench&Attributes=%7B%22n%22%3A1%7D'
const requests = input.paths.map((path) =>
  Buffer.from(
    `POST ${path} HTTP/1.1\r\nHost: ${target.host}\r\nAuthorization: ${input.auth}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n${body}`,
  ),
)

const statuses: Record<string, number> = {}
const latencies: number[] = []
let errors = 0

/** One keep-alive connection with at most one request in flight. */
class Conn {
  readonly #socket: Socket
  #buf: Buffer = Buffer.alloc(0)
  #pending: ((status: number) => void) | undefined
  readonly ready: Promise<void>

  constructor() {
    this.#socket = connect(Number(target.port), target.hostname)
    this.#socket.setNoDelay(true)
    this.ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', () => resolve())
      this.#socket.once('error', reject)
    })
    this.ready.catch(() => undefined)
    this.#socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d])
      this.#parse()
    })
    this.#socket.on('error', () => this.#fail())
    this.#socket.on('close', () => this.#fail())
  }

  #fail(): void {
    const p = this.#pending
    this.#pending = undefined
    p?.(-1)
  }

  #parse(): void {
    const end = this.#buf.indexOf('\r\n\r\n')
    if (end === -1) return
    const head = this.#buf.toString('latin1', 0, end)
    const status = Number(head.slice(9, 12))
    const m = /\r\ncontent-length: *(\d+)/i.exec(head)
    const len = m === null ? 0 : Number(m[1])
    if (this.#buf.length < end + 4 + len) return
    this.#buf = this.#buf.subarray(end + 4 + len)
    const p = this.#pending
    this.#pending = undefined
    p?.(status)
  }

  send(req: Buffer): Promise<number> {
    return new Promise((resolve) => {
      if (this.#socket.destroyed) {
        resolve(-1)
        return
      }
      this.#pending = resolve
      this.#socket.write(req)
    })
  }

  close(): void {
    this.#socket.destroy()
  }
}

function record(status: number, latencyMs: number): void {
  if (status < 0) errors++
  statuses[status] = (statuses[status] ?? 0) + 1
  latencies.push(latencyMs)
}

const conns = Array.from({ length: input.concurrency }, () => new Conn())
await Promise.all(conns.map((c) => c.ready))

async function closed(): Promise<void> {
  const end = performance.now() + input.durationMs
  let seq = 0
  await Promise.all(
    conns.map(async (c) => {
      while (performance.now() < end) {
        const req = requests[seq++ % requests.length] as Buffer
        const t0 = performance.now()
        const status = await c.send(req)
        record(status, performance.now() - t0)
        if (status < 0) return
      }
    }),
  )
}

async function open(): Promise<void> {
  const rate = input.rate ?? 1000
  const total = Math.floor((rate * input.durationMs) / 1000)
  const start = performance.now() + 20
  const idle: Conn[] = [...conns]
  const backlog: number[] = [] // scheduled times waiting for a free connection
  let issued = 0
  let done = 0
  await new Promise<void>((finish) => {
    const dispatch = (c: Conn, i: number, scheduled: number): void => {
      void c.send(requests[i % requests.length] as Buffer).then((status) => {
        record(status, performance.now() - scheduled)
        done++
        const conn = status < 0 ? new Conn() : c // a failed connection is replaced
        const next = backlog.shift()
        if (next !== undefined)
          void conn.ready.then(
            () => dispatch(conn, issued++, next),
            () => undefined,
          )
        else idle.push(conn)
        if (done === total) finish()
      })
    }
    let n = 0
    const tick = (): void => {
      const now = performance.now()
      while (n < total && start + (n * 1000) / rate <= now) {
        const scheduled = start + (n * 1000) / rate
        n++
        const c = idle.shift() // FIFO keeps every connection busy, so none idles past the keep-alive timeout
        if (c === undefined) backlog.push(scheduled)
        else dispatch(c, issued++, scheduled)
      }
      if (n < total) setImmediate(tick)
    }
    tick()
  })
}

const t0 = performance.now()
await (input.mode === 'open' ? open() : closed())
const elapsedMs = performance.now() - t0
for (const c of conns) c.close()
latencies.sort((a, b) => a - b)
const q = (p: number): number =>
  latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN
process.stdout.write(
  JSON.stringify({
    requests: latencies.length,
    elapsedMs,
    statuses,
    errors,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: latencies[latencies.length - 1] ?? NaN,
  }),
)
