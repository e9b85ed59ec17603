/**
 * The L2TP endpoint, sans-IO: owns every tunnel of every peer. Feed it the
 * L2TP control messages that came out of IPsec (`handle`) and the clock
 * (`handleTimeout` at `nextTimeout()`); drain what to send (`pollTransmit`)
 * and what happened (`pollEvent`).
 *
 * Tunnels are keyed by (binding, our Tunnel ID): the binding is the IPsec SA
 * pair a message came over, so clients behind one NAT, all using UDP port
 * 1701, stay apart, and a message naming a tunnel of another binding is
 * dropped and counted: one client cannot talk into another's tunnel.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto'
import { AvpType, CdnResult, MessageType, StopCcnResult, GeneralError } from './constants.js'
import { L2tpCodecError, avpValue, decodeControl } from './codec.js'
import type { DecodedControl, ResultCodeValue } from './codec.js'
import { IdAllocator } from './ids.js'
import type { RandomBytes } from './ids.js'
import type { L2tpPeer, SessionOpenOptions } from './session.js'
import { L2tpStateError, Tunnel, checkSccrq, refusalStopCcn, resolveConfig, tieBreak } from './tunnel.js'
import type { L2tpConfig, L2tpDropReason, L2tpEvent, ResolvedL2tpConfig, TunnelHost } from './tunnel.js'
import { DeadlineQueue } from '../util/deadline-queue.js'
import { MultiMap } from '../util/multimap.js'

export { L2tpStateError, challengeResponse, resolveConfig, tieBreak } from './tunnel.js'
export type {
  DroppedEvent,
  L2tpConfig,
  L2tpDropReason,
  L2tpEvent,
  L2tpRole,
  L2tpStateErrorCode,
  ResolvedL2tpConfig,
  TunnelDownEvent,
  TunnelDownReason,
  TunnelRef,
  TunnelState,
  TunnelUpEvent,
} from './tunnel.js'
export type {
  L2tpPeer,
  ProxyAuthen,
  ProxyLcp,
  SequencingPolicy,
  SessionConnectingEvent,
  SessionDownEvent,
  SessionDownReason,
  SessionEvent,
  SessionOpenOptions,
  SessionRef,
  SessionState,
  SessionUpEvent,
  SetLinkInfoEvent,
  WanErrorEvent,
} from './session.js'

/** A datagram to send: the UDP payload to the peer's L2TP port, inside the IPsec SA pair `binding`. */
export interface L2tpTransmit {
  binding: number
  l2tpPort: number
  datagram: Buffer
}

export interface L2tpEndpointOptions {
  /** Randomness for IDs, challenges, tie breakers and hidden-AVP vectors; injectable for deterministic tests. */
  random?: RandomBytes
}

export interface L2tpStats {
  tunnels: number
  establishedTunnels: number
  sessions: number
  /** Messages dropped or refused, by reason, since the start. */
  dropped: Record<string, number>
  /** Control messages sent again after no acknowledgement came. */
  retransmits: number
}

/** A tunnel as `tunnels()` lists it. */
export interface L2tpTunnelInfo {
  tunnelId: number
  peerTunnelId: number
  binding: number
  peer: L2tpPeer
  state: string
  initiator: boolean
  sessions: { sessionId: number; peerSessionId: number; state: string }[]
}

/** Seconds between two `dropped` events for one peer. */
const DROP_REPORT_INTERVAL = 10
/** Peers whose drop reports are remembered; the oldest are forgotten beyond it. */
const DROP_REPORT_PEERS = 4096

export class L2tpEndpoint {
  readonly config: ResolvedL2tpConfig
  private readonly random: RandomBytes
  private readonly tunnelIds: IdAllocator
  private readonly sessionIds: IdAllocator
  /** Our Tunnel ID → tunnel (unique over all bindings; the binding is checked on every message). */
  private readonly byId = new Map<number, Tunnel>()
  /** `binding/peer's Assigned Tunnel ID` → the tunnel answering it: where a retransmitted SCCRQ goes. */
  private readonly byPeerTunnel = new Map<string, Tunnel>()
  private readonly byBinding = new MultiMap<number, Tunnel>()
  /** Session ID → its tunnel. Session IDs are unique over the endpoint, so closeSession needs only the ID. */
  private readonly sessionTunnel = new Map<number, Tunnel>()
  /** Tunnels by when they must next be woken: a tick touches only those due (10,000 tunnels, issue #9). */
  private readonly timers = new DeadlineQueue<Tunnel>((t) => t.nextTimeout())
  private readonly transmits: L2tpTransmit[] = []
  private readonly events: L2tpEvent[] = []
  private readonly dropped: Record<string, number> = {}
  private retransmits = 0
  private readonly dropReports = new Map<string, { since: number; count: number }>()
  private callSerial = 0
  private lastNow = 0
  private readonly host: TunnelHost

  constructor(config: L2tpConfig, options: L2tpEndpointOptions = {}) {
    this.config = resolveConfig(config)
    this.random = options.random ?? cryptoRandomBytes
    // The IDs in use are the keys of byId and sessionTunnel: no second set of them.
    this.tunnelIds = new IdAllocator(this.random, this.config.maxTunnels, this.byId)
    this.sessionIds = new IdAllocator(this.random, undefined, this.sessionTunnel)
    this.host = {
      config: this.config,
      random: this.random,
      emit: (event) => this.events.push(event),
      drop: (peer, reason) => this.drop(peer, reason),
      allocateSession: (tunnel) => this.allocateSession(tunnel),
      releaseSession: (id) => {
        this.sessionIds.release(id)
        this.sessionTunnel.delete(id)
      },
      countRetransmit: () => this.retransmits++,
      encode: { ...(this.config.secret ? { secret: this.config.secret } : {}), randomBytes: this.random },
    }
  }

  // --- outputs -------------------------------------------------------------

  pollTransmit(): L2tpTransmit | undefined {
    return this.transmits.shift()
  }

  pollEvent(): L2tpEvent | undefined {
    return this.events.shift()
  }

  /** When `handleTimeout` must next run; undefined when nothing waits on time. */
  nextTimeout(): number | undefined {
    return this.timers.next()
  }

  stats(): L2tpStats {
    let established = 0
    for (const t of this.byId.values()) if (t.established) established++
    return { tunnels: this.byId.size, establishedTunnels: established, sessions: this.sessionTunnel.size, dropped: { ...this.dropped }, retransmits: this.retransmits }
  }

  /** Every tunnel and its sessions, for status displays. */
  tunnels(): L2tpTunnelInfo[] {
    return [...this.byId.values()].map((t) => ({
      ...t.ref(),
      state: t.state,
      initiator: t.initiator,
      sessions: t.sessionList().map((s) => ({ sessionId: s.id, peerSessionId: s.peerSessionId, state: s.state })),
    }))
  }

  // --- inputs --------------------------------------------------------------

  /**
   * One L2TP control message (the UDP payload) that arrived over the IPsec
   * SA pair `peer.binding`. Never throws on the datagram's content: what
   * cannot be used is dropped, counted and reported.
   */
  handle(datagram: Buffer, peer: L2tpPeer, now: number): void {
    this.lastNow = now
    let message: DecodedControl
    try {
      message = decodeControl(datagram, this.config.secret ? { secret: this.config.secret } : {})
    } catch (e) {
      if (e instanceof L2tpCodecError) return this.drop(peer, e.code)
      throw e
    }
    if (message.tunnelId === 0) {
      if (message.messageType === MessageType.SCCRQ) return this.onSccrq(message, peer, now)
      const t = this.config.acceptZeroTunnelId ? this.soleTunnel(peer) : undefined
      if (!t) return this.drop(peer, 'L2TP_UNKNOWN_TUNNEL')
      return this.deliver(t, message, peer, now)
    }
    const t = this.byId.get(message.tunnelId)
    if (!t || t.finished) return this.drop(peer, 'L2TP_UNKNOWN_TUNNEL')
    if (t.binding !== peer.binding) return this.drop(peer, 'L2TP_WRONG_BINDING')
    this.deliver(t, message, peer, now)
  }

  /** Runs what is due at `now`: retransmissions, delayed acknowledgements, HELLOs, setup deadlines, lingering. */
  handleTimeout(now: number): void {
    this.lastNow = now
    for (const t of this.timers.due(now)) {
      t.handleTimeout(now)
      this.service(t, now)
    }
  }

  // --- commands ------------------------------------------------------------

  /** Opens a tunnel to `peer` (SCCRQ); returns our Tunnel ID. tunnel-up follows. */
  openTunnel(peer: L2tpPeer, now: number = this.lastNow): number {
    this.lastNow = now
    if (this.liveTunnels(peer.binding) >= this.config.maxTunnelsPerBinding) throw new L2tpStateError('L2TP_TUNNEL_LIMIT', `binding ${peer.binding} holds ${this.config.maxTunnelsPerBinding} tunnels`)
    const id = this.tunnelIds.allocate()
    if (id === undefined) throw new L2tpStateError('L2TP_TUNNEL_LIMIT', 'no free Tunnel ID')
    const t = Tunnel.open(this.host, id, peer, now)
    this.add(t)
    this.service(t, now)
    return id
  }

  /**
   * LAC: places a call in tunnel `tunnelId` (ICRQ, then ICCN on ICRP);
   * returns our Session ID. If the tunnel is still coming up, the ICRQ
   * waits for it. session-up follows.
   */
  openSession(tunnelId: number, options: SessionOpenOptions = {}, now: number = this.lastNow): number {
    this.lastNow = now
    if (this.config.role !== 'lac') throw new L2tpStateError('L2TP_WRONG_ROLE', 'an LNS places no calls: outgoing calls are not supported')
    const t = this.byId.get(tunnelId)
    if (!t) throw new L2tpStateError('L2TP_NO_SUCH_TUNNEL', `no tunnel ${tunnelId}`)
    if (t.closing) throw new L2tpStateError('L2TP_TUNNEL_CLOSING', `tunnel ${tunnelId} is closing`)
    if (t.sessionCount >= this.config.maxSessionsPerTunnel) throw new L2tpStateError('L2TP_SESSION_LIMIT', `tunnel ${tunnelId} holds ${this.config.maxSessionsPerTunnel} sessions`)
    const id = this.allocateSession(t)
    if (id === undefined) throw new L2tpStateError('L2TP_SESSION_LIMIT', `binding ${t.binding} is at its session limit`)
    this.callSerial = (this.callSerial + 1) >>> 0
    t.addOutgoingSession(id, this.callSerial, options, now)
    this.service(t, now)
    return id
  }

  /** Clears a session with CDN; default result 3, "administrative reasons". */
  closeSession(sessionId: number, result: ResultCodeValue = { resultCode: CdnResult.ADMINISTRATIVE }, now: number = this.lastNow): void {
    this.lastNow = now
    const t = this.sessionTunnel.get(sessionId)
    if (!t || !t.closeSession(sessionId, result, now)) throw new L2tpStateError('L2TP_NO_SUCH_SESSION', `no session ${sessionId}`)
    this.service(t, now)
  }

  /** Clears a tunnel and its sessions with StopCCN; default result 1, "general request to clear control connection". */
  closeTunnel(tunnelId: number, result: ResultCodeValue = { resultCode: StopCcnResult.GENERAL_REQUEST }, now: number = this.lastNow): void {
    this.lastNow = now
    const t = this.byId.get(tunnelId)
    if (!t) throw new L2tpStateError('L2TP_NO_SUCH_TUNNEL', `no tunnel ${tunnelId}`)
    t.stop(result, 'L2TP_LOCAL_CLOSE', now)
    this.service(t, now)
  }

  /** The IPsec SA pair is gone: its tunnels and sessions end without a word (nothing could carry it). */
  removeBinding(binding: number): void {
    for (const t of this.byBinding.get(binding)) {
      t.abandon('L2TP_BINDING_GONE')
      this.service(t, this.lastNow)
    }
  }

  /** The IPsec SA pair was rekeyed: its tunnels now travel over `to`. */
  rebind(from: number, to: number): void {
    if (from === to) return
    for (const t of this.byBinding.get(from)) {
      this.unindex(t)
      t.binding = to
      t.peer = { ...t.peer, binding: to }
      this.index(t)
    }
  }

  // --- internals -----------------------------------------------------------

  private onSccrq(message: DecodedControl, peer: L2tpPeer, now: number): void {
    if (!this.config.acceptTunnels) return this.drop(peer, 'L2TP_TUNNELS_NOT_ACCEPTED')
    const peerTunnelId = avpValue(message.avps, AvpType.ASSIGNED_TUNNEL_ID)
    if (peerTunnelId) {
      // Real clients retransmit SCCRQ (xl2tpd: every recorded session sends it twice): the same tunnel answers.
      const existing = this.byPeerTunnel.get(`${peer.binding}/${peerTunnelId}`)
      if (existing && !existing.closing) return this.deliver(existing, message, peer, now)
    }
    const verdict = checkSccrq(message, this.config)
    if (verdict.verdict === 'drop') return this.drop(peer, verdict.reason)
    if (verdict.verdict === 'refuse') return this.refuse(message, peer, verdict.reason, verdict.result)
    // Tie break against our own outstanding SCCRQs to this peer (RFC 2661 4.4.3).
    const theirs = avpValue(message.avps, AvpType.TIE_BREAKER)
    let discardIncoming = false
    for (const t of this.byBinding.get(peer.binding)) {
      if (!t.initiator || t.state !== 'WaitCtlReply') continue
      const outcome = tieBreak(t.tieBreaker, theirs)
      if (outcome === 'ours') discardIncoming = true
      if (outcome === 'theirs' || outcome === 'both-lose') {
        t.abandon('L2TP_TIE_BREAKER_LOST')
        this.service(t, now)
      }
      if (outcome === 'both-lose') discardIncoming = true
    }
    if (discardIncoming) return this.drop(peer, 'L2TP_TIE_BREAKER_WON')
    if (this.liveTunnels(peer.binding) >= this.config.maxTunnelsPerBinding) {
      return this.refuse(message, peer, 'L2TP_TUNNEL_LIMIT', { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.INSUFFICIENT_RESOURCES, errorMessage: 'tunnel limit per client reached' })
    }
    const id = this.tunnelIds.allocate()
    if (id === undefined) {
      return this.refuse(message, peer, 'L2TP_TUNNEL_LIMIT', { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.INSUFFICIENT_RESOURCES, errorMessage: 'tunnel limit reached' })
    }
    const t = Tunnel.answer(this.host, id, peer, message, now)
    this.add(t)
    this.service(t, now)
  }

  /** Refuses an SCCRQ with a StopCCN that keeps no state, and counts it. */
  private refuse(message: DecodedControl, peer: L2tpPeer, reason: L2tpDropReason, result: ResultCodeValue): void {
    const peerTunnelId = avpValue(message.avps, AvpType.ASSIGNED_TUNNEL_ID)
    if (peerTunnelId) this.transmits.push({ binding: peer.binding, l2tpPort: peer.l2tpPort, datagram: refusalStopCcn(message, peerTunnelId, result) })
    this.drop(peer, reason)
  }

  private deliver(t: Tunnel, message: DecodedControl, peer: L2tpPeer, now: number): void {
    t.handle(message, peer, now)
    this.service(t, now)
  }

  /** The only live tunnel of this binding and outer address (the Tunnel ID 0 quirk). */
  private soleTunnel(peer: L2tpPeer): Tunnel | undefined {
    const candidates = this.byBinding.get(peer.binding).filter((t) => !t.finished && t.peer.address === peer.address && t.peer.port === peer.port)
    return candidates.length === 1 ? candidates[0] : undefined
  }

  private liveTunnels(binding: number): number {
    let n = 0
    for (const t of this.byBinding.get(binding)) if (!t.closing) n++
    return n
  }

  private allocateSession(tunnel: Tunnel): number | undefined {
    let onBinding = 0
    for (const t of this.byBinding.get(tunnel.binding)) onBinding += t.sessionCount
    if (onBinding >= this.config.maxSessionsPerBinding) return undefined
    const id = this.sessionIds.allocate()
    if (id !== undefined) this.sessionTunnel.set(id, tunnel)
    return id
  }

  private add(t: Tunnel): void {
    this.byId.set(t.id, t)
    this.index(t)
  }

  private index(t: Tunnel): void {
    this.byBinding.add(t.binding, t)
    if (t.peerTunnelId && !t.initiator) this.byPeerTunnel.set(`${t.binding}/${t.peerTunnelId}`, t)
  }

  private unindex(t: Tunnel): void {
    this.byBinding.delete(t.binding, t)
    const key = `${t.binding}/${t.peerTunnelId}`
    if (this.byPeerTunnel.get(key) === t) this.byPeerTunnel.delete(key)
  }

  /** Collects a tunnel's datagrams; forgets it once finished. */
  private service(t: Tunnel, now: number): void {
    for (const datagram of t.poll(now)) this.transmits.push({ binding: t.binding, l2tpPort: t.peer.l2tpPort, datagram })
    // Every change to a tunnel ends here: its deadline is queued where it now is.
    this.timers.update(t)
    if (t.finished && this.byId.get(t.id) === t) {
      this.timers.cancel(t)
      this.byId.delete(t.id)
      this.unindex(t)
      this.tunnelIds.release(t.id)
      for (const { id } of t.sessionList()) {
        this.sessionIds.release(id)
        this.sessionTunnel.delete(id)
      }
    }
  }

  /** Counts every drop; reports a peer at most once per interval so a flood cannot flood the log. */
  private drop(peer: L2tpPeer, reason: L2tpDropReason): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1
    const key = `${peer.binding}/${peer.address}:${peer.port}`
    const report = this.dropReports.get(key) ?? { since: -Infinity, count: 0 }
    report.count++
    if (this.lastNow - report.since >= DROP_REPORT_INTERVAL) {
      this.events.push({ type: 'dropped', peer: { ...peer }, reason, count: report.count })
      report.since = this.lastNow
      report.count = 0
    }
    this.dropReports.delete(key)
    this.dropReports.set(key, report)
    if (this.dropReports.size > DROP_REPORT_PEERS) this.dropReports.delete(this.dropReports.keys().next().value!)
  }
}
