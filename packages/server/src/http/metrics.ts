/**
 * A minimal in-process metrics registry rendered in the Prometheus text exposition format (version 0.0.4):
 * request counts by status class, a latency histogram, open connections and process memory, plus the gauges and
 * counters other parts register ({@link HttpMetrics.register}: the store, the realtime gateway).
 *
 * @module
 */
import { memoryUsage, uptime } from 'node:process'

/** Upper bounds (seconds) of the request-duration histogram buckets. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

/** Kind of a registered metric. */
export type MetricType = 'gauge' | 'counter'

const METRIC_NAME = /^[a-z_][a-z0-9_]*$/

/** HTTP metrics of one server. */
export class HttpMetrics {
  readonly #registered = new Map<string, { type: MetricType; help: string; read: () => number }>()
  readonly #byClass = new Map<string, number>()
  readonly #bucketCounts = new Array<number>(BUCKETS.length).fill(0)
  #durationSum = 0
  #durationCount = 0
  #openConnections = 0
  #connectionsTotal = 0
  #bodyRejected = 0

  /** Record one finished request. */
  observe(status: number, durationSeconds: number): void {
    const cls = status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other'
    this.#byClass.set(cls, (this.#byClass.get(cls) ?? 0) + 1)
    for (let i = 0; i < BUCKETS.length; i++) {
      if (durationSeconds <= (BUCKETS[i] as number)) {
        this.#bucketCounts[i] = (this.#bucketCounts[i] as number) + 1
        break
      }
    }
    this.#durationSum += durationSeconds
    this.#durationCount++
  }

  /** A connection opened. */
  connectionOpened(): void {
    this.#openConnections++
    this.#connectionsTotal++
  }

  /** A connection closed. */
  connectionClosed(): void {
    this.#openConnections--
  }

  /** A request body was refused for size (413). */
  bodyRejected(): void {
    this.#bodyRejected++
  }

  /** Number of currently open connections. */
  get openConnections(): number {
    return this.#openConnections
  }

  /** Total requests observed so far. */
  get requests(): number {
    return this.#durationCount
  }

  /**
   * Adds a metric read at every scrape (`read` must be cheap and must not throw; a throw or a non-finite value is
   * rendered as `NaN`). Returns a function that removes it.
   *
   * @throws {RangeError} for a name that is not a Prometheus metric name, or one already registered.
   */
  register(name: string, type: MetricType, help: string, read: () => number): () => void {
    if (!METRIC_NAME.test(name)) throw new RangeError(`metric name ${name} is not valid`)
    if (this.#registered.has(name)) throw new RangeError(`metric ${name} is already registered`)
    const entry = { type, help: help.replace(/[\\\n]/g, ' '), read }
    this.#registered.set(name, entry)
    return () => {
      if (this.#registered.get(name) === entry) this.#registered.delete(name)
    }
  }

  /** The Prometheus text exposition of every metric. */
  render(): string {
    const lines: string[] = []
    lines.push('# HELP parley_http_requests_total HTTP requests served, by status class.')
    lines.push('# TYPE parley_http_requests_total counter')
    for (const cls of ['1xx', '2xx', '3xx', '4xx', '5xx']) {
      lines.push(`parley_http_requests_total{code="${cls}"} ${this.#byClass.get(cls) ?? 0}`)
    }
    lines.push(
      '# HELP parley_http_request_duration_seconds Time from request start to response, in seconds.',
    )
    lines.push('# TYPE parley_http_request_duration_seconds histogram')
    let cumulative = 0
    for (let i = 0; i < BUCKETS.length; i++) {
      cumulative += this.#bucketCounts[i] as number
      lines.push(`parley_http_request_duration_seconds_bucket{le="${BUCKETS[i]}"} ${cumulative}`)
    }
    lines.push(`parley_http_request_duration_seconds_bucket{le="+Inf"} ${this.#durationCount}`)
    lines.push(`parley_http_request_duration_seconds_sum ${this.#durationSum}`)
    lines.push(`parley_http_request_duration_seconds_count ${this.#durationCount}`)
    lines.push('# HELP parley_http_open_connections Currently open HTTP connections.')
    lines.push('# TYPE parley_http_open_connections gauge')
    lines.push(`parley_http_open_connections ${this.#openConnections}`)
    lines.push('# HELP parley_http_connections_total HTTP connections accepted.')
    lines.push('# TYPE parley_http_connections_total counter')
    lines.push(`parley_http_connections_total ${this.#connectionsTotal}`)
    lines.push(
      '# HELP parley_http_body_rejected_total Requests refused with 413 because of their body size.',
    )
    lines.push('# TYPE parley_http_body_rejected_total counter')
    lines.push(`parley_http_body_rejected_total ${this.#bodyRejected}`)
    const mem = memoryUsage()
    lines.push('# HELP process_resident_memory_bytes Resident memory size in bytes.')
    lines.push('# TYPE process_resident_memory_bytes gauge')
    lines.push(`process_resident_memory_bytes ${mem.rss}`)
    lines.push('# HELP nodejs_heap_used_bytes V8 heap in use, in bytes.')
    lines.push('# TYPE nodejs_heap_used_bytes gauge')
    lines.push(`nodejs_heap_used_bytes ${mem.heapUsed}`)
    lines.push('# HELP nodejs_heap_total_bytes V8 heap allocated, in bytes.')
    lines.push('# TYPE nodejs_heap_total_bytes gauge')
    lines.push(`nodejs_heap_total_bytes ${mem.heapTotal}`)
    lines.push('# HELP process_uptime_seconds Seconds since the process started.')
    lines.push('# TYPE process_uptime_seconds gauge')
    lines.push(`process_uptime_seconds ${uptime()}`)
    for (const [name, m] of this.#registered) {
      let v: number
      try {
        v = m.read()
      } catch {
        v = NaN
      }
      lines.push(`# HELP ${name} ${m.help}`)
      lines.push(`# TYPE ${name} ${m.type}`)
      lines.push(`${name} ${Number.isFinite(v) ? v : 'NaN'}`)
    }
    return lines.join('\n') + '\n'
  }
}
