/**
 * Security events of a running server into the audit log: sessions up and
 * down (user, addresses, suites, auth method, bytes), authentication
 * failures and refusals, site-to-site links up and down. Config reloads and admin actions are recorded by
 * whoever performs them (lib/ops), through the same AuditLog.
 */
import type { EventEmitter } from 'node:events'
import type { ServerEvents } from '../server/types.js'
import type { AuditLog } from './audit-log.js'

/** The IKE suite of each peer's Phase 1, to name both suites in session-up. */
const MAX_PEERS_REMEMBERED = 10_000

export function auditServerEvents(server: EventEmitter<ServerEvents>, log: AuditLog, onError: (e: Error) => void): () => void {
  const ikeSuites = new Map<string, string>()
  const key = (peer: { address: string; port: number }) => `${peer.address}:${peer.port}`
  const write = (record: Parameters<AuditLog['append']>[0]) => {
    try {
      log.append(record)
    } catch (e) {
      onError(e instanceof Error ? e : new Error(String(e)))
    }
  }
  const handlers: { [K in keyof ServerEvents]?: (...args: ServerEvents[K]) => void } = {
    'ike-sa-up': (e) => {
      if (ikeSuites.size >= MAX_PEERS_REMEMBERED) ikeSuites.delete(ikeSuites.keys().next().value!)
      ikeSuites.set(key(e.peer), e.suite)
    },
    'session-up': (e) =>
      write({
        type: 'session-up',
        session: e.id,
        user: e.user,
        address: e.address,
        ...(e.ipv6Prefix ? { ipv6Prefix: e.ipv6Prefix } : {}),
        peer: e.peer,
        peerId: e.peerId,
        authMethod: e.authMethod,
        espSuite: e.suite,
        ...(ikeSuites.has(key(e.peer)) ? { ikeSuite: ikeSuites.get(key(e.peer)) } : {}),
      }),
    'session-down': (e) =>
      write({
        type: 'session-down',
        session: e.id,
        user: e.user,
        address: e.address,
        reason: e.reason,
        detail: e.detail,
        rxBytes: e.rxBytes,
        txBytes: e.txBytes,
        rxPackets: e.rxPackets,
        txPackets: e.txPackets,
        durationSeconds: e.durationSeconds,
      }),
    'auth-failure': (e) => write({ type: 'auth-failure', user: e.user ?? null, method: e.method, reason: e.reason, peer: e.peer }),
    'session-refused': (e) => write({ type: 'session-refused', user: e.user ?? null, reason: e.reason, detail: e.detail, peer: e.peer }),
    'site-up': (e) => write({ type: 'site-up', site: e.name, peer: e.peer, peerId: e.peerId, suite: e.suite, ...(e.selectors ? { selectors: e.selectors } : {}) }),
    'site-down': (e) => write({ type: 'site-down', site: e.name, reason: e.reason }),
  }
  const on = server.on.bind(server) as (event: string, fn: (...a: unknown[]) => void) => void
  const off = server.off.bind(server) as (event: string, fn: (...a: unknown[]) => void) => void
  for (const [event, fn] of Object.entries(handlers)) on(event, fn as (...a: unknown[]) => void)
  return () => {
    for (const [event, fn] of Object.entries(handlers)) off(event, fn as (...a: unknown[]) => void)
  }
}
