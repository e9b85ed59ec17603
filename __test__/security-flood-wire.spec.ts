// Floods against the limits that need more than a raw datagram, end to end
// in network namespaces (server in one, clients and flooders in the other,
// veth between; nothing leaves them):
//
// - L2TP tunnels and calls per client, flooded by an authenticated peer
//   over a real IKE SA and IPsec SA (lib/testing/l2tp-flooder.ts);
// - IKE SAs per identity, flooded by peers that share one IKE ID;
// - the control queue (data plane -> JS): a control flood while the JS
//   thread is busy.
//
// Through each, an established session (our L2tpClient) pings the gateway
// and every ping is answered; each refusal is counted exactly once in
// l2tp_ipsec_limit_hits_total; the flooder sees the StopCCN and CDN Result
// Codes of RFC 2661; RSS and file descriptors stay flat.
import test from 'ava'
import { readdirSync } from 'node:fs'
import { CdnResult, GeneralError, StopCcnResult } from '../lib/l2tp/constants.js'
import { FloodPeer, type Outcome } from '../lib/testing/l2tp-flooder.js'
import { addAddresses, holdWhileFlooding, limitHits, unknownCookieMessage } from './helpers/control-flood.js'
import { pingAsync, until } from './helpers/netns-run.js'
import { createRig, GATEWAY, PSK } from './helpers/vpn-rig.js'

const MiB = 1024 * 1024
const openFds = (): number => readdirSync('/proc/self/fd').length

const refusedBy = (outcomes: Outcome[]): Outcome[] => outcomes.filter((o) => !o.up)
const upIn = (outcomes: Outcome[]): Outcome[] => outcomes.filter((o) => o.up)

test.serial('L2TP over a real IPsec SA: tunnel after tunnel and call after call are refused at each limit with StopCCN/CDN, counted exactly; the established session pings throughout; memory flat', async (t) => {
  t.timeout(240_000)
  const rig = await createRig(t, 'l2fl', { l2tp: { maxTunnelsPerPeer: 2, maxSessionsPerTunnel: 3, maxSessionsPerPeer: 4 } })
  addAddresses(rig, ['10.250.0.30'])
  const hits = limitHits(t, rig.server)
  const alice = rig.client()
  await alice.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)

  const flooder = await FloodPeer.connect({ server: rig.net.addrA, psk: PSK, localAddress: '10.250.0.30', netns: rig.net.path(rig.net.b), user: 'bob', password: 'bob-pass-2' })
  t.teardown(() => flooder.close())
  const before = { tunnels: await hits('l2tp_tunnels_per_peer'), perTunnel: await hits('l2tp_sessions_per_tunnel'), perPeer: await hits('l2tp_sessions_per_peer') }
  // 60 pings at 0.2 s: the whole flood long.
  const pinging = pingAsync(rig.net.b, GATEWAY, 60)

  // Twelve SCCRQs at once: two tunnels, ten StopCCNs (Result Code 2 "general error", Error Code 4 "insufficient resources").
  const tunnels = await flooder.openTunnels(12)
  t.is(upIn(tunnels).length, 2, JSON.stringify(tunnels))
  for (const r of refusedBy(tunnels)) t.like(r.result, { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.INSUFFICIENT_RESOURCES })
  const [t1, t2] = upIn(tunnels).map((o) => o.id) as [number, number]
  // Eight ICRQs in the first tunnel: three calls (per tunnel), five CDNs (Result Code 4, Error Code 4).
  const first = await flooder.openCalls(t1, 8)
  t.is(upIn(first).length, 3, JSON.stringify(first))
  for (const r of refusedBy(first)) t.like(r.result, { resultCode: CdnResult.NO_FACILITIES_TEMPORARY, errorCode: GeneralError.INSUFFICIENT_RESOURCES, errorMessage: 'session limit per tunnel reached' })
  // Eight in the second: one call (four per client over its tunnels), seven CDNs.
  const second = await flooder.openCalls(t2, 8)
  t.is(upIn(second).length, 1, JSON.stringify(second))
  for (const r of refusedBy(second)) t.like(r.result, { resultCode: CdnResult.NO_FACILITIES_TEMPORARY, errorCode: GeneralError.INSUFFICIENT_RESOURCES, errorMessage: 'session limit per binding reached' })
  let expected = { tunnels: 10, perTunnel: 5, perPeer: 7 }

  // Then the flood proper: rounds of 40 SCCRQs and 2 x 20 ICRQs, every one refused.
  const rss: number[] = []
  const fds: number[] = []
  for (let round = 0; round < 6; round++) {
    const more = await flooder.openTunnels(40)
    const inFirst = await flooder.openCalls(t1, 20)
    const inSecond = await flooder.openCalls(t2, 20)
    t.is(upIn([...more, ...inFirst, ...inSecond]).length, 0, `round ${round}: nothing more admitted`)
    expected = { tunnels: expected.tunnels + 40, perTunnel: expected.perTunnel + 20, perPeer: expected.perPeer + 20 }
    rss.push(process.memoryUsage().rss)
    fds.push(openFds())
  }
  const ping = await pinging
  t.is(ping.received, 60, `the established session during the flood\n${ping.output}`)

  // Counted exactly once each, under its own limit.
  t.is((await hits('l2tp_tunnels_per_peer')) - before.tunnels, expected.tunnels)
  t.is((await hits('l2tp_sessions_per_tunnel')) - before.perTunnel, expected.perTunnel)
  t.is((await hits('l2tp_sessions_per_peer')) - before.perPeer, expected.perPeer)
  // A refusal keeps no state: the server holds alice's tunnel and call, and the flooder's two tunnels and four calls.
  const l2tp = rig.server.status().l2tp as { tunnels: number; sessions: number }
  t.like(l2tp, { tunnels: 3, sessions: 5 })
  // The four admitted calls are real sessions: bob logged in on each.
  t.true(await until(() => rig.server.sessions().filter((s) => s.user === 'bob').length === 4, 15_000), JSON.stringify(rig.server.sessions().map((s) => s.user)))
  const growth = (rss.at(-1)! - rss[1]!) / MiB
  t.true(growth < 16, `RSS grew ${growth.toFixed(1)} MiB over rounds 2-6 (${rss.map((r) => (r / MiB).toFixed(0)).join(', ')} MiB)`)
  t.true(fds.at(-1)! <= fds[1]! + 2, `file descriptors ${fds.join(', ')}`)
  t.log(`refused ${expected.tunnels} tunnels, ${expected.perTunnel} + ${expected.perPeer} calls; RSS ${rss.map((r) => (r / MiB).toFixed(0)).join(', ')} MiB; fds ${fds.join(', ')}`)

  // The flooder leaves; everything it held goes, alice stays.
  await flooder.hangUp()
  t.true(await until(() => (rig.server.status().l2tp as { tunnels: number }).tunnels === 1 && rig.server.sessions().length === 1, 20_000), JSON.stringify(rig.server.status().l2tp))
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.deepEqual(rig.seen.down.filter((d) => d.user === 'alice'), [])
})

test.serial('IKE SAs per identity over the wire: peers sharing one IKE ID beyond the limit are refused at Main Mode 5, counted once each; the established session pings throughout', async (t) => {
  t.timeout(180_000)
  const rig = await createRig(t, 'idfl', { security: { limits: { ikeSasPerIdentity: 2 } } })
  const addresses = Array.from({ length: 9 }, (_, i) => `10.250.0.${40 + i}`)
  addAddresses(rig, addresses)
  const hits = limitHits(t, rig.server)
  const alice = rig.client()
  await alice.connect()
  const before = await hits('ike_sas_per_identity')
  const pinging = pingAsync(rig.net.b, GATEWAY, 40)

  // Each flooder sends Main Mode 5 once (no retransmission), so each refusal is one count.
  const connect = (address: string) =>
    FloodPeer.connect({ server: rig.net.addrA, psk: PSK, localAddress: address, localId: 'flood@example.test', netns: rig.net.path(rig.net.b), user: 'bob', password: 'bob-pass-2', ike: { retransmitInterval: 4, retransmitTries: 0 }, connectTimeout: 15 })
  const settled = await Promise.allSettled(addresses.slice(0, 5).map(connect))
  const admitted = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  t.teardown(() => admitted.forEach((p) => p.close()))
  t.is(admitted.length, 2, JSON.stringify(settled.map((s) => (s.status === 'rejected' ? String(s.reason) : 'up'))))
  for (const s of settled) if (s.status === 'rejected') t.regex(String(s.reason), /no answer from the responder/)
  // More of the same identity from four more addresses: none admitted.
  const again = await Promise.allSettled(addresses.slice(5).map(connect))
  t.is(again.filter((s) => s.status === 'fulfilled').length, 0)
  t.is((await hits('ike_sas_per_identity')) - before, 3 + 4, 'one count per refused Main Mode 5')
  t.is(Number((rig.server.status().ike as { ikeSas: number; halfOpen: number }).ikeSas) - Number((rig.server.status().ike as { halfOpen: number }).halfOpen), 3, 'alice and the two admitted')
  const ping = await pinging
  t.is(ping.received, 40, ping.output)
  t.deepEqual(rig.seen.down, [])
})

test.serial('control queue: a control flood while the JS thread is busy is dropped and counted in Rust at exactly the IKE share of the limit (7/8, the rest kept for the control of established sessions); memory bounded; the established session passes traffic throughout', async (t) => {
  t.timeout(180_000)
  const LIMIT = 512
  // IKE from the network may fill 7/8 of the queue; the last eighth is kept for control from established sessions.
  const IKE_SHARE = LIMIT - LIMIT / 8
  const COUNT = 40_000
  // No keepalives either way, so the flood is (nearly) the only control traffic while JS is held.
  const rig = await createRig(t, 'cq', { security: { limits: { controlQueue: LIMIT } }, ppp: { echoInterval: 0 }, l2tp: { helloInterval: 0 }, ipsec: { psk: PSK, dpdDelay: 0 } })
  addAddresses(rig, ['10.250.0.60'])
  const hits = limitHits(t, rig.server)
  const alice = rig.client({ ppp: { echoInterval: 0 }, ike: { dpdDelay: 0 } })
  await alice.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)

  // Main Mode with a responder cookie we never gave: 1000 bytes, cheap to refuse, each counted as 'unknown cookies'.
  const message = unknownCookieMessage(1000)
  const counters = () => rig.server.status().counters ?? {}
  const unknownCookies = () => Number((rig.server.status().ike as { dropped: Record<string, number> }).dropped['unknown cookies'] ?? 0)
  const settle = async (c: Record<string, number>, u: number) => {
    const delta = (name: string) => (counters()[name] ?? 0) - (c[name] ?? 0)
    // Handled by JS once it runs again, or dropped at the queue: every frame read is one or the other.
    await until(() => unknownCookies() - u + delta('up_queue_full') >= delta('ike_in'), 10_000)
    return { read: delta('ike_in'), others: delta('l2tp_control_in') + delta('ppp_control_in'), handled: unknownCookies() - u, dropped: delta('up_queue_full'), droppedBytes: delta('up_queue_bytes_full') }
  }

  // A first, small flood (twice the queue) brings the allocators and the measuring itself to their working size.
  let c0 = counters()
  let u0 = unknownCookies()
  const warm = await holdWhileFlooding(rig, '10.250.0.60', message, 2 * LIMIT)
  const small = await settle(c0, u0)
  t.is(warm.sent, 2 * LIMIT)
  t.is(small.dropped, small.read - IKE_SHARE)

  // The flood proper: 40 MB of control traffic while JS is held, pings through it all.
  c0 = counters()
  u0 = unknownCookies()
  const h0 = await hits('control_queue')
  const fds0 = openFds()
  const pinging = pingAsync(rig.net.b, GATEWAY, 20)
  const big = await holdWhileFlooding(rig, '10.250.0.60', message, COUNT)
  t.is(big.sent, COUNT)
  const r = await settle(c0, u0)
  t.log(`flood of ${COUNT}: the data plane read ${r.read} (and ${r.others} other control frames); JS handled ${r.handled}, ${r.dropped} dropped at the queue; peak RSS while held ${(warm.peakRss / MiB).toFixed(0)} MiB (small flood) -> ${(big.peakRss / MiB).toFixed(0)} MiB, outside the JS heap ${(warm.peakNative / MiB).toFixed(0)} -> ${(big.peakNative / MiB).toFixed(0)} MiB`)
  t.true(r.read >= COUNT * 0.9, `the data plane read ${r.read} of ${COUNT}`)
  // JS was held through the flood: exactly IKE's share of the queue reached it, every frame beyond was dropped and counted.
  // (The odd control frame of the established session that may come while JS is held goes in the kept eighth, not dropped.)
  t.is(r.dropped, r.read - IKE_SHARE)
  t.is(r.handled, IKE_SHARE, `JS handled ${r.handled} of the flood`)
  t.is(r.droppedBytes, 0, 'the byte bound (32 MiB) is far: 448 frames of 1000 bytes')
  t.is((await hits('control_queue')) - h0, r.dropped, 'the metric counts exactly the dropped')
  // Memory does not follow the flood: 40x the small flood's traffic, (nearly) the same peak; an unbounded queue would hold ~40 MB.
  const growth = (big.peakRss - warm.peakRss) / MiB
  t.true(growth < 16, `peak RSS ${growth.toFixed(1)} MiB above the small flood's`)
  const ping = await pinging
  t.is(ping.received, 20, `the established session while JS was held\n${ping.output}`)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.true(openFds() <= fds0 + 2, `file descriptors ${fds0} -> ${openFds()}`)
  t.deepEqual(rig.seen.down, [])
})

test.serial('pending auth over the wire: a peer placing call after call while the login callback is slow: exactly pendingAuth wait, the rest are refused busy and counted once each; the established session pings throughout', async (t) => {
  t.timeout(180_000)
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => (release = r))
  t.teardown(() => release())
  // alice is a local user; carol goes to the callback, which answers only when released.
  const rig = await createRig(t, 'pafl', {
    security: { limits: { pendingAuth: 3 } },
    authenticate: async ({ user }) => {
      await gate
      return user === 'carol' ? { password: 'carol-pass-3' } : { accept: false, reason: 'unknown' }
    },
  })
  addAddresses(rig, ['10.250.0.70'])
  const hits = limitHits(t, rig.server)
  const alice = rig.client()
  await alice.connect()
  const before = await hits('pending_auth')
  const pinging = pingAsync(rig.net.b, GATEWAY, 30)
  const flooder = await FloodPeer.connect({ server: rig.net.addrA, psk: PSK, localAddress: '10.250.0.70', netns: rig.net.path(rig.net.b), user: 'carol', password: 'carol-pass-3' })
  t.teardown(() => flooder.close())
  const [tunnel] = await flooder.openTunnels(1)
  t.true(tunnel!.up)
  const calls = await flooder.openCalls(tunnel!.id, 12)
  t.is(upIn(calls).length, 12, 'the calls themselves are within the L2TP limits')
  const security = () => rig.server.status().security as { pendingAuth: number; limitHits: Record<string, number> }
  // Twelve logins at once: three wait on the callback, nine are answered busy.
  t.true(await until(() => security().pendingAuth === 3 && security().limitHits.pending_auth === 9, 20_000), JSON.stringify(security()))
  t.is((await hits('pending_auth')) - before, 9)
  t.is(rig.seen.authFailures.filter((f) => f.reason === 'busy').length, 9, JSON.stringify(rig.seen.authFailures))
  t.is(security().limitHits.ppp_auth_lockout, 0, 'busy is not a wrong guess')
  release()
  t.true(await until(() => rig.server.sessions().filter((s) => s.user === 'carol').length === 3, 20_000), JSON.stringify(rig.server.sessions().map((s) => s.user)))
  t.is(security().pendingAuth, 0)
  t.is((await hits('pending_auth')) - before, 9, 'nothing more refused once the callback answered')
  const ping = await pinging
  t.is(ping.received, 30, ping.output)
  t.deepEqual(rig.seen.down.filter((d) => d.user === 'alice'), [])
})
