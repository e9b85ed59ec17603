/**
 * What the IKEv1 core takes and gives: configuration, the path a datagram
 * travelled, datagrams to send, and events for the server. The core never
 * touches a socket or a clock; the server layer feeds it and drains it.
 */
import type { X509Certificate } from 'node:crypto'
import type { Credentials } from './certificates.js'
import type { ReassemblyLimits } from './fragments.js'
import type { ProposalPolicy } from './policy.js'
import type { IkeSite } from './sites.js'

export interface Endpoint {
  address: string
  port: number
}

/** Where a datagram came from and which of our addresses/ports it reached. */
export interface Path {
  peer: Endpoint
  local: Endpoint
}

/** A datagram to send: an ISAKMP message (no non-ESP marker; the server adds it on 4500). */
export interface Transmit {
  data: Buffer
  to: Endpoint
  /** Our port to send from (500 or the NAT-T port). */
  fromPort: number
  /** Our address to send from: the one the peer addressed (a multi-homed host answers from it); absent or unspecified: the route's choice. */
  fromAddress?: string
}

export interface IkeConfig {
  policy: ProposalPolicy
  /** The pre-shared key for Main Mode (chosen before the peer's ID is known). Absent: PSK authentication is off. */
  psk?: Buffer
  /** RSA signature authentication: our certificate, key and chain, and the CAs we trust for peers. */
  certificate?: { credentials: Credentials; trustAnchors: readonly X509Certificate[] }
  /** The ID we send (IPv4 address, FQDN or user@FQDN); default: our address as the peer addressed it. */
  localId?: string
  /** Answer NAT-D so that every client encapsulates ESP in UDP 4500 (issue 5.a). Default true. */
  forceEncapsulation?: boolean
  /** Our NAT-T port (4500). */
  nattPort?: number
  /** Our IKE port (500). */
  ikePort?: number
  /** As initiator: the responder's NAT-T port we float to (4500), and its IKE port for a Phase 1 rekey (500). Ours may differ (several clients on one host). */
  peerNattPort?: number
  peerIkePort?: number
  /** Any peer may negotiate tunnel mode (tests only: it would let any PSK holder reach the LAN without a PPP login; use `sites`). */
  allowTunnel?: boolean
  /** Site-to-site peers: only an IKE SA authenticated as one of them negotiates tunnel mode, for subnets inside its configuration. */
  sites?: readonly IkeSite[]
  /** Half-open (not yet authenticated) IKE SAs: per source address and in total. */
  maxHalfOpenPerSource?: number
  maxHalfOpen?: number
  /** Seconds a half-open IKE SA or an unfinished Quick Mode may live. */
  halfOpenTimeout?: number
  /** Established IKE SAs one peer identity may hold from different addresses/ports (a rekey from the same one replaces). Default 256. */
  maxSasPerIdentity?: number
  /** Bounds on IKE fragment reassembly (messages at once, bytes and fragments per message, seconds). */
  fragmentReassembly?: Partial<ReassemblyLimits>
  /** Initiator retransmission: first interval (s) and attempts. */
  retransmitInterval?: number
  retransmitTries?: number
  /** Largest IP packet for an IKE message before it is sent in fragments to peers that support them (default 1280). */
  fragmentSize?: number
  /** Accept IKE Aggressive Mode (Android with an "IPsec identifier"); off by default, see AGGRESSIVE_MODE_WARNING. */
  aggressiveMode?: boolean
  /** Dead Peer Detection (RFC 3706), for peers that announced it: seconds of silence before R-U-THERE (0: off), and seconds to wait for the ACK. */
  dpdDelay?: number
  dpdTimeout?: number
}

/** Keys and parameters of one ESP SA, ready for DataPlane.installSa. */
export interface ChildSaKeys {
  spi: number
  suite: string
  encryptionKey: Buffer
  integrityKey: Buffer
}

export type IkeEvent =
  | { type: 'ike-sa-up'; ikeSa: string; peer: Endpoint; local: Endpoint; peerId: string; natDetected: boolean; suite: string; role: 'initiator' | 'responder'; /** Seconds from the first message to authentication. */ setupSeconds: number }
  | { type: 'ike-sa-down'; ikeSa: string; reason: string }
  | {
      type: 'child-sa-up'
      ikeSa: string
      peer: Endpoint
      inbound: ChildSaKeys
      outbound: ChildSaKeys
      mode: 'transport' | 'tunnel'
      udpEncapsulated: boolean
      /** The peer's L2TP UDP port from its selector (0: any). */
      peerL2tpPort: number
      /** The traffic selectors as negotiated (IDci / IDcr in plain words), e.g. subnets of a site-to-site tunnel. */
      selectors?: { initiator: string; responder: string }
      /** The configured site the IKE SA authenticated as (tunnel mode is only ever negotiated for one). */
      site?: string
      lifetimeSeconds: number
      lifetimeKilobytes?: number
    }
  /**
   * Responder: Quick Mode message 2 is sent; the inbound SA may be installed
   * now so ESP right behind message 3 is understood. child-sa-up follows
   * with both SAs, or nothing if message 3 never comes (then drop it).
   */
  | { type: 'child-sa-inbound'; ikeSa: string; peer: Endpoint; inbound: ChildSaKeys; udpEncapsulated: boolean; peerL2tpPort: number }
  /** The responder confirmed an ESP SA we asked with the commit bit (its inbound SPI). */
  | { type: 'child-sa-connected'; ikeSa: string; spi: number }
  | { type: 'child-sa-down'; ikeSa: string; inboundSpi: number; outboundSpi: number; reason: string }
  | { type: 'auth-failure'; peer: Endpoint; reason: string }
  | { type: 'negotiation-failure'; peer: Endpoint; stage: 'main-mode' | 'quick-mode' | 'informational'; reason: string; notify?: number }
  /** Messages dropped from one peer, reported at most once per peer per interval: `count` since the last report, `reason` the latest. */
  | { type: 'dropped'; peer: Endpoint; reason: string; count: number }

/**
 * Admission control in front of the responder (lib/security/ike-guard.ts):
 * per-source rate of new exchanges, and back-off then lock-out of sources
 * whose authentication failed. Each `admit` answers undefined to go on, or
 * the drop reason.
 */
export interface IkeGuard {
  /** Main or Aggressive Mode message 1 from `address`, before any state is made. */
  admitNew(address: string, now: number): string | undefined
  /** Before the peer's authentication (Main Mode message 5) is checked, so guesses made in parallel wait too. */
  admitAuth(address: string, now: number): string | undefined
  authFailed(address: string, now: number): void
  authSucceeded(address: string, now: number): void
}
