/**
 * PPP codec: the frame carried in an L2TP data message (RFC 1661 2 with the
 * RFC 1662 Address/Control prefix, ACFC and PFC of RFC 1661 6.5, 6.6) and
 * the control packets that go up to the control plane: LCP, IPCP, IPV6CP,
 * CCP (RFC 1661 5), PAP (RFC 1334 2.2), CHAP (RFC 1994 4) and EAP (RFC 3748
 * 4). Pure functions over Buffers; no state, no crypto. The contents of
 * CHAP values and messages for MS-CHAPv2 are read by lib/ppp/mschapv2.ts.
 *
 * Every decoder throws only PppCodecError, whatever the input. Decoded
 * packets re-encode to the same bytes, except for padding after the Length
 * field (RFC 1661 5: ignored) and the cases named on each type.
 */
import { ADDRESS_CONTROL, ChapCode, Code, EapCode, IpcpOptionType, Ipv6cpOptionType, LcpOptionType, PapCode, Protocol } from './constants.js'

// --- errors -------------------------------------------------------------

/**
 * Stable codes of `PppCodecError`:
 * - `PPP_TRUNCATED`: the input ended inside a fixed-size field (the protocol
 *   field, the 4-byte packet header, a PAP length byte...) or before the
 *   length the packet header announces.
 * - `PPP_BAD_LENGTH`: a length field is impossible: a packet Length below 4,
 *   an option Length below 2 or reaching past its packet.
 * - `PPP_BAD_PROTOCOL`: the protocol field is not a valid PPP protocol
 *   number (its low byte is even, RFC 1661 2), or `decodeControl` was given
 *   a protocol it does not decode.
 * - `PPP_MALFORMED`: lengths are consistent but the contents are not (an
 *   Echo-Request shorter than its magic number, PAP fields that do not fill
 *   the packet, an EAP Request without a Type...).
 * - `PPP_BAD_VALUE`: from encoders and the auth functions: a field out of
 *   its wire range or of the wrong size.
 */
export type PppCodecErrorCode = 'PPP_TRUNCATED' | 'PPP_BAD_LENGTH' | 'PPP_BAD_PROTOCOL' | 'PPP_MALFORMED' | 'PPP_BAD_VALUE'

/** The only error the PPP codec and auth functions throw, on any input. */
export class PppCodecError extends Error {
  override readonly name = 'PppCodecError'
  readonly code: PppCodecErrorCode
  /** The PPP protocol being decoded, if known. */
  readonly protocol: number | undefined
  /** Byte offset in the buffer given to the decoder. */
  readonly offset: number | undefined

  constructor(code: PppCodecErrorCode, message: string, context: { protocol?: number; offset?: number } = {}) {
    super(message)
    this.code = code
    this.protocol = context.protocol
    this.offset = context.offset
  }
}

function checkInt(value: unknown, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new PppCodecError('PPP_BAD_VALUE', `${what} must be an integer from 0 to ${max}, got ${String(value)}`)
  }
  return value
}

function checkBuffer(value: unknown, what: string, maxLength = 0xffff): Buffer {
  if (!Buffer.isBuffer(value)) throw new PppCodecError('PPP_BAD_VALUE', `${what} must be a Buffer`)
  if (value.length > maxLength) throw new PppCodecError('PPP_BAD_VALUE', `${what} is ${value.length} bytes, at most ${maxLength} fit`)
  return value
}

/** A string (UTF-8) or bytes, as accepted by encoders for names, passwords and messages. */
export type Bytes = string | Buffer

/** The bytes of a string (UTF-8) or Buffer field, checked against a wire maximum. */
export function toBytes(value: Bytes, what: string, maxLength = 0xffff): Buffer {
  if (typeof value === 'string') return checkBuffer(Buffer.from(value, 'utf8'), what, maxLength)
  return checkBuffer(value, what, maxLength)
}

// --- frame --------------------------------------------------------------

/**
 * One PPP frame as carried after the L2TP data header (RFC 2661 3.1 carries
 * the frame without HDLC flags and FCS):
 *
 *   [ FF | 03 ]   Address and Control, omitted when ACFC was negotiated
 *   Protocol      2 bytes, or 1 when PFC was negotiated and the value < 0x100
 *   Information   the rest (with any padding)
 */
export interface PppFrame {
  /** Whether FF 03 was present (false: Address-and-Control-Field-Compression). */
  addressControl: boolean
  /** Whether the protocol field took one byte (Protocol-Field-Compression). */
  protocolCompressed: boolean
  protocol: number
  information: Buffer
}

/**
 * A frame's fields. The protocol is read per RFC 1661 2: an odd first byte
 * is a whole (compressed) protocol number; an even one is the high byte of
 * two, whose low byte must be odd. `information` is a view into `frame`.
 */
export function decodeFrame(frame: Buffer): PppFrame {
  if (!Buffer.isBuffer(frame)) throw new PppCodecError('PPP_TRUNCATED', 'frame is not a Buffer')
  let offset = 0
  const addressControl = frame.length >= 2 && frame[0] === ADDRESS_CONTROL[0] && frame[1] === ADDRESS_CONTROL[1]
  if (addressControl) offset = 2
  if (frame.length <= offset) throw new PppCodecError('PPP_TRUNCATED', 'frame ends before its protocol field', { offset })
  const first = frame[offset]!
  if (first & 1) {
    return { addressControl, protocolCompressed: true, protocol: first, information: frame.subarray(offset + 1) }
  }
  if (frame.length < offset + 2) throw new PppCodecError('PPP_TRUNCATED', 'frame ends inside its protocol field', { offset })
  const protocol = frame.readUInt16BE(offset)
  if ((protocol & 1) === 0) {
    throw new PppCodecError('PPP_BAD_PROTOCOL', `protocol 0x${protocol.toString(16).padStart(4, '0')} has an even low byte`, { offset, protocol })
  }
  return { addressControl, protocolCompressed: false, protocol, information: frame.subarray(offset + 2) }
}

/** What `encodeFrame` needs; the two compression flags default to false (the full FF 03 and a 2-byte protocol). */
export interface PppFrameInput {
  protocol: number
  information: Buffer
  addressControl?: boolean
  protocolCompressed?: boolean
}

/** A frame: FF 03 unless `addressControl` is false, the protocol (one byte if `protocolCompressed`), the information. */
export function encodeFrame(frame: PppFrameInput): Buffer {
  if (typeof frame !== 'object' || frame === null) throw new PppCodecError('PPP_BAD_VALUE', 'frame must be an object')
  const protocol = checkInt(frame.protocol, 0xffff, 'protocol')
  if ((protocol & 1) === 0 || (protocol & 0x100) !== 0) {
    throw new PppCodecError('PPP_BAD_VALUE', `0x${protocol.toString(16)} is not a valid PPP protocol number`)
  }
  const information = checkBuffer(frame.information, 'information', Infinity)
  const compressed = frame.protocolCompressed === true
  if (compressed && protocol > 0xff) throw new PppCodecError('PPP_BAD_VALUE', `protocol 0x${protocol.toString(16)} cannot be compressed to one byte`)
  const header = Buffer.alloc((frame.addressControl === false ? 0 : 2) + (compressed ? 1 : 2))
  let offset = 0
  if (frame.addressControl !== false) offset = ADDRESS_CONTROL.copy(header, 0)
  if (compressed) header[offset] = protocol
  else header.writeUInt16BE(protocol, offset)
  return Buffer.concat([header, information])
}

// --- the packet header shared by every control protocol ------------------

/**
 * The packet format of LCP (RFC 1661 5), which the NCPs, PAP, CHAP and EAP
 * share:
 *
 *   Code (1) | Identifier (1) | Length (2) | Data (Length - 4)
 *
 * Bytes after Length are padding and ignored (RFC 1661 5).
 */
export interface RawPacket {
  code: number
  identifier: number
  /** Length - 4 bytes after the header: a view into the input. */
  data: Buffer
}

/** The header and data of one control packet; `protocol` only names it in errors. */
export function decodeRawPacket(information: Buffer, protocol?: number): RawPacket {
  const context = protocol === undefined ? {} : { protocol }
  if (!Buffer.isBuffer(information)) throw new PppCodecError('PPP_TRUNCATED', 'packet is not a Buffer', context)
  if (information.length < 4) {
    throw new PppCodecError('PPP_TRUNCATED', `packet of ${information.length} bytes is shorter than its 4-byte header`, { ...context, offset: 0 })
  }
  const length = information.readUInt16BE(2)
  if (length < 4) throw new PppCodecError('PPP_BAD_LENGTH', `packet Length ${length} is below 4`, { ...context, offset: 2 })
  if (length > information.length) {
    throw new PppCodecError('PPP_TRUNCATED', `packet Length ${length} reaches past the ${information.length} bytes received`, { ...context, offset: 2 })
  }
  return { code: information[0]!, identifier: information[1]!, data: information.subarray(4, length) }
}

/** A control packet: code, identifier, Length = 4 + data, data. */
export function encodeRawPacket(code: number, identifier: number, data: Buffer): Buffer {
  const header = Buffer.alloc(4)
  header[0] = checkInt(code, 0xff, 'code')
  header[1] = checkInt(identifier, 0xff, 'identifier')
  header.writeUInt16BE(4 + checkBuffer(data, 'packet data', 0xffff - 4).length, 2)
  return Buffer.concat([header, data])
}

// --- configuration options ------------------------------------------------

/**
 * An option kept as it came: an unknown type (to be Configure-Rejected), or
 * a known type whose length is wrong for it (RFC 1661 6 gives each a fixed
 * length), which the state machine should treat the same way.
 */
export interface RawOption {
  kind: 'raw'
  type: number
  /** The bytes after the Type and Length bytes. */
  data: Buffer
}

/** Maximum-Receive-Unit (RFC 1661 6.1). */
export interface MruOption { kind: 'mru'; type: 1; mru: number }
/** Async-Control-Character-Map (RFC 1662 7.1), unsigned 32-bit. */
export interface AccmOption { kind: 'accm'; type: 2; accm: number }
/**
 * Authentication-Protocol (RFC 1661 6.2): the protocol, then for CHAP the
 * algorithm byte (5 MD5, 0x81 MS-CHAPv2: RFC 1994 3, RFC 2759 2), then any
 * further data. `algorithm` is undefined for other protocols, whose data
 * stays in `data`.
 */
export interface AuthProtocolOption { kind: 'auth-protocol'; type: 3; protocol: number; algorithm: number | undefined; data: Buffer }
/** Quality-Protocol (RFC 1661 6.3): protocol and its data. */
export interface QualityProtocolOption { kind: 'quality-protocol'; type: 4; protocol: number; data: Buffer }
/** Magic-Number (RFC 1661 6.4), unsigned 32-bit. */
export interface MagicNumberOption { kind: 'magic-number'; type: 5; magic: number }
/** Protocol-Field-Compression (RFC 1661 6.5). */
export interface PfcOption { kind: 'pfc'; type: 7 }
/** Address-and-Control-Field-Compression (RFC 1661 6.6). */
export interface AcfcOption { kind: 'acfc'; type: 8 }
/** Multilink Maximum-Received-Reconstructed-Unit (RFC 1990 5.1.1); Windows offers it and we reject it. */
export interface MrruOption { kind: 'mrru'; type: 17; mrru: number }

export type LcpOption =
  | MruOption
  | AccmOption
  | AuthProtocolOption
  | QualityProtocolOption
  | MagicNumberOption
  | PfcOption
  | AcfcOption
  | MrruOption
  | RawOption

/** IP-Addresses (RFC 1332 3.1, deprecated): source then destination, dotted quads. */
export interface IpAddressesOption { kind: 'ip-addresses'; type: 1; source: string; destination: string }
/** IP-Compression-Protocol (RFC 1332 3.2): the protocol (0x002d VJ) and its parameters, kept raw. */
export interface IpCompressionOption { kind: 'ip-compression'; type: 2; protocol: number; data: Buffer }
/** IP-Address (RFC 1332 3.3), a dotted quad; 0.0.0.0 asks the peer to Nak with one. */
export interface IpAddressOption { kind: 'ip-address'; type: 3; address: string }
/** DNS and NBNS server addresses (RFC 1877 1.1-1.4). */
export interface PrimaryDnsOption { kind: 'primary-dns'; type: 129; address: string }
export interface PrimaryNbnsOption { kind: 'primary-nbns'; type: 130; address: string }
export interface SecondaryDnsOption { kind: 'secondary-dns'; type: 131; address: string }
export interface SecondaryNbnsOption { kind: 'secondary-nbns'; type: 132; address: string }

export type IpcpOption =
  | IpAddressesOption
  | IpCompressionOption
  | IpAddressOption
  | PrimaryDnsOption
  | PrimaryNbnsOption
  | SecondaryDnsOption
  | SecondaryNbnsOption
  | RawOption

/** Interface-Identifier (RFC 5072 4.1): 8 bytes. */
export interface InterfaceIdentifierOption { kind: 'interface-identifier'; type: 1; identifier: Buffer }
/** IPv6-Compression-Protocol (RFC 5072 4.2): protocol and parameters, kept raw. */
export interface Ipv6CompressionOption { kind: 'ipv6-compression'; type: 2; protocol: number; data: Buffer }

export type Ipv6cpOption = InterfaceIdentifierOption | Ipv6CompressionOption | RawOption

/** Any configuration option. */
export type ConfigOption = LcpOption | IpcpOption | Ipv6cpOption

type OptionDecoder<O> = (type: number, data: Buffer) => O | undefined

function raw(type: number, data: Buffer): RawOption {
  return { kind: 'raw', type, data }
}

function ipv4(data: Buffer, offset = 0): string {
  return `${data[offset]}.${data[offset + 1]}.${data[offset + 2]}.${data[offset + 3]}`
}

function ipv4Bytes(address: unknown, what: string): Buffer {
  const parts = typeof address === 'string' ? address.split('.') : []
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new PppCodecError('PPP_BAD_VALUE', `${what} must be a dotted-quad IPv4 address, got ${String(address)}`)
  }
  return Buffer.from(parts.map(Number))
}

// Known option types with the wrong length come back undefined and are kept raw.
const decodeLcpOption: OptionDecoder<LcpOption> = (type, data) => {
  switch (type) {
    case LcpOptionType.MRU: return data.length === 2 ? { kind: 'mru', type, mru: data.readUInt16BE(0) } : undefined
    case LcpOptionType.ACCM: return data.length === 4 ? { kind: 'accm', type, accm: data.readUInt32BE(0) } : undefined
    case LcpOptionType.AUTH_PROTOCOL: {
      if (data.length < 2) return undefined
      const protocol = data.readUInt16BE(0)
      if (protocol === Protocol.CHAP && data.length >= 3) {
        return { kind: 'auth-protocol', type, protocol, algorithm: data[2]!, data: Buffer.from(data.subarray(3)) }
      }
      return { kind: 'auth-protocol', type, protocol, algorithm: undefined, data: Buffer.from(data.subarray(2)) }
    }
    case LcpOptionType.QUALITY_PROTOCOL:
      return data.length >= 2 ? { kind: 'quality-protocol', type, protocol: data.readUInt16BE(0), data: Buffer.from(data.subarray(2)) } : undefined
    case LcpOptionType.MAGIC_NUMBER: return data.length === 4 ? { kind: 'magic-number', type, magic: data.readUInt32BE(0) } : undefined
    case LcpOptionType.PFC: return data.length === 0 ? { kind: 'pfc', type } : undefined
    case LcpOptionType.ACFC: return data.length === 0 ? { kind: 'acfc', type } : undefined
    case LcpOptionType.MRRU: return data.length === 2 ? { kind: 'mrru', type, mrru: data.readUInt16BE(0) } : undefined
    default: return undefined
  }
}

const decodeIpcpOption: OptionDecoder<IpcpOption> = (type, data) => {
  switch (type) {
    case IpcpOptionType.IP_ADDRESSES: return data.length === 8 ? { kind: 'ip-addresses', type, source: ipv4(data, 0), destination: ipv4(data, 4) } : undefined
    case IpcpOptionType.IP_COMPRESSION:
      return data.length >= 2 ? { kind: 'ip-compression', type, protocol: data.readUInt16BE(0), data: Buffer.from(data.subarray(2)) } : undefined
    case IpcpOptionType.IP_ADDRESS: return data.length === 4 ? { kind: 'ip-address', type, address: ipv4(data) } : undefined
    case IpcpOptionType.PRIMARY_DNS: return data.length === 4 ? { kind: 'primary-dns', type, address: ipv4(data) } : undefined
    case IpcpOptionType.PRIMARY_NBNS: return data.length === 4 ? { kind: 'primary-nbns', type, address: ipv4(data) } : undefined
    case IpcpOptionType.SECONDARY_DNS: return data.length === 4 ? { kind: 'secondary-dns', type, address: ipv4(data) } : undefined
    case IpcpOptionType.SECONDARY_NBNS: return data.length === 4 ? { kind: 'secondary-nbns', type, address: ipv4(data) } : undefined
    default: return undefined
  }
}

const decodeIpv6cpOption: OptionDecoder<Ipv6cpOption> = (type, data) => {
  switch (type) {
    case Ipv6cpOptionType.INTERFACE_IDENTIFIER: return data.length === 8 ? { kind: 'interface-identifier', type, identifier: Buffer.from(data) } : undefined
    case Ipv6cpOptionType.IPV6_COMPRESSION:
      return data.length >= 2 ? { kind: 'ipv6-compression', type, protocol: data.readUInt16BE(0), data: Buffer.from(data.subarray(2)) } : undefined
    default: return undefined
  }
}

const decodeRawOption: OptionDecoder<RawOption> = () => undefined

/**
 * The options of a Configure-Request/Ack/Nak/Reject (RFC 1661 6):
 *
 *   Type (1) | Length (2 + data) | Data
 *
 * A Length below 2 or past the end of the packet makes the whole packet
 * malformed (RFC 1661 5: silently discard it).
 */
function decodeOptions<O>(data: Buffer, decode: OptionDecoder<O>, protocol: number): (O | RawOption)[] {
  const options: (O | RawOption)[] = []
  let offset = 0
  while (offset < data.length) {
    if (data.length - offset < 2) throw new PppCodecError('PPP_TRUNCATED', 'option header cut short', { protocol, offset: offset + 4 })
    const type = data[offset]!
    const length = data[offset + 1]!
    if (length < 2) throw new PppCodecError('PPP_BAD_LENGTH', `option ${type} has Length ${length}`, { protocol, offset: offset + 5 })
    if (offset + length > data.length) {
      throw new PppCodecError('PPP_BAD_LENGTH', `option ${type} of Length ${length} reaches past its packet`, { protocol, offset: offset + 5 })
    }
    const body = data.subarray(offset + 2, offset + length)
    options.push(decode(type, body) ?? raw(type, Buffer.from(body)))
    offset += length
  }
  return options
}

function optionBytes(type: number, data: Buffer): Buffer {
  if (data.length > 253) throw new PppCodecError('PPP_BAD_VALUE', `option ${type} data of ${data.length} bytes exceeds 253`)
  return Buffer.concat([Buffer.from([type, data.length + 2]), data])
}

function u16(value: unknown, what: string): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(checkInt(value, 0xffff, what))
  return b
}

function u32(value: unknown, what: string): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(checkInt(value, 0xffffffff, what))
  return b
}

/** One option on the wire: Type, Length, data. The `type` field of typed options is not read (the kind decides it). */
export function encodeOption(option: ConfigOption): Buffer {
  if (typeof option !== 'object' || option === null) throw new PppCodecError('PPP_BAD_VALUE', 'option must be an object')
  switch (option.kind) {
    case 'raw': return optionBytes(checkInt(option.type, 0xff, 'option type'), checkBuffer(option.data, 'option data'))
    case 'mru': return optionBytes(LcpOptionType.MRU, u16(option.mru, 'MRU'))
    case 'accm': return optionBytes(LcpOptionType.ACCM, u32(option.accm, 'ACCM'))
    case 'auth-protocol': {
      const algorithm = option.algorithm === undefined ? Buffer.alloc(0) : Buffer.from([checkInt(option.algorithm, 0xff, 'CHAP algorithm')])
      return optionBytes(LcpOptionType.AUTH_PROTOCOL, Buffer.concat([u16(option.protocol, 'auth protocol'), algorithm, checkBuffer(option.data, 'auth data')]))
    }
    case 'quality-protocol':
      return optionBytes(LcpOptionType.QUALITY_PROTOCOL, Buffer.concat([u16(option.protocol, 'quality protocol'), checkBuffer(option.data, 'quality data')]))
    case 'magic-number': return optionBytes(LcpOptionType.MAGIC_NUMBER, u32(option.magic, 'magic number'))
    case 'pfc': return optionBytes(LcpOptionType.PFC, Buffer.alloc(0))
    case 'acfc': return optionBytes(LcpOptionType.ACFC, Buffer.alloc(0))
    case 'mrru': return optionBytes(LcpOptionType.MRRU, u16(option.mrru, 'MRRU'))
    case 'ip-addresses':
      return optionBytes(IpcpOptionType.IP_ADDRESSES, Buffer.concat([ipv4Bytes(option.source, 'source address'), ipv4Bytes(option.destination, 'destination address')]))
    case 'ip-compression':
      return optionBytes(IpcpOptionType.IP_COMPRESSION, Buffer.concat([u16(option.protocol, 'compression protocol'), checkBuffer(option.data, 'compression data')]))
    case 'ip-address': return optionBytes(IpcpOptionType.IP_ADDRESS, ipv4Bytes(option.address, 'IP address'))
    case 'primary-dns': return optionBytes(IpcpOptionType.PRIMARY_DNS, ipv4Bytes(option.address, 'primary DNS'))
    case 'primary-nbns': return optionBytes(IpcpOptionType.PRIMARY_NBNS, ipv4Bytes(option.address, 'primary NBNS'))
    case 'secondary-dns': return optionBytes(IpcpOptionType.SECONDARY_DNS, ipv4Bytes(option.address, 'secondary DNS'))
    case 'secondary-nbns': return optionBytes(IpcpOptionType.SECONDARY_NBNS, ipv4Bytes(option.address, 'secondary NBNS'))
    case 'interface-identifier': {
      const identifier = checkBuffer(option.identifier, 'interface identifier')
      if (identifier.length !== 8) throw new PppCodecError('PPP_BAD_VALUE', 'interface identifier must be 8 bytes')
      return optionBytes(Ipv6cpOptionType.INTERFACE_IDENTIFIER, identifier)
    }
    case 'ipv6-compression':
      return optionBytes(Ipv6cpOptionType.IPV6_COMPRESSION, Buffer.concat([u16(option.protocol, 'compression protocol'), checkBuffer(option.data, 'compression data')]))
    default: {
      const unknown: { kind?: unknown } = option
      throw new PppCodecError('PPP_BAD_VALUE', `unknown option kind ${String(unknown.kind)}`)
    }
  }
}

/** Options concatenated, in order (RFC 1661 5.2-5.4: Ack, Nak and Reject keep the Request's order). */
export function encodeOptions(options: readonly ConfigOption[]): Buffer {
  if (!Array.isArray(options)) throw new PppCodecError('PPP_BAD_VALUE', 'options must be an array')
  return Buffer.concat(options.map(encodeOption))
}

// --- LCP and NCP packets --------------------------------------------------

/** Configure-Request (1), -Ack (2), -Nak (3), -Reject (4) (RFC 1661 5.1-5.4): the options. */
export interface ConfigurePacket<O> {
  kind: 'configure-request' | 'configure-ack' | 'configure-nak' | 'configure-reject'
  code: 1 | 2 | 3 | 4
  identifier: number
  options: O[]
}

/** Terminate-Request (5), -Ack (6) (RFC 1661 5.5): uninterpreted data. */
export interface TerminatePacket {
  kind: 'terminate-request' | 'terminate-ack'
  code: 5 | 6
  identifier: number
  data: Buffer
}

/** Code-Reject (7) (RFC 1661 5.6): the rejected packet, from its header, possibly truncated. */
export interface CodeRejectPacket {
  kind: 'code-reject'
  code: 7
  identifier: number
  rejected: Buffer
}

/** Protocol-Reject (8), LCP only (RFC 1661 5.7): the rejected protocol and the information of its frame. */
export interface ProtocolRejectPacket {
  kind: 'protocol-reject'
  code: 8
  identifier: number
  rejectedProtocol: number
  rejected: Buffer
}

/** Echo-Request (9), Echo-Reply (10), Discard-Request (11), LCP only (RFC 1661 5.8, 5.9): magic number and data. */
export interface EchoPacket {
  kind: 'echo-request' | 'echo-reply' | 'discard-request'
  code: 9 | 10 | 11
  identifier: number
  magic: number
  data: Buffer
}

/**
 * Any other code: Identification and Time-Remaining (RFC 1570), CCP's
 * Reset-Request/Ack (RFC 1962), codes 8-11 sent on an NCP, or a code
 * nobody defined (to be Code-Rejected).
 */
export interface OtherCodePacket {
  kind: 'other'
  code: number
  identifier: number
  data: Buffer
}

export type LcpPacket = ConfigurePacket<LcpOption> | TerminatePacket | CodeRejectPacket | ProtocolRejectPacket | EchoPacket | OtherCodePacket
export type NcpPacket<O> = ConfigurePacket<O> | TerminatePacket | CodeRejectPacket | OtherCodePacket
export type IpcpPacket = NcpPacket<IpcpOption>
export type Ipv6cpPacket = NcpPacket<Ipv6cpOption>
/** CCP options are all kept raw: the data plane does no compression, so they are only ever rejected. */
export type CcpPacket = NcpPacket<RawOption>

const CONFIGURE_KIND = { 1: 'configure-request', 2: 'configure-ack', 3: 'configure-nak', 4: 'configure-reject' } as const
const TERMINATE_KIND = { 5: 'terminate-request', 6: 'terminate-ack' } as const
const ECHO_KIND = { 9: 'echo-request', 10: 'echo-reply', 11: 'discard-request' } as const

function decodeLcpFamily<O>(information: Buffer, protocol: number, decodeOption: OptionDecoder<O>, lcp: boolean): ConfigurePacket<O | RawOption> | TerminatePacket | CodeRejectPacket | ProtocolRejectPacket | EchoPacket | OtherCodePacket {
  const { code, identifier, data } = decodeRawPacket(information, protocol)
  switch (code) {
    case Code.CONFIGURE_REQUEST:
    case Code.CONFIGURE_ACK:
    case Code.CONFIGURE_NAK:
    case Code.CONFIGURE_REJECT:
      return { kind: CONFIGURE_KIND[code], code, identifier, options: decodeOptions(data, decodeOption, protocol) }
    case Code.TERMINATE_REQUEST:
    case Code.TERMINATE_ACK:
      return { kind: TERMINATE_KIND[code], code, identifier, data: Buffer.from(data) }
    case Code.CODE_REJECT:
      return { kind: 'code-reject', code, identifier, rejected: Buffer.from(data) }
  }
  if (lcp) {
    switch (code) {
      case Code.PROTOCOL_REJECT:
        if (data.length < 2) throw new PppCodecError('PPP_MALFORMED', 'Protocol-Reject without a rejected protocol', { protocol, offset: 4 })
        return { kind: 'protocol-reject', code, identifier, rejectedProtocol: data.readUInt16BE(0), rejected: Buffer.from(data.subarray(2)) }
      case Code.ECHO_REQUEST:
      case Code.ECHO_REPLY:
      case Code.DISCARD_REQUEST:
        if (data.length < 4) throw new PppCodecError('PPP_MALFORMED', `${ECHO_KIND[code]} without a magic number`, { protocol, offset: 4 })
        return { kind: ECHO_KIND[code], code, identifier, magic: data.readUInt32BE(0), data: Buffer.from(data.subarray(4)) }
    }
  }
  return { kind: 'other', code, identifier, data: Buffer.from(data) }
}

export function decodeLcp(information: Buffer): LcpPacket {
  return decodeLcpFamily(information, Protocol.LCP, decodeLcpOption, true) as LcpPacket
}

export function decodeIpcp(information: Buffer): IpcpPacket {
  return decodeLcpFamily(information, Protocol.IPCP, decodeIpcpOption, false) as IpcpPacket
}

export function decodeIpv6cp(information: Buffer): Ipv6cpPacket {
  return decodeLcpFamily(information, Protocol.IPV6CP, decodeIpv6cpOption, false) as Ipv6cpPacket
}

export function decodeCcp(information: Buffer): CcpPacket {
  return decodeLcpFamily(information, Protocol.CCP, decodeRawOption, false) as CcpPacket
}

/** A packet of any protocol using the LCP packet format. */
export type LcpFamilyPacket = LcpPacket | IpcpPacket | Ipv6cpPacket | CcpPacket

/** The information field of an LCP, IPCP, IPV6CP or CCP packet. The `code` of a known kind is taken from the kind. */
export function encodeLcpFamily(packet: LcpFamilyPacket): Buffer {
  if (typeof packet !== 'object' || packet === null) throw new PppCodecError('PPP_BAD_VALUE', 'packet must be an object')
  switch (packet.kind) {
    case 'configure-request': return encodeRawPacket(Code.CONFIGURE_REQUEST, packet.identifier, encodeOptions(packet.options))
    case 'configure-ack': return encodeRawPacket(Code.CONFIGURE_ACK, packet.identifier, encodeOptions(packet.options))
    case 'configure-nak': return encodeRawPacket(Code.CONFIGURE_NAK, packet.identifier, encodeOptions(packet.options))
    case 'configure-reject': return encodeRawPacket(Code.CONFIGURE_REJECT, packet.identifier, encodeOptions(packet.options))
    case 'terminate-request': return encodeRawPacket(Code.TERMINATE_REQUEST, packet.identifier, checkBuffer(packet.data, 'data'))
    case 'terminate-ack': return encodeRawPacket(Code.TERMINATE_ACK, packet.identifier, checkBuffer(packet.data, 'data'))
    case 'code-reject': return encodeRawPacket(Code.CODE_REJECT, packet.identifier, checkBuffer(packet.rejected, 'rejected packet'))
    case 'protocol-reject':
      return encodeRawPacket(Code.PROTOCOL_REJECT, packet.identifier, Buffer.concat([u16(packet.rejectedProtocol, 'rejected protocol'), checkBuffer(packet.rejected, 'rejected information')]))
    case 'echo-request':
    case 'echo-reply':
    case 'discard-request': {
      const code = packet.kind === 'echo-request' ? Code.ECHO_REQUEST : packet.kind === 'echo-reply' ? Code.ECHO_REPLY : Code.DISCARD_REQUEST
      return encodeRawPacket(code, packet.identifier, Buffer.concat([u32(packet.magic, 'magic number'), checkBuffer(packet.data, 'data')]))
    }
    case 'other': return encodeRawPacket(packet.code, packet.identifier, checkBuffer(packet.data, 'data'))
    default: {
      const unknown: { kind?: unknown } = packet
      throw new PppCodecError('PPP_BAD_VALUE', `unknown packet kind ${String(unknown.kind)}`)
    }
  }
}

// --- PAP ------------------------------------------------------------------

/**
 * PAP Authenticate-Request (RFC 1334 2.2.1):
 *
 *   Code 1 | Identifier | Length | Peer-ID Length (1) | Peer-ID | Passwd-Length (1) | Password
 */
export interface PapRequestPacket {
  kind: 'authenticate-request'
  code: 1
  identifier: number
  peerId: Buffer
  password: Buffer
}

/**
 * PAP Authenticate-Ack (2) / -Nak (3) (RFC 1334 2.2.2):
 *
 *   Code | Identifier | Length | Msg-Length (1) | Message
 *
 * An Ack or Nak with no data at all (no Msg-Length byte) decodes with an
 * empty message and re-encodes with a Msg-Length of 0.
 */
export interface PapReplyPacket {
  kind: 'authenticate-ack' | 'authenticate-nak'
  code: 2 | 3
  identifier: number
  message: Buffer
}

export type PapPacket = PapRequestPacket | PapReplyPacket | OtherCodePacket

export function decodePap(information: Buffer): PapPacket {
  const protocol = Protocol.PAP
  const { code, identifier, data } = decodeRawPacket(information, protocol)
  switch (code) {
    case PapCode.AUTHENTICATE_REQUEST: {
      const idLength = data[0]
      if (idLength === undefined || data.length < 1 + idLength + 1) throw new PppCodecError('PPP_MALFORMED', 'Authenticate-Request Peer-ID overruns the packet', { protocol, offset: 4 })
      const passwordLength = data[1 + idLength]!
      if (data.length !== 2 + idLength + passwordLength) {
        throw new PppCodecError('PPP_MALFORMED', 'Authenticate-Request fields do not fill the packet', { protocol, offset: 5 + idLength })
      }
      return {
        kind: 'authenticate-request',
        code,
        identifier,
        peerId: Buffer.from(data.subarray(1, 1 + idLength)),
        password: Buffer.from(data.subarray(2 + idLength)),
      }
    }
    case PapCode.AUTHENTICATE_ACK:
    case PapCode.AUTHENTICATE_NAK: {
      const kind = code === PapCode.AUTHENTICATE_ACK ? 'authenticate-ack' : 'authenticate-nak'
      if (data.length === 0) return { kind, code, identifier, message: Buffer.alloc(0) }
      if (data.length !== 1 + data[0]!) throw new PppCodecError('PPP_MALFORMED', `${kind} Msg-Length does not fill the packet`, { protocol, offset: 4 })
      return { kind, code, identifier, message: Buffer.from(data.subarray(1)) }
    }
    default:
      return { kind: 'other', code, identifier, data: Buffer.from(data) }
  }
}

/** Shapes of PAP packets to encode: names, passwords and messages may be strings (UTF-8). */
export type PapPacketInput =
  | { kind: 'authenticate-request'; identifier: number; peerId: Bytes; password: Bytes }
  | { kind: 'authenticate-ack' | 'authenticate-nak'; identifier: number; message: Bytes }
  | OtherCodePacket

export function encodePap(packet: PapPacketInput): Buffer {
  if (typeof packet !== 'object' || packet === null) throw new PppCodecError('PPP_BAD_VALUE', 'packet must be an object')
  switch (packet.kind) {
    case 'authenticate-request': {
      const peerId = toBytes(packet.peerId, 'Peer-ID', 0xff)
      const password = toBytes(packet.password, 'password', 0xff)
      return encodeRawPacket(PapCode.AUTHENTICATE_REQUEST, packet.identifier, Buffer.concat([Buffer.from([peerId.length]), peerId, Buffer.from([password.length]), password]))
    }
    case 'authenticate-ack':
    case 'authenticate-nak': {
      const message = toBytes(packet.message, 'message', 0xff)
      const code = packet.kind === 'authenticate-ack' ? PapCode.AUTHENTICATE_ACK : PapCode.AUTHENTICATE_NAK
      return encodeRawPacket(code, packet.identifier, Buffer.concat([Buffer.from([message.length]), message]))
    }
    case 'other': return encodeRawPacket(packet.code, packet.identifier, checkBuffer(packet.data, 'data'))
    default: {
      const unknown: { kind?: unknown } = packet
      throw new PppCodecError('PPP_BAD_VALUE', `unknown PAP packet kind ${String(unknown.kind)}`)
    }
  }
}

// --- CHAP -----------------------------------------------------------------

/**
 * CHAP Challenge (1) / Response (2) (RFC 1994 4.1):
 *
 *   Code | Identifier | Length | Value-Size (1) | Value | Name (rest)
 *
 * For MS-CHAPv2 the Challenge value is 16 bytes and the Response value 49
 * (lib/ppp/mschapv2.ts reads it).
 */
export interface ChapChallengePacket {
  kind: 'challenge' | 'response'
  code: 1 | 2
  identifier: number
  value: Buffer
  name: Buffer
}

/** CHAP Success (3) / Failure (4) (RFC 1994 4.2): the message (MS-CHAPv2 puts "S=..." / "E=..." there). */
export interface ChapResultPacket {
  kind: 'success' | 'failure'
  code: 3 | 4
  identifier: number
  message: Buffer
}

/** `other` includes MS-CHAPv2 Change-Password (code 7), read by `decodeChangePassword` in lib/ppp/mschapv2.ts. */
export type ChapPacket = ChapChallengePacket | ChapResultPacket | OtherCodePacket

export function decodeChap(information: Buffer): ChapPacket {
  const protocol = Protocol.CHAP
  const { code, identifier, data } = decodeRawPacket(information, protocol)
  switch (code) {
    case ChapCode.CHALLENGE:
    case ChapCode.RESPONSE: {
      const size = data[0]
      if (size === undefined || data.length < 1 + size) throw new PppCodecError('PPP_MALFORMED', 'CHAP Value-Size overruns the packet', { protocol, offset: 4 })
      return {
        kind: code === ChapCode.CHALLENGE ? 'challenge' : 'response',
        code,
        identifier,
        value: Buffer.from(data.subarray(1, 1 + size)),
        name: Buffer.from(data.subarray(1 + size)),
      }
    }
    case ChapCode.SUCCESS:
    case ChapCode.FAILURE:
      return { kind: code === ChapCode.SUCCESS ? 'success' : 'failure', code, identifier, message: Buffer.from(data) }
    default:
      return { kind: 'other', code, identifier, data: Buffer.from(data) }
  }
}

/** Shapes of CHAP packets to encode: names and messages may be strings (UTF-8). */
export type ChapPacketInput =
  | { kind: 'challenge' | 'response'; identifier: number; value: Buffer; name: Bytes }
  | { kind: 'success' | 'failure'; identifier: number; message: Bytes }
  | OtherCodePacket

export function encodeChap(packet: ChapPacketInput): Buffer {
  if (typeof packet !== 'object' || packet === null) throw new PppCodecError('PPP_BAD_VALUE', 'packet must be an object')
  switch (packet.kind) {
    case 'challenge':
    case 'response': {
      const value = checkBuffer(packet.value, 'value', 0xff)
      const code = packet.kind === 'challenge' ? ChapCode.CHALLENGE : ChapCode.RESPONSE
      return encodeRawPacket(code, packet.identifier, Buffer.concat([Buffer.from([value.length]), value, toBytes(packet.name, 'name')]))
    }
    case 'success':
    case 'failure':
      return encodeRawPacket(packet.kind === 'success' ? ChapCode.SUCCESS : ChapCode.FAILURE, packet.identifier, toBytes(packet.message, 'message'))
    case 'other': return encodeRawPacket(packet.code, packet.identifier, checkBuffer(packet.data, 'data'))
    default: {
      const unknown: { kind?: unknown } = packet
      throw new PppCodecError('PPP_BAD_VALUE', `unknown CHAP packet kind ${String(unknown.kind)}`)
    }
  }
}

// --- EAP ------------------------------------------------------------------

/**
 * EAP Request (1) / Response (2) (RFC 3748 4.1): Type (1) and Type-Data.
 * Relayed to RADIUS as EAP-Message (RFC 3579), so kept as bytes.
 */
export interface EapMessagePacket {
  kind: 'request' | 'response'
  code: 1 | 2
  identifier: number
  type: number
  typeData: Buffer
}

/** EAP Success (3) / Failure (4) (RFC 3748 4.2): no data; any data present is kept. */
export interface EapResultPacket {
  kind: 'success' | 'failure'
  code: 3 | 4
  identifier: number
  data: Buffer
}

export type EapPacket = EapMessagePacket | EapResultPacket | OtherCodePacket

export function decodeEap(information: Buffer): EapPacket {
  const protocol = Protocol.EAP
  const { code, identifier, data } = decodeRawPacket(information, protocol)
  switch (code) {
    case EapCode.REQUEST:
    case EapCode.RESPONSE:
      if (data.length < 1) throw new PppCodecError('PPP_MALFORMED', 'EAP Request/Response without a Type', { protocol, offset: 4 })
      return { kind: code === EapCode.REQUEST ? 'request' : 'response', code, identifier, type: data[0]!, typeData: Buffer.from(data.subarray(1)) }
    case EapCode.SUCCESS:
    case EapCode.FAILURE:
      return { kind: code === EapCode.SUCCESS ? 'success' : 'failure', code, identifier, data: Buffer.from(data) }
    default:
      return { kind: 'other', code, identifier, data: Buffer.from(data) }
  }
}

export function encodeEap(packet: EapPacket): Buffer {
  if (typeof packet !== 'object' || packet === null) throw new PppCodecError('PPP_BAD_VALUE', 'packet must be an object')
  switch (packet.kind) {
    case 'request':
    case 'response':
      return encodeRawPacket(packet.kind === 'request' ? EapCode.REQUEST : EapCode.RESPONSE, packet.identifier,
        Buffer.concat([Buffer.from([checkInt(packet.type, 0xff, 'EAP type')]), checkBuffer(packet.typeData, 'type data')]))
    case 'success':
    case 'failure':
      return encodeRawPacket(packet.kind === 'success' ? EapCode.SUCCESS : EapCode.FAILURE, packet.identifier, checkBuffer(packet.data ?? Buffer.alloc(0), 'data'))
    case 'other': return encodeRawPacket(packet.code, packet.identifier, checkBuffer(packet.data, 'data'))
    default: {
      const unknown: { kind?: unknown } = packet
      throw new PppCodecError('PPP_BAD_VALUE', `unknown EAP packet kind ${String(unknown.kind)}`)
    }
  }
}

// --- dispatch by protocol -------------------------------------------------

/** A decoded control packet, tagged with its PPP protocol. */
export type ControlMessage =
  | { protocol: typeof Protocol.LCP; packet: LcpPacket }
  | { protocol: typeof Protocol.IPCP; packet: IpcpPacket }
  | { protocol: typeof Protocol.IPV6CP; packet: Ipv6cpPacket }
  | { protocol: typeof Protocol.CCP; packet: CcpPacket }
  | { protocol: typeof Protocol.PAP; packet: PapPacket }
  | { protocol: typeof Protocol.CHAP; packet: ChapPacket }
  | { protocol: typeof Protocol.EAP; packet: EapPacket }

/** Whether `decodeControl` decodes this protocol (LCP, IPCP, IPV6CP, CCP, PAP, CHAP, EAP). */
export function isControlProtocol(protocol: number): protocol is ControlMessage['protocol'] {
  return protocol === Protocol.LCP || protocol === Protocol.IPCP || protocol === Protocol.IPV6CP || protocol === Protocol.CCP ||
    protocol === Protocol.PAP || protocol === Protocol.CHAP || protocol === Protocol.EAP
}

/**
 * The packet in a control protocol's information field. Any other protocol
 * throws PPP_BAD_PROTOCOL: LCP answers those with Protocol-Reject
 * (RFC 1661 5.7) before decoding.
 */
export function decodeControl(protocol: number, information: Buffer): ControlMessage {
  switch (protocol) {
    case Protocol.LCP: return { protocol, packet: decodeLcp(information) }
    case Protocol.IPCP: return { protocol, packet: decodeIpcp(information) }
    case Protocol.IPV6CP: return { protocol, packet: decodeIpv6cp(information) }
    case Protocol.CCP: return { protocol, packet: decodeCcp(information) }
    case Protocol.PAP: return { protocol, packet: decodePap(information) }
    case Protocol.CHAP: return { protocol, packet: decodeChap(information) }
    case Protocol.EAP: return { protocol, packet: decodeEap(information) }
    default:
      throw new PppCodecError('PPP_BAD_PROTOCOL', `protocol 0x${Number(protocol).toString(16).padStart(4, '0')} is not a control protocol the codec decodes`, { protocol })
  }
}

/** The information field of a control message. */
export function encodeControl(message: ControlMessage): Buffer {
  if (typeof message !== 'object' || message === null) throw new PppCodecError('PPP_BAD_VALUE', 'message must be an object')
  switch (message.protocol) {
    case Protocol.LCP:
    case Protocol.IPCP:
    case Protocol.IPV6CP:
    case Protocol.CCP:
      return encodeLcpFamily(message.packet)
    case Protocol.PAP: return encodePap(message.packet)
    case Protocol.CHAP: return encodeChap(message.packet)
    case Protocol.EAP: return encodeEap(message.packet)
    default: {
      const unknown: { protocol?: unknown } = message
      throw new PppCodecError('PPP_BAD_PROTOCOL', `protocol ${String(unknown.protocol)} is not a control protocol the codec encodes`)
    }
  }
}

/** Options for `encodeControlFrame`: whether ACFC was negotiated (RFC 1661 6.6). */
export interface FrameOptions {
  /** false to omit FF 03 (the peer accepted ACFC); true by default. */
  addressControl?: boolean
}

/**
 * A whole frame for a control message. LCP packets always carry the
 * Address/Control field (RFC 1661 6.6), so `options` is ignored for LCP;
 * every control protocol number is above 0xff, so PFC never applies.
 */
export function encodeControlFrame(message: ControlMessage, options: FrameOptions = {}): Buffer {
  const lcp = message.protocol === Protocol.LCP
  return encodeFrame({
    protocol: message.protocol,
    information: encodeControl(message),
    addressControl: lcp || options.addressControl !== false,
  })
}

/** A frame decoded down to its control packet (`decodeFrame` then `decodeControl`). */
export function decodeControlFrame(frame: Buffer): ControlMessage & { frame: PppFrame } {
  const decoded = decodeFrame(frame)
  return { ...decodeControl(decoded.protocol, decoded.information), frame: decoded }
}
