// L2TPv2 tunnels and sessions (RFC 2661 sections 5 and 7): our LAC and LNS
// endpoints in memory, through a seeded lossy, duplicating and reordering
// link; tunnel authentication, hidden AVPs, HELLO, retransmission cap,
// StopCCN/CDN both ways, limits, bindings (clients behind one NAT), tie
// breakers, unknown M-bit AVPs, WEN/SLI/OCRQ; and the real xl2tpd client
// messages of vectors/l2tp/real-control.json fed to our LNS.
import { prng } from './helpers/seeded.js'
import test from 'ava'
import { readFileSync } from 'node:fs'
import { avp, avpValue, decodeControl, encodeControl, findAvp } from '../lib/l2tp/codec.js'
import type { AvpInput, DecodedControl } from '../lib/l2tp/codec.js'
import { AvpType, CdnResult, GeneralError, MessageType, StopCcnResult } from '../lib/l2tp/constants.js'
import { L2tpEndpoint, L2tpStateError, challengeResponse, tieBreak } from '../lib/l2tp/endpoint.js'
import type { L2tpConfig, L2tpEvent, L2tpPeer, SessionUpEvent, TunnelUpEvent } from '../lib/l2tp/endpoint.js'
import { IdAllocator } from '../lib/l2tp/ids.js'

// --- harness ----------------------------------------------------------------

function seededBytes(seed: number): (n: number) => Buffer {
  const r = prng(seed)
  return (n) => {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256)
    return b
  }
}

interface Node {
  name: string
  ep: L2tpEndpoint
  events: L2tpEvent[]
}

interface Route {
  to: Node
  as: L2tpPeer
}

interface Sent {
  at: number
  from: string
  binding: number
  message: DecodedControl | undefined
}

/** Endpoints joined by links that drop, duplicate and delay (so reorder) datagrams, from a seed. */
class Net {
  now = 0
  cut = false
  readonly nodes: Node[] = []
  readonly sent: Sent[] = []
  lost = 0
  duplicated = 0
  private readonly routes = new Map<string, Route>()
  private queue: { at: number; to: Node; as: L2tpPeer; datagram: Buffer }[] = []
  private readonly random: () => number

  constructor(seed = 1, private readonly loss = 0, private readonly duplicate = 0, private readonly maxDelay = 0.01, private readonly secret?: string) {
    this.random = prng(seed)
  }

  node(name: string, config: L2tpConfig, seed: number): Node {
    const n: Node = { name, ep: new L2tpEndpoint(config, { random: seededBytes(seed) }), events: [] }
    this.nodes.push(n)
    return n
  }

  /**
   * Joins `a` (its SA pair `aBinding`) to `b` (its SA pair `bBinding`);
   * returns the peer `a` sees, for a.openTunnel. `aOuter` is where b sees
   * a's packets come from (a NAT's address and port).
   */
  wire(a: Node, aBinding: number, b: Node, bBinding: number, aOuter = { address: '198.51.100.1', port: 4500 }, bOuter = { address: '192.0.2.1', port: 4500 }): L2tpPeer {
    const aSees: L2tpPeer = { binding: aBinding, ...bOuter, l2tpPort: 1701 }
    const bSees: L2tpPeer = { binding: bBinding, ...aOuter, l2tpPort: 1701 }
    this.routes.set(`${a.name}/${aBinding}`, { to: b, as: bSees })
    this.routes.set(`${b.name}/${bBinding}`, { to: a, as: aSees })
    return aSees
  }

  pump(): void {
    for (const n of this.nodes) {
      for (let tx = n.ep.pollTransmit(); tx; tx = n.ep.pollTransmit()) {
        let message: DecodedControl | undefined
        try {
          message = decodeControl(tx.datagram, this.secret ? { secret: this.secret } : {})
        } catch {
          message = undefined
        }
        this.sent.push({ at: this.now, from: n.name, binding: tx.binding, message })
        const route = this.routes.get(`${n.name}/${tx.binding}`)
        if (!route || this.cut) continue
        if (this.random() < this.loss) {
          this.lost++
          continue
        }
        const copies = this.random() < this.duplicate ? 2 : 1
        if (copies === 2) this.duplicated++
        for (let i = 0; i < copies; i++) this.queue.push({ at: this.now + this.random() * this.maxDelay, to: route.to, as: route.as, datagram: tx.datagram })
      }
      for (let e = n.ep.pollEvent(); e; e = n.ep.pollEvent()) n.events.push(e)
    }
  }

  run(duration: number): void {
    const end = this.now + duration
    for (let guard = 0; ; guard++) {
      if (guard > 1_000_000) throw new Error('no progress')
      this.pump()
      let next = Infinity
      for (const p of this.queue) next = Math.min(next, p.at)
      for (const n of this.nodes) next = Math.min(next, n.ep.nextTimeout() ?? Infinity)
      if (next > end) {
        this.now = end
        break
      }
      this.now = Math.max(this.now, next)
      const due = this.queue.filter((p) => p.at <= this.now).sort((x, y) => x.at - y.at)
      this.queue = this.queue.filter((p) => p.at > this.now)
      for (const p of due) p.to.ep.handle(p.datagram, p.as, this.now)
      for (const n of this.nodes) {
        const at = n.ep.nextTimeout()
        if (at !== undefined && at <= this.now) n.ep.handleTimeout(this.now)
      }
    }
    this.pump()
  }
}

function ofType<T extends L2tpEvent['type']>(node: Node, type: T): Extract<L2tpEvent, { type: T }>[] {
  return node.events.filter((e): e is Extract<L2tpEvent, { type: T }> => e.type === type)
}

const LNS: L2tpConfig = { role: 'lns', hostName: 'lns.test' }
const LAC: L2tpConfig = { role: 'lac', hostName: 'lac.test' }

/** A LAC and an LNS joined by one binding (7 at the LNS, 1 at the LAC). */
function pair(lns: Partial<L2tpConfig> = {}, lac: Partial<L2tpConfig> = {}, net = new Net()): { net: Net; lns: Node; lac: Node; toLns: L2tpPeer } {
  const l = net.node('lns', { ...LNS, ...lns }, 100)
  const c = net.node('lac', { ...LAC, ...lac }, 200)
  const toLns = net.wire(c, 1, l, 7)
  return { net, lns: l, lac: c, toLns }
}

/**
 * A hand-driven LAC talking straight to an LNS endpoint: numbers its
 * messages and keeps Nr from what the LNS sends, so any message can be
 * crafted (unknown AVPs, WEN, SLI, OCRQ, Tunnel ID 0…).
 */
class ManualLac {
  ns = 0
  nr = 0
  /** The LNS's Tunnel ID, from its SCCRP. */
  tunnelId = 0
  readonly received: DecodedControl[] = []
  readonly events: L2tpEvent[] = []

  constructor(readonly lns: L2tpEndpoint, readonly peer: L2tpPeer = { binding: 9, address: '198.51.100.9', port: 4500, l2tpPort: 1701 }) {}

  send(messageType: number, avps: AvpInput[], now: number, header: { tunnelId?: number; sessionId?: number } = {}): DecodedControl[] {
    const datagram = encodeControl({ tunnelId: header.tunnelId ?? this.tunnelId, sessionId: header.sessionId ?? 0, ns: this.ns, nr: this.nr, messageType, avps })
    this.ns = (this.ns + 1) & 0xffff
    return this.deliver(datagram, now)
  }

  deliver(datagram: Buffer, now: number): DecodedControl[] {
    this.lns.handle(datagram, this.peer, now)
    return this.collect()
  }

  /** Waits until `now` on the LNS, for delayed acknowledgements and timers. */
  wait(now: number): DecodedControl[] {
    this.lns.handleTimeout(now)
    return this.collect()
  }

  collect(): DecodedControl[] {
    const out: DecodedControl[] = []
    for (let tx = this.lns.pollTransmit(); tx; tx = this.lns.pollTransmit()) {
      if (tx.binding !== this.peer.binding) continue
      const m = decodeControl(tx.datagram)
      if (m.messageType !== undefined && m.ns === this.nr) this.nr = (this.nr + 1) & 0xffff
      out.push(m)
    }
    for (let e = this.lns.pollEvent(); e; e = this.lns.pollEvent()) this.events.push(e)
    this.received.push(...out)
    return out
  }

  /** SCCRQ, SCCRP, SCCCN: an established tunnel. */
  establish(now = 0, extra: AvpInput[] = []): void {
    const [sccrp] = this.send(MessageType.SCCRQ, [...sccrqAvps(4242), ...extra], now, { tunnelId: 0 })
    this.tunnelId = avpValue(sccrp!.avps, AvpType.ASSIGNED_TUNNEL_ID)!
    this.send(MessageType.SCCCN, [], now)
  }

  /** ICRQ, ICRP, ICCN: an established session; returns the LNS's Session ID. */
  call(peerSessionId: number, now = 0): number {
    const [icrp] = this.send(MessageType.ICRQ, [avp(AvpType.ASSIGNED_SESSION_ID, peerSessionId), avp(AvpType.CALL_SERIAL_NUMBER, 1)], now)
    const sessionId = avpValue(icrp!.avps, AvpType.ASSIGNED_SESSION_ID)!
    this.send(MessageType.ICCN, [avp(AvpType.TX_CONNECT_SPEED, 1000000), avp(AvpType.FRAMING_TYPE, 1)], now, { sessionId })
    return sessionId
  }

  ofType<T extends L2tpEvent['type']>(type: T): Extract<L2tpEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<L2tpEvent, { type: T }> => e.type === type)
  }
}

function sccrqAvps(assignedTunnelId: number): AvpInput[] {
  return [
    avp(AvpType.PROTOCOL_VERSION, { version: 1, revision: 0 }),
    avp(AvpType.FRAMING_CAPABILITIES, 3),
    avp(AvpType.HOST_NAME, 'manual'),
    avp(AvpType.ASSIGNED_TUNNEL_ID, assignedTunnelId),
    avp(AvpType.RECEIVE_WINDOW_SIZE, 4),
  ]
}

/** An IETF attribute type RFC 2661 does not define, with the M bit. */
const UNKNOWN_MANDATORY: AvpInput = { mandatory: true, hidden: false, vendorId: 0, attributeType: 99, value: Buffer.from([1, 2]) }

const resultOf = (m: DecodedControl | undefined) => (m ? avpValue(m.avps, AvpType.RESULT_CODE) : undefined)

// --- through a lossy link ----------------------------------------------------

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`lossy, duplicating, reordering link (seed ${seed}): every tunnel and session comes up exactly once`, (t) => {
    const reliable: Partial<L2tpConfig> = { retransmitTries: 10, maxTunnelsPerBinding: 8, maxSessionsPerTunnel: 8, maxSessionsPerBinding: 64 }
    const net = new Net(seed, 0.15, 0.15, 0.4)
    const { lns, lac, toLns } = pair(reliable, reliable, net)
    const tunnels = [0, 1, 2].map((i) => lac.ep.openTunnel(toLns, i * 0.01))
    const sessions = tunnels.flatMap((tid) => [0, 1, 2].map(() => lac.ep.openSession(tid)))
    net.run(90)
    t.true(net.lost > 5 && net.duplicated > 5, `lost ${net.lost}, duplicated ${net.duplicated}`)
    const messages = net.sent.filter((s) => s.message?.messageType !== undefined)
    const distinct = new Set(messages.map((s) => `${s.from}/${s.message!.tunnelId}/${s.message!.ns}`))
    t.true(messages.length > distinct.size, 'messages were retransmitted')
    t.true(lns.ep.stats().retransmits + lac.ep.stats().retransmits > 0, 'and counted')

    for (const node of [lns, lac]) {
      const ups = ofType(node, 'tunnel-up')
      t.is(ups.length, 3, `${node.name}: tunnel-up`)
      t.is(new Set(ups.map((u) => u.tunnelId)).size, 3)
      const sessionUps = ofType(node, 'session-up')
      t.is(sessionUps.length, 9, `${node.name}: session-up`)
      t.is(new Set(sessionUps.map((u) => `${u.tunnelId}/${u.sessionId}`)).size, 9)
      t.deepEqual(ofType(node, 'tunnel-down'), [])
      t.deepEqual(ofType(node, 'session-down'), [])
      t.is(node.ep.stats().establishedTunnels, 3)
      t.is(node.ep.stats().sessions, 9)
    }
    t.deepEqual(ofType(lac, 'tunnel-up').map((u) => u.tunnelId).sort(), [...tunnels].sort())
    t.deepEqual(ofType(lac, 'session-up').map((u) => u.sessionId).sort(), [...sessions].sort())
    // Both ends agree on who is who.
    for (const up of ofType(lns, 'session-up')) {
      const mirror = ofType(lac, 'session-up').find((u) => u.sessionId === up.peerSessionId)
      t.truthy(mirror)
      t.is(mirror!.peerSessionId, up.sessionId)
      t.is(mirror!.tunnelId, up.peerTunnelId)
      t.is(up.binding, 7)
      t.is(mirror!.binding, 1)
    }
  })
}

test('many tunnels per binding and many sessions per tunnel', (t) => {
  const limits: Partial<L2tpConfig> = { maxTunnelsPerBinding: 12, maxSessionsPerTunnel: 25, maxSessionsPerBinding: 300 }
  const { net, lns, lac, toLns } = pair(limits, limits)
  const tunnels = Array.from({ length: 12 }, () => lac.ep.openTunnel(toLns, 0))
  for (const tid of tunnels) for (let i = 0; i < 25; i++) lac.ep.openSession(tid)
  net.run(10)
  t.is(ofType(lns, 'tunnel-up').length, 12)
  const ups = ofType(lns, 'session-up')
  t.is(ups.length, 300)
  t.is(new Set(ups.map((u) => u.sessionId)).size, 300)
  t.true(ups.every((u) => u.sessionId > 0 && u.peerSessionId > 0 && u.tunnelId > 0))
  const perTunnel = new Map<number, number>()
  for (const u of ups) perTunnel.set(u.tunnelId, (perTunnel.get(u.tunnelId) ?? 0) + 1)
  t.deepEqual([...perTunnel.values()], Array(12).fill(25))
  t.is(ofType(lac, 'session-up').length, 300)
})

// --- bindings: clients behind one NAT -------------------------------------------

/** Two LACs behind one NAT (same outer address, both using L2TP port 1701 and, from the same seed, the same IDs). */
function twoClientsBehindOneNat(): { net: Net; lns: Node; a: Node; b: Node; aPeer: L2tpPeer; bPeer: L2tpPeer } {
  const net = new Net()
  const lns = net.node('lns', LNS, 100)
  const a = net.node('a', LAC, 300)
  const b = net.node('b', LAC, 300)
  const aPeer = net.wire(a, 1, lns, 11, { address: '203.0.113.7', port: 4500 })
  const bPeer = net.wire(b, 1, lns, 12, { address: '203.0.113.7', port: 4501 })
  return { net, lns, a, b, aPeer, bPeer }
}

test('two clients behind one NAT with identical L2TP ports and IDs stay apart, by binding', (t) => {
  const { net, lns, a, b, aPeer, bPeer } = twoClientsBehindOneNat()
  const ta = a.ep.openTunnel(aPeer, 0)
  const tb = b.ep.openTunnel(bPeer, 0)
  t.is(ta, tb, 'same seed, same Tunnel ID on both clients')
  a.ep.openSession(ta)
  b.ep.openSession(tb)
  net.run(5)
  const ups = ofType(lns, 'tunnel-up')
  t.is(ups.length, 2)
  t.deepEqual(ups.map((u) => u.binding).sort(), [11, 12])
  t.is(ups[0]!.peerTunnelId, ups[1]!.peerTunnelId, 'both clients assigned the same Tunnel ID')
  t.true(ups.every((u) => u.peer.l2tpPort === 1701 && u.peer.address === '203.0.113.7'))
  t.not(ups[0]!.tunnelId, ups[1]!.tunnelId)
  const sessions = ofType(lns, 'session-up')
  t.is(sessions.length, 2)
  t.deepEqual(sessions.map((s) => s.binding).sort(), [11, 12])
  t.is(ofType(a, 'session-up').length, 1)
  t.is(ofType(b, 'session-up').length, 1)
  // Each client's tunnel answers over its own binding only.
  for (const s of net.sent.filter((x) => x.from === 'lns' && x.message?.messageType === MessageType.SCCRP)) {
    const up = ups.find((u) => u.tunnelId === avpValue(s.message!.avps, AvpType.ASSIGNED_TUNNEL_ID))
    t.is(s.binding, up!.binding)
  }
})

test('a message for a tunnel ID over another binding is dropped and counted', (t) => {
  const { net, lns, a, b, aPeer, bPeer } = twoClientsBehindOneNat()
  a.ep.openTunnel(aPeer, 0)
  b.ep.openTunnel(bPeer, 0)
  net.run(5)
  const victim = ofType(lns, 'tunnel-up').find((u) => u.binding === 11)!
  const attacker: L2tpPeer = { binding: 12, address: '203.0.113.7', port: 4501, l2tpPort: 1701 }
  const before = net.sent.length
  // Client B forges a StopCCN and a HELLO into client A's tunnel, with plausible Ns/Nr.
  for (let ns = 0; ns < 4; ns++) {
    lns.ep.handle(encodeControl({ tunnelId: victim.tunnelId, sessionId: 0, ns, nr: 1, messageType: MessageType.StopCCN, avps: [avp(AvpType.ASSIGNED_TUNNEL_ID, victim.peerTunnelId), avp(AvpType.RESULT_CODE, { resultCode: 1 })] }), attacker, net.now)
  }
  lns.ep.handle(encodeControl({ tunnelId: victim.tunnelId, sessionId: 0, ns: 1, nr: 1, messageType: MessageType.HELLO }), attacker, net.now)
  net.run(1)
  t.is(lns.ep.stats().dropped.L2TP_WRONG_BINDING, 5)
  const dropped = ofType(lns, 'dropped')
  t.is(dropped.length, 1, 'reported once per peer per interval')
  t.like(dropped[0], { reason: 'L2TP_WRONG_BINDING', count: 1, peer: attacker })
  t.deepEqual(ofType(lns, 'tunnel-down'), [])
  t.is(lns.ep.stats().establishedTunnels, 2)
  t.deepEqual(net.sent.slice(before).filter((s) => s.from === 'lns'), [], 'no answer, no acknowledgement, to anyone')
})

// --- tunnel authentication and hidden AVPs ------------------------------------------

test('tunnel authentication with the right secret, and hidden AVPs', (t) => {
  const net = new Net(1, 0, 0, 0.01, 'shared secret')
  const { lns, lac, toLns } = pair({ secret: 'shared secret', hideAvps: true }, { secret: 'shared secret', hideAvps: true }, net)
  const tid = lac.ep.openTunnel(toLns, 0)
  lac.ep.openSession(tid)
  net.run(5)
  t.like(ofType(lns, 'tunnel-up')[0], { authenticated: true, peerHostName: 'lac.test' })
  t.like(ofType(lac, 'tunnel-up')[0], { authenticated: true, peerHostName: 'lns.test' })
  t.is(ofType(lns, 'session-up').length, 1)
  const sccrq = net.sent.find((s) => s.message?.messageType === MessageType.SCCRQ)!.message!
  const sccrp = net.sent.find((s) => s.message?.messageType === MessageType.SCCRP)!.message!
  const scccn = net.sent.find((s) => s.message?.messageType === MessageType.SCCCN)!.message!
  // RFC 2661 5.1.1: MD5(message type of the response ‖ secret ‖ challenge).
  const secret = Buffer.from('shared secret')
  t.deepEqual(avpValue(sccrp.avps, AvpType.CHALLENGE_RESPONSE), challengeResponse(2, secret, avpValue(sccrq.avps, AvpType.CHALLENGE)!))
  t.deepEqual(avpValue(scccn.avps, AvpType.CHALLENGE_RESPONSE), challengeResponse(3, secret, avpValue(sccrp.avps, AvpType.CHALLENGE)!))
  t.true(findAvp(sccrq.avps, AvpType.ASSIGNED_TUNNEL_ID)!.hidden)
  t.truthy(findAvp(sccrq.avps, AvpType.RANDOM_VECTOR))
  const icrp = net.sent.find((s) => s.message?.messageType === MessageType.ICRP)!.message!
  t.true(findAvp(icrp.avps, AvpType.ASSIGNED_SESSION_ID)!.hidden)
})

test('tunnel authentication with a wrong secret: StopCCN "not authorized", nothing comes up', (t) => {
  const { net, lns, lac, toLns } = pair({ secret: 'one' }, { secret: 'two' })
  lac.ep.openTunnel(toLns, 0)
  net.run(40)
  t.deepEqual(ofType(lns, 'tunnel-up'), [])
  t.deepEqual(ofType(lac, 'tunnel-up'), [])
  // The LAC checks the SCCRP's Challenge Response first.
  t.like(ofType(lac, 'tunnel-down')[0], { reason: 'L2TP_NOT_AUTHORIZED', by: 'local', established: false, result: { resultCode: StopCcnResult.NOT_AUTHORIZED } })
  t.like(ofType(lns, 'tunnel-down')[0], { reason: 'L2TP_PEER_STOPCCN', by: 'peer', established: false, result: { resultCode: StopCcnResult.NOT_AUTHORIZED } })
  t.is(lns.ep.stats().tunnels, 0)
  t.is(lac.ep.stats().tunnels, 0)
})

test('tunnel authentication: a peer without the secret cannot answer; the LNS refuses one that challenges without a secret of its own', (t) => {
  {
    const { net, lns, lac, toLns } = pair({ secret: 'only the lns' }, {})
    lac.ep.openTunnel(toLns, 0)
    net.run(40)
    t.like(ofType(lac, 'tunnel-down')[0], { reason: 'L2TP_NOT_AUTHORIZED' })
    t.deepEqual(ofType(lns, 'tunnel-up'), [])
  }
  {
    // The LNS's SCCCN check: a hand-made LAC with no Challenge Response.
    const lns = new L2tpEndpoint({ role: 'lns', secret: 'lns secret' }, { random: seededBytes(5) })
    const m = new ManualLac(lns)
    m.establish(0)
    const stop = m.received.find((x) => x.messageType === MessageType.StopCCN)
    t.like(resultOf(stop), { resultCode: StopCcnResult.NOT_AUTHORIZED })
    t.like(m.ofType('tunnel-down')[0], { reason: 'L2TP_NOT_AUTHORIZED', established: false })
  }
  {
    const { net, lns, lac, toLns } = pair({}, { secret: 'only the lac' })
    lac.ep.openTunnel(toLns, 0)
    net.run(40)
    t.like(ofType(lac, 'tunnel-down')[0], { reason: 'L2TP_PEER_STOPCCN', result: { resultCode: StopCcnResult.NOT_AUTHORIZED } })
    t.is(lns.ep.stats().dropped.L2TP_NOT_AUTHORIZED! >= 1, true)
    t.is(lns.ep.stats().tunnels, 0, 'refused without keeping state')
  }
})

// --- keepalive and failure -------------------------------------------------------

test('HELLO after the idle interval, acknowledged; the tunnel stays up', (t) => {
  const { net, lns, lac, toLns } = pair({ helloInterval: 30 }, { helloInterval: 45 })
  lac.ep.openTunnel(toLns, 0)
  net.run(1)
  const upAt = net.now
  net.run(100)
  const hellos = net.sent.filter((s) => s.message?.messageType === MessageType.HELLO)
  const fromLns = hellos.filter((h) => h.from === 'lns')
  t.true(fromLns.length >= 2)
  t.true(fromLns[0]!.at >= 30 && fromLns[0]!.at <= upAt + 30.1, `first LNS HELLO at ${fromLns[0]!.at}`)
  t.deepEqual(ofType(lns, 'tunnel-down'), [])
  t.deepEqual(ofType(lac, 'tunnel-down'), [])
})

test('retransmission cap: the tunnel is torn down with a last StopCCN and tunnel-down', (t) => {
  const { net, lns, lac, toLns } = pair({ helloInterval: 20, retransmitTries: 4 }, { helloInterval: 0 })
  const tid = lac.ep.openTunnel(toLns, 0)
  lac.ep.openSession(tid)
  net.run(2)
  t.is(ofType(lns, 'session-up').length, 1)
  net.cut = true
  net.run(60)
  const down = ofType(lns, 'tunnel-down')
  t.is(down.length, 1)
  t.like(down[0], { reason: 'L2TP_PEER_UNRESPONSIVE', established: true, by: 'local' })
  t.like(ofType(lns, 'session-down')[0], { reason: 'L2TP_TUNNEL_DOWN', established: true })
  const fromLns = net.sent.filter((s) => s.from === 'lns' && s.at > 2)
  t.is(fromLns.filter((s) => s.message?.messageType === MessageType.HELLO).length, 4, 'HELLO sent retransmitTries times')
  const last = fromLns[fromLns.length - 1]!.message!
  t.is(last.messageType, MessageType.StopCCN)
  t.like(resultOf(last), { resultCode: StopCcnResult.GENERAL_ERROR })
  t.is(lns.ep.stats().tunnels, 0)
  t.is(lns.ep.stats().sessions, 0)
  t.is(lns.ep.nextTimeout(), undefined)
})

// --- StopCCN and CDN both ways -----------------------------------------------------

test('StopCCN from the LNS: both sides tear down the tunnel and its sessions', (t) => {
  const { net, lns, lac, toLns } = pair()
  const tid = lac.ep.openTunnel(toLns, 0)
  lac.ep.openSession(tid)
  lac.ep.openSession(tid)
  net.run(2)
  const lnsTunnel = ofType(lns, 'tunnel-up')[0]!.tunnelId
  lns.ep.closeTunnel(lnsTunnel, { resultCode: StopCcnResult.SHUTTING_DOWN, errorCode: 0, errorMessage: 'maintenance' }, net.now)
  net.run(1)
  t.like(ofType(lns, 'tunnel-down')[0], { reason: 'L2TP_LOCAL_CLOSE', by: 'local', established: true })
  t.like(ofType(lac, 'tunnel-down')[0], { reason: 'L2TP_PEER_STOPCCN', by: 'peer', established: true, result: { resultCode: 6, errorCode: 0, errorMessage: 'maintenance' } })
  t.is(ofType(lns, 'session-down').length, 2)
  t.is(ofType(lac, 'session-down').length, 2)
  t.true(ofType(lac, 'session-down').every((d) => d.reason === 'L2TP_TUNNEL_DOWN'))
  t.is(lns.ep.stats().tunnels, 0, 'the closer forgets the tunnel once its StopCCN is acknowledged')
  t.is(lac.ep.stats().tunnels, 1, 'the receiver lingers to re-acknowledge')
  net.run(40)
  t.is(lac.ep.stats().tunnels, 0)
  t.is(ofType(lac, 'tunnel-down').length, 1)
})

test('StopCCN from the LAC, through a lossy link', (t) => {
  const { net, lns, lac, toLns } = pair({}, {}, new Net(3, 0.3, 0.2, 0.3))
  const tid = lac.ep.openTunnel(toLns, 0)
  lac.ep.openSession(tid)
  net.run(20)
  t.is(ofType(lns, 'session-up').length, 1)
  lac.ep.closeTunnel(tid)
  net.run(60)
  t.like(ofType(lns, 'tunnel-down')[0], { reason: 'L2TP_PEER_STOPCCN', result: { resultCode: StopCcnResult.GENERAL_REQUEST } })
  t.is(ofType(lns, 'tunnel-down').length, 1)
  t.like(ofType(lns, 'session-down')[0], { reason: 'L2TP_TUNNEL_DOWN' })
  t.is(lns.ep.stats().tunnels, 0)
  t.is(lac.ep.stats().tunnels, 0)
  t.throws(() => lac.ep.closeTunnel(tid), { instanceOf: L2tpStateError, message: /no tunnel/ })
})

test('CDN both ways: the session ends, the tunnel stays', (t) => {
  const { net, lns, lac, toLns } = pair()
  const tid = lac.ep.openTunnel(toLns, 0)
  const s1 = lac.ep.openSession(tid)
  lac.ep.openSession(tid)
  net.run(2)
  lac.ep.closeSession(s1, { resultCode: CdnResult.LOST_CARRIER }, net.now)
  net.run(1)
  t.like(ofType(lns, 'session-down')[0], { reason: 'L2TP_PEER_CDN', by: 'peer', established: true, peerSessionId: s1, result: { resultCode: CdnResult.LOST_CARRIER } })
  t.like(ofType(lac, 'session-down')[0], { reason: 'L2TP_LOCAL_CLOSE', sessionId: s1 })
  const other = ofType(lns, 'session-up').find((u) => u.peerSessionId !== s1)!
  lns.ep.closeSession(other.sessionId, undefined, net.now)
  net.run(1)
  t.like(ofType(lac, 'session-down')[1], { reason: 'L2TP_PEER_CDN', result: { resultCode: CdnResult.ADMINISTRATIVE } })
  t.is(lns.ep.stats().sessions, 0)
  t.is(lac.ep.stats().sessions, 0)
  t.is(lns.ep.stats().establishedTunnels, 1)
  t.deepEqual(ofType(lac, 'tunnel-down'), [])
  t.throws(() => lns.ep.closeSession(other.sessionId), { instanceOf: L2tpStateError })
})

// --- limits ----------------------------------------------------------------------

test('limits: tunnels per binding refused with StopCCN, sessions per tunnel and per binding with CDN', (t) => {
  const { net, lns, lac, toLns } = pair({ maxTunnelsPerBinding: 2, maxSessionsPerTunnel: 2, maxSessionsPerBinding: 3 }, { maxTunnelsPerBinding: 5, maxSessionsPerTunnel: 5, maxSessionsPerBinding: 20 })
  const opened = [0, 1, 2].map(() => lac.ep.openTunnel(toLns, 0))
  net.run(2)
  t.is(ofType(lns, 'tunnel-up').length, 2)
  const [t1, t2] = ofType(lac, 'tunnel-up').map((u) => u.tunnelId)
  const refused = ofType(lac, 'tunnel-down')
  t.is(refused.length, 1)
  t.true(opened.includes(refused[0]!.tunnelId) && ![t1, t2].includes(refused[0]!.tunnelId))
  t.like(refused[0], { reason: 'L2TP_PEER_STOPCCN', result: { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.INSUFFICIENT_RESOURCES } })
  t.is(lns.ep.stats().dropped.L2TP_TUNNEL_LIMIT, 1)
  for (let i = 0; i < 3; i++) lac.ep.openSession(t1!)
  net.run(2)
  let cdns = ofType(lac, 'session-down')
  t.is(cdns.length, 1, 'third session in one tunnel refused')
  t.like(cdns[0], { reason: 'L2TP_PEER_CDN', result: { resultCode: CdnResult.NO_FACILITIES_TEMPORARY, errorCode: GeneralError.INSUFFICIENT_RESOURCES, errorMessage: 'session limit per tunnel reached' } })
  for (let i = 0; i < 2; i++) lac.ep.openSession(t2!)
  net.run(2)
  cdns = ofType(lac, 'session-down')
  t.is(cdns.length, 2, 'fourth session on the binding refused')
  t.like(cdns[1], { result: { resultCode: CdnResult.NO_FACILITIES_TEMPORARY, errorMessage: 'session limit per binding reached' } })
  // Each refusal counted under its own limit (the metrics read these).
  t.like(lns.ep.stats().dropped, { L2TP_TUNNEL_LIMIT: 1, L2TP_SESSION_LIMIT: 1, L2TP_PEER_SESSION_LIMIT: 1 })
  t.is(ofType(lns, 'session-up').length, 3)
  t.is(lns.ep.stats().sessions, 3)
  // Local limits throw.
  const local = pair({}, { maxTunnelsPerBinding: 1, maxSessionsPerTunnel: 1 })
  const only = local.lac.ep.openTunnel(local.toLns, 0)
  t.throws(() => local.lac.ep.openTunnel(local.toLns, 0), { instanceOf: L2tpStateError, message: /tunnels/ })
  local.lac.ep.openSession(only)
  const error = t.throws(() => local.lac.ep.openSession(only), { instanceOf: L2tpStateError })
  t.is(error?.code, 'L2TP_SESSION_LIMIT')
  t.is(t.throws(() => lns.ep.openSession(1), { instanceOf: L2tpStateError })?.code, 'L2TP_WRONG_ROLE')
})

// --- unknown M-bit AVPs, WEN, SLI, OCRQ, quirks ------------------------------------------

test('unknown mandatory AVP: in SCCRQ, StopCCN without state; in ICRQ, CDN; in HELLO, StopCCN', (t) => {
  const lns = new L2tpEndpoint(LNS, { random: seededBytes(7) })
  const m = new ManualLac(lns)
  const [stop] = m.send(MessageType.SCCRQ, [...sccrqAvps(4242), UNKNOWN_MANDATORY], 0, { tunnelId: 0 })
  t.is(stop?.messageType, MessageType.StopCCN)
  t.is(stop?.tunnelId, 4242)
  t.deepEqual(resultOf(stop), { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.UNKNOWN_MANDATORY_AVP, errorMessage: 'unknown mandatory AVP attribute 99' })
  t.is(lns.stats().tunnels, 0)

  const m2 = new ManualLac(lns, { binding: 10, address: '198.51.100.10', port: 4500, l2tpPort: 1701 })
  m2.establish(1)
  const [cdn] = m2.send(MessageType.ICRQ, [avp(AvpType.ASSIGNED_SESSION_ID, 55), avp(AvpType.CALL_SERIAL_NUMBER, 1), UNKNOWN_MANDATORY], 1)
  t.is(cdn?.messageType, MessageType.CDN)
  t.is(cdn?.sessionId, 55)
  t.like(resultOf(cdn), { resultCode: CdnResult.GENERAL_ERROR, errorCode: GeneralError.UNKNOWN_MANDATORY_AVP })
  t.like(m2.ofType('session-down')[0], { reason: 'L2TP_UNKNOWN_MANDATORY_AVP', peerSessionId: 55 })
  t.is(m2.ofType('tunnel-down').length, 0)
  // An established session, then an ICCN-like mandatory failure on it clears only it.
  const sid = m2.call(56, 1)
  t.is(m2.ofType('session-up').length, 1)
  const [cdn2] = m2.send(MessageType.SLI, [avp(AvpType.ACCM, { sendAccm: 0, receiveAccm: 0 }), UNKNOWN_MANDATORY], 1, { sessionId: sid })
  t.is(cdn2?.messageType, MessageType.CDN)
  t.like(m2.ofType('session-down')[1], { reason: 'L2TP_UNKNOWN_MANDATORY_AVP', sessionId: sid, established: true })
  const [stop2] = m2.send(MessageType.HELLO, [UNKNOWN_MANDATORY], 1)
  t.is(stop2?.messageType, MessageType.StopCCN)
  t.like(resultOf(stop2), { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.UNKNOWN_MANDATORY_AVP })
  t.like(m2.ofType('tunnel-down')[0], { reason: 'L2TP_UNKNOWN_MANDATORY_AVP', established: true })
  // An unknown message type without the M bit is acknowledged and ignored.
  const m3 = new ManualLac(lns, { binding: 11, address: '198.51.100.11', port: 4500, l2tpPort: 1701 })
  m3.establish(2)
  const datagram = encodeControl({ tunnelId: m3.tunnelId, sessionId: 0, ns: m3.ns++, nr: m3.nr, avps: [{ mandatory: false, hidden: false, vendorId: 0, attributeType: 0, value: 42 }] })
  t.deepEqual(m3.deliver(datagram, 2), [])
  const [zlb] = m3.wait(3)
  t.is(zlb?.messageType, undefined)
  t.is(zlb?.nr, 3)
  t.is(m3.ofType('tunnel-down').length, 0)
})

test('WEN and SLI are acknowledged and reported; OCRQ is refused with CDN result 5', (t) => {
  const lns = new L2tpEndpoint(LNS, { random: seededBytes(8) })
  const m = new ManualLac(lns)
  m.establish(0)
  const sid = m.call(77, 0)
  t.like(m.wait(0.5)[0], { messageType: undefined, nr: 4 })
  const callErrors = { crcErrors: 1, framingErrors: 2, hardwareOverruns: 3, bufferOverruns: 4, timeoutErrors: 5, alignmentErrors: 6 }
  t.deepEqual(m.send(MessageType.WEN, [avp(AvpType.CALL_ERRORS, callErrors)], 1, { sessionId: sid }), [])
  t.deepEqual(m.send(MessageType.SLI, [avp(AvpType.ACCM, { sendAccm: 0xffffffff, receiveAccm: 0 })], 1, { sessionId: sid }), [])
  const [ack] = m.wait(2)
  t.is(ack?.messageType, undefined)
  t.is(ack?.nr, m.ns)
  t.like(m.ofType('wan-error')[0], { sessionId: sid, peerSessionId: 77, callErrors })
  t.like(m.ofType('set-link-info')[0], { sessionId: sid, accm: { sendAccm: 0xffffffff, receiveAccm: 0 } })
  const [cdn] = m.send(MessageType.OCRQ, [avp(AvpType.ASSIGNED_SESSION_ID, 88), avp(AvpType.CALL_SERIAL_NUMBER, 2), avp(AvpType.MINIMUM_BPS, 0), avp(AvpType.MAXIMUM_BPS, 1e6), avp(AvpType.BEARER_TYPE, 1), avp(AvpType.FRAMING_TYPE, 1), avp(AvpType.CALLED_NUMBER, '555')], 2)
  t.is(cdn?.messageType, MessageType.CDN)
  t.is(cdn?.sessionId, 88)
  t.deepEqual(resultOf(cdn), { resultCode: CdnResult.NO_FACILITIES_PERMANENT, errorCode: 0, errorMessage: 'outgoing calls not supported' })
  t.is(avpValue(cdn!.avps, AvpType.ASSIGNED_SESSION_ID), 0)
  t.like(m.ofType('session-down')[0], { reason: 'L2TP_OUTGOING_CALL_REFUSED', peerSessionId: 88, established: false })
  t.is(lns.stats().sessions, 1)
})

test('Tunnel ID 0 after SCCRQ (D-Link LACs): dropped unless acceptZeroTunnelId', (t) => {
  for (const acceptZeroTunnelId of [false, true]) {
    const lns = new L2tpEndpoint({ ...LNS, acceptZeroTunnelId }, { random: seededBytes(9) })
    const m = new ManualLac(lns)
    m.send(MessageType.SCCRQ, sccrqAvps(4242), 0, { tunnelId: 0 })
    m.send(MessageType.SCCCN, [], 0, { tunnelId: 0 })
    t.is(m.ofType('tunnel-up').length, acceptZeroTunnelId ? 1 : 0)
    if (!acceptZeroTunnelId) t.is(lns.stats().dropped.L2TP_UNKNOWN_TUNNEL, 1)
  }
})

test('rebind moves tunnels to a rekeyed SA pair; removeBinding ends them silently', (t) => {
  const lns = new L2tpEndpoint(LNS, { random: seededBytes(13) })
  const m = new ManualLac(lns)
  m.establish(0)
  m.call(31, 0)
  m.wait(1)
  lns.rebind(9, 19)
  t.deepEqual(m.send(MessageType.HELLO, [], 2), [])
  t.is(lns.stats().dropped.L2TP_WRONG_BINDING, 1, 'the old binding no longer reaches the tunnel')
  const rekeyed = new ManualLac(lns, { ...m.peer, binding: 19 })
  Object.assign(rekeyed, { ns: m.ns - 1, nr: m.nr, tunnelId: m.tunnelId })
  rekeyed.send(MessageType.HELLO, [], 3)
  const [ack] = rekeyed.wait(4)
  t.like(ack, { messageType: undefined, nr: m.ns })
  t.like(lns.tunnels()[0], { binding: 19, sessions: [{ peerSessionId: 31, state: 'Established' }] })
  lns.removeBinding(19)
  rekeyed.collect()
  t.like(rekeyed.ofType('session-down')[0], { reason: 'L2TP_TUNNEL_DOWN', binding: 19 })
  t.like(rekeyed.ofType('tunnel-down')[0], { reason: 'L2TP_BINDING_GONE', binding: 19, established: true })
  t.is(lns.pollTransmit(), undefined, 'nothing can be sent without the SA')
  t.deepEqual(lns.stats(), { tunnels: 0, establishedTunnels: 0, sessions: 0, dropped: { L2TP_WRONG_BINDING: 1 }, retransmits: 0 })
})

test('setup timeout: an SCCRQ never followed by SCCCN is cleared with StopCCN', (t) => {
  const lns = new L2tpEndpoint({ ...LNS, setupTimeout: 20 }, { random: seededBytes(10) })
  const m = new ManualLac(lns)
  m.send(MessageType.SCCRQ, sccrqAvps(4242), 0, { tunnelId: 0 })
  m.send(MessageType.ICRQ, [avp(AvpType.ASSIGNED_SESSION_ID, 5)], 0.5, { tunnelId: avpValue(m.received[0]!.avps, AvpType.ASSIGNED_TUNNEL_ID)! })
  t.like(m.received[1], { messageType: MessageType.StopCCN })
  t.like(resultOf(m.received[1]), { resultCode: StopCcnResult.FSM_ERROR })
  t.like(m.ofType('tunnel-down')[0], { reason: 'L2TP_FSM_ERROR' })
  const m2 = new ManualLac(lns, { binding: 3, address: '198.51.100.3', port: 4500, l2tpPort: 1701 })
  m2.send(MessageType.SCCRQ, sccrqAvps(4243), 1, { tunnelId: 0 })
  for (let now = 1.25; now <= 21.5; now += 0.25) m2.wait(now)
  t.is(m2.received.filter((x) => x.messageType === MessageType.SCCRP).length, 5, 'SCCRP retransmitted meanwhile')
  t.like(m2.received.at(-1), { messageType: MessageType.StopCCN })
  t.like(m2.ofType('tunnel-down')[0], { reason: 'L2TP_SETUP_TIMEOUT', established: false })
})

test('protocol version other than 1.0 is refused with result 5 and the highest version we speak', (t) => {
  const lns = new L2tpEndpoint(LNS, { random: seededBytes(11) })
  const m = new ManualLac(lns)
  const avps = sccrqAvps(4242)
  avps[0] = avp(AvpType.PROTOCOL_VERSION, { version: 3, revision: 0 })
  const [stop] = m.send(MessageType.SCCRQ, avps, 0, { tunnelId: 0 })
  t.like(resultOf(stop), { resultCode: StopCcnResult.BAD_PROTOCOL_VERSION, errorCode: 0x0100 })
})

// --- sequencing and proxy LCP ----------------------------------------------------

test('data sequencing: off refuses a LAC that requires it; allow and require sequence', (t) => {
  const cases: [L2tpConfig['sequencing'], L2tpConfig['sequencing'], boolean | 'refused', boolean][] = [
    ['off', 'require', 'refused', false],
    ['allow', 'require', true, true],
    ['require', 'allow', true, false],
    ['allow', 'allow', false, false],
  ]
  for (const [lnsPolicy, lacPolicy, lnsSeq, lacSeq] of cases) {
    const { net, lns, lac, toLns } = pair({ sequencing: lnsPolicy }, { sequencing: lacPolicy })
    lac.ep.openSession(lac.ep.openTunnel(toLns, 0))
    net.run(2)
    if (lnsSeq === 'refused') {
      t.like(ofType(lns, 'session-down')[0], { reason: 'L2TP_SEQUENCING_REFUSED' })
      t.like(ofType(lac, 'session-down')[0], { reason: 'L2TP_PEER_CDN' })
      continue
    }
    t.is(ofType(lns, 'session-up')[0]?.sequencing, lnsSeq, `lns ${lnsPolicy} / lac ${lacPolicy}`)
    t.is(ofType(lac, 'session-up')[0]?.sequencing, lacSeq)
  }
})

test('session-up carries the proxy LCP AVPs, framing type and ids', (t) => {
  const { net, lns, lac, toLns } = pair()
  const proxyLcp = { initialReceivedConfReq: Buffer.from('0104057806', 'hex'), lastSentConfReq: Buffer.from('010405dc', 'hex'), lastReceivedConfReq: Buffer.from('0104057806', 'hex') }
  const tid = lac.ep.openTunnel(toLns, 0)
  const sid = lac.ep.openSession(tid, { proxyLcp, proxyAuthen: { type: 2, name: 'alice' }, framingType: 2, callingNumber: '42' })
  net.run(2)
  const up: SessionUpEvent = ofType(lns, 'session-up')[0]!
  t.deepEqual(up.proxyLcp, proxyLcp)
  t.like(up, { proxyAuthen: { type: 2, name: 'alice' }, framingType: 2, callingNumber: '42', peerSessionId: sid, binding: 7, role: 'lns', sequencing: false, callSerialNumber: 1 })
  const tunnelUp: TunnelUpEvent = ofType(lns, 'tunnel-up')[0]!
  t.is(up.tunnelId, tunnelUp.tunnelId)
  t.is(up.peerTunnelId, tid)
})

// --- tie breaker ------------------------------------------------------------------

test('tie breaker: simultaneous SCCRQs leave one tunnel; equal values leave none', (t) => {
  t.is(tieBreak(Buffer.alloc(8, 1), Buffer.alloc(8, 2)), 'ours')
  t.is(tieBreak(Buffer.alloc(8, 2), Buffer.alloc(8, 1)), 'theirs')
  t.is(tieBreak(Buffer.alloc(8, 2), Buffer.alloc(8, 2)), 'both-lose')
  t.is(tieBreak(undefined, Buffer.alloc(8, 2)), 'theirs')
  t.is(tieBreak(Buffer.alloc(8, 2), undefined), 'ours')
  t.is(tieBreak(undefined, undefined), 'none')
  const run = (a: Buffer | false, b: Buffer | false): { x: Node; y: Node } => {
    const net = new Net(4, 0, 0, 0.05)
    const x = net.node('x', { role: 'lns', tieBreaker: a }, 1)
    const y = net.node('y', { role: 'lac', acceptTunnels: true, tieBreaker: b }, 2)
    const toY = net.wire(x, 1, y, 1)
    const toX: L2tpPeer = { binding: 1, address: '198.51.100.1', port: 4500, l2tpPort: 1701 }
    x.ep.openTunnel(toY, 0)
    y.ep.openTunnel(toX, 0)
    net.run(70)
    return { x, y }
  }
  {
    const { x, y } = run(Buffer.alloc(8, 1), Buffer.alloc(8, 2))
    t.is(ofType(x, 'tunnel-up').length, 1)
    t.is(ofType(y, 'tunnel-up').length, 1)
    t.true(ofType(x, 'tunnel-up')[0]!.initiator, 'the lower Tie Breaker wins')
    t.like(ofType(y, 'tunnel-down')[0], { reason: 'L2TP_TIE_BREAKER_LOST', established: false })
    t.deepEqual(ofType(x, 'tunnel-down'), [])
  }
  {
    const { x, y } = run(false, Buffer.alloc(8, 9))
    t.false(ofType(x, 'tunnel-up')[0]!.initiator, 'a request with a Tie Breaker beats one without')
    t.is(ofType(y, 'tunnel-up').length, 1)
  }
  {
    const { x, y } = run(Buffer.alloc(8, 3), Buffer.alloc(8, 3))
    t.is(ofType(x, 'tunnel-up').length + ofType(y, 'tunnel-up').length, 0, 'equal values: both discard')
  }
  {
    const { x, y } = run(false, false)
    t.is(ofType(x, 'tunnel-up').length, 2, 'no Tie Breaker: two tunnels')
    t.is(ofType(y, 'tunnel-up').length, 2)
  }
})

// --- real clients -----------------------------------------------------------------------

interface RealMessage { session: string; frame: number; direction: string; hex: string }

test('the real xl2tpd client messages (SCCRQ twice, SCCCN, ICRQ, ICCN) bring up a tunnel and a session on our LNS', (t) => {
  const real = JSON.parse(readFileSync(new URL('./vectors/l2tp/real-control.json', import.meta.url), 'utf8')) as { messages: RealMessage[] }
  const sessions = [...new Set(real.messages.map((m) => m.session))]
  t.is(sessions.length, 5)
  const lns = new L2tpEndpoint(LNS, { random: seededBytes(12) })
  sessions.forEach((name, i) => {
    const peer: L2tpPeer = { binding: i + 1, address: '10.0.2.2', port: 4500, l2tpPort: 1701 }
    const fromClient = real.messages.filter((m) => m.session === name && m.direction === 'client->server').map((m) => Buffer.from(m.hex, 'hex'))
    t.deepEqual(fromClient.map((d) => decodeControl(d).messageType), [1, 1, 3, 10, 12])
    const sent: DecodedControl[] = []
    const drain = (): void => {
      for (let tx = lns.pollTransmit(); tx; tx = lns.pollTransmit()) {
        // Earlier clients' tunnels keep living (HELLO); look at this client's binding.
        if (tx.binding !== peer.binding) continue
        t.is(tx.l2tpPort, 1701)
        sent.push(decodeControl(tx.datagram))
      }
    }
    let now = i * 100
    let tunnelId = 0
    let sessionId = 0
    for (const original of fromClient) {
      const d = Buffer.from(original)
      // The recordings address xl2tpd's own IDs: rewrite the header for ours.
      if (d.readUInt16BE(4) !== 0) d.writeUInt16BE(tunnelId, 4)
      if (d.readUInt16BE(6) !== 0) d.writeUInt16BE(sessionId, 6)
      lns.handle(d, peer, now)
      drain()
      now += 0.25
      lns.handleTimeout(now)
      drain()
      const sccrp = sent.find((m) => m.messageType === MessageType.SCCRP)
      if (sccrp) tunnelId = avpValue(sccrp.avps, AvpType.ASSIGNED_TUNNEL_ID)!
      const icrp = sent.find((m) => m.messageType === MessageType.ICRP)
      if (icrp) sessionId = avpValue(icrp.avps, AvpType.ASSIGNED_SESSION_ID)!
    }
    const types = sent.map((m) => m.messageType)
    t.deepEqual(types.filter((x) => x !== undefined), [MessageType.SCCRP, MessageType.ICRP], `${name}: one SCCRP, one ICRP`)
    const sccrp = sent.find((m) => m.messageType === MessageType.SCCRP)!
    const sccrq = decodeControl(fromClient[0]!)
    t.like(sccrp, { tunnelId: avpValue(sccrq.avps, AvpType.ASSIGNED_TUNNEL_ID), ns: 0, nr: 1 })
    t.deepEqual(avpValue(sccrp.avps, AvpType.PROTOCOL_VERSION), { version: 1, revision: 0 })
    t.is(avpValue(sccrp.avps, AvpType.HOST_NAME), 'lns.test')
    t.is(avpValue(sccrp.avps, AvpType.RECEIVE_WINDOW_SIZE), 8)
    t.truthy(avpValue(sccrp.avps, AvpType.FRAMING_CAPABILITIES))
    const last = sent.at(-1)!
    t.is(last.messageType, undefined, 'the ICCN is acknowledged with a ZLB')
    t.is(last.nr, 4)
  })
  const events: L2tpEvent[] = []
  for (let e = lns.pollEvent(); e; e = lns.pollEvent()) events.push(e)
  const tunnelUps = events.filter((e): e is TunnelUpEvent => e.type === 'tunnel-up')
  const sessionUps = events.filter((e): e is SessionUpEvent => e.type === 'session-up')
  t.is(tunnelUps.length, 5, 'the duplicate SCCRQs made no second tunnel')
  t.is(sessionUps.length, 5)
  t.false(events.some((e) => e.type === 'tunnel-down' || e.type === 'session-down' || e.type === 'dropped'))
  t.like(tunnelUps[0], { peerTunnelId: 6570, peerHostName: 'clientvm', peerVendorName: 'xelerance.com', peerReceiveWindow: 4, binding: 1, authenticated: false })
  t.like(sessionUps[0], { peerTunnelId: 6570, peerSessionId: 64464, framingType: 1, sequencing: false, callSerialNumber: 1, binding: 1 })
  t.is(sessionUps[0]!.proxyLcp, undefined)
  t.is(lns.stats().establishedTunnels, 5)
  t.is(lns.stats().sessions, 5)
})

// --- ids --------------------------------------------------------------------------

test('IdAllocator: random, never 0, no collisions even when the randomness is poor, bounded', (t) => {
  const fill = (random: (n: number) => Buffer, count: number): Set<number> => {
    const allocator = new IdAllocator(random)
    const seen = new Set<number>()
    for (let i = 0; i < count; i++) seen.add(allocator.allocate()!)
    t.is(allocator.size, count)
    if (count === 0xffff) t.is(allocator.allocate(), undefined)
    return seen
  }
  const full = fill(seededBytes(1), 0xffff)
  t.is(full.size, 0xffff)
  t.false(full.has(0))
  t.false(full.has(undefined as unknown as number))
  const stuck = fill(() => Buffer.alloc(2), 2000)
  t.is(stuck.size, 2000)
  t.false(stuck.has(0))
  const allocator = new IdAllocator(seededBytes(2))
  const first = allocator.allocate()!
  allocator.release(first)
  t.false(allocator.has(first))
  const bounded = new IdAllocator(seededBytes(1), 3)
  const ids = [bounded.allocate(), bounded.allocate(), bounded.allocate()]
  t.is(new Set(ids).size, 3)
  t.is(bounded.allocate(), undefined)
})

test('IdAllocator over an owner\'s table: never hands out a key the table holds, counts it, frees an ID once the owner forgets it', (t) => {
  const table = new Map<number, string>()
  // Poor randomness: every draw is 1, so the allocator must step past the IDs the table holds.
  const allocator = new IdAllocator(() => Buffer.from([0, 1]), 3, table)
  const a = allocator.allocate()!
  table.set(a, 'a')
  const b = allocator.allocate()!
  table.set(b, 'b')
  t.not(a, b)
  t.false([a, b].includes(0))
  t.is(allocator.size, 2)
  t.true(allocator.has(a))
  const c = allocator.allocate()!
  table.set(c, 'c')
  t.is(new Set([a, b, c]).size, 3)
  t.is(allocator.allocate(), undefined)
  table.delete(b)
  allocator.release(b)
  t.false(allocator.has(b))
  t.is(allocator.allocate(), b)
})

test('config is checked', (t) => {
  t.is(t.throws(() => new L2tpEndpoint({ role: 'lns', hideAvps: true }), { instanceOf: L2tpStateError })?.code, 'L2TP_BAD_CONFIG')
  t.throws(() => new L2tpEndpoint({ role: 'lns', sequencing: 'sometimes' as never }), { instanceOf: L2tpStateError })
  t.throws(() => new L2tpEndpoint({ role: 'lns', receiveWindow: 0 }), { instanceOf: L2tpStateError })
  t.throws(() => new L2tpEndpoint({ role: 'bridge' as never }), { instanceOf: L2tpStateError })
})
