/**
 * What the status page shows, as one JSON object per second: the live
 * sessions with their counters, totals, and the recent failures (kept here
 * from the server's events, newest first).
 */
import type { EventEmitter } from 'node:events'
import type { ServerEvents, SessionInfo } from '../../server/types.js'

const RECENT_FAILURES = 50

export interface Failure {
  time: string
  kind: 'auth-failure' | 'negotiation-failure' | 'session-refused'
  user: string | null
  peer: string
  reason: string
}

export interface StatusSnapshot {
  time: string
  state: string
  sessions: Array<Pick<SessionInfo, 'id' | 'user' | 'address' | 'authMethod' | 'suite' | 'durationSeconds' | 'rxBytes' | 'txBytes'> & { peer: string }>
  /** Inner bytes of the live sessions: the page turns their growth into rates. */
  totals: { rxBytes: number; txBytes: number }
  failures: Failure[]
}

export interface SnapshotSource extends EventEmitter<ServerEvents> {
  sessions(): SessionInfo[]
  status(): { state: string }
}

export function failureRecorder(server: SnapshotSource): { recent: Failure[]; stop(): void } {
  const recent: Failure[] = []
  const peer = (p: { address: string; port: number }) => `${p.address}:${p.port}`
  const add = (f: Failure) => {
    recent.unshift(f)
    if (recent.length > RECENT_FAILURES) recent.pop()
  }
  const now = () => new Date().toISOString()
  const onAuth = (e: ServerEvents['auth-failure'][0]) => add({ time: now(), kind: 'auth-failure', user: e.user ?? null, peer: peer(e.peer), reason: `${e.method}: ${e.reason}` })
  const onNegotiation = (e: ServerEvents['negotiation-failure'][0]) => add({ time: now(), kind: 'negotiation-failure', user: null, peer: peer(e.peer), reason: `${e.stage}: ${e.reason}` })
  const onRefused = (e: ServerEvents['session-refused'][0]) => add({ time: now(), kind: 'session-refused', user: e.user ?? null, peer: peer(e.peer), reason: e.reason })
  server.on('auth-failure', onAuth)
  server.on('negotiation-failure', onNegotiation)
  server.on('session-refused', onRefused)
  return {
    recent,
    stop() {
      server.off('auth-failure', onAuth)
      server.off('negotiation-failure', onNegotiation)
      server.off('session-refused', onRefused)
    },
  }
}

export function snapshot(server: SnapshotSource, failures: readonly Failure[]): StatusSnapshot {
  const sessions = server.sessions()
  let rxBytes = 0
  let txBytes = 0
  for (const s of sessions) {
    rxBytes += s.rxBytes
    txBytes += s.txBytes
  }
  return {
    time: new Date().toISOString(),
    state: server.status().state,
    sessions: sessions.map((s) => ({ id: s.id, user: s.user, address: s.address, peer: `${s.peer.address}:${s.peer.port}`, authMethod: s.authMethod, suite: s.suite, durationSeconds: s.durationSeconds, rxBytes: s.rxBytes, txBytes: s.txBytes })),
    totals: { rxBytes, txBytes },
    failures: failures.slice(0, 20),
  }
}
