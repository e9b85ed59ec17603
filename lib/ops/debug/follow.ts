/**
 * Which log records belong to one client. A client is named by its user
 * name or its outer address (optionally with the port); records name it
 * by whatever each layer knows: the peer's address and port (IKE), the IKE
 * SA, the IPsec binding, the L2TP tunnel's binding, the session id, the
 * user (PPP). Every record that matches adds its ids, so the chain
 * peer → IKE SA → binding → session is followed as it forms.
 *
 * A user's name is only known once PPP starts: when it first appears, the
 * records before it that chain to it (its IKE and L2TP steps) are found
 * in the recent history and shown first.
 */
import { isIP } from 'node:net'
import type { LogRecord } from './plain-words.js'

function keysOf(r: LogRecord): string[] {
  const keys: string[] = []
  const peer = r.peer as { address?: unknown; port?: unknown } | undefined
  if (peer && typeof peer === 'object' && typeof peer.address === 'string') keys.push(`peer:${peer.address}:${String(peer.port)}`)
  if (typeof r.ikeSa === 'string') keys.push(`ike:${r.ikeSa}`)
  if (typeof r.binding === 'number') keys.push(`binding:${r.binding}`)
  if (typeof r.session === 'number') keys.push(`session:${r.session}`)
  return keys
}

export class Follower {
  private readonly keys = new Set<string>()
  private readonly address: string | undefined
  private readonly port: number | undefined
  private readonly user: string | undefined

  constructor(readonly target: string) {
    const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(target)
    const host = m?.[1] ?? target
    if (isIP(target) !== 0) this.address = target
    else if (m?.[2] !== undefined && isIP(host) !== 0) {
      this.address = host
      this.port = Number(m[2])
    } else this.user = target
  }

  /** True when the record is about the followed client (and learns its ids). */
  matches(r: LogRecord): boolean {
    const keys = keysOf(r)
    const hit = this.direct(r) || keys.some((k) => this.keys.has(k))
    if (hit) for (const k of keys) this.keys.add(k)
    return hit
  }

  /**
   * When `r` is the first direct match of a user: the earlier records of
   * `history` (oldest first) that chain to it, oldest first.
   */
  backfill(r: LogRecord, history: readonly LogRecord[]): LogRecord[] {
    const keys = new Set(keysOf(r))
    const found: LogRecord[] = []
    for (let i = history.length - 1; i >= 0; i--) {
      const h = history[i]!
      if (h === r) continue
      const hk = keysOf(h)
      if (hk.some((k) => keys.has(k))) {
        for (const k of hk) keys.add(k)
        found.push(h)
      }
    }
    for (const k of keys) this.keys.add(k)
    return found.reverse()
  }

  /** Following a user, whose earlier steps must be looked up in the history. */
  get byUser(): boolean {
    return this.user !== undefined
  }

  private direct(r: LogRecord): boolean {
    if (this.user !== undefined) return r.user === this.user
    const peer = r.peer as { address?: unknown; port?: unknown } | undefined
    if (!peer || typeof peer !== 'object') return false
    return peer.address === this.address && (this.port === undefined || peer.port === this.port)
  }
}
