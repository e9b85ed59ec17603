// The native data plane end to end, no IKE yet: a server data plane with a
// TUN device in one network namespace, a peer data plane (the role our own
// client will play) in another, joined by veth. The peer seals ESP-in-UDP
// L2TP/PPP frames with keys both were given.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DataPlane } from '../native/index.js'
import type { ControlBatch } from '../native/index.js'
import { EspSa, packBatch, unpackBatch } from '../lib/index.js'
import { ip, type NetnsPair } from '../lib/testing/netns.js'
import { CLIENT_INNER, createDataplanePair, SERVER_INNER, type DataplanePair } from '../lib/testing/dataplane-pair.js'
import { ipv4, udp } from './helpers/packets.js'
import { ping as pingIn, runNode as run, sleep, until } from './helpers/netns-run.js'

const DENIED_INNER = '192.168.78.1'
const SINK = fileURLToPath(new URL('./helpers/tcp-sink.mjs', import.meta.url))
const SOURCE = fileURLToPath(new URL('./helpers/tcp-source.mjs', import.meta.url))
const UDP_SEND = fileURLToPath(new URL('./helpers/udp-send.mjs', import.meta.url))

function pair(t: { teardown: (fn: () => void) => void }, options: Parameters<typeof createDataplanePair>[1] = {}): DataplanePair {
  const p = createDataplanePair('dp', options)
  t.teardown(p.close)
  return p
}

const events = (side: { batches: ControlBatch[] }) => side.batches.flatMap((b) => b.events)

/** An L2TP data message (RFC 2661 3.1, no optional fields) carrying PPP. */
function l2tpData(tunnel: number, session: number, ppp: Buffer): Buffer {
  const h = Buffer.alloc(6)
  h.writeUInt16BE(0x0002, 0)
  h.writeUInt16BE(tunnel, 2)
  h.writeUInt16BE(session, 4)
  return Buffer.concat([h, ppp])
}

const pppIp = (packet: Buffer) => Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), packet])
const icmpEcho = Buffer.from('0800f7ff00000000', 'hex')

for (const suite of ['aes128gcm-16', 'aes128-sha1']) {
  test.serial(`${suite}: ping and 100 MB through the tunnel, every byte checked`, async (t) => {
    const { net, server, client } = pair(t, { suite })
    t.is(pingIn(net.b, SERVER_INNER, 3).received, 3, 'ping through the tunnel')

    const bytes = 100 * 1024 * 1024
    let listening: () => void = () => {}
    const ready = new Promise<void>((r) => (listening = r))
    const sink = run(net.a, [SINK, SERVER_INNER, '5001'], (line) => line === 'listening' && listening())
    await ready
    const sent = await run(net.b, [SOURCE, SERVER_INNER, '5001', String(bytes), suite])
    const received = (await sink).trim().split('\n').pop()
    t.is(received, sent.trim(), 'the sink got exactly the bytes sent (count and SHA-256)')
    t.true(received!.startsWith(`${bytes} `))

    const stats = server.dp.stats()
    const session = stats.sessions.find((s) => s.id === 1)!
    t.true(session.rxBytes >= bytes, `session counted ${session.rxBytes} bytes in`)
    t.true(session.txPackets > 0)
    t.is(stats.sas.find((s) => s.spi === 0x1001)!.icvFailures, 0)
    // Data never goes up: the only frames JS saw are the kernel's IPv6
    // Router Solicitations from the peer's TUN (answered by the control plane).
    const up = server.batches.flatMap((b) => unpackBatch({ data: b.packets, offsets: b.offsets }))
    t.true(up.every((f) => f.readUInt16BE(2) === 0x0057), 'only IPv6 (RS) frames went up')
    t.true(up.length < 10, `${up.length} frames went up`)
    t.is(client.dp.stats().counters.spoofed, 0)
    // summary() (status and health checks) counts what stats() lists, without listing it.
    const summary = server.dp.summary()
    const full = server.dp.stats()
    t.deepEqual([summary.sas, summary.sessions], [full.sas.length, full.sessions.length])
    t.true(summary.sas >= 2 && summary.sessions >= 1)
    t.true((summary.counters.esp_in ?? 0) > 0 && (summary.counters.esp_in ?? 0) <= (full.counters.esp_in ?? 0))
  })
}

test.serial('IPv6 through the tunnel, and raw ESP (IP protocol 50) for peers not behind NAT', (t) => {
  const udpPair = pair(t)
  t.is(pingIn(udpPair.net.b, 'fd00:77::1', 3, ['-6']).received, 3, 'IPv6 ping')
  udpPair.close()
  const raw = pair(t, { encap: 'raw', suite: 'aes256-sha256' })
  t.is(pingIn(raw.net.b, SERVER_INNER, 3).received, 3, 'ping over raw ESP')
  t.true(raw.server.dp.stats().counters.esp_in! >= 3)
})

test.serial('control frames reach JS in batches; data never does', async (t) => {
  const { server, client } = pair(t)
  const frames = 2000
  // PPP LCP Echo-Request (RFC 1661 5.8) with address/control: not IP, so it goes up.
  const echo = (i: number) => Buffer.from([0xff, 0x03, 0xc0, 0x21, 0x09, i & 0xff, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78])
  const batch = packBatch(Array.from({ length: frames }, (_, i) => echo(i)))
  const meta = Array.from({ length: frames }, () => ({ kind: 'ppp', session: 7 }))
  t.is(client.dp.sendControl(batch.data, batch.offsets, meta), frames)
  // Count LCP frames only: the peer's kernel also sends IPv6 Router
  // Solicitations, which go up too.
  const lcp = (b: ControlBatch) =>
    b.meta.map((m, i) => [m, b.packets.subarray(b.offsets[i], b.offsets[i + 1])] as const).filter(([m, f]) => m.kind === 'ppp' && f.readUInt16BE(2) === 0xc021)
  const count = () => server.batches.reduce((n, b) => n + lcp(b).length, 0)
  await until(() => count() >= frames, 10_000)
  t.is(count(), frames, 'every control frame arrived')
  const withFrames = server.batches.filter((b) => lcp(b).length > 0).length
  t.true(withFrames * 10 <= frames, `${frames} frames came in ${withFrames} callbacks`)
  const [firstMeta, firstFrame] = server.batches.map(lcp).find((l) => l.length > 0)![0]!
  t.deepEqual(firstMeta, { kind: 'ppp', session: 1 })
  t.deepEqual(firstFrame, echo(0))
})

test.serial('the TUN device queues 4096 packets per queue for the workers (the kernel default of 500 overflowed under a burst of answers in the soak)', (t) => {
  const { net } = pair(t)
  const [link] = JSON.parse(ip('-n', net.a, '-j', 'link', 'show', 'l2tps0')) as { txqlen: number }[]
  t.is(link?.txqlen, 4096)
})

test.serial('a policy that denies a prefix drops exactly that traffic, and counts it', (t) => {
  const { net, server } = pair(t, { suite: 'aes256gcm-16' })
  ip('-n', net.a, 'addr', 'add', `${DENIED_INNER}/32`, 'dev', 'lo')
  ip('-n', net.b, 'route', 'add', '192.168.78.0/24', 'dev', 'l2tpc0')
  t.is(pingIn(net.b, DENIED_INNER, 2).received, 2, 'reachable before the policy')
  server.dp.setPolicy(1, { rules: [{ action: 'deny', prefix: '192.168.78.0/24' }] })
  const before = server.dp.stats().sessions.find((s) => s.id === 1)!.policyDenied
  t.is(pingIn(net.b, DENIED_INNER, 3).received, 0, 'denied prefix unreachable')
  t.is(pingIn(net.b, SERVER_INNER, 3).received, 3, 'the rest still reachable')
  const after = server.dp.stats()
  t.is(after.sessions.find((s) => s.id === 1)!.policyDenied - before, 3)
  t.is(after.counters.policy_denied, 3)
  const err = t.throws(() => server.dp.setPolicy(1, { rules: [{ action: 'deny', prefix: '10.1.2.3/8' }] }))
  t.is((err as Error & { code: string }).code, 'ERR_POLICY_PREFIX')
  t.regex(err!.message, /policy\.rules\[0\]\.prefix/)
})

test.serial('bad input is dropped and counted under its reason, and reported as a drops event', async (t) => {
  const p = pair(t, { suite: 'aes128-sha1' })
  const { net, server } = p
  t.is(pingIn(net.b, SERVER_INNER, 2).received, 2)
  // A second inbound SA on the same binding, so we can seal our own packets.
  server.dp.installSa({ spi: 0x3003, direction: 'in', binding: 1, suite: p.suite, ...p.up, peer: `${net.addrB}:4500` })
  const forger = new EspSa({ spi: 0x3003, suite: p.suite, ...p.up })
  const replayer = new EspSa({ spi: 0x1001, suite: p.suite, ...p.up })
  const seal = (sa: EspSa, payload: Buffer) => {
    const b = packBatch([payload])
    return unpackBatch(sa.seal(b.data, b.offsets, 17))[0]!
  }
  const l2tp = (payload: Buffer) => udp('0.0.0.0', '0.0.0.0', 1701, 1701, payload, true)
  const datagrams = {
    unknown_spi: Buffer.concat([Buffer.from('deadbeef00000001', 'hex'), Buffer.alloc(40)]),
    malformed_udp: Buffer.from('0102', 'hex'),
    esp_replays: seal(replayer, l2tp(l2tpData(10, 20, pppIp(ipv4(CLIENT_INNER, SERVER_INNER, 1, icmpEcho))))),
    unknown_session: seal(forger, l2tp(l2tpData(10, 99, pppIp(ipv4(CLIENT_INNER, SERVER_INNER, 1, icmpEcho))))),
    l2tp_malformed: seal(forger, l2tp(Buffer.from('0002000a', 'hex'))),
    spoofed: seal(forger, l2tp(l2tpData(10, 20, pppIp(ipv4('192.168.77.66', SERVER_INNER, 1, icmpEcho))))),
    not_l2tp: seal(forger, udp('0.0.0.0', '0.0.0.0', 1701, 53, Buffer.alloc(8), true)),
  }
  await run(net.b, [UDP_SEND, net.addrA, '4500', '0', ...Object.values(datagrams).map((d) => d.toString('hex'))])
  const expected = Object.fromEntries(Object.keys(datagrams).map((k) => [k, 1]))
  await until(() => Object.entries(expected).every(([k, v]) => (server.dp.stats().counters[k] ?? 0) >= v))
  const counters = server.dp.stats().counters
  for (const [reason, n] of Object.entries(expected)) t.is(counters[reason], n, reason)
  // A packet from the server's side to an inner address nobody has. (The
  // kernel's own IPv6 multicast on the TUN counts here too, hence >=.)
  ip('-n', net.a, 'route', 'add', '192.168.77.0/24', 'dev', 'l2tps0')
  const before = counters.tun_no_session ?? 0
  t.is(pingIn(net.a, '192.168.77.99', 2).received, 0)
  t.true(server.dp.stats().counters.tun_no_session! - before >= 2, 'TUN packets to an unassigned address counted')
  // The session still works, and the drops were reported (rate-limited, once a second).
  t.is(pingIn(net.b, SERVER_INNER, 2).received, 2)
  await until(() => events(server).some((e) => e.type === 'drops' && e.drops?.spoofed === 1), 3000)
  const drops = events(server).filter((e) => e.type === 'drops')
  const total = (k: string) => drops.reduce((n, e) => n + (e.drops?.[k] ?? 0), 0)
  for (const reason of Object.keys(expected)) t.is(total(reason), 1, `drops event for ${reason}`)
})

test.serial('an over-MRU packet with DF set gets ICMP Fragmentation Needed', async (t) => {
  const { net, server } = pair(t)
  server.dp.upsertSession({ id: 1, binding: 1, localTunnel: 10, localSession: 20, peerTunnel: 30, peerSession: 40, ipv4: CLIENT_INNER, mru: 1200 })
  const r = pingIn(net.a, CLIENT_INNER, 2, ['-M', 'do', '-s', '1300'])
  t.is(r.received, 0)
  t.regex(r.output, /mtu ?= ?1200/i, r.output)
  t.true(server.dp.stats().sessions.find((s) => s.id === 1)!.tooBig >= 1)
  t.is(pingIn(net.a, CLIENT_INNER, 2, ['-M', 'do', '-s', '1100']).received, 2, 'packets that fit still pass')
})

test.serial('events: SA lifetime by packets, idle session, NAT rebinding followed', async (t) => {
  const p = pair(t)
  const { net, server, client } = p
  server.dp.installSa({ spi: 0x1001, direction: 'in', binding: 1, suite: p.suite, ...p.up, peer: `${net.addrB}:4500`, lifetime: { softPackets: 3, hardPackets: 6 } })
  server.dp.upsertSession({ id: 1, binding: 1, localTunnel: 10, localSession: 20, peerTunnel: 30, peerSession: 40, ipv4: CLIENT_INNER, mru: 1400, idleTimeoutMs: 400 })
  t.is(pingIn(net.b, SERVER_INNER, 4).received, 4)
  await until(() => events(server).some((e) => e.type === 'sa-soft-lifetime'))
  t.deepEqual(
    events(server).filter((e) => e.type.startsWith('sa-')).map((e) => [e.type, e.spi, e.reason]),
    [['sa-soft-lifetime', 0x1001, 'packets']],
  )
  t.true(await until(() => events(server).some((e) => e.type === 'session-idle' && e.session === 1), 4000), 'idle session reported')

  // The peer's NAT mapping changes: the same binding now speaks from port 4501.
  const moved: ControlBatch[] = []
  const rebound = new DataPlane({ natt: [`${net.addrB}:4501`], netns: net.path(net.b) }, (b) => moved.push(b))
  t.teardown(() => rebound.close())
  rebound.installSa({ spi: 0x1001, direction: 'out', binding: 1, suite: p.suite, ...p.up, peer: `${net.addrA}:4500` })
  rebound.installSa({ spi: 0x2002, direction: 'in', binding: 1, suite: p.suite, ...p.down, peer: `${net.addrA}:4500` })
  rebound.upsertSession({ id: 9, binding: 1, localTunnel: 30, localSession: 40, peerTunnel: 10, peerSession: 20, defaultRoute: true })
  // Sequence numbers must move past what the old socket used.
  const lcp = Buffer.from('ff03c02109010008deadbeef', 'hex')
  const many = packBatch(Array.from({ length: 20 }, () => lcp))
  rebound.sendControl(many.data, many.offsets, Array.from({ length: 20 }, () => ({ kind: 'ppp', session: 9 })))
  t.true(await until(() => events(server).some((e) => e.type === 'peer-changed')), 'peer-changed event')
  const changed = events(server).find((e) => e.type === 'peer-changed')!
  t.is(changed.oldPeer, `${net.addrB}:4500`)
  t.is(changed.newPeer, `${net.addrB}:4501`)
  // Replies now go to the new port.
  const reply = packBatch([Buffer.from('ff03c0210a010008deadbeef', 'hex')])
  t.is(server.dp.sendControl(reply.data, reply.offsets, [{ kind: 'ppp', session: 1 }]), 1)
  t.true(await until(() => moved.some((b) => b.meta.some((m) => m.kind === 'ppp'))), 'reply reached the new port')
  t.false(client.batches.some((b) => b.packets.includes(Buffer.from('c0210a01', 'hex'))), 'not the old one')
})

test.serial('setting up and tearing down with traffic keeps memory flat', (t) => {
  const rss: number[] = []
  for (let i = 0; i < 12; i++) {
    const p = createDataplanePair('rss')
    try {
      const r = spawnSync('ip', ['netns', 'exec', p.net.b, 'ping', '-f', '-c', '300', '-s', '1000', SERVER_INNER], { encoding: 'utf8', timeout: 30_000 })
      t.regex(r.stdout, / 0% packet loss/)
    } finally {
      p.close()
    }
    rss.push(process.memoryUsage().rss)
  }
  const growth = (rss[11]! - rss[3]!) / 1024 / 1024
  t.true(growth < 16, `RSS grew ${growth.toFixed(1)} MiB over 8 more rounds (${rss.map((r) => (r / 1048576).toFixed(0)).join(', ')} MiB)`)
})
