/**
 * L2TPv2 AVPs (RFC 2661 4.1, 4.4): the typed value of every AVP section 4.4
 * defines, by attribute type, with its wire layout beside it; and the
 * codec's one error type, `L2tpCodecError`.
 *
 * Pure functions over Buffers. Strings (Host Name, Vendor Name, numbers,
 * Proxy Authen Name, error and advisory messages) are "arbitrary octets" in
 * the RFC: they are decoded as latin1 strings, so any bytes round-trip
 * (`Buffer.from(s, 'latin1')` gives the octets back).
 */
import { AvpType, GeneralError } from './constants.js'

// --- errors -------------------------------------------------------------

/**
 * Stable codes of `L2tpCodecError`:
 * - `L2TP_TRUNCATED`: the input ended inside the header, before the Length
 *   the header announces, or inside an AVP header.
 * - `L2TP_NOT_CONTROL`: the T bit is 0: a data message, not for this codec.
 * - `L2TP_BAD_HEADER`: a control message without the L or S bit, or with the
 *   O bit (RFC 2661 3.1).
 * - `L2TP_BAD_VERSION`: Ver is not 2 (RFC 2661 3.1: such packets are
 *   silently discarded).
 * - `L2TP_BAD_LENGTH`: a length field is impossible (header Length below 12,
 *   an AVP shorter than its header or reaching past the message) or a known
 *   AVP's value has a length its layout does not allow.
 * - `L2TP_NO_MESSAGE_TYPE`: a non-empty body whose first AVP is not an
 *   unhidden Message Type (RFC 2661 4.4.1).
 * - `L2TP_BAD_VALUE`: a field out of range or a reserved field not zero in a
 *   known AVP; from the encoders, a field out of its wire range.
 * - `L2TP_HIDDEN`: a hidden AVP that cannot be revealed or hidden: no shared
 *   secret, no Random Vector before it, or a decrypted length that does not
 *   fit (a wrong secret).
 */
export type L2tpCodecErrorCode =
  | 'L2TP_TRUNCATED'
  | 'L2TP_NOT_CONTROL'
  | 'L2TP_BAD_HEADER'
  | 'L2TP_BAD_VERSION'
  | 'L2TP_BAD_LENGTH'
  | 'L2TP_NO_MESSAGE_TYPE'
  | 'L2TP_BAD_VALUE'
  | 'L2TP_HIDDEN'

/** Where a decoding error was found, and what was already known of the message. */
export interface L2tpCodecErrorContext {
  /** Byte offset in the datagram. */
  offset?: number
  /** Vendor ID and attribute type of the AVP being decoded or encoded. */
  vendorId?: number
  attributeType?: number
  /** Header fields, once they were read: enough to address a StopCCN or CDN. */
  tunnelId?: number
  sessionId?: number
  ns?: number
  messageType?: number
}

/** The only error the L2TP codec throws, on any input. */
export class L2tpCodecError extends Error {
  override readonly name = 'L2tpCodecError'
  readonly code: L2tpCodecErrorCode
  /**
   * The General Error Code (RFC 2661 4.4.2) to put in a StopCCN or CDN
   * Result Code AVP (result 2, "General error") when answering: 2 for
   * lengths, 3 for values, 6 otherwise.
   */
  readonly errorCode: number
  readonly context: L2tpCodecErrorContext

  constructor(code: L2tpCodecErrorCode, message: string, context: L2tpCodecErrorContext = {}, errorCode?: number) {
    super(message)
    this.code = code
    this.errorCode = errorCode ?? defaultErrorCode(code)
    this.context = context
  }
}

function defaultErrorCode(code: L2tpCodecErrorCode): number {
  switch (code) {
    case 'L2TP_TRUNCATED':
    case 'L2TP_BAD_LENGTH':
      return GeneralError.LENGTH_WRONG
    case 'L2TP_BAD_VALUE':
    case 'L2TP_BAD_HEADER':
    case 'L2TP_NO_MESSAGE_TYPE':
      return GeneralError.VALUE_OUT_OF_RANGE
    default:
      return GeneralError.VENDOR_SPECIFIC
  }
}

// --- values -------------------------------------------------------------

/** Result Code (1): result (2) [error code (2) [error message]]. */
export interface ResultCodeValue {
  resultCode: number
  errorCode?: number
  errorMessage?: string
}

/** Protocol Version (2): version (1), revision (1). L2TPv2 is 1.0. */
export interface ProtocolVersionValue {
  version: number
  revision: number
}

/** Q.931 Cause Code (12): cause code (2), cause msg (1) [advisory message]. */
export interface Q931CauseValue {
  causeCode: number
  causeMessage: number
  advisory?: string
}

/** Call Errors (34): reserved (2), then six 32-bit counters. */
export interface CallErrorsValue {
  crcErrors: number
  framingErrors: number
  hardwareOverruns: number
  bufferOverruns: number
  timeoutErrors: number
  alignmentErrors: number
}

/** ACCM (35): reserved (2), send ACCM (4), receive ACCM (4). */
export interface AccmValue {
  sendAccm: number
  receiveAccm: number
}

/**
 * The decoded value of each IETF AVP. Bit fields (Framing/Bearer
 * Capabilities and Type) stay 32-bit numbers: test them with FramingBit and
 * BearerBit. Sequencing Required (39) has no value.
 */
export interface AvpValueMap {
  0: number
  1: ResultCodeValue
  2: ProtocolVersionValue
  3: number
  4: number
  /** Tie Breaker: 8 octets. */
  5: Buffer
  6: number
  7: string
  8: string
  9: number
  10: number
  11: Buffer
  12: Q931CauseValue
  /** Challenge Response: 16 octets. */
  13: Buffer
  14: number
  15: number
  16: number
  17: number
  18: number
  19: number
  21: string
  22: string
  23: string
  24: number
  25: number
  26: Buffer
  27: Buffer
  28: Buffer
  29: number
  30: string
  31: Buffer
  /** Proxy Authen ID: reserved (1), ID (1); the value is the ID. */
  32: number
  33: Buffer
  34: CallErrorsValue
  35: AccmValue
  36: Buffer
  37: Buffer
  38: number
  39: null
}

export type KnownAvpType = keyof AvpValueMap

/** What every AVP carries besides its value. */
export interface AvpCommon {
  /** M bit: a receiver that does not know the AVP must clear the session or tunnel (RFC 2661 4.2). */
  mandatory: boolean
  /** H bit: the value travels hidden (RFC 2661 4.3); `value` is the revealed one. */
  hidden: boolean
  /**
   * Hidden AVPs only: the padding after the original value in the hidden
   * subformat. Kept on decode so that re-encoding with the same Random
   * Vector reproduces the wire bytes; on encode, random padding is made
   * when absent.
   */
  padding?: Buffer
}

/** An IETF AVP the codec knows, with its typed value. */
export type KnownAvp = {
  [K in KnownAvpType]: AvpCommon & { vendorId: 0; attributeType: K; value: AvpValueMap[K] }
}[KnownAvpType]

/**
 * An AVP kept as octets: a vendor AVP (Vendor ID ≠ 0), an IETF attribute
 * type the RFC does not define, or an AVP with reserved header bits set
 * (which must be treated as unrecognised). Round-trips unchanged.
 */
export interface OpaqueAvp extends AvpCommon {
  opaque: true
  vendorId: number
  attributeType: number
  /** The value (revealed, when hidden). */
  value: Buffer
  /** The four reserved header bits (0..15), kept so the AVP round-trips. */
  reserved?: number
}

export type Avp = KnownAvp | OpaqueAvp

/** The decoded AVP of each known type. */
export type AvpByType = { [K in KnownAvpType]: Extract<KnownAvp, { attributeType: K }> }

/** Whether `avp` is the known IETF AVP `type` (narrows its value). */
export function isAvp<T extends KnownAvpType>(avp: Avp, type: T): avp is AvpByType[T] {
  return avp.vendorId === 0 && avp.attributeType === type && !('opaque' in avp)
}

/** The first known AVP of `type`, if any. */
export function findAvp<T extends KnownAvpType>(avps: readonly Avp[], type: T): AvpByType[T] | undefined {
  for (const a of avps) if (isAvp(a, type)) return a
  return undefined
}

/** The value of the first known AVP of `type`, if any. */
export function avpValue<T extends KnownAvpType>(avps: readonly Avp[], type: T): AvpValueMap[T] | undefined {
  return findAvp(avps, type)?.value as AvpValueMap[T] | undefined
}

/** A known AVP to encode, M bit set unless said otherwise: `avp(AvpType.HOST_NAME, 'lns')`. */
export function avp<T extends KnownAvpType>(attributeType: T, value: AvpValueMap[T], flags: Partial<AvpCommon> = {}): AvpByType[T] {
  return { mandatory: flags.mandatory ?? true, hidden: flags.hidden ?? false, ...(flags.padding ? { padding: flags.padding } : {}), vendorId: 0, attributeType, value } as unknown as AvpByType[T]
}

// --- layouts ------------------------------------------------------------

interface Layout {
  decode(value: Buffer, fail: (code: L2tpCodecErrorCode, message: string) => never): unknown
  encode(value: unknown, fail: (message: string) => never): Buffer
}

function intOf(value: unknown, max: number, fail: (message: string) => never): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) fail(`${String(value)} is not an integer in 0..${max}`)
  return value as number
}

function bufferOf(value: unknown, fail: (message: string) => never): Buffer {
  if (!Buffer.isBuffer(value)) fail('value is not a Buffer')
  return value as Buffer
}

function stringOf(value: unknown, fail: (message: string) => never): Buffer {
  if (typeof value !== 'string') fail('value is not a string')
  return Buffer.from(value as string, 'latin1')
}

function fieldOf(value: unknown, key: string, fail: (message: string) => never): unknown {
  if (typeof value !== 'object' || value === null) fail('value is not an object')
  return (value as Record<string, unknown>)[key]
}

function exact(n: number, value: Buffer, fail: (code: L2tpCodecErrorCode, message: string) => never): void {
  if (value.length !== n) fail('L2TP_BAD_LENGTH', `value of ${value.length} octets, expected ${n}`)
}

function u16Be(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n, 0)
  return b
}

function u32Be(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n, 0)
  return b
}

const U16: Layout = {
  decode: (v, fail) => (exact(2, v, fail), v.readUInt16BE(0)),
  encode: (v, fail) => u16Be(intOf(v, 0xffff, fail)),
}

const U32: Layout = {
  decode: (v, fail) => (exact(4, v, fail), v.readUInt32BE(0)),
  encode: (v, fail) => u32Be(intOf(v, 0xffffffff, fail)),
}

const OCTETS: Layout = {
  decode: (v) => Buffer.from(v),
  encode: (v, fail) => Buffer.from(bufferOf(v, fail)),
}

function fixedOctets(n: number): Layout {
  return {
    decode: (v, fail) => (exact(n, v, fail), Buffer.from(v)),
    encode: (v, fail) => {
      const b = bufferOf(v, fail)
      if (b.length !== n) fail(`value of ${b.length} octets, expected ${n}`)
      return Buffer.from(b)
    },
  }
}

const STRING: Layout = {
  decode: (v) => v.toString('latin1'),
  encode: (v, fail) => stringOf(v, fail),
}

const RESULT_CODE: Layout = {
  // result code (2) [error code (2) [error message ...]]
  decode: (v, fail) => {
    if (v.length !== 2 && v.length < 4) fail('L2TP_BAD_LENGTH', `Result Code of ${v.length} octets`)
    const out: ResultCodeValue = { resultCode: v.readUInt16BE(0) }
    if (v.length >= 4) out.errorCode = v.readUInt16BE(2)
    if (v.length > 4) out.errorMessage = v.subarray(4).toString('latin1')
    return out
  },
  encode: (v, fail) => {
    const parts = [u16Be(intOf(fieldOf(v, 'resultCode', fail), 0xffff, fail))]
    const errorCode = fieldOf(v, 'errorCode', fail)
    const errorMessage = fieldOf(v, 'errorMessage', fail)
    if (errorCode !== undefined || errorMessage !== undefined) parts.push(u16Be(intOf(errorCode ?? 0, 0xffff, fail)))
    if (errorMessage !== undefined) parts.push(stringOf(errorMessage, fail))
    return Buffer.concat(parts)
  },
}

const PROTOCOL_VERSION: Layout = {
  // version (1) revision (1)
  decode: (v, fail) => (exact(2, v, fail), { version: v[0]!, revision: v[1]! }),
  encode: (v, fail) => Buffer.from([intOf(fieldOf(v, 'version', fail), 0xff, fail), intOf(fieldOf(v, 'revision', fail), 0xff, fail)]),
}

const Q931_CAUSE: Layout = {
  // cause code (2) cause msg (1) [advisory message ...]
  decode: (v, fail) => {
    if (v.length < 3) fail('L2TP_BAD_LENGTH', `Q.931 Cause Code of ${v.length} octets`)
    const out: Q931CauseValue = { causeCode: v.readUInt16BE(0), causeMessage: v[2]! }
    if (v.length > 3) out.advisory = v.subarray(3).toString('latin1')
    return out
  },
  encode: (v, fail) => {
    const parts = [u16Be(intOf(fieldOf(v, 'causeCode', fail), 0xffff, fail)), Buffer.from([intOf(fieldOf(v, 'causeMessage', fail), 0xff, fail)])]
    const advisory = fieldOf(v, 'advisory', fail)
    if (advisory !== undefined) parts.push(stringOf(advisory, fail))
    return Buffer.concat(parts)
  },
}

const PROXY_AUTHEN_ID: Layout = {
  // reserved (1) ID (1)
  decode: (v, fail) => {
    exact(2, v, fail)
    if (v[0] !== 0) fail('L2TP_BAD_VALUE', 'reserved octet of Proxy Authen ID is not zero')
    return v[1]!
  },
  encode: (v, fail) => Buffer.from([0, intOf(v, 0xff, fail)]),
}

const CALL_ERROR_FIELDS = ['crcErrors', 'framingErrors', 'hardwareOverruns', 'bufferOverruns', 'timeoutErrors', 'alignmentErrors'] as const

const CALL_ERRORS: Layout = {
  // reserved (2) CRC errors (4) framing errors (4) hardware overruns (4)
  // buffer overruns (4) time-out errors (4) alignment errors (4)
  decode: (v, fail) => {
    exact(26, v, fail)
    if (v.readUInt16BE(0) !== 0) fail('L2TP_BAD_VALUE', 'reserved field of Call Errors is not zero')
    const out: Record<string, number> = {}
    CALL_ERROR_FIELDS.forEach((k, i) => (out[k] = v.readUInt32BE(2 + 4 * i)))
    return out as unknown as CallErrorsValue
  },
  encode: (v, fail) => Buffer.concat([Buffer.alloc(2), ...CALL_ERROR_FIELDS.map((k) => u32Be(intOf(fieldOf(v, k, fail), 0xffffffff, fail)))]),
}

const ACCM: Layout = {
  // reserved (2) send ACCM (4) receive ACCM (4)
  decode: (v, fail) => {
    exact(10, v, fail)
    if (v.readUInt16BE(0) !== 0) fail('L2TP_BAD_VALUE', 'reserved field of ACCM is not zero')
    return { sendAccm: v.readUInt32BE(2), receiveAccm: v.readUInt32BE(6) }
  },
  encode: (v, fail) => Buffer.concat([Buffer.alloc(2), u32Be(intOf(fieldOf(v, 'sendAccm', fail), 0xffffffff, fail)), u32Be(intOf(fieldOf(v, 'receiveAccm', fail), 0xffffffff, fail))]),
}

const EMPTY: Layout = {
  decode: (v, fail) => (exact(0, v, fail), null),
  encode: (v, fail) => (v !== null && v !== undefined ? fail('Sequencing Required has no value') : Buffer.alloc(0)),
}

/** Layout of each IETF AVP's value (RFC 2661 4.4.1 to 4.4.6). */
const LAYOUTS: Record<KnownAvpType, Layout> = {
  [AvpType.MESSAGE_TYPE]: U16,
  [AvpType.RESULT_CODE]: RESULT_CODE,
  [AvpType.PROTOCOL_VERSION]: PROTOCOL_VERSION,
  [AvpType.FRAMING_CAPABILITIES]: U32,
  [AvpType.BEARER_CAPABILITIES]: U32,
  [AvpType.TIE_BREAKER]: fixedOctets(8),
  [AvpType.FIRMWARE_REVISION]: U16,
  [AvpType.HOST_NAME]: STRING,
  [AvpType.VENDOR_NAME]: STRING,
  [AvpType.ASSIGNED_TUNNEL_ID]: U16,
  [AvpType.RECEIVE_WINDOW_SIZE]: U16,
  [AvpType.CHALLENGE]: OCTETS,
  [AvpType.Q931_CAUSE_CODE]: Q931_CAUSE,
  [AvpType.CHALLENGE_RESPONSE]: fixedOctets(16),
  [AvpType.ASSIGNED_SESSION_ID]: U16,
  [AvpType.CALL_SERIAL_NUMBER]: U32,
  [AvpType.MINIMUM_BPS]: U32,
  [AvpType.MAXIMUM_BPS]: U32,
  [AvpType.BEARER_TYPE]: U32,
  [AvpType.FRAMING_TYPE]: U32,
  [AvpType.CALLED_NUMBER]: STRING,
  [AvpType.CALLING_NUMBER]: STRING,
  [AvpType.SUB_ADDRESS]: STRING,
  [AvpType.TX_CONNECT_SPEED]: U32,
  [AvpType.PHYSICAL_CHANNEL_ID]: U32,
  [AvpType.INITIAL_RECEIVED_LCP_CONFREQ]: OCTETS,
  [AvpType.LAST_SENT_LCP_CONFREQ]: OCTETS,
  [AvpType.LAST_RECEIVED_LCP_CONFREQ]: OCTETS,
  [AvpType.PROXY_AUTHEN_TYPE]: U16,
  [AvpType.PROXY_AUTHEN_NAME]: STRING,
  [AvpType.PROXY_AUTHEN_CHALLENGE]: OCTETS,
  [AvpType.PROXY_AUTHEN_ID]: PROXY_AUTHEN_ID,
  [AvpType.PROXY_AUTHEN_RESPONSE]: OCTETS,
  [AvpType.CALL_ERRORS]: CALL_ERRORS,
  [AvpType.ACCM]: ACCM,
  [AvpType.RANDOM_VECTOR]: OCTETS,
  [AvpType.PRIVATE_GROUP_ID]: OCTETS,
  [AvpType.RX_CONNECT_SPEED]: U32,
  [AvpType.SEQUENCING_REQUIRED]: EMPTY,
}

/** Whether (vendorId, attributeType) is an AVP this codec decodes into a typed value. */
export function isKnownAvpType(vendorId: number, attributeType: number): attributeType is KnownAvpType {
  return vendorId === 0 && Object.prototype.hasOwnProperty.call(LAYOUTS, attributeType)
}

/** The typed value of a known AVP from its (revealed) value octets. */
export function decodeAvpValue(attributeType: KnownAvpType, value: Buffer, context: L2tpCodecErrorContext = {}): unknown {
  return LAYOUTS[attributeType].decode(value, (code, message) => {
    throw new L2tpCodecError(code, `AVP ${attributeType}: ${message}`, { ...context, vendorId: 0, attributeType })
  })
}

/** The value octets of a known AVP from its typed value. */
export function encodeAvpValue(attributeType: KnownAvpType, value: unknown, context: L2tpCodecErrorContext = {}): Buffer {
  return LAYOUTS[attributeType].encode(value, (message) => {
    throw new L2tpCodecError('L2TP_BAD_VALUE', `AVP ${attributeType}: ${message}`, { ...context, vendorId: 0, attributeType })
  })
}
