/**
 * A copy of `bytes` in memory of its own. Buffer.from(buffer) and the
 * other small allocations share 8 KiB pool slabs: one small copy kept for
 * the life of a session (a cookie, a vendor ID, the last Configure-Ack)
 * then keeps a whole slab alive, and at 10,000 idle sessions those slabs
 * were most of the memory a session cost (issue #9). Use it for what is
 * kept long, and for frames whose slices may be.
 */
export function ownCopy(bytes: Uint8Array): Buffer {
  const copy = new Uint8Array(bytes.length)
  copy.set(bytes)
  return Buffer.from(copy.buffer, 0, copy.length)
}

/**
 * `bytes` itself when it already owns its whole memory (not a slice of a
 * pool slab or of a larger buffer), else an ownCopy: for what is kept
 * long and usually comes freshly made (an encoded IKE message kept for
 * retransmission), so that keeping it costs no copy.
 */
export function ownMemory(bytes: Buffer): Buffer {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? bytes : ownCopy(bytes)
}
