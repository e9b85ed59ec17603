// Rate limits on failed logins (DESIGN.md, "Security boundaries": lock-outs
// and rate limits key on (user, source), never on the user alone).
//
// Two levels:
// - per (user, source) pair: after each failure the next attempt waits
//   baseDelay * 2^(n-1) seconds (capped at maxDelay); after maxFailures
//   failures within `window` the pair is locked for `lockout` seconds. A
//   success resets the pair. Someone guessing alice's password from
//   elsewhere locks out only their own (alice, elsewhere) pair: alice keeps
//   logging in from home.
// - per source, across users: sourceMaxFailures failures within `window`
//   lock the whole source for `sourceLockout` seconds, so one address cannot
//   spray guesses over many user names. Successes do not reset it (one valid
//   account must not launder guesses at others). Clients behind one NAT
//   share this budget, hence the generous default.
//
// Sources on the allow-list (an office NAT, a monitoring host) are never
// delayed or locked out: their failures are reported ('allow-listed') but
// not counted, so no stranger can lock them out either.
//
// "Source" is the peer's outer address; IPv6 sources are grouped by their
// /64 (configurable), since one host owns a whole /64 and rotates within it
// at will. User names are compared without "DOMAIN\\" and case-folded so
// that "ALICE" and "corp\\alice" count against the same pair.
//
// Sans-IO: every call takes `now` (seconds). Memory is bounded: pairs and
// sources live in insertion-ordered Maps used as LRUs (maxPairs,
// maxSources); entries whose failures and locks have all expired are swept
// from the old end as new failures arrive, and at the bound the least
// recently failed entry is evicted (an `evicted` event says so).

import type { AllowList } from '../security/allow-list.js'

/** Why an attempt is refused. */
export type LimitReason = 'locked-out' | 'backoff' | 'source-limit'

export type LimitDecision =
  | { allowed: true }
  | { allowed: false; reason: LimitReason; /** Seconds (same clock as `now`) when an attempt will be allowed again. */ lockedUntil: number }

/** For the security log. `user` and `source` are the normalised keys. */
export type LimiterEvent =
  | { type: 'failure'; at: number; user: string; source: string; failures: number; delayUntil: number }
  | { type: 'lockout'; at: number; user: string; source: string; failures: number; lockedUntil: number }
  | { type: 'source-lockout'; at: number; source: string; failures: number; lockedUntil: number }
  | { type: 'blocked'; at: number; user: string; source: string; reason: LimitReason; lockedUntil: number }
  | { type: 'reset'; at: number; user: string; source: string; failures: number }
  | { type: 'evicted'; at: number; scope: 'pair' | 'source'; key: string }
  | { type: 'allow-listed'; at: number; user: string; source: string }

export const LIMITER_EVENT_TYPES = ['failure', 'lockout', 'source-lockout', 'blocked', 'reset', 'evicted', 'allow-listed'] as const satisfies readonly LimiterEvent['type'][]

export interface LimiterOptions {
  /** Failures of one pair within `window` that lock it (default 5). */
  maxFailures?: number
  /** Seconds over which failures are counted (default 900). */
  window?: number
  /** Seconds a pair stays locked (default 900). */
  lockout?: number
  /** Seconds of back-off after the first failure, doubling after each (default 1). */
  baseDelay?: number
  /** Cap on the back-off (default 60). */
  maxDelay?: number
  /** Failures from one source, all users together, within `window` that lock the source (default 100). */
  sourceMaxFailures?: number
  /** Seconds a source stays locked (default 900). */
  sourceLockout?: number
  /** Bound on remembered pairs (default 100,000). */
  maxPairs?: number
  /** Bound on remembered sources (default 50,000). */
  maxSources?: number
  /** IPv6 sources are grouped by this prefix length (default 64; 128 for none). */
  ipv6SourcePrefix?: number
  /** Sources never delayed nor locked out. */
  allowList?: AllowList
  /** Security log sink; called synchronously, exceptions ignored. */
  onEvent?: (event: LimiterEvent) => void
}

interface PairState {
  user: string
  source: string
  /** Times of the failures still inside the window, oldest first (at most maxFailures). */
  failures: number[]
  delayUntil: number
  lockedUntil: number
}

interface SourceState {
  windowStart: number
  count: number
  lockedUntil: number
}

/** Thrown by the constructor for an option out of range. */
export class LimiterError extends Error {
  readonly code = 'LIMITER_BAD_OPTION'
  constructor(message: string) {
    super(message)
    this.name = 'LimiterError'
  }
}

/** Case-folded, without a "DOMAIN\\" prefix. */
export function normalizeUser(user: string): string {
  const slash = user.lastIndexOf('\\')
  return (slash >= 0 ? user.slice(slash + 1) : user).toLowerCase()
}

/** 8 groups of an IPv6 address, or undefined. */
function ipv6Groups(text: string): number[] | undefined {
  let address = text
  const tail: number[] = []
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address)
  if (v4) {
    const bytes = v4.slice(2).map(Number)
    if (bytes.some((b) => b > 255)) return undefined
    tail.push((bytes[0]! << 8) | bytes[1]!, (bytes[2]! << 8) | bytes[3]!)
    address = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1)
  }
  const halves = address.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string | undefined) => (part ? part.split(':') : []).map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN))
  const left = parse(halves[0])
  const right = parse(halves[1])
  const want = 8 - tail.length
  const fill = halves.length === 2 ? want - left.length - right.length : 0
  if (fill < 0 || (halves.length === 2 && fill === 0) || left.length + fill + right.length !== want) return undefined
  const groups = [...left, ...new Array<number>(fill).fill(0), ...right, ...tail]
  return groups.some(Number.isNaN) ? undefined : groups
}

/**
 * The rate-limit key of a peer address: IPv4 as is, IPv4-mapped IPv6 as
 * IPv4, other IPv6 as its /`prefix`, anything else lower-cased.
 */
export function sourceKey(address: string, prefix = 64): string {
  if (!address.includes(':')) return address
  const groups = ipv6Groups(address.split('%')[0]!)
  if (!groups) return address.toLowerCase()
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`
  }
  const masked = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16))
    return bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff
  })
  return `${masked.map((g) => g.toString(16)).join(':')}/${prefix}`
}

export class AuthLimiter {
  private readonly maxFailures: number
  private readonly window: number
  private readonly lockout: number
  private readonly baseDelay: number
  private readonly maxDelay: number
  private readonly sourceMaxFailures: number
  private readonly sourceLockout: number
  private readonly maxPairs: number
  private readonly maxSources: number
  private readonly ipv6SourcePrefix: number
  private readonly onEvent: ((event: LimiterEvent) => void) | undefined
  private readonly allowList: AllowList | undefined
  /** Events by type since the start, for metrics (counted whether or not there is a sink). */
  readonly counts: Record<LimiterEvent['type'], number> = Object.fromEntries(LIMITER_EVENT_TYPES.map((t) => [t, 0])) as Record<LimiterEvent['type'], number>
  private readonly pairs = new Map<string, PairState>()
  private readonly sources = new Map<string, SourceState>()

  constructor(options: LimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? 5
    this.window = options.window ?? 900
    this.lockout = options.lockout ?? 900
    this.baseDelay = options.baseDelay ?? 1
    this.maxDelay = options.maxDelay ?? 60
    this.sourceMaxFailures = options.sourceMaxFailures ?? 100
    this.sourceLockout = options.sourceLockout ?? 900
    this.maxPairs = options.maxPairs ?? 100_000
    this.maxSources = options.maxSources ?? 50_000
    this.ipv6SourcePrefix = options.ipv6SourcePrefix ?? 64
    this.onEvent = options.onEvent
    this.allowList = options.allowList
    const positive = { maxFailures: this.maxFailures, sourceMaxFailures: this.sourceMaxFailures, maxPairs: this.maxPairs, maxSources: this.maxSources }
    for (const [name, value] of Object.entries(positive)) {
      if (!Number.isInteger(value) || value < 1) throw new LimiterError(`${name} must be an integer >= 1, got ${value}`)
    }
    const nonNegative = { window: this.window, lockout: this.lockout, baseDelay: this.baseDelay, maxDelay: this.maxDelay, sourceLockout: this.sourceLockout }
    for (const [name, value] of Object.entries(nonNegative)) {
      if (!(value >= 0) || !Number.isFinite(value)) throw new LimiterError(`${name} must be a finite number >= 0, got ${value}`)
    }
    if (!Number.isInteger(this.ipv6SourcePrefix) || this.ipv6SourcePrefix < 1 || this.ipv6SourcePrefix > 128) {
      throw new LimiterError(`ipv6SourcePrefix must be 1..128, got ${this.ipv6SourcePrefix}`)
    }
  }

  private keys(user: string, address: string): { user: string; source: string; pair: string; listed: boolean } {
    const u = normalizeUser(user)
    const source = sourceKey(address, this.ipv6SourcePrefix)
    // NUL cannot appear in an address; JSON keeps any user name unambiguous
    return { user: u, source, pair: `${source}\u0000${JSON.stringify(u)}`, listed: this.allowList?.has(address) ?? false }
  }

  private emit(event: LimiterEvent): void {
    this.counts[event.type]++
    if (!this.onEvent) return
    try {
      this.onEvent(event)
    } catch {
      // a broken log sink must not break authentication
    }
  }

  /** May `user` try from `address` now? Refusals are reported as `blocked` events. */
  check(user: string, address: string, now: number): LimitDecision {
    const k = this.keys(user, address)
    if (k.listed) return { allowed: true }
    const decision = this.peek(k.pair, k.source, now)
    if (!decision.allowed) this.emit({ type: 'blocked', at: now, user: k.user, source: k.source, reason: decision.reason, lockedUntil: decision.lockedUntil })
    return decision
  }

  /** Like `check`, without the `blocked` event: for a path that reports refusals itself (rate-limited). */
  admits(user: string, address: string, now: number): LimitDecision {
    const k = this.keys(user, address)
    return k.listed ? { allowed: true } : this.peek(k.pair, k.source, now)
  }

  private peek(pairKey: string, sourceKeyText: string, now: number): LimitDecision {
    const pair = this.pairs.get(pairKey)
    if (pair && pair.lockedUntil > now) return { allowed: false, reason: 'locked-out', lockedUntil: pair.lockedUntil }
    const source = this.sources.get(sourceKeyText)
    if (source && source.lockedUntil > now) return { allowed: false, reason: 'source-limit', lockedUntil: source.lockedUntil }
    if (pair && pair.delayUntil > now) return { allowed: false, reason: 'backoff', lockedUntil: pair.delayUntil }
    return { allowed: true }
  }

  /** Counts a failed attempt; returns what the next attempt of this pair will face. */
  recordFailure(user: string, address: string, now: number): LimitDecision {
    const k = this.keys(user, address)
    if (k.listed) {
      this.emit({ type: 'allow-listed', at: now, user: k.user, source: k.source })
      return { allowed: true }
    }
    this.sweep(now)

    let pair = this.pairs.get(k.pair)
    if (pair) this.pairs.delete(k.pair) // re-inserted below: most recent at the end
    else pair = { user: k.user, source: k.source, failures: [], delayUntil: 0, lockedUntil: 0 }
    while (pair.failures.length > 0 && pair.failures[0]! <= now - this.window) pair.failures.shift()
    pair.failures.push(now)
    const failures = pair.failures.length
    if (failures >= this.maxFailures) {
      pair.lockedUntil = now + this.lockout
      pair.delayUntil = 0
      pair.failures = []
      this.emit({ type: 'lockout', at: now, user: k.user, source: k.source, failures, lockedUntil: pair.lockedUntil })
    } else {
      pair.delayUntil = now + Math.min(this.maxDelay, this.baseDelay * 2 ** (failures - 1))
      this.emit({ type: 'failure', at: now, user: k.user, source: k.source, failures, delayUntil: pair.delayUntil })
    }
    this.pairs.set(k.pair, pair)
    this.bound(this.pairs, this.maxPairs, 'pair', now)

    let source = this.sources.get(k.source)
    if (source) this.sources.delete(k.source)
    else source = { windowStart: now, count: 0, lockedUntil: 0 }
    if (now - source.windowStart >= this.window) {
      source.windowStart = now
      source.count = 0
    }
    source.count++
    if (source.count >= this.sourceMaxFailures) {
      source.lockedUntil = now + this.sourceLockout
      this.emit({ type: 'source-lockout', at: now, source: k.source, failures: source.count, lockedUntil: source.lockedUntil })
      source.count = 0
      source.windowStart = now
    }
    this.sources.set(k.source, source)
    this.bound(this.sources, this.maxSources, 'source', now)

    return this.peek(k.pair, k.source, now)
  }

  /** A successful login clears the pair (not the source's count). */
  recordSuccess(user: string, address: string, now: number): void {
    const k = this.keys(user, address)
    const pair = this.pairs.get(k.pair)
    if (!pair) return
    this.pairs.delete(k.pair)
    this.emit({ type: 'reset', at: now, user: k.user, source: k.source, failures: pair.failures.length })
  }

  /** Entries held (for the memory-bound check and metrics). */
  size(): { pairs: number; sources: number } {
    return { pairs: this.pairs.size, sources: this.sources.size }
  }

  private bound<V>(map: Map<string, V>, max: number, scope: 'pair' | 'source', now: number): void {
    while (map.size > max) {
      const oldest = map.keys().next().value as string
      map.delete(oldest)
      this.emit({ type: 'evicted', at: now, scope, key: oldest })
    }
  }

  /** Drops a few fully expired entries from the old end of each map: amortised O(1). */
  private sweep(now: number): void {
    let budget = 4
    for (const [key, pair] of this.pairs) {
      const last = pair.failures[pair.failures.length - 1] ?? -Infinity
      if (budget-- === 0 || pair.lockedUntil > now || pair.delayUntil > now || last > now - this.window) break
      this.pairs.delete(key)
    }
    budget = 4
    for (const [key, source] of this.sources) {
      if (budget-- === 0 || source.lockedUntil > now || now - source.windowStart < this.window) break
      this.sources.delete(key)
    }
  }
}
