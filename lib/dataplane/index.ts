/**
 * The native data plane: one long-lived object that owns the UDP 500/4500
 * and raw ESP sockets, the TUN device and every data packet. The control
 * plane installs SAs and sessions and exchanges control frames with it in
 * batches; data packets never come up to JS.
 */
export { DataPlane } from '../../native/index.js'
export type {
  ControlBatch,
  ControlMeta,
  DataPlaneEvent,
  DataPlaneOptions,
  DataPlaneStats,
  DataPlaneSummary,
  KeepaliveOptions,
  LocalAddresses,
  PolicyOptions,
  PolicyRuleOptions,
  SaLifetimeOptions,
  SaOptions,
  SaStats,
  SessionOptions,
  SessionStats,
  TunOptions,
} from '../../native/index.js'
