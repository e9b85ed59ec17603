// Attribute values by data type (RFC 2865 5, RFC 8044): building the ones
// we send and reading the ones we receive. A value of the wrong size is a
// RadiusCodecError('RADIUS_BAD_VALUE'): RFC 2865 5 says a reply with an
// invalid attribute is to be treated as a reject, so readers never guess.
import { isIPv4, isIPv6 } from 'node:net'
import { RadiusCodecError, encodeVendorAttribute, type RadiusAttribute } from './codec.js'
import { Attr } from './dictionary.js'

function bad(message: string): RadiusCodecError {
  return new RadiusCodecError('RADIUS_BAD_VALUE', message)
}

export function ipv4Bytes(address: string): Buffer {
  if (!isIPv4(address)) throw bad(`${JSON.stringify(address)} is not an IPv4 address`)
  return Buffer.from(address.split('.').map(Number))
}

export function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address)) throw bad(`${JSON.stringify(address)} is not an IPv6 address`)
  let text = address.replace(/%.*$/, '')
  // a dotted-quad tail ("::ffff:192.0.2.1") becomes two hex groups
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const v4 = ipv4Bytes(dotted[1]!)
    text = text.slice(0, dotted.index) + `${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)))
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  const out = Buffer.alloc(16)
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2))
  return out
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as "::". */
export function formatIpv6(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2))
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { best = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best < 0) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`
}

/** Builders for the values we send. */
export const attr = {
  string: (type: number, text: string): RadiusAttribute => ({ type, value: Buffer.from(text, 'utf8') }),
  octets: (type: number, value: Buffer): RadiusAttribute => ({ type, value }),
  integer(type: number, n: number): RadiusAttribute {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw bad(`attribute ${type}: ${n} is not a 32-bit unsigned integer`)
    const value = Buffer.alloc(4)
    value.writeUInt32BE(n)
    return { type, value }
  },
  ipv4: (type: number, address: string): RadiusAttribute => ({ type, value: ipv4Bytes(address) }),
  ipv6: (type: number, address: string): RadiusAttribute => ({ type, value: ipv6Bytes(address) }),
  /** RFC 2868 3.1: Tag (1 byte) + 3-byte value, for Tunnel-Type and Tunnel-Medium-Type. */
  tagged(type: number, tag: number, n: number): RadiusAttribute {
    const value = Buffer.alloc(4)
    value.writeUInt32BE(n)
    value[0] = tag
    return { type, value }
  },
  vendor: (vendor: number, type: number, value: Buffer): RadiusAttribute => encodeVendorAttribute(vendor, type, value),
}

/** Text (RFC 8044 3.4 says UTF-8; invalid sequences become U+FFFD rather than failing). */
export function readString(value: Buffer): string {
  return value.toString('utf8')
}

export function readInteger(value: Buffer, what = 'integer'): number {
  if (value.length !== 4) throw bad(`${what} of ${value.length} bytes, expected 4`)
  return value.readUInt32BE(0)
}

export function readIpv4(value: Buffer, what = 'IPv4 address'): string {
  if (value.length !== 4) throw bad(`${what} of ${value.length} bytes, expected 4`)
  return Array.from(value).join('.')
}

/** RFC 3162 2.3: Reserved, Prefix-Length, then ceil(length/8) bytes of prefix. */
export function readIpv6Prefix(value: Buffer): string {
  if (value.length < 2 || value.length > 18) throw bad(`Framed-IPv6-Prefix of ${value.length} bytes`)
  const length = value[1]!
  if (length > 128 || Math.ceil(length / 8) > value.length - 2) throw bad(`Framed-IPv6-Prefix length ${length} with ${value.length - 2} bytes of prefix`)
  const address = Buffer.alloc(16)
  value.copy(address, 0, 2)
  return `${formatIpv6(address)}/${length}`
}

export function ipv6Prefix(type: number, prefix: string): RadiusAttribute {
  const [address, length] = prefix.split('/')
  const bits = Number(length)
  if (!Number.isInteger(bits) || bits < 0 || bits > 128) throw bad(`${JSON.stringify(prefix)} is not an IPv6 prefix`)
  const bytes = ipv6Bytes(address ?? '').subarray(0, Math.ceil(bits / 8))
  return { type, value: Buffer.concat([Buffer.from([0, bits]), bytes]) }
}

/** The first value of `type`. */
export function first(attributes: readonly RadiusAttribute[], type: number): Buffer | undefined {
  return attributes.find((a) => a.type === type)?.value
}

/** Every value of `type`, in order. */
export function all(attributes: readonly RadiusAttribute[], type: number): Buffer[] {
  return attributes.filter((a) => a.type === type).map((a) => a.value)
}

/** RFC 3579 3.1: one EAP packet as EAP-Message attributes of at most 253 bytes each. */
export function splitEapMessage(packet: Buffer): RadiusAttribute[] {
  const chunks: RadiusAttribute[] = []
  for (let offset = 0; offset < packet.length; offset += 253) chunks.push({ type: Attr.EAP_MESSAGE, value: packet.subarray(offset, offset + 253) })
  return chunks
}

/** The EAP packet of a reply: its EAP-Message values concatenated, or undefined when there are none. */
export function joinEapMessage(attributes: readonly RadiusAttribute[]): Buffer | undefined {
  const parts = all(attributes, Attr.EAP_MESSAGE)
  return parts.length ? Buffer.concat(parts) : undefined
}
