/**
 * IPv6 Neighbor Discovery over a PPP link, the router's part (RFC 4861 with
 * RFC 5072 5 and RFC 8106): Router Solicitations in, Router Advertisements
 * out, as PPP frames. Sans-IO and stateless; the server decides when to
 * send (lib/server/server-control-plane.ts).
 *
 * - `parseRouterSolicitation(frame)` takes a PPP frame of protocol 0x0057
 *   (with or without FF 03, with a one- or two-byte protocol) and applies
 *   the validity checks of RFC 4861 6.1.1: hop limit 255, ICMPv6 checksum,
 *   code 0, ICMP length >= 8, every option's length > 0, and no Source
 *   Link-Layer Address option when the source is unspecified.
 * - `buildRouterAdvertisement(options)` makes the frame we send: FF 03,
 *   protocol 0x0057 (the frames PppLink sends look the same; a receiver must
 *   accept the uncompressed form whatever was negotiated, RFC 1661 6.5,
 *   6.6), then IPv6 from fe80::<our interface identifier> to ff02::1 (or
 *   the solicitor) with hop limit 255, and an RA: Cur Hop Limit 64, M=0
 *   O=0, Router Lifetime 1800 s, Reachable and Retrans Time 0, one Prefix
 *   Information option (L=1 A=1, valid 86400 s, preferred 14400 s), the MTU
 *   option, and an RDNSS option (RFC 8106) when DNS servers are given.
 *
 * A PPP link has no link-layer addresses, so the RA carries no Source
 * Link-Layer Address option (optional in RFC 4861 4.2).
 */
import { decodeFrame, encodeFrame } from './codec.js'
import { Protocol } from './constants.js'
import { formatIpv6, parseIpv6, parseIpv6Prefix } from '../pool/ipv6.js'

export const ICMPV6 = 58
export const ROUTER_SOLICITATION = 133
export const ROUTER_ADVERTISEMENT = 134
/** RFC 4861 4.6 option types, and RDNSS (RFC 8106 5.1). */
export const NdOption = { SOURCE_LINK_LAYER: 1, TARGET_LINK_LAYER: 2, PREFIX_INFORMATION: 3, REDIRECTED_HEADER: 4, MTU: 5, RDNSS: 25 } as const

/** The defaults RFC 4861 6.2.1 suggests, as the issue asks for them. */
export const RA_DEFAULTS = {
  curHopLimit: 64,
  routerLifetime: 1800,
  validLifetime: 86400,
  preferredLifetime: 14400,
} as const

const IPV6_HEADER = 40
const ALL_NODES = 'ff02::1'

export type RouterSolicitationResult =
  | {
      ok: true
      /** The solicitor's address ('::' when unspecified). */
      source: string
      destination: string
      /** The Source Link-Layer Address option, if present (PPP peers rarely send one). */
      sourceLinkLayer: Buffer | undefined
    }
  | { ok: false; reason: string }

/** Whether a PPP frame carries IPv6 (protocol 0x0057), without checking further. */
export function isIpv6Frame(frame: Buffer): boolean {
  try {
    return decodeFrame(frame).protocol === Protocol.IPV6
  } catch {
    return false
  }
}

/** A PPP frame holding an ICMPv6 Router Solicitation, checked as RFC 4861 6.1.1 says; `ok: false` names what failed. */
export function parseRouterSolicitation(frame: Buffer): RouterSolicitationResult {
  let information: Buffer
  try {
    const decoded = decodeFrame(frame)
    if (decoded.protocol !== Protocol.IPV6) return { ok: false, reason: `PPP protocol 0x${decoded.protocol.toString(16).padStart(4, '0')} is not IPv6` }
    information = decoded.information
  } catch (e) {
    return { ok: false, reason: `bad PPP frame: ${(e as Error).message}` }
  }
  const ip = parseIpv6Header(information)
  if (!ip.ok) return ip
  if (ip.nextHeader !== ICMPV6) return { ok: false, reason: `next header ${ip.nextHeader} is not ICMPv6` }
  const icmp = ip.payload
  if (icmp.length < 8) return { ok: false, reason: `ICMPv6 length ${icmp.length} is below 8` }
  if (icmp[0] !== ROUTER_SOLICITATION) return { ok: false, reason: `ICMPv6 type ${icmp[0]} is not a Router Solicitation` }
  if (ip.hopLimit !== 255) return { ok: false, reason: `hop limit ${ip.hopLimit} is not 255 (RFC 4861 6.1.1)` }
  if (icmpv6Checksum(ip.source, ip.destination, icmp) !== 0) return { ok: false, reason: 'bad ICMPv6 checksum' }
  if (icmp[1] !== 0) return { ok: false, reason: `ICMPv6 code ${icmp[1]} is not 0` }
  const options = parseNdOptions(icmp.subarray(8))
  if (!options.ok) return options
  const unspecified = ip.source.equals(Buffer.alloc(16))
  const sll = options.options.find((o) => o.type === NdOption.SOURCE_LINK_LAYER)
  if (unspecified && sll) return { ok: false, reason: 'Source Link-Layer Address option from the unspecified address (RFC 4861 6.1.1)' }
  return { ok: true, source: formatIpv6(bufferToBigint(ip.source)), destination: formatIpv6(bufferToBigint(ip.destination)), sourceLinkLayer: sll?.data }
}

export interface RouterAdvertisementOptions {
  /** Our IPV6CP interface identifier (16 hex digits): the source is fe80::<it> (RFC 5072 5). */
  interfaceId: string
  /** Default ff02::1 (all nodes); the solicitor's address for a unicast answer. */
  destination?: string
  /** The session's prefix, "2001:db8:42:1::/64". */
  prefix: string
  /** The link MTU to advertise (the MTU option); left out when undefined or below IPv6's 1280. */
  mtu?: number
  /** Recursive DNS servers (RFC 8106); no RDNSS option when empty. */
  dns?: readonly string[]
  /** Seconds; defaults in RA_DEFAULTS. */
  routerLifetime?: number
  validLifetime?: number
  preferredLifetime?: number
  curHopLimit?: number
  /** RDNSS lifetime in seconds (default the router lifetime, which is >= 3 x our ~200 s advertisement interval, RFC 8106 5.1). */
  dnsLifetime?: number
}

export class NdError extends Error {
  override readonly name = 'NdError'
}

/** The link-local address made from an interface identifier (16 hex digits), fe80::/64 + it. */
export function linkLocalFromInterfaceId(interfaceId: string): string {
  return formatIpv6(bufferToBigint(linkLocalBytes(interfaceId)))
}

/** The Router Advertisement as a PPP frame (FF 03 00 57, IPv6, ICMPv6). */
export function buildRouterAdvertisement(options: RouterAdvertisementOptions): Buffer {
  return encodeFrame({ protocol: Protocol.IPV6, information: buildRouterAdvertisementPacket(options) })
}

/** The Router Advertisement as an IPv6 packet. */
export function buildRouterAdvertisementPacket(options: RouterAdvertisementOptions): Buffer {
  const source = linkLocalBytes(options.interfaceId)
  const destination = addressBytes(options.destination ?? ALL_NODES, 'destination')
  const prefix = parseIpv6Prefix(options.prefix)
  if (!prefix || !options.prefix.includes('/')) throw new NdError(`prefix ${JSON.stringify(options.prefix)} is not "network/length" without host bits`)
  const routerLifetime = u(options.routerLifetime ?? RA_DEFAULTS.routerLifetime, 0xffff, 'routerLifetime')
  const valid = u(options.validLifetime ?? RA_DEFAULTS.validLifetime, 0xffff_ffff, 'validLifetime')
  const preferred = u(options.preferredLifetime ?? RA_DEFAULTS.preferredLifetime, 0xffff_ffff, 'preferredLifetime')
  if (preferred > valid) throw new NdError('preferredLifetime must not exceed validLifetime (RFC 4862 5.5.3 c)')
  const dns = options.dns ?? []

  const parts: Buffer[] = []
  // RA header (RFC 4861 4.2): type, code, checksum, cur hop limit, M|O, router lifetime, reachable, retrans
  const header = Buffer.alloc(16)
  header[0] = ROUTER_ADVERTISEMENT
  header[4] = u(options.curHopLimit ?? RA_DEFAULTS.curHopLimit, 0xff, 'curHopLimit')
  header[5] = 0 // M=0 O=0: addresses by SLAAC, nothing from DHCPv6
  header.writeUInt16BE(routerLifetime, 6)
  parts.push(header)
  // Prefix Information (4.6.2): type 3, length 4, prefix length, L|A, valid, preferred, reserved, prefix
  const pio = Buffer.alloc(32)
  pio[0] = NdOption.PREFIX_INFORMATION
  pio[1] = 4
  pio[2] = prefix.length
  pio[3] = 0xc0
  pio.writeUInt32BE(valid, 4)
  pio.writeUInt32BE(preferred, 8)
  bigintToBuffer(prefix.network).copy(pio, 16)
  parts.push(pio)
  // MTU (4.6.4): type 5, length 1, reserved, MTU
  if (options.mtu !== undefined && options.mtu >= 1280) {
    const mtu = Buffer.alloc(8)
    mtu[0] = NdOption.MTU
    mtu[1] = 1
    mtu.writeUInt32BE(u(options.mtu, 0xffff_ffff, 'mtu'), 4)
    parts.push(mtu)
  }
  // RDNSS (RFC 8106 5.1): type 25, length 1 + 2n, reserved, lifetime, addresses
  if (dns.length > 0) {
    const rdnss = Buffer.alloc(8 + 16 * dns.length)
    rdnss[0] = NdOption.RDNSS
    rdnss[1] = 1 + 2 * dns.length
    rdnss.writeUInt32BE(u(options.dnsLifetime ?? routerLifetime, 0xffff_ffff, 'dnsLifetime'), 4)
    dns.forEach((d, i) => addressBytes(d, 'dns').copy(rdnss, 8 + 16 * i))
    parts.push(rdnss)
  }
  const icmp = Buffer.concat(parts)
  icmp.writeUInt16BE(icmpv6Checksum(source, destination, icmp), 2)
  const ip = Buffer.alloc(IPV6_HEADER)
  ip.writeUInt32BE(0x6000_0000, 0)
  ip.writeUInt16BE(icmp.length, 4)
  ip[6] = ICMPV6
  ip[7] = 255
  source.copy(ip, 8)
  destination.copy(ip, 24)
  return Buffer.concat([ip, icmp])
}

export interface ParsedRouterAdvertisement {
  source: string
  destination: string
  hopLimit: number
  curHopLimit: number
  managed: boolean
  other: boolean
  routerLifetime: number
  reachableTime: number
  retransTimer: number
  prefixes: { prefix: string; onLink: boolean; autonomous: boolean; validLifetime: number; preferredLifetime: number }[]
  mtu: number | undefined
  dns: { lifetime: number; servers: string[] } | undefined
  checksumOk: boolean
}

/** Reads a Router Advertisement (an IPv6 packet, or a PPP frame when `ppp`): for tests and diagnostics. */
export function parseRouterAdvertisement(data: Buffer, ppp = false): ParsedRouterAdvertisement {
  const information = ppp ? decodeFrame(data).information : data
  const ip = parseIpv6Header(information)
  if (!ip.ok) throw new NdError(ip.reason)
  const icmp = ip.payload
  if (ip.nextHeader !== ICMPV6 || icmp.length < 16 || icmp[0] !== ROUTER_ADVERTISEMENT) throw new NdError('not a Router Advertisement')
  const options = parseNdOptions(icmp.subarray(16))
  if (!options.ok) throw new NdError(options.reason)
  const out: ParsedRouterAdvertisement = {
    source: formatIpv6(bufferToBigint(ip.source)),
    destination: formatIpv6(bufferToBigint(ip.destination)),
    hopLimit: ip.hopLimit,
    curHopLimit: icmp[4]!,
    managed: (icmp[5]! & 0x80) !== 0,
    other: (icmp[5]! & 0x40) !== 0,
    routerLifetime: icmp.readUInt16BE(6),
    reachableTime: icmp.readUInt32BE(8),
    retransTimer: icmp.readUInt32BE(12),
    prefixes: [],
    mtu: undefined,
    dns: undefined,
    checksumOk: icmpv6Checksum(ip.source, ip.destination, icmp) === 0,
  }
  for (const o of options.options) {
    if (o.type === NdOption.PREFIX_INFORMATION && o.data.length === 30) {
      out.prefixes.push({
        prefix: `${formatIpv6(bufferToBigint(o.data.subarray(14, 30)))}/${o.data[0]}`,
        onLink: (o.data[1]! & 0x80) !== 0,
        autonomous: (o.data[1]! & 0x40) !== 0,
        validLifetime: o.data.readUInt32BE(2),
        preferredLifetime: o.data.readUInt32BE(6),
      })
    } else if (o.type === NdOption.MTU && o.data.length === 6) {
      out.mtu = o.data.readUInt32BE(2)
    } else if (o.type === NdOption.RDNSS && o.data.length >= 22) {
      const servers: string[] = []
      for (let at = 6; at + 16 <= o.data.length; at += 16) servers.push(formatIpv6(bufferToBigint(o.data.subarray(at, at + 16))))
      out.dns = { lifetime: o.data.readUInt32BE(2), servers }
    }
  }
  return out
}

/**
 * The ICMPv6 checksum (RFC 4443 2.3) over the pseudo-header of RFC 8200
 * 8.1 and `icmp` as it is: 0 for a packet whose checksum field is right;
 * with the field zeroed, the value to put in it.
 */
export function icmpv6Checksum(source: Buffer, destination: Buffer, icmp: Buffer): number {
  let sum = 0
  const add = (b: Buffer) => {
    for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i)
    if (b.length % 2) sum += b[b.length - 1]! << 8
  }
  add(source)
  add(destination)
  sum += (icmp.length >>> 16) + (icmp.length & 0xffff)
  sum += ICMPV6
  add(icmp)
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return ~sum & 0xffff
}

// --- internals ------------------------------------------------------------------

type Ipv6Header = { ok: true; nextHeader: number; hopLimit: number; source: Buffer; destination: Buffer; payload: Buffer } | { ok: false; reason: string }

function parseIpv6Header(packet: Buffer): Ipv6Header {
  if (packet.length < IPV6_HEADER) return { ok: false, reason: `IPv6 packet of ${packet.length} bytes is shorter than its header` }
  if (packet[0]! >> 4 !== 6) return { ok: false, reason: `IP version ${packet[0]! >> 4} is not 6` }
  const payloadLength = packet.readUInt16BE(4)
  if (IPV6_HEADER + payloadLength > packet.length) return { ok: false, reason: `IPv6 payload length ${payloadLength} runs past the frame (${packet.length - IPV6_HEADER} bytes)` }
  return {
    ok: true,
    nextHeader: packet[6]!,
    hopLimit: packet[7]!,
    source: packet.subarray(8, 24),
    destination: packet.subarray(24, 40),
    payload: packet.subarray(IPV6_HEADER, IPV6_HEADER + payloadLength),
  }
}

type NdOptions = { ok: true; options: { type: number; data: Buffer }[] } | { ok: false; reason: string }

/** Type, Length (in 8-byte units, never 0: RFC 4861 4.6), data. */
function parseNdOptions(bytes: Buffer): NdOptions {
  const options: { type: number; data: Buffer }[] = []
  for (let at = 0; at < bytes.length; ) {
    if (at + 2 > bytes.length) return { ok: false, reason: 'option truncated' }
    const length = bytes[at + 1]! * 8
    if (length === 0) return { ok: false, reason: `option type ${bytes[at]} has length 0 (RFC 4861 6.1.1)` }
    if (at + length > bytes.length) return { ok: false, reason: `option type ${bytes[at]} runs past the message` }
    options.push({ type: bytes[at]!, data: bytes.subarray(at + 2, at + length) })
    at += length
  }
  return { ok: true, options }
}

function linkLocalBytes(interfaceId: string): Buffer {
  if (!/^[0-9a-fA-F]{16}$/.test(interfaceId)) throw new NdError(`interface identifier ${JSON.stringify(interfaceId)} is not 16 hex digits`)
  const b = Buffer.alloc(16)
  b[0] = 0xfe
  b[1] = 0x80
  Buffer.from(interfaceId, 'hex').copy(b, 8)
  return b
}

function addressBytes(text: string, what: string): Buffer {
  const value = parseIpv6(text)
  if (value === undefined) throw new NdError(`${what} ${JSON.stringify(text)} is not an IPv6 address`)
  return bigintToBuffer(value)
}

function bigintToBuffer(value: bigint): Buffer {
  const b = Buffer.alloc(16)
  b.writeBigUInt64BE(value >> 64n, 0)
  b.writeBigUInt64BE(value & 0xffff_ffff_ffff_ffffn, 8)
  return b
}

function bufferToBigint(b: Buffer): bigint {
  return (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8)
}

function u(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new NdError(`${what} must be an integer from 0 to ${max}, got ${value}`)
  return value
}
