/**
 * Random bytes for IKE (cookies, nonces, SPIs, message IDs, Diffie-Hellman
 * exponents) drawn from a pool refilled from the CSPRNG 4 KiB at a time:
 * one randomFillSync per ~80 exchanges instead of one call per value. Each
 * value is copied out and its bytes in the pool are zeroed, so the pool
 * never holds a copy of a secret already handed out.
 */
import { randomFillSync } from 'node:crypto'

const POOL_SIZE = 4096
const pool = Buffer.alloc(POOL_SIZE)
let offset = POOL_SIZE

/** `bytes` fresh random bytes in a new Buffer of their own. */
export function randomBytesPooled(bytes: number): Buffer {
  if (bytes > POOL_SIZE / 4) return randomFillSync(Buffer.alloc(bytes))
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool)
    offset = 0
  }
  const out = Buffer.alloc(bytes)
  pool.copy(out, 0, offset, offset + bytes)
  pool.fill(0, offset, offset + bytes)
  offset += bytes
  return out
}
