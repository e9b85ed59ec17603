// Per-session traffic anomaly flags end to end: the data plane counts what
// each client sends (rate against its moving average, distinct destinations
// in a small sketch); the server reports a crossing as a `session-anomaly`
// event, a metric and a log line, and with anomaly.mode kick ends the
// session (reason 'anomaly'). Off (the default) raises nothing; a reload
// turns the flags on. Needs root.
import test from 'ava'
import { fileURLToPath } from 'node:url'
import { createServerMetrics } from '../lib/metrics/index.js'
import { runNode, sleep, until } from './helpers/netns-run.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'
import type { L2tpServerOptions } from '../lib/server/l2tp-server.js'

const UDP_BURST = fileURLToPath(new URL('./helpers/udp-burst.mjs', import.meta.url))

function metricValue(exposition: string, sample: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${sample} `))
  return line === undefined ? undefined : Number(line.slice(sample.length + 1))
}

test.serial('a sweep over many destinations: nothing while anomaly is off; after a reload to notify, one session-anomaly event and the metric, the session stays', async (t) => {
  const rig = await createRig(t, 'anot')
  const metrics = createServerMetrics(rig.server)
  t.teardown(() => metrics.stop())
  const up = await rig.client().connect()
  await runNode(rig.net.b, [UDP_BURST, GATEWAY, '20000', '200', '1'])
  await sleep(2500)
  t.deepEqual(rig.seen.anomalies, [], 'anomaly.mode off (the default)')

  const next = { ...rig.server.config, anomaly: { mode: 'notify', rateJump: null, destinations: { max: 50, interval: 30 } } } as L2tpServerOptions
  t.deepEqual(rig.server.reload(next).changed, ['anomaly'])
  await runNode(rig.net.b, [UDP_BURST, GATEWAY, '20000', '200', '1'])
  t.true(await until(() => rig.seen.anomalies.length > 0, 5000), 'flagged')
  const [flag] = rig.seen.anomalies
  t.like(flag, { user: 'alice', address: up.address, kind: 'destinations', threshold: 50, action: 'notify' })
  t.true(flag!.value >= 190 && flag!.value <= 210, `about 200 destinations, estimated ${flag!.value}`)
  await runNode(rig.net.b, [UDP_BURST, GATEWAY, '30000', '200', '1'])
  await sleep(2500)
  t.is(rig.seen.anomalies.length, 1, 'once per interval')
  t.is(metricValue(await metrics.metrics(), 'l2tp_ipsec_session_anomalies_total{kind="destinations"}'), 1)
  t.is(metricValue(await metrics.metrics(), 'l2tp_ipsec_session_anomalies_total{kind="rate-jump"}'), 0)
  t.is(rig.server.sessions().length, 1, 'notify leaves the session up')
  t.deepEqual(rig.seen.down, [])
})

test.serial('kick: a sudden burst against a quiet session raises a rate-jump flag and ends the session with reason anomaly', async (t) => {
  const rig = await createRig(t, 'akick', { anomaly: { mode: 'kick', rateJump: { factor: 5, minPps: 300, averageSeconds: 3 }, destinations: null } })
  const client = rig.client()
  const downs: string[] = []
  client.on('down', (d) => downs.push(d.reason))
  await client.connect()
  await sleep(4500) // the moving average settles on the quiet session
  t.deepEqual(rig.seen.anomalies, [])
  await runNode(rig.net.b, [UDP_BURST, GATEWAY, '9', '5000', '0'])
  t.true(await until(() => rig.seen.down.length > 0, 8000), 'the session ended')
  const [flag] = rig.seen.anomalies
  t.like(flag, { user: 'alice', kind: 'rate-jump', action: 'kick' })
  t.true(flag!.value >= 300, `${flag!.value} packets/s`)
  t.is(rig.seen.down[0]!.reason, 'anomaly')
  t.regex(rig.seen.down[0]!.detail, /packets\/s/)
  t.true(await until(() => downs.length > 0, 10_000), 'the client saw its session end')
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
})
