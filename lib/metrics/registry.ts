/**
 * Prometheus metrics of a running L2tpServer, in a private prom-client
 * Registry (never the global one, so two servers in one process, or an
 * embedding application, do not collide).
 *
 *   const metrics = createServerMetrics(server)
 *   const http = await startMetricsServer('127.0.0.1:9100', metrics)
 *   ...
 *   await http.close(); metrics.stop()
 *
 * Three kinds of metric:
 * - gauges read from `status()` and `sessions()` at scrape time (one
 *   snapshot per scrape, shared by every gauge);
 * - counters of server events (sessions started and ended, auth failures,
 *   refusals, IKE SAs up and down), counted from the moment the metrics
 *   are created;
 * - counters mirrored from cumulative counts the server keeps (data-plane
 *   packet counters, bytes of sessions), advanced by their growth since
 *   the previous scrape.
 *
 * Labels take a bounded set of values only: never a user, an address or
 * free text (an IKE failure's reason names certificates and peers, so it
 * is folded into a short class first).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { AuthFailureReason } from '../auth/types.js'
import { registerSecurityMetrics } from './security-metrics.js'
import type { AuthFailureInfo, IkeSaDownInfo, IkeSaUpInfo, ServerEvents, ServerStatus, SessionAnomalyInfo, SessionDownInfo, SessionDownReason, SessionInfo, SessionRefusedInfo, SessionUpInfo } from '../server/types.js'

/** Every metric of this module starts with it (the default process metrics do not). */
export const METRICS_PREFIX = 'l2tp_ipsec_'

/** The server events the metrics count. */
export type MetricsEvent = 'session-up' | 'session-down' | 'auth-failure' | 'session-refused' | 'session-anomaly' | 'ike-sa-up' | 'ike-sa-down'

/** The parts of `status()` the metrics read; an L2tpServer's ServerStatus is one. */
export type MetricsStatus = Partial<Pick<ServerStatus, 'state' | 'sessions' | 'bindings' | 'pool' | 'dataplane' | 'ike' | 'l2tp' | 'counters' | 'security'>> & { sites?: ReadonlyArray<Pick<ServerStatus['sites'][number], 'name' | 'state'>> }

/**
 * What the metrics need of a server: an L2tpServer is one, and so is an
 * EventEmitter with `status()` and `sessions()` (tests).
 */
export interface MetricsSource {
  status(): MetricsStatus
  sessions(): ReadonlyArray<Pick<SessionInfo, 'rxBytes' | 'txBytes'>>
  on<K extends MetricsEvent>(event: K, listener: (...args: ServerEvents[K]) => void): unknown
  off<K extends MetricsEvent>(event: K, listener: (...args: ServerEvents[K]) => void): unknown
}

export interface ServerMetrics {
  /** The private registry: merge it (`Registry.merge`) to serve it elsewhere. */
  readonly registry: Registry
  /** The text exposition (content type: `registry.contentType`). */
  metrics(): Promise<string>
  /**
   * Detaches the event listeners. Afterwards nothing more is counted nor
   * read from the server; the registry keeps the last values.
   */
  stop(): void
}

const SESSION_DOWN_REASONS: readonly SessionDownReason[] = ['kicked', 'closed', 'idle', 'session-timeout', 'peer', 'lcp-echo-timeout', 'ike-down', 'l2tp-down', 'error', 'reload', 'radius-disconnect', 'anomaly']
const ANOMALY_KINDS: readonly SessionAnomalyInfo['kind'][] = ['rate-jump', 'destinations']
const REFUSAL_REASONS: readonly SessionRefusedInfo['reason'][] = ['pool-exhausted', 'limit']
const AUTH_FAILURE_REASONS: ReadonlySet<string> = new Set<AuthFailureReason>([
  'unknown-user',
  'bad-password',
  'cannot-verify',
  'method-not-allowed',
  'disabled',
  'unsupported-method',
  'malformed',
  'rejected',
  'timeout',
  'callback-error',
  'locked-out',
  'backoff',
  'source-limit',
  'internal-error',
  'busy',
])

/** A token such as an enum value ('kicked', 'pool-exhausted', 'mschapv2'); anything else is 'other'. */
function token(value: unknown): string {
  return typeof value === 'string' && /^[a-z0-9][a-z0-9_-]{0,31}$/.test(value) ? value : 'other'
}

/**
 * The auth failure's reason as a bounded label: PPP failures carry an
 * AuthFailureReason (possibly as "reason: detail"); IKE failures carry a
 * sentence, classified by what failed.
 */
export function authFailureClass(reason: string): string {
  const head = /^[a-z-]+/.exec(reason)?.[0]
  if (head !== undefined && AUTH_FAILURE_REASONS.has(head)) return head
  if (/pre-shared key|HASH_[IR] does not match/i.test(reason)) return 'psk-mismatch'
  if (/certificate|signature/i.test(reason)) return 'certificate'
  if (/\bID\b|identity/i.test(reason)) return 'identity'
  return 'other'
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0
}

interface Snapshot {
  status: MetricsStatus
  rx: number
  tx: number
  up: number
}

export function createServerMetrics(server: MetricsSource): ServerMetrics {
  const registry = new Registry()
  const registers = [registry]
  const name = (s: string) => METRICS_PREFIX + s
  let stopped = false

  // prom-client calls every metric's collect() synchronously within one
  // registry.metrics() call (before its first await): reading status() once
  // and dropping the copy at the next microtask gives each scrape one
  // consistent snapshot instead of one status() call per gauge.
  let cached: Snapshot | undefined
  const snapshot = (): Snapshot | undefined => {
    if (stopped) return undefined
    if (!cached) {
      let rx = 0
      let tx = 0
      const live = server.sessions()
      for (const s of live) {
        rx += num(s.rxBytes)
        tx += num(s.txBytes)
      }
      cached = { status: server.status(), rx, tx, up: live.length }
      queueMicrotask(() => (cached = undefined))
    }
    return cached
  }

  /** A gauge whose value is read from the snapshot at scrape time. */
  const gauge = (metric: string, help: string, read: (s: Snapshot) => number) =>
    new Gauge({
      name: name(metric),
      help,
      registers,
      collect() {
        const s = snapshot()
        if (s) this.set(read(s))
      },
    })

  // --- gauges ---------------------------------------------------------------

  gauge('listening', '1 while the server is listening (accepting IKE and L2TP), else 0.', (s) => (s.status.state === 'listening' ? 1 : 0))
  gauge('sessions', 'PPP sessions (L2TP calls) in any phase: authenticating, up or ending.', (s) => num(s.status.sessions))
  gauge('sessions_up', 'PPP sessions that are up (authenticated, with an address); what `l2tp-ipsec sessions` lists.', (s) => s.up)
  gauge('ipsec_peers', 'IPsec peers with live ESP SAs (bindings).', (s) => num(s.status.bindings))
  gauge('ike_sas', 'IKE (Phase 1) SAs, established or being negotiated.', (s) => num(s.status.ike?.ikeSas))
  gauge('ike_sas_half_open', 'IKE SAs still being negotiated (half-open); a flood of them means a scan or a DoS.', (s) => num(s.status.ike?.halfOpen))
  gauge('l2tp_tunnels', 'L2TP control connections (tunnels).', (s) => num(s.status.l2tp?.tunnels))
  gauge('pool_size', 'Addresses of the client address pool (used + free + reserved).', (s) => num(s.status.pool?.total))
  new Gauge({
    name: name('pool_addresses'),
    help: 'Addresses of the client address pool by state: used (given to a session), free, reserved (kept for a returning user). They sum to l2tp_ipsec_pool_size.',
    labelNames: ['state'],
    registers,
    collect() {
      const s = snapshot()
      if (!s) return
      const pool = s.status.pool
      this.set({ state: 'used' }, num(pool?.used))
      this.set({ state: 'free' }, num(pool?.free))
      this.set({ state: 'reserved' }, num(pool?.reserved))
    },
  })
  new Gauge({
    name: name('site_up'),
    help: 'Site-to-site links (config sites) by name: 1 while its ESP SAs are up, else 0.',
    labelNames: ['site'],
    registers,
    collect() {
      const s = snapshot()
      if (!s) return
      this.reset()
      for (const site of s.status.sites ?? []) this.set({ site: site.name }, site.state === 'up' ? 1 : 0)
    },
  })
  gauge('dataplane_sas', 'ESP SAs installed in the data plane, inbound and outbound counted separately.', (s) => num(s.status.dataplane?.sas))
  gauge('dataplane_sessions', 'Sessions installed in the data plane.', (s) => num(s.status.dataplane?.sessions))
  new Gauge({
    name: name('live_session_bytes'),
    help: 'Inner IP bytes carried so far by the sessions that are up now: rx from the clients, tx to them. Goes down when a session ends; see l2tp_ipsec_session_bytes_total.',
    labelNames: ['direction'],
    registers,
    collect() {
      const s = snapshot()
      if (!s) return
      this.set({ direction: 'rx' }, s.rx)
      this.set({ direction: 'tx' }, s.tx)
    },
  })

  // --- counters mirrored from cumulative counts -------------------------------

  // status().counters holds the data plane's own cumulative counts, so they
  // are Prometheus counters (rate() and increase() apply), not gauges. A
  // prom-client Counter cannot be set, so each scrape adds the growth since
  // the previous scrape. A count lower than before means a new data plane
  // (the server was closed and listened again): its counts started from 0
  // and are all new, so they are added whole and the exported counter never
  // goes down.
  let lastCounters: Record<string, number> = {}
  new Counter({
    name: name('dataplane_packets_total'),
    help: 'Packets the data plane handled, by counter: esp_in, esp_out, ike_in, tun_in... and one counter per drop reason (unknown_spi, esp_icv_failures, esp_replays, spoofed, policy_denied...).',
    labelNames: ['counter'],
    registers,
    collect() {
      const s = snapshot()
      if (!s) return
      const now = s.status.counters
      if (!now) {
        // No data plane: the next one starts from 0.
        lastCounters = {}
        return
      }
      const next: Record<string, number> = {}
      for (const [key, raw] of Object.entries(now)) {
        const value = num(raw)
        const before = lastCounters[key] ?? 0
        this.inc({ counter: token(key) }, value >= before ? value - before : value)
        next[key] = value
      }
      lastCounters = next
    },
  })

  // Bytes of the sessions that ended (from session-down) plus those of the
  // live sessions: the traffic of every session since the metrics started,
  // monotonic across session ends. It is held at its high-water mark, so a
  // session whose last counters were lower than shown at the previous scrape
  // cannot make it go down.
  const ended = { rx: 0, tx: 0 }
  const shown = { rx: 0, tx: 0 }
  new Counter({
    name: name('session_bytes_total'),
    help: 'Inner IP bytes carried by PPP sessions, live and ended: rx from the clients, tx to them.',
    labelNames: ['direction'],
    registers,
    collect() {
      const s = snapshot()
      if (!s) return
      for (const direction of ['rx', 'tx'] as const) {
        const total = ended[direction] + s[direction]
        this.inc({ direction }, Math.max(0, total - shown[direction]))
        shown[direction] = Math.max(shown[direction], total)
      }
    },
  })

  // --- event counters ---------------------------------------------------------

  const started = new Counter({ name: name('sessions_started_total'), help: 'PPP sessions that came up (authenticated, address assigned).', registers })
  const endedSessions = new Counter({
    name: name('sessions_ended_total'),
    help: 'PPP sessions that ended, by reason: kicked, closed, idle, session-timeout, peer, lcp-echo-timeout, ike-down, l2tp-down, error, reload, radius-disconnect, anomaly.',
    labelNames: ['reason'],
    registers,
  })
  const authFailures = new Counter({
    name: name('auth_failures_total'),
    help: 'Failed authentications, by method (ike, pap, chap-md5, mschapv2, eap) and reason (bad-password, unknown-user, locked-out, psk-mismatch, certificate...).',
    labelNames: ['method', 'reason'],
    registers,
  })
  const refused = new Counter({
    name: name('sessions_refused_total'),
    help: 'Clients that authenticated but got no session, by reason: pool-exhausted, limit.',
    labelNames: ['reason'],
    registers,
  })
  const anomalies = new Counter({
    name: name('session_anomalies_total'),
    help: 'Per-session traffic anomaly flags raised (config anomaly), by kind: rate-jump, destinations.',
    labelNames: ['kind'],
    registers,
  })
  const ikeUp = new Counter({ name: name('ike_sas_up_total'), help: 'IKE (Phase 1) SAs established.', registers })
  const ikeDown = new Counter({ name: name('ike_sas_down_total'), help: 'IKE (Phase 1) SAs deleted or expired.', registers })

  // Every known reason shows from the start, at 0: a rate() needs the series before its first increment.
  for (const reason of SESSION_DOWN_REASONS) endedSessions.inc({ reason }, 0)
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0)
  for (const kind of ANOMALY_KINDS) anomalies.inc({ kind }, 0)

  registerSecurityMetrics(registry, () => snapshot()?.status.security, METRICS_PREFIX)
  collectDefaultMetrics({ register: registry })

  const onUp = (_e: SessionUpInfo) => started.inc()
  const onDown = (e: SessionDownInfo) => {
    endedSessions.inc({ reason: token(e.reason) })
    ended.rx += num(e.rxBytes)
    ended.tx += num(e.txBytes)
  }
  const onAuthFailure = (e: AuthFailureInfo) => authFailures.inc({ method: token(e.method), reason: authFailureClass(String(e.reason)) })
  const onRefused = (e: SessionRefusedInfo) => refused.inc({ reason: token(e.reason) })
  const onAnomaly = (e: SessionAnomalyInfo) => anomalies.inc({ kind: token(e.kind) })
  const onIkeUp = (_e: IkeSaUpInfo) => ikeUp.inc()
  const onIkeDown = (_e: IkeSaDownInfo) => ikeDown.inc()
  server.on('session-up', onUp)
  server.on('session-down', onDown)
  server.on('auth-failure', onAuthFailure)
  server.on('session-refused', onRefused)
  server.on('session-anomaly', onAnomaly)
  server.on('ike-sa-up', onIkeUp)
  server.on('ike-sa-down', onIkeDown)

  return {
    registry,
    metrics: () => registry.metrics(),
    stop() {
      if (stopped) return
      stopped = true
      cached = undefined
      server.off('session-up', onUp)
      server.off('session-down', onDown)
      server.off('auth-failure', onAuthFailure)
      server.off('session-refused', onRefused)
      server.off('session-anomaly', onAnomaly)
      server.off('ike-sa-up', onIkeUp)
      server.off('ike-sa-down', onIkeDown)
    },
  }
}
