/**
 * The unacked-packet window: the same answers as a Map of outstanding sequence numbers to sizes, for any interleaving of
 * sends and acks (in order, out of order, repeated, never sent), across ring growth and wrap-around; and packet ids
 * parse back to their counter only in the session's own canonical form.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { AckWindow, packetSeq } from '../../src/compat/twilio/twilsock/ack-window.ts'

type Op = { kind: 'send'; gap: number } | { kind: 'ack'; pick: number; stale: boolean }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), gap: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant('ack' as const),
    pick: fc.nat(),
    stale: fc.boolean(),
  }),
)

test('AckWindow answers like a Map of outstanding sequence numbers to their sizes', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), fc.boolean(), (ops, inOrder) => {
      const w = new AckWindow()
      const model = new Map<number, number>()
      const total = (): number => [...model.values()].reduce((a, b) => a + b, 0)
      const sent: number[] = []
      let seq = 0
      for (const o of ops) {
        if (o.kind === 'send') {
          seq += o.gap // ids of untracked packets (a close) leave gaps
          const bytes = (seq * 37) % 1000
          w.add(seq, bytes)
          model.set(seq, bytes)
          sent.push(seq)
          continue
        }
        // Mostly acks of outstanding packets (the oldest one when in order), sometimes of anything ever sent
        // (repeats) or of a number never sent.
        const outstanding = [...model.keys()]
        let target: number
        if (o.stale || outstanding.length === 0)
          target = sent.length ? sent[o.pick % sent.length]! : o.pick
        else target = inOrder ? outstanding[0]! : outstanding[o.pick % outstanding.length]!
        if (o.stale && o.pick % 5 === 0) target = seq + 1 + (o.pick % 7)
        assert.equal(w.ack(target), model.delete(target), `ack ${target}`)
        assert.equal(w.size, model.size)
        assert.equal(w.bytes, total())
      }
      assert.equal(w.size, model.size)
      // Everything still outstanding can be acked exactly once, in any order.
      for (const s of [...model.keys()].reverse()) assert.equal(w.ack(s), true)
      assert.equal(w.size, 0)
      assert.equal(w.bytes, 0)
      for (const s of sent) assert.equal(w.ack(s), false)
    }),
    { numRuns: 300 },
  )
})

test('AckWindow stays small: a long stream acked in order or in swapped pairs, and a packet never acked', () => {
  for (const swap of [false, true]) {
    const w = new AckWindow()
    for (let s = 1; s <= 100_000; s++) {
      w.add(s)
      // Swapped pairs leave an acked entry behind the head, which must go once the head reaches it.
      if (s >= 4 && s % 2 === 0) {
        assert.equal(w.ack(swap ? s - 2 : s - 3), true)
        assert.equal(w.ack(swap ? s - 3 : s - 2), true)
      }
    }
    assert.equal(w.size, 2)
    assert.ok(w.capacity <= 8, `capacity ${w.capacity}`)
  }
  // A client that never acks packet 1 (and acks everything else): the acked entries behind it are compacted away.
  const stuck = new AckWindow()
  for (let s = 1; s <= 100_000; s++) {
    stuck.add(s)
    if (s > 1) assert.equal(stuck.ack(s), true)
  }
  assert.equal(stuck.size, 1)
  assert.ok(stuck.capacity <= 8, `capacity ${stuck.capacity}`)
  assert.equal(stuck.ack(1), true)
  assert.equal(stuck.size, 0)
  const w = new AckWindow()
  w.add(1)
  for (const bad of [0, -1, NaN, 1.5, Infinity]) assert.equal(w.ack(bad), false)
  assert.equal(w.size, 1)
})

test('packetSeq reads back exactly the ids the session writes', () => {
  const prefix = 'TMabc123def456'
  fc.assert(
    fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (n) => {
      const id = `${prefix}${n.toString(36)}`
      assert.equal(packetSeq(id, prefix), n.toString(36).length <= 10 ? n : -1)
    }),
  )
  for (const bad of [
    prefix, // no counter
    `${prefix}0`, // zero
    `${prefix}01`, // leading zero: not how the session writes 1
    `${prefix}A`, // upper case
    `${prefix}1-`,
    `TMabc123def457${'1'}`, // another session's prefix
    `${prefix}${'z'.repeat(11)}`, // longer than any safe counter
    '',
  ]) {
    assert.equal(packetSeq(bad, prefix), -1, bad)
  }
})
