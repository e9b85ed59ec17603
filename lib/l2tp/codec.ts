/**
 * L2TPv2 control message codec (RFC 2661 3.1, 4): the header, ZLB
 * acknowledgements, AVPs with a typed value for every AVP of section 4.4,
 * vendor and unknown AVPs kept opaque, and hidden AVPs (4.3) revealed and
 * hidden with the tunnel secret. Pure functions over Buffers; randomness for
 * hidden-AVP padding is injected.
 *
 * Every decoder throws only L2tpCodecError, whatever the input. An unknown
 * AVP with the M bit set is not an error of the codec: it is reported in
 * `unknownMandatory`, and `mandatoryFailure` says how to answer it.
 */
import crypto from 'node:crypto'
import {
  AVP_HEADER_LENGTH,
  AVP_MAX_LENGTH,
  AvpBit,
  AvpType,
  CONTROL_FLAGS,
  CONTROL_HEADER_LENGTH,
  CdnResult,
  GeneralError,
  HeaderBit,
  L2TP_VERSION,
  MessageType,
  SESSION_MESSAGE_TYPES,
  StopCcnResult,
  VERSION_MASK,
  isKnownMessageType,
  nameOf,
} from './constants.js'
import { L2tpCodecError, decodeAvpValue, encodeAvpValue, isKnownAvpType } from './avp.js'
import type { Avp, AvpCommon, KnownAvpType, L2tpCodecErrorContext, OpaqueAvp, ResultCodeValue } from './avp.js'
import { hideValue, revealValue } from './hidden.js'

export { L2tpCodecError, avp, avpValue, findAvp, isAvp, isKnownAvpType } from './avp.js'
export type {
  AccmValue,
  Avp,
  AvpByType,
  AvpCommon,
  AvpValueMap,
  CallErrorsValue,
  KnownAvp,
  KnownAvpType,
  L2tpCodecErrorCode,
  L2tpCodecErrorContext,
  OpaqueAvp,
  ProtocolVersionValue,
  Q931CauseValue,
  ResultCodeValue,
} from './avp.js'

/**
 * A control message (RFC 2661 3.1):
 *
 *    |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length               |
 *    |           Tunnel ID           |           Session ID          |
 *    |               Ns              |               Nr              |
 *    |      AVPs ...
 *
 * A ZLB (zero-length body, RFC 2661 5.8) has no AVPs and no message type.
 */
export interface ControlMessage {
  /** The recipient's Tunnel ID (0 in an SCCRQ). */
  tunnelId: number
  /** The recipient's Session ID (0 for tunnel messages). */
  sessionId: number
  ns: number
  nr: number
  /** The value of the Message Type AVP, which is avps[0]; undefined for a ZLB. Open: unknown types are kept. */
  messageType: number | undefined
  /** Every AVP in wire order, the Message Type AVP first. */
  avps: Avp[]
}

/** A control message as decoded, with what the wire said besides. */
export interface DecodedControl extends ControlMessage {
  /** The first 16 bits of the header as received (reserved bits included). */
  flags: number
  /** The header's Length. */
  length: number
  /** Bytes after `length` in the datagram, ignored. */
  trailing: number
  /** Opaque AVPs with the M bit set, in order: the session or tunnel must be cleared (RFC 2661 4.2); see `mandatoryFailure`. */
  unknownMandatory: OpaqueAvp[]
}

/** An AVP to encode: a known AVP, or an opaque one (the `opaque` tag may be left out). */
export type AvpInput = Avp | (Omit<OpaqueAvp, 'opaque'> & { opaque?: true })

/**
 * A message to encode. `avps` may begin with the Message Type AVP (as a
 * decoded message does) or not: then one with the M bit is put first from
 * `messageType`. No AVPs and no `messageType` make a ZLB.
 */
export interface ControlMessageInput {
  tunnelId: number
  sessionId: number
  ns: number
  nr: number
  messageType?: number | undefined
  avps?: readonly AvpInput[]
}

/** The tunnel secret, needed only when a message has hidden AVPs. */
export interface DecodeOptions {
  secret?: Buffer | string
}

export interface EncodeOptions {
  secret?: Buffer | string
  /** Random octets for hidden-AVP padding, when an AVP has no `padding` of its own. Default: node:crypto randomBytes. */
  randomBytes?: (length: number) => Buffer
}

/** Whether a message is a ZLB acknowledgement (header only). */
export function isZlb(message: Pick<ControlMessage, 'avps'>): boolean {
  return message.avps.length === 0
}

/** The message type's name for logs: `SCCRQ`, `ZLB`, `UNKNOWN(42)`. */
export function messageName(message: Pick<ControlMessage, 'messageType'>): string {
  return message.messageType === undefined ? 'ZLB' : nameOf(MessageType, message.messageType)
}

function secretOf(secret: Buffer | string | undefined): Buffer | undefined {
  if (secret === undefined) return undefined
  return typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
}

// --- decoding -----------------------------------------------------------

/**
 * One control message from the UDP payload of a datagram to port 1701.
 * Throws L2tpCodecError with `L2TP_NOT_CONTROL` for a data message (T bit
 * 0), so callers can route on that.
 */
export function decodeControl(datagram: Buffer, options: DecodeOptions = {}): DecodedControl {
  if (!Buffer.isBuffer(datagram)) throw new L2tpCodecError('L2TP_TRUNCATED', 'datagram is not a Buffer')
  if (datagram.length < 2) throw new L2tpCodecError('L2TP_TRUNCATED', `datagram of ${datagram.length} bytes`, { offset: 0 })
  const flags = datagram.readUInt16BE(0)
  if (!(flags & HeaderBit.TYPE)) throw new L2tpCodecError('L2TP_NOT_CONTROL', 'T bit is 0: a data message', { offset: 0 })
  const version = flags & VERSION_MASK
  if (version !== L2TP_VERSION) throw new L2tpCodecError('L2TP_BAD_VERSION', `version ${version}, only 2 is supported`, { offset: 1 })
  if (!(flags & HeaderBit.LENGTH) || !(flags & HeaderBit.SEQUENCE) || flags & HeaderBit.OFFSET) {
    throw new L2tpCodecError('L2TP_BAD_HEADER', `control message flags 0x${flags.toString(16).padStart(4, '0')}: L and S must be 1, O must be 0`, { offset: 0 })
  }
  if (datagram.length < CONTROL_HEADER_LENGTH) {
    throw new L2tpCodecError('L2TP_TRUNCATED', `datagram of ${datagram.length} bytes is shorter than the control header`, { offset: 0 })
  }
  const length = datagram.readUInt16BE(2)
  const header = { tunnelId: datagram.readUInt16BE(4), sessionId: datagram.readUInt16BE(6), ns: datagram.readUInt16BE(8), nr: datagram.readUInt16BE(10) }
  if (length < CONTROL_HEADER_LENGTH) throw new L2tpCodecError('L2TP_BAD_LENGTH', `header Length ${length} is below 12`, { offset: 2, ...header })
  if (length > datagram.length) throw new L2tpCodecError('L2TP_TRUNCATED', `header Length ${length}, the datagram has ${datagram.length}`, { offset: 2, ...header })

  const secret = secretOf(options.secret)
  const avps: Avp[] = []
  const unknownMandatory: OpaqueAvp[] = []
  let messageType: number | undefined
  let randomVector: Buffer | undefined
  for (let at = CONTROL_HEADER_LENGTH; at < length; ) {
    const context: L2tpCodecErrorContext = { offset: at, ...header, ...(messageType !== undefined ? { messageType } : {}) }
    if (at + AVP_HEADER_LENGTH > length) throw new L2tpCodecError('L2TP_TRUNCATED', `AVP header at ${at}, ${length - at} bytes remain`, context)
    // |M|H| rsvd  |      Length       |           Vendor ID           |
    // |         Attribute Type        |        Attribute Value ...
    const bits = datagram.readUInt16BE(at)
    const avpLength = bits & AvpBit.LENGTH
    const vendorId = datagram.readUInt16BE(at + 2)
    const attributeType = datagram.readUInt16BE(at + 4)
    Object.assign(context, { vendorId, attributeType })
    if (avpLength < AVP_HEADER_LENGTH || at + avpLength > length) {
      throw new L2tpCodecError('L2TP_BAD_LENGTH', `AVP ${vendorId}:${attributeType} at ${at} has length ${avpLength}, ${length - at} bytes remain`, context)
    }
    const mandatory = (bits & AvpBit.MANDATORY) !== 0
    const hidden = (bits & AvpBit.HIDDEN) !== 0
    const reserved = (bits & AvpBit.RESERVED) >> 10
    const wire = datagram.subarray(at + AVP_HEADER_LENGTH, at + avpLength)
    const first = avps.length === 0
    if (first && (vendorId !== 0 || attributeType !== AvpType.MESSAGE_TYPE || hidden)) {
      throw new L2tpCodecError('L2TP_NO_MESSAGE_TYPE', `first AVP is ${vendorId}:${attributeType}${hidden ? ' (hidden)' : ''}, not an unhidden Message Type`, context)
    }

    let value = wire
    let padding: Buffer | undefined
    if (hidden) {
      if (!secret) throw new L2tpCodecError('L2TP_HIDDEN', `hidden AVP ${vendorId}:${attributeType} and no tunnel secret`, context)
      if (!randomVector) throw new L2tpCodecError('L2TP_HIDDEN', `hidden AVP ${vendorId}:${attributeType} with no Random Vector before it`, context)
      const revealed = revealValue(attributeType, wire, secret, randomVector)
      if (!revealed) throw new L2tpCodecError('L2TP_HIDDEN', `hidden AVP ${vendorId}:${attributeType}: the revealed length does not fit (wrong secret?)`, context)
      value = Buffer.from(revealed.value)
      padding = Buffer.from(revealed.padding)
    }
    const common: AvpCommon = padding ? { mandatory, hidden, padding } : { mandatory, hidden }

    let decoded: Avp
    // An AVP with reserved bits set is treated as unrecognised (so its M bit counts).
    if (reserved === 0 && isKnownAvpType(vendorId, attributeType)) {
      decoded = { ...common, vendorId: 0, attributeType, value: decodeAvpValue(attributeType, value, context) } as Avp
      if (attributeType === AvpType.RANDOM_VECTOR) randomVector = value
    } else {
      const opaque: OpaqueAvp = { ...common, opaque: true, vendorId, attributeType, value: Buffer.from(value), ...(reserved ? { reserved } : {}) }
      if (mandatory) unknownMandatory.push(opaque)
      decoded = opaque
    }
    if (first) messageType = decoded.value as number
    avps.push(decoded)
    at += avpLength
  }
  return { ...header, messageType, avps, flags, length, trailing: datagram.length - length, unknownMandatory }
}

// --- encoding -----------------------------------------------------------

function checkInt(value: unknown, max: number, what: string, context: L2tpCodecErrorContext = {}): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new L2tpCodecError('L2TP_BAD_VALUE', `${what} ${String(value)} is not an integer in 0..${max}`, context)
  }
  return value
}

function isMessageTypeAvp(a: AvpInput | undefined): boolean {
  return a !== undefined && a.vendorId === 0 && a.attributeType === AvpType.MESSAGE_TYPE
}

/** The datagram (UDP payload) of a control message. */
export function encodeControl(message: ControlMessageInput, options: EncodeOptions = {}): Buffer {
  if (typeof message !== 'object' || message === null) throw new L2tpCodecError('L2TP_BAD_VALUE', 'message must be an object')
  const header = Buffer.alloc(CONTROL_HEADER_LENGTH)
  header.writeUInt16BE(CONTROL_FLAGS, 0)
  header.writeUInt16BE(checkInt(message.tunnelId, 0xffff, 'tunnel ID'), 4)
  header.writeUInt16BE(checkInt(message.sessionId, 0xffff, 'session ID'), 6)
  header.writeUInt16BE(checkInt(message.ns, 0xffff, 'Ns'), 8)
  header.writeUInt16BE(checkInt(message.nr, 0xffff, 'Nr'), 10)

  let avps: readonly AvpInput[] = message.avps ?? []
  if (!Array.isArray(avps)) throw new L2tpCodecError('L2TP_BAD_VALUE', 'avps must be an array')
  if (message.messageType !== undefined) {
    checkInt(message.messageType, 0xffff, 'message type')
    if (!isMessageTypeAvp(avps[0])) {
      avps = [{ mandatory: true, hidden: false, vendorId: 0, attributeType: AvpType.MESSAGE_TYPE, value: message.messageType }, ...avps]
    } else if (avps[0]!.value !== message.messageType) {
      throw new L2tpCodecError('L2TP_BAD_VALUE', `messageType ${message.messageType} but the Message Type AVP says ${String(avps[0]!.value)}`)
    }
  } else if (avps.length > 0 && !isMessageTypeAvp(avps[0])) {
    throw new L2tpCodecError('L2TP_NO_MESSAGE_TYPE', 'the first AVP must be Message Type')
  }

  const secret = secretOf(options.secret)
  const randomBytes = options.randomBytes ?? crypto.randomBytes
  const parts: Buffer[] = [header]
  let total = CONTROL_HEADER_LENGTH
  let randomVector: Buffer | undefined
  for (const a of avps) {
    if (typeof a !== 'object' || a === null) throw new L2tpCodecError('L2TP_BAD_VALUE', 'AVP must be an object')
    const vendorId = checkInt(a.vendorId, 0xffff, 'vendor ID')
    const attributeType = checkInt(a.attributeType, 0xffff, 'attribute type', { vendorId })
    const context: L2tpCodecErrorContext = { vendorId, attributeType }
    const reserved = 'reserved' in a && a.reserved !== undefined ? checkInt(a.reserved, 0xf, 'reserved bits', context) : 0
    const opaque = 'opaque' in a || reserved !== 0 || !isKnownAvpType(vendorId, attributeType)
    let value: Buffer
    if (opaque) {
      if (!Buffer.isBuffer(a.value)) throw new L2tpCodecError('L2TP_BAD_VALUE', `opaque AVP ${vendorId}:${attributeType} value must be a Buffer`, context)
      value = a.value
    } else {
      value = encodeAvpValue(attributeType as KnownAvpType, a.value, context)
      if (attributeType === AvpType.RANDOM_VECTOR && !a.hidden) randomVector = value
    }
    if (a.hidden) {
      if (!secret) throw new L2tpCodecError('L2TP_HIDDEN', `hidden AVP ${vendorId}:${attributeType} and no tunnel secret`, context)
      if (!randomVector) throw new L2tpCodecError('L2TP_HIDDEN', `hidden AVP ${vendorId}:${attributeType} with no Random Vector before it`, context)
      // Default padding fills the subformat (length prefix + value) to a multiple of 16.
      const padding = a.padding ?? randomBytes((16 - ((2 + value.length) % 16)) % 16)
      if (!Buffer.isBuffer(padding)) throw new L2tpCodecError('L2TP_BAD_VALUE', 'padding must be a Buffer', context)
      value = hideValue(attributeType, value, padding, secret, randomVector)
    }
    const avpLength = AVP_HEADER_LENGTH + value.length
    if (avpLength > AVP_MAX_LENGTH) throw new L2tpCodecError('L2TP_BAD_VALUE', `AVP ${vendorId}:${attributeType} of ${avpLength} bytes exceeds ${AVP_MAX_LENGTH}`, context)
    const h = Buffer.alloc(AVP_HEADER_LENGTH)
    h.writeUInt16BE((a.mandatory ? AvpBit.MANDATORY : 0) | (a.hidden ? AvpBit.HIDDEN : 0) | (reserved << 10) | avpLength, 0)
    h.writeUInt16BE(vendorId, 2)
    h.writeUInt16BE(attributeType, 4)
    parts.push(h, value)
    total += avpLength
  }
  if (total > 0xffff) throw new L2tpCodecError('L2TP_BAD_VALUE', `message of ${total} bytes exceeds 65535`)
  header.writeUInt16BE(total, 2)
  return Buffer.concat(parts, total)
}

// --- answering an unknown mandatory AVP ---------------------------------

/** How to answer a message the receiver must refuse as a whole (RFC 2661 4.2, 4.4.1). */
export interface MandatoryFailure {
  /** `session`: clear the session with CDN; `tunnel`: clear the tunnel with StopCCN. */
  scope: 'session' | 'tunnel'
  /** MessageType.CDN or MessageType.StopCCN. */
  answer: number
  /** The Result Code AVP value to send: result 2 (General error), error 8 for an unknown M-bit AVP, 3 for an unknown mandatory message type. */
  result: Required<ResultCodeValue>
}

/**
 * What the state machine must do about a decoded message with an unknown
 * M-bit AVP or an unknown Message Type with the M bit (RFC 2661 4.2:
 * "catastrophic to the session or tunnel it is associated with"; 4.4.2:
 * result code 2 "General error", error code 8 "Session or tunnel was
 * shutdown due to receipt of an unknown AVP with the M-bit set", whose
 * error message SHOULD name the attribute). `undefined` when nothing is
 * wrong. Unknown message types without the M bit are to be ignored.
 */
export function mandatoryFailure(message: DecodedControl): MandatoryFailure | undefined {
  const typeAvp = message.avps[0]
  if (message.messageType !== undefined && !isKnownMessageType(message.messageType) && typeAvp?.mandatory) {
    return {
      scope: 'tunnel',
      answer: MessageType.StopCCN,
      result: { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.VALUE_OUT_OF_RANGE, errorMessage: `unknown mandatory message type ${message.messageType}` },
    }
  }
  const bad = message.unknownMandatory[0]
  if (!bad) return undefined
  const session = message.messageType !== undefined && SESSION_MESSAGE_TYPES.includes(message.messageType)
  const errorMessage = `unknown mandatory AVP ${bad.vendorId === 0 ? '' : `vendor ${bad.vendorId} `}attribute ${bad.attributeType}`
  return session
    ? { scope: 'session', answer: MessageType.CDN, result: { resultCode: CdnResult.GENERAL_ERROR, errorCode: GeneralError.UNKNOWN_MANDATORY_AVP, errorMessage } }
    : { scope: 'tunnel', answer: MessageType.StopCCN, result: { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.UNKNOWN_MANDATORY_AVP, errorMessage } }
}
