// Address pools for PPP sessions: IPv4 addresses (IPCP, RFC 1332) and IPv6
// prefixes (one /64 per session by default, carved from a larger prefix).
//
// Sans-IO: no clock, no timers. Time is the `now` (seconds) the caller passes
// to `allocate` and `release`; it only drives how long a released address
// stays "sticky" to its last user.
//
// Allocation is O(1) amortised, whatever the pool size (a /8 costs no more
// than a /24 and nothing is materialised up front): addresses are numbered
// 0..total-1 across the configured ranges; a cursor hands out never-used
// numbers first, then a FIFO of released numbers (oldest released first, so
// a departed user's address stays free as long as possible and the sticky
// rule can give it back). Entries made stale by a requested, sticky or fixed
// allocation are dropped lazily when they reach the head of the FIFO.
import { formatIpv6, formatIpv6Prefix, parseIpv6, parseIpv6Prefix } from './ipv6.js'

/** Why an allocation came out the way it did (for logs and IPCP Nak decisions). */
export type AllocationSource = 'fixed' | 'requested' | 'sticky' | 'pool'

/**
 * Stable codes of a failed allocation:
 * - `POOL_EXHAUSTED`: every address is in use or reserved.
 * - `ADDRESS_IN_USE`: the fixed address asked for is held by a session
 *   (`holder` names its user, so the server can decide to end a stale
 *   session of the same user).
 * - `ADDRESS_NOT_ALLOWED`: the fixed address is the gateway, excluded,
 *   reserved for another user, or outside the pool and not in `allowOutside`.
 * - `BAD_ADDRESS`: the fixed address is not an address of this pool's family
 *   (or, for IPv6, not a prefix of the delegated length).
 */
export type AllocationErrorCode = 'POOL_EXHAUSTED' | 'ADDRESS_IN_USE' | 'ADDRESS_NOT_ALLOWED' | 'BAD_ADDRESS'

export type Allocation =
  | { ok: true; address: string; source: AllocationSource }
  | { ok: false; error: AllocationErrorCode; reason: string; holder?: string }

export interface AllocateRequest {
  /** The authenticated user name: the key of sticky addresses and reservations. */
  user: string
  /** Seconds, from the caller's clock. */
  now: number
  /**
   * The address the peer asked for (IPCP IP-Address option). Honoured when it
   * is in the pool, free and not reserved for someone else; otherwise ignored
   * and a pool address is given (IPCP then Naks with it).
   */
  requested?: string
  /**
   * A fixed address from the user's policy (UserPolicy.address or
   * ipv6Prefix). Never replaced by another: if it cannot be given the
   * allocation fails with the reason.
   */
  fixed?: string
}

export interface PoolStats {
  /** Addresses the pool can hand out (ranges minus exclusions and gateway). */
  total: number
  /** Pool addresses held by sessions. */
  used: number
  /** Pool addresses neither used nor reserved. */
  free: number
  /** Pool addresses reserved (for a user or for nobody) and not in use. */
  reserved: number
  /** Fixed addresses outside the pool held by sessions (not part of `total`). */
  outside: number
}

export type PoolConfigErrorCode = 'POOL_BAD_ADDRESS' | 'POOL_BAD_RANGE' | 'POOL_EMPTY' | 'POOL_TOO_LARGE' | 'POOL_BAD_OPTION'

/** Thrown by the pool constructors and `reserve` on configuration mistakes; `value` is the offending text. */
export class PoolConfigError extends Error {
  readonly code: PoolConfigErrorCode
  readonly value: string | undefined

  constructor(code: PoolConfigErrorCode, message: string, value?: string) {
    super(message)
    this.name = 'PoolConfigError'
    this.code = code
    this.value = value
  }
}

/** Options shared by both pools. */
export interface PoolCommonOptions {
  /** Addresses / ranges / prefixes never handed out. */
  exclude?: string[]
  /**
   * Seconds a released address stays associated with its last user, who gets
   * it back if it is still free (default 3600; 0 turns stickiness off).
   * Stickiness never holds an address back from others.
   */
  stickyTtl?: number
  /** Bound on remembered (user, last address) pairs; oldest forgotten first (default 100,000). */
  maxSticky?: number
  /** Ranges where a fixed address from policy may lie outside the pool. */
  allowOutside?: string[]
}

export interface Ipv4PoolOptions extends PoolCommonOptions {
  /**
   * "192.168.42.10-192.168.42.250", "192.168.42.0/24" (network and broadcast
   * left out, except for /31 and /32, RFC 3021) or a single address.
   */
  ranges: string | string[]
  /** The server's own PPP address: never handed out, never accepted as fixed. */
  gateway?: string
}

export interface Ipv6PoolOptions extends PoolCommonOptions {
  /** Parent prefixes, e.g. "2001:db8:42::/56". */
  prefixes: string | string[]
  /** Length of the prefix given to each session (default 64). */
  delegatedLength?: number
}

// ---------------------------------------------------------------------------
// Intervals of ordinals (IPv4: the address; IPv6: address >> (128 - length))

interface Interval {
  first: bigint
  last: bigint
}

function mergeIntervals(list: Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0))
  const out: Interval[] = []
  for (const iv of sorted) {
    const top = out[out.length - 1]
    if (top && iv.first <= top.last + 1n) {
      if (iv.last > top.last) top.last = iv.last
    } else {
      out.push({ first: iv.first, last: iv.last })
    }
  }
  return out
}

function subtractIntervals(from: Interval[], remove: Interval[]): Interval[] {
  const cuts = mergeIntervals(remove)
  const out: Interval[] = []
  for (const iv of from) {
    let start = iv.first
    for (const cut of cuts) {
      if (cut.last < start || cut.first > iv.last) continue
      if (cut.first > start) out.push({ first: start, last: cut.first - 1n })
      start = cut.last + 1n
      if (start > iv.last) break
    }
    if (start <= iv.last) out.push({ first: start, last: iv.last })
  }
  return out
}

function inIntervals(list: Interval[], ordinal: bigint): boolean {
  return list.some((iv) => ordinal >= iv.first && ordinal <= iv.last)
}

/** Index space 0..total-1 laid over sorted, disjoint intervals; binary search both ways. */
class Segments {
  readonly total: number
  private readonly firsts: bigint[] = []
  private readonly lasts: bigint[] = []
  private readonly starts: number[] = []

  constructor(intervals: Interval[]) {
    let total = 0
    for (const iv of intervals) {
      this.firsts.push(iv.first)
      this.lasts.push(iv.last)
      this.starts.push(total)
      total += Number(iv.last - iv.first + 1n)
    }
    this.total = total
  }

  indexOf(ordinal: bigint): number | undefined {
    let lo = 0
    let hi = this.firsts.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const first = this.firsts[mid]!
      if (ordinal < first) hi = mid - 1
      else if (ordinal > this.lasts[mid]!) lo = mid + 1
      else return this.starts[mid]! + Number(ordinal - first)
    }
    return undefined
  }

  ordinalAt(index: number): bigint {
    let lo = 0
    let hi = this.starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.starts[mid]! <= index) lo = mid
      else hi = mid - 1
    }
    return this.firsts[lo]! + BigInt(index - this.starts[lo]!)
  }
}

// ---------------------------------------------------------------------------
// The allocator over indices

class IndexAllocator {
  private cursor = 0
  private readonly queue: number[] = []
  private head = 0
  private readonly queued = new Set<number>()
  readonly holders = new Map<number, string>()
  /** index -> the only user who may get it, or null for nobody. */
  readonly reserved = new Map<number, string | null>()
  private readonly sticky = new Map<string, { index: number; releasedAt: number }>()

  constructor(readonly total: number, private readonly stickyTtl: number, private readonly maxSticky: number) {}

  usableBy(index: number, user: string): boolean {
    return !this.reserved.has(index) || this.reserved.get(index) === user
  }

  take(index: number, user: string): void {
    this.holders.set(index, user)
  }

  /** The user's last address if it is still remembered, free and usable by them. */
  stickyFor(user: string, now: number): number | undefined {
    const entry = this.sticky.get(user)
    if (!entry) return undefined
    if (now - entry.releasedAt > this.stickyTtl) {
      this.sticky.delete(user)
      return undefined
    }
    if (this.holders.has(entry.index) || !this.usableBy(entry.index, user)) return undefined
    return entry.index
  }

  /** A free, unreserved index: never-used ones first, then the oldest released. */
  next(): number | undefined {
    while (this.cursor < this.total) {
      const index = this.cursor++
      if (!this.holders.has(index) && !this.reserved.has(index)) return index
    }
    while (this.head < this.queue.length) {
      const index = this.queue[this.head++]!
      this.queued.delete(index)
      if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
        this.queue.splice(0, this.head)
        this.head = 0
      }
      if (!this.holders.has(index) && !this.reserved.has(index)) return index
    }
    return undefined
  }

  /** Invariant: every free, unreserved index below the cursor is queued. */
  private requeue(index: number): void {
    if (index < this.cursor && !this.holders.has(index) && !this.reserved.has(index) && !this.queued.has(index)) {
      this.queue.push(index)
      this.queued.add(index)
    }
  }

  release(index: number, now: number): string | undefined {
    const user = this.holders.get(index)
    if (user === undefined) return undefined
    this.holders.delete(index)
    this.requeue(index)
    if (this.stickyTtl > 0) {
      this.sticky.delete(user)
      this.sticky.set(user, { index, releasedAt: now })
      // Map order is release order: forget expired entries from the front, then bound the size
      for (const [key, entry] of this.sticky) {
        if (this.sticky.size > this.maxSticky || now - entry.releasedAt > this.stickyTtl) this.sticky.delete(key)
        else break
      }
    }
    return user
  }

  reserve(index: number, user: string | null): void {
    this.reserved.set(index, user)
  }

  unreserve(index: number): boolean {
    const had = this.reserved.delete(index)
    if (had) this.requeue(index)
    return had
  }

  stickyCount(): number {
    return this.sticky.size
  }

  reservedFree(): number {
    let n = 0
    for (const index of this.reserved.keys()) if (!this.holders.has(index)) n++
    return n
  }
}

// ---------------------------------------------------------------------------
// The pool over ordinals, with text addresses at the edges

interface Family {
  /** Text -> ordinal, or undefined if not an address of this family / shape. */
  parse(text: string): bigint | undefined
  format(ordinal: bigint): string
  describe: string
}

const MAX_INDICES = 2 ** 48

abstract class OrdinalPool {
  private readonly segments: Segments
  private readonly allocator: IndexAllocator
  private readonly outside = new Map<bigint, string>()

  protected constructor(
    private readonly family: Family,
    ranges: Interval[],
    private readonly excluded: Interval[],
    private readonly forbidden: Set<bigint>,
    private readonly allowOutside: Interval[],
    options: PoolCommonOptions,
  ) {
    const usable = subtractIntervals(mergeIntervals(ranges), [...excluded, ...[...forbidden].map((o) => ({ first: o, last: o }))])
    let count = 0n
    for (const iv of usable) count += iv.last - iv.first + 1n
    if (count === 0n) throw new PoolConfigError('POOL_EMPTY', `the ${family.describe} pool has no usable address after exclusions`)
    if (count > BigInt(MAX_INDICES)) throw new PoolConfigError('POOL_TOO_LARGE', `the ${family.describe} pool has ${count} entries; at most 2^48 are supported`)
    const stickyTtl = options.stickyTtl ?? 3600
    const maxSticky = options.maxSticky ?? 100_000
    if (!(stickyTtl >= 0) || !(maxSticky >= 0)) throw new PoolConfigError('POOL_BAD_OPTION', 'stickyTtl and maxSticky must be >= 0')
    this.segments = new Segments(usable)
    this.allocator = new IndexAllocator(this.segments.total, stickyTtl, maxSticky)
  }

  /**
   * Gives `request.user` an address: the fixed one if asked (or a typed
   * failure), else the requested one if usable, else their previous one if
   * still free, else the next free one. Never hands out an address twice.
   */
  allocate(request: AllocateRequest): Allocation {
    const { user, now } = request
    if (request.fixed !== undefined) return this.allocateFixed(request.fixed, user)
    if (request.requested !== undefined) {
      const ordinal = this.family.parse(request.requested)
      const index = ordinal === undefined ? undefined : this.segments.indexOf(ordinal)
      if (index !== undefined && !this.allocator.holders.has(index) && this.allocator.usableBy(index, user)) {
        return this.give(index, user, 'requested')
      }
    }
    const sticky = this.allocator.stickyFor(user, now)
    if (sticky !== undefined) return this.give(sticky, user, 'sticky')
    const index = this.allocator.next()
    if (index !== undefined) return this.give(index, user, 'pool')
    const { total, used, reserved } = this.stats()
    return {
      ok: false,
      error: 'POOL_EXHAUSTED',
      reason: `no free ${this.family.describe} address for ${user}: ${used} of ${total} in use, ${reserved} reserved`,
    }
  }

  private give(index: number, user: string, source: AllocationSource): Allocation {
    this.allocator.take(index, user)
    return { ok: true, address: this.family.format(this.segments.ordinalAt(index)), source }
  }

  private allocateFixed(text: string, user: string): Allocation {
    const ordinal = this.family.parse(text)
    if (ordinal === undefined) return { ok: false, error: 'BAD_ADDRESS', reason: `fixed address ${JSON.stringify(text)} is not a ${this.family.describe} address` }
    const address = this.family.format(ordinal)
    if (this.forbidden.has(ordinal)) return { ok: false, error: 'ADDRESS_NOT_ALLOWED', reason: `fixed address ${address} is the gateway or a reserved network address` }
    if (inIntervals(this.excluded, ordinal)) return { ok: false, error: 'ADDRESS_NOT_ALLOWED', reason: `fixed address ${address} is excluded from the pool` }
    const index = this.segments.indexOf(ordinal)
    if (index === undefined) {
      if (!inIntervals(this.allowOutside, ordinal)) {
        return { ok: false, error: 'ADDRESS_NOT_ALLOWED', reason: `fixed address ${address} is outside the pool and not in allowOutside` }
      }
      const holder = this.outside.get(ordinal)
      if (holder !== undefined) return { ok: false, error: 'ADDRESS_IN_USE', reason: `fixed address ${address} is in use by ${holder}`, holder }
      this.outside.set(ordinal, user)
      return { ok: true, address, source: 'fixed' }
    }
    const holder = this.allocator.holders.get(index)
    if (holder !== undefined) return { ok: false, error: 'ADDRESS_IN_USE', reason: `fixed address ${address} is in use by ${holder}`, holder }
    if (!this.allocator.usableBy(index, user)) return { ok: false, error: 'ADDRESS_NOT_ALLOWED', reason: `fixed address ${address} is reserved for another user` }
    return this.give(index, user, 'fixed')
  }

  /**
   * Frees an address (pool or fixed-outside). Returns the user who held it,
   * or undefined if it was not allocated (a second release is harmless).
   * `now` starts the sticky period.
   */
  release(address: string, now: number): string | undefined {
    const ordinal = this.family.parse(address)
    if (ordinal === undefined) return undefined
    const index = this.segments.indexOf(ordinal)
    if (index === undefined) {
      const holder = this.outside.get(ordinal)
      this.outside.delete(ordinal)
      return holder
    }
    return this.allocator.release(index, now)
  }

  /** The user holding `address`, if any. */
  holderOf(address: string): string | undefined {
    const ordinal = this.family.parse(address)
    if (ordinal === undefined) return undefined
    const index = this.segments.indexOf(ordinal)
    return index === undefined ? this.outside.get(ordinal) : this.allocator.holders.get(index)
  }

  /** Whether `address` is one the pool hands out (in a range, not excluded, not the gateway). */
  contains(address: string): boolean {
    const ordinal = this.family.parse(address)
    return ordinal !== undefined && this.segments.indexOf(ordinal) !== undefined
  }

  /**
   * Keeps a pool address out of dynamic allocation: for `user` only (their
   * fixed address, so nobody else takes it while they are away), or for
   * nobody when `user` is omitted. Takes effect for a held address when it is
   * released. Throws PoolConfigError if the address is not in the pool.
   */
  reserve(address: string, user?: string): void {
    this.allocator.reserve(this.indexOrThrow(address), user ?? null)
  }

  /** Undoes `reserve`; returns whether it was reserved. */
  unreserve(address: string): boolean {
    return this.allocator.unreserve(this.indexOrThrow(address))
  }

  private indexOrThrow(address: string): number {
    const ordinal = this.family.parse(address)
    const index = ordinal === undefined ? undefined : this.segments.indexOf(ordinal)
    if (index === undefined) throw new PoolConfigError('POOL_BAD_ADDRESS', `${address} is not an address of this ${this.family.describe} pool`, address)
    return index
  }

  stats(): PoolStats {
    const total = this.allocator.total
    const used = this.allocator.holders.size
    const reserved = this.allocator.reservedFree()
    return { total, used, free: total - used - reserved, reserved, outside: this.outside.size }
  }

  /** Every allocation, pool and outside: address -> user. */
  *allocations(): IterableIterator<[string, string]> {
    for (const [index, user] of this.allocator.holders) yield [this.family.format(this.segments.ordinalAt(index)), user]
    for (const [ordinal, user] of this.outside) yield [this.family.format(ordinal), user]
  }

  /** Number of users whose last address is remembered (bounded by maxSticky). */
  stickyCount(): number {
    return this.allocator.stickyCount()
  }
}

// ---------------------------------------------------------------------------
// IPv4

/** Strict dotted quad (no leading zeros: "010" is octal to some parsers) -> number. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    value = value * 256 + n
  }
  return value
}

export function formatIpv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`
}

/** "a.b.c.d", "a.b.c.d-e.f.g.h" or "a.b.c.d/n" -> interval; `hostsOnly` drops network and broadcast of a CIDR. */
function parseIpv4Range(text: string, hostsOnly: boolean): Interval {
  const bad = (why: string): never => { throw new PoolConfigError('POOL_BAD_RANGE', `bad IPv4 range ${JSON.stringify(text)}: ${why}`, text) }
  const trimmed = text.trim()
  const dash = trimmed.indexOf('-')
  if (dash >= 0) {
    const first = parseIpv4(trimmed.slice(0, dash).trim())
    const last = parseIpv4(trimmed.slice(dash + 1).trim())
    if (first === undefined || last === undefined) return bad('expected "first-last" addresses')
    if (last < first) return bad('the last address is below the first')
    return { first: BigInt(first), last: BigInt(last) }
  }
  const slash = trimmed.indexOf('/')
  if (slash >= 0) {
    const base = parseIpv4(trimmed.slice(0, slash))
    const lengthText = trimmed.slice(slash + 1)
    if (base === undefined || !/^(0|[1-9][0-9]?)$/.test(lengthText) || Number(lengthText) > 32) return bad('expected "address/0..32"')
    const length = Number(lengthText)
    const size = 2 ** (32 - length)
    if (base % size !== 0) return bad(`host bits are set (the network is ${formatIpv4(base - (base % size))}/${length})`)
    // RFC 3021: a /31 has no network or broadcast address; a /32 is one host
    if (hostsOnly && length <= 30) return { first: BigInt(base + 1), last: BigInt(base + size - 2) }
    return { first: BigInt(base), last: BigInt(base + size - 1) }
  }
  const single = parseIpv4(trimmed)
  if (single === undefined) return bad('not an address, range or CIDR')
  return { first: BigInt(single), last: BigInt(single) }
}

function list(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : value
}

const IPV4_FAMILY: Family = {
  parse(text) {
    const value = parseIpv4(text)
    return value === undefined ? undefined : BigInt(value)
  },
  format: (ordinal) => formatIpv4(Number(ordinal)),
  describe: 'IPv4',
}

/** IPv4 addresses for IPCP. */
export class Ipv4Pool extends OrdinalPool {
  /** The gateway, if configured, in canonical form. */
  readonly gateway: string | undefined

  constructor(options: Ipv4PoolOptions) {
    const ranges = list(options.ranges).map((r) => parseIpv4Range(r, true))
    if (ranges.length === 0) throw new PoolConfigError('POOL_EMPTY', 'an IPv4 pool needs at least one range')
    const forbidden = new Set<bigint>([0n, 0xffffffffn])
    let gateway: string | undefined
    if (options.gateway !== undefined) {
      const g = parseIpv4(options.gateway)
      if (g === undefined) throw new PoolConfigError('POOL_BAD_ADDRESS', `bad gateway address ${JSON.stringify(options.gateway)}`, options.gateway)
      forbidden.add(BigInt(g))
      gateway = formatIpv4(g)
    }
    // loopback and multicast/reserved space are never a peer's address
    const never: Interval[] = [
      { first: 0x7f000000n, last: 0x7fffffffn },
      { first: 0xe0000000n, last: 0xffffffffn },
    ]
    const excluded = [...list(options.exclude).map((r) => parseIpv4Range(r, false)), ...never]
    const allowOutside = list(options.allowOutside).map((r) => parseIpv4Range(r, false))
    super(IPV4_FAMILY, ranges, excluded, forbidden, allowOutside, options)
    this.gateway = gateway
  }
}

// ---------------------------------------------------------------------------
// IPv6 prefixes

/** IPv6 prefixes (default /64) for IPV6CP sessions, as "2001:db8:42:7::/64". */
export class Ipv6PrefixPool extends OrdinalPool {
  readonly delegatedLength: number

  constructor(options: Ipv6PoolOptions) {
    const length = options.delegatedLength ?? 64
    if (!Number.isInteger(length) || length < 1 || length > 128) {
      throw new PoolConfigError('POOL_BAD_OPTION', `delegatedLength must be 1..128, got ${length}`)
    }
    const shift = BigInt(128 - length)
    const toInterval = (text: string, what: string, mayBeLonger: boolean): Interval => {
      const prefix = parseIpv6Prefix(text.trim())
      if (!prefix) throw new PoolConfigError('POOL_BAD_RANGE', `bad IPv6 ${what} ${JSON.stringify(text)} (expected "network/length" with no host bits)`, text)
      if (prefix.length > length && !mayBeLonger) {
        throw new PoolConfigError('POOL_BAD_RANGE', `IPv6 ${what} ${text} is longer than the delegated /${length}`, text)
      }
      // an exclusion longer than the delegated length removes the delegated prefix that contains it
      const span = prefix.length >= length ? 0n : (1n << BigInt(length - prefix.length)) - 1n
      const first = prefix.network >> shift
      return { first, last: first + span }
    }
    const ranges = list(options.prefixes).map((p) => toInterval(p, 'prefix', false))
    if (ranges.length === 0) throw new PoolConfigError('POOL_EMPTY', 'an IPv6 pool needs at least one prefix')
    const excluded = list(options.exclude).map((p) => toInterval(p, 'exclusion', true))
    const allowOutside = list(options.allowOutside).map((p) => toInterval(p, 'allowOutside prefix', true))
    const family: Family = {
      parse(text) {
        const prefix = parseIpv6Prefix(text.trim())
        // only a prefix of exactly the delegated length, or a bare network address
        if (!prefix) return undefined
        if (prefix.length === 128 && !text.includes('/')) {
          const address = parseIpv6(text.trim())!
          if (length < 128 && (address & ((1n << shift) - 1n)) !== 0n) return undefined
          return address >> shift
        }
        return prefix.length === length ? prefix.network >> shift : undefined
      },
      format: (ordinal) => formatIpv6Prefix({ network: ordinal << shift, length }),
      describe: 'IPv6',
    }
    super(family, ranges, excluded, new Set(), allowOutside, options)
    this.delegatedLength = length
  }
}

export { formatIpv6, parseIpv6 }
