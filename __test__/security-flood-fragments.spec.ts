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
// descriptors stay flat over a second flood like the first: the JS heap
// and the Buffers alive after a full GC do not grow, and the second
// flood's peak RSS is the first's. (RSS after a GC stays near the peak
// either way: the allocator keeps the pages the 72 MB of datagrams passed
// through, and a second flood reuses them.)
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

  // The flood proper: 800 messages again, 72 MB of fragments, pings through it all.
  const b1 = await baseline()
  const fds0 = openFds()
  const pinging = pingAsync(rig.net.b, GATEWAY, 40)
  const peak = await flood(MESSAGES)
  const r = await settled(b1, MESSAGES)
  const live1 = liveMemory()
  t.log(
    `${MESSAGES} messages of ${FRAGMENTS} x ${FRAGMENT_DATA} bytes: ${r.counted} counted as ike_fragment_bytes, ${r.dropped} datagrams dropped by the kernel at the server's socket; ` +
      `RSS after a full GC ${live[0]!.rss} (before) -> ${live0.rss} (after the first flood) -> ${live1.rss} MiB (heap used ${(live0.heapUsed / MiB).toFixed(1)} -> ${(live1.heapUsed / MiB).toFixed(1)} MiB, Buffers ${(live0.arrayBuffers / MiB).toFixed(1)} -> ${(live1.arrayBuffers / MiB).toFixed(1)} MiB); peak RSS ${(warmPeak / MiB).toFixed(0)} MiB (first flood), ${(peak / MiB).toFixed(0)} MiB (second)`,
  )
  // Each message whose three fragments arrived is counted exactly once; a datagram the kernel dropped can spare at most one message.
  t.true(r.counted <= MESSAGES && r.counted >= MESSAGES - r.dropped, JSON.stringify(r))
  t.true(r.counted >= MESSAGES / 2, `only ${r.counted} of ${MESSAGES} messages reached the limit (the kernel dropped ${r.dropped} datagrams)`)
  // A message over the limit is discarded whole: nothing held but what a dropped datagram left incomplete.
  t.true(security().reassembling <= r.dropped, `reassembling ${security().reassembling}`)
  // 72 MB of fragments again: what the server holds afterwards is what it held before, and the peak is the first flood's.
  t.true(live1.heapUsed - live0.heapUsed < 4 * MiB, `JS heap in use grew ${((live1.heapUsed - live0.heapUsed) / MiB).toFixed(1)} MiB`)
  t.true(live1.arrayBuffers - live0.arrayBuffers < 4 * MiB, `Buffers alive grew ${((live1.arrayBuffers - live0.arrayBuffers) / MiB).toFixed(1)} MiB`)
  t.true(peak - warmPeak < 8 * MiB, `peak RSS ${((peak - warmPeak) / MiB).toFixed(1)} MiB above the first flood's`)
  t.true(openFds() <= fds0 + 2, `file descriptors ${fds0} -> ${openFds()}`)
  const ping = await pinging
  t.is(ping.received, 40, `the established session during the flood\n${ping.output}`)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.deepEqual(rig.seen.down, [])
})
