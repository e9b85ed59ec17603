// IKEv1 initiator <-> responder in memory (sans-IO): Main Mode with a
// pre-shared key and Quick Mode for an L2TP transport-mode SA, through a
// simulated NAT or none, and the ways it must fail.
import test from 'ava'
import { EspSa, packBatch, unpackBatch } from '../lib/index.js'
import { IkeEndpoint } from '../lib/ike/endpoint.js'
import { PRESETS, type PresetName, type ProposalPolicy } from '../lib/ike/policy.js'
import type { Endpoint, IkeConfig, IkeEvent, Path } from '../lib/ike/types.js'

const PSK = Buffer.from('hidden-case-psk-7f3a9c1e5b')
const SERVER: Endpoint = { address: '10.0.2.2', port: 500 }
const CLIENT_LOCAL: Endpoint = { address: '10.0.2.15', port: 500 }
/** What the server sees of the client through NAT, per client port. */
const NAT_PUBLIC = '203.0.113.9'

interface Net {
  client: IkeEndpoint
  server: IkeEndpoint
  clientEvents: IkeEvent[]
  serverEvents: IkeEvent[]
  /** Every datagram, for replay tests. */
  wire: { from: 'client' | 'server'; data: Buffer; path: Path }[]
  drive: (now?: number, filter?: (d: { from: 'client' | 'server'; data: Buffer }) => boolean) => void
}

function network(serverConfig: Partial<IkeConfig>, clientConfig: Partial<IkeConfig>, nat: boolean): Net {
  const base = { policy: PRESETS.compatible, psk: PSK }
  const server = new IkeEndpoint({ ...base, ...serverConfig })
  const client = new IkeEndpoint({ ...base, ...clientConfig })
  const net: Net = { client, server, clientEvents: [], serverEvents: [], wire: [], drive: () => {} }
  const mapped = (port: number) => (nat ? { address: NAT_PUBLIC, port: 40000 + port } : { address: CLIENT_LOCAL.address, port })
  net.drive = (now = 0, filter = () => true) => {
    for (let round = 0; round < 50; round++) {
      let moved = false
      for (let t = client.pollTransmit(); t; t = client.pollTransmit()) {
        moved = true
        const path: Path = { peer: mapped(t.fromPort), local: { address: SERVER.address, port: t.to.port } }
        net.wire.push({ from: 'client', data: t.data, path })
        if (filter({ from: 'client', data: t.data })) server.handle(t.data, path, now)
      }
      for (let t = server.pollTransmit(); t; t = server.pollTransmit()) {
        moved = true
        const path: Path = { peer: { address: SERVER.address, port: t.fromPort }, local: { address: CLIENT_LOCAL.address, port: t.to.port - (nat ? 40000 : 0) } }
        net.wire.push({ from: 'server', data: t.data, path })
        if (filter({ from: 'server', data: t.data })) client.handle(t.data, path, now)
      }
      for (let e = client.pollEvent(); e; e = client.pollEvent()) net.clientEvents.push(e)
      for (let e = server.pollEvent(); e; e = server.pollEvent()) net.serverEvents.push(e)
      if (!moved) return
    }
  }
  return net
}

function connect(net: Net, quick = {}): void {
  net.client.connect({ peer: SERVER, local: CLIENT_LOCAL }, 0, quick)
  net.drive()
}

type ChildUp = Extract<IkeEvent, { type: 'child-sa-up' }>
const child = (events: IkeEvent[]) => events.find((e): e is ChildUp => e.type === 'child-sa-up')

/** The keys each side derived open each other's ESP packets. */
function espWorks(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, a: ChildUp, b: ChildUp): void {
  const sealer = new EspSa({ spi: a.outbound.spi, suite: a.outbound.suite, encryptionKey: a.outbound.encryptionKey, integrityKey: a.outbound.integrityKey })
  const opener = new EspSa({ spi: b.inbound.spi, suite: b.inbound.suite, encryptionKey: b.inbound.encryptionKey, integrityKey: b.inbound.integrityKey })
  const batch = packBatch([Buffer.from('L2TP SCCRQ')])
  const sealed = sealer.seal(batch.data, batch.offsets, 17)
  t.deepEqual(unpackBatch(opener.open(sealed.data, sealed.offsets)), [Buffer.from('L2TP SCCRQ')], 'ESP with the negotiated keys')
}

for (const preset of ['modern', 'compatible', 'legacy'] as PresetName[]) {
  for (const nat of [true, false]) {
    test(`${preset}, ${nat ? 'client behind NAT' : 'no NAT'}: Main Mode + Quick Mode give matching ESP keys`, (t) => {
      const net = network({ policy: PRESETS[preset], forceEncapsulation: nat }, { policy: PRESETS[preset] }, nat)
      connect(net)
      const up = net.serverEvents.find((e) => e.type === 'ike-sa-up')
      t.truthy(up, JSON.stringify(net.serverEvents))
      t.like(up, { type: 'ike-sa-up', peerId: CLIENT_LOCAL.address, role: 'responder', natDetected: nat })
      t.truthy(net.clientEvents.find((e) => e.type === 'ike-sa-up'))
      const s = child(net.serverEvents)!
      const c = child(net.clientEvents)!
      t.truthy(s, JSON.stringify(net.serverEvents))
      t.truthy(c, JSON.stringify(net.clientEvents))
      t.is(s.inbound.spi, c.outbound.spi)
      t.is(s.outbound.spi, c.inbound.spi)
      t.deepEqual(s.inbound.encryptionKey, c.outbound.encryptionKey)
      t.deepEqual(s.outbound.integrityKey, c.inbound.integrityKey)
      t.is(s.inbound.suite, c.inbound.suite)
      t.is(s.mode, 'transport')
      t.is(s.udpEncapsulated, nat)
      t.is(s.peerL2tpPort, 1701)
      t.deepEqual(s.selectors, { initiator: `${CLIENT_LOCAL.address} udp/1701`, responder: `${SERVER.address} udp/1701` })
      if (nat) t.is(s.peer.port, 40000 + 4500, 'the server follows the client to its NAT-T port')
      espWorks(t, c, s)
      espWorks(t, s, c)
    })
  }
}

test('an established SA keeps no Phase 1 material; its kept keys and cookies still agree with the peer\'s', (t) => {
  const net = network({}, {}, true)
  connect(net)
  const up = (events: IkeEvent[]) => events.find((e): e is Extract<IkeEvent, { type: 'ike-sa-up' }> => e.type === 'ike-sa-up')!
  const server = net.server.exportKeys(up(net.serverEvents).ikeSa)!
  const client = net.client.exportKeys(up(net.clientEvents).ikeSa)!
  t.deepEqual(server.encryptionKey, client.encryptionKey)
  t.deepEqual(server.initiatorCookie, client.initiatorCookie)
  t.deepEqual(server.responderCookie, client.responderCookie)
  // Reached past the endpoint's privacy (TypeScript's only): what the SA object itself still holds.
  const sas = (net.server as unknown as { sas: Map<string, Record<string, unknown>> }).sas
  t.is(sas.size, 1)
  for (const ike of sas.values()) {
    for (const field of ['dh', 'gxi', 'gxr', 'ni', 'nr', 'gxy', 'skeyid', 'saiB', 'idiB', 'halfOpenSource']) t.is(ike[field], undefined, field)
    t.true(Object.isFrozen(ike.choice) && Object.isFrozen(ike.natT) && Object.isFrozen(ike.local), 'shared records')
  }
  // A Quick Mode under the released SA (its SKEYID_d, SKEYID_a, key and IV seed read from the kept memory) still works.
  t.true(net.server.startQuickMode(up(net.serverEvents).ikeSa, 1))
  net.drive(1)
  t.is(net.serverEvents.filter((e) => e.type === 'child-sa-up').length, 2)
})

test('a wrong pre-shared key gives no SAs and an auth-failure', (t) => {
  const net = network({}, { psk: Buffer.from('not-the-key') }, true)
  connect(net)
  t.truthy(net.serverEvents.find((e) => e.type === 'auth-failure'))
  t.falsy(net.serverEvents.find((e) => e.type === 'ike-sa-up'))
  t.falsy(child(net.serverEvents))
  t.falsy(child(net.clientEvents))
  t.is(net.server.stats().ikeSas, 0, 'the half-open SA is gone')
})

test('no acceptable proposal is answered with NO-PROPOSAL-CHOSEN', (t) => {
  const androidLike: ProposalPolicy = { ...PRESETS.legacy, phase1: { ...PRESETS.legacy.phase1, encryption: ['3des'], hash: ['md5'], groups: [2] } }
  const net = network({ policy: PRESETS.modern }, { policy: androidLike }, true)
  connect(net)
  const refused = net.serverEvents.find((e) => e.type === 'negotiation-failure')
  t.like(refused, { stage: 'main-mode', notify: 14 })
  t.like(net.clientEvents.find((e) => e.type === 'negotiation-failure'), { notify: 14 })
  t.is(net.server.stats().ikeSas, 0)
})

test('a lost answer: the initiator retransmits and gets the same answer again', (t) => {
  const net = network({}, {}, true)
  net.client.connect({ peer: SERVER, local: CLIENT_LOCAL }, 0)
  // Lose the server's second message (Main Mode message 4) once.
  let lost: Buffer | undefined
  net.drive(0, (d) => {
    if (d.from === 'server' && net.wire.filter((w) => w.from === 'server').length === 2 && !lost) {
      lost = d.data
      return false
    }
    return true
  })
  t.truthy(lost)
  t.falsy(net.clientEvents.find((e) => e.type === 'ike-sa-up'))
  // The client's timer fires: it sends message 3 again, the server answers
  // with message 4 byte for byte, and the exchange completes.
  t.true((net.client.handleTimeout(1.5) ?? 0) > 1.5)
  net.drive(1.5)
  const resent = net.wire.filter((w) => w.from === 'server')[2]!
  t.deepEqual(resent.data, lost)
  t.truthy(child(net.serverEvents))
  t.truthy(child(net.clientEvents))
  // Counted on both sides: the client's timed resend, the server's answer to the repeat.
  t.is(net.client.stats().retransmits, 1)
  t.is(net.server.stats().retransmits, 1)
  const up = net.serverEvents.find((e) => e.type === 'ike-sa-up')
  t.true(up !== undefined && up.type === 'ike-sa-up' && up.setupSeconds >= 1.5, 'the setup time includes the lost answer')
})

test('a slow responder answering our retransmission twice: the initiator drops the late repeat and completes', (t) => {
  // No NAT: the paths are the plain addresses and ports.
  const net = network({}, {}, false)
  const toServer = () => {
    for (let m = net.client.pollTransmit(); m; m = net.client.pollTransmit()) net.server.handle(m.data, { peer: { address: CLIENT_LOCAL.address, port: m.fromPort }, local: { address: SERVER.address, port: m.to.port } }, 0)
  }
  const fromServer = (): { data: Buffer; path: Path }[] => {
    const out: { data: Buffer; path: Path }[] = []
    for (let m = net.server.pollTransmit(); m; m = net.server.pollTransmit()) out.push({ data: m.data, path: { peer: { address: SERVER.address, port: m.fromPort }, local: { address: CLIENT_LOCAL.address, port: m.to.port } } })
    return out
  }
  const deliver = (ms: { data: Buffer; path: Path }[]) => {
    for (const m of ms) net.client.handle(m.data, m.path, 0)
    for (let e = net.client.pollEvent(); e; e = net.client.pollEvent()) net.clientEvents.push(e)
  }
  net.client.connect({ peer: SERVER, local: CLIENT_LOCAL }, 0)
  toServer()
  const mm2 = fromServer()
  deliver(mm2)
  toServer()
  const mm4 = fromServer()
  // The server's second copy of message 2 (it answered our retransmitted message 1 too) comes while we wait for message 4.
  deliver(mm2)
  deliver(mm4)
  toServer()
  const mm6 = fromServer()
  // The same for message 4 while we wait for message 6.
  deliver(mm4)
  deliver(mm6)
  t.deepEqual(net.clientEvents.filter((e) => e.type === 'negotiation-failure' || e.type === 'auth-failure' || e.type === 'ike-sa-down'), [])
  t.truthy(net.clientEvents.find((e) => e.type === 'ike-sa-up'), 'Main Mode completed')
  t.true((net.client.stats().dropped['a repeat of the message before'] ?? 0) >= 2, JSON.stringify(net.client.stats().dropped))
})

test('replayed and reordered messages change nothing', (t) => {
  const net = network({}, {}, true)
  connect(net)
  const before = net.server.stats()
  // Replay the whole client side of the exchange: nothing new is set up.
  const events = net.serverEvents.length
  for (const w of net.wire.filter((x) => x.from === 'client')) net.server.handle(w.data, w.path, 2)
  for (let e = net.server.pollEvent(); e; e = net.server.pollEvent()) net.serverEvents.push(e)
  t.is(net.serverEvents.slice(events).filter((e) => e.type === 'child-sa-up' || e.type === 'ike-sa-up').length, 0)
  t.is(net.server.stats().ikeSas, before.ikeSas)
  // Message 5 before message 3 on a fresh exchange is dropped.
  const fresh = network({}, {}, true)
  fresh.client.connect({ peer: SERVER, local: CLIENT_LOCAL }, 0)
  fresh.drive(0, (d) => d.from === 'server' || fresh.wire.filter((w) => w.from === 'client').length <= 1)
  t.falsy(fresh.serverEvents.find((e) => e.type === 'ike-sa-up'))
})

test('deleting the IKE SA tells the peer, which removes the ESP SAs too', (t) => {
  const net = network({}, {}, true)
  connect(net)
  const up = net.clientEvents.find((e): e is Extract<IkeEvent, { type: 'ike-sa-up' }> => e.type === 'ike-sa-up')!
  net.client.close(up.ikeSa, 5)
  net.drive(5)
  t.truthy(net.serverEvents.find((e) => e.type === 'child-sa-down'))
  t.truthy(net.serverEvents.find((e) => e.type === 'ike-sa-down'))
  t.is(net.server.stats().ikeSas, 0)
})

test('garbage never throws out of the core and is counted', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK })
  const path: Path = { peer: { address: '198.51.100.1', port: 500 }, local: SERVER }
  for (const junk of [Buffer.alloc(0), Buffer.alloc(27), Buffer.alloc(28, 0xff), Buffer.from('hello world, not ISAKMP at all')]) {
    t.notThrows(() => server.handle(junk, path, 0))
  }
  t.true(Object.values(server.stats().dropped).reduce((a, b) => a + b, 0) >= 4)
})

test('half-open IKE SAs per source are limited', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, maxHalfOpenPerSource: 3 })
  const net = network({}, {}, false)
  for (let i = 0; i < 6; i++) net.client.connect({ peer: SERVER, local: CLIENT_LOCAL }, 0)
  for (let tx = net.client.pollTransmit(); tx; tx = net.client.pollTransmit()) server.handle(tx.data, { peer: CLIENT_LOCAL, local: SERVER }, 0)
  t.is(server.stats().halfOpen, 3)
  t.is(server.stats().dropped['half-open limit per source reached'], 3)
  // They expire.
  server.handleTimeout(60)
  t.is(server.stats().ikeSas, 0)
})

test('INITIAL-CONTACT replaces the old SAs of that identity from the same address and port only', (t) => {
  const net = network({}, {}, true)
  connect(net)
  const first = net.serverEvents.find((e): e is Extract<IkeEvent, { type: 'ike-sa-up' }> => e.type === 'ike-sa-up')!
  // Another client behind the same NAT, same private address (same ID), other port.
  const other = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK })
  other.connect({ peer: SERVER, local: CLIENT_LOCAL }, 1)
  const otherPath = (port: number): Path => ({ peer: { address: NAT_PUBLIC, port: 50000 + port }, local: { address: SERVER.address, port } })
  for (let round = 0; round < 20; round++) {
    for (let tx = other.pollTransmit(); tx; tx = other.pollTransmit()) net.server.handle(tx.data, otherPath(tx.to.port), 1)
    for (let tx = net.server.pollTransmit(); tx; tx = net.server.pollTransmit()) {
      if (tx.to.port >= 50000) other.handle(tx.data, { peer: { address: SERVER.address, port: tx.fromPort }, local: { address: CLIENT_LOCAL.address, port: tx.to.port - 50000 } }, 1)
    }
  }
  for (let e = net.server.pollEvent(); e; e = net.server.pollEvent()) net.serverEvents.push(e)
  t.is(net.serverEvents.filter((e) => e.type === 'ike-sa-up').length, 2)
  t.falsy(net.serverEvents.find((e) => e.type === 'ike-sa-down'), 'the first client keeps its SA')
  t.is(net.server.stats().ikeSas, 2)
  // The first client reconnects from its own address and port: its old SA goes.
  net.client.connect({ peer: SERVER, local: CLIENT_LOCAL }, 2)
  net.drive(2)
  const down = net.serverEvents.filter((e) => e.type === 'ike-sa-down')
  t.deepEqual(down.map((e) => (e as { ikeSa: string }).ikeSa), [first.ikeSa])
  t.is(net.server.stats().ikeSas, 2)
})

test('Dead Peer Detection: an answered R-U-THERE keeps the SA, silence ends it', (t) => {
  const net = network({ dpdDelay: 10, dpdTimeout: 30 }, { dpdDelay: 0 }, true)
  connect(net)
  t.truthy(child(net.serverEvents))
  // Quiet for 10 s: the server asks, the client answers.
  net.server.handleTimeout(11)
  net.drive(11)
  t.falsy(net.serverEvents.find((e) => e.type === 'ike-sa-down'))
  net.server.handleTimeout(30)
  net.drive(30)
  t.falsy(net.serverEvents.find((e) => e.type === 'ike-sa-down'), 'answered, still up')
  // Now the client is gone: nothing it sends arrives, it answers nothing.
  net.server.handleTimeout(45)
  net.drive(45, (d) => d.from === 'server' && false)
  net.server.handleTimeout(80)
  for (let e = net.server.pollEvent(); e; e = net.server.pollEvent()) net.serverEvents.push(e)
  t.like(net.serverEvents.find((e) => e.type === 'ike-sa-down'), { reason: 'dead peer: no answer to R-U-THERE' })
  t.truthy(net.serverEvents.find((e) => e.type === 'child-sa-down'))
})

test('PFS: a Quick Mode with KE derives keys from the new Diffie-Hellman secret too', (t) => {
  const net = network({}, {}, true)
  connect(net, { pfsGroup: 14 })
  const s = child(net.serverEvents)!
  const c = child(net.clientEvents)!
  t.truthy(s)
  t.deepEqual(s.inbound.encryptionKey, c.outbound.encryptionKey)
  espWorks(t, c, s)
  // A responder that does not allow the group refuses.
  const strict = network({ policy: { ...PRESETS.compatible, phase2: { ...PRESETS.compatible.phase2, pfsGroups: [19] } } }, {}, true)
  connect(strict, { pfsGroup: 14 })
  t.falsy(child(strict.serverEvents))
  t.like(strict.serverEvents.find((e) => e.type === 'negotiation-failure'), { stage: 'quick-mode' })
})

test('rekeying: a second Quick Mode and a second Main Mode keep the old SAs until deleted', (t) => {
  const net = network({}, {}, true)
  connect(net)
  const up = net.clientEvents.find((e): e is Extract<IkeEvent, { type: 'ike-sa-up' }> => e.type === 'ike-sa-up')!
  const first = child(net.serverEvents)!
  // Phase 2 rekey under the same IKE SA.
  t.true(net.client.startQuickMode(up.ikeSa, 10))
  net.drive(10)
  const children = net.serverEvents.filter((e): e is ChildUp => e.type === 'child-sa-up')
  t.is(children.length, 2)
  t.not(children[1]!.inbound.spi, first.inbound.spi)
  t.notDeepEqual(children[1]!.inbound.encryptionKey, first.inbound.encryptionKey)
  t.falsy(net.serverEvents.find((e) => e.type === 'child-sa-down'), 'the old ESP SAs stay until the client deletes them')
  // Phase 1 rekey: a new Main Mode without INITIAL-CONTACT leaves the old IKE SA alone.
  net.client.connect({ peer: SERVER, local: CLIENT_LOCAL }, 20, {}, { rekey: true })
  net.drive(20)
  t.is(net.serverEvents.filter((e) => e.type === 'ike-sa-up').length, 2)
  t.falsy(net.serverEvents.find((e) => e.type === 'ike-sa-down'))
  t.is(net.server.stats().ikeSas, 2)
})

test('a lifetime longer than policy is answered with RESPONDER-LIFETIME and clamped', (t) => {
  const short = { ...PRESETS.compatible, phase2: { ...PRESETS.compatible.phase2, maxLifetimeSeconds: 1200 } }
  const net = network({ policy: short }, {}, true)
  connect(net, { lifetimeSeconds: 3600 })
  const s = child(net.serverEvents)!
  t.is(s.lifetimeSeconds, 1200)
  const c = child(net.clientEvents)!
  t.truthy(c, 'the client accepts the answer')
})

test('Aggressive Mode is refused unless enabled, then works with a warning', (t) => {
  const refused = network({}, {}, true)
  refused.client.connectAggressive({ peer: SERVER, local: CLIENT_LOCAL }, 0, 2)
  refused.drive()
  t.like(refused.clientEvents.find((e) => e.type === 'negotiation-failure'), { notify: 29 })
  t.falsy(refused.serverEvents.find((e) => e.type === 'ike-sa-up'))

  const net = network({ aggressiveMode: true }, { localId: 'android@example.test' }, true)
  t.true(net.server.warnings().some((w) => /Aggressive Mode is enabled/.test(w)))
  net.client.connectAggressive({ peer: SERVER, local: CLIENT_LOCAL }, 0, 2)
  net.drive()
  t.like(net.serverEvents.find((e) => e.type === 'ike-sa-up'), { peerId: 'user-fqdn:android@example.test', natDetected: true })
  const s = child(net.serverEvents)!
  const c = child(net.clientEvents)!
  t.truthy(s)
  espWorks(t, c, s)

  const wrong = network({ aggressiveMode: true }, { psk: Buffer.from('guess') }, true)
  wrong.client.connectAggressive({ peer: SERVER, local: CLIENT_LOCAL }, 0, 2)
  wrong.drive()
  t.truthy(wrong.clientEvents.find((e) => e.type === 'auth-failure'), 'the client sees HASH_R fail')
  t.falsy(wrong.serverEvents.find((e) => e.type === 'ike-sa-up'))
})

test('the commit bit is answered with CONNECTED once the SA is installed', (t) => {
  const net = network({}, {}, true)
  connect(net, { commit: true })
  const s = child(net.serverEvents)!
  t.truthy(s)
  t.like(net.clientEvents.find((e) => e.type === 'child-sa-connected'), { spi: s.inbound.spi })
  const plain = network({}, {}, true)
  connect(plain)
  t.falsy(plain.clientEvents.find((e) => e.type === 'child-sa-connected'), 'no CONNECTED without the commit bit')
})

test('RSA signatures with X.509 certificates: Main Mode + Quick Mode, and the ways it must fail', async (t) => {
  const { createTestPki } = await import('./helpers/test-pki.js')
  const { loadCredentials, loadTrustAnchors } = await import('../lib/ike/certificates.js')
  const pki = createTestPki()
  t.teardown(pki.dispose)
  const anchors = loadTrustAnchors(pki.ca)
  const server = pki.issue('server', '/CN=vpn.example.test', 'IP:10.0.2.2,DNS:vpn.example.test')
  const alice = pki.issue('alice', '/CN=alice', 'email:alice@example.test')
  const mallory = pki.issueRogue('mallory', '/CN=alice', 'email:alice@example.test')
  const serverAuth = { certificate: { credentials: loadCredentials(server), trustAnchors: anchors }, psk: undefined }
  const withCert = (c: { cert: string; key: string }, localId?: string) => ({ certificate: { credentials: loadCredentials(c), trustAnchors: anchors }, psk: undefined, localId })

  const net = network(serverAuth, withCert(alice, 'alice@example.test'), true)
  connect(net)
  t.like(net.serverEvents.find((e) => e.type === 'ike-sa-up'), { peerId: 'user-fqdn:alice@example.test' })
  // The server identifies itself by its certificate's subject DN.
  t.regex((net.clientEvents.find((e) => e.type === 'ike-sa-up') as { peerId: string }).peerId, /^dn:30/)
  const s = child(net.serverEvents)!
  const c = child(net.clientEvents)!
  t.truthy(s, JSON.stringify(net.serverEvents))
  espWorks(t, c, s)

  // Small packets: Main Mode 5 and 6 (certificates) travel in fragments.
  const fragmented = network({ ...serverAuth, fragmentSize: 576 }, { ...withCert(alice, 'alice@example.test'), fragmentSize: 576 }, true)
  connect(fragmented)
  const fragments = fragmented.wire.filter((w) => w.data[16] === 132)
  t.true(fragments.filter((w) => w.from === 'client').length >= 2, 'the client fragmented message 5')
  t.true(fragments.filter((w) => w.from === 'server').length >= 2, 'the server fragmented message 6')
  // Message 1 cannot be fragmented (support is announced in it); all later ones fit.
  t.true(fragmented.wire.slice(1).every((w) => w.data.length + 20 + 8 + 4 <= 576), 'every datagram after message 1 fits the fragment size')
  t.truthy(child(fragmented.serverEvents), 'and the exchange completed')
  t.truthy(child(fragmented.clientEvents))

  // A certificate from a CA we do not trust.
  const rogue = network(serverAuth, withCert(mallory, 'alice@example.test'), true)
  connect(rogue)
  t.regex((rogue.serverEvents.find((e) => e.type === 'auth-failure') as { reason: string } | undefined)?.reason ?? '', /certificate/)
  t.falsy(rogue.serverEvents.find((e) => e.type === 'ike-sa-up'))
  // Our own certificate, but claiming an identity it does not name.
  const liar = network(serverAuth, withCert(alice, 'bob@example.test'), true)
  connect(liar)
  t.regex((liar.serverEvents.find((e) => e.type === 'auth-failure') as { reason: string } | undefined)?.reason ?? '', /not named by its certificate/)
  t.falsy(child(liar.serverEvents))
})

test('drops are counted every time but reported once per peer per interval', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK })
  const path: Path = { peer: { address: '198.51.100.1', port: 500 }, local: SERVER }
  for (let i = 0; i < 1000; i++) server.handle(Buffer.from('junk'), path, 0)
  server.handle(Buffer.from('junk'), path, 11)
  const reports: IkeEvent[] = []
  for (let e = server.pollEvent(); e; e = server.pollEvent()) reports.push(e)
  t.is(Object.values(server.stats().dropped).reduce((a, b) => a + b, 0), 1001)
  t.deepEqual(
    reports.map((e) => (e as { count: number }).count),
    [1, 1000],
  )
})

test('the server can start the Quick Mode rekey itself, under the client\'s IKE SA', (t) => {
  const net = network({}, {}, true)
  connect(net)
  const up = net.serverEvents.find((e): e is Extract<IkeEvent, { type: 'ike-sa-up' }> => e.type === 'ike-sa-up')!
  t.true(net.server.startQuickMode(up.ikeSa, 100, { peerL2tpPort: 1701 }))
  net.drive(100)
  const serverChildren = net.serverEvents.filter((e): e is ChildUp => e.type === 'child-sa-up')
  const clientChildren = net.clientEvents.filter((e): e is ChildUp => e.type === 'child-sa-up')
  t.is(serverChildren.length, 2)
  t.is(clientChildren.length, 2)
  t.is(serverChildren[1]!.outbound.spi, clientChildren[1]!.inbound.spi)
  espWorks(t, serverChildren[1]!, clientChildren[1]!)
  espWorks(t, clientChildren[1]!, serverChildren[1]!)
  t.false(net.server.startQuickMode('no-such-sa', 100))
})

test('a Phase 1 rekey adopts the ESP SAs: deleting or expiring the old IKE SA does not cut the session', (t) => {
  const short = { ...PRESETS.compatible, phase1: { ...PRESETS.compatible.phase1, maxLifetimeSeconds: 100 } }
  const net = network({ policy: short }, { policy: short }, true)
  connect(net)
  const first = child(net.serverEvents)!
  const oldIke = (net.serverEvents.find((e) => e.type === 'ike-sa-up') as { ikeSa: string }).ikeSa
  // At 90% of its life the client rekeys Phase 1 by itself (no INITIAL-CONTACT) ...
  net.client.handleTimeout(90)
  net.drive(90)
  const ups = net.serverEvents.filter((e): e is Extract<IkeEvent, { type: 'ike-sa-up' }> => e.type === 'ike-sa-up')
  t.is(ups.length, 2)
  t.deepEqual(net.server.childSas(ups[1]!.ikeSa), [[first.inbound.spi, first.outbound.spi]], 'the new IKE SA adopted the ESP SAs')
  // ... and at 100 s the old one ends on both sides, without touching the ESP SAs.
  net.client.handleTimeout(100)
  net.server.handleTimeout(100)
  net.drive(100)
  t.like(net.serverEvents.find((e) => e.type === 'ike-sa-down'), { ikeSa: oldIke })
  t.falsy(net.serverEvents.find((e) => e.type === 'child-sa-down'), 'no ESP SA went down')
  t.is(net.server.stats().ikeSas, 1)
  // Without a rekey, an expired IKE SA takes its ESP SAs with it.
  const lone = network({ policy: short }, { policy: short }, true)
  connect(lone)
  lone.server.handleTimeout(101)
  for (let e = lone.server.pollEvent(); e; e = lone.server.pollEvent()) lone.serverEvents.push(e)
  t.like(lone.serverEvents.find((e) => e.type === 'ike-sa-down'), { reason: 'Phase 1 lifetime expired' })
  t.truthy(lone.serverEvents.find((e) => e.type === 'child-sa-down'))
})
