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
// held for reassembly; live memory (RSS after a full GC) and file
// descriptors stay flat over two more floods like the first: the JS heap
// and the Buffers alive after a full GC do not grow, and RSS stays far
// below what passed through. (RSS outside the JS heap does rise by some
// 20-35 MiB over the three floods and stays after a GC: the allocator keeps
// pages the datagrams passed through. Logged, bounded at 64 MiB.)
import test from 'ava'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readKernelCounters } from '../lib/bench/soak-kernel.js'
import { snapshot } from '../lib/bench/snapshot.js'
import { createServerMetrics } from '../lib/metrics/registry.js'
import { pingAsync, runNode, until } from './helpers/netns-run.js'
import { sample } from './helpers/ops-rig.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'

const FLOOD = fileURLToPath(new URL('./helpers/ike-fragment-flood.ts', import.meta.url))
const MiB = 1024 * 1024
const FRAGMENT_DATA = 30_000
const FRAGMENTS = 3
const openFds = (): number => readdirSync('/proc/self/fd').length
/** After a full GC: RSS (MiB), the JS heap in use and the Buffers alive (bytes). */
const liveMemory = () => ({ ...snapshot(), arrayBuffers: process.memoryUsage().arrayBuffers })

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

  // A first flood like the measured one brings the allocators and the measuring to their working size.
  const MESSAGES = 800
  const live = [liveMemory()]
  const b0 = await baseline()
  const warmPeak = await flood(MESSAGES)
  const warm = await settled(b0, MESSAGES)
  t.true(warm.counted <= MESSAGES && warm.counted >= MESSAGES - warm.dropped, JSON.stringify(warm))
  const live0 = liveMemory()

  // The flood proper: twice 800 messages more, 144 MB of fragments, pings through it all.
  const b1 = await baseline()
  const fds0 = openFds()
  const pinging = pingAsync(rig.net.b, GATEWAY, 60)
  const peaks = [await flood(MESSAGES), await flood(MESSAGES)]
  const r = await settled(b1, 2 * MESSAGES)
  const live1 = liveMemory()
  t.log(
    `3 x ${MESSAGES} messages of ${FRAGMENTS} x ${FRAGMENT_DATA} bytes; of the last 2 x ${MESSAGES}: ${r.counted} counted as ike_fragment_bytes, ${r.dropped} datagrams dropped by the kernel at the server's socket; ` +
      `RSS after a full GC ${live[0]!.rss} (before) -> ${live0.rss} (after the first flood) -> ${live1.rss} MiB (after the third); heap used ${(live0.heapUsed / MiB).toFixed(1)} -> ${(live1.heapUsed / MiB).toFixed(1)} MiB, Buffers ${(live0.arrayBuffers / MiB).toFixed(1)} -> ${(live1.arrayBuffers / MiB).toFixed(1)} MiB; peak RSS per flood ${[warmPeak, ...peaks].map((p) => (p / MiB).toFixed(0)).join(', ')} MiB`,
  )
  // Each message whose three fragments arrived is counted exactly once; a datagram the kernel dropped can spare at most one message.
  t.true(r.counted <= 2 * MESSAGES && r.counted >= 2 * MESSAGES - r.dropped, JSON.stringify(r))
  t.true(r.counted >= MESSAGES, `only ${r.counted} of ${2 * MESSAGES} messages reached the limit (the kernel dropped ${r.dropped} datagrams)`)
  // A message over the limit is discarded whole: nothing held but what a dropped datagram left incomplete.
  t.true(security().reassembling <= r.dropped, `reassembling ${security().reassembling}`)
  // 144 MB of fragments more: the JS heap and the Buffers alive are what they were; RSS stays far below what passed through.
  t.true(live1.heapUsed - live0.heapUsed < 4 * MiB, `JS heap in use grew ${((live1.heapUsed - live0.heapUsed) / MiB).toFixed(1)} MiB`)
  t.true(live1.arrayBuffers - live0.arrayBuffers < 4 * MiB, `Buffers alive grew ${((live1.arrayBuffers - live0.arrayBuffers) / MiB).toFixed(1)} MiB`)
  t.true(live1.rss - live[0]!.rss < 64, `RSS after a full GC grew ${(live1.rss - live[0]!.rss).toFixed(1)} MiB over 216 MB of fragments`)
  t.true(openFds() <= fds0 + 2, `file descriptors ${fds0} -> ${openFds()}`)
  const ping = await pinging
  t.is(ping.received, 60, `the established session during the flood\n${ping.output}`)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.deepEqual(rig.seen.down, [])
})
