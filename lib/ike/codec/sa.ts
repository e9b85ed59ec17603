/**
 * SA payload internals: proposals, transforms and data attributes
 * (RFC 2408 3.4-3.6, RFC 2407 4.6.1). Each nests its own next-payload chain:
 * proposals chain with 2 (PROPOSAL) and end with 0, transforms chain with
 * 3 (TRANSFORM) and end with 0.
 */
import { Doi, NotifyType, PayloadType, Situation } from '../constants.js'
import { IkeCodecError } from './errors.js'

/**
 * A data attribute (RFC 2408 3.3). A number is the basic (TV) format, AF bit
 * set, 16-bit value; a Buffer is the variable (TLV) format. Decoding keeps
 * the format, so a TLV attribute with a short value stays TLV.
 */
export interface Attribute {
  type: number
  value: number | Buffer
}

export interface Transform {
  number: number
  id: number
  attributes: Attribute[]
}

export interface Proposal {
  number: number
  protocol: number
  spi: Buffer
  transforms: Transform[]
}

export interface SaBody {
  doi: number
  situation: number
  /**
   * Bytes after the 4-byte situation that this codec does not interpret:
   * for an IPsec DOI situation with SIT_SECRECY or SIT_INTEGRITY (RFC 2407
   * 4.6.1 labeled domains) or a DOI other than ISAKMP (0) or IPsec (1), the
   * whole rest of the payload is kept here and `proposals` is empty; the
   * state machine answers SITUATION_NOT_SUPPORTED or DOI_NOT_SUPPORTED.
   * Empty otherwise.
   */
  situationData: Buffer
  proposals: Proposal[]
}

const bad = (code: 'IKE_TRUNCATED' | 'IKE_BAD_LENGTH' | 'IKE_MALFORMED', message: string, offset: number): IkeCodecError =>
  new IkeCodecError(code, message, NotifyType.BAD_PROPOSAL_SYNTAX, { payloadType: PayloadType.SA, offset })

/**
 * Data attributes filling `buf` exactly (RFC 2408 3.3):
 *
 *   !A!       Attribute Type        !    AF=0  Attribute Length     !
 *   !F!                             !    AF=1  Attribute Value      !
 *   .                   AF=0  Attribute Value                       .
 */
export function decodeAttributes(
  buf: Buffer,
  base = 0,
  notify: number = NotifyType.BAD_PROPOSAL_SYNTAX,
  payloadType: number = PayloadType.SA,
): Attribute[] {
  const attributes: Attribute[] = []
  let at = 0
  while (at < buf.length) {
    if (at + 4 > buf.length) throw new IkeCodecError('IKE_TRUNCATED', `attribute header at ${base + at} is cut short`, notify, { payloadType, offset: base + at })
    const word = buf.readUInt16BE(at)
    const type = word & 0x7fff
    if (word & 0x8000) {
      attributes.push({ type, value: buf.readUInt16BE(at + 2) })
      at += 4
    } else {
      const length = buf.readUInt16BE(at + 2)
      if (at + 4 + length > buf.length) {
        throw new IkeCodecError('IKE_BAD_LENGTH', `attribute ${type} at ${base + at} claims ${length} bytes, ${buf.length - at - 4} remain`, notify, { payloadType, offset: base + at })
      }
      attributes.push({ type, value: Buffer.from(buf.subarray(at + 4, at + 4 + length)) })
      at += 4 + length
    }
  }
  return attributes
}

export function encodeAttributes(attributes: readonly Attribute[]): Buffer {
  const out = Buffer.allocUnsafe(attributesLength(attributes))
  writeAttributes(attributes, out, 0)
  return out
}

/**
 * Encoded bytes of `attributes`. Encoding is two passes over the fields,
 * lengths then bytes into one buffer, instead of a Buffer per header and
 * a concat per level (the allocations were a tenth of the IKE responder's
 * time, bench/README).
 */
export function attributesLength(attributes: readonly Attribute[]): number {
  let n = 0
  for (const a of arrayOf<Attribute>(attributes, 'attributes')) {
    if (typeof a.value === 'number') n += a.value <= 0xffff ? 4 : 8
    else if (Buffer.isBuffer(a.value)) n += 4 + a.value.length
    else throw new IkeCodecError('IKE_BAD_VALUE', `attribute ${a.type} has neither a number nor a Buffer value`)
  }
  return n
}

/** Writes `attributes` (measured by attributesLength) at `at`; returns the offset after them. */
export function writeAttributes(attributes: readonly Attribute[], out: Buffer, at: number): number {
  for (const a of attributes) {
    checkInt(a.type, 0x7fff, 'attribute type')
    if (typeof a.value === 'number') {
      if (a.value <= 0xffff) {
        checkInt(a.value, 0xffff, 'attribute value')
        out.writeUInt16BE(0x8000 | a.type, at)
        out.writeUInt16BE(a.value, at + 2)
        at += 4
      } else {
        // Too wide for the basic format (a life duration of 86400 s, say):
        // RFC 2408 3.3 says such values use the variable format.
        checkInt(a.value, 0xffffffff, 'attribute value')
        out.writeUInt16BE(a.type, at)
        out.writeUInt16BE(4, at + 2)
        out.writeUInt32BE(a.value, at + 4)
        at += 8
      }
    } else {
      const value = a.value as Buffer
      checkInt(value.length, 0xffff, 'attribute length')
      out.writeUInt16BE(a.type, at)
      out.writeUInt16BE(value.length, at + 2)
      value.copy(out, at + 4)
      at += 4 + value.length
    }
  }
  return at
}

/** The first attribute of `type`, if any. */
export function findAttribute(attributes: readonly Attribute[], type: number): Attribute | undefined {
  return attributes.find((a) => a.type === type)
}

/**
 * An attribute's value as an integer, whichever its format: a TLV value of
 * up to 6 bytes is read big-endian (life durations often arrive as 4 bytes).
 * Longer values throw IKE_MALFORMED with ATTRIBUTES_NOT_SUPPORTED.
 */
export function attributeNumber(attribute: Attribute): number {
  if (typeof attribute.value === 'number') return attribute.value
  const v = attribute.value
  if (v.length === 0) return 0
  if (v.length > 6) {
    throw new IkeCodecError('IKE_MALFORMED', `attribute ${attribute.type} is ${v.length} bytes, too long for a number`, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  }
  return v.readUIntBE(0, v.length)
}

/** True when this codec parses proposals for the SA's DOI and situation. */
function parsesProposals(doi: number, situation: number): boolean {
  return (doi === Doi.ISAKMP || doi === Doi.IPSEC) && (situation & ~Situation.IDENTITY_ONLY) === 0
}

/**
 * SA payload body (RFC 2408 3.4, RFC 2407 4.6.1):
 *
 *   !              Domain of Interpretation  (DOI)                  !
 *   ~                           Situation                           ~
 *   ~                 Proposal payloads (type 2) ...                ~
 *
 * `base` is the body's offset in the buffer given to decodePayloads, for errors.
 */
export function decodeSaBody(body: Buffer, base = 0): SaBody {
  if (body.length < 8) throw bad('IKE_TRUNCATED', `SA payload body of ${body.length} bytes, need 8`, base)
  const doi = body.readUInt32BE(0)
  const situation = body.readUInt32BE(4)
  if (!parsesProposals(doi, situation)) {
    return { doi, situation, situationData: Buffer.from(body.subarray(8)), proposals: [] }
  }
  const proposals: Proposal[] = []
  walkChain(body, 8, PayloadType.PROPOSAL, 8, base, 'proposal', (item, offset) => {
    const spiSize = item[6]!
    const count = item[7]!
    if (8 + spiSize > item.length) throw bad('IKE_BAD_LENGTH', `proposal at ${offset} has an SPI of ${spiSize} bytes past its end`, offset)
    const transforms: Transform[] = []
    walkChain(item, 8 + spiSize, PayloadType.TRANSFORM, 8, offset, 'transform', (t, tOffset) => {
      transforms.push({ number: t[4]!, id: t[5]!, attributes: decodeAttributes(t.subarray(8), tOffset + 8) })
    })
    if (transforms.length !== count) {
      throw bad('IKE_MALFORMED', `proposal at ${offset} announces ${count} transforms and holds ${transforms.length}`, offset)
    }
    proposals.push({ number: item[4]!, protocol: item[5]!, spi: Buffer.from(item.subarray(8, 8 + spiSize)), transforms })
  })
  return { doi, situation, situationData: Buffer.alloc(0), proposals }
}

/**
 * A nested chain of substructures that must fill buf[start..] exactly: each
 * starts with next(1) reserved(1) length(2); `more` continues it, 0 ends it.
 * An empty remainder is an empty chain.
 */
function walkChain(
  buf: Buffer,
  start: number,
  more: number,
  minLength: number,
  base: number,
  what: string,
  visit: (item: Buffer, offset: number) => void,
): void {
  let at = start
  if (at >= buf.length) return
  for (;;) {
    if (at + minLength > buf.length) throw bad('IKE_TRUNCATED', `${what} header at ${base + at} is cut short`, base + at)
    const next = buf[at]!
    const length = buf.readUInt16BE(at + 2)
    if (length < minLength || at + length > buf.length) {
      throw bad('IKE_BAD_LENGTH', `${what} at ${base + at} has length ${length}, ${buf.length - at} remain`, base + at)
    }
    visit(buf.subarray(at, at + length), base + at)
    at += length
    if (next === PayloadType.NONE) {
      if (at !== buf.length) throw bad('IKE_BAD_LENGTH', `${buf.length - at} bytes after the last ${what} at ${base + at}`, base + at)
      return
    }
    if (next !== more) throw bad('IKE_MALFORMED', `${what} at ${base + at - length} is followed by payload type ${next}`, base + at - length)
    if (at >= buf.length) throw bad('IKE_TRUNCATED', `${what} chain announces one more ${what} at ${base + at}`, base + at)
  }
}

export function encodeSaBody(sa: SaBody): Buffer {
  const out = Buffer.allocUnsafe(saBodyLength(sa))
  writeSaBody(sa, out, 0)
  return out
}

/** Encoded bytes of an SA payload body (see attributesLength). */
export function saBodyLength(sa: SaBody): number {
  let n = 8 + bufferField(sa.situationData ?? EMPTY, 'situation data').length
  for (const p of arrayOf<Proposal>(sa.proposals, 'proposals')) {
    n += 8 + bufferField(p.spi, 'proposal SPI').length
    for (const t of arrayOf<Transform>(p.transforms, 'transforms')) n += 8 + attributesLength(t.attributes)
  }
  return n
}

/** Writes an SA payload body (measured by saBodyLength) at `at`; returns the offset after it. */
export function writeSaBody(sa: SaBody, out: Buffer, at: number): number {
  out.writeUInt32BE(checkInt(sa.doi, 0xffffffff, 'DOI'), at)
  out.writeUInt32BE(checkInt(sa.situation, 0xffffffff, 'situation'), at + 4)
  at += 8
  const situationData = sa.situationData ?? EMPTY
  situationData.copy(out, at)
  at += situationData.length
  sa.proposals.forEach((p, i) => {
    const start = at
    out[at] = i === sa.proposals.length - 1 ? PayloadType.NONE : PayloadType.PROPOSAL
    out[at + 1] = 0
    out[at + 4] = checkInt(p.number, 0xff, 'proposal number')
    out[at + 5] = checkInt(p.protocol, 0xff, 'protocol id')
    out[at + 6] = checkInt(p.spi.length, 0xff, 'SPI size')
    out[at + 7] = checkInt(p.transforms.length, 0xff, 'transform count')
    p.spi.copy(out, at + 8)
    at += 8 + p.spi.length
    p.transforms.forEach((t, j) => {
      const tStart = at
      out[at] = j === p.transforms.length - 1 ? PayloadType.NONE : PayloadType.TRANSFORM
      out[at + 1] = 0
      out[at + 4] = checkInt(t.number, 0xff, 'transform number')
      out[at + 5] = checkInt(t.id, 0xff, 'transform id')
      out[at + 6] = 0
      out[at + 7] = 0
      at = writeAttributes(t.attributes, out, at + 8)
      out.writeUInt16BE(checkInt(at - tStart, 0xffff, 'transform length'), tStart + 2)
    })
    out.writeUInt16BE(checkInt(at - start, 0xffff, 'proposal length'), start + 2)
  })
  return at
}

const EMPTY = Buffer.alloc(0)

/** `value` if it is an integer in 0..max, else IKE_BAD_VALUE. */
export function checkInt(value: unknown, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new IkeCodecError('IKE_BAD_VALUE', `${what} must be an integer in 0..${max}, got ${String(value)}`)
  }
  return value
}

/** `value` if it is an array, else IKE_BAD_VALUE. */
function arrayOf<T>(value: unknown, what: string): T[] {
  if (!Array.isArray(value)) throw new IkeCodecError('IKE_BAD_VALUE', `${what} must be an array`)
  for (const v of value) if (typeof v !== 'object' || v === null) throw new IkeCodecError('IKE_BAD_VALUE', `${what} must hold objects`)
  return value as T[]
}

/** `value` if it is a Buffer, else IKE_BAD_VALUE. */
export function bufferField(value: unknown, what: string): Buffer {
  if (!Buffer.isBuffer(value)) throw new IkeCodecError('IKE_BAD_VALUE', `${what} must be a Buffer`)
  return value
}
