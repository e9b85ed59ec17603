/**
 * IPsec peers ("bindings"): the ESP SA pairs negotiated by IKE, installed
 * in the data plane under one binding number per peer. A peer is its outer
 * address and port, so that a Quick Mode rekey or a Phase 1 rekey keeps the
 * binding (and the L2TP tunnels over it) while the SAs under it change, and
 * clients behind one NAT stay apart by port.
 */
import type { SaOptions } from '../../native/index.js'
import type { Endpoint, IkeEvent } from '../ike/types.js'

type ChildUp = Extract<IkeEvent, { type: 'child-sa-up' }>
type ChildInbound = Extract<IkeEvent, { type: 'child-sa-inbound' }>
type ChildDown = Extract<IkeEvent, { type: 'child-sa-down' }>

/** The part of DataPlane that holds SAs. */
export interface SaSink {
  installSa(sa: SaOptions): void
  removeSa(spi: number, direction: string): boolean
}

export interface Binding {
  id: number
  /** Where ESP goes: the peer's outer address and port (0 for raw ESP). */
  peer: Endpoint
  /** The identity proved in IKE, and the IKE SA that negotiated the newest SA pair. */
  peerId: string
  ikeSa: string
  suite: string
  udpEncapsulated: boolean
  /** The peer's L2TP port from the selectors (0: any). */
  peerL2tpPort: number
  /** Inbound SPI -> outbound SPI of each live SA pair. */
  pairs: Map<number, number>
}

export class BindingTable {
  private readonly byKey = new Map<string, Binding>()
  private readonly byId = new Map<number, Binding>()
  private readonly byInboundSpi = new Map<number, Binding>()
  /** Inbound SAs installed at Quick Mode message 2, waiting for child-sa-up: SPI -> when. */
  private readonly early = new Map<number, { binding: Binding; at: number }>()
  private nextId: number

  constructor(
    private readonly sink: SaSink,
    firstId = 1,
  ) {
    this.nextId = firstId
  }

  get(id: number): Binding | undefined {
    return this.byId.get(id)
  }

  all(): IterableIterator<Binding> {
    return this.byId.values()
  }

  get size(): number {
    return this.byId.size
  }

  private bindingFor(e: ChildUp | ChildInbound, peerId: string): Binding {
    const key = `${e.peer.address}|${e.peer.port}`
    let binding = this.byKey.get(key)
    if (!binding) {
      binding = { id: this.allocateId(), peer: e.peer, peerId, ikeSa: e.ikeSa, suite: e.inbound.suite, udpEncapsulated: e.udpEncapsulated, peerL2tpPort: e.peerL2tpPort, pairs: new Map() }
      this.byKey.set(key, binding)
      this.byId.set(binding.id, binding)
    }
    return binding
  }

  private saCommon(binding: Binding, e: ChildUp | ChildInbound) {
    return {
      binding: binding.id,
      peer: `${formatHost(e.peer.address)}:${e.udpEncapsulated ? e.peer.port : 0}`,
      encap: e.udpEncapsulated ? 'udp' : 'raw',
      peerL2tpPort: e.peerL2tpPort,
      ...('lifetimeKilobytes' in e && e.lifetimeKilobytes ? { lifetime: { softBytes: Math.floor(e.lifetimeKilobytes * 1024 * 0.9), hardBytes: e.lifetimeKilobytes * 1024 } } : {}),
    }
  }

  /** Quick Mode message 2 sent: the inbound SA goes in now (the peer may send under it right behind message 3). */
  inbound(e: ChildInbound, peerId: string, now: number): void {
    const binding = this.bindingFor(e, peerId)
    this.sink.installSa({ ...this.saCommon(binding, e), spi: e.inbound.spi, direction: 'in', suite: e.inbound.suite, encryptionKey: e.inbound.encryptionKey, integrityKey: e.inbound.integrityKey })
    this.early.set(e.inbound.spi, { binding, at: now })
  }

  /** Removes inbound SAs whose Quick Mode never finished; returns bindings left with nothing. */
  expireEarly(now: number, maxAge: number): void {
    for (const [spi, { binding, at }] of this.early) {
      if (now - at < maxAge) continue
      this.early.delete(spi)
      this.sink.removeSa(spi, 'in')
      if (!binding.pairs.size && ![...this.early.values()].some((x) => x.binding === binding)) this.forget(binding)
    }
  }

  /** Installs the SA pair of a child-sa-up (inbound first, unless message 2 put it in already). Throws what installSa throws. */
  up(e: ChildUp, peerId: string): Binding {
    const binding = this.bindingFor(e, peerId)
    binding.ikeSa = e.ikeSa
    binding.peerId = peerId
    binding.suite = e.inbound.suite
    binding.peerL2tpPort = e.peerL2tpPort
    const common = this.saCommon(binding, e)
    if (!this.early.delete(e.inbound.spi)) {
      this.sink.installSa({ ...common, spi: e.inbound.spi, direction: 'in', suite: e.inbound.suite, encryptionKey: e.inbound.encryptionKey, integrityKey: e.inbound.integrityKey })
    }
    try {
      this.sink.installSa({ ...common, spi: e.outbound.spi, direction: 'out', suite: e.outbound.suite, encryptionKey: e.outbound.encryptionKey, integrityKey: e.outbound.integrityKey })
    } catch (error) {
      this.sink.removeSa(e.inbound.spi, 'in')
      if (!binding.pairs.size) this.forget(binding)
      throw error
    }
    binding.pairs.set(e.inbound.spi, e.outbound.spi)
    this.byInboundSpi.set(e.inbound.spi, binding)
    return binding
  }

  /** Removes the SA pair of a child-sa-down; returns the binding and whether it has no SA left (then it is forgotten). */
  down(e: ChildDown): { binding: Binding; empty: boolean } | undefined {
    const binding = this.byInboundSpi.get(e.inboundSpi)
    if (!binding) return undefined
    this.byInboundSpi.delete(e.inboundSpi)
    const outbound = binding.pairs.get(e.inboundSpi) ?? e.outboundSpi
    binding.pairs.delete(e.inboundSpi)
    this.sink.removeSa(e.inboundSpi, 'in')
    this.sink.removeSa(outbound, 'out')
    const empty = binding.pairs.size === 0
    if (empty) this.forget(binding)
    return { binding, empty }
  }

  /** The data plane followed a NAT rebinding; the binding's key follows too. */
  moved(id: number, peer: Endpoint): void {
    const binding = this.byId.get(id)
    if (!binding) return
    this.byKey.delete(`${binding.peer.address}|${binding.peer.port}`)
    binding.peer = peer
    this.byKey.set(`${peer.address}|${peer.port}`, binding)
  }

  private forget(binding: Binding): void {
    this.byKey.delete(`${binding.peer.address}|${binding.peer.port}`)
    this.byId.delete(binding.id)
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId
      this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1
      if (!this.byId.has(id)) return id
    }
  }
}

/** An address as the data plane parses "host:port": IPv6 in brackets. */
export function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

/** "1.2.3.4:5" / "[::1]:5" -> Endpoint. */
export function parseHostPort(text: string): Endpoint {
  const m = /^\[(.*)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text)
  return m ? { address: m[1]!, port: Number(m[2]) } : { address: text, port: 0 }
}
