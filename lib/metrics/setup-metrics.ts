/**
 * The metrics of issue #11 beyond the basic gauges: session setups and
 * their failures by stage, handshake latency, retransmits, ESP drops,
 * packets per direction, sessions by state and the data plane's queue to
 * the control plane. Mounted by createServerMetrics on its registry.
 */
import { performance } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { AuthFailureInfo, IkeSaUpInfo, NegotiationFailureInfo, SessionRefusedInfo, SessionUpInfo } from '../server/types.js'

/** Counters of status() that are gauges, not cumulative counts. */
export const GAUGE_COUNTERS: ReadonlySet<string> = new Set(['up_queue_depth', 'up_queue_bytes'])

export interface SetupSnapshot {
  sessionsTotal: number
  sessionsUp: number
  counters: Record<string, number> | undefined
  ikeRetransmits: number
  l2tpRetransmits: number
}

export interface SetupEvents {
  authFailure(e: AuthFailureInfo, reasonClass: string): void
  refused(e: SessionRefusedInfo): void
  negotiationFailure(e: NegotiationFailureInfo): void
  ikeUp(e: IkeSaUpInfo): void
  sessionUp(e: SessionUpInfo): void
}

/** Where a setup failed: a bounded label. */
export function negotiationStage(e: Pick<NegotiationFailureInfo, 'stage' | 'reason'>): { stage: string; reason: string } {
  const proposal = /client offered|none allowed by preset|none acceptable/.test(e.reason)
  const phase = e.stage === 'quick-mode' ? 'ike-quick-mode' : 'ike-main-mode'
  if (proposal) return { stage: e.stage === 'quick-mode' ? 'ike-quick-mode-proposal' : 'ike-proposal', reason: /none allowed by preset/.test(e.reason) ? 'not-in-preset' : 'no-proposal-chosen' }
  if (/no answer/.test(e.reason)) return { stage: phase, reason: 'timeout' }
  if (/malformed|lacks|invalid|without/i.test(e.reason)) return { stage: phase, reason: 'malformed' }
  return { stage: phase, reason: 'other' }
}

const PEERS_REMEMBERED = 10_000

export function mountSetupMetrics(registers: Registry[], name: (s: string) => string, snapshot: () => SetupSnapshot | undefined): SetupEvents {
  new Gauge({
    name: name('sessions_by_state'),
    help: 'PPP sessions by state: setup (L2TP call made, PPP negotiating or authenticating) and up.',
    labelNames: ['state'],
    registers,
    collect() {
      const s = snapshot()
      if (!s) return
      this.set({ state: 'up' }, s.sessionsUp)
      this.set({ state: 'setup' }, Math.max(0, s.sessionsTotal - s.sessionsUp))
    },
  })
  /** A gauge of the data plane's queue to the control plane, read from one status() counter. */
  const upQueueGauge = (metric: string, help: string, counter: string) =>
    new Gauge({
      name: name(metric),
      help,
      labelNames: ['queue'],
      registers,
      collect() {
        const s = snapshot()
        if (s?.counters) this.set({ queue: 'to_control_plane' }, s.counters[counter] ?? 0)
      },
    })
  upQueueGauge(
    'dataplane_queue_depth',
    'Items waiting in a data-plane queue: to_control_plane = control packets and events queued for JS (drops beyond its limit count as up_queue_full).',
    'up_queue_depth',
  )
  upQueueGauge(
    'dataplane_queue_bytes',
    'Payload bytes waiting in a data-plane queue: to_control_plane = control packets queued for JS (drops beyond its byte limit count as up_queue_bytes_full).',
    'up_queue_bytes',
  )

  /** A counter that follows a cumulative count read at scrape time (never goes down; a restart of the count adds it whole). */
  const mirror = (metric: string, help: string, labelNames: string[], read: (s: SetupSnapshot) => Record<string, number>) => {
    let last: Record<string, number> = {}
    new Counter({
      name: name(metric),
      help,
      labelNames,
      registers,
      collect() {
        const s = snapshot()
        if (!s) return
        const now = read(s)
        for (const [key, value] of Object.entries(now)) {
          const before = last[key] ?? 0
          const labels = labelNames.length ? { [labelNames[0]!]: key } : {}
          this.inc(labels, value >= before ? value - before : value)
        }
        last = now
      },
    })
  }
  mirror('esp_dropped_packets_total', 'Inbound ESP packets dropped by the data plane: replay (outside or already seen in the anti-replay window) and icv (integrity check failed).', ['reason'], (s) => ({
    replay: s.counters?.['esp_replays'] ?? 0,
    icv: s.counters?.['esp_icv_failures'] ?? 0,
  }))
  mirror('ike_retransmits_total', 'IKE messages sent again: answers to repeated requests and requests after a timeout.', [], (s) => ({ all: s.ikeRetransmits }))
  mirror('l2tp_retransmits_total', 'L2TP control messages sent again after no acknowledgement came.', [], (s) => ({ all: s.l2tpRetransmits }))

  const setups = new Counter({ name: name('session_setups_total'), help: 'Session setups attempted, by outcome at the stage where they ended: up, or failed.', labelNames: ['outcome'], registers })
  const failures = new Counter({
    name: name('session_setup_failures_total'),
    help: 'Session setups that failed, by stage (ike-proposal, ike-quick-mode-proposal, ike-main-mode, ike-auth, ppp-auth, pool) and a bounded reason.',
    labelNames: ['stage', 'reason'],
    registers,
  })
  for (const [stage, reason] of [['ike-proposal', 'not-in-preset'], ['ike-auth', 'psk-mismatch'], ['ppp-auth', 'bad-password'], ['pool', 'pool-exhausted']] as const) failures.inc({ stage, reason }, 0)
  const ikeHandshake = new Histogram({
    name: name('ike_handshake_seconds'),
    help: "Seconds from a client's first IKE message to its authentication (Main or Aggressive Mode).",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  })
  const sessionSetup = new Histogram({
    name: name('session_setup_seconds'),
    help: 'Seconds from the IKE SA being up to the PPP session being up (Quick Mode, L2TP, PPP negotiation and login).',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  })
  const ikeUpAt = new Map<string, number>()
  const peerKey = (p: { address: string; port: number }) => `${p.address}:${p.port}`
  const fail = (stage: string, reason: string) => {
    failures.inc({ stage, reason })
    setups.inc({ outcome: 'failed' })
  }
  return {
    authFailure: (e, reasonClass) => fail(e.method === 'ike' ? 'ike-auth' : 'ppp-auth', reasonClass),
    refused: (e) => fail(e.reason === 'pool-exhausted' ? 'pool' : 'limit', e.reason),
    negotiationFailure: (e) => {
      const { stage, reason } = negotiationStage(e)
      fail(stage, reason)
    },
    ikeUp: (e) => {
      if (e.setupSeconds !== undefined) ikeHandshake.observe(e.setupSeconds)
      if (ikeUpAt.size >= PEERS_REMEMBERED) ikeUpAt.delete(ikeUpAt.keys().next().value!)
      ikeUpAt.set(peerKey(e.peer), performance.now())
    },
    sessionUp: (e) => {
      setups.inc({ outcome: 'up' })
      const at = ikeUpAt.get(peerKey(e.peer))
      if (at !== undefined) sessionSetup.observe((performance.now() - at) / 1000)
    },
  }
}
