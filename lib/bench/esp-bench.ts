/** Single-core ESP seal/open throughput through the native batch API. */
import crypto from 'node:crypto'
import { EspSa, espSuiteInfo, packBatch } from '../esp/index.js'

export interface Throughput {
  gbps: number
  pps: number
}

/** Packets per call: large enough that the JS/native crossing is amortised. */
const BATCH = 256

function timeLoop(seconds: number, step: () => number): Throughput & { bytes: number } {
  // One warm-up call so JIT and caches settle.
  step()
  let packets = 0
  let bytes = 0
  const start = process.hrtime.bigint()
  const budget = BigInt(Math.round(seconds * 1e9))
  let elapsed = 0n
  do {
    bytes += step()
    packets += BATCH
    elapsed = process.hrtime.bigint() - start
  } while (elapsed < budget)
  const s = Number(elapsed) / 1e9
  return { gbps: (bytes * 8) / s / 1e9, pps: packets / s, bytes }
}

export function benchEsp(suite: string, op: 'seal' | 'open', bytes: number, seconds: number): Throughput {
  const info = espSuiteInfo(suite)
  const options = {
    spi: 0x1000,
    suite,
    encryptionKey: crypto.randomBytes(info.encryptionKeyLength),
    integrityKey: crypto.randomBytes(info.integrityKeyLength),
  }
  const tx = new EspSa(options)
  // Opening the same batch again and again would be all replays: measure
  // open with the window off (its check is a few instructions per packet).
  const rx = new EspSa({ ...options, replayWindow: 0 })
  const batch = packBatch(Array.from({ length: BATCH }, () => crypto.randomBytes(bytes)))
  const out = Buffer.alloc(tx.sealedLength(bytes) * BATCH)
  const outOffsets = new Uint32Array(BATCH + 1)
  const payloadBytes = bytes * BATCH
  try {
    if (op === 'seal') {
      const r = timeLoop(seconds, () => (tx.sealInto(batch.data, batch.offsets, 17, out, outOffsets), payloadBytes))
      return { gbps: r.gbps, pps: r.pps }
    }
    tx.sealInto(batch.data, batch.offsets, 17, out, outOffsets)
    // openInPlace overwrites the packets with plaintext: restore them
    // before each call (a memcpy, counted against us).
    const work = Buffer.alloc(out.length)
    const payloads = new Uint32Array(2 * BATCH)
    const nextHeaders = new Uint8Array(BATCH)
    const status = new Uint8Array(BATCH)
    const r = timeLoop(seconds, () => {
      out.copy(work)
      const opened = rx.openInPlace(work, outOffsets, payloads, nextHeaders, status)
      if (opened !== BATCH) throw new Error(`${suite}: a benchmark packet failed to open`)
      return payloadBytes
    })
    return { gbps: r.gbps, pps: r.pps }
  } finally {
    tx.destroy()
    rx.destroy()
  }
}
