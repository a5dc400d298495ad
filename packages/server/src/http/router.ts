/**
 * A small path router: literal segments, `:name` parameters and `:name.json` parameters with a literal suffix
 * (the 2010 API's `/Keys/{Sid}.json`). Each path segment is percent-decoded exactly once, after splitting, so an
 * identity such as `a%2Fb` stays one segment (chat-rest-v2.md §10).
 *
 * @module
 */
import { decodeComponent } from './form.ts'

/** Path parameters by name, decoded. */
export type PathParams = Readonly<Record<string, string>>

type Segment =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'param'; readonly name: string; readonly suffix: string }

interface Route<H> {
  readonly pattern: string
  readonly segments: readonly Segment[]
  readonly handlers: Map<string, H>
}

/** The outcome of {@link Router.match}. */
export type Match<H> =
  | {
      readonly kind: 'found'
      readonly handler: H
      readonly params: PathParams
      readonly pattern: string
    }
  | { readonly kind: 'method'; readonly allow: readonly string[] }
  | { readonly kind: 'none' }

/**
 * Maps `(method, path)` to a handler.
 *
 * @example
 * ```ts
 * const r = new Router<Handler>()
 * r.add('GET', '/v2/Services/:serviceSid', fetchService)
 * r.match('GET', '/v2/Services/IS123') // { kind: 'found', params: { serviceSid: 'IS123' }, … }
 * ```
 */
export class Router<H> {
  readonly #routes: Route<H>[] = []
  readonly #byLength = new Map<number, Route<H>[]>()

  /** Register `handler` for `method` on `pattern`. Registering the same method twice on a pattern throws. */
  add(method: string, pattern: string, handler: H): this {
    let route = this.#routes.find((r) => r.pattern === pattern)
    if (route === undefined) {
      const segments = splitPath(pattern).map((s): Segment => {
        if (!s.startsWith(':')) return { kind: 'literal', value: s }
        const dot = s.indexOf('.')
        return dot === -1
          ? { kind: 'param', name: s.slice(1), suffix: '' }
          : { kind: 'param', name: s.slice(1, dot), suffix: s.slice(dot) }
      })
      route = { pattern, segments, handlers: new Map() }
      this.#routes.push(route)
      const list = this.#byLength.get(segments.length) ?? []
      list.push(route)
      this.#byLength.set(segments.length, list)
    }
    if (route.handlers.has(method)) throw new TypeError(`duplicate route ${method} ${pattern}`)
    route.handlers.set(method, handler)
    return this
  }

  /**
   * Find the handler of a raw (still percent-encoded) path.
   * @throws {ChatError} 20001 when a segment is not valid percent-encoded UTF-8 or holds NUL / a lone surrogate.
   */
  match(method: string, rawPath: string): Match<H> {
    const raw = splitPath(rawPath)
    const candidates = this.#byLength.get(raw.length)
    if (candidates === undefined) return { kind: 'none' }
    let decoded: string[] | undefined
    for (const route of candidates) {
      const params: Record<string, string> = {}
      let ok = true
      for (let i = 0; i < route.segments.length; i++) {
        const seg = route.segments[i] as Segment
        const rawSeg = raw[i] as string
        if (seg.kind === 'literal') {
          if (rawSeg !== seg.value) {
            ok = false
            break
          }
          continue
        }
        decoded ??= raw.map((s) => decodeComponent(s, false, 'The path'))
        let value = decoded[i] as string
        if (seg.suffix !== '') {
          if (!value.endsWith(seg.suffix)) {
            ok = false
            break
          }
          value = value.slice(0, -seg.suffix.length)
        }
        if (value === '') {
          ok = false
          break
        }
        params[seg.name] = value
      }
      if (!ok) continue
      const handler =
        route.handlers.get(method) ?? (method === 'HEAD' ? route.handlers.get('GET') : undefined)
      if (handler === undefined) {
        return { kind: 'method', allow: [...route.handlers.keys()] }
      }
      return { kind: 'found', handler, params, pattern: route.pattern }
    }
    return { kind: 'none' }
  }
}

/** Split a path into segments, ignoring one trailing slash. `'/'` and `''` give `[]`. */
function splitPath(path: string): string[] {
  let p = path.startsWith('/') ? path.slice(1) : path
  if (p.endsWith('/')) p = p.slice(0, -1)
  return p === '' ? [] : p.split('/')
}
