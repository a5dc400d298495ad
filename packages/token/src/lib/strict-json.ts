/**
 * A strict JSON parser for token segments (access-tokens.md §7.3 step 3, §7.7): RFC 8259 grammar, member names
 * unique within an object (`JSON.parse` silently keeps the last duplicate), nesting at most `maxDepth` deep (V8
 * parses 200,000 levels), and `__proto__` kept as an ordinary own member instead of replacing the prototype.
 */

/** Thrown by {@link parseStrictJson}; `reason` names the rule, `offset` is the UTF-16 index in the text. */
export class StrictJsonError extends Error {
  readonly reason: 'syntax' | 'duplicate' | 'depth'
  readonly offset: number
  constructor(reason: 'syntax' | 'duplicate' | 'depth', offset: number, message: string) {
    super(message)
    this.reason = reason
    this.offset = offset
  }
}

/**
 * Parses `text` as one JSON value.
 *
 * @param maxDepth - the deepest allowed nesting of objects and arrays (a top-level object is depth 1)
 * @throws {StrictJsonError} on a syntax error, a duplicate member name, or nesting deeper than `maxDepth`
 */
export function parseStrictJson(text: string, maxDepth = 16): unknown {
  const p = new Parser(text, maxDepth)
  p.skipWs()
  const v = p.value(0)
  p.skipWs()
  if (p.i !== text.length) p.fail('unexpected data after the JSON value')
  return v
}

/** A run of string characters that need no further look: not `"`, `\\` or a control character. */
// eslint-disable-next-line no-control-regex -- JSON forbids raw U+0000–U+001F in strings (RFC 8259 §7)
const PLAIN_RUN = /[^"\\\x00-\x1f]*/y

class Parser {
  i = 0
  readonly s: string
  readonly n: number
  readonly maxDepth: number

  constructor(s: string, maxDepth: number) {
    this.s = s
    this.n = s.length
    this.maxDepth = maxDepth
  }

  fail(what: string): never {
    throw new StrictJsonError('syntax', this.i, `${what} at offset ${this.i}`)
  }

  skipWs(): void {
    const s = this.s
    let i = this.i
    while (i < this.n) {
      const c = s.charCodeAt(i)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
      else break
    }
    this.i = i
  }

  value(depth: number): unknown {
    if (this.i >= this.n) this.fail('unexpected end of input')
    const c = this.s.charCodeAt(this.i)
    switch (c) {
      case 0x7b: // {
        return this.object(depth + 1)
      case 0x5b: // [
        return this.array(depth + 1)
      case 0x22: // "
        return this.string()
      case 0x74: // t
        return this.literal('true', true)
      case 0x66: // f
        return this.literal('false', false)
      case 0x6e: // n
        return this.literal('null', null)
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number()
        return this.fail('unexpected character')
    }
  }

  literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail('invalid literal')
    this.i += word.length
    return v
  }

  number(): number {
    const s = this.s
    const start = this.i
    let i = start
    const negative = s.charCodeAt(i) === 0x2d
    if (negative) i++
    let c = s.charCodeAt(i)
    // The integer part is accumulated on the way: NumericDates are plain integers, and for at most 15 digits
    // the value is exact, so the common case needs no slice and no Number().
    let value = 0
    const digitsFrom = i
    if (c === 0x30) {
      i++
    } else if (c >= 0x31 && c <= 0x39) {
      do {
        value = value * 10 + (c - 0x30)
        c = s.charCodeAt(++i)
      } while (isDigit(c))
    } else {
      this.i = i
      this.fail('invalid number')
    }
    c = s.charCodeAt(i)
    if (c !== 0x2e && c !== 0x65 && c !== 0x45 && i - digitsFrom <= 15) {
      this.i = i
      // -0 stays -0, as JSON.parse gives it.
      return negative ? -value : value
    }
    if (c === 0x2e) {
      i++
      if (!isDigit(s.charCodeAt(i))) {
        this.i = i
        this.fail('invalid number')
      }
      do i++
      while (isDigit(s.charCodeAt(i)))
    }
    c = s.charCodeAt(i)
    if (c === 0x65 || c === 0x45) {
      i++
      c = s.charCodeAt(i)
      if (c === 0x2b || c === 0x2d) i++
      if (!isDigit(s.charCodeAt(i))) {
        this.i = i
        this.fail('invalid number')
      }
      do i++
      while (isDigit(s.charCodeAt(i)))
    }
    this.i = i
    return Number(s.slice(start, i))
  }

  string(): string {
    const s = this.s
    const start = this.i + 1
    // Jump over the plain run with a sticky regex (no allocation: only lastIndex moves).
    PLAIN_RUN.lastIndex = start
    PLAIN_RUN.test(s)
    let i = PLAIN_RUN.lastIndex
    let c = s.charCodeAt(i)
    if (c === 0x22) {
      this.i = i + 1
      return s.slice(start, i)
    }
    // Slow path: escapes (validated by JSON.parse below), or an error.
    for (;;) {
      if (i >= this.n) {
        this.i = i
        this.fail('unterminated string')
      }
      c = s.charCodeAt(i)
      if (c === 0x22) break
      if (c === 0x5c) {
        i += 2
        continue
      }
      if (c < 0x20) {
        this.i = i
        this.fail('control character in string')
      }
      i++
    }
    this.i = i + 1
    // Raw control characters are excluded above, so JSON.parse of this literal checks exactly the escapes.
    try {
      return JSON.parse(s.slice(start - 1, i + 1)) as string
    } catch {
      this.i = start - 1
      return this.fail('invalid escape in string')
    }
  }

  array(depth: number): unknown[] {
    if (depth > this.maxDepth) {
      throw new StrictJsonError(
        'depth',
        this.i,
        `nesting deeper than ${this.maxDepth} at offset ${this.i}`,
      )
    }
    this.i++ // [
    const out: unknown[] = []
    this.skipWs()
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++
      return out
    }
    for (;;) {
      this.skipWs()
      out.push(this.value(depth))
      this.skipWs()
      const c = this.s.charCodeAt(this.i)
      if (c === 0x2c) {
        this.i++
      } else if (c === 0x5d) {
        this.i++
        return out
      } else {
        this.fail('expected , or ] in array')
      }
    }
  }

  object(depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) {
      throw new StrictJsonError(
        'depth',
        this.i,
        `nesting deeper than ${this.maxDepth} at offset ${this.i}`,
      )
    }
    this.i++ // {
    const out: Record<string, unknown> = {}
    this.skipWs()
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++
      return out
    }
    for (;;) {
      this.skipWs()
      if (this.s.charCodeAt(this.i) !== 0x22) this.fail('expected a member name')
      const keyAt = this.i
      const key = this.string()
      this.skipWs()
      if (this.s.charCodeAt(this.i) !== 0x3a) this.fail('expected :')
      this.i++
      this.skipWs()
      const v = this.value(depth)
      if (Object.hasOwn(out, key)) {
        throw new StrictJsonError('duplicate', keyAt, `duplicate member name at offset ${keyAt}`)
      }
      if (key === '__proto__') {
        Object.defineProperty(out, key, {
          value: v,
          writable: true,
          enumerable: true,
          configurable: true,
        })
      } else {
        out[key] = v
      }
      this.skipWs()
      const c = this.s.charCodeAt(this.i)
      if (c === 0x2c) {
        this.i++
      } else if (c === 0x7d) {
        this.i++
        return out
      } else {
        this.fail('expected , or } in object')
      }
    }
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39
}
