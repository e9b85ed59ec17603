/**
 * l2tp-ipsec: an L2TP/IPsec VPN server for Linux gateways, with a Rust data
 * plane. This file is the package's public API.
 *
 * Today the package holds its foundation: ESP packet protection (RFC 4303)
 * and the native data plane (`DataPlane`: sockets, TUN, ESP, L2TP/PPP data
 * framing, per-session policy). The server (`L2tpServer`) and client
 * (`L2tpClient`) build on them.
 */
// The native classes and functions, with their doc comments, come from the
// generated binding; this file adds what the TypeScript layer defines.
export { DataPlane, EspSa, espStatusCodes, espSuiteInfo, espSuites } from './native/index.js'
export type {
  ControlBatch,
  ControlMeta,
  DataPlaneEvent,
  DataPlaneOptions,
  DataPlaneStats,
  EspSaOptions,
  EspSaStats,
  EspSuiteInfo,
  LocalAddresses,
  OpenedBatch,
  PacketBatch,
  PolicyOptions,
  PolicyRuleOptions,
  SaLifetimeOptions,
  SaOptions,
  SaStats,
  SessionOptions,
  SessionStats,
  TunOptions,
} from './native/index.js'

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
