/**
 * What the security limits have done, for status() and the metrics: how
 * often each limit refused something (from the cores' drop counters, the
 * data plane's, and the guards'), the brute-force limiters' events and
 * sizes, and what is held now against the limits that bound memory.
 */
import type { AuthLimiter, LimiterEvent } from '../auth/limiter.js'

/** Every limit of README "Limits and brute-force defence", as a metric label. */
export const LIMITS = [
  'ike_half_open_total',
  'ike_half_open_per_source',
  'ike_rate_per_source',
  'ike_sas_per_identity',
  'ike_auth_lockout',
  'ike_fragment_reassemblies',
  'ike_fragment_bytes',
  'l2tp_tunnels_per_peer',
  'l2tp_sessions_per_tunnel',
  'l2tp_sessions_per_peer',
  'pending_auth',
  'control_queue',
  'control_queue_bytes',
  'ppp_auth_lockout',
] as const

export type LimitName = (typeof LIMITS)[number]

/** The IKE endpoint's drop reasons (lib/ike/endpoint.ts, fragments.ts, ike-guard.ts) that are limits. */
const IKE_DROPS: Record<string, LimitName> = {
  'half-open limit reached': 'ike_half_open_total',
  'half-open limit per source reached': 'ike_half_open_per_source',
  'new exchanges per source rate limit': 'ike_rate_per_source',
  'IKE SAs per identity limit reached': 'ike_sas_per_identity',
  'source in back-off after failed authentication': 'ike_auth_lockout',
  'source locked out after failed authentications': 'ike_auth_lockout',
  'fragment: too many pending': 'ike_fragment_reassemblies',
  'fragment: message too large': 'ike_fragment_bytes',
}

const L2TP_DROPS: Record<string, LimitName> = {
  L2TP_TUNNEL_LIMIT: 'l2tp_tunnels_per_peer',
  L2TP_SESSION_LIMIT: 'l2tp_sessions_per_tunnel',
  L2TP_PEER_SESSION_LIMIT: 'l2tp_sessions_per_peer',
}

export interface LimiterStatus {
  /** Limiter events by type since the start. */
  events: Record<LimiterEvent['type'], number>
  pairs: number
  sources: number
}

export interface SecurityStatus {
  /** Refusals by limit since the start. */
  limitHits: Record<LimitName, number>
  ikeAuth: LimiterStatus | undefined
  pppAuth: LimiterStatus | undefined
  /** Authentication requests in flight now. */
  pendingAuth: number
  /** IKE messages being reassembled now. */
  reassembling: number
}

export interface SecuritySources {
  ikeDropped: Record<string, number> | undefined
  l2tpDropped: Record<string, number> | undefined
  dataplaneCounters: Record<string, number> | undefined
  ikeLimiter: AuthLimiter | undefined
  pppLimiter: AuthLimiter | undefined
  busyRefusals: number
  pendingAuth: number
  reassembling: number
}

function limiterStatus(limiter: AuthLimiter | undefined): LimiterStatus | undefined {
  return limiter ? { events: { ...limiter.counts }, ...limiter.size() } : undefined
}

export function securityStatus(s: SecuritySources): SecurityStatus {
  const hits = Object.fromEntries(LIMITS.map((l) => [l, 0])) as Record<LimitName, number>
  for (const [reason, n] of Object.entries(s.ikeDropped ?? {})) {
    const limit = IKE_DROPS[reason]
    if (limit) hits[limit] += n
  }
  for (const [reason, n] of Object.entries(s.l2tpDropped ?? {})) {
    const limit = L2TP_DROPS[reason]
    if (limit) hits[limit] += n
  }
  hits.pending_auth = s.busyRefusals
  hits.control_queue = s.dataplaneCounters?.up_queue_full ?? 0
  hits.control_queue_bytes = s.dataplaneCounters?.up_queue_bytes_full ?? 0
  hits.ppp_auth_lockout = s.pppLimiter?.counts.blocked ?? 0
  return {
    limitHits: hits,
    ikeAuth: limiterStatus(s.ikeLimiter),
    pppAuth: limiterStatus(s.pppLimiter),
    pendingAuth: s.pendingAuth,
    reassembling: s.reassembling,
  }
}
