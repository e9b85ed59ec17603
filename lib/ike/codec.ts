/**
 * IKEv1 message codec: the ISAKMP header and payloads of RFC 2408, the IPsec
 * DOI of RFC 2407, NAT-T payloads of RFC 3947 and the vendor fragmentation
 * payload. Pure functions over Buffers; no state, no crypto. Encrypted
 * messages are returned as ciphertext for lib/ike/crypto.ts to open, then
 * their plaintext comes back through `decodePayloads`.
 *
 * Every decoder throws only IkeCodecError, whatever the input.
 */
import { ISAKMP_HEADER_LENGTH, Flag, NotifyType, PayloadType } from './constants.js'
import { IkeCodecError } from './codec/errors.js'
import { attributesLength, bufferField, checkInt, decodeAttributes, decodeSaBody, saBodyLength, writeAttributes, writeSaBody } from './codec/sa.js'
import type { Attribute, Proposal, SaBody } from './codec/sa.js'

export { IkeCodecError } from './codec/errors.js'
export type { IkeCodecErrorCode, IkeCodecErrorContext } from './codec/errors.js'
export { attributeNumber, decodeAttributes, encodeAttributes, findAttribute } from './codec/sa.js'
export type { Attribute, Proposal, SaBody, Transform } from './codec/sa.js'

/**
 * The ISAKMP header (RFC 2408 3.1):
 *
 *   !                    Initiator Cookie (8)                       !
 *   !                    Responder Cookie (8)                       !
 *   !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
 *   !                          Message ID                           !
 *   !                            Length                             !
 */
export interface IsakmpHeader {
  initiatorCookie: Buffer
  responderCookie: Buffer
  nextPayload: number
  majorVersion: number
  minorVersion: number
  exchangeType: number
  flags: number
  /** Unsigned 32-bit. */
  messageId: number
  /** Header plus payloads, in bytes. */
  length: number
}

/** Every decoded payload carries `raw`: its body after the 4-byte generic header, exactly as on the wire. */
interface Raw {
  raw: Buffer
}

export interface SaPayload extends Raw {
  type: typeof PayloadType.SA
  doi: number
  situation: number
  /** See SaBody.situationData. */
  situationData: Buffer
  proposals: Proposal[]
}

/** Payloads whose body is one opaque field. */
export interface KePayload extends Raw { type: typeof PayloadType.KE; data: Buffer }
export interface HashPayload extends Raw { type: typeof PayloadType.HASH; data: Buffer }
export interface SigPayload extends Raw { type: typeof PayloadType.SIG; data: Buffer }
export interface NoncePayload extends Raw { type: typeof PayloadType.NONCE; data: Buffer }
export interface VendorIdPayload extends Raw { type: typeof PayloadType.VENDOR_ID; data: Buffer }
/** NAT-D: the hash of an address and port (RFC 3947 3.2); 130 is the draft number. */
export interface NatDPayload extends Raw { type: typeof PayloadType.NAT_D | typeof PayloadType.NAT_D_DRAFT; data: Buffer }

/** Identification (RFC 2407 4.6.2): ID type, protocol, port, then the identity. */
export interface IdPayload extends Raw {
  type: typeof PayloadType.ID
  idType: number
  protocol: number
  port: number
  data: Buffer
}

/** NAT original address (RFC 3947 5.2): ID type, 3 reserved bytes, the address. */
export interface NatOaPayload extends Raw {
  type: typeof PayloadType.NAT_OA | typeof PayloadType.NAT_OA_DRAFT
  idType: number
  data: Buffer
}

/** Certificate and certificate request (RFC 2408 3.9, 3.10): encoding byte, then data. */
export interface CertPayload extends Raw {
  type: typeof PayloadType.CERT | typeof PayloadType.CERTREQ
  encoding: number
  data: Buffer
}

/** Notification (RFC 2408 3.14). */
export interface NotificationPayload extends Raw {
  type: typeof PayloadType.NOTIFICATION
  doi: number
  protocol: number
  spi: Buffer
  notifyType: number
  data: Buffer
}

/** Delete (RFC 2408 3.15). `spiSize` is kept so that zero-length SPIs round-trip. */
export interface DeletePayload extends Raw {
  type: typeof PayloadType.DELETE
  doi: number
  protocol: number
  spiSize: number
  spis: Buffer[]
}

/** Mode Config / XAUTH attributes (draft-dukes-ike-mode-cfg 3.2). */
export interface AttributePayload extends Raw {
  type: typeof PayloadType.ATTRIBUTE
  cfgType: number
  identifier: number
  attributes: Attribute[]
}

/**
 * IKEv1 fragment (the Cisco/Microsoft scheme, as in strongSwan
 * fragment_payload.c): fragment ID (2), number (1), flags (1, bit 0 = last),
 * then the data. Flag bits other than "last" are not kept.
 */
export interface FragmentPayload extends Raw {
  type: typeof PayloadType.FRAGMENT
  fragmentId: number
  number: number
  last: boolean
  data: Buffer
}

/** Any other payload type: kept whole, and skipped through the next-payload chain. */
export interface UnknownPayload extends Raw {
  type: number
  data: Buffer
}

export type Payload =
  | SaPayload
  | KePayload
  | HashPayload
  | SigPayload
  | NoncePayload
  | VendorIdPayload
  | NatDPayload
  | IdPayload
  | NatOaPayload
  | CertPayload
  | NotificationPayload
  | DeletePayload
  | AttributePayload
  | FragmentPayload
  | UnknownPayload

/** The decoded shape of each known payload type. */
export interface PayloadByType {
  1: SaPayload
  4: KePayload
  5: IdPayload
  6: CertPayload
  7: CertPayload
  8: HashPayload
  9: SigPayload
  10: NoncePayload
  11: NotificationPayload
  12: DeletePayload
  13: VendorIdPayload
  14: AttributePayload
  20: NatDPayload
  21: NatOaPayload
  130: NatDPayload
  131: NatOaPayload
  132: FragmentPayload
}

type WithoutRaw<T> = T extends unknown ? Omit<T, 'raw'> & { raw?: Buffer } : never

/** A payload to encode: `raw` may be present (a decoded payload) but is never used. */
export type PayloadInput = WithoutRaw<Payload>

/** The payloads of one known type, typed (the codec guarantees the shape). */
export function payloadsOf<T extends keyof PayloadByType>(payloads: readonly Payload[], type: T): PayloadByType[T][] {
  return payloads.filter((p) => p.type === type) as PayloadByType[T][]
}

/** The first payload of one known type, if any. */
export function findPayload<T extends keyof PayloadByType>(payloads: readonly Payload[], type: T): PayloadByType[T] | undefined {
  return payloads.find((p) => p.type === type) as PayloadByType[T] | undefined
}

// --- header -------------------------------------------------------------

/**
 * The ISAKMP header of a datagram (the non-ESP marker of UDP 4500 already
 * removed). Major version must be 1. The header length must be at least 28
 * and at most the datagram length: extra bytes after it are ignored, as
 * libreswan does (programs/pluto/demux.c: old Cisco VPN clients append 16
 * zero bytes); `decodeMessage` reports them as `trailing`.
 */
export function decodeHeader(datagram: Buffer): IsakmpHeader {
  if (!Buffer.isBuffer(datagram)) throw new IkeCodecError('IKE_TRUNCATED', 'datagram is not a Buffer')
  if (datagram.length < ISAKMP_HEADER_LENGTH) {
    throw new IkeCodecError('IKE_TRUNCATED', `datagram of ${datagram.length} bytes is shorter than the ISAKMP header`, NotifyType.PAYLOAD_MALFORMED, { offset: 0 })
  }
  const version = datagram[17]!
  const majorVersion = version >> 4
  if (majorVersion !== 1) {
    throw new IkeCodecError('IKE_BAD_VERSION', `ISAKMP major version ${majorVersion}, only 1 is supported`, NotifyType.INVALID_MAJOR_VERSION, { offset: 17 })
  }
  const length = datagram.readUInt32BE(24)
  if (length < ISAKMP_HEADER_LENGTH) {
    throw new IkeCodecError('IKE_BAD_LENGTH', `ISAKMP header length ${length} is below 28`, NotifyType.PAYLOAD_MALFORMED, { offset: 24 })
  }
  if (length > datagram.length) {
    throw new IkeCodecError('IKE_TRUNCATED', `ISAKMP header announces ${length} bytes, the datagram has ${datagram.length}`, NotifyType.UNEQUAL_PAYLOAD_LENGTHS, { offset: 24 })
  }
  return {
    initiatorCookie: Buffer.from(datagram.subarray(0, 8)),
    responderCookie: Buffer.from(datagram.subarray(8, 16)),
    nextPayload: datagram[16]!,
    majorVersion,
    minorVersion: version & 0x0f,
    exchangeType: datagram[18]!,
    flags: datagram[19]!,
    messageId: datagram.readUInt32BE(20),
    length,
  }
}

/** The header fields a caller supplies; length and next payload are computed. */
export type HeaderInput = Omit<IsakmpHeader, 'length' | 'nextPayload'> & { nextPayload?: number; length?: number }

/**
 * A datagram: the header with `firstPayload` as its next payload and the
 * length of header plus `body`, then `body` (encoded payloads, or the
 * ciphertext when the E flag is set). `header.nextPayload` and
 * `header.length`, if present, are ignored.
 */
export function encodeMessage(header: HeaderInput, body: Buffer, firstPayload: number): Buffer {
  const b = bufferField(body, 'body')
  // Memory of its own (not a pool slice): a sent message is kept for retransmission.
  const out = Buffer.allocUnsafeSlow(ISAKMP_HEADER_LENGTH + b.length)
  writeMessageHeader(header, firstPayload, out)
  b.copy(out, ISAKMP_HEADER_LENGTH)
  return out
}

/** Writes the 28-byte header of a message of out.length bytes into `out`. */
export function writeMessageHeader(header: HeaderInput, firstPayload: number, out: Buffer): void {
  if (typeof header !== 'object' || header === null) throw new IkeCodecError('IKE_BAD_VALUE', 'header must be an object')
  const initiatorCookie = bufferField(header.initiatorCookie, 'initiator cookie')
  const responderCookie = bufferField(header.responderCookie, 'responder cookie')
  if (initiatorCookie.length !== 8 || responderCookie.length !== 8) throw new IkeCodecError('IKE_BAD_VALUE', 'cookies must be 8 bytes')
  initiatorCookie.copy(out, 0)
  responderCookie.copy(out, 8)
  out[16] = checkInt(firstPayload, 0xff, 'next payload')
  out[17] = (checkInt(header.majorVersion, 0xf, 'major version') << 4) | checkInt(header.minorVersion, 0xf, 'minor version')
  out[18] = checkInt(header.exchangeType, 0xff, 'exchange type')
  out[19] = checkInt(header.flags, 0xff, 'flags')
  out.writeUInt32BE(checkInt(header.messageId, 0xffffffff, 'message ID'), 20)
  out.writeUInt32BE(checkInt(out.length, 0xffffffff, 'message length'), 24)
}

/** A datagram of plaintext payloads: `encodeMessage(header, encodePayloads(payloads), first type)`. */
export function encodePlainMessage(header: HeaderInput, payloads: readonly PayloadInput[]): Buffer {
  // One buffer of its own for header and payloads (see encodeMessage).
  const out = Buffer.allocUnsafeSlow(ISAKMP_HEADER_LENGTH + payloadsLength(payloads))
  writeMessageHeader(header, payloads.length > 0 ? encodePayloadType(payloads[0]) : PayloadType.NONE, out)
  writePayloads(payloads, out, ISAKMP_HEADER_LENGTH)
  return out
}

// --- messages -----------------------------------------------------------

export interface DecodedMessage {
  header: IsakmpHeader
  /** The payloads; empty when the E flag is set (decrypt `body`, then decodePayloads). */
  payloads: Payload[]
  /** Bytes 28..header.length: the payloads, or the ciphertext. */
  body: Buffer
  /** Bytes after header.length in the datagram, ignored. */
  trailing: number
}

/** Header and, unless encrypted, payloads of one datagram. */
export function decodeMessage(datagram: Buffer): DecodedMessage {
  const header = decodeHeader(datagram)
  const body = datagram.subarray(ISAKMP_HEADER_LENGTH, header.length)
  const payloads = header.flags & Flag.ENCRYPTION ? [] : decodePayloads(header.nextPayload, body, ISAKMP_HEADER_LENGTH)
  return { header, payloads, body, trailing: datagram.length - header.length }
}

// --- payload chain ------------------------------------------------------

/**
 * The payload chain of `body` (after the header; for an encrypted message,
 * the plaintext), starting with `firstType` and following each generic
 * header's next payload (RFC 2408 3.2) until NONE. Bytes after the last
 * payload are tolerated: RFC 2409 5.3 pads the plaintext of an encrypted
 * message to the cipher's block size. `end` is where the last payload ends.
 * `base` only shifts the offsets reported in errors.
 */
export function decodePayloadChain(firstType: number, body: Buffer, base = 0, copy = true): { payloads: Payload[]; end: number } {
  if (!Buffer.isBuffer(body)) throw new IkeCodecError('IKE_TRUNCATED', 'body is not a Buffer')
  const payloads: Payload[] = []
  let type = firstType
  let at = 0
  while (type !== PayloadType.NONE) {
    if (at + 4 > body.length) {
      throw new IkeCodecError('IKE_TRUNCATED', `payload ${type} expected at ${base + at}, ${body.length - at} bytes remain`, NotifyType.PAYLOAD_MALFORMED, { payloadType: type, offset: base + at })
    }
    const next = body[at]!
    const length = body.readUInt16BE(at + 2)
    if (length < 4 || at + length > body.length) {
      throw new IkeCodecError('IKE_BAD_LENGTH', `payload ${type} at ${base + at} has length ${length}, ${body.length - at} bytes remain`, NotifyType.PAYLOAD_MALFORMED, { payloadType: type, offset: base + at })
    }
    const raw = body.subarray(at + 4, at + length)
    payloads.push(decodePayloadBody(type, raw, base + at + 4, copy))
    at += length
    type = next
  }
  return { payloads, end: at }
}

/** The payloads of `body`; see decodePayloadChain. */
export function decodePayloads(firstType: number, body: Buffer, base = 0): Payload[] {
  return decodePayloadChain(firstType, body, base).payloads
}

function need(type: number, raw: Buffer, min: number, offset: number): void {
  if (raw.length < min) {
    throw new IkeCodecError('IKE_TRUNCATED', `payload ${type} body of ${raw.length} bytes, need ${min}`, NotifyType.PAYLOAD_MALFORMED, { payloadType: type, offset })
  }
}

/**
 * One payload from its body (after the generic header). Dispatch by type;
 * each decoder's wire layout is in the payload's interface above.
 */
export function decodePayloadBody(type: number, body: Buffer, offset = 0, copy = true): Payload {
  // A copy, so that a payload kept does not hold the datagram; unless the
  // caller says `body` is already a buffer of this message's own (a
  // decrypted plaintext), which the payloads may as well view.
  const raw = copy ? Buffer.from(body) : body
  switch (type) {
    case PayloadType.SA: {
      return { type, ...decodeSaBody(raw, offset), raw }
    }
    case PayloadType.KE:
    case PayloadType.HASH:
    case PayloadType.SIG:
    case PayloadType.NONCE:
    case PayloadType.VENDOR_ID:
    case PayloadType.NAT_D:
    case PayloadType.NAT_D_DRAFT:
      return { type, data: raw, raw }
    case PayloadType.ID:
      need(type, raw, 4, offset)
      return { type, idType: raw[0]!, protocol: raw[1]!, port: raw.readUInt16BE(2), data: raw.subarray(4), raw }
    case PayloadType.NAT_OA:
    case PayloadType.NAT_OA_DRAFT:
      need(type, raw, 4, offset)
      return { type, idType: raw[0]!, data: raw.subarray(4), raw }
    case PayloadType.CERT:
    case PayloadType.CERTREQ:
      need(type, raw, 1, offset)
      return { type, encoding: raw[0]!, data: raw.subarray(1), raw }
    case PayloadType.NOTIFICATION: {
      // DOI (4) protocol (1) SPI size (1) notify type (2) SPI, data
      need(type, raw, 8, offset)
      const spiSize = raw[5]!
      need(type, raw, 8 + spiSize, offset)
      return {
        type,
        doi: raw.readUInt32BE(0),
        protocol: raw[4]!,
        spi: raw.subarray(8, 8 + spiSize),
        notifyType: raw.readUInt16BE(6),
        data: raw.subarray(8 + spiSize),
        raw,
      }
    }
    case PayloadType.DELETE: {
      // DOI (4) protocol (1) SPI size (1) number of SPIs (2) SPIs
      need(type, raw, 8, offset)
      const spiSize = raw[5]!
      const count = raw.readUInt16BE(6)
      if (8 + spiSize * count !== raw.length) {
        throw new IkeCodecError('IKE_MALFORMED', `DELETE with ${count} SPIs of ${spiSize} bytes in ${raw.length - 8} bytes`, NotifyType.PAYLOAD_MALFORMED, { payloadType: type, offset })
      }
      const spis: Buffer[] = []
      for (let i = 0; i < count; i++) spis.push(raw.subarray(8 + i * spiSize, 8 + (i + 1) * spiSize))
      return { type, doi: raw.readUInt32BE(0), protocol: raw[4]!, spiSize, spis, raw }
    }
    case PayloadType.ATTRIBUTE:
      // type (1) reserved (1) identifier (2) attributes
      need(type, raw, 4, offset)
      return { type, cfgType: raw[0]!, identifier: raw.readUInt16BE(2), attributes: decodeAttributes(raw.subarray(4), offset + 4, NotifyType.PAYLOAD_MALFORMED, type), raw }
    case PayloadType.FRAGMENT:
      need(type, raw, 4, offset)
      return { type, fragmentId: raw.readUInt16BE(0), number: raw[2]!, last: (raw[3]! & 1) === 1, data: raw.subarray(4), raw }
    default:
      return { type, data: raw, raw }
  }
}

// --- encoding -----------------------------------------------------------

/** Reads field `key` of a payload input, for the variant its `type` selects. */
function field(p: PayloadInput, key: string): unknown {
  return (p as unknown as Record<string, unknown>)[key]
}

const u8 = (p: PayloadInput, key: string): number => checkInt(field(p, key), 0xff, `payload ${p.type} ${key}`)
const u16 = (p: PayloadInput, key: string): number => checkInt(field(p, key), 0xffff, `payload ${p.type} ${key}`)
const u32 = (p: PayloadInput, key: string): number => checkInt(field(p, key), 0xffffffff, `payload ${p.type} ${key}`)
const buf = (p: PayloadInput, key: string): Buffer => bufferField(field(p, key), `payload ${p.type} ${key}`)

/**
 * A payload's body, without the generic header: what HASH_I/HASH_R and the
 * Quick Mode hashes are computed over. Built from the fields; `raw` is
 * never copied, so what is sent is always what the fields say.
 */
export function encodePayloadBody(p: PayloadInput): Buffer {
  const out = Buffer.allocUnsafe(payloadBodyLength(p))
  writePayloadBody(p, out, 0)
  return out
}

/**
 * Encoded bytes of a payload's body. Encoding is two passes, lengths then
 * bytes written into one buffer, instead of a Buffer per header and a
 * concat per level (bench/README, IKE responder).
 */
function payloadBodyLength(p: PayloadInput): number {
  if (typeof p !== 'object' || p === null) throw new IkeCodecError('IKE_BAD_VALUE', 'a payload must be an object')
  const type = checkInt(p.type, 0xff, 'payload type')
  switch (type) {
    case PayloadType.SA:
      return saBodyLength(saOf(p))
    case PayloadType.ID:
    case PayloadType.NAT_OA:
    case PayloadType.NAT_OA_DRAFT:
    case PayloadType.FRAGMENT:
      return 4 + buf(p, 'data').length
    case PayloadType.CERT:
    case PayloadType.CERTREQ:
      return 1 + buf(p, 'data').length
    case PayloadType.NOTIFICATION:
      return 8 + buf(p, 'spi').length + buf(p, 'data').length
    case PayloadType.DELETE: {
      const spiSize = u8(p, 'spiSize')
      const spis = arrayField(p, 'spis').map((s) => bufferField(s, 'DELETE SPI'))
      if (spis.some((s) => s.length !== spiSize)) throw new IkeCodecError('IKE_BAD_VALUE', `every DELETE SPI must be ${spiSize} bytes`)
      return 8 + spiSize * spis.length
    }
    case PayloadType.ATTRIBUTE:
      return 4 + attributesLength(arrayField(p, 'attributes') as Attribute[])
    default:
      // KE, HASH, SIG, NONCE, VENDOR_ID, NAT-D and unknown payloads.
      return buf(p, 'data').length
  }
}

function saOf(p: PayloadInput): SaBody {
  return {
    doi: u32(p, 'doi'),
    situation: u32(p, 'situation'),
    situationData: field(p, 'situationData') === undefined ? EMPTY : buf(p, 'situationData'),
    proposals: arrayField(p, 'proposals') as Proposal[],
  }
}

const EMPTY = Buffer.alloc(0)

/** Writes a payload's body (measured by payloadBodyLength) at `at`; returns the offset after it. */
function writePayloadBody(p: PayloadInput, out: Buffer, at: number): number {
  switch (p.type) {
    case PayloadType.SA:
      return writeSaBody(saOf(p), out, at)
    case PayloadType.ID: {
      out[at] = u8(p, 'idType')
      out[at + 1] = u8(p, 'protocol')
      out.writeUInt16BE(u16(p, 'port'), at + 2)
      return at + 4 + buf(p, 'data').copy(out, at + 4)
    }
    case PayloadType.NAT_OA:
    case PayloadType.NAT_OA_DRAFT:
      out[at] = u8(p, 'idType')
      out[at + 1] = out[at + 2] = out[at + 3] = 0
      return at + 4 + buf(p, 'data').copy(out, at + 4)
    case PayloadType.CERT:
    case PayloadType.CERTREQ:
      out[at] = u8(p, 'encoding')
      return at + 1 + buf(p, 'data').copy(out, at + 1)
    case PayloadType.NOTIFICATION: {
      const spi = buf(p, 'spi')
      out.writeUInt32BE(u32(p, 'doi'), at)
      out[at + 4] = u8(p, 'protocol')
      out[at + 5] = checkInt(spi.length, 0xff, 'notification SPI size')
      out.writeUInt16BE(u16(p, 'notifyType'), at + 6)
      at += 8 + spi.copy(out, at + 8)
      return at + buf(p, 'data').copy(out, at)
    }
    case PayloadType.DELETE: {
      const spis = arrayField(p, 'spis') as Buffer[]
      out.writeUInt32BE(u32(p, 'doi'), at)
      out[at + 4] = u8(p, 'protocol')
      out[at + 5] = u8(p, 'spiSize')
      out.writeUInt16BE(checkInt(spis.length, 0xffff, 'DELETE SPI count'), at + 6)
      at += 8
      for (const s of spis) at += s.copy(out, at)
      return at
    }
    case PayloadType.ATTRIBUTE:
      out[at] = u8(p, 'cfgType')
      out[at + 1] = 0
      out.writeUInt16BE(u16(p, 'identifier'), at + 2)
      return writeAttributes(arrayField(p, 'attributes') as Attribute[], out, at + 4)
    case PayloadType.FRAGMENT:
      out.writeUInt16BE(u16(p, 'fragmentId'), at)
      out[at + 2] = u8(p, 'number')
      out[at + 3] = field(p, 'last') === true ? 1 : 0
      return at + 4 + buf(p, 'data').copy(out, at + 4)
    default:
      return at + buf(p, 'data').copy(out, at)
  }
}

function encodePayloadType(p: PayloadInput | undefined): number {
  if (typeof p !== 'object' || p === null) throw new IkeCodecError('IKE_BAD_VALUE', 'a payload must be an object')
  return checkInt(p.type, 0xff, 'payload type')
}

function arrayField(p: PayloadInput, key: string): unknown[] {
  const v = field(p, key)
  if (!Array.isArray(v)) throw new IkeCodecError('IKE_BAD_VALUE', `payload ${p.type} ${key} must be an array`)
  return v
}

/**
 * Payloads with their generic headers, each next-payload field naming the
 * following payload's type and the last one NONE. The first type goes in
 * the ISAKMP header (encodeMessage's `firstPayload`).
 */
export function encodePayloads(payloads: readonly PayloadInput[]): Buffer {
  const out = Buffer.allocUnsafe(payloadsLength(payloads))
  writePayloads(payloads, out, 0)
  return out
}

/** Encoded bytes of `payloads` with their generic headers. */
export function payloadsLength(payloads: readonly PayloadInput[]): number {
  if (!Array.isArray(payloads)) throw new IkeCodecError('IKE_BAD_VALUE', 'payloads must be an array')
  let n = 0
  for (const p of payloads) n += 4 + payloadBodyLength(p)
  return n
}

/** Writes `payloads` (measured by payloadsLength) at `at`; returns the offset after them. */
export function writePayloads(payloads: readonly PayloadInput[], out: Buffer, at: number): number {
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!
    const start = at
    out[at] = i + 1 < payloads.length ? encodePayloadType(payloads[i + 1]) : PayloadType.NONE
    out[at + 1] = 0
    at = writePayloadBody(p, out, at + 4)
    out.writeUInt16BE(checkInt(at - start, 0xffff, `payload ${p.type} length`), start + 2)
  }
  return at
}
