// RADIUS packet structure (RFC 2865 3 and 5): the 20-byte header, then
// type-length-value attributes; and the Vendor-Specific layout (RFC 2865
// 5.26) that Microsoft's attributes use. No cryptography here (crypto.ts,
// authenticators.ts) and no meaning (attributes.ts): only bytes.
//
// Decoding is strict because a reply is parsed before it is authenticated
// and a packet from anyone can reach our socket: every length is checked,
// nothing is read past the end, and every problem is a RadiusCodecError
// with a stable code (the client counts them and drops the packet).

export const HEADER_LENGTH = 20
/** RFC 2865 3: "The maximum length is 4096." */
export const MAX_PACKET_LENGTH = 4096
/** One attribute's value: the length octet counts type and length too. */
export const MAX_VALUE_LENGTH = 253

/**
 * Stable codes of RadiusCodecError:
 * - `RADIUS_TRUNCATED`: fewer bytes than a header, or than the Length field says.
 * - `RADIUS_BAD_LENGTH`: the Length field is below 20 or above 4096.
 * - `RADIUS_BAD_ATTRIBUTE`: an attribute's length is below 2 or runs past the packet, or its type is 0.
 * - `RADIUS_BAD_VALUE`: a value has the wrong size or content for its type (read by attributes.ts).
 * - `RADIUS_VALUE_TOO_LONG`: encoding a value longer than 253 bytes.
 * - `RADIUS_PACKET_TOO_LONG`: encoding a packet longer than 4096 bytes.
 */
export type RadiusCodecErrorCode =
  | 'RADIUS_TRUNCATED'
  | 'RADIUS_BAD_LENGTH'
  | 'RADIUS_BAD_ATTRIBUTE'
  | 'RADIUS_BAD_VALUE'
  | 'RADIUS_VALUE_TOO_LONG'
  | 'RADIUS_PACKET_TOO_LONG'

export class RadiusCodecError extends Error {
  readonly code: RadiusCodecErrorCode
  constructor(code: RadiusCodecErrorCode, message: string) {
    super(message)
    this.name = 'RadiusCodecError'
    this.code = code
  }
}

export interface RadiusAttribute {
  type: number
  value: Buffer
}

export interface RadiusPacket {
  code: number
  identifier: number
  /** 16 bytes: the Request or Response Authenticator. */
  authenticator: Buffer
  attributes: RadiusAttribute[]
}

/** Type-length-value bytes of attributes, in order. */
export function encodeAttributes(attributes: readonly RadiusAttribute[]): Buffer {
  const parts: Buffer[] = []
  for (const { type, value } of attributes) {
    if (!Number.isInteger(type) || type < 1 || type > 255) throw new RadiusCodecError('RADIUS_BAD_ATTRIBUTE', `attribute type ${type} is not 1..255`)
    if (value.length > MAX_VALUE_LENGTH) throw new RadiusCodecError('RADIUS_VALUE_TOO_LONG', `attribute ${type}: ${value.length} bytes, at most ${MAX_VALUE_LENGTH}`)
    parts.push(Buffer.from([type, value.length + 2]), value)
  }
  return Buffer.concat(parts)
}

/** Header then attributes; the authenticator is written as given (authenticators.ts computes it). */
export function encodePacket(packet: RadiusPacket): Buffer {
  if (packet.authenticator.length !== 16) throw new RadiusCodecError('RADIUS_BAD_VALUE', 'the authenticator must be 16 bytes')
  const body = encodeAttributes(packet.attributes)
  const length = HEADER_LENGTH + body.length
  if (length > MAX_PACKET_LENGTH) throw new RadiusCodecError('RADIUS_PACKET_TOO_LONG', `packet of ${length} bytes, at most ${MAX_PACKET_LENGTH}`)
  const header = Buffer.alloc(4)
  header[0] = packet.code
  header[1] = packet.identifier
  header.writeUInt16BE(length, 2)
  return Buffer.concat([header, packet.authenticator, body])
}

/** The attributes of `data` (no header); every value is a copy. */
export function decodeAttributes(data: Buffer): RadiusAttribute[] {
  const attributes: RadiusAttribute[] = []
  let offset = 0
  while (offset < data.length) {
    if (data.length - offset < 2) throw new RadiusCodecError('RADIUS_BAD_ATTRIBUTE', `1 stray byte at offset ${offset}`)
    const type = data[offset]!
    const length = data[offset + 1]!
    if (type === 0) throw new RadiusCodecError('RADIUS_BAD_ATTRIBUTE', `attribute type 0 at offset ${offset}`)
    if (length < 2) throw new RadiusCodecError('RADIUS_BAD_ATTRIBUTE', `attribute ${type} with length ${length}`)
    if (offset + length > data.length) throw new RadiusCodecError('RADIUS_BAD_ATTRIBUTE', `attribute ${type} of ${length} bytes runs past the end`)
    attributes.push({ type, value: Buffer.from(data.subarray(offset + 2, offset + length)) })
    offset += length
  }
  return attributes
}

/**
 * The packet in `datagram`. Bytes after the Length field are padding and
 * ignored (RFC 2865 3); use `packetBytes` for exactly the bytes the
 * authenticators cover.
 */
export function decodePacket(datagram: Buffer): RadiusPacket {
  const bytes = packetBytes(datagram)
  return {
    code: bytes[0]!,
    identifier: bytes[1]!,
    authenticator: Buffer.from(bytes.subarray(4, 20)),
    attributes: decodeAttributes(bytes.subarray(HEADER_LENGTH)),
  }
}

/** The first Length bytes of `datagram`, after checking the header. */
export function packetBytes(datagram: Buffer): Buffer {
  if (datagram.length < HEADER_LENGTH) throw new RadiusCodecError('RADIUS_TRUNCATED', `${datagram.length} bytes, a header is ${HEADER_LENGTH}`)
  const length = datagram.readUInt16BE(2)
  if (length < HEADER_LENGTH || length > MAX_PACKET_LENGTH) throw new RadiusCodecError('RADIUS_BAD_LENGTH', `Length field ${length} outside ${HEADER_LENGTH}..${MAX_PACKET_LENGTH}`)
  if (length > datagram.length) throw new RadiusCodecError('RADIUS_TRUNCATED', `Length field ${length}, datagram of ${datagram.length} bytes`)
  return datagram.subarray(0, length)
}

/**
 * The byte offset (from the start of the packet) of the value of each
 * attribute of `type`: where the Message-Authenticator is zeroed or written.
 * `bytes` must be a packet that decodePacket accepts.
 */
export function valueOffsets(bytes: Buffer, type: number): number[] {
  const found: number[] = []
  let offset = HEADER_LENGTH
  while (offset + 2 <= bytes.length) {
    const length = bytes[offset + 1]!
    if (length < 2) break
    if (bytes[offset] === type) found.push(offset + 2)
    offset += length
  }
  return found
}

// --- Vendor-Specific (RFC 2865 5.26) ------------------------------------------

export interface VendorAttribute {
  vendor: number
  type: number
  value: Buffer
}

/** A Vendor-Specific attribute holding one vendor sub-attribute in the RFC 2865 recommended format. */
export function encodeVendorAttribute(vendor: number, type: number, value: Buffer): RadiusAttribute {
  if (value.length > MAX_VALUE_LENGTH - 6) throw new RadiusCodecError('RADIUS_VALUE_TOO_LONG', `vendor ${vendor} attribute ${type}: ${value.length} bytes, at most ${MAX_VALUE_LENGTH - 6}`)
  const head = Buffer.alloc(6)
  head.writeUInt32BE(vendor, 0)
  head[4] = type
  head[5] = value.length + 2
  return { type: 26, value: Buffer.concat([head, value]) }
}

/** The sub-attributes of one Vendor-Specific value (several may share one). */
export function decodeVendorAttribute(value: Buffer): VendorAttribute[] {
  if (value.length < 4) throw new RadiusCodecError('RADIUS_BAD_VALUE', `Vendor-Specific of ${value.length} bytes has no vendor id`)
  const vendor = value.readUInt32BE(0)
  if (value[0] !== 0) throw new RadiusCodecError('RADIUS_BAD_VALUE', `Vendor-Specific vendor id ${vendor} has a non-zero high octet`)
  return decodeAttributes(value.subarray(4)).map(({ type, value: sub }) => ({ vendor, type, value: sub }))
}

/** Every vendor sub-attribute of `vendor` in the packet's attributes; malformed Vendor-Specifics of other vendors are skipped. */
export function vendorAttributes(attributes: readonly RadiusAttribute[], vendor: number): VendorAttribute[] {
  const found: VendorAttribute[] = []
  for (const attribute of attributes) {
    if (attribute.type !== 26 || attribute.value.length < 4 || attribute.value.readUInt32BE(0) !== vendor) continue
    found.push(...decodeVendorAttribute(attribute.value))
  }
  return found
}
