// Authentication by a function of the embedding Node service
// (`new L2tpServer({ authenticate })`).
//
// The callback sees what the peer sent and answers one of:
//   { accept: true, policy? }            it decided (for MS-CHAPv2 it must also
//                                         give authenticatorResponse, having
//                                         verified the NT-Response itself)
//   { accept: false, reason?, message? } refused
//   { password } or { ntHash }           "here is the secret, you verify": the
//                                         easy way for CHAP-MD5 and MS-CHAPv2
//   { challenge, state? }                EAP: send this and call me again
//
// Whatever the callback does (throw, return garbage, never settle) the
// result is a rejection, never an exception: a wrong answer is logged
// through `onError` and the peer sees the generic failure. A deadline
// (default 10 s) bounds each call; the callback gets an AbortSignal that
// fires at the deadline so it can cancel its own I/O. This file is the I/O
// edge of lib/auth: it owns the one timer, cleared on every path.
import { checkSecret, failure, methodAllowed, policyOf, withoutDomain, type StoredSecret } from './local-users.js'
import {
  GENERIC_FAILURE_MESSAGE,
  MsChapError,
  isMsChapErrorCode,
  type AuthAlgorithms,
  type AuthRequest,
  type AuthResult,
  type Authenticator,
  type MppeKeys,
  type Method,
  type MsChapErrorCode,
  type PeerInfo,
  type UserPolicy,
} from './types.js'

/** What the callback is asked. Exactly one of the method-specific fields is set. */
export interface CallbackRequest {
  method: Method
  /** The name as the peer sent it ('' for EAP before its Identity). */
  user: string
  peer: PeerInfo
  /** PAP: the clear password the peer sent. */
  password?: string
  chap?: { identifier: number; challenge: Buffer; response: Buffer }
  mschapv2?: { authenticatorChallenge: Buffer; peerChallenge: Buffer; ntResponse: Buffer }
  eap?: { message: Buffer; state?: Buffer }
}

export type CallbackDecision =
  | {
    accept: true
    /** Canonical name for logs and sessions (default: the name the peer sent). */
    user?: string
    policy?: UserPolicy
    /** MS-CHAPv2: required ("S=" + 40 hex digits). */
    authenticatorResponse?: string
    mppeKeys?: MppeKeys
    message?: string
  }
  | {
    accept: false
    /** For the logs (becomes AuthFailure.detail). */
    reason?: string
    /** For the peer. */
    message?: string
    code?: MsChapErrorCode
    retry?: boolean
  }
  | { password: string; user?: string; policy?: UserPolicy }
  | { ntHash: string | Buffer; user?: string; policy?: UserPolicy }
  | { challenge: Buffer; state?: Buffer }

export type AuthCallback = (request: CallbackRequest, context: { signal: AbortSignal }) => CallbackDecision | Promise<CallbackDecision>

/** Reported through `onError`: the callback misbehaved (threw, timed out, answered nonsense). */
export interface CallbackErrorEvent {
  kind: 'threw' | 'timeout' | 'invalid'
  method: Method
  user: string
  peer: PeerInfo
  /** The thrown value, or a description of what was wrong. */
  error: unknown
}

export interface CallbackOptions {
  callback: AuthCallback
  /** Needed when the callback returns a password or NT hash (lib/ppp functions). */
  algorithms?: AuthAlgorithms
  /** Milliseconds to wait for each call (default 10,000). */
  timeoutMs?: number
  /** Where misbehaviour is logged (default: console.error). */
  onError?: (event: CallbackErrorEvent) => void
}

const TIMED_OUT: unique symbol = Symbol('timeout')

function toCallbackRequest(request: AuthRequest): CallbackRequest {
  const base = { method: request.method, user: request.user ?? '', peer: request.peer }
  switch (request.method) {
    case 'pap':
      return { ...base, password: request.password }
    case 'chap-md5':
      return { ...base, chap: { identifier: request.identifier, challenge: request.challenge, response: request.response } }
    case 'mschapv2':
      return { ...base, mschapv2: { authenticatorChallenge: request.authenticatorChallenge, peerChallenge: request.peerChallenge, ntResponse: request.ntResponse } }
    case 'eap':
      return { ...base, eap: request.state ? { message: request.eapMessage, state: request.state } : { message: request.eapMessage } }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function optionalPolicy(value: unknown): UserPolicy | undefined | false {
  if (value === undefined) return undefined
  return isObject(value) ? policyOf(value as UserPolicy) : false
}

export class CallbackAuthenticator implements Authenticator {
  private readonly callback: AuthCallback
  private readonly algorithms: AuthAlgorithms | undefined
  private readonly timeoutMs: number
  private readonly onError: (event: CallbackErrorEvent) => void

  constructor(options: CallbackOptions) {
    this.callback = options.callback
    this.algorithms = options.algorithms
    this.timeoutMs = options.timeoutMs ?? 10_000
    this.onError = options.onError ?? ((event) => console.error(`l2tp-ipsec: auth callback ${event.kind} for ${JSON.stringify(event.user)} (${event.method}):`, event.error))
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const user = request.user ?? ''
    // The callback has no way to store a new password: a Change-Password (after its own E=648) fails plainly.
    if (request.method === 'mschapv2' && request.changePassword) {
      return failure('unsupported-method', `${user}: MS-CHAPv2 Change-Password is not offered to the authenticate callback`, MsChapError.CHANGING_PASSWORD)
    }
    const report = (kind: CallbackErrorEvent['kind'], error: unknown) => {
      try {
        this.onError({ kind, method: request.method, user, peer: request.peer, error })
      } catch {
        // a failing logger must not turn a rejection into a crash
      }
    }
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    let decision: unknown
    try {
      const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
        // not unref'd: a caller awaiting this must get its answer even if nothing else keeps the loop alive
        timer = setTimeout(() => resolve(TIMED_OUT), this.timeoutMs)
      })
      // Promise.resolve().then(...) turns a synchronous throw into a rejection
      const call = Promise.resolve().then(() => this.callback(toCallbackRequest(request), { signal: controller.signal }))
      decision = await Promise.race([call, deadline])
    } catch (error) {
      report('threw', error)
      return failure('callback-error', `callback threw: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      clearTimeout(timer)
    }
    if (decision === TIMED_OUT) {
      controller.abort(new Error('authentication deadline passed'))
      report('timeout', new Error(`no answer within ${this.timeoutMs} ms`))
      return failure('timeout', `callback did not answer within ${this.timeoutMs} ms`)
    }
    try {
      return this.interpret(request, user, decision, (why) => {
        report('invalid', new Error(why))
        return failure('callback-error', `callback answer invalid: ${why}`)
      })
    } catch (error) {
      report('invalid', error)
      return failure('internal-error', `verification threw: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private interpret(request: AuthRequest, user: string, decision: unknown, invalid: (why: string) => AuthResult): AuthResult {
    if (!isObject(decision)) return invalid(`expected an object, got ${decision === null ? 'null' : typeof decision}`)
    const policy = optionalPolicy(decision['policy'])
    if (policy === false) return invalid('policy is not an object')
    const named = decision['user']
    if (named !== undefined && (typeof named !== 'string' || named.length === 0)) return invalid('user is not a non-empty string')
    const canonical = (named as string | undefined) ?? (request.method === 'mschapv2' ? withoutDomain(user) : user)

    if ('challenge' in decision) {
      if (request.method !== 'eap') return invalid(`a challenge answers EAP only, not ${request.method}`)
      if (!Buffer.isBuffer(decision['challenge'])) return invalid('challenge is not a Buffer')
      const state = decision['state']
      if (state !== undefined && !Buffer.isBuffer(state)) return invalid('state is not a Buffer')
      return state ? { challenge: true, eapMessage: decision['challenge'], state } : { challenge: true, eapMessage: decision['challenge'] }
    }

    if ('accept' in decision) {
      if (decision['accept'] === false) {
        const code = decision['code']
        const message = decision['message']
        const reason = decision['reason']
        return {
          ok: false,
          reason: 'rejected',
          detail: typeof reason === 'string' ? reason : 'rejected by the callback',
          retry: decision['retry'] === true,
          code: isMsChapErrorCode(code) ? code : MsChapError.AUTHENTICATION_FAILURE,
          message: typeof message === 'string' ? message : GENERIC_FAILURE_MESSAGE,
        }
      }
      if (decision['accept'] !== true) return invalid('accept is neither true nor false')
      const authenticatorResponse = decision['authenticatorResponse']
      if (request.method === 'mschapv2') {
        // RFC 2759 section 5: the peer checks S= and drops the link without it
        if (typeof authenticatorResponse !== 'string' || !/^S=[0-9A-F]{40}$/.test(authenticatorResponse)) {
          return invalid('an MS-CHAPv2 accept needs authenticatorResponse "S=<40 upper-case hex>" (or return the password / ntHash and let us verify)')
        }
      }
      if (!methodAllowed(policy ?? {}, request.method)) {
        return failure('method-not-allowed', `${canonical}: ${request.method} not allowed by the callback's own policy`, MsChapError.NO_DIALIN_PERMISSION, 'Authentication method not allowed')
      }
      const mppeKeys = decision['mppeKeys']
      const message = decision['message']
      return {
        ok: true,
        user: canonical,
        policy: policy ?? {},
        ...(request.method === 'mschapv2' ? { authenticatorResponse: authenticatorResponse as string } : {}),
        ...(isObject(mppeKeys) && Buffer.isBuffer(mppeKeys['send']) && Buffer.isBuffer(mppeKeys['receive']) ? { mppeKeys: mppeKeys as unknown as MppeKeys } : {}),
        ...(typeof message === 'string' ? { message } : {}),
      }
    }

    if ('password' in decision || 'ntHash' in decision) {
      const secret: StoredSecret = {}
      const password = decision['password']
      const ntHash = decision['ntHash']
      if (password !== undefined) {
        if (typeof password !== 'string') return invalid('password is not a string')
        secret.password = Buffer.from(password, 'utf8')
      }
      if (ntHash !== undefined) {
        if (Buffer.isBuffer(ntHash) && ntHash.length === 16) secret.ntHash = ntHash
        else if (typeof ntHash === 'string' && /^[0-9a-fA-F]{32}$/.test(ntHash)) secret.ntHash = Buffer.from(ntHash, 'hex')
        else return invalid('ntHash is neither 32 hex digits nor a 16-byte Buffer')
      }
      if (request.method === 'eap') return failure('unsupported-method', 'a secret cannot verify EAP')
      if (!this.algorithms && !(request.method === 'pap' && secret.password)) {
        return invalid(`verifying ${request.method} needs the algorithms option`)
      }
      const check = checkSecret(request, secret, this.algorithms ?? NO_ALGORITHMS)
      if (!check.ok) return failure(check.reason, `${canonical}: ${check.detail}`)
      const allowed = policy ?? {}
      if (!methodAllowed(allowed, request.method)) {
        return failure('method-not-allowed', `${canonical}: ${request.method} not allowed`, MsChapError.NO_DIALIN_PERMISSION, 'Authentication method not allowed')
      }
      return {
        ok: true,
        user: canonical,
        policy: allowed,
        ...(check.authenticatorResponse !== undefined ? { authenticatorResponse: check.authenticatorResponse } : {}),
        ...(check.mppeKeys ? { mppeKeys: check.mppeKeys } : {}),
      }
    }
    return invalid('expected accept, password, ntHash or challenge')
  }
}

/** PAP against a clear password needs none of the algorithms; reaching one of these is a bug. */
const NO_ALGORITHMS: AuthAlgorithms = {
  chapMd5Response: () => { throw new Error('no algorithms') },
  ntPasswordHash: () => { throw new Error('no algorithms') },
  generateNtResponse: () => { throw new Error('no algorithms') },
  generateAuthenticatorResponse: () => { throw new Error('no algorithms') },
}
