/**
 * A copy of `b` in an ArrayBuffer of its own. Small Buffers from
 * Buffer.from, Buffer.concat, allocUnsafe and subarrays of a received
 * datagram are views into a shared, pooled 8 KiB slab, and one live view
 * keeps the whole slab: state held for as long as a session lives should
 * not be such a view (measured: ~12 KB per established session at 1,000
 * sessions, bench/README.md "Sessions at scale").
 */
export function owned(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length)
  b.copy(copy)
  return copy
}
