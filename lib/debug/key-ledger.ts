/**
 * The keys of the live IKE and ESP SAs, kept only when the operator asked
 * for them (`serve --keylog FILE`, `admin.allowKeyExport`), for Wireshark.
 * It watches the IKE events the control plane handles: an IKE SA's Phase 1
 * key is read from the endpoint when the SA comes up, an ESP pair's keys
 * come with child-sa-up. Its own copies are zeroed when the SA goes away.
 * Each new record is also handed to `onRecord` (the keylog file), as lines
 * of wireshark-keys.ts.
 */
import type { IkeEndpoint } from '../ike/endpoint.js'
import type { Endpoint, IkeEvent } from '../ike/types.js'
import { wiresharkKeyLines, type EspKeyRecord, type IkeKeyRecord, type KeyExport } from './wireshark-keys.js'

interface IkeEntry {
  peer: Endpoint
  local: Endpoint
  initiatorCookie: Buffer
  responderCookie: Buffer
  encryptionKey: Buffer
  cipher: string
}

interface EspEntry {
  ikeSa: string
  spi: number
  source: string
  destination: string
  suite: string
  encryptionKey: Buffer
  integrityKey: Buffer
  udpEncapsulated: boolean
}

const anyIfUnspecified = (address: string) => (address === '' || address === '0.0.0.0' || address === '::' ? '*' : address)

export class KeyLedger {
  private readonly ike = new Map<string, IkeEntry>()
  private readonly esp = new Map<number, EspEntry>()

  /** `onRecord`: each new SA's lines (wireshark-keys.ts), e.g. to append to the keylog. */
  constructor(private readonly onRecord?: (lines: string[]) => void) {}

  /** Called with every IKE event before the control plane acts on it (it may zero the keys afterwards). */
  observe(e: IkeEvent, endpoint: IkeEndpoint): void {
    switch (e.type) {
      case 'ike-sa-up': {
        const k = endpoint.exportKeys(e.ikeSa)
        if (!k) return
        const entry: IkeEntry = {
          peer: { ...e.peer },
          local: { ...e.local },
          initiatorCookie: Buffer.from(k.initiatorCookie),
          responderCookie: Buffer.from(k.responderCookie),
          encryptionKey: Buffer.from(k.encryptionKey),
          cipher: k.cipher === 'des3' ? '3DES-CBC' : `AES-${k.encryptionKey.length * 8}-CBC`,
        }
        this.dropIke(e.ikeSa)
        this.ike.set(e.ikeSa, entry)
        this.onRecord?.(wiresharkKeyLines({ ike: [ikeRecord(e.ikeSa, entry)], esp: [] }))
        return
      }
      case 'ike-sa-down':
        this.dropIke(e.ikeSa)
        return
      case 'child-sa-up': {
        const local = anyIfUnspecified(this.ike.get(e.ikeSa)?.local.address ?? '')
        const peer = anyIfUnspecified(e.peer.address)
        const pair: EspEntry[] = [
          { ikeSa: e.ikeSa, spi: e.inbound.spi, source: peer, destination: local, suite: e.inbound.suite, encryptionKey: Buffer.from(e.inbound.encryptionKey), integrityKey: Buffer.from(e.inbound.integrityKey), udpEncapsulated: e.udpEncapsulated },
          { ikeSa: e.ikeSa, spi: e.outbound.spi, source: local, destination: peer, suite: e.outbound.suite, encryptionKey: Buffer.from(e.outbound.encryptionKey), integrityKey: Buffer.from(e.outbound.integrityKey), udpEncapsulated: e.udpEncapsulated },
        ]
        for (const sa of pair) {
          this.dropEsp(sa.spi)
          this.esp.set(sa.spi, sa)
        }
        this.onRecord?.(wiresharkKeyLines({ ike: [], esp: pair.map(espRecord) }))
        return
      }
      case 'child-sa-down':
        this.dropEsp(e.inboundSpi)
        this.dropEsp(e.outboundSpi)
        return
      default:
        return
    }
  }

  /** The live SAs' keys (hex copies). */
  snapshot(): KeyExport {
    return { ike: [...this.ike].map(([id, k]) => ikeRecord(id, k)), esp: [...this.esp.values()].map(espRecord) }
  }

  /** Zeroes and forgets everything (server closing). */
  clear(): void {
    for (const id of [...this.ike.keys()]) this.dropIke(id)
    for (const spi of [...this.esp.keys()]) this.dropEsp(spi)
  }

  get size(): { ike: number; esp: number } {
    return { ike: this.ike.size, esp: this.esp.size }
  }

  private dropIke(id: string): void {
    const k = this.ike.get(id)
    if (!k) return
    k.encryptionKey.fill(0)
    this.ike.delete(id)
  }

  private dropEsp(spi: number): void {
    const k = this.esp.get(spi)
    if (!k) return
    k.encryptionKey.fill(0)
    k.integrityKey.fill(0)
    this.esp.delete(spi)
  }
}

function ikeRecord(ikeSa: string, k: IkeEntry): IkeKeyRecord {
  return {
    ikeSa,
    peer: `${k.peer.address}:${k.peer.port}`,
    initiatorCookie: k.initiatorCookie.toString('hex'),
    responderCookie: k.responderCookie.toString('hex'),
    encryptionKey: k.encryptionKey.toString('hex'),
    cipher: k.cipher,
  }
}

function espRecord(k: EspEntry): EspKeyRecord {
  return { ikeSa: k.ikeSa, spi: k.spi, source: k.source, destination: k.destination, suite: k.suite, encryptionKey: k.encryptionKey.toString('hex'), integrityKey: k.integrityKey.toString('hex'), udpEncapsulated: k.udpEncapsulated }
}
