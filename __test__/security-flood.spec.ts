// Floods against the limits, end to end in network namespaces (the server in
// one, clients and the flood in the other, veth between; nothing leaves
// them): Main Mode message 1 from seven addresses (rate per source, half-open
// per source and in total), IKE fragments (reassembly), wrong pre-shared keys
// (back-off, lock-out), logins beyond pendingAuth. Through every flood an
// established session keeps carrying pings, and the server's RSS stays flat.
// The L2TP tunnel and session limits are flooded in memory at the end (the
// LNS fed directly, thousands of requests in a second); over a real IPsec
// SA, with the IKE per-identity limit and the control queue, in
// security-flood-wire.spec.ts.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { L2tpEndpoint, type L2tpPeer } from '../lib/l2tp/endpoint.js'
import { fragmentMessage } from '../lib/ike/fragments.js'
import type { SecurityStatus } from '../lib/security/status.js'
import { pingAsync, runNode, until } from './helpers/netns-run.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'

const FLOOD = fileURLToPath(new URL('./helpers/ike-flood.mjs', import.meta.url))
const vector = JSON.parse(readFileSync(new URL('./vectors/ike/strongswan-aes128-sha1-modp2048.json', import.meta.url), 'utf8')) as { messages: { hex: string }[] }
/** strongSwan's Main Mode message 1 (aes128-sha1-modp2048): the flood sends it with fresh cookies. */
const MESSAGE_1 = vector.messages[0]!.hex
/** The first of three fragments of a 700-byte message: each stays pending until the reassembly limit. */
const FRAGMENT = (() => {
  const m = Buffer.alloc(700, 0x5a)
  m.set([1, 0x10, 2, 0], 16)
  m.writeUInt32BE(0, 20)
  m.writeUInt32BE(700, 24)
  return fragmentMessage(m, 1, 300, {})[0]!.toString('hex')
})()
const EXTRA = ['10.250.0.10', '10.250.0.11', '10.250.0.12', '10.250.0.13', '10.250.0.14', '10.250.0.15']
const MiB = 1024 * 1024

test.serial('IKE floods hit their limits while an established session keeps working and RSS stays flat', async (t) => {
  // Half-open SAs of the flood take 30 s to expire before the wrong-key part has room.
  t.timeout(240_000)
  const rig = await createRig(t, 'flood', {
    ipsec: { psk: 'rig-psk-6f1c2b9e4a', maxHalfOpen: 24, maxHalfOpenPerSource: 4 },
    security: { limits: { ikeRatePerSource: 20, ikeFragmentReassemblies: 8 }, ikeAuth: { maxFailures: 2, baseDelay: 0.2, lockout: 120 } },
  })
  for (const a of EXTRA) rig.net.exec(rig.net.b, ['ip', 'addr', 'add', `${a}/24`, 'dev', rig.net.vethB])
  const alice = rig.client()
  await alice.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)

  const security = () => rig.server.status().security as SecurityStatus
  let maxHalfOpen = 0
  const sampler = setInterval(() => (maxHalfOpen = Math.max(maxHalfOpen, Number(rig.server.status().ike?.halfOpen ?? 0))), 10)
  t.teardown(() => clearInterval(sampler))
  const rss: number[] = []
  for (let round = 0; round < 5; round++) {
    const [flood, frags, ping] = await Promise.all([
      runNode(rig.net.b, [FLOOD, rig.net.addrA, '500', '300', [rig.net.addrB, ...EXTRA].join(','), MESSAGE_1]),
      runNode(rig.net.b, [FLOOD, rig.net.addrA, '500', '100', EXTRA[0]!, FRAGMENT]),
      pingAsync(rig.net.b, GATEWAY, 5),
    ])
    t.is(Number(flood.trim()), 300 * 7)
    t.is(Number(frags.trim()), 100)
    t.is(ping.received, 5, `round ${round}: the established session during the flood\n${ping.output}`)
    rss.push(process.memoryUsage().rss)
  }
  clearInterval(sampler)
  const hits = security().limitHits
  t.true(hits.ike_rate_per_source > 0, JSON.stringify(hits))
  t.true(hits.ike_half_open_per_source > 0, JSON.stringify(hits))
  t.true(hits.ike_half_open_total > 0, JSON.stringify(hits))
  t.true(hits.ike_fragment_reassemblies > 0, JSON.stringify(hits))
  t.true(maxHalfOpen <= 24, `half-open peaked at ${maxHalfOpen}`)
  t.true(Number(rig.server.status().ike?.reassembling) <= 8)
  const growth = (rss[4]! - rss[1]!) / MiB
  t.true(growth < 24, `RSS grew ${growth.toFixed(1)} MiB over rounds 2-5 (${rss.map((r) => (r / MiB).toFixed(0)).join(', ')} MiB)`)
  t.log(`limit hits ${JSON.stringify(hits)}; RSS ${rss.map((r) => (r / MiB).toFixed(0)).join(', ')} MiB; half-open peak ${maxHalfOpen}`)

  // Wrong pre-shared keys from one address: back-off, then lock-out; the right key from there waits it out.
  const attacker = EXTRA[5]!
  await until(() => Number(rig.server.status().ike?.halfOpen) === 0, 40_000)
  for (let i = 0; i < 3; i++) {
    const guess = rig.client({ psk: `wrong-guess-${i}-xxxxxxxx`, local: { address: attacker }, reconnect: false, connectTimeout: 8 })
    await t.throwsAsync(guess.connect())
    await guess.close()
    await new Promise((r) => setTimeout(r, 300))
  }
  const after = security()
  t.true(after.ikeAuth!.events.failure >= 1, JSON.stringify(after.ikeAuth))
  t.is(after.ikeAuth!.events.lockout, 1, JSON.stringify(after.ikeAuth))
  const locked = rig.client({ local: { address: attacker }, reconnect: false, connectTimeout: 8 })
  await t.throwsAsync(locked.connect(), undefined, 'the right key from a locked address waits out the lock')
  await locked.close()
  t.true(security().limitHits.ike_auth_lockout > 0)
  // Another address connects meanwhile, and the established session never noticed.
  const bob = rig.client({ user: 'bob', password: 'bob-pass-2', local: { address: EXTRA[1]! } })
  await bob.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.is(rig.seen.down.length, 0, JSON.stringify(rig.seen.down))
})

test.serial('logins beyond pendingAuth are refused as busy; the others and an established session go on', async (t) => {
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => (release = r))
  const rig = await createRig(t, 'pend', {
    security: { limits: { pendingAuth: 1 } },
    authenticate: async ({ user }) => {
      await gate
      return user === 'carol' ? { password: 'carol-pass-3' } : { accept: false, reason: 'unknown' }
    },
  })
  const alice = rig.client()
  await alice.connect()
  // carol waits on the callback; dave arrives while she does: busy.
  const carol = rig.client({ user: 'carol', password: 'carol-pass-3', local: { address: rig.net.addrB } })
  const carolUp = carol.connect()
  t.true(await until(() => (rig.server.status().security as SecurityStatus).pendingAuth === 1, 20_000))
  const dave = rig.client({ user: 'dave', password: 'dave-pass-4', reconnect: false, connectTimeout: 15 })
  await t.throwsAsync(dave.connect())
  await dave.close()
  t.true(rig.seen.authFailures.some((f) => f.reason === 'busy'), JSON.stringify(rig.seen.authFailures))
  t.true((rig.server.status().security as SecurityStatus).limitHits.pending_auth >= 1)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3, 'the established session is unaffected')
  release()
  await carolUp
  t.is((rig.server.status().security as SecurityStatus).pendingAuth, 0)
})

test('L2TP: a flood of SCCRQs and ICRQs on one IPsec SA stays within the tunnel and session limits; the established tunnel and call go on (in memory)', (t) => {
  const common = { maxTunnelsPerBinding: 4, maxSessionsPerTunnel: 16, maxSessionsPerBinding: 16 }
  const lns = new L2tpEndpoint({ role: 'lns', ...common })
  const lac = new L2tpEndpoint({ role: 'lac', ...common })
  const toLns: L2tpPeer = { binding: 1, address: '203.0.113.1', port: 4500, l2tpPort: 1701 }
  const toLac: L2tpPeer = { binding: 1, address: '198.51.100.7', port: 4500, l2tpPort: 1701 }
  let now = 0
  const pump = () => {
    for (let i = 0; i < 100; i++) {
      let moved = false
      for (let x = lac.pollTransmit(); x; x = lac.pollTransmit()) ((moved = true), lns.handle(x.datagram, toLac, now))
      for (let x = lns.pollTransmit(); x; x = lns.pollTransmit()) ((moved = true), lac.handle(x.datagram, toLns, now))
      if (!moved) return
    }
  }
  const tunnel = lac.openTunnel(toLns, now)
  lac.openSession(tunnel, {}, now)
  pump()
  t.is(lns.stats().establishedTunnels, 1)
  t.is(lns.stats().sessions, 1)
  // A second LAC on the same binding (the same client) floods: tunnels, then calls in each.
  const flood = new L2tpEndpoint({ role: 'lac', maxTunnelsPerBinding: 10_000, maxSessionsPerTunnel: 100, maxSessionsPerBinding: 100_000 })
  const before = process.memoryUsage().heapUsed
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 20; i++) {
      const id = flood.openTunnel(toLns, now)
      for (let c = 0; c < 5; c++) flood.openSession(id, {}, now)
    }
    for (let step = 0; step < 5; step++) {
      for (let x = flood.pollTransmit(); x; x = flood.pollTransmit()) lns.handle(x.datagram, toLac, now)
      for (let x = lns.pollTransmit(); x; x = lns.pollTransmit()) flood.handle(x.datagram, toLns, now)
    }
    t.true(lns.tunnels().filter((x) => x.state !== 'Closing').length <= 4)
    t.true(lns.stats().sessions <= 16)
    now += 1
    lns.handleTimeout(now)
    flood.handleTimeout(now)
    lac.handleTimeout(now)
    pump()
  }
  t.true(lns.stats().dropped['L2TP_TUNNEL_LIMIT']! > 0, JSON.stringify(lns.stats().dropped))
  // The first tunnel and call are still there and answer.
  t.true(lns.tunnels().some((x) => x.state === 'Established' && x.sessions.some((s) => s.state === 'Established')), JSON.stringify(lns.tunnels().map((x) => [x.state, x.sessions.map((s) => s.state)])))
  const grown = (process.memoryUsage().heapUsed - before) / MiB
  t.true(grown < 64, `heap grew ${grown.toFixed(1)} MiB`)
})
