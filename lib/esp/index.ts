/**
 * ESP packet protection from the native data plane, for the control plane,
 * tests and benchmarks. In the server, SAs live in the data plane and data
 * packets never come up to JS; this module is the same code exposed directly.
 */
import { EspSa, espStatusCodes, espSuiteInfo, espSuites } from '../../native/index.js'
import type { EspSaOptions, EspSaStats, EspSuiteInfo, OpenedBatch, PacketBatch } from '../../native/index.js'

export { EspSa, espSuiteInfo, espSuites, espStatusCodes }
export type { EspSaOptions, EspSaStats, EspSuiteInfo, OpenedBatch, PacketBatch }
export { packBatch, unpackBatch, type Batch } from './batch.js'

/** `ESP_STATUS[status]` names a per-packet status of `EspSa.open`; 0 is `OK`. */
export const ESP_STATUS: readonly string[] = Object.freeze(espStatusCodes())
