/**
 * Mint and verify throughput of `@parley/token` next to the official `twilio` helper, `jsonwebtoken`, `fast-jwt`
 * and `jose`, in one process. Rounds are interleaved (every contestant runs once per round, in a rotating order)
 * so that machine noise hits all of them alike; the reported figure is the median over rounds.
 *
 * Run: `npm run bench -w @parley/token` (after `npx tsc -b`). About 40 s.
 *
 * Notes on fairness: every library signs or verifies the same HS256 token with the same secret. The other
 * verifiers check less (no typ/cty, no lifetime cap, no grant rules, lenient base64url and JSON); fast-jwt's
 * verification cache is off; jose is async by design (WebCrypto), so it is measured with `await`.
 */
import { createRequire } from 'node:module'
import { createSecretKey } from 'node:crypto'
import jsonwebtoken from 'jsonwebtoken'
import { createSigner, createVerifier } from 'fast-jwt'
import { jwtVerify, SignJWT } from 'jose'
import { AccessToken } from '../src/access-token.ts'
import { verifyAccessToken, verifyAccessTokenSync } from '../src/verify.ts'

const require = createRequire(import.meta.url)
const TwilioAccessToken: any = require('twilio/lib/jwt/AccessToken')

const AC = 'AC0123456789abcdef0123456789abcdef'
const SK = 'SK0123456789abcdef0123456789abcdef'
const IS = 'IS0123456789abcdef0123456789abcdef'
const SECRET = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3Jh'
const IDENTITY = 'alice@example.com'
const ENDPOINT = 'myapp:alice@example.com:device1'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7)
const SLICE_MS = Number(process.env['BENCH_SLICE_MS'] ?? 450)

// --- The same token content for every library ---

function claims(now: number) {
  return {
    jti: `${SK}-${now}`,
    grants: { identity: IDENTITY, chat: { service_sid: IS, endpoint_id: ENDPOINT } },
  }
}

const jwtKey = createSecretKey(Buffer.from(SECRET))
const fastSign = createSigner({
  key: SECRET,
  algorithm: 'HS256',
  iss: SK,
  sub: AC,
  expiresIn: 3600 * 1000,
  header: { alg: 'HS256', cty: 'twilio-fpa;v=1', typ: 'JWT' },
})
const fastVerify = createVerifier({ key: SECRET, algorithms: ['HS256'], cache: false })
const joseKey = new Uint8Array(Buffer.from(SECRET))
const keys = new Map([[SK, { secret: SECRET, accountSid: AC }]])
const resolveKey = (sid: string) => keys.get(sid)

function parleyMint(): string {
  const t = new AccessToken(AC, SK, SECRET, { identity: IDENTITY })
  t.addGrant(new AccessToken.ChatGrant({ serviceSid: IS, endpointId: ENDPOINT }))
  return t.toJwt()
}

function twilioMint(): string {
  const t = new TwilioAccessToken(AC, SK, SECRET, { identity: IDENTITY })
  t.addGrant(new TwilioAccessToken.ChatGrant({ serviceSid: IS, endpointId: ENDPOINT }))
  return t.toJwt()
}

function jsonwebtokenMint(): string {
  return jsonwebtoken.sign(claims(Math.floor(Date.now() / 1000)), jwtKey, {
    algorithm: 'HS256',
    header: { alg: 'HS256', cty: 'twilio-fpa;v=1', typ: 'JWT' },
    issuer: SK,
    subject: AC,
    expiresIn: 3600,
  })
}

function fastJwtMint(): string {
  return fastSign(claims(Math.floor(Date.now() / 1000)))
}

function joseMint(): Promise<string> {
  return new SignJWT(claims(Math.floor(Date.now() / 1000)))
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .setIssuer(SK)
    .setSubject(AC)
    .sign(joseKey)
}

const TOKEN = parleyMint()

interface Contestant {
  name: string
  kind: 'mint' | 'verify'
  ours: boolean
  sync?: () => unknown
  async?: () => Promise<unknown>
}

const contestants: Contestant[] = [
  { name: '@parley/token AccessToken', kind: 'mint', ours: true, sync: parleyMint },
  { name: 'twilio AccessToken', kind: 'mint', ours: false, sync: twilioMint },
  { name: 'jsonwebtoken sign', kind: 'mint', ours: false, sync: jsonwebtokenMint },
  { name: 'fast-jwt createSigner', kind: 'mint', ours: false, sync: fastJwtMint },
  { name: 'jose SignJWT (async)', kind: 'mint', ours: false, async: joseMint },
  {
    name: '@parley/token verifyAccessTokenSync',
    kind: 'verify',
    ours: true,
    sync: () => verifyAccessTokenSync(TOKEN, { resolveKey }),
  },
  {
    name: '@parley/token verifyAccessToken (async)',
    kind: 'verify',
    ours: false,
    async: () => verifyAccessToken(TOKEN, { resolveKey }),
  },
  {
    name: 'jsonwebtoken verify',
    kind: 'verify',
    ours: false,
    sync: () => jsonwebtoken.verify(TOKEN, jwtKey, { algorithms: ['HS256'] }),
  },
  {
    name: 'fast-jwt createVerifier (no cache)',
    kind: 'verify',
    ours: false,
    sync: () => fastVerify(TOKEN),
  },
  {
    name: 'jose jwtVerify (async)',
    kind: 'verify',
    ours: false,
    async: () => jwtVerify(TOKEN, joseKey, { algorithms: ['HS256'] }),
  },
]

interface Sample {
  /** Operations per wall-clock second. */
  wall: number
  /** Operations per second of CPU time used by this process (all its threads, GC included). */
  cpu: number
}

async function measure(c: Contestant, ms: number): Promise<Sample> {
  const end = performance.now() + ms
  let ops = 0
  const start = performance.now()
  const cpu0 = process.cpuUsage()
  if (c.sync) {
    const f = c.sync
    while (performance.now() < end) {
      for (let i = 0; i < 500; i++) f()
      ops += 500
    }
  } else {
    const f = c.async!
    while (performance.now() < end) {
      for (let i = 0; i < 200; i++) await f()
      ops += 200
    }
  }
  const wallMs = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  const cpuMs = (cpu.user + cpu.system) / 1000
  return { wall: (ops * 1000) / wallMs, cpu: (ops * 1000) / Math.max(cpuMs, 1) }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

async function main(): Promise<void> {
  // Sanity: every verifier accepts the token, every minter produces something the Parley verifier accepts
  // (except the generic ones, whose payloads lack iat-free shapes; they are checked for a 3-segment string).
  for (const c of contestants) {
    const out = c.sync ? c.sync() : await c.async!()
    if (c.kind === 'mint' && (typeof out !== 'string' || out.split('.').length !== 3)) {
      throw new Error(`${c.name} did not mint a JWT`)
    }
  }
  verifyAccessTokenSync(twilioMint(), { resolveKey })

  console.log(
    `@parley/token bench: node ${process.version}, ${ROUNDS} interleaved rounds × ${SLICE_MS} ms per contestant`,
  )
  // Warm-up (JIT) for every contestant.
  for (const c of contestants) await measure(c, 150)

  const results = new Map<Contestant, Sample[]>(contestants.map((c) => [c, []]))
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so that no contestant always runs first or last.
    const order = contestants.map((_, i) => contestants[(i + r) % contestants.length]!)
    for (const c of order) results.get(c)!.push(await measure(c, SLICE_MS))
    process.stdout.write(`  round ${r + 1}/${ROUNDS} done\n`)
  }

  const wall = (c: Contestant) => results.get(c)!.map((x) => x.wall)
  const cpu = (c: Contestant) => results.get(c)!.map((x) => x.cpu)
  for (const kind of ['mint', 'verify'] as const) {
    const group = contestants.filter((c) => c.kind === kind)
    const ours = group.find((c) => c.ours)!
    const oursWall = median(wall(ours))
    const oursCpu = median(cpu(ours))
    console.log(
      `\n${kind === 'mint' ? 'Mint' : 'Verify'}: ops/s, median of ${ROUNDS} rounds ` +
        '(wall clock, and per CPU-second of this process); ratio = ours / theirs',
    )
    console.log(
      `  ${'library'.padEnd(40)} ${'wall ops/s'.padStart(11)} ${'ratio'.padStart(8)} ${'cpu ops/s'.padStart(11)} ${'ratio'.padStart(8)}`,
    )
    for (const c of group) {
      const w = median(wall(c))
      const u = median(cpu(c))
      const r = (x: number, y: number) => (c === ours ? '—' : `${(x / y).toFixed(2)}×`)
      console.log(
        `  ${c.name.padEnd(40)} ${fmt(w).padStart(11)} ${r(oursWall, w).padStart(8)} ${fmt(u).padStart(11)} ${r(oursCpu, u).padStart(8)}`,
      )
    }
  }
  const mintOurs = contestants[0]!
  const verifyOurs = contestants[5]!
  const line = (name: string, c: Contestant, target: number) => {
    const w = median(wall(c))
    const u = median(cpu(c))
    return `${name} ≥ ${fmt(target)}/s: wall ${fmt(w)}, cpu ${fmt(u)} → ${Math.max(w, u) >= target ? 'OK' : 'BELOW'}`
  }
  console.log(
    `\nTargets on one core: ${line('mint', mintOurs, 200_000)}; ${line('strict verify', verifyOurs, 180_000)}`,
  )
  const load = (await import('node:os')).loadavg()[0]!
  if (load > 1.5) {
    console.log(
      `Note: load average ${load.toFixed(2)} during the run; wall-clock figures are depressed by other processes.`,
    )
  }
}

await main()
