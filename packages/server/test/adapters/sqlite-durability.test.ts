import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { sqliteStore } from '../../src/adapters/store/sqlite.ts'

const child = fileURLToPath(new URL('./fixtures/durability-child.js', import.meta.url))

test('every write acknowledged before kill -9 survives, indexes stay contiguous, integrity_check is ok', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-durability-'))
  try {
    // 1. Run the writer until it has acknowledged a good number of messages, then SIGKILL it mid-stream.
    const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    const acked: { id: string; channel: string; index: number }[] = []
    let buf = ''
    await new Promise<void>((resolve, reject) => {
      proc.on('error', reject)
      proc.on('exit', () => resolve())
      proc.stdout.setEncoding('utf8')
      proc.stdout.on('data', (chunk: string) => {
        buf += chunk
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          const [kind, id, channel, index] = line.split(' ')
          if (kind === 'ACK') acked.push({ id: id!, channel: channel!, index: Number(index) })
          if (acked.length === 1500) proc.kill('SIGKILL')
        }
      })
      setTimeout(() => proc.kill('SIGKILL'), 20_000).unref()
    })
    assert.ok(acked.length >= 1500, `only ${acked.length} acks before exit`)

    // 2. Reopen (takes over the dead process's lock) and check every acknowledged message.
    const store = sqliteStore({ dataDir: dir })
    assert.equal(store.integrityCheck(), 'ok')
    await store.read(async (tx) => {
      for (const a of acked) {
        const m = await tx.messages.getByIndex(a.channel, a.index)
        assert.equal(m?.body, a.id, `acknowledged message ${a.id} is missing`)
      }
      // 3. Indexes 0..n-1 contiguous per channel, and the channel counter matches.
      for (const ch of new Set(acked.map((a) => a.channel))) {
        const channel = await tx.channels.get(ch)
        const all = await tx.messages.list(ch, { limit: 1_000_000 })
        assert.deepEqual(
          all.map((m) => m.index),
          all.map((_, i) => i),
        )
        assert.equal(channel?.messagesCount, all.length)
        assert.equal(channel?.nextMessageIndex, all.length)
        assert.equal(await tx.events.lastSeq(`messages:${ch}`), all.length)
      }
    })
    await store.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
