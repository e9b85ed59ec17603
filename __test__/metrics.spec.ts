// Prometheus metrics (lib/metrics) against a fake server (an EventEmitter
// with status() and sessions() returning what the test sets), scraped over
// the real HTTP endpoint on 127.0.0.1:0.
import test, { type ExecutionContext } from 'ava'
import { EventEmitter } from 'node:events'
import { request } from 'node:http'
import { authFailureClass, createServerMetrics, MetricsServerError, parseListen, startMetricsServer, type MetricsHttpServer, type MetricsSource, type MetricsStatus, type ServerMetrics } from '../lib/metrics/index.js'
import type { L2tpServer } from '../lib/server/l2tp-server.js'
import type { ServerEvents, SessionDownInfo } from '../lib/server/types.js'

class FakeServer extends EventEmitter<ServerEvents> {
  current: MetricsStatus = {
    state: 'listening',
    sessions: 3,
    bindings: 2,
    pool: { total: 254, used: 2, free: 250, reserved: 2, outside: 0 },
    dataplane: { sas: 4, sessions: 2 },
    ike: { ikeSas: 5, halfOpen: 1, quickModes: 0 },
    l2tp: { tunnels: 2, establishedTunnels: 2, sessions: 2 },
    counters: { esp_in: 100, esp_out: 90, unknown_spi: 0, esp_replays: 1 },
    sites: [
      { name: 'branch-b', state: 'up' },
      { name: 'branch-c', state: 'connecting' },
    ],
  }
  live: { id: number; rxBytes: number; txBytes: number }[] = [
    { id: 1, rxBytes: 1000, txBytes: 5000 },
    { id: 2, rxBytes: 200, txBytes: 300 },
  ]
  statusCalls = 0

  status(): MetricsStatus {
    this.statusCalls++
    return this.current
  }

  sessions() {
    return this.live
  }
}

// An L2tpServer is a MetricsSource (compile-time check only).
const _typeCheck: (s: L2tpServer) => MetricsSource = (s) => s
void _typeCheck

interface Rig {
  fake: FakeServer
  metrics: ServerMetrics
  http: MetricsHttpServer
  scrape(): Promise<string>
}

async function rig(t: ExecutionContext): Promise<Rig> {
  const fake = new FakeServer()
  const metrics = createServerMetrics(fake)
  const http = await startMetricsServer('127.0.0.1:0', metrics)
  t.teardown(async () => {
    metrics.stop()
    await http.close()
  })
  const scrape = async () => {
    const r = await get(http.port, '/metrics')
    t.is(r.status, 200)
    t.regex(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/)
    return r.body
  }
  return { fake, metrics, http, scrape }
}

function get(port: number, path: string, method = 'GET', host = '127.0.0.1'): Promise<{ status: number; headers: Record<string, string | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string | undefined>, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The value of one sample line, e.g. value(text, 'l2tp_ipsec_sessions_ended_total{reason="kicked"}'). */
function value(exposition: string, sample: string): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1))
  }
  return undefined
}

function down(id: number, reason: SessionDownInfo['reason'], rxBytes: number, txBytes: number): SessionDownInfo {
  return { id, user: 'alice', address: '10.0.0.2', reason, detail: 'test', rxBytes, txBytes, rxPackets: 0, txPackets: 0, policyDenied: 0, durationSeconds: 10 }
}

test('gauges show the server status at scrape time', async (t) => {
  const { fake, scrape } = await rig(t)
  let text = await scrape()
  t.is(value(text, 'l2tp_ipsec_listening'), 1)
  t.is(value(text, 'l2tp_ipsec_sessions'), 3)
  t.is(value(text, 'l2tp_ipsec_sessions_up'), 2)
  t.is(value(text, 'l2tp_ipsec_ipsec_peers'), 2)
  t.is(value(text, 'l2tp_ipsec_ike_sas'), 5)
  t.is(value(text, 'l2tp_ipsec_ike_sas_half_open'), 1)
  t.is(value(text, 'l2tp_ipsec_l2tp_tunnels'), 2)
  t.is(value(text, 'l2tp_ipsec_pool_size'), 254)
  t.is(value(text, 'l2tp_ipsec_pool_addresses{state="used"}'), 2)
  t.is(value(text, 'l2tp_ipsec_pool_addresses{state="free"}'), 250)
  t.is(value(text, 'l2tp_ipsec_pool_addresses{state="reserved"}'), 2)
  t.is(value(text, 'l2tp_ipsec_dataplane_sas'), 4)
  t.is(value(text, 'l2tp_ipsec_dataplane_sessions'), 2)
  t.is(value(text, 'l2tp_ipsec_live_session_bytes{direction="rx"}'), 1200)
  t.is(value(text, 'l2tp_ipsec_live_session_bytes{direction="tx"}'), 5300)
  t.regex(text, /^# HELP l2tp_ipsec_ike_sas_half_open .+$/m)
  t.regex(text, /^# TYPE l2tp_ipsec_dataplane_packets_total counter$/m)
  t.regex(text, /^# TYPE l2tp_ipsec_sessions gauge$/m)
  // Default process metrics, unprefixed as dashboards expect them.
  t.regex(text, /^process_cpu_seconds_total \d/m)
  t.regex(text, /^nodejs_heap_size_used_bytes \d/m)

  // One status() call per scrape, whatever the number of gauges.
  fake.statusCalls = 0
  fake.current = { ...fake.current, sessions: 7, ike: { ikeSas: 9, halfOpen: 4 }, pool: { total: 254, used: 7, free: 245, reserved: 2, outside: 0 } }
  fake.live = []
  text = await scrape()
  t.is(fake.statusCalls, 1)
  t.is(value(text, 'l2tp_ipsec_sessions'), 7)
  t.is(value(text, 'l2tp_ipsec_sessions_up'), 0)
  t.is(value(text, 'l2tp_ipsec_ike_sas'), 9)
  t.is(value(text, 'l2tp_ipsec_ike_sas_half_open'), 4)
  t.is(value(text, 'l2tp_ipsec_pool_addresses{state="used"}'), 7)
  t.is(value(text, 'l2tp_ipsec_live_session_bytes{direction="rx"}'), 0)

  // A server that is not listening has no pool, data plane or endpoints: zeros.
  fake.current = { state: 'closed', sessions: 0, bindings: 0, pool: undefined, dataplane: undefined, ike: undefined, l2tp: undefined, counters: undefined }
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_listening'), 0)
  t.is(value(text, 'l2tp_ipsec_ike_sas'), 0)
  t.is(value(text, 'l2tp_ipsec_pool_size'), 0)
  t.is(value(text, 'l2tp_ipsec_dataplane_sas'), 0)
})

test('event counters count the events, with bounded labels', async (t) => {
  const { fake, scrape } = await rig(t)
  let text = await scrape()
  t.is(value(text, 'l2tp_ipsec_sessions_started_total'), 0)
  // Known reasons are there from the start, at 0.
  t.is(value(text, 'l2tp_ipsec_sessions_ended_total{reason="kicked"}'), 0)
  t.is(value(text, 'l2tp_ipsec_sessions_refused_total{reason="pool-exhausted"}'), 0)

  const peer = { address: '192.0.2.7', port: 4500 }
  fake.emit('session-up', { id: 1, user: 'alice', address: '10.0.0.2', peer, peerId: 'alice', authMethod: 'mschapv2', suite: 'aes128-sha1' })
  fake.emit('session-up', { id: 2, user: 'bob', address: '10.0.0.3', peer, peerId: 'bob', authMethod: 'mschapv2', suite: 'aes128-sha1' })
  fake.emit('session-down', down(7, 'kicked', 0, 0))
  fake.emit('session-down', down(8, 'idle', 0, 0))
  fake.emit('session-down', down(9, 'idle', 0, 0))
  fake.emit('auth-failure', { user: 'mallory', method: 'mschapv2', reason: 'bad-password', peer })
  fake.emit('auth-failure', { user: 'eve', method: 'pap', reason: 'unknown-user: no such user "eve"', peer })
  fake.emit('auth-failure', { user: undefined, method: 'ike', reason: 'message 5 does not decrypt: wrong pre-shared key?', peer })
  fake.emit('auth-failure', { user: undefined, method: 'ike', reason: "certificate: the peer's ID is not named by its certificate (CN=x)", peer })
  fake.emit('auth-failure', { user: undefined, method: 'ike', reason: 'something nobody planned for, from 192.0.2.7', peer })
  fake.emit('session-refused', { user: 'carol', peer, reason: 'pool-exhausted', detail: 'no free address' })
  fake.emit('ike-sa-up', { ikeSa: 'a', peer, peerId: 'x', natDetected: true, suite: 's' })
  fake.emit('ike-sa-up', { ikeSa: 'b', peer, peerId: 'y', natDetected: false, suite: 's' })
  fake.emit('ike-sa-down', { ikeSa: 'a', reason: 'Phase 1 lifetime expired' })

  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_sessions_started_total'), 2)
  t.is(value(text, 'l2tp_ipsec_sessions_ended_total{reason="kicked"}'), 1)
  t.is(value(text, 'l2tp_ipsec_sessions_ended_total{reason="idle"}'), 2)
  t.is(value(text, 'l2tp_ipsec_sessions_ended_total{reason="peer"}'), 0)
  t.is(value(text, 'l2tp_ipsec_auth_failures_total{method="mschapv2",reason="bad-password"}'), 1)
  t.is(value(text, 'l2tp_ipsec_auth_failures_total{method="pap",reason="unknown-user"}'), 1)
  t.is(value(text, 'l2tp_ipsec_auth_failures_total{method="ike",reason="psk-mismatch"}'), 1)
  t.is(value(text, 'l2tp_ipsec_auth_failures_total{method="ike",reason="certificate"}'), 1)
  t.is(value(text, 'l2tp_ipsec_auth_failures_total{method="ike",reason="other"}'), 1)
  t.is(value(text, 'l2tp_ipsec_sessions_refused_total{reason="pool-exhausted"}'), 1)
  t.is(value(text, 'l2tp_ipsec_ike_sas_up_total'), 2)
  t.is(value(text, 'l2tp_ipsec_ike_sas_down_total'), 1)
  // No user, address or free text ever becomes a label value.
  const ours = text
    .split('\n')
    .filter((l) => l.startsWith('l2tp_ipsec_'))
    .join('\n')
  for (const secret of ['mallory', 'eve', 'alice', '192.0.2.7', '10.0.0.2', 'CN=x', 'nobody']) t.false(ours.includes(secret), secret)
})

test('authFailureClass folds reasons into a few classes', (t) => {
  t.is(authFailureClass('locked-out'), 'locked-out')
  t.is(authFailureClass('rejected: the callback said no'), 'rejected')
  t.is(authFailureClass('HASH_I does not match: wrong pre-shared key'), 'psk-mismatch')
  t.is(authFailureClass('Main Mode message 5: certificate: expired'), 'certificate')
  t.is(authFailureClass('bad-passwordish'), 'other')
})

test('site-to-site links: one gauge per configured site, 1 while up', async (t) => {
  const { fake, scrape } = await rig(t)
  let text = await scrape()
  t.is(value(text, 'l2tp_ipsec_site_up{site="branch-b"}'), 1)
  t.is(value(text, 'l2tp_ipsec_site_up{site="branch-c"}'), 0)
  fake.current = { ...fake.current, sites: [{ name: 'branch-b', state: 'down' }] }
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_site_up{site="branch-b"}'), 0)
  t.false(text.includes('branch-c'), 'a site no longer configured is gone')
})

test('data-plane counters follow status().counters and never go down', async (t) => {
  const { fake, scrape } = await rig(t)
  let text = await scrape()
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_in"}'), 100)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_out"}'), 90)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="unknown_spi"}'), 0)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_replays"}'), 1)

  // Scraping again without traffic changes nothing (deltas, not sums).
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_in"}'), 100)

  fake.current = { ...fake.current, counters: { esp_in: 150, esp_out: 95, unknown_spi: 3, esp_replays: 1, spoofed: 2 } }
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_in"}'), 150)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_out"}'), 95)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="unknown_spi"}'), 3)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="spoofed"}'), 2)

  // The server closed (no data plane), then listened again: the new data
  // plane's counts start from 0 and are added to what was exported.
  fake.current = { ...fake.current, counters: undefined }
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_in"}'), 150)
  fake.current = { ...fake.current, counters: { esp_in: 10, esp_out: 5 } }
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_in"}'), 160)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_out"}'), 100)
  // A reset seen without the gap (counts lower than before) is a new data plane too.
  fake.current = { ...fake.current, counters: { esp_in: 4, esp_out: 6 } }
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_in"}'), 164)
  t.is(value(text, 'l2tp_ipsec_dataplane_packets_total{counter="esp_out"}'), 101)
})

test('session bytes total stays monotonic when a session ends', async (t) => {
  const { fake, scrape } = await rig(t)
  let text = await scrape()
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="rx"}'), 1200)
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="tx"}'), 5300)

  // Session 1 moves more bytes, then ends: its final counts move from the
  // live sum into the ended sum.
  fake.live = [{ id: 1, rxBytes: 1500, txBytes: 6000 }, fake.live[1]!]
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="rx"}'), 1700)
  t.is(value(text, 'l2tp_ipsec_live_session_bytes{direction="rx"}'), 1700)
  fake.live = [fake.live[1]!]
  fake.emit('session-down', down(1, 'closed', 1600, 6100))
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="rx"}'), 1800)
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="tx"}'), 6400)
  t.is(value(text, 'l2tp_ipsec_live_session_bytes{direction="rx"}'), 200)

  // Every session gone: the total holds.
  fake.live = []
  fake.emit('session-down', down(2, 'peer', 200, 300))
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="rx"}'), 1800)
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="tx"}'), 6400)

  // A session that disappears without its session-down (yet) does not pull the total down.
  fake.live = [{ id: 3, rxBytes: 50, txBytes: 50 }]
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="rx"}'), 1850)
  fake.live = []
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="rx"}'), 1850)
  fake.emit('session-down', down(3, 'peer', 60, 50))
  text = await scrape()
  t.is(value(text, 'l2tp_ipsec_session_bytes_total{direction="rx"}'), 1860)
})

test('stop() detaches the listeners: nothing more is counted', async (t) => {
  const { fake, metrics, scrape } = await rig(t)
  t.is(fake.listenerCount('session-down'), 1)
  fake.emit('session-down', down(1, 'kicked', 10, 10))
  metrics.stop()
  for (const e of ['session-up', 'session-down', 'auth-failure', 'session-refused', 'ike-sa-up', 'ike-sa-down'] as const) t.is(fake.listenerCount(e), 0, e)
  fake.emit('session-down', down(2, 'kicked', 10, 10))
  fake.emit('ike-sa-up', { ikeSa: 'a', peer: { address: '192.0.2.1', port: 500 }, peerId: 'x', natDetected: false, suite: 's' })
  const calls = fake.statusCalls
  const text = await scrape()
  t.is(value(text, 'l2tp_ipsec_sessions_ended_total{reason="kicked"}'), 1)
  t.is(value(text, 'l2tp_ipsec_ike_sas_up_total'), 0)
  t.is(fake.statusCalls, calls, 'no more reads of the server')
  metrics.stop() // twice is harmless
})

test('the endpoint: index page, 404, 405, HEAD', async (t) => {
  const { http } = await rig(t)
  const index = await get(http.port, '/')
  t.is(index.status, 200)
  t.regex(index.headers['content-type'] ?? '', /^text\/html/)
  t.regex(index.body, /href="\/metrics"/)

  const withQuery = await get(http.port, '/metrics?name[]=x')
  t.is(withQuery.status, 200)
  t.regex(withQuery.body, /l2tp_ipsec_sessions 3/)

  const missing = await get(http.port, '/metrics/extra')
  t.is(missing.status, 404)
  t.is((await get(http.port, '/favicon.ico')).status, 404)

  const post = await get(http.port, '/metrics', 'POST')
  t.is(post.status, 405)
  t.is(post.headers.allow, 'GET, HEAD')
  t.is((await get(http.port, '/', 'DELETE')).status, 405)

  const head = await get(http.port, '/metrics', 'HEAD')
  t.is(head.status, 200)
  t.is(head.body, '')
  t.true(Number(head.headers['content-length']) > 0)
})

test('a failing scrape answers 500 and is reported', async (t) => {
  const fake = new FakeServer()
  fake.status = () => {
    throw new Error('status exploded')
  }
  const metrics = createServerMetrics(fake)
  const errors: Error[] = []
  const http = await startMetricsServer('127.0.0.1:0', metrics, { onError: (e) => errors.push(e) })
  t.teardown(async () => {
    metrics.stop()
    await http.close()
  })
  const r = await get(http.port, '/metrics')
  t.is(r.status, 500)
  t.regex(r.body, /status exploded/)
  t.is(errors.length, 1)
})

test('a second server on the same port rejects with a clear message', async (t) => {
  const { metrics, http } = await rig(t)
  t.is(http.address, '127.0.0.1')
  t.true(http.port > 0)
  const listen = `127.0.0.1:${http.port}`
  const e = await t.throwsAsync(startMetricsServer(listen, metrics), { instanceOf: MetricsServerError })
  t.is(e?.code, 'EADDRINUSE')
  t.true(e?.message.includes(listen), e?.message)
  t.regex(e?.message ?? '', /already in use/)
})

test('listen addresses: IPv6 in brackets, bad forms rejected', async (t) => {
  t.deepEqual(parseListen('[::1]:9100'), { host: '::1', port: 9100 })
  t.deepEqual(parseListen('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 })
  t.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 })
  for (const bad of ['9100', '::1:9100', '127.0.0.1:70000', '127.0.0.1:', 'a b:1']) {
    t.throws(() => parseListen(bad), { instanceOf: MetricsServerError, message: /host:port/ }, bad)
  }
  await t.throwsAsync(startMetricsServer('nonsense', createServerMetrics(new FakeServer())), { message: /"nonsense"/ })

  // IPv6 loopback, where the host has it.
  const metrics = createServerMetrics(new FakeServer())
  t.teardown(() => metrics.stop())
  let http: MetricsHttpServer
  try {
    http = await startMetricsServer('[::1]:0', metrics)
  } catch (e) {
    t.log(`no IPv6 loopback here: ${(e as Error).message}`)
    return
  }
  t.teardown(() => http.close())
  t.is(http.address, '::1')
  const r = await get(http.port, '/metrics', 'GET', '::1')
  t.is(r.status, 200)
})
