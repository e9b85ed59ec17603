// The operator's files: the Grafana dashboard queries only metrics the
// server exports, and the systemd unit grants exactly the capabilities the
// server needs with its hardening options, and passes systemd-analyze.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServerMetrics, type MetricsSource } from '../lib/metrics/index.js'

const dashboardPath = new URL('../docs/grafana-dashboard.json', import.meta.url)
const unitPath = new URL('../config/l2tp-ipsec.service', import.meta.url)

test('every metric the Grafana dashboard queries is exported', async (t) => {
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] }
  const source = Object.assign(new EventEmitter(), {
    status: () => ({ state: 'listening' as const, sessions: 0, counters: { esp_in: 0, up_queue_depth: 0 }, ike: { retransmits: 0 }, l2tp: { retransmits: 0 } }),
    sessions: () => [],
  }) as unknown as MetricsSource
  const metrics = createServerMetrics(source)
  t.teardown(() => metrics.stop())
  const text = await metrics.metrics()
  const exported = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap((m) => (m[2] === 'histogram' ? [`${m[1]}_bucket`, `${m[1]}_sum`, `${m[1]}_count`] : [m[1]!])))
  t.true(dashboard.panels.length >= 12)
  const used = new Set<string>()
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) for (const m of target.expr.matchAll(/\b((?:l2tp_ipsec|nodejs|process)_[a-z0-9_]+)\b/g)) used.add(m[1]!)
  }
  for (const name of used) t.true(exported.has(name), `${name} (dashboard) is not exported`)
  for (const needed of ['l2tp_ipsec_sessions_by_state', 'l2tp_ipsec_session_setup_failures_total', 'l2tp_ipsec_auth_failures_total', 'l2tp_ipsec_session_bytes_total', 'l2tp_ipsec_session_packets_total', 'l2tp_ipsec_esp_dropped_packets_total', 'l2tp_ipsec_ike_retransmits_total', 'l2tp_ipsec_l2tp_retransmits_total', 'l2tp_ipsec_dataplane_queue_depth', 'nodejs_eventloop_lag_seconds', 'l2tp_ipsec_ike_handshake_seconds_bucket']) {
    t.true(used.has(needed), `the dashboard shows ${needed}`)
  }
})

test('the systemd unit: the three capabilities, hardening, drain time, and systemd-analyze accepts it', (t) => {
  const unit = readFileSync(unitPath, 'utf8')
  const value = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!)
  t.deepEqual(value('CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW'])
  t.deepEqual(value('AmbientCapabilities'), ['CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW'])
  for (const [key, want] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['DevicePolicy', 'closed'], ['DeviceAllow', '/dev/net/tun rw'], ['KillSignal', 'SIGTERM'], ['ExecReload', '/bin/kill -HUP $MAINPID']]) {
    t.deepEqual(value(key!), [want], key)
  }
  t.true(Number(value('TimeoutStopSec')[0]) > 10, 'longer than the default drainTimeout')
  const r = spawnSync('systemd-analyze', ['verify', unitPath.pathname], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  t.false(r.stderr.includes('l2tp-ipsec.service:'), r.stderr)
})
