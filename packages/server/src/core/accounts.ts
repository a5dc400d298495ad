/**
 * Accounts, API keys, Basic authentication, key resolution for token verification, and bootstrap.
 *
 * Secrets (reliability.md §2.10): auth tokens and key secrets are sealed with the {@link Vault} (AES-256-GCM) —
 * encrypted, not hashed, because HMAC verification and webhook signing need the plaintext. Comparisons go through
 * `vault.equal` (SHA-256 digests + timing-safe compare); an unknown SID still does one dummy comparison.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { AccountRow, ApiKeyRow } from '../ports/store.ts'
import type { AccountsApi, KeysApi } from './api.ts'
import { accountRows, requireAdmin, streams, type Ctx, type Wtx } from './context.ts'
import { LIMITS, checkFriendlyName, isSid } from './rules.ts'
import { createServiceTx } from './services.ts'
import type { Account, ApiKey, BasicPrincipal, BootstrapResult, NewApiKey } from './types.ts'

/** AAD of an account's sealed auth token. */
export const authTokenAad = (accountSid: string): string => `${accountSid}|auth|v1`
/** AAD of an API key's sealed secret (access-tokens.md §11). */
export const keySecretAad = (accountSid: string, keySid: string): string =>
  `${accountSid}|${keySid}|v1`

const toAccount = ({ authTokenSealed: _s, ...a }: AccountRow): Account => a
const toKey = ({ secretSealed: _s, ...k }: ApiKeyRow): ApiKey => k

/** Creates an account row with a fresh auth token inside `w`. */
export async function createAccountTx(
  ctx: Ctx,
  w: Wtx,
  friendlyName: string,
): Promise<{ account: Account; authToken: string }> {
  const sid = w.sid('AC')
  const authToken = ctx.deps.ids.secret(16)
  const row: AccountRow = {
    sid,
    friendlyName,
    status: 'active',
    createdAt: w.now,
    updatedAt: w.now,
    authTokenSealed: ctx.deps.vault.seal(authToken, authTokenAad(sid)),
  }
  await w.tx.accounts.put(row)
  return { account: toAccount(row), authToken }
}

/** Creates an API key inside `w`; the plaintext secret is returned here only. */
export async function createKeyTx(
  ctx: Ctx,
  w: Wtx,
  accountSid: string,
  friendlyName: string,
): Promise<NewApiKey> {
  const sid = w.sid('SK')
  const secret = ctx.deps.ids.secret(16)
  const row: ApiKeyRow = {
    sid,
    accountSid,
    friendlyName,
    createdAt: w.now,
    updatedAt: w.now,
    secretSealed: ctx.deps.vault.seal(secret, keySecretAad(accountSid, sid)),
  }
  await w.tx.apiKeys.put(row)
  return { ...toKey(row), secret }
}

/** The Accounts API. */
export function accountsApi(ctx: Ctx): AccountsApi {
  return {
    async create(input) {
      const name = checkFriendlyName(input.friendlyName, LIMITS.friendlyName) ?? 'Parley account'
      return ctx.write((w) => createAccountTx(ctx, w, name))
    },
    async fetch(actor, accountSid) {
      requireAdmin(actor)
      if (accountSid !== actor.accountSid) throw new ChatError(20404, 'Account not found')
      return ctx.read(async (tx) => {
        const row = await tx.accounts.get(accountSid)
        if (row === undefined) throw new ChatError(20404, 'Account not found')
        return toAccount(row)
      })
    },
  }
}

/** The API keys API. */
export function keysApi(ctx: Ctx): KeysApi {
  const name = (v: string | undefined): string => checkFriendlyName(v, LIMITS.keyFriendlyName) ?? ''
  const keys = accountRows(ctx, {
    guard: requireKeyAdmin,
    prefix: 'SK',
    notFound: 'Key not found',
    repo: (tx) => tx.apiKeys,
    toPublic: toKey,
  })
  return {
    async create(actor, input) {
      requireKeyAdmin(actor)
      const friendlyName = name(input.friendlyName)
      return ctx.write((w) => createKeyTx(ctx, w, actor.accountSid, friendlyName))
    },
    list: keys.list,
    fetch: keys.fetch,
    async update(actor, keySid, input) {
      requireKeyAdmin(actor)
      const friendlyName = input.friendlyName === undefined ? undefined : name(input.friendlyName)
      return ctx.write(async (w) => {
        const row = await keys.load(w.tx, actor.accountSid, keySid)
        const next: ApiKeyRow = {
          ...row,
          friendlyName: friendlyName ?? row.friendlyName,
          updatedAt: w.now,
        }
        await w.tx.apiKeys.put(next)
        return toKey(next)
      })
    },
    async delete(actor, keySid) {
      requireKeyAdmin(actor)
      await ctx.write(async (w) => {
        const row = await keys.load(w.tx, actor.accountSid, keySid)
        await w.tx.apiKeys.delete(row.sid)
        await w.emit(
          streams.keys(row.accountSid),
          'key_removed',
          row.sid,
          { accountSid: row.accountSid, serviceSid: null },
          () => toKey(row),
        )
        w.notify({ type: 'key_revoked', accountSid: row.accountSid, keySid: row.sid })
      })
    },
  }
}

function requireKeyAdmin(
  actor: Parameters<typeof requireAdmin>[0],
): asserts actor is { kind: 'admin'; accountSid: string } {
  if (actor.kind !== 'admin') throw new ChatError(20006)
}

// A sealed value that never opens, compared against on unknown SIDs so every failure costs the same.
const DUMMY_SECRET = '00000000000000000000000000000000'

/** Basic authentication (uniform 20003 on every failure). */
export async function authenticateBasic(
  ctx: Ctx,
  username: string,
  password: string,
): Promise<BasicPrincipal> {
  const { vault } = ctx.deps
  const fail = (): ChatError => new ChatError(20003)
  if (typeof username !== 'string' || typeof password !== 'string') throw fail()
  const found = await ctx.read(async (tx) => {
    if (isSid('AC', username)) {
      const row = await tx.accounts.get(username)
      if (row === undefined || row.status !== 'active') return undefined
      const token = vault.open(row.authTokenSealed, authTokenAad(row.sid))
      return token === undefined
        ? undefined
        : {
            expected: token,
            principal: { accountSid: row.sid, via: 'account' as const, keySid: null },
          }
    }
    if (isSid('SK', username)) {
      const row = await tx.apiKeys.get(username)
      if (row === undefined) return undefined
      const account = await tx.accounts.get(row.accountSid)
      if (account === undefined || account.status !== 'active') return undefined
      const secret = vault.open(row.secretSealed, keySecretAad(row.accountSid, row.sid))
      return secret === undefined
        ? undefined
        : {
            expected: secret,
            principal: { accountSid: row.accountSid, via: 'key' as const, keySid: row.sid },
          }
    }
    return undefined
  })
  // Exactly one constant-time comparison on every path.
  const ok = vault.equal(found?.expected ?? DUMMY_SECRET, password)
  if (found === undefined || !ok) throw fail()
  return found.principal
}

/** The secret and account of an active API key, or undefined. */
export async function resolveApiKey(
  ctx: Ctx,
  keySid: string,
): Promise<{ secret: string; accountSid: string } | undefined> {
  if (typeof keySid !== 'string' || !isSid('SK', keySid)) return undefined
  return ctx.read(async (tx) => {
    const row = await tx.apiKeys.get(keySid)
    if (row === undefined) return undefined
    const account = await tx.accounts.get(row.accountSid)
    if (account === undefined || account.status !== 'active') return undefined
    const secret = ctx.deps.vault.open(row.secretSealed, keySecretAad(row.accountSid, row.sid))
    return secret === undefined ? undefined : { secret, accountSid: row.accountSid }
  })
}

/** The decrypted auth token of an account, or undefined. */
export async function resolveAuthToken(ctx: Ctx, accountSid: string): Promise<string | undefined> {
  if (typeof accountSid !== 'string' || !isSid('AC', accountSid)) return undefined
  return ctx.read(async (tx) => {
    const row = await tx.accounts.get(accountSid)
    return row === undefined
      ? undefined
      : ctx.deps.vault.open(row.authTokenSealed, authTokenAad(row.sid))
  })
}

/** Creates account + key + default service in one transaction. */
export async function bootstrap(
  ctx: Ctx,
  input: { friendlyName?: string; serviceFriendlyName?: string } = {},
): Promise<BootstrapResult> {
  const accountName = checkFriendlyName(input.friendlyName, LIMITS.friendlyName) ?? 'Parley account'
  const serviceName =
    checkFriendlyName(input.serviceFriendlyName, LIMITS.friendlyName) ?? 'Default service'
  return ctx.write(async (w) => {
    const { account, authToken } = await createAccountTx(ctx, w, accountName)
    const apiKey = await createKeyTx(ctx, w, account.sid, 'bootstrap')
    const service = await createServiceTx(w, account.sid, serviceName)
    return { account, authToken, apiKey, service }
  })
}
