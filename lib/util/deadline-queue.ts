/**
 * When each of many owners (IKE SAs, L2TP tunnels, calls) must next be
 * woken, so that a clock tick touches only the owners that are due and
 * the next wake-up is known without a scan: O(log n) per change instead of
 * O(n) per tick, which is what holding 10,000 sessions needs (issue #9).
 *
 * A binary heap (flatqueue) of (owner, time) with lazy deletion. An owner
 * carries the time it is queued for (`timerAt`): an entry whose time is no
 * longer its owner's is stale and skipped. A deadline that moves earlier is
 * pushed at once; one that moves later is left queued and, when the old
 * time comes, queued again where it now is (`deadlineOf`), so the many
 * small moves later (each message postponing a HELLO or an LCP echo) cost
 * nothing. `next()` and `due()` are exact all the same. Owners due at one tick come back in creation order (`timerSeq`),
 * the order a scan over a Map of them used to visit them.
 *
 * Sans-IO like the cores that use it: no clock, no timer; times are the
 * caller's seconds. No imports from the protocol folders: any may use it.
 */
import FlatQueue from 'flatqueue'

/** What an owner keeps for its queue: declare both fields on the owner's class or record. */
export interface Timed {
  /** The time the owner is queued for; undefined when not queued. Only the queue writes it. */
  timerAt: number | undefined
  /** Creation order (from `nextTimerSeq()`): owners due together are returned in this order. */
  readonly timerSeq: number
}

let seq = 0
/** A fresh creation number for a new owner. */
export function nextTimerSeq(): number {
  return ++seq
}

/**
 * Stale entries tolerated before the heap is rebuilt without them: at least
 * this many and an eighth of the heap. A stale entry keeps its owner (a
 * gone IKE SA, tunnel or call, with all it holds) alive until its old time
 * comes; with half the heap allowed stale, a server churning 10,000 sessions
 * could hold nearly as many dead ones (issue #9). A rebuild is O(n log n)
 * every n/8 cancels: O(log n) amortised per cancel.
 */
const REBUILD_MIN_STALE = 64
const REBUILD_STALE_SHARE = 8

export class DeadlineQueue<T extends Timed> {
  #heap = new FlatQueue<T>()
  /** Entries whose owner has another time or none: skipped when met, dropped at the next rebuild. */
  #stale = 0

  /** `deadlineOf(owner)`: when the owner must next be woken, now (undefined: nothing waits on time). */
  constructor(private readonly deadlineOf: (owner: T) => number | undefined) {}

  /** Entries in the heap, stale ones included (for tests and stats). */
  get entries(): number {
    return this.#heap.length
  }

  /**
   * Call after anything that may have moved `owner`'s deadline. An earlier
   * one is queued at once; a later one is found when the queued time comes.
   */
  update(owner: T): void {
    this.#schedule(owner, this.deadlineOf(owner))
  }

  /** The owner is gone: its entry is skipped and soon dropped. */
  cancel(owner: T): void {
    if (owner.timerAt === undefined) return
    owner.timerAt = undefined
    this.#stale++
    this.#maybeRebuild()
  }

  /** The earliest deadline of any owner; undefined when none waits. */
  next(): number | undefined {
    for (;;) {
      this.#skipStale()
      const owner = this.#heap.peek()
      if (owner === undefined) return undefined
      const at = this.#heap.peekValue()!
      const real = this.deadlineOf(owner)
      if (real === at) return at
      // Its deadline moved: queue it where it is now (or nowhere) and look again.
      this.#heap.pop()
      owner.timerAt = undefined
      this.#schedule(owner, real)
    }
  }

  /**
   * Takes out every owner due at `now` (at most `limit`, the earliest
   * first), in creation order. Each is unqueued: the caller runs what is
   * due and calls `update` for it; the rest stay queued (`next()` <= now).
   */
  due(now: number, limit = Infinity): T[] {
    const out: T[] = []
    while (out.length < limit) {
      this.#skipStale()
      const at = this.#heap.peekValue()
      if (at === undefined || at > now) break
      const owner = this.#heap.pop()!
      owner.timerAt = undefined
      const real = this.deadlineOf(owner)
      if (real !== undefined && real <= now) out.push(owner)
      else this.#schedule(owner, real)
    }
    if (out.length > 1) out.sort((a, b) => a.timerSeq - b.timerSeq)
    return out
  }

  #schedule(owner: T, at: number | undefined): void {
    if (at === undefined || !(at < Infinity)) return
    if (owner.timerAt !== undefined) {
      if (owner.timerAt <= at) return
      this.#stale++
    }
    owner.timerAt = at
    this.#heap.push(owner, at)
    this.#maybeRebuild()
  }

  #skipStale(): void {
    const heap = this.#heap
    while (heap.length > 0 && heap.peek()!.timerAt !== heap.peekValue()) {
      heap.pop()
      if (this.#stale > 0) this.#stale--
    }
    // Popped slots keep their owners alive until overwritten: an empty heap lets them all go.
    if (heap.length === 0 && heap.ids.length > 0) {
      heap.clear()
      heap.shrink()
      this.#stale = 0
    }
  }

  /** Without this, a churn of owners queued far ahead (an IKE SA's 8-hour lifetime) would keep them all in memory. */
  #maybeRebuild(): void {
    if (this.#stale < REBUILD_MIN_STALE || this.#stale * REBUILD_STALE_SHARE < this.#heap.length) return
    const old = this.#heap
    const fresh = new FlatQueue<T>()
    const seen = new Set<T>()
    for (let i = 0; i < old.length; i++) {
      const owner = old.ids[i]!
      const at = old.values[i]!
      // One live entry per owner: a duplicate of the same time is dropped too.
      if (owner.timerAt !== at || seen.has(owner)) continue
      seen.add(owner)
      fresh.push(owner, at)
    }
    this.#heap = fresh
    this.#stale = 0
  }
}
