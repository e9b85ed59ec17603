// lib/auth: what PPP calls to decide who gets in.
//
//   const auth = new LimitedAuthenticator({
//     authenticator: new LocalUsersAuthenticator({ users, algorithms }),
//     limiter: new AuthLimiter({ onEvent: audit }),
//     clock: () => Date.now() / 1000,      // owned by lib/server
//   })
//   const result = await auth.authenticate({ method: 'mschapv2', ... })
import { failure, withoutDomain } from './local-users.js'
import { AuthLimiter } from './limiter.js'
import { MsChapError, type AuthFailureReason, type AuthRequest, type AuthResult, type Authenticator } from './types.js'

export * from './types.js'
export { LocalUsersAuthenticator, checkSecret, safeEqual, withoutDomain, type LocalUser, type LocalUsersOptions, type PasswordChange, type SecretCheck, type StoredSecret } from './local-users.js'
export { CallbackAuthenticator, type AuthCallback, type CallbackDecision, type CallbackErrorEvent, type CallbackOptions, type CallbackRequest } from './callback.js'
export { AuthLimiter, LimiterError, normalizeUser, sourceKey, type LimitDecision, type LimitReason, type LimiterEvent, type LimiterOptions } from './limiter.js'

/**
 * Failures that count against the limiter: guesses. Not counted: failures
 * after the credentials were right (`disabled`, `method-not-allowed`),
 * ones the peer cannot cause (`timeout`, `callback-error`,
 * `internal-error`: an outage of ours must not lock users out), and
 * `unsupported-method`.
 */
export const COUNTED_FAILURES: ReadonlySet<AuthFailureReason> = new Set<AuthFailureReason>([
  'unknown-user',
  'bad-password',
  'cannot-verify',
  'malformed',
  'rejected',
])

export interface LimitedAuthenticatorOptions {
  authenticator: Authenticator
  limiter: AuthLimiter
  /** Seconds; the same clock the limiter's `now` values come from. */
  clock: () => number
}

/**
 * Puts the (user, source) limiter in front of any authenticator: a refused
 * attempt is answered without looking at the credentials (so guesses during
 * back-off learn nothing), with the same outward failure as a wrong
 * password; guesses are counted, a success resets the pair.
 */
export class LimitedAuthenticator implements Authenticator {
  private readonly inner: Authenticator
  private readonly limiter: AuthLimiter
  private readonly clock: () => number

  constructor(options: LimitedAuthenticatorOptions) {
    this.inner = options.authenticator
    this.limiter = options.limiter
    this.clock = options.clock
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const user = request.user ?? ''
    const source = request.peer.address
    const decision = this.limiter.check(user, source, this.clock())
    if (!decision.allowed) {
      return failure(decision.reason, `${withoutDomain(user)} from ${source}: ${decision.reason} until ${decision.lockedUntil}`, MsChapError.AUTHENTICATION_FAILURE)
    }
    let result: AuthResult
    try {
      result = await this.inner.authenticate(request)
    } catch (error) {
      // the contract says never, but a third-party authenticator might
      return failure('internal-error', `authenticator threw: ${error instanceof Error ? error.message : String(error)}`)
    }
    if ('challenge' in result) return result
    if (result.ok) this.limiter.recordSuccess(user, source, this.clock())
    else if (COUNTED_FAILURES.has(result.reason)) this.limiter.recordFailure(user, source, this.clock())
    return result
  }
}
