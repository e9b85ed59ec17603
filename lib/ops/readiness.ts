/**
 * What /readyz answers: ready when the server takes new clients. Not
 * ready while draining (SIGTERM), when the server is not listening, or when
 * the data plane is down (closed, or its workers keep panicking).
 */
import type { Readiness } from '../metrics/index.js'
import type { ServerStatus } from '../server/types.js'

/** Worker panics within this many seconds make the data plane count as down. */
const PANIC_WINDOW_MS = 60_000

export function readinessCheck(status: () => ServerStatus, draining: () => boolean, now: () => number = Date.now): () => Readiness {
  let panics = 0
  let lastPanicAt = -Infinity
  return () => {
    const reasons: string[] = []
    if (draining()) reasons.push('draining: the server is ending its sessions before it stops')
    let s: ServerStatus | undefined
    try {
      s = status()
    } catch (e) {
      reasons.push(`data plane down: ${(e as Error).message}`)
    }
    if (s) {
      if (s.state !== 'listening') reasons.push(`server ${s.state}`)
      if (!s.dataplane) reasons.push('data plane down')
      const p = s.counters?.['worker_panics'] ?? 0
      if (p > panics) lastPanicAt = now()
      panics = p
      if (now() - lastPanicAt < PANIC_WINDOW_MS) reasons.push('data plane workers panicked in the last minute')
    }
    return { ready: reasons.length === 0, reasons }
  }
}
