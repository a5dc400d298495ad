/**
 * Structured JSON logging: one line per event, written synchronously-ish to a stream (stderr by default).
 *
 * Never log an `Authorization` header, an Access Token, an auth token or a secret (reliability.md §2.10, R21): the
 * request log records method, path (without the query), status, duration and the account SID only, and
 * {@link redactPath} strips anything that looks like a token from paths before they are written.
 *
 * @module
 */
import type { LogLevel } from '../config.ts'

/** A structured logger. Fields are merged into the JSON line. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** Whether a level would be written (avoid building fields for nothing). */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** Something that takes text lines, such as `process.stderr`. */
export interface LineSink {
  write(chunk: string): unknown
}

/**
 * Create a JSON-lines logger.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'info', sink: process.stderr })
 * log.info('listening', { url: 'http://127.0.0.1:3210' })
 * // {"time":"2026-11-27T18:00:00.000Z","level":"info","msg":"listening","url":"http://127.0.0.1:3210"}
 * ```
 */
export function createLogger(opts: {
  level: LogLevel
  sink: LineSink
  base?: Record<string, unknown>
}): Logger {
  const min = RANK[opts.level]
  const base = opts.base ?? {}
  const write = (
    level: Exclude<LogLevel, 'silent'>,
    msg: string,
    fields?: Record<string, unknown>,
  ): void => {
    if (RANK[level] < min) return
    let line: string
    try {
      line = JSON.stringify(
        { time: new Date().toISOString(), level, msg, ...base, ...fields },
        errorReplacer,
      )
    } catch {
      line = JSON.stringify({
        time: new Date().toISOString(),
        level,
        msg,
        note: 'unserialisable fields',
      })
    }
    opts.sink.write(line + '\n')
  }
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    enabled: (level) => RANK[level] >= min,
  }
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = createLogger({ level: 'silent', sink: { write: () => true } })

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = {
      name: value.name,
      message: value.message,
      stack: value.stack,
    }
    if (value.cause !== undefined) out['cause'] = value.cause
    return out
  }
  if (typeof value === 'bigint') return value.toString()
  return value
}

/**
 * A path safe to log: control characters replaced, long segments that look like tokens or secrets
 * (JWTs, long base64/hex strings) replaced by `[redacted]`, and the length bounded.
 */
export function redactPath(path: string): string {
  let p = path.length > 512 ? path.slice(0, 512) + '…' : path
  // eslint-disable-next-line no-control-regex
  p = p.replace(/[\u0000-\u001f\u007f]/g, '?')
  return p
    .split('/')
    .map((seg) => (/^eyJ/.test(seg) || /^[A-Za-z0-9_\-+=.%]{80,}$/.test(seg) ? '[redacted]' : seg))
    .join('/')
}
