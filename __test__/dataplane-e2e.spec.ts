// The native data plane end to end, no IKE yet: a server data plane with a
// TUN device in one network namespace, a peer data plane (the role our own
// client will play) in another, joined by veth. The peer seals ESP-in-UDP
// L2TP/PPP frames with keys both were given.
import test from 'ava'
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { DataPlane } from '../native/index.js'
import type { ControlBatch } from '../native/index.js'
import { espSuiteInfo, packBatch } from '../lib/index.js'
import { createNetnsPair, ip, type NetnsPair } from './helpers/netns.js'

const SERVER_INNER = '192.168.77.1'
const CLIENT_INNER = '192.168.77.10'
const DENIED_INNER = '192.168.78.1'
const SINK = fileURLToPath(new URL('./helpers/tcp-sink.mjs', import.meta.url))
const SOURCE = fileURLToPath(new URL('./helpers/tcp-source.mjs', import.meta.url))

interface Side {
  dp: DataPlane
  batches: ControlBatch[]
}

function keys(suite: string) {
  const info = espSuiteInfo(suite)
  return { encryptionKey: crypto.randomBytes(info.encryptionKeyLength), integrityKey: crypto.randomBytes(info.integrityKeyLength) }
}

function setup(t: { teardown: (fn: () => void) => void }, suite: string) {
  const net: NetnsPair = createNetnsPair('dp')
  const sides: Side[] = []
  t.teardown(() => {
    for (const s of sides) s.dp.close()
    net.cleanup()
  })
  const open = (ns: string, address: string, tun: string): Side => {
    const side: Side = { dp: undefined as unknown as DataPlane, batches: [] }
    side.dp = new DataPlane({ natt: [`${address}:4500`], tun: { name: tun, mtu: 1400 }, netns: net.path(ns) }, (b) => side.batches.push(b))
    sides.push(side)
    return side
  }
  const server = open(net.a, net.addrA, 'l2tps0')
  const client = open(net.b, net.addrB, 'l2tpc0')
  const up = keys(suite)
  const down = keys(suite)
  // Client -> server SA 0x1001, server -> client SA 0x2002, both binding 1.
  server.dp.installSa({ spi: 0x1001, direction: 'in', binding: 1, suite, ...up, peer: `${net.addrB}:4500` })
  server.dp.installSa({ spi: 0x2002, direction: 'out', binding: 1, suite, ...down, peer: `${net.addrB}:4500` })
  client.dp.installSa({ spi: 0x1001, direction: 'out', binding: 1, suite, ...up, peer: `${net.addrA}:4500` })
  client.dp.installSa({ spi: 0x2002, direction: 'in', binding: 1, suite, ...down, peer: `${net.addrA}:4500` })
  server.dp.upsertSession({ id: 1, binding: 1, localTunnel: 10, localSession: 20, peerTunnel: 30, peerSession: 40, ipv4: CLIENT_INNER, mru: 1400 })
  client.dp.upsertSession({ id: 7, binding: 1, localTunnel: 30, localSession: 40, peerTunnel: 10, peerSession: 20, defaultRoute: true, mru: 1400 })
  ip('-n', net.a, 'addr', 'add', `${SERVER_INNER}/32`, 'dev', 'l2tps0')
  ip('-n', net.a, 'route', 'add', `${CLIENT_INNER}/32`, 'dev', 'l2tps0')
  ip('-n', net.a, 'addr', 'add', `${DENIED_INNER}/32`, 'dev', 'lo')
  ip('-n', net.b, 'addr', 'add', `${CLIENT_INNER}/32`, 'dev', 'l2tpc0')
  ip('-n', net.b, 'route', 'add', '192.168.77.0/24', 'dev', 'l2tpc0')
  ip('-n', net.b, 'route', 'add', '192.168.78.0/24', 'dev', 'l2tpc0')
  return { net, server, client }
}

function ping(net: NetnsPair, target: string, count: number): { ok: boolean; received: number } {
  try {
    const out = net.exec(net.b, ['ping', '-c', String(count), '-i', '0.2', '-W', '1', target])
    return { ok: true, received: Number(/(\d+) received/.exec(out)?.[1] ?? 0) }
  } catch (e) {
    const out = String((e as { stdout?: string }).stdout ?? '')
    return { ok: false, received: Number(/(\d+) received/.exec(out)?.[1] ?? 0) }
  }
}

function run(net: NetnsPair, ns: string, args: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d
      for (const line of d.toString().split('\n')) if (line && onLine) onLine(line)
    })
    child.stderr.on('data', (d: Buffer) => (err += d))
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))))
  })
}

for (const suite of ['aes128gcm-16', 'aes128-sha1']) {
  test.serial(`${suite}: ping and 100 MB through the tunnel, every byte checked`, async (t) => {
    const { net, server, client } = setup(t, suite)
    const pinged = ping(net, SERVER_INNER, 3)
    t.true(pinged.ok, 'ping through the tunnel')
    t.is(pinged.received, 3)

    const bytes = 100 * 1024 * 1024
    let listening: () => void = () => {}
    const ready = new Promise<void>((r) => (listening = r))
    const sink = run(net, net.a, [SINK, SERVER_INNER, '5001'], (line) => line === 'listening' && listening())
    await ready
    const sent = await run(net, net.b, [SOURCE, SERVER_INNER, '5001', String(bytes), suite])
    const received = (await sink).trim().split('\n').pop()
    t.is(received, sent.trim(), 'the sink got exactly the bytes sent (count and SHA-256)')
    t.true(received!.startsWith(`${bytes} `))

    const stats = server.dp.stats()
    const session = stats.sessions.find((s) => s.id === 1)!
    t.true(session.rxBytes >= bytes, `session counted ${session.rxBytes} bytes in`)
    t.true(session.txPackets > 0)
    const sa = stats.sas.find((s) => s.spi === 0x1001)!
    t.is(sa.icvFailures, 0)
    t.is(stats.counters.unknown_spi, 0)
    // Data never goes up: the only frames JS saw are the kernel's IPv6
    // Router Solicitations from the peer's TUN (answered by the control plane).
    const up = server.batches.flatMap((b) => b.meta.map((_, i) => b.packets.subarray(b.offsets[i], b.offsets[i + 1])))
    t.true(up.every((f) => f.readUInt16BE(0) === 0x0057 || f.readUInt16BE(2) === 0x0057), 'only IPv6 (RS) frames went up')
    t.true(up.length < 10, `${up.length} frames went up`)
    t.is(client.dp.stats().counters.spoofed, 0)
  })
}

test.serial('control frames reach JS in batches; data never does', async (t) => {
  const { server, client } = setup(t, 'aes128gcm-16')
  const frames = 2000
  // PPP LCP Echo-Request (RFC 1661 5.8) with address/control: not IP, so it goes up.
  const echo = (i: number) => Buffer.from([0xff, 0x03, 0xc0, 0x21, 0x09, i & 0xff, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78])
  const batch = packBatch(Array.from({ length: frames }, (_, i) => echo(i)))
  const meta = Array.from({ length: frames }, () => ({ kind: 'ppp', session: 7 }))
  t.is(client.dp.sendControl(batch.data, batch.offsets, meta), frames)
  const deadline = Date.now() + 10_000
  // Count LCP frames only: the peer's kernel also sends IPv6 Router
  // Solicitations, which go up too.
  const lcp = (b: ControlBatch) => b.meta.map((m, i) => [m, b.packets.subarray(b.offsets[i], b.offsets[i + 1])] as const).filter(([m, f]) => m.kind === 'ppp' && f.readUInt16BE(2) === 0xc021)
  const count = () => server.batches.reduce((n, b) => n + lcp(b).length, 0)
  while (count() < frames && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.is(count(), frames, 'every control frame arrived')
  const withFrames = server.batches.filter((b) => lcp(b).length > 0).length
  t.true(withFrames * 10 <= frames, `${frames} frames came in ${withFrames} callbacks`)
  const [firstMeta, firstFrame] = server.batches.map(lcp).find((l) => l.length > 0)![0]!
  t.deepEqual(firstMeta, { kind: 'ppp', session: 1 })
  t.deepEqual(firstFrame, echo(0))
})

test.serial('a policy that denies a prefix drops exactly that traffic, and counts it', async (t) => {
  const { net, server } = setup(t, 'aes256gcm-16')
  t.is(ping(net, DENIED_INNER, 2).received, 2, 'reachable before the policy')
  server.dp.setPolicy(1, { rules: [{ action: 'deny', prefix: '192.168.78.0/24' }] })
  const before = server.dp.stats().sessions.find((s) => s.id === 1)!.policyDenied
  t.is(ping(net, DENIED_INNER, 3).received, 0, 'denied prefix unreachable')
  t.is(ping(net, SERVER_INNER, 3).received, 3, 'the rest still reachable')
  const after = server.dp.stats()
  t.is(after.sessions.find((s) => s.id === 1)!.policyDenied - before, 3)
  t.is(after.counters.policy_denied, 3)
})
