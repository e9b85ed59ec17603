/**
 * Tunnel and session ID allocation (RFC 2661 3.1: "Tunnel ID ... has local
 * significance only"; 0 is reserved: it addresses an SCCRQ, or a message
 * about the tunnel as a whole). IDs are drawn at random, so that a peer
 * cannot guess another peer's tunnel from its own, and never collide with
 * one in use. Randomness is injected; nothing here reads a clock.
 */

/** Random octets, as `crypto.randomBytes`. */
export type RandomBytes = (length: number) => Buffer

/** Tries of a random draw before the allocator falls back to a scan (only matters when nearly full). */
const RANDOM_TRIES = 16
const ID_SPACE = 0x10000

/** What the allocator reads of the IDs in use. */
interface HeldIds {
  has(id: number): boolean
  readonly size: number
}

/**
 * Allocates 16-bit IDs in 1..65535, at random, without collisions. Either
 * it keeps its own set of IDs in use, or (`held`) it reads the owner's
 * table keyed by ID: then the owner records each ID it is given there
 * before the next allocate(), and forgets it to free it (one table per
 * tunnel or session instead of two: ~40 B per entry at 10,000, issue #9).
 */
export class IdAllocator {
  private readonly own: Set<number> | undefined
  private readonly used: HeldIds
  private readonly limit: number

  /** `limit`: the most IDs held at once (at most 65535). */
  constructor(private readonly random: RandomBytes, limit = ID_SPACE - 1, held?: HeldIds) {
    this.limit = Math.max(0, Math.min(ID_SPACE - 1, Math.floor(limit)))
    if (held) this.used = held
    else this.used = this.own = new Set<number>()
  }

  /** IDs in use. */
  get size(): number {
    return this.used.size
  }

  /** Whether `id` is in use. */
  has(id: number): boolean {
    return this.used.has(id)
  }

  /** A fresh ID, or undefined when `limit` IDs are in use. */
  allocate(): number | undefined {
    if (this.used.size >= this.limit) return undefined
    for (let i = 0; i < RANDOM_TRIES; i++) {
      const id = this.draw()
      if (id !== 0 && !this.used.has(id)) return this.take(id)
    }
    // Crowded: walk from a random start, so the result stays unpredictable.
    const start = this.draw()
    for (let k = 0; k < ID_SPACE; k++) {
      const id = (start + k) % ID_SPACE
      if (id !== 0 && !this.used.has(id)) return this.take(id)
    }
    return undefined
  }

  /** Returns `id` to the pool (with `held`: the owner deletes it from its table instead). */
  release(id: number): void {
    this.own?.delete(id)
  }

  private draw(): number {
    return this.random(2).readUInt16BE(0)
  }

  private take(id: number): number {
    this.own?.add(id)
    return id
  }
}
