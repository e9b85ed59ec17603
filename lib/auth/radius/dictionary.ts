// The small RADIUS dictionary we need: packet codes, attribute numbers and
// the enumerated values we send or read (RFC 2865, 2866, 2868, 2869, 3162,
// 3576/5176), and the Microsoft vendor attributes of RFC 2548. Numbers
// only; names exist for logs and error messages. Anything not listed here
// still decodes (as raw bytes): the dictionary never decides what is valid
// on the wire, only how we build and read the attributes we use.

/** Packet codes (RFC 2865 3, RFC 2866 3, RFC 5176 2.3). */
export const Code = {
  ACCESS_REQUEST: 1,
  ACCESS_ACCEPT: 2,
  ACCESS_REJECT: 3,
  ACCOUNTING_REQUEST: 4,
  ACCOUNTING_RESPONSE: 5,
  ACCESS_CHALLENGE: 11,
  DISCONNECT_REQUEST: 40,
  DISCONNECT_ACK: 41,
  DISCONNECT_NAK: 42,
  COA_REQUEST: 43,
  COA_ACK: 44,
  COA_NAK: 45,
} as const

/** Words spelled as the RFCs spell them, not capitalised ("NAS-IP-Address", "Framed-IPv6-Prefix", "CoA-ACK"). */
const SPELLING: Readonly<Record<string, string>> = { NAS: 'NAS', IP: 'IP', MTU: 'MTU', EAP: 'EAP', CHAP: 'CHAP', IPV6: 'IPv6', ID: 'Id', COA: 'CoA', ACK: 'ACK', NAK: 'NAK' }

function spell(constant: string): string {
  return constant.split('_').map((w) => SPELLING[w] ?? w[0]! + w.slice(1).toLowerCase()).join('-')
}

export const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Code).map(([name, value]) => [value, spell(name)]))

/** Attribute types (IANA "RADIUS Attribute Types"). */
export const Attr = {
  USER_NAME: 1,
  USER_PASSWORD: 2,
  CHAP_PASSWORD: 3,
  NAS_IP_ADDRESS: 4,
  NAS_PORT: 5,
  SERVICE_TYPE: 6,
  FRAMED_PROTOCOL: 7,
  FRAMED_IP_ADDRESS: 8,
  FRAMED_IP_NETMASK: 9,
  FILTER_ID: 11,
  FRAMED_MTU: 12,
  REPLY_MESSAGE: 18,
  STATE: 24,
  CLASS: 25,
  VENDOR_SPECIFIC: 26,
  SESSION_TIMEOUT: 27,
  IDLE_TIMEOUT: 28,
  CALLED_STATION_ID: 30,
  CALLING_STATION_ID: 31,
  NAS_IDENTIFIER: 32,
  PROXY_STATE: 33,
  ACCT_STATUS_TYPE: 40,
  ACCT_DELAY_TIME: 41,
  ACCT_INPUT_OCTETS: 42,
  ACCT_OUTPUT_OCTETS: 43,
  ACCT_SESSION_ID: 44,
  ACCT_AUTHENTIC: 45,
  ACCT_SESSION_TIME: 46,
  ACCT_INPUT_PACKETS: 47,
  ACCT_OUTPUT_PACKETS: 48,
  ACCT_TERMINATE_CAUSE: 49,
  ACCT_MULTI_SESSION_ID: 50,
  ACCT_INPUT_GIGAWORDS: 52,
  ACCT_OUTPUT_GIGAWORDS: 53,
  EVENT_TIMESTAMP: 55,
  CHAP_CHALLENGE: 60,
  NAS_PORT_TYPE: 61,
  TUNNEL_TYPE: 64,
  TUNNEL_MEDIUM_TYPE: 65,
  EAP_MESSAGE: 79,
  MESSAGE_AUTHENTICATOR: 80,
  ACCT_INTERIM_INTERVAL: 85,
  NAS_PORT_ID: 87,
  NAS_IPV6_ADDRESS: 95,
  FRAMED_IPV6_PREFIX: 97,
  ERROR_CAUSE: 101,
} as const

export const ATTRIBUTE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Attr).map(([name, value]) => [value, spell(name)]))

/** A readable name for logs: "Framed-IP-Address", or "Attr-200". */
export function attributeName(type: number): string {
  return ATTRIBUTE_NAMES[type] ?? `Attr-${type}`
}

export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `Code-${code}`
}

/** Microsoft's vendor id (SMI Network Management Private Enterprise Code), RFC 2548. */
export const VENDOR_MICROSOFT = 311

/** Microsoft vendor attribute types (RFC 2548 2). */
export const MsAttr = {
  CHAP_RESPONSE: 1,
  CHAP_ERROR: 2,
  /** RFC 2548 2.3.3: a chunk of the Change-Password's encrypted new password. */
  CHAP_NT_ENC_PW: 6,
  MPPE_ENCRYPTION_POLICY: 7,
  MPPE_ENCRYPTION_TYPES: 8,
  CHAP_DOMAIN: 10,
  CHAP_CHALLENGE: 11,
  MPPE_SEND_KEY: 16,
  MPPE_RECV_KEY: 17,
  CHAP2_RESPONSE: 25,
  CHAP2_SUCCESS: 26,
  /** RFC 2548 2.3.4: the rest of an MS-CHAPv2 Change-Password. */
  CHAP2_CPW: 27,
} as const

export const ServiceType = { FRAMED: 2, AUTHORIZE_ONLY: 17 } as const
export const FramedProtocol = { PPP: 1 } as const
export const NasPortType = { VIRTUAL: 5 } as const
/** RFC 2868 3.1: Tunnel-Type values. */
export const TunnelType = { L2TP: 3 } as const
/** RFC 2868 3.2: Tunnel-Medium-Type values (IANA address family numbers). */
export const TunnelMediumType = { IPV4: 1, IPV6: 2 } as const

/** RFC 2866 5.1. */
export const AcctStatusType = { START: 1, STOP: 2, INTERIM_UPDATE: 3, ACCOUNTING_ON: 7, ACCOUNTING_OFF: 8 } as const
/** RFC 2866 5.6. */
export const AcctAuthentic = { RADIUS: 1, LOCAL: 2 } as const

/** RFC 2866 5.10. */
export const AcctTerminateCause = {
  USER_REQUEST: 1,
  LOST_CARRIER: 2,
  LOST_SERVICE: 3,
  IDLE_TIMEOUT: 4,
  SESSION_TIMEOUT: 5,
  ADMIN_RESET: 6,
  ADMIN_REBOOT: 7,
  PORT_ERROR: 8,
  NAS_ERROR: 9,
  NAS_REQUEST: 10,
  NAS_REBOOT: 11,
} as const

/** RFC 5176 3.5. */
export const ErrorCause = {
  RESIDUAL_SESSION_CONTEXT_REMOVED: 201,
  UNSUPPORTED_ATTRIBUTE: 401,
  MISSING_ATTRIBUTE: 402,
  NAS_IDENTIFICATION_MISMATCH: 403,
  INVALID_REQUEST: 404,
  UNSUPPORTED_SERVICE: 405,
  INVALID_ATTRIBUTE_VALUE: 407,
  ADMINISTRATIVELY_PROHIBITED: 501,
  SESSION_CONTEXT_NOT_FOUND: 503,
  SESSION_CONTEXT_NOT_REMOVABLE: 504,
  RESOURCES_UNAVAILABLE: 506,
} as const
export type ErrorCauseValue = (typeof ErrorCause)[keyof typeof ErrorCause]
