/**
 * Batches cross the native boundary as one Buffer and n + 1 offsets:
 * packet i is `data.subarray(offsets[i], offsets[i + 1])`.
 */
export interface Batch {
  data: Buffer
  offsets: Uint32Array
}

/** Packs packets back to back into one batch. */
export function packBatch(packets: readonly Uint8Array[]): Batch {
  const offsets = new Uint32Array(packets.length + 1)
  let total = 0
  packets.forEach((p, i) => {
    total += p.length
    offsets[i + 1] = total
  })
  const data = Buffer.allocUnsafe(total)
  packets.forEach((p, i) => data.set(p, offsets[i]))
  return { data, offsets }
}

/** Views (not copies) of each packet of a batch. */
export function unpackBatch(batch: Batch): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i + 1 < batch.offsets.length; i++) {
    out.push(batch.data.subarray(batch.offsets[i], batch.offsets[i + 1]))
  }
  return out
}
