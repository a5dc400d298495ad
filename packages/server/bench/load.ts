/**
 * Load generator for `bench.ts`, run as a separate process so that it does not share a core with the server.
 *
 * Input (argv[2], JSON): `{ url, auth, paths, mode: 'closed', concurrency, durationMs }` (as fast as possible with a
 * fixed number of in-flight requests) or `{ …, mode: 'open', rate, durationMs }` (a fixed arrival rate; latency is
 * measured from each request's *scheduled* time, so a stall is not hidden by coordinated omission).
 * Output (stdout, JSON): counts by status and latency samples summary.
 *
 * @module
 */
import { Agent, request } from 'node:http'

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
const agent = new Agent({ keepAlive: true, maxSockets: input.concurrency, maxFreeSockets: input.concurrency })
const body = Buffer.from('Body=hello+from+the+benchmark&From=bench&Attributes=%7B%22n%22%3A1%7D')

const statuses: Record<string, number> = {}
const latencies: number[] = []
let errors = 0
let seq = 0

function send(path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path,
        headers: {
          authorization: input.auth,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': body.length,
          accept: 'application/json',
        },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', () => resolve(-1))
    req.end(body)
  })
}

function record(status: number, latencyMs: number): void {
  if (status < 0) errors++
  statuses[status] = (statuses[status] ?? 0) + 1
  latencies.push(latencyMs)
}

async function closed(): Promise<void> {
  const end = performance.now() + input.durationMs
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const path = input.paths[seq++ % input.paths.length] as string
      const t0 = performance.now()
      const status = await send(path)
      record(status, performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: input.concurrency }, worker))
}

async function open(): Promise<void> {
  const rate = input.rate ?? 1000
  const total = Math.floor((rate * input.durationMs) / 1000)
  const start = performance.now() + 20
  const inflight: Promise<void>[] = []
  let i = 0
  await new Promise<void>((done) => {
    const tick = (): void => {
      const now = performance.now()
      while (i < total && start + (i * 1000) / rate <= now) {
        const scheduled = start + (i * 1000) / rate
        const path = input.paths[i % input.paths.length] as string
        inflight.push(send(path).then((status) => record(status, performance.now() - scheduled)))
        i++
      }
      if (i >= total) done()
      else setImmediate(tick)
    }
    tick()
  })
  await Promise.all(inflight)
}

const t0 = performance.now()
await (input.mode === 'open' ? open() : closed())
const elapsedMs = performance.now() - t0
latencies.sort((a, b) => a - b)
const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN
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
agent.destroy()
