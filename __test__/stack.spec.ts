// The whole control-plane stack end to end, in memory and sans-IO: a client
// (IKE initiator + L2TP LAC + PPP client) and a server (IKE responder +
// L2TP LNS + PPP server with local users and an IPv4 pool). IKE Main Mode
// (PSK) and Quick Mode run through a simulated NAT; both sides then install
// the negotiated ESP SA pairs in the real data-plane ESP code (EspSa), and
// every L2TP control message and every PPP frame (an L2TP data message)
// travels as a UDP/1701 payload sealed and opened with those SAs. One
// simple event loop drives every core on a fake clock.
import { seededBytes } from './helpers/seeded.js'
import { pppAuthAlgorithms } from '../lib/ppp/auth-algorithms.js'
import test, { type ExecutionContext } from 'ava'
import { EspSa, packBatch, unpackBatch } from '../lib/index.js'
import { LocalUsersAuthenticator, type AuthAlgorithms, type Authenticator } from '../lib/auth/index.js'
import { IkeEndpoint } from '../lib/ike/endpoint.js'
import { PRESETS } from '../lib/ike/policy.js'
import type { Endpoint, IkeEvent, Path } from '../lib/ike/types.js'
import { L2tpEndpoint } from '../lib/l2tp/endpoint.js'
import type { L2tpEvent, L2tpPeer, SessionUpEvent } from '../lib/l2tp/endpoint.js'
import { PppLink, type PppLinkEvent, type PppLinkUpEvent, type RandomSource } from '../lib/ppp/link.js'
import { Ipv4Pool } from '../lib/pool/ip-pool.js'

// --- fixtures ---------------------------------------------------------------

const PSK = Buffer.from('stack-test-psk-4d8e2a')
const SERVER: Endpoint = { address: '10.0.2.2', port: 500 }
const CLIENT_LOCAL: Endpoint = { address: '10.0.2.15', port: 500 }
/** What the server sees of the client through NAT: this address, port 40000 + the client's port. */
const NAT_PUBLIC = '203.0.113.9'
const NAT_OFFSET = 40000
const L2TP_PORT = 1701
const UDP = 17
const POOL_RANGE = '192.168.42.10-192.168.42.20'
const GATEWAY = '192.168.42.1'
const MAX_STEPS = 2000

const algorithms: AuthAlgorithms = pppAuthAlgorithms

const seeded = (seed: number): RandomSource => seededBytes(seed)

// --- the stack ----------------------------------------------------------------

type SideName = 'client' | 'server'
type ChildUp = Extract<IkeEvent, { type: 'child-sa-up' }>

/** One ESP SA pair, as installed from a child-sa-up event. */
interface Binding {
  binding: number
  ikeSa: string
  inbound: EspSa
  outbound: EspSa
  /** Where L2TP control messages of this binding come from (outer address and the peer's L2TP port). */
  peer: L2tpPeer
}

/** A PPP link over one L2TP session. */
interface Call {
  session: SessionUpEvent
  link: PppLink
  /** The LNS cleared the call with CDN after PPP ended. */
  cleared: boolean
}

interface Counters {
  /** ESP packets sealed / opened with the negotiated SAs. */
  sealed: number
  opened: number
  openFailures: number
  /** What went into ESP: L2TP control messages and PPP frames (L2TP data messages). */
  l2tpSent: number
  pppSent: number
  /** What came out of ESP and was fed to L2TP handle / PppLink.receive. */
  l2tpReceived: number
  pppReceived: number
  /** Opened, but not UDP to 1701, or a data message for no session. */
  notL2tp: number
  dataWithoutSession: number
}

interface Side {
  name: SideName
  ike: IkeEndpoint
  l2tp: L2tpEndpoint
  ikeNext: number | undefined
  nextBinding: number
  /** IKE SA id -> binding number handed to L2TP. */
  bindingOf: Map<string, number>
  bindings: Map<number, Binding>
  byInboundSpi: Map<number, Binding>
  /** Our L2TP Session ID -> call. */
  calls: Map<number, Call>
  ikeEvents: IkeEvent[]
  l2tpEvents: L2tpEvent[]
  pppEvents: PppLinkEvent[]
  counters: Counters
}

interface StackOptions {
  password: string
}

function newSide(name: SideName, nextBinding: number): Side {
  return {
    name,
    ike: new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK }),
    l2tp: new L2tpEndpoint(name === 'client' ? { role: 'lac', hostName: 'client.test' } : { role: 'lns', hostName: 'server.test' }, { random: seeded(name === 'client' ? 11 : 22) }),
    ikeNext: undefined,
    nextBinding,
    bindingOf: new Map(),
    bindings: new Map(),
    byInboundSpi: new Map(),
    calls: new Map(),
    ikeEvents: [],
    l2tpEvents: [],
    pppEvents: [],
    counters: { sealed: 0, opened: 0, openFailures: 0, l2tpSent: 0, pppSent: 0, l2tpReceived: 0, pppReceived: 0, notL2tp: 0, dataWithoutSession: 0 },
  }
}

/** An IPv4 UDP header (checksum 0: not computed, as allowed for IPv4) before `payload`. */
function udp(sourcePort: number, destinationPort: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8)
  header.writeUInt16BE(sourcePort, 0)
  header.writeUInt16BE(destinationPort, 2)
  header.writeUInt16BE(8 + payload.length, 4)
  header.writeUInt16BE(0, 6)
  return Buffer.concat([header, payload])
}

/** An L2TP data message with no optional field (RFC 2661 3.1): flags 0x0002 (T=0, L=0, S=0, O=0, Ver=2), Tunnel ID, Session ID. */
function l2tpData(tunnelId: number, sessionId: number, frame: Buffer): Buffer {
  const header = Buffer.alloc(6)
  header.writeUInt16BE(0x0002, 0)
  header.writeUInt16BE(tunnelId, 2)
  header.writeUInt16BE(sessionId, 4)
  return Buffer.concat([header, frame])
}

class Stack {
  now = 0
  readonly client = newSide('client', 1)
  readonly server = newSide('server', 100)
  readonly pool = new Ipv4Pool({ ranges: POOL_RANGE, gateway: GATEWAY })
  readonly authenticator: Authenticator = new LocalUsersAuthenticator({ users: [{ user: 'alice', password: 'alice-pass-1' }], algorithms })
  /**
   * Datagrams in flight, IKE and ESP on one ordered wire: the client's Quick
   * Mode message 3 (after which the server installs its SAs) must reach the
   * server before the first ESP packet the client sends right after it.
   */
  private wire: ({ to: Side; ike: Buffer; path: Path } | { to: Side; esp: Buffer })[] = []
  steps = 0

  constructor(private readonly options: StackOptions) {}

  other(side: Side): Side {
    return side === this.client ? this.server : this.client
  }

  connect(): void {
    this.client.ike.connect({ peer: SERVER, local: CLIENT_LOCAL }, this.now)
  }

  // --- ESP in both directions -------------------------------------------------

  /** Seals one UDP datagram to the peer's L2TP port with the binding's outbound SA and puts it on the wire. */
  private seal(from: Side, binding: number, l2tpPort: number, payload: Buffer): void {
    const sa = from.bindings.get(binding)
    if (!sa) throw new Error(`${from.name}: no ESP SA for binding ${binding}`)
    const batch = packBatch([udp(L2TP_PORT, l2tpPort, payload)])
    const sealed = sa.outbound.seal(batch.data, batch.offsets, UDP)
    for (const packet of unpackBatch(sealed)) {
      from.counters.sealed++
      this.wire.push({ to: this.other(from), esp: Buffer.from(packet) })
    }
  }

  /** Opens an ESP packet with the inbound SA its SPI names; hands L2TP control to `handle`, data to the session's PPP link. */
  private open(to: Side, packet: Buffer): void {
    const sa = packet.length >= 4 ? to.byInboundSpi.get(packet.readUInt32BE(0)) : undefined
    if (!sa) {
      to.counters.openFailures++
      return
    }
    const opened = sa.inbound.open(packet, new Uint32Array([0, packet.length]))
    if (opened.status[0] !== 0 || opened.nextHeaders[0] !== UDP) {
      to.counters.openFailures++
      return
    }
    to.counters.opened++
    const datagram = unpackBatch(opened)[0]!
    if (datagram.length < 8 || datagram.readUInt16BE(2) !== L2TP_PORT) {
      to.counters.notL2tp++
      return
    }
    const sourcePort = datagram.readUInt16BE(0)
    const payload = datagram.subarray(8, datagram.readUInt16BE(4))
    const flags = payload.readUInt16BE(0)
    if (flags & 0x8000) {
      to.counters.l2tpReceived++
      to.l2tp.handle(payload, { ...sa.peer, l2tpPort: sourcePort }, this.now)
      // Start PPP on session-up before the next datagram: it may be the peer's first LCP frame.
      this.l2tpEvents(to)
      return
    }
    // A data message as we send it: no Length, no Ns/Nr, no Offset.
    if (flags !== 0x0002 || payload.length < 6) {
      to.counters.notL2tp++
      return
    }
    const tunnelId = payload.readUInt16BE(2)
    const call = to.calls.get(payload.readUInt16BE(4))
    if (!call || call.session.tunnelId !== tunnelId || call.session.binding !== sa.binding) {
      to.counters.dataWithoutSession++
      return
    }
    to.counters.pppReceived++
    call.link.receive(payload.subarray(6), this.now)
  }

  // --- one step: move everything that can move at this instant ---------------------

  /** IKE datagrams onto the wire, through the NAT: the server sees the client at NAT_PUBLIC, port + NAT_OFFSET. */
  private ikeTransmits(): boolean {
    let moved = false
    const mapped = (port: number): Endpoint => ({ address: NAT_PUBLIC, port: NAT_OFFSET + port })
    for (let t = this.client.ike.pollTransmit(); t; t = this.client.ike.pollTransmit()) {
      moved = true
      this.wire.push({ to: this.server, ike: t.data, path: { peer: mapped(t.fromPort), local: { address: SERVER.address, port: t.to.port } } })
    }
    for (let t = this.server.ike.pollTransmit(); t; t = this.server.ike.pollTransmit()) {
      moved = true
      this.wire.push({ to: this.client, ike: t.data, path: { peer: { address: SERVER.address, port: t.fromPort }, local: { address: CLIENT_LOCAL.address, port: t.to.port - NAT_OFFSET } } })
    }
    return moved
  }

  private ikeEvents(side: Side): boolean {
    let moved = false
    for (let e = side.ike.pollEvent(); e; e = side.ike.pollEvent()) {
      moved = true
      this.onIkeEvent(side, e)
    }
    return moved
  }

  private onIkeEvent(side: Side, e: IkeEvent): void {
    side.ikeEvents.push(e)
    if (e.type === 'child-sa-up') return this.install(side, e)
    if (e.type === 'child-sa-down') {
      const binding = side.bindingOf.get(e.ikeSa)
      const sa = binding === undefined ? undefined : side.bindings.get(binding)
      if (sa && sa.inbound.spi === e.inboundSpi) {
        side.l2tp.removeBinding(sa.binding)
        side.bindings.delete(sa.binding)
        side.byInboundSpi.delete(e.inboundSpi)
      }
    }
  }

  /** child-sa-up: the ESP SA pair goes into EspSa objects; the client then opens its L2TP tunnel over it. */
  private install(side: Side, e: ChildUp): void {
    let binding = side.bindingOf.get(e.ikeSa)
    if (binding === undefined) side.bindingOf.set(e.ikeSa, (binding = side.nextBinding++))
    const sa: Binding = {
      binding,
      ikeSa: e.ikeSa,
      inbound: new EspSa({ spi: e.inbound.spi, suite: e.inbound.suite, encryptionKey: e.inbound.encryptionKey, integrityKey: e.inbound.integrityKey }),
      outbound: new EspSa({ spi: e.outbound.spi, suite: e.outbound.suite, encryptionKey: e.outbound.encryptionKey, integrityKey: e.outbound.integrityKey }),
      peer: { binding, address: e.peer.address, port: e.peer.port, l2tpPort: e.peerL2tpPort || L2TP_PORT },
    }
    side.bindings.set(binding, sa)
    side.byInboundSpi.set(e.inbound.spi, sa)
    if (side === this.client) side.l2tp.openTunnel(sa.peer, this.now)
  }

  private l2tpEvents(side: Side): boolean {
    let moved = false
    for (let e = side.l2tp.pollEvent(); e; e = side.l2tp.pollEvent()) {
      moved = true
      this.onL2tpEvent(side, e)
    }
    return moved
  }

  private onL2tpEvent(side: Side, e: L2tpEvent): void {
    side.l2tpEvents.push(e)
    switch (e.type) {
      case 'tunnel-up':
        if (side === this.client) side.l2tp.openSession(e.tunnelId, {}, this.now)
        return
      case 'session-up':
        return this.startPpp(side, e)
      case 'session-down': {
        const call = side.calls.get(e.sessionId)
        if (call && call.link.phase !== 'Dead') call.link.lowerDown(this.now, `L2TP ${e.reason}`)
        return
      }
    }
  }

  /** session-up: a PPP link over the session, server or client by side. */
  private startPpp(side: Side, session: SessionUpEvent): void {
    const link =
      side === this.server
        ? new PppLink({
            role: 'server',
            localAddress: GATEWAY,
            dns: [GATEWAY],
            peer: { address: session.peer.address, port: session.peer.port, ikeId: CLIENT_LOCAL.address },
            random: seeded(33),
            assignAddress: (r) => this.pool.allocate({ user: r.user, now: this.now, ...(r.requested ? { requested: r.requested } : {}), ...(r.policy.address ? { fixed: r.policy.address } : {}) }),
          })
        : new PppLink({ role: 'client', user: 'alice', password: this.options.password, random: seeded(44) })
    side.calls.set(session.sessionId, { session, link, cleared: false })
    link.open(this.now)
  }

  private async servicePpp(side: Side): Promise<boolean> {
    let moved = false
    for (const [sessionId, call] of side.calls) {
      for (let frame = call.link.pollTransmit(); frame; frame = call.link.pollTransmit()) {
        moved = true
        side.counters.pppSent++
        this.seal(side, call.session.binding, call.session.peer.l2tpPort, l2tpData(call.session.peerTunnelId, call.session.peerSessionId, frame))
      }
      for (let e = call.link.pollEvent(); e; e = call.link.pollEvent()) {
        moved = true
        side.pppEvents.push(e)
        if (e.type === 'auth-request') {
          const result = await this.authenticator.authenticate(e.request)
          call.link.authResult(e.id, result, this.now)
        } else if (e.type === 'down' && e.address !== undefined) {
          this.pool.release(e.address, this.now)
        }
      }
      // The LNS clears the call once PPP finished its Terminate handshake (phase Dead).
      if (side === this.server && call.link.phase === 'Dead' && !call.cleared) {
        moved = true
        call.cleared = true
        side.l2tp.closeSession(sessionId, undefined, this.now)
      }
    }
    return moved
  }

  /** Drains every output of every core once; delivers what is on the wire. */
  async pump(): Promise<boolean> {
    let moved = this.ikeTransmits()
    for (const side of [this.client, this.server]) moved = this.ikeEvents(side) || moved
    for (const side of [this.client, this.server]) {
      moved = this.l2tpEvents(side) || moved
      // Control messages before the PPP frames a session-up started, so the ICCN leads the first LCP frame.
      for (let tx = side.l2tp.pollTransmit(); tx; tx = side.l2tp.pollTransmit()) {
        moved = true
        side.counters.l2tpSent++
        this.seal(side, tx.binding, tx.l2tpPort, tx.datagram)
      }
    }
    for (const side of [this.client, this.server]) moved = (await this.servicePpp(side)) || moved
    const inFlight = this.wire
    this.wire = []
    for (const d of inFlight) {
      moved = true
      if ('ike' in d) {
        d.to.ike.handle(d.ike, d.path, this.now)
        // Install a new SA before the next datagram: it may be the first ESP packet under it.
        this.ikeEvents(d.to)
      } else {
        this.open(d.to, d.esp)
      }
    }
    return moved
  }

  /** Fires every timer due at `now` and says when the next one is. */
  private timers(): number | undefined {
    const times: number[] = []
    for (const side of [this.client, this.server]) {
      side.ikeNext = side.ike.handleTimeout(this.now)
      if (side.ikeNext !== undefined) times.push(side.ikeNext)
      const l2tpAt = side.l2tp.nextTimeout()
      if (l2tpAt !== undefined && l2tpAt <= this.now) side.l2tp.handleTimeout(this.now)
      const l2tpNext = side.l2tp.nextTimeout()
      if (l2tpNext !== undefined) times.push(l2tpNext)
      for (const call of side.calls.values()) {
        const at = call.link.nextTimeout()
        if (at !== undefined && at <= this.now) call.link.handleTimeout(this.now)
        const next = call.link.nextTimeout()
        if (next !== undefined) times.push(next)
      }
    }
    return times.length ? Math.min(...times) : undefined
  }

  /**
   * The event loop: drain everything; when nothing moves, fire the timers
   * and jump the clock to the next one. Stops when `done`, or after
   * MAX_STEPS steps (then `done` is false).
   */
  async run(done: () => boolean): Promise<boolean> {
    for (; this.steps < MAX_STEPS; this.steps++) {
      if (await this.pump()) continue
      if (done()) return true
      const next = this.timers()
      if (await this.pump()) continue
      if (done()) return true
      if (next === undefined) return false
      this.now = Math.max(this.now, next)
    }
    return done()
  }

  /** Runs `seconds` of virtual time more (keepalives: LCP Echo, L2TP HELLO, DPD). */
  async idle(seconds: number): Promise<boolean> {
    const until = this.now + seconds
    await this.run(() => this.now >= until)
    return this.now >= until
  }

  up(side: Side): PppLinkUpEvent[] {
    return side.pppEvents.filter((e): e is PppLinkUpEvent => e.type === 'up')
  }

  down(side: Side): Extract<PppLinkEvent, { type: 'down' }>[] {
    return side.pppEvents.filter((e): e is Extract<PppLinkEvent, { type: 'down' }> => e.type === 'down')
  }

  ofType<T extends L2tpEvent['type']>(side: Side, type: T): Extract<L2tpEvent, { type: T }>[] {
    return side.l2tpEvents.filter((e): e is Extract<L2tpEvent, { type: T }> => e.type === type)
  }

  ike<T extends IkeEvent['type']>(side: Side, type: T): Extract<IkeEvent, { type: T }>[] {
    return side.ikeEvents.filter((e): e is Extract<IkeEvent, { type: T }> => e.type === type)
  }
}

type Assertions = ExecutionContext

/** Every L2TP message and PPP frame went through ESP with the negotiated SAs, and every one opened. */
function assertEspCarriedEverything(t: Assertions, stack: Stack): void {
  for (const side of [stack.client, stack.server]) {
    const other = stack.other(side)
    const c = side.counters
    t.true(c.sealed > 0, `${side.name} sealed packets`)
    t.is(c.sealed, c.l2tpSent + c.pppSent, `${side.name}: one ESP packet per L2TP message or PPP frame`)
    t.is(other.counters.opened, c.sealed, `${other.name} opened all that ${side.name} sealed`)
    t.is(c.opened, c.l2tpReceived + c.pppReceived, `${side.name}: every opened packet went to L2TP or PPP`)
    t.is(c.openFailures, 0, `${side.name}: no ESP open failures`)
    t.is(c.notL2tp, 0)
    t.is(c.dataWithoutSession, 0, `${side.name}: no PPP frame arrived before its session`)
    t.is(side.bindings.size, 1)
    const sa = [...side.bindings.values()][0]!
    const out = sa.outbound.stats()
    const inbound = sa.inbound.stats()
    t.is(out.packetsOut, c.sealed, `${side.name}: the outbound EspSa counted every packet`)
    t.is(inbound.packetsIn, c.opened, `${side.name}: the inbound EspSa counted every packet`)
    t.is(inbound.icvFailures + inbound.replays + inbound.malformed, 0)
    // The two sides' SAs are the two halves of one negotiated pair.
    const peerSa = [...other.bindings.values()][0]!
    t.is(sa.outbound.spi, peerSa.inbound.spi)
    t.is(sa.outbound.suite, peerSa.inbound.suite)
  }
}

/** IKE SAs and the ESP SA pair came up on both sides through the NAT. */
function assertIkeUp(t: Assertions, stack: Stack): void {
  const serverUp = stack.ike(stack.server, 'ike-sa-up')
  const clientUp = stack.ike(stack.client, 'ike-sa-up')
  t.is(serverUp.length, 1)
  t.is(clientUp.length, 1)
  t.like(serverUp[0], { role: 'responder', natDetected: true, peerId: CLIENT_LOCAL.address })
  t.like(clientUp[0], { role: 'initiator' })
  t.is(stack.server.ike.stats().ikeSas, 1)
  t.is(stack.client.ike.stats().ikeSas, 1)
  const s = stack.ike(stack.server, 'child-sa-up')
  const c = stack.ike(stack.client, 'child-sa-up')
  t.is(s.length, 1)
  t.is(c.length, 1)
  t.like(s[0], { mode: 'transport', udpEncapsulated: true, peerL2tpPort: L2TP_PORT, peer: { address: NAT_PUBLIC, port: NAT_OFFSET + 4500 } })
  t.is(s[0]!.inbound.spi, c[0]!.outbound.spi)
  t.is(s[0]!.outbound.spi, c[0]!.inbound.spi)
  t.falsy(stack.server.ikeEvents.find((e) => e.type === 'ike-sa-down' || e.type === 'child-sa-down' || e.type === 'auth-failure'))
}

/** L2TP: one tunnel and one session, each up exactly once on each side, on the binding of the IKE SA. */
function assertL2tpUp(t: Assertions, stack: Stack): void {
  for (const side of [stack.client, stack.server]) {
    const binding = side.bindingOf.get(stack.ike(side, 'child-sa-up')[0]!.ikeSa)
    t.not(binding, undefined, `${side.name}: the IKE SA has a binding`)
    t.is(stack.ofType(side, 'tunnel-up').length, 1, `${side.name}: tunnel-up once`)
    t.is(stack.ofType(side, 'session-up').length, 1, `${side.name}: session-up once`)
    t.is<number | undefined, number | undefined>(stack.ofType(side, 'tunnel-up')[0]!.binding, binding)
    t.is<number | undefined, number | undefined>(stack.ofType(side, 'session-up')[0]!.binding, binding)
    t.false(stack.ofType(side, 'session-up')[0]!.sequencing, 'no data sequencing: the 6-byte data header is right')
    t.deepEqual(stack.ofType(side, 'dropped'), [], `${side.name}: L2TP dropped nothing`)
    t.deepEqual(side.l2tp.stats().dropped, {})
  }
  t.like(stack.ofType(stack.client, 'tunnel-up')[0], { initiator: true, peerHostName: 'server.test' })
  t.like(stack.ofType(stack.server, 'tunnel-up')[0], { initiator: false, peerHostName: 'client.test' })
  const lac = stack.ofType(stack.client, 'session-up')[0]!
  const lns = stack.ofType(stack.server, 'session-up')[0]!
  t.is(lac.peerTunnelId, lns.tunnelId)
  t.is(lac.peerSessionId, lns.sessionId)
  t.is(lns.peerSessionId, lac.sessionId)
}

// --- the tests ----------------------------------------------------------------

test('client to server through NAT: IKE, ESP, L2TP tunnel and session, PPP with MS-CHAPv2 and a pool address', async (t) => {
  const stack = new Stack({ password: 'alice-pass-1' })
  stack.connect()
  const bothUp = () => stack.up(stack.client).length > 0 && stack.up(stack.server).length > 0
  t.true(await stack.run(bothUp), `PPP up on both sides within ${MAX_STEPS} steps (now ${stack.now})`)
  t.is(stack.now, 0, 'up without a single timer: no message was lost or arrived before the state to take it')

  assertIkeUp(t, stack)
  assertL2tpUp(t, stack)

  const [serverUp] = stack.up(stack.server)
  const [clientUp] = stack.up(stack.client)
  t.like(serverUp, { user: 'alice', authMethod: 'mschapv2', localAddress: GATEWAY })
  t.like(clientUp, { user: 'alice', authMethod: 'mschapv2', localAddress: GATEWAY, dns: [GATEWAY] })
  t.is(clientUp!.address, serverUp!.address, 'both ends agree on the address')
  t.true(stack.pool.contains(clientUp!.address), `${clientUp!.address} is a pool address`)
  t.is(stack.pool.holderOf(clientUp!.address), 'alice')
  t.like(stack.pool.stats(), { used: 1 })
  t.like(stack.server.pppEvents.find((e) => e.type === 'authenticated'), { method: 'mschapv2', user: 'alice' })
  t.truthy(stack.server.pppEvents.find((e) => e.type === 'auth-request'), 'the server asked the Authenticator')
  assertEspCarriedEverything(t, stack)
  const counters = { client: { ...stack.client.counters }, server: { ...stack.server.counters } }
  t.true(counters.client.pppSent > 0 && counters.server.pppSent > 0 && counters.client.l2tpSent >= 3 && counters.server.l2tpSent >= 2)

  // Keepalives for a while (LCP Echo every 30 s, L2TP HELLO at 60 s, DPD): still over ESP, nothing goes down or comes up again.
  t.true(await stack.idle(75), 'the loop ran 75 s more within the step bound')
  t.true(stack.client.counters.sealed > counters.client.sealed, 'keepalives went through ESP too')
  t.is(stack.up(stack.server).length, 1)
  t.is(stack.up(stack.client).length, 1)
  t.deepEqual(stack.down(stack.server), [])
  t.deepEqual(stack.down(stack.client), [])
  t.true(stack.server.calls.get(stack.ofType(stack.server, 'session-up')[0]!.sessionId)!.link.isUp)
  assertIkeUp(t, stack)
  assertL2tpUp(t, stack)
  assertEspCarriedEverything(t, stack)
  t.like(stack.pool.stats(), { used: 1 })
  t.true(stack.steps < MAX_STEPS)
})

test('a wrong password: MS-CHAPv2 fails, PPP ends on both sides, the LNS clears the call and no address is held', async (t) => {
  const stack = new Stack({ password: 'not-alice-pass' })
  stack.connect()
  const ended = () => stack.down(stack.client).length > 0 && stack.down(stack.server).length > 0 && stack.ofType(stack.client, 'session-down').length > 0 && stack.ofType(stack.server, 'session-down').length > 0
  t.true(await stack.run(ended), `PPP down and the session cleared within ${MAX_STEPS} steps (now ${stack.now})`)
  t.is(stack.now, 0, 'no timer needed: the client gives up at once, the Terminate handshake and the CDN follow')

  assertIkeUp(t, stack)
  for (const side of [stack.client, stack.server]) {
    t.is(stack.ofType(side, 'tunnel-up').length, 1)
    t.is(stack.ofType(side, 'session-up').length, 1)
    t.is(stack.ofType(side, 'session-down').length, 1)
    t.is(stack.up(side).length, 0, `${side.name}: PPP never up`)
    t.is(stack.down(side).length, 1, `${side.name}: PPP down once`)
    t.false(stack.down(side)[0]!.wasUp)
  }
  t.like(stack.ofType(stack.server, 'session-down')[0], { by: 'local', established: true })
  t.like(stack.ofType(stack.client, 'session-down')[0], { by: 'peer', established: true })
  const failed = stack.server.pppEvents.filter((e): e is Extract<PppLinkEvent, { type: 'auth-failed' }> => e.type === 'auth-failed')
  t.true(failed.length >= 1)
  t.like(failed[0], { method: 'mschapv2', user: 'alice' })
  t.like(failed[0]!.failure, { reason: 'bad-password' })
  t.like(stack.client.pppEvents.find((e) => e.type === 'auth-failed'), { method: 'mschapv2', final: true })
  t.falsy(stack.down(stack.server)[0]!.address, 'no address was ever assigned')
  t.like(stack.pool.stats(), { used: 0 })
  t.deepEqual([...stack.pool.allocations()], [])
  for (const call of [...stack.client.calls.values(), ...stack.server.calls.values()]) t.is(call.link.phase, 'Dead')
  // The tunnel stays (the client may call again); its session is gone on both sides.
  t.is(stack.server.l2tp.stats().sessions, 0)
  t.is(stack.client.l2tp.stats().sessions, 0)
  t.is(stack.server.l2tp.stats().establishedTunnels, 1)
  assertEspCarriedEverything(t, stack)
  t.true(stack.steps < MAX_STEPS)
})
