/**
 * The socket process's pipe records (`realtime/pump/records.ts`): whatever the batching on the writing side and the
 * chunking on the reading side, the reader gives back every record, in order, byte for byte.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { closePayload, RecordReader, RecordWriter, u16 } from '../../src/realtime/pump/records.ts'

const record = fc.record({
  type: fc.integer({ min: 1, max: 255 }),
  id: fc.integer({ min: 0, max: 0xffff_ffff }),
  a: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
  b: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
})

test('records survive any batching and any split of the byte stream', () => {
  fc.assert(
    fc.property(
      fc.array(record, { maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.nat({ max: 40 }), { maxLength: 5 }),
      (records, cuts, flushAt) => {
        const chunks: Buffer[] = []
        const w = new RecordWriter((c) => chunks.push(c))
        records.forEach((r, i) => {
          w.add(r.type, r.id, r.a, r.b)
          if (flushAt.includes(i)) w.flush()
        })
        w.flush()
        const stream = Buffer.concat(chunks)
        const got: { type: number; id: number; payload: Buffer }[] = []
        const reader = new RecordReader((type, id, payload) =>
          got.push({ type, id, payload: Buffer.from(payload) }),
        )
        let at = 0
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!
          reader.push(stream.subarray(at, at + n))
          at += n
        }
        assert.deepEqual(
          got,
          records.map((r) => ({
            type: r.type,
            id: r.id,
            payload: Buffer.concat([r.a ?? Buffer.alloc(0), r.b ?? Buffer.alloc(0)]),
          })),
        )
      },
    ),
    { numRuns: 300 },
  )
})

test('a batch is written once, after the current callback; a large one early', async () => {
  const chunks: Buffer[] = []
  const w = new RecordWriter((c) => chunks.push(c))
  w.add(1, 1, Buffer.from('a'))
  w.add(1, 2, Buffer.from('b'))
  assert.equal(chunks.length, 0)
  await new Promise((r) => process.nextTick(r))
  assert.equal(chunks.length, 1)
  const big = Buffer.alloc(300 * 1024)
  w.add(1, 3, big)
  assert.equal(chunks.length, 2, 'past the flush threshold the batch goes at once')
  const it = new RecordWriter((c) => chunks.push(c), 'iteration')
  it.add(2, 1)
  await new Promise((r) => process.nextTick(r))
  assert.equal(chunks.length, 2, "'iteration' waits for the end of the event-loop iteration")
  await new Promise((r) => setImmediate(r))
  assert.equal(chunks.length, 3)
})

test('close payloads carry the code and the UTF-8 reason; a record shorter than its header is refused', () => {
  const p = closePayload(4008, 'slow ✓')
  assert.equal(p.readUInt16LE(0), 4008)
  assert.equal(p.subarray(2).toString('utf8'), 'slow ✓')
  assert.equal(u16(1006).readUInt16LE(0), 1006)
  const reader = new RecordReader(() => assert.fail('no record expected'))
  assert.throws(() => reader.push(Buffer.from([2, 0, 0, 0, 1, 0])), /malformed record/)
})
