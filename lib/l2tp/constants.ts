/**
 * L2TPv2 wire constants (RFC 2661). Every table is an open enum: the codec
 * keeps values it does not know as plain numbers, and `nameOf` prints them
 * for logs.
 *
 * Numbers were checked against RFC 2661 sections 3.1, 4.4 and 6, xl2tpd's
 * `avp.c` tables and Wireshark's `packet-l2tp.c` (as `tshark -G fields`).
 */

/** A constant table: names to wire values. */
export type WireTable = Readonly<Record<string, number>>

/** The union of a table's values. */
export type ValueOf<T extends WireTable> = T[keyof T]

/**
 * The name of `value` in `table` for logging, or `UNKNOWN(value)` when the
 * table has no such value.
 */
export function nameOf(table: WireTable, value: number): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name
  return `UNKNOWN(${value})`
}

/** UDP port of L2TP (RFC 2661 8.1). */
export const L2TP_PORT = 1701

/** The only version this codec speaks (RFC 2661 3.1: Ver MUST be 2). */
export const L2TP_VERSION = 2

/** Bytes of a control message header: flags/version, Length, Tunnel ID, Session ID, Ns, Nr. */
export const CONTROL_HEADER_LENGTH = 12

/** Bytes of an AVP header: M/H/reserved/length, Vendor ID, Attribute Type (RFC 2661 4.1). */
export const AVP_HEADER_LENGTH = 6

/** The largest AVP: the length field has 10 bits. */
export const AVP_MAX_LENGTH = 1023

/**
 * Bits of the first 16 header bits (RFC 2661 3.1):
 *
 *    0                   1
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
 *   |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |
 */
export const HeaderBit = {
  /** Type: 1 for a control message. */
  TYPE: 0x8000,
  /** The Length field is present; MUST be 1 for control messages. */
  LENGTH: 0x4000,
  /** Ns and Nr are present; MUST be 1 for control messages. */
  SEQUENCE: 0x0800,
  /** The Offset Size field is present; MUST be 0 for control messages. */
  OFFSET: 0x0200,
  /** Priority (data messages only). */
  PRIORITY: 0x0100,
} as const

/** The version nibble mask of the first header word. */
export const VERSION_MASK = 0x000f

/** T, L and S set, version 2: the first word of every control message we send. */
export const CONTROL_FLAGS = HeaderBit.TYPE | HeaderBit.LENGTH | HeaderBit.SEQUENCE | L2TP_VERSION

/** AVP header bits (RFC 2661 4.1): |M|H| rsvd  |      Length       | */
export const AvpBit = {
  MANDATORY: 0x8000,
  HIDDEN: 0x4000,
  /** Four reserved bits, MUST be 0. */
  RESERVED: 0x3c00,
  LENGTH: 0x03ff,
} as const

/** Control message types (RFC 2661 3.2; 5 and 13 are reserved). */
export const MessageType = {
  /** Start-Control-Connection-Request. */
  SCCRQ: 1,
  /** Start-Control-Connection-Reply. */
  SCCRP: 2,
  /** Start-Control-Connection-Connected. */
  SCCCN: 3,
  /** Stop-Control-Connection-Notification. */
  StopCCN: 4,
  /** Hello (keepalive). */
  HELLO: 6,
  /** Outgoing-Call-Request. */
  OCRQ: 7,
  /** Outgoing-Call-Reply. */
  OCRP: 8,
  /** Outgoing-Call-Connected. */
  OCCN: 9,
  /** Incoming-Call-Request. */
  ICRQ: 10,
  /** Incoming-Call-Reply. */
  ICRP: 11,
  /** Incoming-Call-Connected. */
  ICCN: 12,
  /** Call-Disconnect-Notify. */
  CDN: 14,
  /** WAN-Error-Notify. */
  WEN: 15,
  /** Set-Link-Info. */
  SLI: 16,
} as const
export type MessageTypeValue = ValueOf<typeof MessageType>

/** Whether `type` is one RFC 2661 defines. */
export function isKnownMessageType(type: number): type is MessageTypeValue {
  return Object.values(MessageType).includes(type as MessageTypeValue)
}

/** Messages about a session (their Session ID is not 0): an unknown M-bit AVP in them clears the session with CDN, not the tunnel (RFC 2661 4.2). */
export const SESSION_MESSAGE_TYPES: readonly number[] = [
  MessageType.OCRQ, MessageType.OCRP, MessageType.OCCN,
  MessageType.ICRQ, MessageType.ICRP, MessageType.ICCN,
  MessageType.CDN, MessageType.WEN, MessageType.SLI,
]

/** AVP attribute types, IETF (Vendor ID 0) namespace (RFC 2661 4.4; 20 is reserved). */
export const AvpType = {
  MESSAGE_TYPE: 0,
  RESULT_CODE: 1,
  PROTOCOL_VERSION: 2,
  FRAMING_CAPABILITIES: 3,
  BEARER_CAPABILITIES: 4,
  TIE_BREAKER: 5,
  FIRMWARE_REVISION: 6,
  HOST_NAME: 7,
  VENDOR_NAME: 8,
  ASSIGNED_TUNNEL_ID: 9,
  RECEIVE_WINDOW_SIZE: 10,
  CHALLENGE: 11,
  Q931_CAUSE_CODE: 12,
  CHALLENGE_RESPONSE: 13,
  ASSIGNED_SESSION_ID: 14,
  CALL_SERIAL_NUMBER: 15,
  MINIMUM_BPS: 16,
  MAXIMUM_BPS: 17,
  BEARER_TYPE: 18,
  FRAMING_TYPE: 19,
  CALLED_NUMBER: 21,
  CALLING_NUMBER: 22,
  SUB_ADDRESS: 23,
  /** "(Tx) Connect Speed". */
  TX_CONNECT_SPEED: 24,
  PHYSICAL_CHANNEL_ID: 25,
  INITIAL_RECEIVED_LCP_CONFREQ: 26,
  LAST_SENT_LCP_CONFREQ: 27,
  LAST_RECEIVED_LCP_CONFREQ: 28,
  PROXY_AUTHEN_TYPE: 29,
  PROXY_AUTHEN_NAME: 30,
  PROXY_AUTHEN_CHALLENGE: 31,
  PROXY_AUTHEN_ID: 32,
  PROXY_AUTHEN_RESPONSE: 33,
  CALL_ERRORS: 34,
  ACCM: 35,
  RANDOM_VECTOR: 36,
  PRIVATE_GROUP_ID: 37,
  RX_CONNECT_SPEED: 38,
  SEQUENCING_REQUIRED: 39,
} as const
export type AvpTypeValue = ValueOf<typeof AvpType>

/** Vendor ID of the IETF AVPs. Anything else is a vendor AVP, kept opaque. */
export const IETF_VENDOR_ID = 0

/** Result codes of StopCCN (RFC 2661 4.4.2). */
export const StopCcnResult = {
  /** General request to clear control connection. */
  GENERAL_REQUEST: 1,
  /** General error, Error Code indicates the problem. */
  GENERAL_ERROR: 2,
  /** Control channel already exists. */
  ALREADY_EXISTS: 3,
  /** Requester is not authorized to establish a control channel. */
  NOT_AUTHORIZED: 4,
  /** The protocol version of the requester is not supported; Error Code holds the highest version supported. */
  BAD_PROTOCOL_VERSION: 5,
  /** Requester is being shut down. */
  SHUTTING_DOWN: 6,
  /** Finite State Machine error. */
  FSM_ERROR: 7,
} as const

/** Result codes of CDN (RFC 2661 4.4.2). */
export const CdnResult = {
  /** Call disconnected due to loss of carrier. */
  LOST_CARRIER: 1,
  /** Call disconnected for the reason indicated in Error Code. */
  GENERAL_ERROR: 2,
  /** Call disconnected for administrative reasons. */
  ADMINISTRATIVE: 3,
  /** Call failed due to lack of appropriate facilities being available (temporary condition). */
  NO_FACILITIES_TEMPORARY: 4,
  /** Call failed due to lack of appropriate facilities being available (permanent condition). */
  NO_FACILITIES_PERMANENT: 5,
  /** Invalid destination. */
  INVALID_DESTINATION: 6,
  /** Call failed due to no carrier detected. */
  NO_CARRIER: 7,
  /** Call failed due to detection of a busy signal. */
  BUSY: 8,
  /** Call failed due to lack of a dial tone. */
  NO_DIAL_TONE: 9,
  /** Call was not established within time allotted by LAC. */
  TIMEOUT: 10,
  /** Call was connected but no appropriate framing was detected. */
  NO_FRAMING: 11,
} as const

/** General error codes, the Error Code of a Result Code AVP (RFC 2661 4.4.2). */
export const GeneralError = {
  NO_ERROR: 0,
  /** No control connection exists yet for this LAC-LNS pair. */
  NO_CONTROL_CONNECTION: 1,
  /** Length is wrong. */
  LENGTH_WRONG: 2,
  /** One of the field values was out of range or reserved field was non-zero. */
  VALUE_OUT_OF_RANGE: 3,
  /** Insufficient resources to handle this operation now. */
  INSUFFICIENT_RESOURCES: 4,
  /** The Session ID is invalid in this context. */
  INVALID_SESSION_ID: 5,
  /** A generic vendor-specific error occurred in the LAC. */
  VENDOR_SPECIFIC: 6,
  /** Try another (LNS). */
  TRY_ANOTHER: 7,
  /** Session or tunnel was shutdown due to receipt of an unknown AVP with the M-bit set. */
  UNKNOWN_MANDATORY_AVP: 8,
} as const

/** Framing Capabilities and Framing Type bits (RFC 2661 4.4.3, 4.4.5). */
export const FramingBit = { SYNC: 0x1, ASYNC: 0x2 } as const

/** Bearer Capabilities and Bearer Type bits (RFC 2661 4.4.3, 4.4.5). */
export const BearerBit = { DIGITAL: 0x1, ANALOG: 0x2 } as const

/** Proxy Authen Type values (RFC 2661 4.4.5). */
export const ProxyAuthenType = {
  RESERVED: 0,
  TEXTUAL: 1,
  CHAP: 2,
  PAP: 3,
  NO_AUTHENTICATION: 4,
  MSCHAP_V1: 5,
} as const

/** Defaults of RFC 2661 5.8: receive window when no RWS AVP was sent, and the retransmission timer. */
export const DEFAULT_RECEIVE_WINDOW = 4
