/**
 * The IKE responder's admission control (lib/ike/types.ts IkeGuard):
 *
 * - New exchanges per source per second (SourceRateLimiter): IKEv1 Main
 *   Mode has no stateless cookie, so this bounds the Diffie-Hellman work a
 *   source can cause.
 * - Failed Phase 1 authentications (a Main Mode message 5 that does not
 *   decrypt or whose HASH_I does not match: a wrong pre-shared key; or a
 *   refused certificate) counted per source address in an AuthLimiter:
 *   back-off that doubles after each failure, then lock-out for a
 *   configurable time. Before message 5 nothing names the user (the ID is
 *   encrypted under the PSK-derived key), so the source is the key; a
 *   success from the source clears it.
 * - Allow-listed sources are neither rate-limited nor delayed nor locked.
 *
 * The limiter's events (failure, lockout, allow-listed...) go to the
 * security log; refusals are counted as IKE drops by reason, reported at
 * most once per peer per 10 s by the endpoint, so a locked-out flood cannot
 * flood the log.
 */
import { AuthLimiter, sourceKey, type LimiterEvent } from '../auth/limiter.js'
import type { IkeGuard } from '../ike/types.js'
import type { SecurityConfig } from '../config/security-schema.js'
import { AllowList } from './allow-list.js'
import { SourceRateLimiter } from './source-rate.js'

/** The limiter's user key for Phase 1: one pair per source. */
const PHASE1 = '(ike)'

export interface IkeGuardOptions {
  /** New exchanges per second per source (0: no limit); burst twice that. */
  ratePerSecond: number
  burst?: number
  /** Failures within `window` that lock the source; back-off before that. */
  maxFailures: number
  window: number
  lockout: number
  baseDelay: number
  maxDelay: number
  allowList?: AllowList
  onEvent?: (event: LimiterEvent) => void
}

export const IKE_GUARD_DEFAULTS = { ratePerSecond: 50, maxFailures: 10, window: 900, lockout: 900, baseDelay: 1, maxDelay: 30 } as const

export class IkeSourceGuard implements IkeGuard {
  readonly limiter: AuthLimiter
  private readonly rate: SourceRateLimiter
  private readonly allowList: AllowList | undefined
  /** New exchanges refused by the rate limit, since the start. */
  rateLimited = 0

  constructor(options: IkeGuardOptions) {
    this.allowList = options.allowList
    this.rate = new SourceRateLimiter({ ratePerSecond: options.ratePerSecond, ...(options.burst !== undefined ? { burst: options.burst } : {}) })
    this.limiter = new AuthLimiter({
      maxFailures: options.maxFailures,
      window: options.window,
      lockout: options.lockout,
      baseDelay: options.baseDelay,
      maxDelay: options.maxDelay,
      // One pair per source: the source-wide count would only repeat it.
      sourceMaxFailures: Number.MAX_SAFE_INTEGER,
      ...(options.allowList ? { allowList: options.allowList } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    })
  }

  admitNew(address: string, now: number): string | undefined {
    const waiting = this.admitAuth(address, now)
    if (waiting) return waiting
    if (this.allowList?.has(address)) return undefined
    // IPv6 by /64, as the limiter keys it: one host owns the whole /64.
    if (this.rate.take(sourceKey(address), now)) return undefined
    this.rateLimited++
    return 'new exchanges per source rate limit'
  }

  admitAuth(address: string, now: number): string | undefined {
    const d = this.limiter.admits(PHASE1, address, now)
    if (d.allowed) return undefined
    return d.reason === 'backoff' ? 'source in back-off after failed authentication' : 'source locked out after failed authentications'
  }

  authFailed(address: string, now: number): void {
    this.limiter.recordFailure(PHASE1, address, now)
  }

  authSucceeded(address: string, now: number): void {
    this.limiter.recordSuccess(PHASE1, address, now)
  }
}

/** The guard a server runs with its `security` configuration. */
export function createIkeGuard(security: SecurityConfig, onEvent?: (event: LimiterEvent) => void): IkeSourceGuard {
  return new IkeSourceGuard({
    ratePerSecond: security.limits.ikeRatePerSource,
    ...security.ikeAuth,
    allowList: new AllowList(security.allowList),
    ...(onEvent ? { onEvent } : {}),
  })
}
