/**
 * The metrics of the limits and the brute-force defence (lib/security),
 * added to a server's registry by createServerMetrics:
 *
 * - l2tp_ipsec_limit_hits_total{limit}: refusals by limit (ike_half_open_total,
 *   ike_rate_per_source, l2tp_tunnels_per_peer, pending_auth, control_queue...);
 *   every limit shows from the start, at 0.
 * - l2tp_ipsec_auth_limiter_events_total{scope="ike"|"ppp",event}: failure,
 *   lockout, source-lockout, blocked, reset, evicted, allow-listed.
 * - l2tp_ipsec_auth_limiter_entries{scope,kind="pairs"|"sources"}: memory held.
 * - l2tp_ipsec_auth_pending: authentication requests in flight;
 *   l2tp_ipsec_ike_fragment_reassemblies: IKE messages being reassembled.
 *
 * The counters mirror cumulative counts kept by the server: each scrape adds
 * the growth since the last; a count lower than before (a new server) is
 * added whole, so the exported counter never goes down.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { LIMITER_EVENT_TYPES } from '../auth/limiter.js'
import { LIMITS, type SecurityStatus } from '../security/status.js'

/** Counts (by label set) -> counter increments since the previous scrape. */
function mirror(counter: Counter<string>, last: Map<string, number>, labels: Record<string, string>, value: number): void {
  const key = JSON.stringify(labels)
  const before = last.get(key) ?? 0
  counter.inc(labels, value >= before ? value - before : value)
  last.set(key, value)
}

export function registerSecurityMetrics(registry: Registry, read: () => SecurityStatus | undefined, prefix: string): void {
  const registers = [registry]
  const hitsSeen = new Map<string, number>()
  new Counter({
    name: `${prefix}limit_hits_total`,
    help: 'Requests refused by a resource or brute-force limit, by limit: ike_half_open_total, ike_half_open_per_source, ike_rate_per_source, ike_sas_per_identity, ike_auth_lockout, ike_fragment_reassemblies, ike_fragment_bytes, l2tp_tunnels_per_peer, l2tp_sessions_per_tunnel, l2tp_sessions_per_peer, pending_auth, control_queue, control_queue_bytes, ppp_auth_lockout.',
    labelNames: ['limit'],
    registers,
    collect() {
      const s = read()
      for (const limit of LIMITS) {
        if (s) mirror(this, hitsSeen, { limit }, s.limitHits[limit])
        else this.inc({ limit }, 0)
      }
    },
  })
  const eventsSeen = new Map<string, number>()
  new Counter({
    name: `${prefix}auth_limiter_events_total`,
    help: 'Brute-force limiter events, by scope (ike: Phase 1 failures per source; ppp: per user and source) and event (failure, lockout, source-lockout, blocked, reset, evicted, allow-listed).',
    labelNames: ['scope', 'event'],
    registers,
    collect() {
      const s = read()
      if (!s) return
      for (const [scope, limiter] of [['ike', s.ikeAuth], ['ppp', s.pppAuth]] as const) {
        if (!limiter) continue
        for (const event of LIMITER_EVENT_TYPES) mirror(this, eventsSeen, { scope, event }, limiter.events[event])
      }
    },
  })
  new Gauge({
    name: `${prefix}auth_limiter_entries`,
    help: 'Entries the brute-force limiters hold (bounded LRU tables), by scope and kind (pairs, sources).',
    labelNames: ['scope', 'kind'],
    registers,
    collect() {
      const s = read()
      if (!s) return
      for (const [scope, limiter] of [['ike', s.ikeAuth], ['ppp', s.pppAuth]] as const) {
        this.set({ scope, kind: 'pairs' }, limiter?.pairs ?? 0)
        this.set({ scope, kind: 'sources' }, limiter?.sources ?? 0)
      }
    },
  })
  new Gauge({
    name: `${prefix}auth_pending`,
    help: 'Authentication requests in flight (local, callback, RADIUS); security.limits.pendingAuth bounds them.',
    registers,
    collect() {
      this.set(read()?.pendingAuth ?? 0)
    },
  })
  new Gauge({
    name: `${prefix}ike_fragment_reassemblies`,
    help: 'IKE messages being reassembled from fragments; security.limits.ikeFragmentReassemblies bounds them.',
    registers,
    collect() {
      this.set(read()?.reassembling ?? 0)
    },
  })
}
