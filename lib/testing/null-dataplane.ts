import type { ControlMeta, DataPlaneStats, SaOptions, SessionOptions } from '../../native/index.js'
import type { DataPlanePort } from '../server/control-plane.js'

/**
 * A data plane that holds nothing, for a control plane run in memory (the
 * control-plane bench, unit tests): installs and removals succeed, stats are
 * empty, and what would be sent goes to `sendControl`, which each use defines.
 */
export abstract class NullDataPlanePort implements DataPlanePort {
  installSa(_sa: SaOptions): void {}
  removeSa(): boolean {
    return true
  }
  upsertSession(_s: SessionOptions): void {}
  removeSession(): boolean {
    return true
  }
  stats(): DataPlaneStats {
    return { counters: {}, sas: [], sessions: [], sites: [] }
  }
  sessionStats(): null {
    return null
  }
  abstract sendControl(data: Buffer, offsets: Uint32Array, meta: ControlMeta[]): number
}
