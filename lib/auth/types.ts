// The contract between PPP (lib/ppp/) and the authenticators (lib/auth/).
//
// PPP passes what it received on the wire, unverified; an authenticator
// answers accept (with the user's policy), reject, or, for EAP, another
// challenge. PPP never sees a password or an NT hash, and the
// authenticators never see a PPP frame.

/** The PPP authentication protocols (LCP Authentication-Protocol option). */
export type Method = 'pap' | 'chap-md5' | 'mschapv2' | 'eap'

export const METHODS: readonly Method[] = ['pap', 'chap-md5', 'mschapv2', 'eap']

/** Where the attempt comes from: the IKE peer outside the tunnel. */
export interface PeerInfo {
  /** The peer's public (outer) IP address: the "source" of rate limits. */
  address: string
  port: number
  /** The IKE identity of the IPsec SA carrying the session, if any. */
  ikeId?: string
}

/** PAP (RFC 1334 section 2.2.1): Peer-ID and Password from Authenticate-Request. */
export interface PapRequest {
  method: 'pap'
  user: string
  password: string
  peer: PeerInfo
}

/** CHAP with MD5 (RFC 1994 section 4.1): our Challenge and the peer's Response. */
export interface ChapMd5Request {
  method: 'chap-md5'
  /** The Name field of the Response. */
  user: string
  /** The Identifier of the Challenge the Response answers. */
  identifier: number
  /** The Value we sent in the Challenge. */
  challenge: Buffer
  /** The 16-byte Value of the Response. */
  response: Buffer
  peer: PeerInfo
}

/** MS-CHAPv2 (RFC 2759 section 4): the 49-byte Response value, split. */
export interface MsChapV2Request {
  method: 'mschapv2'
  /** The Name field of the Response ("DOMAIN\\user" from Windows). */
  user: string
  /** The 16-byte challenge we sent. */
  authenticatorChallenge: Buffer
  /** The 16-byte Peer-Challenge of the Response. */
  peerChallenge: Buffer
  /** The 24-byte NT-Response of the Response. */
  ntResponse: Buffer
  /**
   * Set when the peer answered a Failure E=648 (password expired) with a
   * Change-Password packet (RFC 2759 7): then `authenticatorChallenge` is
   * the Failure's C=, `ntResponse` is computed with the NEW password, and
   * these carry the new password encrypted under the old NT hash and the
   * old hash encrypted under the new one. Verified by whoever holds the old
   * secret (`AuthAlgorithms.verifyChangePassword`, RADIUS MS-CHAP2-CPW).
   */
  changePassword?: MsChapV2ChangePassword
  peer: PeerInfo
}

/** The encrypted fields of an MS-CHAPv2 Change-Password packet (RFC 2759 7). */
export interface MsChapV2ChangePassword {
  /** The CHAP Identifier of the Change-Password packet. */
  identifier: number
  /** 516 bytes: the PW_BLOCK, RC4 under the old NT hash (RFC 2759 8.9). */
  encryptedPassword: Buffer
  /** 16 bytes: the old NT hash, DES under the new one (RFC 2759 8.12). */
  encryptedHash: Buffer
}

/** EAP (RFC 3748), relayed: one EAP packet from the peer and the State of the previous round. */
export interface EapRequest {
  method: 'eap'
  /** The identity from EAP-Response/Identity, once known. */
  user?: string
  eapMessage: Buffer
  state?: Buffer
  peer: PeerInfo
}

export type AuthRequest = PapRequest | ChapMd5Request | MsChapV2Request | EapRequest

/** One rule of a session's traffic policy, applied by the data plane in order; the first match wins. */
export interface PolicyRule {
  action: 'allow' | 'deny'
  /** CIDR or address, IPv4 or IPv6. */
  destination: string
  protocol?: 'any' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6'
  /** Inclusive destination port range, for tcp, udp and sctp. */
  ports?: [number, number]
}

/** What a user may have; every field is optional and the server's defaults fill the gaps. */
export interface UserPolicy {
  /** A fixed IPv4 address (given to IpPool.allocate as `fixed`). */
  address?: string
  /** A fixed IPv6 prefix, e.g. "2001:db8:42:7::/64". */
  ipv6Prefix?: string
  /** Methods this user may log in with; all when absent. */
  methods?: Method[]
  /** Concurrent sessions allowed (enforced by the server, which owns the session table). */
  maxSessions?: number
  /**
   * Traffic rules for what the client sends, first match wins, before those
   * of the named `policies`; what none matches follows the policies'
   * `default`, else the server's `access.default`.
   */
  allow?: PolicyRule[]
  /** Names of configured `policies` (as a RADIUS Filter-Id names them); none: the server's `access.policies`. */
  policies?: string[]
  /** Rate limit in bits per second of what the client sends (the lowest of this and the policies' applies). */
  rateBps?: number
  /** Seconds before the session is ended (RADIUS Session-Timeout). */
  sessionTimeout?: number
  /** Seconds of no traffic before the session is ended (RADIUS Idle-Timeout). */
  idleTimeout?: number
}

/**
 * MPPE master keys (RFC 3079 section 3.4) from the server's point of view,
 * 16 bytes each. L2TP/IPsec clients rarely negotiate MPPE (IPsec already
 * encrypts), so these are only present when a derivation is supplied.
 */
export interface MppeKeys {
  send: Buffer
  receive: Buffer
}

/** MS-CHAPv2 Failure packet error codes (RFC 2759 section 6). */
export const MsChapError = {
  RESTRICTED_LOGON_HOURS: 646,
  ACCOUNT_DISABLED: 647,
  PASSWORD_EXPIRED: 648,
  NO_DIALIN_PERMISSION: 649,
  AUTHENTICATION_FAILURE: 691,
  /** The Change-Password that answered E=648 did not work. */
  CHANGING_PASSWORD: 709,
} as const
export type MsChapErrorCode = (typeof MsChapError)[keyof typeof MsChapError]

export function isMsChapErrorCode(value: unknown): value is MsChapErrorCode {
  return value === 646 || value === 647 || value === 648 || value === 649 || value === 691 || value === 709
}

/**
 * Why an attempt failed, for logs and metrics only: PPP must never send it
 * to the peer (that would tell a guesser whether a user exists). What the
 * peer sees is `message`, `code` and `retry`, which are the same for an
 * unknown user and a wrong password.
 * - `unknown-user`, `bad-password`: the credentials did not match.
 * - `cannot-verify`: the stored secret cannot check this method (an NT hash
 *   only, and CHAP-MD5, which needs the clear password).
 * - `method-not-allowed`: the credentials were right but the user's policy
 *   excludes this method.
 * - `disabled`: the account is disabled (after the credentials matched).
 * - `password-expired`: the credentials matched but the password must be
 *   changed first (MS-CHAPv2 answers E=648 and takes a Change-Password).
 * - `unsupported-method`: this authenticator does not do this method (EAP
 *   without a RADIUS server).
 * - `malformed`: a field had the wrong size (PPP should have caught it).
 * - `rejected`: an external decision (callback, RADIUS); `detail` says why.
 * - `timeout`, `callback-error`: the external decision did not come.
 * - `locked-out`, `backoff`, `source-limit`: the limiter refused the attempt
 *   before any credential was looked at.
 * - `internal-error`: a verification function threw (a bug; logged).
 */
export type AuthFailureReason =
  | 'unknown-user'
  | 'bad-password'
  | 'cannot-verify'
  | 'method-not-allowed'
  | 'disabled'
  | 'password-expired'
  | 'unsupported-method'
  | 'malformed'
  | 'rejected'
  | 'timeout'
  | 'callback-error'
  | 'locked-out'
  | 'backoff'
  | 'source-limit'
  | 'internal-error'
  /** Too many authentication requests in flight (security.limits.pendingAuth); not counted as a guess. */
  | 'busy'

export interface AuthSuccess {
  ok: true
  /** The canonical user name (as configured, without a Windows domain prefix). */
  user: string
  policy: UserPolicy
  /** MS-CHAPv2 only: the "S=<40 hex>" string of the Success packet (RFC 2759 section 5). */
  authenticatorResponse?: string
  /** MS-CHAPv2 only, when MPPE keys can be derived. */
  mppeKeys?: MppeKeys
  /** Text for the Success packet (PAP Msg, MS-CHAPv2 "M="). */
  message?: string
  /** MS-CHAPv2: the login changed the user's expired password (RFC 2759 7). */
  passwordChanged?: boolean
}

export interface AuthFailure {
  ok: false
  /** For logs only; never sent to the peer. */
  reason: AuthFailureReason
  /** More for logs (which check failed, the callback's own reason...). Never sent to the peer. */
  detail?: string
  /** MS-CHAPv2 Failure "R=" flag: whether the peer may retry in the same session. */
  retry?: boolean
  /** MS-CHAPv2 Failure "E=" code; PPP uses 691 when absent. */
  code?: MsChapErrorCode
  /** Text for the peer (PAP Msg, CHAP Failure message, MS-CHAPv2 "M="). */
  message?: string
}

/** EAP only: send this EAP packet to the peer and call again with its answer. */
export interface AuthChallenge {
  challenge: true
  eapMessage: Buffer
  state?: Buffer
}

export type AuthResult = AuthSuccess | AuthFailure | AuthChallenge

/** Implemented by every authenticator; PPP calls it once per authentication attempt. Never rejects. */
export interface Authenticator {
  authenticate(request: AuthRequest): Promise<AuthResult>
}

/**
 * The credential algorithms, supplied by lib/ppp (chap.ts, mschapv2.ts) so
 * that they are written and vector-tested in one place.
 */
export interface AuthAlgorithms {
  /** RFC 1994 section 4.1: MD5(Identifier || secret || Challenge). */
  chapMd5Response(identifier: number, secret: Buffer, challenge: Buffer): Buffer
  /** RFC 2759 section 8.3: MD4 of the UTF-16LE password, 16 bytes. */
  ntPasswordHash(password: string): Buffer
  /** RFC 2759 section 8.1: the 24-byte NT-Response. `user` is without a domain prefix. */
  generateNtResponse(authenticatorChallenge: Buffer, peerChallenge: Buffer, user: string, ntHash: Buffer): Buffer
  /** RFC 2759 section 8.7: "S=" followed by 40 upper-case hex digits. */
  generateAuthenticatorResponse(ntHash: Buffer, ntResponse: Buffer, peerChallenge: Buffer, authenticatorChallenge: Buffer, user: string): string
  /** RFC 3079 section 3.4 (optional): MPPE send/receive master keys for the server side. */
  deriveMppeKeys?(ntHash: Buffer, ntResponse: Buffer): MppeKeys
  /**
   * RFC 2759 7 (optional; without it Change-Password is refused): decrypts
   * and checks a Change-Password with the old NT hash; on success the new
   * password and the "S=" for the Success packet.
   */
  verifyChangePassword?(input: { oldNtHash: Buffer; authenticatorChallenge: Buffer; peerChallenge: Buffer; ntResponse: Buffer; user: string; change: MsChapV2ChangePassword }):
    | { ok: true; newPassword: string; newNtHash: Buffer; authenticatorResponse: string }
    | { ok: false; reason: 'bad-block' | 'bad-old-password' | 'bad-response' }
}

/**
 * Stable codes of AuthError (thrown at configuration time only;
 * `authenticate` never throws):
 * - `AUTH_BAD_USER`: an empty or duplicate user name.
 * - `AUTH_NO_SECRET`: a user with neither password nor ntHash.
 * - `AUTH_BAD_NT_HASH`: ntHash is not 32 hex digits.
 * - `AUTH_SECRET_MISMATCH`: both password and ntHash given, and they disagree.
 * - `AUTH_BAD_OPTION`: an option out of range.
 */
export type AuthErrorCode = 'AUTH_BAD_USER' | 'AUTH_NO_SECRET' | 'AUTH_BAD_NT_HASH' | 'AUTH_SECRET_MISMATCH' | 'AUTH_BAD_OPTION'

export class AuthError extends Error {
  readonly code: AuthErrorCode
  /** The user the configuration entry was for, if any. */
  readonly user: string | undefined

  constructor(code: AuthErrorCode, message: string, user?: string) {
    super(message)
    this.name = 'AuthError'
    this.code = code
    this.user = user
  }
}

/** What the peer sees for every credential failure, whatever the internal reason. */
export const GENERIC_FAILURE_MESSAGE = 'Authentication failed'
