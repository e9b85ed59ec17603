/**
 * New IKE exchanges per source per second, as token buckets. IKEv1 Main
 * Mode has no stateless cookie exchange (IKEv2's COOKIE, RFC 7296 2.6):
 * every message 1 makes state and message 3 costs a Diffie-Hellman, so a
 * source that opens exchanges faster than any client does is refused
 * before either. The half-open limits bound the state; this bounds the
 * work. Sans-IO (`now` in seconds); the table is an LRU bounded by
 * `maxSources`, so a spoofed flood over many addresses costs bounded memory.
 */
export interface SourceRateOptions {
  /** Tokens (new exchanges) per second per source. 0 turns the limit off. */
  ratePerSecond: number
  /** Bucket size: exchanges a source may open at once (default 2 x rate, at least 1). */
  burst?: number
  /** Sources remembered (default 10,000). */
  maxSources?: number
}

interface Bucket {
  tokens: number
  at: number
}

export class SourceRateLimiter {
  private readonly rate: number
  private readonly burst: number
  private readonly maxSources: number
  private readonly buckets = new Map<string, Bucket>()

  constructor(options: SourceRateOptions) {
    if (!(options.ratePerSecond >= 0) || !Number.isFinite(options.ratePerSecond)) throw new RangeError(`ratePerSecond must be a finite number >= 0, got ${options.ratePerSecond}`)
    this.rate = options.ratePerSecond
    this.burst = Math.max(1, options.burst ?? 2 * this.rate)
    this.maxSources = Math.max(1, options.maxSources ?? 10_000)
  }

  /** Takes a token for `source`; false when its bucket is empty. */
  take(source: string, now: number): boolean {
    if (this.rate === 0) return true
    let b = this.buckets.get(source)
    if (b) {
      this.buckets.delete(source)
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) * this.rate)
      b.at = now
    } else {
      b = { tokens: this.burst, at: now }
    }
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    this.buckets.set(source, b)
    if (this.buckets.size > this.maxSources) this.buckets.delete(this.buckets.keys().next().value!)
    return ok
  }

  get size(): number {
    return this.buckets.size
  }
}
