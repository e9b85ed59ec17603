// The byte bound of the queue from the data plane to JS
// (security.limits.controlQueueBytes), end to end in network namespaces the
// rig creates: large IKE datagrams (60,000 bytes, a few hundred KiB of
// them fill the bound long before the item bound of 65,536) flood UDP 500
// while the JS thread is held. The data plane drops what exceeds the byte
// bound and counts it (up_queue_bytes_full, limit control_queue_bytes);
// the queue and RSS stay bounded; the established session passes traffic
// throughout and its control works afterwards (a second client connects).
import test from 'ava'
import { DataPlane } from '../native/index.js'
import { addAddresses, holdWhileFlooding, limitHits, unknownCookieMessage } from './helpers/control-flood.js'
import { pingAsync, until } from './helpers/netns-run.js'
import { createRig, GATEWAY, PSK } from './helpers/vpn-rig.js'

const MiB = 1024 * 1024

test('the data plane refuses a byte bound below 1 MiB, naming the option, before opening anything', (t) => {
  const open = (upQueueBytes: number) => new DataPlane({ ike: ['127.0.0.1:0'], upQueueBytes }, () => {})
  const err = t.throws(() => open(MiB - 1))
  t.regex(err.message, /upQueueBytes must be at least 1048576 \(1 MiB\), got 1048575/)
  const dp = open(MiB)
  t.teardown(() => dp.close())
  t.regex(dp.localAddresses().ike[0]!, /^127\.0\.0\.1:\d+$/)
  t.is(dp.summary().counters.up_queue_bytes, 0)
  t.is(dp.summary().counters.up_queue_bytes_full, 0)
})

test.serial('control queue byte bound: a flood of 60,000-byte IKE datagrams while JS is held is dropped and counted at exactly the byte bound; queue and RSS bounded; the established session works throughout and after', async (t) => {
  t.timeout(180_000)
  const BYTES = 4 * MiB
  const SIZE = 60_000
  // IKE from the network may fill 7/8 of the bound (the last eighth is kept for established sessions' control): 61 datagrams.
  const ADMITTED = Math.floor((BYTES - BYTES / 8) / SIZE)
  const COUNT = 1500
  // No keepalives either way, so the flood is (nearly) the only control traffic while JS is held.
  const rig = await createRig(t, 'cqb', { security: { limits: { controlQueueBytes: BYTES } }, ppp: { echoInterval: 0 }, l2tp: { helloInterval: 0 }, ipsec: { psk: PSK, dpdDelay: 0 } })
  addAddresses(rig, ['10.250.0.61'])
  const hits = limitHits(t, rig.server)
  const alice = rig.client({ ppp: { echoInterval: 0 }, ike: { dpdDelay: 0 } })
  await alice.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)

  const message = unknownCookieMessage(SIZE)
  const counters = () => rig.server.status().counters ?? {}
  const unknownCookies = () => Number((rig.server.status().ike as { dropped: Record<string, number> }).dropped['unknown cookies'] ?? 0)
  const settle = async (c: Record<string, number>, u: number) => {
    const delta = (name: string) => (counters()[name] ?? 0) - (c[name] ?? 0)
    // Handled by JS once it runs again, or dropped at the queue: every datagram read is one or the other.
    await until(() => unknownCookies() - u + delta('up_queue_bytes_full') + delta('up_queue_full') >= delta('ike_in'), 10_000)
    return { read: delta('ike_in'), handled: unknownCookies() - u, droppedBytes: delta('up_queue_bytes_full'), droppedItems: delta('up_queue_full'), others: delta('l2tp_control_in') + delta('ppp_control_in') }
  }

  // A first, small flood (twice what fits) brings the allocators and the measuring itself to their working size.
  let c0 = counters()
  let u0 = unknownCookies()
  const warm = await holdWhileFlooding(rig, '10.250.0.61', message, 2 * ADMITTED)
  const small = await settle(c0, u0)
  t.is(warm.sent, 2 * ADMITTED)
  t.is(small.droppedBytes, small.read - ADMITTED, JSON.stringify(small))

  // The flood proper: 90 MB of IKE while JS is held, pings through it all.
  c0 = counters()
  u0 = unknownCookies()
  const h0 = await hits('control_queue_bytes')
  const hItems0 = await hits('control_queue')
  const pinging = pingAsync(rig.net.b, GATEWAY, 20)
  const big = await holdWhileFlooding(rig, '10.250.0.61', message, COUNT)
  t.is(big.sent, COUNT)
  const r = await settle(c0, u0)
  const growth = (big.peakRss - warm.peakRss) / MiB
  // What the queue may hold (the bound) plus one batch's copy of it on its way to JS, with room for the allocator: far below the flood.
  const RSS_BOUND = (3 * BYTES) / MiB + 8
  t.log(`flood of ${COUNT} x ${SIZE} bytes (${((COUNT * SIZE) / MiB).toFixed(0)} MiB): the data plane read ${r.read}; JS handled ${r.handled}; ${r.droppedBytes} dropped at the byte bound (${BYTES} bytes, IKE's share ${ADMITTED} datagrams), ${r.droppedItems} at the item bound; ${r.others} other control frames`)
  t.log(`queue peak while held: ${big.peakQueued} items, ${big.peakQueuedBytes} bytes; peak RSS ${(warm.peakRss / MiB).toFixed(0)} MiB (small flood) -> ${(big.peakRss / MiB).toFixed(0)} MiB (+${growth.toFixed(1)} MiB, bound ${RSS_BOUND} MiB; the datagrams read would be ${((r.read * SIZE) / MiB).toFixed(0)} MiB unbounded), outside the JS heap ${(warm.peakNative / MiB).toFixed(0)} -> ${(big.peakNative / MiB).toFixed(0)} MiB`)
  // The flood was read (so the bound, not the kernel's socket buffer, is what held it back), at least ten times what fits.
  t.true(r.read >= 10 * ADMITTED, `the data plane read ${r.read} of ${COUNT}`)
  // JS was held through the flood: exactly IKE's share of the byte bound reached it, every datagram beyond was dropped and counted there.
  t.is(r.droppedBytes, r.read - ADMITTED)
  t.is(r.handled, ADMITTED)
  t.is(r.droppedItems, 0, 'the item bound (65,536) is far')
  t.is((await hits('control_queue_bytes')) - h0, r.droppedBytes, 'the metric counts exactly the dropped')
  t.is((await hits('control_queue')) - hItems0, 0)
  t.is((rig.server.status().security as { limitHits: Record<string, number> }).limitHits.control_queue_bytes, small.droppedBytes + r.droppedBytes, 'status() shows it too')
  // The queue never held more than the bound: IKE's share, full, plus any control frame of the established session that came
  // meanwhile (kept in the last eighth, not dropped: counted in neither drop counter above).
  t.true(big.peakQueuedBytes >= ADMITTED * SIZE && big.peakQueuedBytes <= BYTES, `peak ${big.peakQueuedBytes} bytes`)
  t.true(big.peakQueued <= ADMITTED + r.others, `peak ${big.peakQueued} items`)
  // Memory does not follow the flood.
  t.true(growth < RSS_BOUND, `peak RSS ${growth.toFixed(1)} MiB above the small flood's, bound ${RSS_BOUND} MiB`)
  t.true(await until(() => (counters().up_queue_bytes ?? -1) === 0, 10_000), 'the queue drains once JS runs')

  // The established session: every ping through the flood, and more after it.
  const ping = await pinging
  t.is(ping.received, 20, `the established session while JS was held\n${ping.output}`)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  // Control works again: a new client makes its IKE, L2TP and PPP exchanges through the same queue.
  const bob = rig.client({ user: 'bob', password: 'bob-pass-2', ppp: { echoInterval: 0 }, ike: { dpdDelay: 0 } })
  await bob.connect()
  t.true(await until(() => rig.server.sessions().length === 2, 10_000), JSON.stringify(rig.server.sessions().map((s) => s.user)))
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.deepEqual(rig.seen.down, [])
})
