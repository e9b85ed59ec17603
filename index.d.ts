/**
 * l2tp-ipsec: an L2TP/IPsec VPN server for Linux gateways, with a Rust data
 * plane. This file is the package's public API.
 *
 * Today the package holds its foundation: ESP packet protection (RFC 4303)
 * in the native data plane, exposed for tests, benchmarks and tools. The
 * server (`L2tpServer`) and client (`L2tpClient`) build on it.
 */
import type { EspSaOptions, EspSaStats, EspSuiteInfo, OpenedBatch, PacketBatch } from './native/index.js'

export type { EspSaOptions, EspSaStats, EspSuiteInfo, OpenedBatch, PacketBatch }

/**
 * One ESP security association. The same object seals (outbound sequence
 * counter) and opens (inbound anti-replay window). Keys cross into native
 * memory once and are zeroed by `destroy()` or when the object is collected.
 *
 * Errors thrown carry a stable `code`: `ERR_ESP_UNKNOWN_SUITE`,
 * `ERR_ESP_KEY_LENGTH`, `ERR_ESP_WEAK_KEY`, `ERR_ESP_REPLAY_WINDOW`,
 * `ERR_ESP_BATCH`, `ERR_ESP_BUFFER_TOO_SMALL`, `ERR_ESP_SEQUENCE_EXHAUSTED`,
 * `ERR_ESP_SA_DESTROYED`. A malformed packet is never thrown: it is dropped,
 * counted, and reported by a per-packet status (see `ESP_STATUS`).
 */
export declare class EspSa {
  constructor(options: EspSaOptions)
  get spi(): number
  get suite(): string
  /** Bytes an ESP packet carrying `payloadLength` bytes takes. */
  sealedLength(payloadLength: number): number
  /** Seals a batch (packet i is `data[offsets[i]..offsets[i+1]]`) with one next header (4 IPv4, 41 IPv6, 17 UDP). */
  seal(data: Buffer, offsets: Uint32Array, nextHeader: number): PacketBatch
  /** Seals into caller-owned buffers; returns the bytes written. */
  sealInto(data: Buffer, offsets: Uint32Array, nextHeader: number, out: Buffer, outOffsets: Uint32Array): number
  /** Opens a batch into a new Buffer; bad packets get a non-zero status. */
  open(data: Buffer, offsets: Uint32Array): OpenedBatch
  /** Opens a batch in place; payload i is `data[payloads[2i]..payloads[2i+1]]`. Returns how many opened. */
  openInPlace(data: Buffer, offsets: Uint32Array, payloads: Uint32Array, nextHeaders: Uint8Array, status: Uint8Array): number
  stats(): EspSaStats
  /** Zeroes the keys now; later calls throw `ERR_ESP_SA_DESTROYED`. */
  destroy(): void
}

/** Every ESP suite name an SA accepts (`aes128gcm-16`, `aes128-sha1`, `3des-md5`, `aes256-sha256_96`, ...). */
export declare function espSuites(): string[]
/** Key and field sizes of a suite; throws `ERR_ESP_UNKNOWN_SUITE`. */
export declare function espSuiteInfo(name: string): EspSuiteInfo
/** Names of per-packet statuses; index 0 is `OK`. */
export declare function espStatusCodes(): string[]
/** `ESP_STATUS[status]` names a per-packet status (`OK`, `ESP_REPLAY`, `ESP_ICV_MISMATCH`, ...). */
export declare const ESP_STATUS: readonly string[]

/** Packets back to back in one Buffer, with n + 1 boundaries. */
export interface Batch {
  data: Buffer
  offsets: Uint32Array
}
/** Packs packets into one batch for the native calls. */
export declare function packBatch(packets: readonly Uint8Array[]): Batch
/** Views of each packet of a batch. */
export declare function unpackBatch(batch: Batch): Buffer[]
