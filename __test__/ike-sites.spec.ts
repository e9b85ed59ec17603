// Site-to-site in the IKE core (sans-IO, two gateways in memory): tunnel
// mode only for an IKE SA authenticated as a configured site, with
// selectors inside its subnets; L2TP clients stay transport-only; the
// RFC 3947 and draft UDP encapsulation values.
import test from 'ava'
import { EspSa, packBatch, unpackBatch } from '../lib/index.js'
import { decodePayloadBody, encodePayloadBody, type SaPayload } from '../lib/ike/codec.js'
import { EncapsulationMode, IdType, NotifyType, PayloadType } from '../lib/ike/constants.js'
import { IkeEndpoint } from '../lib/ike/endpoint.js'
import { PRESETS } from '../lib/ike/policy.js'
import { matchPhase2, phase2Offer } from '../lib/ike/proposal.js'
import { selectorCidr, selectorWithin, subnetId, type IkeSite } from '../lib/ike/sites.js'
import type { Endpoint, IkeConfig, IkeEvent, Path } from '../lib/ike/types.js'

const L2TP_PSK = Buffer.from('the-l2tp-clients-shared-key')
const SITE_PSK = Buffer.from('site-a-to-b-only-key-91c2')
const A: Endpoint = { address: '192.0.2.1', port: 500 }
const B: Endpoint = { address: '192.0.2.2', port: 500 }

/** Gateway A's view of B and B's of A. */
const siteB: IkeSite = { name: 'b', peer: B.address, psk: SITE_PSK, local: ['10.1.0.0/24'], remote: ['10.2.0.0/24'] }
const siteA: IkeSite = { name: 'a', peer: A.address, psk: SITE_PSK, local: ['10.2.0.0/24'], remote: ['10.1.0.0/24'] }

interface Pair {
  a: IkeEndpoint
  b: IkeEndpoint
  aEvents: IkeEvent[]
  bEvents: IkeEvent[]
  drive: () => void
}

/** A (initiator side) and B joined by a plain network (B forces UDP encapsulation, as the server does). */
function gateways(aConfig: Partial<IkeConfig>, bConfig: Partial<IkeConfig>, aAddress = A.address): Pair {
  const base = { policy: PRESETS.compatible, psk: L2TP_PSK }
  const a = new IkeEndpoint({ ...base, ...aConfig })
  const b = new IkeEndpoint({ ...base, ...bConfig })
  const pair: Pair = { a, b, aEvents: [], bEvents: [], drive: () => {} }
  pair.drive = () => {
    for (let round = 0; round < 50; round++) {
      let moved = false
      for (let t = a.pollTransmit(); t; t = a.pollTransmit()) {
        moved = true
        b.handle(t.data, { peer: { address: aAddress, port: t.fromPort }, local: { address: B.address, port: t.to.port } }, 0)
      }
      for (let t = b.pollTransmit(); t; t = b.pollTransmit()) {
        moved = true
        a.handle(t.data, { peer: { address: B.address, port: t.fromPort }, local: { address: aAddress, port: t.to.port } }, 0)
      }
      for (let e = a.pollEvent(); e; e = a.pollEvent()) pair.aEvents.push(e)
      for (let e = b.pollEvent(); e; e = b.pollEvent()) pair.bEvents.push(e)
      if (!moved) return
    }
  }
  return pair
}

const call: Path = { peer: B, local: A }
type ChildUp = Extract<IkeEvent, { type: 'child-sa-up' }>
const childUp = (events: IkeEvent[]) => events.find((e): e is ChildUp => e.type === 'child-sa-up')
const failure = (events: IkeEvent[]) => events.find((e) => e.type === 'negotiation-failure' || e.type === 'auth-failure')

test('a configured site gets a tunnel-mode SA pair for its subnets, in UDP (RFC 3947 UDP-Encapsulated-Tunnel)', (t) => {
  const net = gateways({ sites: [siteB] }, { sites: [siteA] })
  net.a.connect(call, 0, { tunnel: { local: '10.1.0.0/24', remote: '10.2.0.0/24' } }, { site: 'b' })
  net.drive()
  const a = childUp(net.aEvents)
  const b = childUp(net.bEvents)
  t.truthy(a, JSON.stringify(net.aEvents.map((e) => e.type)))
  t.truthy(b, JSON.stringify(net.bEvents))
  t.like(a, { mode: 'tunnel', site: 'b', udpEncapsulated: true, peerL2tpPort: 0, selectors: { initiator: '10.1.0.0/255.255.255.0 any', responder: '10.2.0.0/255.255.255.0 any' } })
  t.like(b, { mode: 'tunnel', site: 'a', udpEncapsulated: true })
  // Each side's outbound SA opens under the other's inbound one, an inner IPv4 packet (Next Header 4).
  const sealer = new EspSa({ spi: a!.outbound.spi, suite: a!.outbound.suite, encryptionKey: a!.outbound.encryptionKey, integrityKey: a!.outbound.integrityKey })
  const opener = new EspSa({ spi: b!.inbound.spi, suite: b!.inbound.suite, encryptionKey: b!.inbound.encryptionKey, integrityKey: b!.inbound.integrityKey })
  const batch = packBatch([Buffer.from('an inner IPv4 packet')])
  const sealed = sealer.seal(batch.data, batch.offsets, 4)
  t.deepEqual(unpackBatch(opener.open(sealed.data, sealed.offsets)), [Buffer.from('an inner IPv4 packet')])
})

test('tunnel mode is refused to a client that authenticated with the L2TP pre-shared key', (t) => {
  // The "client" believes B is its site and asks for tunnel mode; B has no site at its address.
  const net = gateways({ sites: [{ ...siteB, psk: L2TP_PSK }] }, { sites: [] })
  net.a.connect(call, 0, { tunnel: { local: '10.1.0.0/24', remote: '10.2.0.0/24' } }, { site: 'b' })
  net.drive()
  t.truthy(net.bEvents.find((e) => e.type === 'ike-sa-up'), 'Phase 1 with the L2TP key is fine')
  t.falsy(childUp(net.bEvents))
  t.falsy(childUp(net.aEvents))
  const refused = net.bEvents.find((e) => e.type === 'negotiation-failure')
  t.like(refused, { stage: 'quick-mode', notify: NotifyType.NO_PROPOSAL_CHOSEN })
  t.regex((refused as { reason: string }).reason, /tunnel mode is not enabled/)
})

test('an L2TP client under the same server still gets transport mode to UDP 1701', (t) => {
  const client = '198.51.100.7'
  const net = gateways({}, { sites: [siteA] }, client)
  net.a.connect({ peer: B, local: { address: client, port: 500 } }, 0, {})
  net.drive()
  t.like(childUp(net.bEvents), { mode: 'transport', peerL2tpPort: 1701 })
  t.is(childUp(net.bEvents)!.site, undefined)
})

test('a site may not negotiate transport mode (its SAs never carry L2TP)', (t) => {
  const net = gateways({ sites: [siteB] }, { sites: [siteA] })
  net.a.connect(call, 0, {}, { site: 'b' })
  net.drive()
  t.falsy(childUp(net.bEvents))
  t.like(net.bEvents.find((e) => e.type === 'negotiation-failure'), { stage: 'quick-mode', notify: NotifyType.NO_PROPOSAL_CHOSEN })
})

test('selectors outside the site subnets are refused with INVALID-ID-INFORMATION', (t) => {
  for (const tunnel of [
    { local: '10.1.0.0/16', remote: '10.2.0.0/24' }, // IDci wider than B's remote
    { local: '10.1.0.0/24', remote: '10.9.0.0/24' }, // IDcr not B's
    { local: '10.1.0.0/24', remote: '0.0.0.0/0' },
  ]) {
    const net = gateways({ sites: [{ ...siteB, local: [tunnel.local], remote: [tunnel.remote] }] }, { sites: [siteA] })
    net.a.connect(call, 0, { tunnel }, { site: 'b' })
    net.drive()
    t.falsy(childUp(net.bEvents), JSON.stringify(tunnel))
    const refused = net.bEvents.find((e) => e.type === 'negotiation-failure') as { notify?: number; reason: string } | undefined
    t.is(refused?.notify, NotifyType.INVALID_ID_INFORMATION, JSON.stringify(tunnel))
    t.regex(refused!.reason, /is not inside/)
  }
  // A narrower pair inside both is fine.
  const net = gateways({ sites: [{ ...siteB, local: ['10.1.0.128/25'], remote: ['10.2.0.7/32'] }] }, { sites: [siteA] })
  net.a.connect(call, 0, { tunnel: { local: '10.1.0.128/25', remote: '10.2.0.7/32' } }, { site: 'b' })
  net.drive()
  t.like(childUp(net.bEvents), { mode: 'tunnel', site: 'a' })
})

test('the site key is chosen by address: a wrong key or a wrong remote ID fails authentication', (t) => {
  const wrongKey = gateways({ sites: [{ ...siteB, psk: Buffer.from('not-the-site-key-at-all') }] }, { sites: [siteA] })
  wrongKey.a.connect(call, 0, { tunnel: { local: '10.1.0.0/24', remote: '10.2.0.0/24' } }, { site: 'b' })
  wrongKey.drive()
  t.truthy(wrongKey.bEvents.find((e) => e.type === 'auth-failure'))
  t.falsy(wrongKey.bEvents.find((e) => e.type === 'ike-sa-up'))

  const wrongId = gateways({ sites: [{ ...siteB, localId: 'gw-a.example.net' }] }, { sites: [{ ...siteA, remoteId: 'gw-a.example.com' }] })
  wrongId.a.connect(call, 0, { tunnel: { local: '10.1.0.0/24', remote: '10.2.0.0/24' } }, { site: 'b' })
  wrongId.drive()
  t.regex((failure(wrongId.bEvents) as { reason: string }).reason, /site a: the peer's ID is not gw-a\.example\.com/)

  const rightId = gateways({ sites: [{ ...siteB, localId: 'GW-A.example.com', remoteId: '192.0.2.2' }] }, { sites: [{ ...siteA, remoteId: 'gw-a.example.com' }] })
  rightId.a.connect(call, 0, { tunnel: { local: '10.1.0.0/24', remote: '10.2.0.0/24' } }, { site: 'b' })
  rightId.drive()
  t.like(childUp(rightId.bEvents), { site: 'a' })
  t.like(childUp(rightId.aEvents), { site: 'b' })
})

test('a site Quick Mode rekey gives a new pair; deleting the old one tells the peer', (t) => {
  const net = gateways({ sites: [siteB] }, { sites: [siteA] })
  net.a.connect(call, 0, { tunnel: { local: '10.1.0.0/24', remote: '10.2.0.0/24' } }, { site: 'b' })
  net.drive()
  const first = childUp(net.aEvents)!
  t.true(net.a.startQuickMode(first.ikeSa, 1, { tunnel: { local: '10.1.0.0/24', remote: '10.2.0.0/24' } }))
  net.drive()
  const ups = net.aEvents.filter((e): e is ChildUp => e.type === 'child-sa-up')
  t.is(ups.length, 2)
  t.not(ups[1]!.inbound.spi, first.inbound.spi)
  t.true(net.a.deleteChildSa(first.ikeSa, first.inbound.spi, 2))
  net.drive()
  t.like(net.bEvents.find((e) => e.type === 'child-sa-down'), { outboundSpi: first.inbound.spi, reason: 'deleted by the peer' })
  t.deepEqual(net.a.childSas(first.ikeSa), [[ups[1]!.inbound.spi, ups[1]!.outbound.spi]])
})

test('encapsulation modes: RFC 3947 (3, 4) and draft (61443, 61444) values, tunnel for sites, transport for L2TP', (t) => {
  const spi = Buffer.from([0, 0, 0x12, 0x34])
  const offer = (encapsulation: number): SaPayload =>
    decodePayloadBody(PayloadType.SA, encodePayloadBody({ type: PayloadType.SA, ...phase2Offer(PRESETS.modern, spi, { encapsulation, lifetimeSeconds: 3600 }) })) as SaPayload
  const site = { allowTunnel: true, natT: true, tunnelOnly: true }
  const l2tp = { allowTunnel: false, natT: true }
  for (const encapsulation of [EncapsulationMode.UDP_TUNNEL, EncapsulationMode.UDP_TUNNEL_DRAFT]) {
    const m = matchPhase2(offer(encapsulation), PRESETS.modern, site)
    t.like(m, { ok: true, choice: { mode: 'tunnel', udpEncapsulated: true, encapsulation } }, String(encapsulation))
    t.like(matchPhase2(offer(encapsulation), PRESETS.modern, l2tp), { ok: false, notify: NotifyType.NO_PROPOSAL_CHOSEN }, String(encapsulation))
  }
  for (const encapsulation of [EncapsulationMode.UDP_TRANSPORT, EncapsulationMode.UDP_TRANSPORT_DRAFT]) {
    t.like(matchPhase2(offer(encapsulation), PRESETS.modern, l2tp), { ok: true, choice: { mode: 'transport', udpEncapsulated: true, encapsulation } }, String(encapsulation))
    t.like(matchPhase2(offer(encapsulation), PRESETS.modern, site), { ok: false, notify: NotifyType.NO_PROPOSAL_CHOSEN }, String(encapsulation))
  }
  t.deepEqual([EncapsulationMode.UDP_TUNNEL, EncapsulationMode.UDP_TRANSPORT, EncapsulationMode.UDP_TUNNEL_DRAFT, EncapsulationMode.UDP_TRANSPORT_DRAFT], [3, 4, 61443, 61444])
})

test('selector IDs: subnets, hosts and whole-prefix ranges, IPv4 and IPv6', (t) => {
  const id = (idType: number, ...parts: number[][]) => ({ idType, data: Buffer.from(parts.flat()) })
  t.deepEqual(selectorCidr(id(IdType.IPV4_ADDR_SUBNET, [10, 1, 0, 0], [255, 255, 255, 0]))?.length, 24)
  t.is(selectorCidr(id(IdType.IPV4_ADDR_SUBNET, [10, 1, 0, 0], [255, 0, 255, 0])), undefined, 'a mask with holes')
  t.is(selectorCidr(id(IdType.IPV4_ADDR_RANGE, [10, 1, 0, 0], [10, 1, 0, 255]))?.length, 24)
  t.is(selectorCidr(id(IdType.IPV4_ADDR_RANGE, [10, 1, 0, 1], [10, 1, 0, 200])), undefined, 'not one prefix')
  t.true(selectorWithin(id(IdType.IPV4_ADDR, [10, 1, 0, 9]), ['10.1.0.0/24']))
  t.false(selectorWithin(id(IdType.IPV4_ADDR, [10, 1, 1, 9]), ['10.1.0.0/24']))
  const v6 = subnetId('2001:db8:1::/48') as { idType: number; data: Buffer }
  t.is(v6.idType, IdType.IPV6_ADDR_SUBNET)
  t.true(selectorWithin(v6, ['2001:db8::/32']))
  t.false(selectorWithin(v6, ['2001:db8:1:1::/64', '10.0.0.0/8']))
})

test('a dynamic site ("any" address) is recognised by the ID its certificate proves; other certificates stay transport-only', async (t) => {
  const { createTestPki } = await import('./helpers/test-pki.js')
  const { loadCredentials, loadTrustAnchors } = await import('../lib/ike/certificates.js')
  const pki = createTestPki()
  t.teardown(pki.dispose)
  const anchors = loadTrustAnchors(pki.ca)
  const auth = (c: { cert: string; key: string }) => ({ certificate: { credentials: loadCredentials(c), trustAnchors: anchors }, psk: undefined })
  const gwA = pki.issue('gw-a', '/CN=gw-a', 'DNS:gw-a.example.test')
  const gwB = pki.issue('gw-b', '/CN=gw-b', 'DNS:gw-b.example.test')
  const laptop = pki.issue('laptop', '/CN=laptop', 'DNS:laptop.example.test')
  const dynamicA: IkeSite = { name: 'a', remoteId: 'gw-a.example.test', local: ['10.2.0.0/24'], remote: ['10.1.0.0/24'] }
  const callingB: IkeSite = { name: 'b', peer: B.address, localId: 'gw-a.example.test', remoteId: 'gw-b.example.test', local: ['10.1.0.0/24'], remote: ['10.2.0.0/24'] }
  const tunnel = { local: '10.1.0.0/24', remote: '10.2.0.0/24' }

  const net = gateways({ ...auth(gwA), sites: [callingB] }, { ...auth(gwB), localId: 'gw-b.example.test', sites: [dynamicA] }, '203.0.113.50')
  net.a.connect({ peer: B, local: { address: '203.0.113.50', port: 500 } }, 0, { tunnel }, { site: 'b' })
  net.drive()
  t.like(childUp(net.bEvents), { mode: 'tunnel', site: 'a' }, JSON.stringify(net.bEvents.map((e) => e.type)))
  t.like(childUp(net.aEvents), { mode: 'tunnel', site: 'b' })

  // Another certificate from the same CA: authenticated, but not the site, so no tunnel mode.
  const other = gateways({ ...auth(laptop), sites: [{ ...callingB, localId: 'laptop.example.test' }] }, { ...auth(gwB), localId: 'gw-b.example.test', sites: [dynamicA] }, '203.0.113.51')
  other.a.connect({ peer: B, local: { address: '203.0.113.51', port: 500 } }, 0, { tunnel }, { site: 'b' })
  other.drive()
  t.truthy(other.bEvents.find((e) => e.type === 'ike-sa-up'))
  t.falsy(childUp(other.bEvents))
  t.like(other.bEvents.find((e) => e.type === 'negotiation-failure'), { stage: 'quick-mode', notify: NotifyType.NO_PROPOSAL_CHOSEN })
})
