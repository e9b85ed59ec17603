/**
 * One fleet session's data plane, in JS: a single UDP socket (its IKE, its
 * NAT-T and its ESP all use it, so each session is a distinct peer to the
 * server), ESP through the native `EspSa`, and the L2TP/UDP/PPP framing the
 * native data plane does for a real client. For the load generator only
 * (lib/client/fleet.ts): thousands of these live in one process where one
 * native DataPlane per session (two threads and a TUN device each) did not
 * scale. The server it talks to is the real thing; this side does JS work
 * per packet, which a load generator may.
 */
import type dgram from 'node:dgram'
import { EspSa } from '../../native/index.js'
import type { ControlBatch, ControlMeta, DataPlaneStats, SaOptions, SessionOptions, SessionStats } from '../../native/index.js'
import { parseHostPort } from '../server/bindings.js'
import type { DataPlanePort } from '../server/control-plane.js'

const L2TP_PORT = 1701
const UDP = 17
/** T (control), L (length), S (sequence), O (offset) bits of the L2TP header's first byte. */
const L2TP_T = 0x80
const L2TP_L = 0x40
const L2TP_S = 0x08
const L2TP_O = 0x02
const PPP_IPV4 = 0x21
const PPP_IPV6 = 0x57

interface BindingState {
  peer: { address: string; port: number }
  /** Outbound SAs, newest last: the newest carries traffic (as in the native tables). */
  out: EspSa[]
  peerL2tpPort: number
}

interface SessionState {
  options: SessionOptions
  nextNs: number
  stats: SessionStats
}

/** What a fleet port hands to its owner. */
export interface FleetPortSink {
  /** Control frames (IKE, L2TP, PPP control) for the session's control plane. */
  control(batch: ControlBatch): void
  /** An inner IP packet that came through the session (the IP header first). */
  data(packet: Buffer): void
}

export interface FleetPortCounters {
  ikeIn: number
  ikeOut: number
  espIn: number
  espOut: number
  espDropped: number
  unknownSpi: number
  sendFailed: number
}

export class FleetPort implements DataPlanePort {
  private readonly inbound = new Map<number, { sa: EspSa; binding: number }>()
  private readonly bindings = new Map<number, BindingState>()
  private readonly sessions = new Map<number, SessionState>()
  private readonly byL2tp = new Map<string, SessionState>()
  readonly counters: FleetPortCounters = { ikeIn: 0, ikeOut: 0, espIn: 0, espOut: 0, espDropped: 0, unknownSpi: 0, sendFailed: 0 }
  sink: FleetPortSink | undefined

  /** `socket` is bound and belongs to this port; `serverNattPort` is where IKE carries the non-ESP marker. */
  constructor(
    private readonly socket: dgram.Socket,
    private readonly serverNattPort: number,
  ) {
    socket.on('message', (msg, from) => this.receive(msg, from.address, from.port))
  }

  get localPort(): number {
    return this.socket.address().port
  }

  // --- DataPlanePort ---------------------------------------------------------

  installSa(sa: SaOptions): void {
    const esp = new EspSa({
      spi: sa.spi,
      suite: sa.suite,
      encryptionKey: sa.encryptionKey,
      ...(sa.integrityKey ? { integrityKey: sa.integrityKey } : {}),
      replayWindow: sa.direction === 'in' ? (sa.replayWindow ?? 1024) : 0,
    })
    let binding = this.bindings.get(sa.binding)
    if (!binding) this.bindings.set(sa.binding, (binding = { peer: parseHostPort(sa.peer), out: [], peerL2tpPort: sa.peerL2tpPort ?? 0 }))
    binding.peer = parseHostPort(sa.peer)
    if (sa.direction === 'in') {
      this.inbound.get(sa.spi)?.sa.destroy()
      this.inbound.set(sa.spi, { sa: esp, binding: sa.binding })
    } else {
      binding.out.push(esp)
    }
  }

  removeSa(spi: number, direction: string): boolean {
    if (direction === 'in') {
      const entry = this.inbound.get(spi)
      if (!entry) return false
      this.inbound.delete(spi)
      entry.sa.destroy()
      this.dropEmptyBinding(entry.binding)
      return true
    }
    for (const [id, b] of this.bindings) {
      const i = b.out.findIndex((sa) => sa.spi === spi)
      if (i < 0) continue
      b.out.splice(i, 1)[0]!.destroy()
      this.dropEmptyBinding(id)
      return true
    }
    return false
  }

  upsertSession(s: SessionOptions): void {
    const old = this.sessions.get(s.id)
    if (old) this.byL2tp.delete(l2tpKey(old.options.binding, old.options.localTunnel, old.options.localSession))
    const state: SessionState = { options: s, nextNs: old?.nextNs ?? 0, stats: emptyStats(s.id, s.binding) }
    this.sessions.set(s.id, state)
    this.byL2tp.set(l2tpKey(s.binding, s.localTunnel, s.localSession), state)
  }

  removeSession(id: number): boolean {
    const s = this.sessions.get(id)
    if (!s) return false
    this.sessions.delete(id)
    this.byL2tp.delete(l2tpKey(s.options.binding, s.options.localTunnel, s.options.localSession))
    return true
  }

  stats(): DataPlaneStats {
    return { counters: {}, sas: [], sessions: [...this.sessions.values()].map((s) => ({ ...s.stats })), sites: [] }
  }

  sessionStats(id: number): SessionStats | null {
    const s = this.sessions.get(id)
    return s ? { ...s.stats } : null
  }

  sendControl(data: Buffer, offsets: Uint32Array, meta: ControlMeta[]): number {
    let sent = 0
    for (let i = 0; i < meta.length; i++) {
      const frame = data.subarray(offsets[i], offsets[i + 1])
      const m = meta[i]!
      if (m.kind === 'ike') {
        if (m.peerAddress === undefined || m.peerPort === undefined) continue
        const datagram = m.peerPort === this.serverNattPort ? Buffer.concat([NON_ESP_MARKER, frame]) : Buffer.from(frame)
        this.counters.ikeOut++
        this.send(datagram, m.peerPort, m.peerAddress)
        sent++
      } else if (m.kind === 'l2tp') {
        if (m.binding !== undefined && this.sealToBinding(m.binding, m.l2tpPort ?? L2TP_PORT, frame)) sent++
      } else if (m.kind === 'ppp') {
        const s = m.session === undefined ? undefined : this.sessions.get(m.session)
        if (s && this.sendPpp(s, frame)) sent++
      }
    }
    return sent
  }

  // --- data ------------------------------------------------------------------

  /** Sends an inner IP packet through session `id` (PPP, L2TP data, UDP 1701, ESP); false without a session or SA. */
  sendIp(id: number, packet: Buffer): boolean {
    const s = this.sessions.get(id)
    if (!s) return false
    const version = packet[0]! >> 4
    const header = Buffer.from([0xff, 0x03, 0x00, version === 6 ? PPP_IPV6 : PPP_IPV4])
    const ok = this.sendPpp(s, Buffer.concat([header, packet]))
    if (ok) {
      s.stats.txPackets++
      s.stats.txBytes += packet.length
    }
    return ok
  }

  /** Closes the socket and zeroes every key. */
  close(): void {
    for (const { sa } of this.inbound.values()) sa.destroy()
    for (const b of this.bindings.values()) for (const sa of b.out) sa.destroy()
    this.inbound.clear()
    this.bindings.clear()
    this.sessions.clear()
    this.byL2tp.clear()
    this.sink = undefined
    try {
      this.socket.close()
    } catch {
      // already closed
    }
  }

  // --- inside ----------------------------------------------------------------

  private dropEmptyBinding(id: number): void {
    const b = this.bindings.get(id)
    if (b && b.out.length === 0 && ![...this.inbound.values()].some((e) => e.binding === id)) this.bindings.delete(id)
  }

  private send(datagram: Buffer, port: number, address: string): void {
    this.socket.send(datagram, port, address, (err) => {
      if (err) this.counters.sendFailed++
    })
  }

  private sendPpp(s: SessionState, frame: Buffer): boolean {
    const o = s.options
    const sequencing = o.sequencing === true
    const header = Buffer.alloc(sequencing ? 10 : 6)
    header[0] = sequencing ? L2TP_S : 0
    header[1] = 2
    header.writeUInt16BE(o.peerTunnel, 2)
    header.writeUInt16BE(o.peerSession, 4)
    if (sequencing) {
      header.writeUInt16BE(s.nextNs, 6)
      s.nextNs = (s.nextNs + 1) & 0xffff
    }
    return this.sealToBinding(o.binding, o.peerPort ?? L2TP_PORT, Buffer.concat([header, frame]))
  }

  /** UDP 1701 → `l2tpPort` around an L2TP message, sealed with the binding's newest outbound SA, to its peer. */
  private sealToBinding(bindingId: number, l2tpPort: number, l2tp: Buffer): boolean {
    const b = this.bindings.get(bindingId)
    const sa = b?.out[b.out.length - 1]
    if (!b || !sa) {
      this.counters.sendFailed++
      return false
    }
    const udp = Buffer.allocUnsafe(8 + l2tp.length)
    udp.writeUInt16BE(L2TP_PORT, 0)
    udp.writeUInt16BE(l2tpPort || L2TP_PORT, 2)
    udp.writeUInt16BE(udp.length, 4)
    // Checksum 0: allowed for UDP in transport-mode ESP over IPv4 (RFC 3948 3.1.2).
    udp.writeUInt16BE(0, 6)
    l2tp.copy(udp, 8)
    const sealed = sa.seal(udp, new Uint32Array([0, udp.length]), UDP)
    this.counters.espOut++
    this.send(sealed.data, b.peer.port, b.peer.address)
    return true
  }

  private receive(msg: Buffer, address: string, port: number): void {
    if (port !== this.serverNattPort) {
      this.counters.ikeIn++
      return this.up(msg, { kind: 'ike', peerAddress: address, peerPort: port, localPort: this.localPort })
    }
    // NAT-T keepalive: one 0xff byte.
    if (msg.length === 1 && msg[0] === 0xff) return
    if (msg.length < 8) return
    if (msg.readUInt32BE(0) === 0) {
      this.counters.ikeIn++
      return this.up(msg.subarray(4), { kind: 'ike', peerAddress: address, peerPort: port, localPort: this.localPort })
    }
    this.esp(msg, address, port)
  }

  private esp(msg: Buffer, address: string, port: number): void {
    const entry = this.inbound.get(msg.readUInt32BE(0))
    if (!entry) {
      this.counters.unknownSpi++
      return
    }
    const opened = entry.sa.open(msg, new Uint32Array([0, msg.length]))
    if (opened.status[0] !== 0 || opened.nextHeaders[0] !== UDP) {
      this.counters.espDropped++
      return
    }
    this.counters.espIn++
    const b = this.bindings.get(entry.binding)
    // RFC 3948: an authenticated packet from elsewhere moves the peer.
    if (b && (b.peer.address !== address || b.peer.port !== port)) b.peer = { address, port }
    const udp = opened.data.subarray(opened.offsets[0], opened.offsets[1])
    if (udp.length < 8 + 6 || udp.readUInt16BE(2) !== L2TP_PORT) return
    const srcPort = udp.readUInt16BE(0)
    const l2tp = udp.subarray(8)
    const flags = l2tp[0]!
    if (flags & L2TP_T) return this.up(l2tp, { kind: 'l2tp', peerAddress: address, peerPort: port, binding: entry.binding, l2tpPort: srcPort })
    let offset = 2 + (flags & L2TP_L ? 2 : 0)
    if (l2tp.length < offset + 4) return
    const tunnel = l2tp.readUInt16BE(offset)
    const session = l2tp.readUInt16BE(offset + 2)
    offset += 4 + (flags & L2TP_S ? 4 : 0)
    if (flags & L2TP_O) {
      if (l2tp.length < offset + 2) return
      offset += 2 + l2tp.readUInt16BE(offset)
    }
    const s = this.byL2tp.get(l2tpKey(entry.binding, tunnel, session))
    if (!s || l2tp.length <= offset) return
    const ppp = l2tp.subarray(offset)
    const protocolAt = ppp.length >= 2 && ppp[0] === 0xff && ppp[1] === 0x03 ? 2 : 0
    const first = ppp[protocolAt]
    if (first === undefined) return
    const protocol = first & 1 ? first : (first << 8) | (ppp[protocolAt + 1] ?? 0)
    if (protocol === PPP_IPV4 || protocol === PPP_IPV6) {
      const packet = ppp.subarray(protocolAt + (first & 1 ? 1 : 2))
      s.stats.rxPackets++
      s.stats.rxBytes += packet.length
      this.sink?.data(packet)
      return
    }
    s.stats.controlUp++
    this.up(ppp, { kind: 'ppp', session: s.options.id })
  }

  private up(frame: Buffer, meta: ControlMeta): void {
    this.sink?.control({ packets: frame, offsets: new Uint32Array([0, frame.length]), meta: [meta], events: [] })
  }
}

const NON_ESP_MARKER = Buffer.alloc(4)

function l2tpKey(binding: number, tunnel: number, session: number): string {
  return `${binding}:${tunnel}:${session}`
}

function emptyStats(id: number, binding: number): SessionStats {
  return { id, binding, rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, spoofed: 0, policyDenied: 0, rateLimited: 0, tooBig: 0, controlUp: 0 }
}
