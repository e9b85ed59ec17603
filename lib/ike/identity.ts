/**
 * IKE identities (RFC 2407 4.6.2) and addresses as bytes: what goes into ID
 * payloads, NAT-D hashes (RFC 3947 3.2) and NAT-OA payloads.
 */
import { isIPv4, isIPv6 } from 'node:net'
import type { IdPayload, PayloadInput } from './codec.js'
import { IdType, PayloadType } from './constants.js'

/** 4 bytes for IPv4 (also IPv4-mapped IPv6), 16 for IPv6. */
export function addressBytes(address: string): Buffer {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  const v4 = mapped ? mapped[1]! : address
  if (isIPv4(v4)) return Buffer.from(v4.split('.').map(Number))
  if (!isIPv6(address)) throw new Error(`not an IP address: ${address}`)
  const [head, tail] = address.split('::') as [string, string | undefined]
  const groups = (s: string | undefined) => (s ? s.split(':') : [])
  const h = groups(head)
  const t = groups(tail)
  // An embedded IPv4 tail ("::1.2.3.4") takes two groups.
  const expand = (g: string[]) =>
    g.flatMap((x) => (x.includes('.') ? (() => { const b = Buffer.from(x.split('.').map(Number)); return [b.readUInt16BE(0).toString(16), b.readUInt16BE(2).toString(16)] })() : [x]))
  const hh = expand(h)
  const tt = expand(t)
  const all = tail === undefined ? hh : [...hh, ...Array(8 - hh.length - tt.length).fill('0'), ...tt]
  const out = Buffer.alloc(16)
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

export function addressString(bytes: Buffer): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')
}

/** Our Phase 1 ID: an address, user@FQDN or FQDN (protocol and port 0, RFC 2407 4.6.2). */
export function idPayload(identity: string): PayloadInput {
  if (isIPv4(identity)) return { type: PayloadType.ID, idType: IdType.IPV4_ADDR, protocol: 0, port: 0, data: addressBytes(identity) }
  if (isIPv6(identity)) return { type: PayloadType.ID, idType: IdType.IPV6_ADDR, protocol: 0, port: 0, data: addressBytes(identity) }
  const idType = identity.includes('@') ? IdType.USER_FQDN : IdType.FQDN
  return { type: PayloadType.ID, idType, protocol: 0, port: 0, data: Buffer.from(identity, 'utf8') }
}

/** An ID in plain words for logs and events ("10.0.2.15", "fqdn:vpn.example.com"). */
export function describeId(id: Pick<IdPayload, 'idType' | 'data'>): string {
  switch (id.idType) {
    case IdType.IPV4_ADDR:
    case IdType.IPV6_ADDR:
      return id.data.length === 4 || id.data.length === 16 ? addressString(id.data) : `address:${id.data.toString('hex')}`
    case IdType.FQDN:
      return `fqdn:${id.data.toString('utf8')}`
    case IdType.USER_FQDN:
      return `user-fqdn:${id.data.toString('utf8')}`
    case IdType.DER_ASN1_DN:
      return `dn:${id.data.toString('hex')}`
    case IdType.IPV4_ADDR_SUBNET:
      return id.data.length === 8 ? `${addressString(id.data.subarray(0, 4))}/${addressString(id.data.subarray(4))}` : 'subnet'
    default:
      return `id-type-${id.idType}:${id.data.toString('hex')}`
  }
}
