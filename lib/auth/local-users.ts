// Users from the configuration file, with a clear-text password or only an
// NT hash (the MD4 of the UTF-16LE password, RFC 2759 section 8.3, as
// `smbpasswd` or `mkntpwd` print it).
//
// What each stored secret can verify:
//   method      password   NT hash only
//   PAP         yes        yes (hash the password the peer sent, compare)
//   CHAP-MD5    yes        NO: RFC 1994 hashes the clear secret itself
//   MS-CHAPv2   yes        yes (the NT hash is all RFC 2759 needs)
//   EAP-MD5     yes        NO (RFC 3748 5.4 is CHAP-MD5 inside EAP); decided
//               here only when no RADIUS server or callback takes EAP
//   other EAP   no: relayed to RADIUS
//
// No user enumeration: an unknown user, a wrong password and a secret that
// cannot verify the method all give the peer the same failure (same
// message, code and retry flag) after the same work (an unknown user is
// checked against a random dummy secret); only `reason` and `detail`, for
// the logs, differ. All secret comparisons use timingSafeEqual.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { EAP_TYPE, eapMessage, md5Challenge, md5ChallengeData, readState } from './eap-md5.js'
import {
  AuthError,
  GENERIC_FAILURE_MESSAGE,
  METHODS,
  MsChapError,
  type AuthAlgorithms,
  type AuthFailure,
  type AuthFailureReason,
  type AuthSuccess,
  type AuthRequest,
  type AuthResult,
  type Authenticator,
  type EapRequest,
  type MppeKeys,
  type Method,
  type MsChapErrorCode,
  type UserPolicy,
} from './types.js'

/** One user in the configuration: the secret, then the policy fields of UserPolicy. */
export interface LocalUser extends UserPolicy {
  user: string
  /** The clear-text password: every method works. */
  password?: string
  /** 32 hex digits: PAP and MS-CHAPv2 work, CHAP-MD5 cannot. */
  ntHash?: string
  /** Refuse logins (MS-CHAPv2 error 647) once the credentials are right. */
  disabled?: boolean
  /**
   * The password must be changed: once the credentials are right MS-CHAPv2
   * answers E=648 and takes the peer's Change-Password (RFC 2759 7); the
   * other methods, which cannot change it, are refused.
   */
  passwordExpired?: boolean
}

/** A user changed an expired password (MS-CHAPv2 Change-Password, verified). */
export interface PasswordChange {
  user: string
  password: string
  /** 32 hex digits: what `ntHash` of the user's entry may store instead. */
  ntHash: string
}

export interface LocalUsersOptions {
  users: LocalUser[]
  /** RFC 1994 / RFC 2759 functions from lib/ppp. */
  algorithms: AuthAlgorithms
  /**
   * Accept "DOMAIN\\user" (what Windows sends) as "user" when no user is
   * configured under the full name (default true). MS-CHAPv2 hashes always
   * use the name without the domain, as pppd and FreeRADIUS do.
   */
  stripDomain?: boolean
  /** The Name in our EAP-MD5 Challenges (default 'l2tp-ipsec'). */
  serverName?: string
  /**
   * Stores a changed password (wherever the users come from). The new
   * secret is in force in this authenticator once this returns; when it
   * throws or rejects the change fails (E=709) and nothing changes. Without
   * it a change lasts until the next reload or restart.
   */
  onPasswordChange?: (change: PasswordChange) => void | Promise<void>
}

/** A secret as held in memory: the password's UTF-8 bytes and/or the NT hash. */
export interface StoredSecret {
  password?: Buffer
  ntHash?: Buffer
}

/** The outcome of checking one request against one secret. */
export type SecretCheck =
  | { ok: true; authenticatorResponse?: string; mppeKeys?: MppeKeys; changed?: { password: string; ntHash: Buffer } }
  | { ok: false; reason: Extract<AuthFailureReason, 'bad-password' | 'cannot-verify' | 'malformed' | 'unsupported-method'>; detail: string }

/** The name MS-CHAPv2 hashes use: without a "DOMAIN\\" prefix (pppd chap_ms.c ChallengeHash). */
export function withoutDomain(user: string): string {
  const slash = user.lastIndexOf('\\')
  return slash >= 0 ? user.slice(slash + 1) : user
}

/** Constant-time equality; unequal lengths still do a comparison's work. */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a)
    return false
  }
  return timingSafeEqual(a, b)
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

/**
 * Checks what the peer sent against a stored secret, with the algorithms
 * from lib/ppp. Shared by the local-users and callback authenticators.
 */
export function checkSecret(request: AuthRequest, secret: StoredSecret, algorithms: AuthAlgorithms): SecretCheck {
  switch (request.method) {
    case 'pap': {
      // RFC 1334 2.2.1: the password arrives in clear; compare digests so lengths do not leak
      const given = Buffer.from(request.password, 'utf8')
      if (secret.password) {
        return safeEqual(sha256(given), sha256(secret.password)) ? { ok: true } : { ok: false, reason: 'bad-password', detail: 'PAP password does not match' }
      }
      if (secret.ntHash) {
        let hashed: Buffer
        try {
          hashed = algorithms.ntPasswordHash(request.password)
        } catch {
          // e.g. longer than RFC 2759's 256 characters: it cannot be the password
          return { ok: false, reason: 'bad-password', detail: 'PAP password cannot be NT-hashed' }
        }
        return safeEqual(hashed, secret.ntHash)
          ? { ok: true }
          : { ok: false, reason: 'bad-password', detail: 'PAP password does not match the NT hash' }
      }
      return { ok: false, reason: 'cannot-verify', detail: 'no secret' }
    }
    case 'chap-md5': {
      if (request.response.length !== 16) return { ok: false, reason: 'malformed', detail: `CHAP-MD5 response of ${request.response.length} bytes, expected 16` }
      if (!secret.password) {
        // do the same work as a real check, then refuse
        algorithms.chapMd5Response(request.identifier, DUMMY.password!, request.challenge)
        return { ok: false, reason: 'cannot-verify', detail: 'CHAP-MD5 needs the clear password; this user has only an NT hash (use MS-CHAPv2 or PAP)' }
      }
      const expected = algorithms.chapMd5Response(request.identifier, secret.password, request.challenge)
      return safeEqual(expected, request.response) ? { ok: true } : { ok: false, reason: 'bad-password', detail: 'CHAP-MD5 response does not match' }
    }
    case 'mschapv2': {
      const { authenticatorChallenge, peerChallenge, ntResponse } = request
      if (authenticatorChallenge.length !== 16 || peerChallenge.length !== 16 || ntResponse.length !== 24) {
        return {
          ok: false,
          reason: 'malformed',
          detail: `MS-CHAPv2 field sizes ${authenticatorChallenge.length}/${peerChallenge.length}/${ntResponse.length}, expected 16/16/24`,
        }
      }
      const ntHash = secret.ntHash ?? (secret.password ? algorithms.ntPasswordHash(secret.password.toString('utf8')) : undefined)
      if (!ntHash) return { ok: false, reason: 'cannot-verify', detail: 'no secret' }
      const name = withoutDomain(request.user)
      if (request.changePassword) {
        if (!algorithms.verifyChangePassword) return { ok: false, reason: 'unsupported-method', detail: 'MS-CHAPv2 Change-Password is not supported here' }
        const change = algorithms.verifyChangePassword({ oldNtHash: ntHash, authenticatorChallenge, peerChallenge, ntResponse, user: name, change: request.changePassword })
        if (!change.ok) {
          return change.reason === 'bad-old-password'
            ? { ok: false, reason: 'bad-password', detail: 'MS-CHAPv2 Change-Password: not encrypted with the old password' }
            : { ok: false, reason: 'malformed', detail: `MS-CHAPv2 Change-Password: ${change.reason}` }
        }
        const mppe = algorithms.deriveMppeKeys?.(change.newNtHash, ntResponse)
        return { ok: true, authenticatorResponse: change.authenticatorResponse, changed: { password: change.newPassword, ntHash: change.newNtHash }, ...(mppe ? { mppeKeys: mppe } : {}) }
      }
      const expected = algorithms.generateNtResponse(authenticatorChallenge, peerChallenge, name, ntHash)
      if (!safeEqual(expected, ntResponse)) return { ok: false, reason: 'bad-password', detail: 'MS-CHAPv2 NT-Response does not match' }
      const authenticatorResponse = algorithms.generateAuthenticatorResponse(ntHash, ntResponse, peerChallenge, authenticatorChallenge, name)
      const mppeKeys = algorithms.deriveMppeKeys?.(ntHash, ntResponse)
      return mppeKeys ? { ok: true, authenticatorResponse, mppeKeys } : { ok: true, authenticatorResponse }
    }
    case 'eap':
      return { ok: false, reason: 'unsupported-method', detail: 'EAP is relayed to RADIUS; a stored secret cannot verify it' }
  }
}

/** A random secret checked in place of an unknown user's, so both paths cost the same. */
const DUMMY: StoredSecret = { password: Buffer.from(randomBytes(12).toString('base64'), 'utf8') }

/**
 * The failure the peer sees. Everything but `reason` and `detail` is the
 * same for every credential failure.
 */
export function failure(reason: AuthFailureReason, detail: string, code: MsChapErrorCode = MsChapError.AUTHENTICATION_FAILURE, message = GENERIC_FAILURE_MESSAGE): AuthFailure {
  return { ok: false, reason, detail, retry: false, code, message }
}

const POLICY_KEYS = ['address', 'ipv6Prefix', 'methods', 'maxSessions', 'allow', 'policies', 'rateBps', 'sessionTimeout', 'idleTimeout'] as const

/** The UserPolicy fields of an object, copied (nothing else: no secret ever lands in a policy). */
export function policyOf(source: UserPolicy): UserPolicy {
  const policy: UserPolicy = {}
  for (const key of POLICY_KEYS) {
    if (source[key] !== undefined) (policy as Record<string, unknown>)[key] = source[key]
  }
  return policy
}

/** Whether `policy.methods` (absent: all) admits `method`. */
export function methodAllowed(policy: UserPolicy, method: Method): boolean {
  return policy.methods === undefined || policy.methods.includes(method)
}

interface Entry {
  user: string
  secret: StoredSecret
  policy: UserPolicy
  disabled: boolean
  passwordExpired: boolean
}

/** Authenticator over a fixed list of users (replaceable at run time with `reload`). */
export class LocalUsersAuthenticator implements Authenticator {
  private users = new Map<string, Entry>()
  private readonly algorithms: AuthAlgorithms
  private readonly stripDomain: boolean
  private readonly serverName: string
  private readonly onPasswordChange: ((change: PasswordChange) => void | Promise<void>) | undefined

  /** Throws AuthError on a bad entry, naming the user. */
  constructor(options: LocalUsersOptions) {
    this.algorithms = options.algorithms
    this.stripDomain = options.stripDomain ?? true
    this.serverName = options.serverName ?? 'l2tp-ipsec'
    this.onPasswordChange = options.onPasswordChange
    this.reload(options.users)
  }

  /** Replaces every user at once (configuration reload); on error nothing changes. */
  reload(users: LocalUser[]): void {
    const next = new Map<string, Entry>()
    for (const entry of users) {
      const user = entry.user
      if (typeof user !== 'string' || user.length === 0) throw new AuthError('AUTH_BAD_USER', 'a user entry has no name')
      if (next.has(user)) throw new AuthError('AUTH_BAD_USER', `user ${JSON.stringify(user)} is configured twice`, user)
      const secret: StoredSecret = {}
      if (entry.password !== undefined) secret.password = Buffer.from(entry.password, 'utf8')
      if (entry.ntHash !== undefined) {
        if (!/^[0-9a-fA-F]{32}$/.test(entry.ntHash)) throw new AuthError('AUTH_BAD_NT_HASH', `ntHash of ${JSON.stringify(user)} must be 32 hex digits`, user)
        secret.ntHash = Buffer.from(entry.ntHash, 'hex')
      }
      if (!secret.password && !secret.ntHash) throw new AuthError('AUTH_NO_SECRET', `user ${JSON.stringify(user)} has neither password nor ntHash`, user)
      if (secret.password && secret.ntHash && !safeEqual(this.algorithms.ntPasswordHash(entry.password!), secret.ntHash)) {
        throw new AuthError('AUTH_SECRET_MISMATCH', `password and ntHash of ${JSON.stringify(user)} disagree`, user)
      }
      for (const method of entry.methods ?? []) {
        if (!METHODS.includes(method)) throw new AuthError('AUTH_BAD_OPTION', `user ${JSON.stringify(user)}: unknown method ${JSON.stringify(method)}`, user)
      }
      next.set(user, { user, secret, policy: policyOf(entry), disabled: entry.disabled === true, passwordExpired: entry.passwordExpired === true })
    }
    this.users = next
  }

  /** Whether `name` (as a peer would send it) resolves to a configured user; for diagnostics, never for the wire. */
  has(name: string): boolean {
    return this.lookup(name) !== undefined
  }

  private lookup(name: string): Entry | undefined {
    const exact = this.users.get(name)
    if (exact || !this.stripDomain) return exact
    const short = withoutDomain(name)
    return short === name ? undefined : this.users.get(short)
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    try {
      const result = this.verify(request)
      return result.changed && result.entry ? await this.change(result.entry, result.changed, result.result) : result.result
    } catch (error) {
      return failure('internal-error', `verification threw: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private verify(request: AuthRequest): { result: AuthResult; entry?: Entry; changed?: { password: string; ntHash: Buffer } } {
    if (request.method === 'eap') return { result: this.verifyEap(request) }
    const entry = this.lookup(request.user)
    const changing = request.method === 'mschapv2' && request.changePassword !== undefined
    if (!entry) {
      checkSecret(request, DUMMY, this.algorithms)
      return { result: failure('unknown-user', `no user ${JSON.stringify(request.user)}`, changing ? MsChapError.CHANGING_PASSWORD : undefined) }
    }
    const check = checkSecret(request, entry.secret, this.algorithms)
    if (!check.ok) return { result: failure(check.reason, `${entry.user}: ${check.detail}`, changing ? MsChapError.CHANGING_PASSWORD : undefined) }
    // Only now, with the right credentials, may the answer say something specific.
    if (entry.disabled) return { result: failure('disabled', `${entry.user}: account disabled`, MsChapError.ACCOUNT_DISABLED, 'Account disabled') }
    if (!methodAllowed(entry.policy, request.method)) {
      return { result: failure('method-not-allowed', `${entry.user}: ${request.method} not in ${JSON.stringify(entry.policy.methods)}`, MsChapError.NO_DIALIN_PERMISSION, 'Authentication method not allowed') }
    }
    if (check.changed) return { result: this.accept(entry, check), entry, changed: check.changed }
    if (entry.passwordExpired) {
      return { result: failure('password-expired', `${entry.user}: password expired${request.method === 'mschapv2' ? ', Change-Password invited' : ''}`, MsChapError.PASSWORD_EXPIRED, 'Password expired') }
    }
    return { result: this.accept(entry, check) }
  }

  /** Stores the verified new password (onPasswordChange first, so a failure to store changes nothing), then it is in force. */
  private async change(entry: Entry, changed: { password: string; ntHash: Buffer }, result: AuthResult): Promise<AuthResult> {
    try {
      await this.onPasswordChange?.({ user: entry.user, password: changed.password, ntHash: changed.ntHash.toString('hex') })
    } catch (error) {
      return failure('internal-error', `${entry.user}: storing the changed password failed: ${error instanceof Error ? error.message : String(error)}`, MsChapError.CHANGING_PASSWORD)
    }
    // The entry object may have been replaced by a reload meanwhile: change the current one of that name, if still there.
    const current = this.users.get(entry.user)
    if (current) {
      current.secret = { password: Buffer.from(changed.password, 'utf8'), ntHash: changed.ntHash }
      current.passwordExpired = false
    }
    return 'ok' in result && result.ok ? { ...result, passwordChanged: true } : result
  }

  private accept(entry: Entry, check: Extract<SecretCheck, { ok: true }>): AuthSuccess {
    return { ok: true, user: entry.user, policy: structuredClone(entry.policy), ...(check.authenticatorResponse !== undefined ? { authenticatorResponse: check.authenticatorResponse } : {}), ...(check.mppeKeys ? { mppeKeys: check.mppeKeys } : {}) }
  }

  /** EAP-MD5 (lib/auth/eap-md5.ts): an MD5-Challenge for the Identity, then the CHAP-MD5 check of the answer. */
  private verifyEap(request: EapRequest): AuthResult {
    const message = eapMessage(request.eapMessage)
    if (!message || message.code !== 2) return failure('malformed', 'EAP: not a Response')
    const state = readState(request.state)
    if (!state) {
      if (message.type !== EAP_TYPE.IDENTITY) return failure('malformed', `EAP: Response type ${message.type} before our MD5-Challenge`)
      return md5Challenge(message.identifier, this.serverName)
    }
    if (message.identifier !== state.identifier) return failure('malformed', 'EAP: the Response does not answer our MD5-Challenge')
    if (message.type === EAP_TYPE.NAK) {
      return failure('unsupported-method', `EAP: the peer refused MD5 (Nak for types ${[...message.typeData].join(', ') || 'none'}); local users do EAP-MD5 only, RADIUS relays others`)
    }
    const data = message.type === EAP_TYPE.MD5_CHALLENGE ? md5ChallengeData(message.typeData) : undefined
    if (!data) return failure('malformed', `EAP: Response type ${message.type} is not a valid MD5-Challenge answer`)
    const name = request.user ?? ''
    const chap: AuthRequest = { method: 'chap-md5', user: name, identifier: state.identifier, challenge: state.challenge, response: data.value, peer: request.peer }
    const entry = this.lookup(name)
    if (!entry) {
      checkSecret(chap, DUMMY, this.algorithms)
      return failure('unknown-user', `no user ${JSON.stringify(name)}`)
    }
    const check = checkSecret(chap, entry.secret, this.algorithms)
    if (!check.ok) return failure(check.reason, `${entry.user}: EAP-MD5: ${check.detail}`)
    if (entry.disabled) return failure('disabled', `${entry.user}: account disabled`, MsChapError.ACCOUNT_DISABLED, 'Account disabled')
    if (!methodAllowed(entry.policy, 'eap')) return failure('method-not-allowed', `${entry.user}: eap not in ${JSON.stringify(entry.policy.methods)}`, MsChapError.NO_DIALIN_PERMISSION, 'Authentication method not allowed')
    return this.accept(entry, check)
  }
}
