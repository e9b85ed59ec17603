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
 * Copies of `parts` in one allocation of their own, as Buffers over it in
 * order. For what one owner keeps together for its life (an IKE SA's
 * cookies and keys): each ArrayBuffer costs its own JS object and native
 * backing store besides its bytes, so six small copies in one cost ~1 KB
 * less than six apart (issue #9).
 */
export function ownCopies(parts: readonly Uint8Array[]): Buffer[] {
  let total = 0
  for (const p of parts) total += p.length
  const memory = new Uint8Array(total)
  const out: Buffer[] = []
  let at = 0
  for (const p of parts) {
    memory.set(p, at)
    out.push(Buffer.from(memory.buffer, at, p.length))
    at += p.length
  }
  return out
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
