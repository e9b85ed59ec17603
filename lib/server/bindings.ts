/**
 * IPsec peers ("bindings"): the ESP SA pairs negotiated by IKE, installed
 * in the data plane under one binding number per peer. A peer is its outer
 * address and port, so that a Quick Mode rekey or a Phase 1 rekey keeps the
 * binding (and the L2TP tunnels over it) while the SAs under it change, and
 * clients behind one NAT stay apart by port.
 */
import type { SaOptions, SaStats } from '../../native/index.js'
import type { Endpoint, IkeEvent } from '../ike/types.js'
import { SpiPairs } from '../util/spi-pairs.js'

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
  pairs: SpiPairs
  /** The peer turned out to truncate HMAC-SHA-256 to 96 bits: its later SHA-256 pairs go in as sha256_96. */
  sha256Truncated?: boolean
}

/** A SHA-256 pair no inbound packet has verified under yet: the two installs, to redo with 96-bit ICVs. */
interface TruncationCandidate {
  binding: Binding
  inbound: SaOptions
  outbound: SaOptions
  at: number
  /** Installed as sha256_96 since; still no good packet would put the 128-bit ICVs back, once. */
  truncated?: boolean
}

/** Seconds a fresh HMAC-SHA-256 pair is watched for the 96-bit truncation. */
const TRUNCATION_WATCH = 120

/**
 * Android 6 and 7 negotiate HMAC-SHA2-256 for ESP like anyone else (IKEv1
 * cannot say more) but their kernels truncate the ICV to 96 bits instead of
 * 128 (libreswan's sha2-truncbug, strongSwan's sha256_96). A pair whose
 * inbound SA sees bad packets and not one good one is switched to the
 * 96-bit variant, and so are the peer's later SHA-256 pairs. Should the
 * 96-bit SA see only bad packets too (someone else's garbage came first),
 * the pair goes back to 128 bits for good.
 */
function truncatedSuite(suite: string): string | undefined {
  return /-sha256$/.test(suite) ? `${suite}_96` : undefined
}

export interface TruncationSwitch {
  binding: number
  spiIn: number
  spiOut: number
  /** The suite the pair is installed with now. */
  suite: string
}

export class BindingTable {
  private readonly byKey = new Map<string, Binding>()
  private readonly byId = new Map<number, Binding>()
  private readonly byInboundSpi = new Map<number, Binding>()
  /** Inbound SAs installed at Quick Mode message 2, waiting for child-sa-up: SPI -> when. */
  private readonly early = new Map<number, { binding: Binding; at: number }>()
  /** Inbound SPI -> a HMAC-SHA-256 pair that may need 96-bit ICVs. */
  private readonly truncation = new Map<number, TruncationCandidate>()
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
      binding = { id: this.allocateId(), peer: e.peer, peerId, ikeSa: e.ikeSa, suite: e.inbound.suite, udpEncapsulated: e.udpEncapsulated, peerL2tpPort: e.peerL2tpPort, pairs: new SpiPairs() }
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
    this.sink.installSa({ ...this.saCommon(binding, e), spi: e.inbound.spi, direction: 'in', suite: this.suiteFor(binding, e.inbound.suite), encryptionKey: e.inbound.encryptionKey, integrityKey: e.inbound.integrityKey })
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
  up(e: ChildUp, peerId: string, now = 0): Binding {
    const binding = this.bindingFor(e, peerId)
    binding.ikeSa = e.ikeSa
    binding.peerId = peerId
    binding.suite = this.suiteFor(binding, e.inbound.suite)
    binding.peerL2tpPort = e.peerL2tpPort
    const common = this.saCommon(binding, e)
    const inbound: SaOptions = { ...common, spi: e.inbound.spi, direction: 'in', suite: this.suiteFor(binding, e.inbound.suite), encryptionKey: e.inbound.encryptionKey, integrityKey: e.inbound.integrityKey }
    const outbound: SaOptions = { ...common, spi: e.outbound.spi, direction: 'out', suite: this.suiteFor(binding, e.outbound.suite), encryptionKey: e.outbound.encryptionKey, integrityKey: e.outbound.integrityKey }
    if (!this.early.delete(e.inbound.spi)) this.sink.installSa(inbound)
    try {
      this.sink.installSa(outbound)
    } catch (error) {
      this.sink.removeSa(e.inbound.spi, 'in')
      if (!binding.pairs.size) this.forget(binding)
      throw error
    }
    binding.pairs.set(e.inbound.spi, e.outbound.spi)
    this.byInboundSpi.set(e.inbound.spi, binding)
    if (!binding.sha256Truncated && truncatedSuite(inbound.suite) && truncatedSuite(outbound.suite)) this.truncation.set(e.inbound.spi, { binding, inbound, outbound, at: now })
    return binding
  }

  private suiteFor(binding: Binding, suite: string): string {
    return binding.sha256Truncated ? (truncatedSuite(suite) ?? suite) : suite
  }

  /**
   * Looks at the inbound SAs of fresh HMAC-SHA-256 pairs (the data plane's
   * per-SA counters): one that verified a packet is fine; one with bad
   * packets and no good one belongs to a peer that truncates to 96 bits,
   * and the pair is installed again as sha256_96 (same SPIs and keys).
   * Returns the pairs switched, for the log.
   */
  checkTruncation(inboundSa: (spi: number) => SaStats | undefined, now: number): TruncationSwitch[] {
    const switched: TruncationSwitch[] = []
    if (this.truncation.size === 0) return switched
    for (const [spi, c] of this.truncation) {
      const stats = inboundSa(spi)
      if (!stats || stats.packets > 0 || now - c.at > TRUNCATION_WATCH || !this.byInboundSpi.has(spi)) {
        this.truncation.delete(spi)
        continue
      }
      // A 96-bit ICV read as a 128-bit one also leaves a ciphertext that is no
      // whole number of cipher blocks: counted as malformed, not as an ICV failure.
      if (stats.icvFailures + stats.malformed === 0) continue
      const truncate = !c.truncated
      const suiteIn = truncate ? truncatedSuite(c.inbound.suite)! : c.inbound.suite
      const suiteOut = truncate ? truncatedSuite(c.outbound.suite)! : c.outbound.suite
      this.sink.removeSa(c.inbound.spi, 'in')
      this.sink.removeSa(c.outbound.spi, 'out')
      this.sink.installSa({ ...c.inbound, suite: suiteIn })
      this.sink.installSa({ ...c.outbound, suite: suiteOut })
      c.binding.sha256Truncated = truncate
      c.binding.suite = suiteIn
      // The new SAs count from zero: watched once more after a switch to 96 bits, never after the way back.
      if (truncate) c.truncated = true
      else this.truncation.delete(spi)
      switched.push({ binding: c.binding.id, spiIn: c.inbound.spi, spiOut: c.outbound.spi, suite: suiteIn })
    }
    return switched
  }

  /** Removes the SA pair of a child-sa-down; returns the binding and whether it has no SA left (then it is forgotten). */
  down(e: ChildDown): { binding: Binding; empty: boolean } | undefined {
    const binding = this.byInboundSpi.get(e.inboundSpi)
    if (!binding) return undefined
    this.byInboundSpi.delete(e.inboundSpi)
    this.truncation.delete(e.inboundSpi)
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
