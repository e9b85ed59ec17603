/**
 * mulberry32: a small deterministic generator, so lossy links, random
 * operations and "random" IDs replay exactly per seed in the tests.
 */

/** Unsigned 32-bit values. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** Floats in [0, 1). */
export function prng(seed: number): () => number {
  const next = mulberry32(seed)
  return () => next() / 4294967296
}

/** Bytes (the low byte of each value), in the shape of a `random(size)` option. */
export function seededBytes(seed: number): (size: number) => Buffer {
  const next = mulberry32(seed)
  return (size) => {
    const out = Buffer.alloc(size)
    for (let i = 0; i < size; i++) out[i] = next() & 0xff
    return out
  }
}
