/**
 * Mutation of real inputs, as fast-check arbitraries: a fuzz input is one
 * of the recorded messages (the seeds) with a short list of edits applied,
 * the edits libFuzzer's mutators make (bit flips, interesting bytes and
 * 16/32-bit values, inserted, deleted, duplicated and truncated ranges,
 * splices with another seed). Edits are plain JSON so a failing input can
 * be kept as a test vector and replayed; positions are taken modulo the
 * length at the time the edit applies, so every edit applies to any input.
 */
import fc from 'fast-check'

export type Edit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'byte'; at: number; value: number }
  | { op: 'u16'; at: number; value: number }
  | { op: 'u32'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: number[] }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicate'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; seed: number; at: number; from: number }

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff]
const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff]
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]

const position = fc.nat({ max: 0xffff })

export const editArbitrary: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('byte' as const), at: position, value: fc.oneof(fc.constantFrom(...INTERESTING_8), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('u16' as const), at: position, value: fc.oneof(fc.constantFrom(...INTERESTING_16), fc.integer({ min: 0, max: 0xffff })) }),
  fc.record({ op: fc.constant('u32' as const), at: position, value: fc.constantFrom(...INTERESTING_32) }),
  fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 24 }) }),
  fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({ op: fc.constant('splice' as const), seed: fc.nat({ max: 0xffff }), at: position, from: position }),
)

/** Applies `edits` to a copy of `input`; `seeds` feed the splices. */
export function applyEdits(input: Uint8Array, edits: readonly Edit[], seeds: readonly Uint8Array[] = []): Buffer {
  let b = Buffer.from(input)
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % b.length
    switch (e.op) {
      case 'flip':
        if (b.length) b[at] = b[at]! ^ (1 << e.bit)
        break
      case 'byte':
        if (b.length) b[at] = e.value
        break
      case 'u16':
        if (b.length >= 2) b.writeUInt16BE(e.value, Math.min(at, b.length - 2))
        break
      case 'u32':
        if (b.length >= 4) b.writeUInt32BE(e.value, Math.min(at, b.length - 4))
        break
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)])
        break
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.length)])
        break
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + e.length), b.subarray(at, at + e.length), b.subarray(at + e.length)])
        break
      case 'truncate':
        b = b.subarray(0, at)
        break
      case 'splice': {
        const other = seeds.length ? seeds[e.seed % seeds.length]! : b
        const from = other.length ? e.from % other.length : 0
        b = Buffer.concat([b.subarray(0, at), Buffer.from(other.subarray(from))])
        break
      }
    }
  }
  return b
}

/** A seed with up to `maxEdits` edits; now and then raw random bytes instead. */
export function mutatedBytes(seeds: readonly Uint8Array[], maxEdits = 6): fc.Arbitrary<Buffer> {
  if (seeds.length === 0) throw new Error('mutatedBytes needs at least one seed')
  const fromSeed = fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(editArbitrary, { maxLength: maxEdits }))
    .map(([i, edits]) => applyEdits(seeds[i]!, edits, seeds))
  const random = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a))
  return fc.oneof({ arbitrary: fromSeed, weight: 9 }, { arbitrary: random, weight: 1 })
}
