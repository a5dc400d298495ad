/**
 * Push credentials (account level). Secrets are sealed with AAD `accountSid|credentialSid|v1` and never returned.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { CredentialRow } from '../ports/store.ts'
import type { CredentialsApi } from './api.ts'
import { accountRows, requireAdmin, type Ctx } from './context.ts'
import { LIMITS, PUSH_TYPES, checkFriendlyName } from './rules.ts'
import type { Credential, CredentialInput, PushType } from './types.ts'

const toCredential = ({ secretsSealed: _s, ...c }: CredentialRow): Credential => c
const aad = (accountSid: string, sid: string): string => `${accountSid}|${sid}|v1`
const SECRET_FIELDS = ['certificate', 'privateKey', 'apiKey', 'secret'] as const

function checkSecret(v: unknown, name: string): string | null {
  if (v === null || v === '') return null
  if (typeof v !== 'string' || v.length > 16384) throw new ChatError(20001, `Invalid ${name}`)
  return v
}

/** The Credentials API (admin only). */
export function credentialsApi(ctx: Ctx): CredentialsApi {
  const { vault } = ctx.deps
  const creds = accountRows(ctx, {
    guard: requireAdmin,
    prefix: 'CR',
    notFound: 'Credential not found',
    repo: (tx) => tx.credentials,
    toPublic: toCredential,
  })
  const apply = (row: CredentialRow, input: CredentialInput): CredentialRow => {
    const next = { ...row }
    if (input.friendlyName !== undefined)
      next.friendlyName = checkFriendlyName(input.friendlyName, LIMITS.uniqueNameCreate)
    if (input.sandbox !== undefined)
      next.sandbox = input.sandbox === null ? null : String(input.sandbox)
    const secrets: Record<string, string | null> =
      row.secretsSealed === null
        ? {}
        : (JSON.parse(
            vault.open(row.secretsSealed, aad(row.accountSid, row.sid)) ?? '{}',
          ) as Record<string, string | null>)
    let changed = false
    for (const f of SECRET_FIELDS) {
      if (input[f] !== undefined) {
        secrets[f] = checkSecret(input[f], f)
        changed = true
      }
    }
    if (changed)
      next.secretsSealed = vault.seal(JSON.stringify(secrets), aad(row.accountSid, row.sid))
    return next
  }
  return {
    async create(actor, input) {
      requireAdmin(actor)
      const type = input.type
      if (!(PUSH_TYPES as readonly unknown[]).includes(type))
        throw new ChatError(20001, 'Type must be gcm, apn or fcm')
      return ctx.write(async (w) => {
        const base: CredentialRow = {
          sid: w.sid('CR'),
          accountSid: actor.accountSid,
          friendlyName: null,
          type: type as PushType,
          sandbox: null,
          createdAt: w.now,
          updatedAt: w.now,
          secretsSealed: null,
        }
        const row = apply(base, input)
        await w.tx.credentials.put(row)
        return toCredential(row)
      })
    },
    list: creds.list,
    fetch: creds.fetch,
    async update(actor, sid, input) {
      requireAdmin(actor)
      if (input.type !== undefined) throw new ChatError(20001, 'Type cannot be changed')
      return ctx.write(async (w) => {
        const row = apply(await creds.load(w.tx, actor.accountSid, sid), input)
        row.updatedAt = w.now
        await w.tx.credentials.put(row)
        return toCredential(row)
      })
    },
    async delete(actor, sid) {
      requireAdmin(actor)
      await ctx.write(async (w) => {
        const row = await creds.load(w.tx, actor.accountSid, sid)
        await w.tx.credentials.delete(row.sid)
      })
    },
  }
}
