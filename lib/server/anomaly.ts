/**
 * The configuration's `anomaly` section as the data plane takes it
 * (DataPlane.setAnomaly): mode off turns every flag off, and a part set to
 * null is off on its own. The flags are raised by the data plane's scan
 * (crates/dataplane/src/anomaly.rs); the server control plane reports them
 * and, in mode kick, ends the session.
 */
import type { AnomalyOptions } from '../../native/index.js'
import type { ServerConfig } from '../config/index.js'

export function dataplaneAnomaly(a: ServerConfig['anomaly']): AnomalyOptions {
  if (a.mode === 'off') return {}
  return {
    ...(a.rateJump ? { rateFactor: a.rateJump.factor, rateMinPps: a.rateJump.minPps, rateAverageSeconds: a.rateJump.averageSeconds } : {}),
    ...(a.destinations ? { destinationsMax: a.destinations.max, destinationsIntervalSeconds: a.destinations.interval } : {}),
  }
}
