/**
 * PPP wire numbers: protocol field values (RFC 1661 2, IANA "PPP DLL
 * Protocol Numbers"), control packet codes, configuration option types of
 * LCP (RFC 1661 6, RFC 1990 5.1.1), IPCP (RFC 1332, RFC 1877), IPV6CP
 * (RFC 5072), and the codes of PAP (RFC 1334), CHAP (RFC 1994), MS-CHAPv2
 * (RFC 2759) and EAP (RFC 3748).
 *
 * These are open sets: decoders keep values not listed here.
 */

/** The Address and Control fields of a frame (RFC 1662 3.1), absent under ACFC. */
export const ADDRESS_CONTROL = Buffer.from([0xff, 0x03])

/** The PPP protocol field (RFC 1661 2). */
export const Protocol = {
  IPV4: 0x0021,
  IPV6: 0x0057,
  IPCP: 0x8021,
  IPV6CP: 0x8057,
  CCP: 0x80fd,
  LCP: 0xc021,
  PAP: 0xc023,
  LQR: 0xc025,
  CHAP: 0xc223,
  EAP: 0xc227,
} as const

/** The protocols whose packets go up to the control plane and that the codec decodes. */
export const CONTROL_PROTOCOLS: readonly number[] = [
  Protocol.LCP,
  Protocol.IPCP,
  Protocol.IPV6CP,
  Protocol.CCP,
  Protocol.PAP,
  Protocol.CHAP,
  Protocol.EAP,
]

/**
 * Codes of LCP and of the NCPs (RFC 1661 5). 1-7 are shared by every
 * protocol using the LCP packet format; 8-11 are LCP only; 14-15 are CCP's
 * (RFC 1962 2).
 */
export const Code = {
  CONFIGURE_REQUEST: 1,
  CONFIGURE_ACK: 2,
  CONFIGURE_NAK: 3,
  CONFIGURE_REJECT: 4,
  TERMINATE_REQUEST: 5,
  TERMINATE_ACK: 6,
  CODE_REJECT: 7,
  PROTOCOL_REJECT: 8,
  ECHO_REQUEST: 9,
  ECHO_REPLY: 10,
  DISCARD_REQUEST: 11,
  /** RFC 1570 2.1: a peer may send it at any time; it is not Code-Rejected by pppd. */
  IDENTIFICATION: 12,
  /** RFC 1570 2.2. */
  TIME_REMAINING: 13,
  RESET_REQUEST: 14,
  RESET_ACK: 15,
} as const

/** LCP configuration options (RFC 1661 6; MRRU from RFC 1990 5.1.1). */
export const LcpOptionType = {
  MRU: 1,
  ACCM: 2,
  AUTH_PROTOCOL: 3,
  QUALITY_PROTOCOL: 4,
  MAGIC_NUMBER: 5,
  PFC: 7,
  ACFC: 8,
  CALLBACK: 13,
  MRRU: 17,
  SHORT_SEQUENCE: 18,
  ENDPOINT_DISCRIMINATOR: 19,
} as const

/** IPCP configuration options (RFC 1332 3, RFC 1877 1). */
export const IpcpOptionType = {
  /** Deprecated (RFC 1332 3.1): Configure-Reject it. */
  IP_ADDRESSES: 1,
  /** Van Jacobson compression (RFC 1332 3.2): not offered by the data plane, Configure-Reject it. */
  IP_COMPRESSION: 2,
  IP_ADDRESS: 3,
  PRIMARY_DNS: 129,
  PRIMARY_NBNS: 130,
  SECONDARY_DNS: 131,
  SECONDARY_NBNS: 132,
} as const

/** IPV6CP configuration options (RFC 5072 4). */
export const Ipv6cpOptionType = {
  INTERFACE_IDENTIFIER: 1,
  IPV6_COMPRESSION: 2,
} as const

/** The CHAP algorithm byte of the LCP Authentication-Protocol option (RFC 1994 3, RFC 2759 2). */
export const ChapAlgorithm = {
  MD5: 5,
  MSCHAP: 0x80,
  MSCHAPV2: 0x81,
} as const

/** PAP codes (RFC 1334 2.2). */
export const PapCode = {
  AUTHENTICATE_REQUEST: 1,
  AUTHENTICATE_ACK: 2,
  AUTHENTICATE_NAK: 3,
} as const

/** CHAP codes (RFC 1994 4); 7 is MS-CHAPv2's Change-Password (RFC 2759 7). */
export const ChapCode = {
  CHALLENGE: 1,
  RESPONSE: 2,
  SUCCESS: 3,
  FAILURE: 4,
  CHANGE_PASSWORD: 7,
} as const

/** EAP codes (RFC 3748 4). */
export const EapCode = {
  REQUEST: 1,
  RESPONSE: 2,
  SUCCESS: 3,
  FAILURE: 4,
} as const

/** EAP Types (RFC 3748 5) the peer side knows; others are Nak'd. */
export const EapType = {
  IDENTITY: 1,
  NOTIFICATION: 2,
  NAK: 3,
  MD5_CHALLENGE: 4,
} as const

/** The E= values of an MS-CHAPv2 Failure packet (RFC 2759 6). */
export const MsChapError = {
  RESTRICTED_LOGON_HOURS: 646,
  ACCT_DISABLED: 647,
  PASSWD_EXPIRED: 648,
  NO_DIALIN_PERMISSION: 649,
  AUTHENTICATION_FAILURE: 691,
  CHANGING_PASSWORD: 709,
} as const

/** Sizes fixed by RFC 2759 4 and 8. */
export const MSCHAPV2_CHALLENGE_LENGTH = 16
export const MSCHAPV2_RESPONSE_LENGTH = 49
export const NT_RESPONSE_LENGTH = 24
export const NT_HASH_LENGTH = 16
