// The IKE endpoint's indexes and timer queue (lib/ike/endpoint.ts), which
// replaced scans of every SA: half-open counts in all and per source stay
// exact as SAs complete, fail and expire; INITIAL-CONTACT still finds the
// old SA of that identity, address and port among many; the per-identity
// limit frees when SAs go; many initiators in one endpoint find their own
// SAs by cookie; DPD probes and expiry fire for the SAs due only, and
// nextTimeout() names the next one exactly.
import test from 'ava'
import { IkeEndpoint } from '../lib/ike/endpoint.js'
import { PRESETS } from '../lib/ike/policy.js'
import type { Endpoint, IkeConfig, IkeEvent } from '../lib/ike/types.js'

const PSK = Buffer.from('ike-indexes-psk-5c1d')
const SERVER: Endpoint = { address: '10.0.2.2', port: 500 }

type Client = { ike: IkeEndpoint; address: string; port: number; drop: boolean }

function client(address: string, port: number, config: Partial<IkeConfig> = {}): Client {
  return { ike: new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, forceEncapsulation: false, dpdDelay: 0, ...config } as IkeConfig), address, port, drop: false }
}

/** Moves datagrams between the server and every client until quiet; a client with `drop` loses what the server sends it. */
function drive(server: IkeEndpoint, clients: Client[], now: number, events: IkeEvent[]): void {
  const byPeer = new Map(clients.map((c) => [`${c.address}:${c.port}`, c]))
  for (let round = 0; round < 40; round++) {
    let moved = false
    for (const c of clients) {
      for (let tx = c.ike.pollTransmit(); tx; tx = c.ike.pollTransmit()) {
        moved = true
        server.handle(tx.data, { peer: { address: c.address, port: c.port }, local: SERVER }, now)
      }
    }
    for (let tx = server.pollTransmit(); tx; tx = server.pollTransmit()) {
      moved = true
      const c = byPeer.get(`${tx.to.address}:${tx.to.port}`)
      if (c && !c.drop) c.ike.handle(tx.data, { peer: SERVER, local: { address: c.address, port: c.port } }, now)
    }
    for (let e = server.pollEvent(); e; e = server.pollEvent()) events.push(e)
    if (!moved) return
  }
}

const ups = (events: IkeEvent[]) => events.filter((e): e is Extract<IkeEvent, { type: 'ike-sa-up' }> => e.type === 'ike-sa-up')
const downs = (events: IkeEvent[]) => events.filter((e): e is Extract<IkeEvent, { type: 'ike-sa-down' }> => e.type === 'ike-sa-down')

test('half-open counts stay exact as SAs complete, stall and expire; the limits admit again once they do', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, forceEncapsulation: false, dpdDelay: 0, maxHalfOpenPerSource: 3, maxHalfOpen: 5, halfOpenTimeout: 30 })
  const events: IkeEvent[] = []
  // Two sources; the first sends 4 (one over its limit), the second 3 (one over the total of 5).
  const stalled = [...[1, 2, 3, 4].map((p) => client('198.51.100.1', 1000 + p)), ...[1, 2, 3].map((p) => client('198.51.100.2', 2000 + p))]
  for (const c of stalled) {
    c.drop = true
    c.ike.connect({ peer: SERVER, local: { address: c.address, port: c.port } }, 0, false)
  }
  drive(server, stalled, 0, events)
  t.is(server.stats().halfOpen, 5)
  t.is(server.stats().dropped['half-open limit per source reached'], 1)
  t.is(server.stats().dropped['half-open limit reached'], 1)
  // Full: a third source is refused too.
  const late = client('198.51.100.3', 3001)
  late.ike.connect({ peer: SERVER, local: { address: late.address, port: late.port } }, 10, false)
  drive(server, [late], 10, events)
  t.is(ups(events).length, 0)
  t.is(server.stats().dropped['half-open limit reached'], 2)
  // They expire after 30 s (not at 30: strictly after), and are counted out.
  t.is(server.nextTimeout(), 30)
  server.handleTimeout(30)
  t.is(server.stats().halfOpen, 5)
  server.handleTimeout(30.5)
  t.is(server.stats().halfOpen, 0)
  t.is(server.stats().ikeSas, 0)
  t.is(server.nextTimeout(), undefined)
  // Room again: three from the first source come up, and the count goes back to zero as each is established.
  const fresh = [1, 2, 3].map((p) => client('198.51.100.1', 4000 + p))
  for (const c of fresh) c.ike.connect({ peer: SERVER, local: { address: c.address, port: c.port } }, 40, false)
  drive(server, fresh, 40, events)
  t.is(ups(events).length, 3)
  t.is(server.stats().halfOpen, 0)
  t.is(server.stats().ikeSas, 3)
})

test('INITIAL-CONTACT finds the old SA of that identity, address and port among many of the same identity', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, forceEncapsulation: false, dpdDelay: 0, maxHalfOpenPerSource: 100 })
  const events: IkeEvent[] = []
  // 40 clients behind one NAT, all with the same ID (their private address), one port each.
  const clients = Array.from({ length: 40 }, (_, i) => client('203.0.113.7', 40000 + i, { localId: '192.168.1.10' }))
  for (const c of clients) c.ike.connect({ peer: SERVER, local: { address: c.address, port: c.port } }, 0, false)
  drive(server, clients, 0, events)
  const first = ups(events)
  t.is(first.length, 40)
  // Client 17 restarts (a new endpoint: INITIAL-CONTACT) from the same address and port.
  const again = client('203.0.113.7', 40017, { localId: '192.168.1.10' })
  again.ike.connect({ peer: SERVER, local: { address: again.address, port: again.port } }, 5, false)
  drive(server, [again], 5, events)
  t.is(ups(events).length, 41)
  const old = first.find((e) => e.peer.port === 40017)!
  t.deepEqual(downs(events).map((e) => e.ikeSa), [old.ikeSa], 'only client 17\'s old SA goes')
  t.is(server.stats().ikeSas, 40)
})

test('the per-identity limit counts established SAs only, and frees as they go', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, forceEncapsulation: false, dpdDelay: 0, maxSasPerIdentity: 2 })
  const events: IkeEvent[] = []
  const a = client('203.0.113.1', 500, { localId: 'shared@example.net' })
  const b = client('203.0.113.2', 500, { localId: 'shared@example.net' })
  for (const c of [a, b]) c.ike.connect({ peer: SERVER, local: { address: c.address, port: c.port } }, 0, false)
  drive(server, [a, b], 0, events)
  t.is(ups(events).length, 2)
  const c3 = client('203.0.113.3', 500, { localId: 'shared@example.net' })
  c3.ike.connect({ peer: SERVER, local: { address: c3.address, port: c3.port } }, 1, false)
  drive(server, [c3], 1, events)
  t.is(ups(events).length, 2, 'a third address is refused')
  // a deletes its IKE SA: the identity holds one, so the third address now fits.
  const aSa = ups(events).find((e) => e.peer.address === a.address)!
  server.close(aSa.ikeSa, 2, 'test', { notify: false })
  const c4 = client('203.0.113.3', 500, { localId: 'shared@example.net' })
  c4.ike.connect({ peer: SERVER, local: { address: c4.address, port: c4.port } }, 3, false)
  drive(server, [c4], 3, events)
  t.is(ups(events).length, 3)
})

test('many initiators in one endpoint each find their own SA by cookie', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, forceEncapsulation: false, dpdDelay: 0, maxHalfOpenPerSource: 100 })
  const initiator = client('198.51.100.9', 500)
  const clientEvents: IkeEvent[] = []
  for (let i = 0; i < 30; i++) initiator.ike.connect({ peer: SERVER, local: { address: initiator.address, port: initiator.port } }, 0, false)
  drive(server, [initiator], 0, [])
  for (let e = initiator.ike.pollEvent(); e; e = initiator.ike.pollEvent()) clientEvents.push(e)
  t.is(ups(clientEvents).length, 30)
  t.is(new Set(ups(clientEvents).map((e) => e.ikeSa)).size, 30)
  t.is(initiator.ike.stats().halfOpen, 0)
})

test('DPD: probes and expiry fire for the SAs due only, in turn; nextTimeout names the next exactly', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, forceEncapsulation: false, dpdDelay: 10, dpdTimeout: 30 })
  const events: IkeEvent[] = []
  // Two clients that announce DPD, up at 0 and at 4; both then go silent.
  const early = client('203.0.113.21', 500)
  const late = client('203.0.113.22', 500)
  early.ike.connect({ peer: SERVER, local: { address: early.address, port: early.port } }, 0, false)
  drive(server, [early], 0, events)
  late.ike.connect({ peer: SERVER, local: { address: late.address, port: late.port } }, 4, false)
  drive(server, [late], 4, events)
  t.is(ups(events).length, 2)
  early.drop = true
  late.drop = true
  const probes = () => {
    const to: string[] = []
    for (let tx = server.pollTransmit(); tx; tx = server.pollTransmit()) to.push(tx.to.address)
    return to
  }
  t.is(server.nextTimeout(), 10)
  server.handleTimeout(10)
  t.deepEqual(probes(), [early.address], 'only the SA idle for 10 s is asked')
  t.is(server.nextTimeout(), 14)
  server.handleTimeout(14)
  t.deepEqual(probes(), [late.address])
  t.is(server.nextTimeout(), 40, 'the first probe times out 30 s after it left')
  server.handleTimeout(39.9)
  for (let e = server.pollEvent(); e; e = server.pollEvent()) events.push(e)
  t.is(downs(events).length, 0)
  server.handleTimeout(40)
  for (let e = server.pollEvent(); e; e = server.pollEvent()) events.push(e)
  t.deepEqual(downs(events).map((e) => e.reason), ['dead peer: no answer to R-U-THERE'])
  t.is(server.stats().ikeSas, 1)
  server.handleTimeout(44)
  for (let e = server.pollEvent(); e; e = server.pollEvent()) events.push(e)
  t.is(downs(events).length, 2)
  t.is(server.stats().ikeSas, 0)
})
