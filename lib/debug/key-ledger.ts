/**
 * The keys of the live IKE and ESP SAs, kept only when the operator asked
 * for them (`serve --keylog FILE`, `admin.allowKeyExport`), for Wireshark.
 * An IKE SA's Phase 1 key is read from the IKE endpoint when the SA comes
 * up; ESP keys are taken as the SAs go into the data plane (`watch` wraps
 * the control plane's port), so what is exported is what is installed —
 * including a pair reinstalled with 96-bit HMAC-SHA-256 ICVs for Android.
 * The ledger's own copies are zeroed when the SA goes away. Each new record
 * is also handed to `onRecord` (the keylog file) as wireshark-keys.ts lines.
 */
import type { SaOptions } from '../../native/index.js'
import type { IkeEndpoint } from '../ike/endpoint.js'
import type { DataPlanePort } from '../server/control-plane.js'
import { wiresharkKeyLines, type EspKeyRecord, type IkeKeyRecord, type KeyExport } from './wireshark-keys.js'

interface IkeEntry {
  peer: string
  initiatorCookie: Buffer
  responderCookie: Buffer
  encryptionKey: Buffer
  cipher: string
}

interface EspEntry {
  binding: number
  spi: number
  direction: string
  peer: string
  suite: string
  encryptionKey: Buffer
  integrityKey: Buffer
  udpEncapsulated: boolean
}

export interface KeyLedgerOptions {
  /** Our address as peers see it (the listen address); unspecified: "*" in the ESP records. */
  localAddress: string
  onRecord?: (lines: string[]) => void
}

const anyIfUnspecified = (address: string) => (address === '' || address === '0.0.0.0' || address === '::' ? '*' : address)

/** "203.0.113.7:4500", "[2001:db8::7]:0" -> the address. */
function hostOf(peer: string): string {
  return peer.slice(0, peer.lastIndexOf(':')).replace(/^\[|\]$/g, '')
}

export class KeyLedger {
  private readonly ike = new Map<string, IkeEntry>()
  private readonly esp = new Map<string, EspEntry>()
  private readonly local: string

  constructor(private readonly o: KeyLedgerOptions) {
    this.local = anyIfUnspecified(o.localAddress)
  }

  /** An IKE SA is up: its Phase 1 keys are copied from the endpoint. */
  ikeUp({ ikeSa, peer }: { ikeSa: string; peer: { address: string; port: number } }, endpoint: IkeEndpoint): void {
    const k = endpoint.exportKeys(ikeSa)
    if (!k) return
    this.ikeDown(ikeSa)
    const entry: IkeEntry = {
      peer: `${peer.address}:${peer.port}`,
      initiatorCookie: Buffer.from(k.initiatorCookie),
      responderCookie: Buffer.from(k.responderCookie),
      encryptionKey: Buffer.from(k.encryptionKey),
      cipher: k.cipher === 'des3' ? '3DES-CBC' : `AES-${k.encryptionKey.length * 8}-CBC`,
    }
    this.ike.set(ikeSa, entry)
    this.o.onRecord?.(wiresharkKeyLines({ ike: [ikeRecord(ikeSa, entry)], esp: [] }))
  }

  ikeDown(ikeSa: string): void {
    const k = this.ike.get(ikeSa)
    if (!k) return
    k.encryptionKey.fill(0)
    this.ike.delete(ikeSa)
  }

  /** The data plane as the control plane uses it, with every SA installed or removed noted here first. */
  watch(port: DataPlanePort): DataPlanePort {
    return {
      installSa: (sa) => {
        port.installSa(sa)
        this.espInstalled(sa)
      },
      removeSa: (spi, direction) => {
        this.espRemoved(spi, direction)
        return port.removeSa(spi, direction)
      },
      sendControl: (data, offsets, meta) => port.sendControl(data, offsets, meta),
      upsertSession: (s) => port.upsertSession(s),
      removeSession: (id) => port.removeSession(id),
      stats: () => port.stats(),
      sessionStats: (id) => port.sessionStats(id),
      ...(port.changedSessionCounters ? { changedSessionCounters: () => port.changedSessionCounters!() } : {}),
      ...(port.saStats ? { saStats: (spi: number, direction: string) => port.saStats!(spi, direction) } : {}),
      ...(port.setKeepalive ? { setKeepalive: (session: number, keepalive: Parameters<NonNullable<DataPlanePort['setKeepalive']>>[1]) => port.setKeepalive!(session, keepalive) } : {}),
    }
  }

  /** The live SAs' keys (hex copies). */
  snapshot(): KeyExport {
    return { ike: [...this.ike].map(([id, k]) => ikeRecord(id, k)), esp: [...this.esp.values()].map((k) => this.espRecord(k)) }
  }

  /** Zeroes and forgets everything (server closing). */
  clear(): void {
    for (const id of [...this.ike.keys()]) this.ikeDown(id)
    for (const k of [...this.esp.values()]) this.espRemoved(k.spi, k.direction)
  }

  private espInstalled(sa: SaOptions): void {
    this.espRemoved(sa.spi, sa.direction)
    const entry: EspEntry = {
      binding: sa.binding,
      spi: sa.spi,
      direction: sa.direction,
      peer: anyIfUnspecified(hostOf(sa.peer)),
      suite: sa.suite,
      encryptionKey: Buffer.from(sa.encryptionKey),
      integrityKey: Buffer.from(sa.integrityKey ?? Buffer.alloc(0)),
      udpEncapsulated: (sa.encap ?? 'udp') === 'udp',
    }
    this.esp.set(`${sa.spi}/${sa.direction}`, entry)
    this.o.onRecord?.(wiresharkKeyLines({ ike: [], esp: [this.espRecord(entry)] }))
  }

  private espRemoved(spi: number, direction: string): void {
    const key = `${spi}/${direction}`
    const k = this.esp.get(key)
    if (!k) return
    k.encryptionKey.fill(0)
    k.integrityKey.fill(0)
    this.esp.delete(key)
  }

  private espRecord(k: EspEntry): EspKeyRecord {
    const inbound = k.direction === 'in'
    return {
      binding: k.binding,
      spi: k.spi,
      source: inbound ? k.peer : this.local,
      destination: inbound ? this.local : k.peer,
      suite: k.suite,
      encryptionKey: k.encryptionKey.toString('hex'),
      integrityKey: k.integrityKey.toString('hex'),
      udpEncapsulated: k.udpEncapsulated,
    }
  }
}

function ikeRecord(ikeSa: string, k: IkeEntry): IkeKeyRecord {
  return {
    ikeSa,
    peer: k.peer,
    initiatorCookie: k.initiatorCookie.toString('hex'),
    responderCookie: k.responderCookie.toString('hex'),
    encryptionKey: k.encryptionKey.toString('hex'),
    cipher: k.cipher,
  }
}
