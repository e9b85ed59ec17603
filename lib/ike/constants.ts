/**
 * IKEv1 wire constants: ISAKMP (RFC 2408), IKE (RFC 2409 appendix A), the
 * IPsec DOI (RFC 2407), NAT-T (RFC 3947) and the vendor extensions real
 * clients use. Every table is an open enum: the codec keeps values it does
 * not know as plain numbers, and `nameOf` prints them for logs.
 *
 * Numbers were checked against strongSwan 6.x
 * `src/libcharon/encoding/payloads/proposal_substructure.c` (the ikev1_*
 * enums) and the RFCs' IANA registries.
 */

/** A constant table: names to wire values. */
export type WireTable = Readonly<Record<string, number>>

/** The union of a table's values. */
export type ValueOf<T extends WireTable> = T[keyof T]

/**
 * The name of `value` in `table` for logging, or `UNKNOWN(value)` when the
 * table has no such value (wire enums are open: unknown values are kept).
 */
export function nameOf(table: WireTable, value: number): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name
  return `UNKNOWN(${value})`
}

/** ISAKMP payload types (RFC 2408 3.1, RFC 3947 3.2/4, vendor fragmentation). */
export const PayloadType = {
  NONE: 0,
  SA: 1,
  PROPOSAL: 2,
  TRANSFORM: 3,
  KE: 4,
  ID: 5,
  CERT: 6,
  CERTREQ: 7,
  HASH: 8,
  SIG: 9,
  NONCE: 10,
  NOTIFICATION: 11,
  DELETE: 12,
  VENDOR_ID: 13,
  /** Mode Config / XAUTH attribute payload (draft-dukes-ike-mode-cfg). */
  ATTRIBUTE: 14,
  /** RFC 3947 section 3.2. */
  NAT_D: 20,
  /** RFC 3947 section 5.2. */
  NAT_OA: 21,
  /** draft-ietf-ipsec-nat-t-ike-02/03 private-use numbers. */
  NAT_D_DRAFT: 130,
  NAT_OA_DRAFT: 131,
  /** Cisco/Microsoft IKEv1 fragmentation (strongSwan fragment_payload.c). */
  FRAGMENT: 132,
} as const
export type PayloadTypeValue = ValueOf<typeof PayloadType>

/** ISAKMP exchange types (RFC 2408 3.1, RFC 2409 5/5.5, mode-cfg). */
export const ExchangeType = {
  NONE: 0,
  BASE: 1,
  /** Identity Protection: IKE Main Mode. */
  MAIN: 2,
  AUTH_ONLY: 3,
  AGGRESSIVE: 4,
  INFORMATIONAL: 5,
  /** Mode Config / XAUTH (draft-dukes-ike-mode-cfg). */
  TRANSACTION: 6,
  QUICK: 32,
  NEW_GROUP: 33,
} as const

/** ISAKMP header flags (RFC 2408 3.1). */
export const Flag = { ENCRYPTION: 1, COMMIT: 2, AUTH_ONLY: 4 } as const

/** Notify message types (RFC 2408 3.14.1, RFC 2407 4.6.3, RFC 3706). */
export const NotifyType = {
  INVALID_PAYLOAD_TYPE: 1,
  DOI_NOT_SUPPORTED: 2,
  SITUATION_NOT_SUPPORTED: 3,
  INVALID_COOKIE: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_MINOR_VERSION: 6,
  INVALID_EXCHANGE_TYPE: 7,
  INVALID_FLAGS: 8,
  INVALID_MESSAGE_ID: 9,
  INVALID_PROTOCOL_ID: 10,
  INVALID_SPI: 11,
  INVALID_TRANSFORM_ID: 12,
  ATTRIBUTES_NOT_SUPPORTED: 13,
  NO_PROPOSAL_CHOSEN: 14,
  BAD_PROPOSAL_SYNTAX: 15,
  PAYLOAD_MALFORMED: 16,
  INVALID_KEY_INFORMATION: 17,
  INVALID_ID_INFORMATION: 18,
  INVALID_CERT_ENCODING: 19,
  INVALID_CERTIFICATE: 20,
  CERT_TYPE_UNSUPPORTED: 21,
  INVALID_CERT_AUTHORITY: 22,
  INVALID_HASH_INFORMATION: 23,
  AUTHENTICATION_FAILED: 24,
  INVALID_SIGNATURE: 25,
  ADDRESS_NOTIFICATION: 26,
  NOTIFY_SA_LIFETIME: 27,
  CERTIFICATE_UNAVAILABLE: 28,
  UNSUPPORTED_EXCHANGE_TYPE: 29,
  UNEQUAL_PAYLOAD_LENGTHS: 30,
  CONNECTED: 16384,
  RESPONDER_LIFETIME: 24576,
  REPLAY_STATUS: 24577,
  INITIAL_CONTACT: 24578,
  R_U_THERE: 36136,
  R_U_THERE_ACK: 36137,
} as const

/** Domains of interpretation (RFC 2408 3.4, RFC 2407 4.2). */
export const Doi = { ISAKMP: 0, IPSEC: 1 } as const

/** IPsec DOI situation bits (RFC 2407 4.2). */
export const Situation = { IDENTITY_ONLY: 1, SECRECY: 2, INTEGRITY: 4 } as const

/** Protocol identifiers (RFC 2407 4.4.1). */
export const ProtocolId = { ISAKMP: 1, IPSEC_AH: 2, IPSEC_ESP: 3, IPCOMP: 4 } as const

/** ISAKMP transform identifiers (RFC 2407 4.4.2). */
export const IsakmpTransformId = { KEY_IKE: 1 } as const

/** Phase 1 SA attribute types (RFC 2409 appendix A). */
export const IkeAttribute = {
  ENCRYPTION_ALGORITHM: 1,
  HASH_ALGORITHM: 2,
  AUTHENTICATION_METHOD: 3,
  GROUP_DESCRIPTION: 4,
  GROUP_TYPE: 5,
  GROUP_PRIME: 6,
  GROUP_GENERATOR_ONE: 7,
  GROUP_GENERATOR_TWO: 8,
  GROUP_CURVE_A: 9,
  GROUP_CURVE_B: 10,
  LIFE_TYPE: 11,
  LIFE_DURATION: 12,
  PRF: 13,
  KEY_LENGTH: 14,
  FIELD_SIZE: 15,
  GROUP_ORDER: 16,
} as const

/** Phase 1 encryption algorithms (RFC 2409 appendix A, RFC 3602, RFC 4312). */
export const EncryptionAlgorithm = {
  DES: 1,
  IDEA: 2,
  BLOWFISH: 3,
  RC5: 4,
  '3DES': 5,
  CAST: 6,
  AES: 7,
  CAMELLIA: 8,
} as const

/** Phase 1 hash algorithms (RFC 2409 appendix A, RFC 4868). */
export const HashAlgorithm = { MD5: 1, SHA: 2, TIGER: 3, SHA2_256: 4, SHA2_384: 5, SHA2_512: 6 } as const

/**
 * Phase 1 authentication methods (RFC 2409 appendix A, RFC 4754 for ECDSA,
 * draft-ietf-ipsec-isakmp-xauth-06 and draft-ietf-ipsec-isakmp-hybrid-auth
 * for the private-use XAUTH and hybrid values).
 */
export const AuthMethod = {
  PSK: 1,
  DSS: 2,
  RSA_SIG: 3,
  RSA_ENC: 4,
  RSA_REV_ENC: 5,
  ECDSA_SHA256: 9,
  ECDSA_SHA384: 10,
  ECDSA_SHA512: 11,
  HYBRID_INIT_RSA: 64221,
  HYBRID_RESP_RSA: 64222,
  HYBRID_INIT_DSS: 64223,
  HYBRID_RESP_DSS: 64224,
  XAUTH_INIT_PSK: 65001,
  XAUTH_RESP_PSK: 65002,
  XAUTH_INIT_DSS: 65003,
  XAUTH_RESP_DSS: 65004,
  XAUTH_INIT_RSA: 65005,
  XAUTH_RESP_RSA: 65006,
  XAUTH_INIT_RSA_ENC: 65007,
  XAUTH_RESP_RSA_ENC: 65008,
  XAUTH_INIT_RSA_REV_ENC: 65009,
  XAUTH_RESP_RSA_REV_ENC: 65010,
} as const

/** Diffie-Hellman groups (RFC 2409 6, RFC 3526, RFC 5903, IANA IKEv1 registry). */
export const GroupDescription = {
  MODP768: 1,
  MODP1024: 2,
  EC2N155: 3,
  EC2N185: 4,
  MODP1536: 5,
  MODP2048: 14,
  MODP3072: 15,
  MODP4096: 16,
  MODP6144: 17,
  MODP8192: 18,
  ECP256: 19,
  ECP384: 20,
  ECP521: 21,
  MODP1024_S160: 22,
  MODP2048_S224: 23,
  MODP2048_S256: 24,
  ECP192: 25,
  ECP224: 26,
} as const

/** SA lifetime types, shared by Phase 1 and the IPsec DOI (RFC 2409 A, RFC 2407 4.5). */
export const LifeType = { SECONDS: 1, KILOBYTES: 2 } as const

/** Phase 2 (IPsec DOI) SA attribute types (RFC 2407 4.5). */
export const IpsecAttribute = {
  SA_LIFE_TYPE: 1,
  SA_LIFE_DURATION: 2,
  GROUP_DESCRIPTION: 3,
  ENCAPSULATION_MODE: 4,
  AUTHENTICATION_ALGORITHM: 5,
  KEY_LENGTH: 6,
  KEY_ROUNDS: 7,
  COMPRESS_DICTIONARY_SIZE: 8,
  COMPRESS_PRIVATE_ALGORITHM: 9,
} as const

/** ESP transform identifiers (RFC 2407 4.4.4, RFC 3602, RFC 4106, RFC 4543). */
export const EspTransformId = {
  ESP_DES_IV64: 1,
  ESP_DES: 2,
  ESP_3DES: 3,
  ESP_RC5: 4,
  ESP_IDEA: 5,
  ESP_CAST: 6,
  ESP_BLOWFISH: 7,
  ESP_3IDEA: 8,
  ESP_DES_IV32: 9,
  ESP_RC4: 10,
  ESP_NULL: 11,
  ESP_AES: 12,
  ESP_AES_CTR: 13,
  ESP_AES_CCM_8: 14,
  ESP_AES_CCM_12: 15,
  ESP_AES_CCM_16: 16,
  ESP_AES_GCM_8: 18,
  ESP_AES_GCM_12: 19,
  ESP_AES_GCM_16: 20,
  ESP_NULL_AUTH_AES_GMAC: 23,
} as const

/** IPsec authentication algorithms, the AUTHENTICATION_ALGORITHM attribute (RFC 2407 4.5, RFC 4868). */
export const IpsecAuthAlgorithm = {
  HMAC_MD5: 1,
  HMAC_SHA: 2,
  DES_MAC: 3,
  KPDK: 4,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
  HMAC_RIPEMD: 8,
  AES_XCBC_MAC: 9,
} as const

/**
 * Encapsulation modes (RFC 2407 4.5, RFC 3947 5.1; the draft values are the
 * private-use numbers of draft-ietf-ipsec-nat-t-ike-00..03).
 */
export const EncapsulationMode = {
  TUNNEL: 1,
  TRANSPORT: 2,
  UDP_TUNNEL: 3,
  UDP_TRANSPORT: 4,
  UDP_TUNNEL_DRAFT: 61443,
  UDP_TRANSPORT_DRAFT: 61444,
} as const

/** Identification types (RFC 2407 4.6.2.1). */
export const IdType = {
  IPV4_ADDR: 1,
  FQDN: 2,
  USER_FQDN: 3,
  IPV4_ADDR_SUBNET: 4,
  IPV6_ADDR: 5,
  IPV6_ADDR_SUBNET: 6,
  IPV4_ADDR_RANGE: 7,
  IPV6_ADDR_RANGE: 8,
  DER_ASN1_DN: 9,
  DER_ASN1_GN: 10,
  KEY_ID: 11,
} as const

/** Certificate encodings for CERT and CERTREQ (RFC 2408 3.9). */
export const CertEncoding = {
  NONE: 0,
  PKCS7: 1,
  PGP: 2,
  DNS_SIGNED_KEY: 3,
  X509_SIGNATURE: 4,
  X509_KEY_EXCHANGE: 5,
  KERBEROS: 6,
  CRL: 7,
  ARL: 8,
  SPKI: 9,
  X509_ATTRIBUTE: 10,
} as const

/** A well-known vendor ID. */
export interface VendorId {
  readonly name: string
  readonly id: Buffer
  /** True when peers append version bytes after `id` (match by prefix). */
  readonly prefix: boolean
}

function vendor(name: string, hex: string, prefix = false): VendorId {
  return Object.freeze({ name, id: Buffer.from(hex, 'hex'), prefix })
}

/**
 * Well-known vendor IDs. Each value was checked in three places: strongSwan
 * `src/libcharon/sa/ikev1/tasks/isakmp_vendor.c` (commit 3b902ea5),
 * libreswan `lib/libswan/vendorid.c` (commit 0c4e3ecc) and Wireshark
 * `epan/dissectors/packet-isakmp.c` (via the byte tables in tshark 4.0.17's
 * libwireshark); the MD5 ones were recomputed with md5sum.
 */
export const VendorIds = {
  /** MD5("RFC 3947"). */
  NATT_RFC3947: vendor('RFC 3947 NAT-T', '4a131c81070358455c5728f20e95452f'),
  /** MD5("draft-ietf-ipsec-nat-t-ike-02"). */
  NATT_DRAFT_02: vendor('draft-ietf-ipsec-nat-t-ike-02', 'cd60464335df21f87cfdb2fc68b6a448'),
  /** MD5("draft-ietf-ipsec-nat-t-ike-02\n"): the draft's own typo, sent by many. */
  NATT_DRAFT_02N: vendor('draft-ietf-ipsec-nat-t-ike-02\\n', '90cb80913ebb696e086381b5ec427b1f'),
  /** MD5("draft-ietf-ipsec-nat-t-ike-03"). */
  NATT_DRAFT_03: vendor('draft-ietf-ipsec-nat-t-ike-03', '7d9419a65310ca6f2c179d9215529d56'),
  /** RFC 3706 section 7: 14 bytes then major 0x01, minor 0x00. */
  DPD: vendor('RFC 3706 DPD', 'afcad71368a1f1c96b8696fc77570100'),
  /**
   * Cisco/Microsoft IKE fragmentation. strongSwan and Cisco append four
   * capability bytes (0x80000000: Main/Aggressive Mode fragments); Windows
   * sends the 16 bytes alone.
   */
  FRAGMENTATION: vendor('FRAGMENTATION', '4048b7d56ebce88525e7de7f00d6c2d3', true),
  /** Windows: "MS NT5 ISAKMPOAKLEY" followed by a 4-byte version (9 = Windows 8 and later). */
  MS_NT5_ISAKMPOAKLEY: vendor('MS NT5 ISAKMPOAKLEY', '1e2b516905991c7d7c96fcbfb587e461', true),
  /** First 8 bytes of MD5("draft-ietf-ipsra-isakmp-xauth-06.txt"). */
  XAUTH: vendor('XAUTH', '09002689dfd6b712'),
  /** MD5("strongSwan"). */
  STRONGSWAN: vendor('strongSwan', '882fe56d6fd20dbc2251613b2ebe5beb'),
  /** MD5("CISCO-UNITY") with its last two bytes replaced by version 1.0. */
  CISCO_UNITY: vendor('Cisco Unity', '12f5f28c457168a9702d9fe274cc0100'),
} as const satisfies Record<string, VendorId>

const VENDOR_ID_LIST: readonly VendorId[] = Object.values(VendorIds)
/** Exact vendor IDs by their bytes as a latin1 string (one character per byte: cheaper to make than hex), looked up before the prefix ones are tried. */
const EXACT_VENDOR_IDS = new Map<string, VendorId>()
for (const v of VENDOR_ID_LIST) if (!v.prefix && !EXACT_VENDOR_IDS.has(v.id.toString('latin1'))) EXACT_VENDOR_IDS.set(v.id.toString('latin1'), v)
const ORDER = new Map<VendorId, number>(VENDOR_ID_LIST.map((v, i) => [v, i]))
const PREFIX_VENDOR_IDS: readonly { v: VendorId; order: number }[] = VENDOR_ID_LIST.flatMap((v, order) => (v.prefix ? [{ v, order }] : []))

/** The first well-known vendor ID that `data` is (or, for prefix IDs, starts with). */
export function identifyVendorId(data: Buffer): VendorId | undefined {
  // Declaration order decides between a prefix and an exact match of the same bytes.
  const exact = EXACT_VENDOR_IDS.get(data.toString('latin1'))
  const before = exact ? ORDER.get(exact)! : Infinity
  for (const { v, order } of PREFIX_VENDOR_IDS) {
    if (order > before) break
    if (data.length >= v.id.length && data.compare(v.id, 0, v.id.length, 0, v.id.length) === 0) return v
  }
  return exact
}

/** The 4-byte non-ESP marker before IKE messages on UDP 4500 (RFC 3948 2.2). */
export const NON_ESP_MARKER = Buffer.alloc(4)

/** Size of the ISAKMP header (RFC 2408 3.1). */
export const ISAKMP_HEADER_LENGTH = 28
