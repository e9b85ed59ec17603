/**
 * What the server shows of itself: live sessions, events, and the narrow
 * interface the admin socket and the CLI use to reach a running server.
 */
import type { SecurityStatus } from '../security/status.js'

/** One live PPP session, as `sessions()` and `l2tp-ipsec sessions` list it. */
import type { KeyExport } from '../debug/wireshark-keys.js'

export interface SessionInfo {
  /** The server's session number (the data plane's session id); `kick` takes it. */
  id: number
  user: string
  /** The client's inner IPv4 address. */
  address: string
  /** The IPv6 prefix delegated to the session ("2001:db8:42:1::/64"), when it has one (pool.ipv6, IPV6CP up). */
  ipv6Prefix?: string
  /** The client's outer address and port as the server sees them (after NAT). */
  peer: { address: string; port: number }
  /** The identity the client proved in IKE. */
  peerId: string
  authMethod: string
  /** ESP suite of the SA pair carrying the session. */
  suite: string
  /** ESP in UDP (NAT-T) rather than raw ESP. */
  udpEncapsulated: boolean
  l2tp: { tunnelId: number; sessionId: number; peerTunnelId: number; peerSessionId: number }
  /** ISO 8601. */
  startedAt: string
  durationSeconds: number
  /** Inner IP traffic through the data plane: rx from the client, tx to it. */
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  /** Packets from the client its traffic policy dropped (README "Access policies"). */
  policyDenied: number
}

/** Why a session ended ('radius-disconnect': a RADIUS Disconnect-Request, RFC 5176; 'anomaly': anomaly.mode kick). */
export type SessionDownReason = 'kicked' | 'closed' | 'idle' | 'session-timeout' | 'peer' | 'lcp-echo-timeout' | 'ike-down' | 'l2tp-down' | 'error' | 'reload' | 'radius-disconnect' | 'anomaly'

/** A session's traffic crossed an anomaly threshold (config `anomaly`). */
export interface SessionAnomalyInfo {
  id: number
  user: string
  address: string
  /** rate-jump: packets/s from the client against its moving average; destinations: distinct destinations within the interval. */
  kind: 'rate-jump' | 'destinations'
  /** Packets/s, or distinct destinations (estimated). */
  value: number
  /** What it crossed: factor × the moving average (at least minPps), or destinations.max. */
  threshold: number
  /** What the server does: notify, or kick (the session ends with reason 'anomaly'). */
  action: 'notify' | 'kick'
}

/** What session-up tells: the session as `sessions()` lists it, without the counters. */
export type SessionUpInfo = Pick<SessionInfo, 'id' | 'user' | 'address' | 'ipv6Prefix' | 'peer' | 'peerId' | 'authMethod' | 'suite'>

export interface SessionDownInfo {
  id: number
  user: string
  address: string
  reason: SessionDownReason
  /** What the peer or the lower layer said, in plain words. */
  detail: string
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  policyDenied: number
  durationSeconds: number
}

export interface AuthFailureInfo {
  user: string | undefined
  method: string
  reason: string
  peer: { address: string; port: number }
}

/** A client that authenticated but could not be given a session (no address left, a limit). */
export interface SessionRefusedInfo {
  user: string | undefined
  peer: { address: string; port: number }
  reason: 'pool-exhausted' | 'limit'
  detail: string
}

export interface IkeSaUpInfo {
  ikeSa: string
  peer: { address: string; port: number }
  peerId: string
  natDetected: boolean
  suite: string
  /** Seconds from the client's first IKE message to its authentication. */
  setupSeconds?: number
}

/** An IKE exchange that failed before authentication (no acceptable proposal, a malformed message, no answer). */
export interface NegotiationFailureInfo {
  /** The IKE exchange: main-mode (also Aggressive Mode) or quick-mode. */
  stage: string
  /** Plain words: what the client offered and what would accept it, for proposals. */
  reason: string
  peer: { address: string; port: number }
}

export interface IkeSaDownInfo {
  ikeSa: string
  reason: string
}

/** One site-to-site link (config `sites`), as `sites()` and `status()` show it. */
export interface SiteInfo {
  name: string
  /** 'connecting': we are calling it (connect: true) and no SA is up yet. */
  state: 'up' | 'connecting' | 'down'
  /** The peer gateway's outer address and port (configured, until an SA is up); absent for a dynamic peer that is not up. */
  peer: { address: string; port: number } | undefined
  /** The identity it proved in IKE, and the ESP suite, while up. */
  peerId?: string
  suite?: string
  localSubnets: string[]
  remoteSubnets: string[]
  connect: boolean
  /** ISO 8601, while up. */
  upSince?: string
  /** Why the last call failed. */
  lastError?: string
  /** Inner traffic through the tunnel: rx from the site, tx to it; inner packets outside the selectors, dropped. */
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  selectorMismatch: number
}

export interface SiteUpInfo {
  name: string
  peer: { address: string; port: number }
  peerId: string
  suite: string
  /** The negotiated selectors (IDci / IDcr in plain words). */
  selectors: { initiator: string; responder: string } | undefined
}

export interface SiteDownInfo {
  name: string
  reason: string
}

/** The typed events of L2tpServer (and, where they apply, L2tpClient). */
export interface ServerEvents {
  'session-up': [SessionUpInfo]
  'session-down': [SessionDownInfo]
  'auth-failure': [AuthFailureInfo]
  'session-refused': [SessionRefusedInfo]
  'session-anomaly': [SessionAnomalyInfo]
  'ike-sa-up': [IkeSaUpInfo]
  'ike-sa-down': [IkeSaDownInfo]
  'negotiation-failure': [NegotiationFailureInfo]
  'site-up': [SiteUpInfo]
  'site-down': [SiteDownInfo]
  error: [Error]
}

/** What the admin socket asks of a running server. */
export interface AdminTarget {
  sessions(): SessionInfo[]
  /** Ends a session (PPP Terminate, CDN); false when there is no such session. */
  kick(id: number): boolean
  /** A summary for `l2tp-ipsec status`: counts, listen addresses, version. */
  status(): Record<string, unknown>
  /** The live IKE and ESP keys (`l2tp-ipsec keys --wireshark`); undefined when admin.allowKeyExport is off. */
  exportKeys?(): KeyExport | undefined
}

/** What `status()` reports (a type alias, so it passes as a plain record to the admin socket). */
export type ServerStatus = {
  state: 'new' | 'listening' | 'closing' | 'closed'
  startedAt: string
  /** Calls in any phase (authenticating, up, ending). */
  sessions: number
  /** IPsec peers with live ESP SAs. */
  bindings: number
  pool: { total: number; used: number; free: number; reserved: number; outside: number } | undefined
  /** With pool.ipv6: the prefix pool (one /64 per session), Router Solicitations taken and Router Advertisements sent. */
  ipv6: { pool: { total: number; used: number; free: number; reserved: number; outside: number }; routerSolicitations: number; routerAdvertisements: number } | undefined
  /** What the data plane holds: ESP SAs (both directions) and sessions. */
  dataplane: { sas: number; sessions: number } | undefined
  ike: Record<string, unknown> | undefined
  l2tp: Record<string, unknown> | undefined
  addresses: { ike: string[]; natt: string[]; tun?: string } | undefined
  counters: Record<string, number> | undefined
  /** Limits hit, brute-force limiters, what is held against the limits (lib/security/status.ts). */
  security?: SecurityStatus | undefined
  /** Site-to-site links (config `sites`). */
  sites: SiteInfo[]
}
