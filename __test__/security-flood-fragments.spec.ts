// The IKE fragment-reassembly byte limit (security.limits.ikeFragmentBytes,
// default 64 KiB) flooded over the wire, end to end in network namespaces
// (server in one, the client and the flooder in the other, veth between;
// nothing leaves them). The flooder needs no IKE SA: fragments are
// reassembled before any exchange exists for their cookies. Each flooded
// message is three 30,000-byte fragments (the UDP datagrams are
// IP-fragmented on the veth and put together by the kernel) under a fresh
// cookie, none flagged last: the third takes the message past 64 KiB.
//
// Through it an established session (our L2tpClient) pings the gateway and
// every ping is answered; each message over the limit is counted once in
// l2tp_ipsec_limit_hits_total{limit="ike_fragment_bytes"}; nothing stays
// held for reassembly; RSS and file descriptors stay flat.
import test from 'ava'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readKernelCounters } from '../lib/bench/soak-kernel.js'
import { createServerMetrics } from '../lib/metrics/registry.js'
import { pingAsync, runNode, until } from './helpers/netns-run.js'
import { sample } from './helpers/ops-rig.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'

const FLOOD = fileURLToPath(new URL('./helpers/ike-fragment-flood.ts', import.meta.url))
const MiB = 1024 * 1024
const FRAGMENT_DATA = 30_000
const FRAGMENTS = 3
const openFds = (): number => readdirSync('/proc/self/fd').length

test('IKE fragments past the byte limit over the wire: each message counted once as ike_fragment_bytes, nothing held, memory flat; the established session pings throughout', async (t) => {
  t.timeout(240_000)
  const rig = await createRig(t, 'frfl')
  const source = '10.250.0.80'
  rig.net.exec(rig.net.b, ['ip', 'addr', 'add', `${source}/24`, 'dev', rig.net.vethB])
  const metrics = createServerMetrics(rig.server)
  t.teardown(() => metrics.stop())
  const hits = async () => sample(await metrics.metrics(), 'l2tp_ipsec_limit_hits_total', { limit: 'ike_fragment_bytes' })
  const security = () => rig.server.status().security as { reassembling: number; limitHits: Record<string, number> }
  const refused = () => security().limitHits.ike_fragment_bytes ?? 0
  // Datagrams the kernel dropped at the server's IKE socket (a full receive buffer): those never reached the limit.
  const socketDrops = () => readKernelCounters(rig.net.a).socketDrops['500'] ?? 0
  const alice = rig.client()
  await alice.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)

  // RSS every 50 ms while `messages` messages are flooded: the peak.
  const flood = async (messages: number) => {
    let peak = 0
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
    try {
      const sent = Number((await runNode(rig.net.b, ['--import', 'tsx', FLOOD, rig.net.addrA, '500', String(messages), String(FRAGMENTS), String(FRAGMENT_DATA), source])).trim())
      t.is(sent, messages * FRAGMENTS)
    } finally {
      clearInterval(sampler)
    }
    return peak
  }
  // Every datagram sent has been handled by JS (or the kernel dropped it): the counts settle.
  const baseline = async () => ({ hits: await hits(), refused: refused(), drops: socketDrops() })
  const settled = async (b: { hits: number; refused: number; drops: number }, messages: number) => {
    await until(() => refused() - b.refused >= messages - (socketDrops() - b.drops), 20_000)
    const counted = refused() - b.refused
    t.is((await hits()) - b.hits, counted, 'the metric shows what status() counts')
    return { counted, dropped: socketDrops() - b.drops }
  }

  // A first, small flood brings the allocators and the measuring to their working size.
  const b0 = await baseline()
  const warmPeak = await flood(50)
  const warm = await settled(b0, 50)
  t.true(warm.counted <= 50 && warm.counted >= 50 - warm.dropped, JSON.stringify(warm))

  // The flood proper: 800 messages, 72 MB of fragments, pings through it all.
  const MESSAGES = 800
  const b1 = await baseline()
  const fds0 = openFds()
  const pinging = pingAsync(rig.net.b, GATEWAY, 40)
  const peak = await flood(MESSAGES)
  const r = await settled(b1, MESSAGES)
  t.log(`${MESSAGES} messages of ${FRAGMENTS} x ${FRAGMENT_DATA} bytes: ${r.counted} counted as ike_fragment_bytes, ${r.dropped} datagrams dropped by the kernel at the server's socket; peak RSS ${(warmPeak / MiB).toFixed(0)} MiB (50 messages) -> ${(peak / MiB).toFixed(0)} MiB`)
  // Each message whose three fragments arrived is counted exactly once; a datagram the kernel dropped can spare at most one message.
  t.true(r.counted <= MESSAGES && r.counted >= MESSAGES - r.dropped, JSON.stringify(r))
  t.true(r.dropped <= MESSAGES / 10, `the kernel dropped ${r.dropped} datagrams: the flood did not reach the limit`)
  // A message over the limit is discarded whole: nothing held but what a dropped datagram left incomplete.
  t.true(security().reassembling <= r.dropped, `reassembling ${security().reassembling}`)
  // 16x the small flood's traffic, (nearly) the same peak: the limit bounds what a message may hold.
  const growth = (peak - warmPeak) / MiB
  t.true(growth < 16, `peak RSS ${growth.toFixed(1)} MiB above the small flood's`)
  t.true(openFds() <= fds0 + 2, `file descriptors ${fds0} -> ${openFds()}`)
  const ping = await pinging
  t.is(ping.received, 40, `the established session during the flood\n${ping.output}`)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.deepEqual(rig.seen.down, [])
})
