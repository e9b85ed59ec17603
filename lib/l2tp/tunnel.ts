/**
 * L2TPv2 tunnels, the control connection (RFC 2661 5.1, 5.5, 5.7, 7.2),
 * sans-IO. A tunnel owns its ReliableChannel and its sessions; the endpoint
 * routes decoded messages to it (`handle`), wakes it (`handleTimeout`) and
 * drains its datagrams (`poll`). Time is the caller's `now`, in seconds.
 *
 * States are named by what they await:
 *
 *   initiator (LAC side): WaitCtlReply --SCCRP/SCCCN--> Established
 *   responder (LNS side): Idle --SCCRQ/SCCRP--> WaitCtlConn --SCCCN--> Established
 *   any: --StopCCN sent or received--> Closing --acknowledged or linger over--> (finished)
 *
 * Tunnel authentication (RFC 2661 5.1.1) is CHAP-like: the response to a
 * Challenge is MD5(message type of the response (1 octet) ‖ secret ‖
 * challenge), 2 for SCCRP and 3 for SCCCN.
 */
import crypto from 'node:crypto'
import { AvpType, CdnResult, FramingBit, GeneralError, MessageType, StopCcnResult } from './constants.js'
import { avp, avpValue, encodeControl, mandatoryFailure } from './codec.js'
import type { AvpInput, ControlMessage, DecodedControl, EncodeOptions, L2tpCodecErrorCode, ResultCodeValue } from './codec.js'
import type { RandomBytes } from './ids.js'
import { nextTimerSeq, type Timed } from '../util/deadline-queue.js'
import { ReliableChannel } from './reliable.js'
import { Session, refuseCall } from './session.js'
import type { L2tpPeer, SequencingPolicy, SessionEvent, SessionHost, SessionOpenOptions, SessionRef } from './session.js'
import { NONE, pushed } from '../util/queues.js'

export type L2tpRole = 'lns' | 'lac'

/** Configuration of an L2TP endpoint; every field but `role` has a default. */
export interface L2tpConfig {
  /** `lns` answers incoming calls (ICRQ); `lac` places them (openSession). */
  role: L2tpRole
  /** Host Name AVP. Default `l2tp-ipsec`. */
  hostName?: string
  /** Vendor Name AVP. Default `l2tp-ipsec`. */
  vendorName?: string
  /** Firmware Revision AVP. Default 0x0100. */
  firmwareRevision?: number
  /** Tunnel secret: enables tunnel authentication (Challenge in our SCCRQ/SCCRP) and hidden AVPs. */
  secret?: string | Buffer
  /** Hide the AVPs that identify tunnels, sessions and callers (RFC 2661 4.3); needs `secret`. Default false. */
  hideAvps?: boolean
  /** Data sequencing policy. Default `allow`. */
  sequencing?: SequencingPolicy
  /** Seconds without a control message from the peer before we send HELLO (RFC 2661 6.5); 0 never. Default 60. */
  helloInterval?: number
  /** Our Receive Window Size. Default 8. */
  receiveWindow?: number
  /** Seconds before the first retransmission. Default 1. */
  retransmitInitial?: number
  /** Cap on the seconds between retransmissions (RFC 2661 5.8: at least 8). Default 8. */
  retransmitMax?: number
  /** Transmissions of a message before the peer is declared unreachable and the tunnel torn down. Default 5. */
  retransmitTries?: number
  /** Seconds to wait for a reply to carry an acknowledgement before sending a ZLB. Default 0.2. */
  ackDelay?: number
  /** Seconds a tunnel or call may take to come up. Default 60. */
  setupTimeout?: number
  /** Seconds a closed tunnel's state is kept to acknowledge retransmitted StopCCNs. Default 31. */
  closeLinger?: number
  /** Tunnels one binding (IPsec SA) may hold. Default 4. */
  maxTunnelsPerBinding?: number
  /** Sessions one tunnel may hold. Default 32. */
  maxSessionsPerTunnel?: number
  /** Sessions one binding may hold over all its tunnels. Default 32. */
  maxSessionsPerBinding?: number
  /** Tunnels in all. Default 65535. */
  maxTunnels?: number
  /** Answer SCCRQs. Default: true for an LNS, false for a LAC. */
  acceptTunnels?: boolean
  /**
   * Route a message with Tunnel ID 0 (other than SCCRQ) to the only tunnel
   * of its binding and outer address, as some D-Link LACs need (accel-ppp's
   * `dir300_quirk`). Default false.
   */
  acceptZeroTunnelId?: boolean
  /** Put a Tie Breaker AVP in our SCCRQs (RFC 2661 4.4.3): `true` for a random one per SCCRQ, or a fixed 8-octet value. Default false. */
  tieBreaker?: boolean | Buffer
  /** Framing Capabilities AVP. Default sync and async. */
  framingCapabilities?: number
  /** Bearer Capabilities AVP; 0 leaves it out. Default 0. */
  bearerCapabilities?: number
}

export type ResolvedL2tpConfig = Required<Omit<L2tpConfig, 'secret' | 'tieBreaker'>> & { secret: Buffer | undefined; tieBreaker: boolean | Buffer }

/** Stable codes of L2tpStateError. */
export type L2tpStateErrorCode =
  | 'L2TP_BAD_CONFIG'
  | 'L2TP_NO_SUCH_TUNNEL'
  | 'L2TP_NO_SUCH_SESSION'
  | 'L2TP_TUNNEL_CLOSING'
  | 'L2TP_TUNNEL_LIMIT'
  | 'L2TP_SESSION_LIMIT'
  | 'L2TP_WRONG_ROLE'

/** Thrown by the endpoint's commands (openTunnel, openSession, …) and by config validation. */
export class L2tpStateError extends Error {
  override readonly name = 'L2tpStateError'
  constructor(readonly code: L2tpStateErrorCode, message: string) {
    super(message)
  }
}

function nonNegative(config: L2tpConfig, key: keyof L2tpConfig, fallback: number, integer = false): number {
  const v = config[key] ?? fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new L2tpStateError('L2TP_BAD_CONFIG', `${key} must be a non-negative ${integer ? 'integer' : 'number'}, got ${String(v)}`)
  }
  return v
}

/** Defaults filled in and values checked; throws L2tpStateError `L2TP_BAD_CONFIG`. */
export function resolveConfig(config: L2tpConfig): ResolvedL2tpConfig {
  if (config.role !== 'lns' && config.role !== 'lac') throw new L2tpStateError('L2TP_BAD_CONFIG', `role must be 'lns' or 'lac', got ${String(config.role)}`)
  const sequencing = config.sequencing ?? 'allow'
  if (!['off', 'allow', 'require'].includes(sequencing)) throw new L2tpStateError('L2TP_BAD_CONFIG', `sequencing must be off, allow or require, got ${String(sequencing)}`)
  const secret = config.secret === undefined ? undefined : Buffer.from(config.secret)
  if (secret?.length === 0) throw new L2tpStateError('L2TP_BAD_CONFIG', 'secret must not be empty')
  if (config.hideAvps && !secret) throw new L2tpStateError('L2TP_BAD_CONFIG', 'hideAvps needs a secret')
  const tieBreaker = config.tieBreaker ?? false
  if (Buffer.isBuffer(tieBreaker) && tieBreaker.length !== 8) throw new L2tpStateError('L2TP_BAD_CONFIG', 'tieBreaker must be 8 octets')
  const receiveWindow = nonNegative(config, 'receiveWindow', 8, true)
  if (receiveWindow < 1 || receiveWindow > 0x7fff) throw new L2tpStateError('L2TP_BAD_CONFIG', 'receiveWindow must be in 1..32767')
  return {
    role: config.role,
    hostName: config.hostName ?? 'l2tp-ipsec',
    vendorName: config.vendorName ?? 'l2tp-ipsec',
    firmwareRevision: nonNegative(config, 'firmwareRevision', 0x0100, true),
    secret,
    hideAvps: config.hideAvps ?? false,
    sequencing,
    helloInterval: nonNegative(config, 'helloInterval', 60),
    receiveWindow,
    retransmitInitial: nonNegative(config, 'retransmitInitial', 1),
    retransmitMax: nonNegative(config, 'retransmitMax', 8),
    retransmitTries: Math.max(1, nonNegative(config, 'retransmitTries', 5, true)),
    ackDelay: nonNegative(config, 'ackDelay', 0.2),
    setupTimeout: nonNegative(config, 'setupTimeout', 60),
    closeLinger: nonNegative(config, 'closeLinger', 31),
    maxTunnelsPerBinding: nonNegative(config, 'maxTunnelsPerBinding', 4, true),
    maxSessionsPerTunnel: nonNegative(config, 'maxSessionsPerTunnel', 32, true),
    maxSessionsPerBinding: nonNegative(config, 'maxSessionsPerBinding', 32, true),
    maxTunnels: Math.min(0xffff, nonNegative(config, 'maxTunnels', 0xffff, true)),
    acceptTunnels: config.acceptTunnels ?? config.role === 'lns',
    acceptZeroTunnelId: config.acceptZeroTunnelId ?? false,
    tieBreaker,
    framingCapabilities: nonNegative(config, 'framingCapabilities', FramingBit.SYNC | FramingBit.ASYNC, true),
    bearerCapabilities: nonNegative(config, 'bearerCapabilities', 0, true),
  }
}

// --- events ----------------------------------------------------------------

/** Which tunnel an event is about. */
export interface TunnelRef {
  binding: number
  peer: L2tpPeer
  /** Our Tunnel ID. */
  tunnelId: number
  /** The peer's Assigned Tunnel ID (0 while unknown). */
  peerTunnelId: number
}

/** Stable codes for why a tunnel went down. */
export type TunnelDownReason =
  /** closeTunnel(). */
  | 'L2TP_LOCAL_CLOSE'
  /** The peer sent StopCCN. */
  | 'L2TP_PEER_STOPCCN'
  /** A message went unacknowledged after every retransmission (RFC 2661 5.8). */
  | 'L2TP_PEER_UNRESPONSIVE'
  /** Tunnel authentication failed, either way. */
  | 'L2TP_NOT_AUTHORIZED'
  /** SCCRP/SCCCN did not come in time. */
  | 'L2TP_SETUP_TIMEOUT'
  /** A message the tunnel's state does not expect. */
  | 'L2TP_FSM_ERROR'
  /** An unknown AVP with the M bit, or an unknown mandatory message type (RFC 2661 4.2). */
  | 'L2TP_UNKNOWN_MANDATORY_AVP'
  /** The peer speaks another protocol version. */
  | 'L2TP_BAD_PROTOCOL_VERSION'
  /** A required AVP is missing or wrong. */
  | 'L2TP_BAD_MESSAGE'
  /** Both sides opened a tunnel at once and the peer's Tie Breaker won (RFC 2661 4.4.3). */
  | 'L2TP_TIE_BREAKER_LOST'
  /** removeBinding(): the IPsec SA is gone, so nothing can be sent. */
  | 'L2TP_BINDING_GONE'

export interface TunnelUpEvent extends TunnelRef {
  type: 'tunnel-up'
  /** Who sent the SCCRQ. */
  initiator: boolean
  peerHostName: string
  peerVendorName?: string
  peerFirmwareRevision?: number
  peerFramingCapabilities?: number
  peerBearerCapabilities?: number
  peerReceiveWindow: number
  /** Both ends proved the shared secret (tunnel authentication). */
  authenticated: boolean
}

export interface TunnelDownEvent extends TunnelRef {
  type: 'tunnel-down'
  reason: TunnelDownReason
  by: 'local' | 'peer'
  /** The Result Code of the StopCCN sent or received, if any. */
  result?: ResultCodeValue
  /** Whether tunnel-up was reported before. */
  established: boolean
}

/** Stable codes of dropped messages and refused requests. */
export type L2tpDropReason =
  | L2tpCodecErrorCode
  /** No tunnel has this Tunnel ID. */
  | 'L2TP_UNKNOWN_TUNNEL'
  /** The tunnel exists, on another binding: one client may not talk into another's tunnel. */
  | 'L2TP_WRONG_BINDING'
  /** A session message for a Session ID the tunnel does not have. */
  | 'L2TP_UNKNOWN_SESSION'
  /** A message out of place that is not worth clearing anything for. */
  | 'L2TP_UNEXPECTED_MESSAGE'
  /** A message without an AVP it needs to be answered at all (e.g. SCCRQ without Assigned Tunnel ID). */
  | 'L2TP_BAD_MESSAGE'
  /** SCCRQ refused with StopCCN: too many tunnels on the binding or in all. */
  | 'L2TP_TUNNEL_LIMIT'
  /** ICRQ refused with CDN: the tunnel holds maxSessionsPerTunnel sessions. */
  | 'L2TP_SESSION_LIMIT'
  /** ICRQ refused with CDN: the binding (the client's IPsec SA) holds maxSessionsPerBinding sessions over its tunnels, or no Session ID is free. */
  | 'L2TP_PEER_SESSION_LIMIT'
  /** SCCRQ refused with StopCCN: protocol version. */
  | 'L2TP_BAD_PROTOCOL_VERSION'
  /** SCCRQ refused with StopCCN: unknown M-bit AVP. */
  | 'L2TP_UNKNOWN_MANDATORY_AVP'
  /** SCCRQ refused with StopCCN: it challenges us and we have no secret. */
  | 'L2TP_NOT_AUTHORIZED'
  /** SCCRQ dropped: this endpoint does not accept tunnels. */
  | 'L2TP_TUNNELS_NOT_ACCEPTED'
  /** SCCRQ dropped: our own SCCRQ to this peer won the tie break. */
  | 'L2TP_TIE_BREAKER_WON'
  /** ICRQ for a call the tunnel already has. */
  | 'L2TP_DUPLICATE_CALL'

/** Messages dropped or refused from one peer, reported at most once per peer per interval: `count` since the last report, `reason` the latest. */
export interface DroppedEvent {
  type: 'dropped'
  peer: L2tpPeer
  reason: L2tpDropReason
  count: number
}

export type L2tpEvent = TunnelUpEvent | TunnelDownEvent | SessionEvent | DroppedEvent

// --- helpers -----------------------------------------------------------------

/** The Challenge Response (RFC 2661 4.4.3, 5.1.1): MD5(message type ‖ secret ‖ challenge); type 2 in SCCRP, 3 in SCCCN. */
export function challengeResponse(messageType: number, secret: Buffer, challenge: Buffer): Buffer {
  return crypto.createHash('md5').update(Buffer.from([messageType & 0xff])).update(secret).update(challenge).digest()
}

/** AVPs we hide when `hideAvps` is on: those naming tunnels, calls and callers. */
const HIDDEN_TYPES: ReadonlySet<number> = new Set<number>([
  AvpType.ASSIGNED_TUNNEL_ID,
  AvpType.ASSIGNED_SESSION_ID,
  AvpType.CALL_SERIAL_NUMBER,
  AvpType.CALLING_NUMBER,
  AvpType.CALLED_NUMBER,
  AvpType.SUB_ADDRESS,
  AvpType.TX_CONNECT_SPEED,
  AvpType.RX_CONNECT_SPEED,
  AvpType.PROXY_AUTHEN_TYPE,
  AvpType.PROXY_AUTHEN_NAME,
  AvpType.PROXY_AUTHEN_CHALLENGE,
  AvpType.PROXY_AUTHEN_ID,
  AvpType.PROXY_AUTHEN_RESPONSE,
])

/** Error Code of a Result Code 5 (bad protocol version): the highest version we speak, 1.0. */
const HIGHEST_VERSION = 0x0100

/** Why an SCCRQ is not answered with a tunnel. */
export type SccrqVerdict =
  | { verdict: 'accept' }
  /** Answer with a StopCCN carrying `result`. */
  | { verdict: 'refuse'; reason: L2tpDropReason; result: Required<ResultCodeValue> }
  /** Cannot even be answered (no Assigned Tunnel ID to address a StopCCN to). */
  | { verdict: 'drop'; reason: L2tpDropReason }

/** Checks an SCCRQ before a tunnel is made for it (RFC 2661 6.1, 4.2, 5.1.1). */
export function checkSccrq(message: DecodedControl, config: ResolvedL2tpConfig): SccrqVerdict {
  const peerTunnelId = avpValue(message.avps, AvpType.ASSIGNED_TUNNEL_ID)
  if (!peerTunnelId) return { verdict: 'drop', reason: 'L2TP_BAD_MESSAGE' }
  const failure = mandatoryFailure(message)
  if (failure) return { verdict: 'refuse', reason: 'L2TP_UNKNOWN_MANDATORY_AVP', result: failure.result }
  const version = avpValue(message.avps, AvpType.PROTOCOL_VERSION)
  if (!version || version.version !== 1) {
    return { verdict: 'refuse', reason: 'L2TP_BAD_PROTOCOL_VERSION', result: { resultCode: StopCcnResult.BAD_PROTOCOL_VERSION, errorCode: HIGHEST_VERSION, errorMessage: 'only L2TP version 1.0 (L2TPv2) is supported' } }
  }
  if (avpValue(message.avps, AvpType.CHALLENGE) && !config.secret) {
    return { verdict: 'refuse', reason: 'L2TP_NOT_AUTHORIZED', result: { resultCode: StopCcnResult.NOT_AUTHORIZED, errorCode: GeneralError.NO_ERROR, errorMessage: 'challenge received and no tunnel secret configured' } }
  }
  return { verdict: 'accept' }
}

/**
 * A StopCCN refusing an SCCRQ without keeping state: if it is lost, the
 * peer retransmits its SCCRQ and gets the same answer. Assigned Tunnel ID 0:
 * we assigned none.
 */
export function refusalStopCcn(sccrq: ControlMessage, peerTunnelId: number, result: ResultCodeValue): Buffer {
  return encodeControl({
    tunnelId: peerTunnelId,
    sessionId: 0,
    ns: 0,
    nr: (sccrq.ns + 1) & 0xffff,
    messageType: MessageType.StopCCN,
    avps: [avp(AvpType.ASSIGNED_TUNNEL_ID, 0), avp(AvpType.RESULT_CODE, result)],
  })
}

/**
 * Tie break between our outstanding SCCRQ and the peer's (RFC 2661 4.4.3):
 * the lower Tie Breaker wins, equal values both lose, a request with one
 * beats a request without, and without either both tunnels live.
 */
export function tieBreak(ours: Buffer | undefined, theirs: Buffer | undefined): 'ours' | 'theirs' | 'both-lose' | 'none' {
  if (!ours && !theirs) return 'none'
  if (!theirs) return 'ours'
  if (!ours) return 'theirs'
  const c = Buffer.compare(ours, theirs)
  return c < 0 ? 'ours' : c > 0 ? 'theirs' : 'both-lose'
}

// --- the tunnel ----------------------------------------------------------------

/** What a tunnel needs of its endpoint. */
export interface TunnelHost {
  readonly config: ResolvedL2tpConfig
  random: RandomBytes
  emit(event: L2tpEvent): void
  drop(peer: L2tpPeer, reason: L2tpDropReason): void
  /** A Session ID for a new session of `tunnel` if its binding is under its session limit, else undefined. */
  allocateSession(tunnel: Tunnel): number | undefined
  releaseSession(sessionId: number): void
  /** A control message was sent again (for the retransmit counter). */
  countRetransmit?(): void
  /** How every tunnel of the host encodes its control messages (one object for all of them, not one per tunnel: issue #9). */
  readonly encode: EncodeOptions
}

export type TunnelState = 'Idle' | 'WaitCtlReply' | 'WaitCtlConn' | 'Established' | 'Closing'

interface PeerInfo {
  hostName: string
  vendorName?: string
  firmwareRevision?: number
  framingCapabilities?: number
  bearerCapabilities?: number
  receiveWindow: number
}

/** What a tunnel knows of its peer before SCCRQ/SCCRP tells, and after tunnel-up told the owner (nothing reads it then): shared (issue #9). */
const NO_PEER_INFO: PeerInfo = Object.freeze({ hostName: '', receiveWindow: 4 })

const SESSION_MESSAGES: ReadonlySet<number> = new Set<number>([
  MessageType.ICRQ, MessageType.ICRP, MessageType.ICCN, MessageType.CDN,
  MessageType.OCRQ, MessageType.OCRP, MessageType.OCCN, MessageType.WEN, MessageType.SLI,
])

/**
 * A tunnel is also its sessions' SessionHost (methods on the prototype, not
 * an object of closures per tunnel: those cost ~1 KB per tunnel, issue #9).
 */
export class Tunnel implements Timed, SessionHost {
  /** The endpoint's timer queue (lib/util/deadline-queue.ts). */
  timerAt: number | undefined = undefined
  readonly timerSeq = nextTimerSeq()
  state: TunnelState = 'Idle'
  peerTunnelId = 0
  binding: number
  peer: L2tpPeer
  /** Our Tie Breaker, if our SCCRQ carried one. */
  readonly tieBreaker: Buffer | undefined
  /**
   * The tunnel's sessions: one field while it carries one (a remote-access
   * client places one call per tunnel), a Map from the second on. A Map
   * with one entry costs ~0.25 KB per tunnel (issue #9).
   */
  private oneSession: Session | undefined
  private moreSessions: Map<number, Session> | undefined

  private readonly channel: ReliableChannel
  private readonly config: ResolvedL2tpConfig
  private ourChallenge: Buffer | undefined
  private peerChallenged = false
  /** The peer's SCCRQ/SCCRP details, until tunnel-up carries them out. */
  private peerInfo: PeerInfo = NO_PEER_INFO
  private lastReceived: number
  private lastHello = -Infinity
  private setupDeadline = Infinity
  private closeDeadline = Infinity
  /** `sent`: our StopCCN awaits its acknowledgement; `received`: the peer's was acknowledged, we linger to re-acknowledge. */
  private closeKind: 'sent' | 'received' | undefined
  private done = false
  private wasUp = false
  /** Datagrams outside the reliable channel: ZLBs while closing, the last StopCCN attempt; the shared empty array while none (lib/util/queues.ts). */
  private extra: Buffer[] = NONE

  private constructor(private readonly host: TunnelHost, readonly id: number, peer: L2tpPeer, readonly initiator: boolean, now: number, initialNr: number) {
    this.config = host.config
    this.binding = peer.binding
    this.peer = { ...peer }
    this.lastReceived = now
    const c = this.config
    this.channel = new ReliableChannel({
      receiveWindow: c.receiveWindow,
      initialTimeout: c.retransmitInitial,
      maxTimeout: c.retransmitMax,
      maxTries: c.retransmitTries,
      ackDelay: c.ackDelay,
      initialNr,
      encode: host.encode,
      counter: host,
    })
    this.tieBreaker = initiator && c.tieBreaker !== false ? (Buffer.isBuffer(c.tieBreaker) ? c.tieBreaker : host.random(8)) : undefined
  }

  // --- SessionHost: what the tunnel's sessions need of it ----------------------

  get role(): 'lns' | 'lac' {
    return this.config.role
  }

  get sequencing(): SequencingPolicy {
    return this.config.sequencing
  }

  get setupTimeout(): number {
    return this.config.setupTimeout
  }

  tunnelRef(): Omit<SessionRef, 'sessionId' | 'peerSessionId'> {
    return this.ref()
  }

  sendSession(sessionId: number, messageType: number, avps: AvpInput[]): void {
    this.send(messageType, sessionId, avps)
  }

  emit(event: SessionEvent): void {
    this.host.emit(event)
  }

  /** Initiator: sends SCCRQ (RFC 2661 6.1) and waits for SCCRP. */
  static open(host: TunnelHost, id: number, peer: L2tpPeer, now: number): Tunnel {
    const t = new Tunnel(host, id, peer, true, now, 0)
    const avps = t.ownAvps()
    if (t.tieBreaker) avps.push(avp(AvpType.TIE_BREAKER, t.tieBreaker))
    if (t.config.secret) {
      t.ourChallenge = host.random(16)
      avps.push(avp(AvpType.CHALLENGE, t.ourChallenge))
    }
    t.send(MessageType.SCCRQ, 0, avps)
    t.state = 'WaitCtlReply'
    t.setupDeadline = now + t.config.setupTimeout
    return t
  }

  /** Responder: a tunnel for an SCCRQ that `checkSccrq` accepted; answers SCCRP. */
  static answer(host: TunnelHost, id: number, peer: L2tpPeer, sccrq: DecodedControl, now: number): Tunnel {
    const t = new Tunnel(host, id, peer, false, now, sccrq.ns)
    t.handle(sccrq, peer, now)
    return t
  }

  /** Finished: the endpoint forgets it and frees its ID. */
  get finished(): boolean {
    return this.done
  }

  get established(): boolean {
    return this.state === 'Established'
  }

  get closing(): boolean {
    return this.state === 'Closing' || this.done
  }

  /** Sessions not yet closed. */
  get sessionCount(): number {
    return this.moreSessions ? this.moreSessions.size : this.oneSession ? 1 : 0
  }

  /** The tunnel's sessions, in the order they were added (a copy: the caller may close them while it walks). */
  sessionList(): Session[] {
    return this.moreSessions ? [...this.moreSessions.values()] : this.oneSession ? [this.oneSession] : NONE
  }

  /** One session by our Session ID. */
  private session(id: number): Session | undefined {
    return this.moreSessions ? this.moreSessions.get(id) : this.oneSession?.id === id ? this.oneSession : undefined
  }

  private addSession(s: Session): void {
    if (this.moreSessions) this.moreSessions.set(s.id, s)
    else if (!this.oneSession) this.oneSession = s
    else {
      this.moreSessions = new Map([[this.oneSession.id, this.oneSession], [s.id, s]])
      this.oneSession = undefined
    }
  }

  /** Which tunnel this is, as events name it. */
  ref(): { binding: number; peer: L2tpPeer; tunnelId: number; peerTunnelId: number } {
    return { binding: this.binding, peer: { ...this.peer }, tunnelId: this.id, peerTunnelId: this.peerTunnelId }
  }

  /** A control message for this tunnel, from the endpoint (binding already checked). */
  handle(message: DecodedControl, peer: L2tpPeer, now: number): void {
    if (this.done) return
    this.peer = { ...peer, binding: this.binding }
    this.lastReceived = now
    const delivered = this.channel.receive(message, now)
    if (this.closeKind === 'received') {
      // Lingering after the peer's StopCCN: re-acknowledge whatever it retransmits.
      if (message.avps.length > 0) this.extra = pushed(this.extra, this.zlb())
      return
    }
    for (const m of delivered) {
      if (this.state === 'Closing' || this.done) break
      this.dispatch(m, now)
    }
    this.reap()
  }

  /** Wakes the tunnel: setup deadline, HELLO, session deadlines, end of lingering. Datagrams come out of `poll`. */
  handleTimeout(now: number): void {
    if (this.done) return
    if (this.state === 'Closing') {
      if (now >= this.closeDeadline) this.done = true
      return
    }
    if ((this.state === 'WaitCtlReply' || this.state === 'WaitCtlConn') && now >= this.setupDeadline) {
      return this.stop({ resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.NO_ERROR, errorMessage: `no ${this.state === 'WaitCtlReply' ? 'SCCRP' : 'SCCCN'} in time` }, 'L2TP_SETUP_TIMEOUT', now)
    }
    if (this.state === 'Established' && this.helloDue() <= now) {
      // RFC 2661 6.5: HELLO after a period with no control message from the peer; its retransmission cap detects a dead peer.
      this.send(MessageType.HELLO, 0, [])
      this.lastHello = now
    }
    for (const s of this.sessionList()) {
      const at = s.nextTimeout()
      if (at !== undefined && at <= now) s.handleTimeout(now)
    }
    this.reap()
  }

  /** When `handleTimeout` (and then `poll`) must run next. */
  nextTimeout(): number | undefined {
    if (this.done) return undefined
    let at = Infinity
    if (this.state === 'Closing') at = this.closeDeadline
    if (this.closeKind !== 'received') at = Math.min(at, this.channel.nextTimeout() ?? Infinity)
    if (this.state === 'WaitCtlReply' || this.state === 'WaitCtlConn') at = Math.min(at, this.setupDeadline)
    if (this.state === 'Established') at = Math.min(at, this.helloDue())
    if (this.moreSessions) for (const s of this.moreSessions.values()) at = Math.min(at, s.nextTimeout() ?? Infinity)
    else if (this.oneSession) at = Math.min(at, this.oneSession.nextTimeout() ?? Infinity)
    return at === Infinity ? undefined : at
  }

  /** The datagrams to transmit now. */
  poll(now: number): Buffer[] {
    const out: Buffer[] = []
    if (!this.done && this.closeKind !== 'received') {
      out.push(...this.channel.poll(now))
      if (this.channel.failed) this.onChannelFailed()
      else if (this.closeKind === 'sent' && this.channel.unacknowledged === 0 && this.channel.queued === 0) this.done = true
    }
    out.push(...this.extra)
    this.extra = NONE
    return out
  }

  /** LAC: a call to place in this tunnel; ICRQ goes out once the tunnel is up. */
  addOutgoingSession(id: number, callSerialNumber: number, options: SessionOpenOptions, now: number): Session {
    const s = Session.outgoing(this, id, callSerialNumber, options)
    this.addSession(s)
    if (this.state === 'Established') s.start(now)
    return s
  }

  /** Clears one session with CDN. */
  closeSession(sessionId: number, result: ResultCodeValue, now: number): boolean {
    const s = this.session(sessionId)
    if (!s) return false
    s.close(result, 'L2TP_LOCAL_CLOSE', now)
    this.reap()
    return true
  }

  /**
   * Clears the tunnel with StopCCN (RFC 2661 5.7, 6.4): its sessions go
   * down at once; the StopCCN is retransmitted until acknowledged.
   */
  stop(result: ResultCodeValue, reason: TunnelDownReason, now: number): void {
    if (this.state === 'Closing' || this.done) return
    const established = this.wasUp
    this.sessionsDown()
    if (this.peerTunnelId === 0) {
      // Our SCCRQ is unanswered: there is no one to address a StopCCN to.
      this.done = true
    } else {
      this.send(MessageType.StopCCN, 0, [avp(AvpType.ASSIGNED_TUNNEL_ID, this.id), avp(AvpType.RESULT_CODE, result)])
      this.state = 'Closing'
      this.closeKind = 'sent'
      this.closeDeadline = now + this.config.closeLinger
    }
    this.host.emit({ type: 'tunnel-down', ...this.ref(), reason, by: 'local', result, established })
  }

  /** Forgets the tunnel without a word to the peer (binding gone, or a lost tie break). */
  abandon(reason: TunnelDownReason): void {
    if (this.done) return
    const established = this.wasUp
    const wasClosing = this.state === 'Closing'
    this.sessionsDown()
    this.done = true
    if (!wasClosing) this.host.emit({ type: 'tunnel-down', ...this.ref(), reason, by: 'local', established })
  }

  // --- dispatch -------------------------------------------------------------

  private dispatch(m: DecodedControl, now: number): void {
    const failure = mandatoryFailure(m)
    if (failure) {
      if (failure.scope === 'session' && this.state === 'Established') return this.sessionFailure(m, failure.result, now)
      return this.stop(failure.result, 'L2TP_UNKNOWN_MANDATORY_AVP', now)
    }
    const type = m.messageType
    switch (type) {
      case MessageType.SCCRQ:
        if (this.state === 'Idle') return this.onSccrq(m, now)
        return this.host.drop(this.peer, 'L2TP_UNEXPECTED_MESSAGE')
      case MessageType.SCCRP:
        if (this.state === 'WaitCtlReply') return this.onSccrp(m, now)
        return this.fsmError('SCCRP', now)
      case MessageType.SCCCN:
        if (this.state === 'WaitCtlConn') return this.onScccn(m, now)
        return this.fsmError('SCCCN', now)
      case MessageType.StopCCN:
        return this.onStopCcn(m, now)
      case MessageType.HELLO:
        // Acknowledged by the channel; nothing else to do (RFC 2661 6.5).
        return
      default:
        if (type !== undefined && SESSION_MESSAGES.has(type)) {
          if (this.state !== 'Established') return this.fsmError(`message type ${type}`, now)
          return this.onSessionMessage(m, now)
        }
        // An unknown message type without the M bit is ignored (RFC 2661 4.2).
        return
    }
  }

  // --- tunnel setup -----------------------------------------------------------

  /** Protocol Version, Framing/Bearer Capabilities, Firmware Revision, Host Name, Vendor Name, Assigned Tunnel ID, Receive Window Size. */
  private ownAvps(): AvpInput[] {
    const c = this.config
    const avps: AvpInput[] = [avp(AvpType.PROTOCOL_VERSION, { version: 1, revision: 0 }), avp(AvpType.FRAMING_CAPABILITIES, c.framingCapabilities)]
    if (c.bearerCapabilities) avps.push(avp(AvpType.BEARER_CAPABILITIES, c.bearerCapabilities))
    avps.push(
      avp(AvpType.FIRMWARE_REVISION, c.firmwareRevision, { mandatory: false }),
      avp(AvpType.HOST_NAME, c.hostName),
      avp(AvpType.VENDOR_NAME, c.vendorName, { mandatory: false }),
      avp(AvpType.ASSIGNED_TUNNEL_ID, this.id),
      avp(AvpType.RECEIVE_WINDOW_SIZE, c.receiveWindow),
    )
    return avps
  }

  private learnPeer(m: ControlMessage): void {
    const a = m.avps
    const receiveWindow = avpValue(a, AvpType.RECEIVE_WINDOW_SIZE) ?? 4
    this.channel.setPeerReceiveWindow(receiveWindow)
    this.peerInfo = {
      hostName: avpValue(a, AvpType.HOST_NAME) ?? '',
      receiveWindow: Math.max(1, receiveWindow),
      ...defined({
        vendorName: avpValue(a, AvpType.VENDOR_NAME),
        firmwareRevision: avpValue(a, AvpType.FIRMWARE_REVISION),
        framingCapabilities: avpValue(a, AvpType.FRAMING_CAPABILITIES),
        bearerCapabilities: avpValue(a, AvpType.BEARER_CAPABILITIES),
      }),
    }
  }

  private onSccrq(m: DecodedControl, now: number): void {
    this.peerTunnelId = avpValue(m.avps, AvpType.ASSIGNED_TUNNEL_ID)!
    this.channel.peerTunnelId = this.peerTunnelId
    this.learnPeer(m)
    const avps = this.ownAvps()
    const secret = this.config.secret
    const challenge = avpValue(m.avps, AvpType.CHALLENGE)
    if (challenge && secret) {
      avps.push(avp(AvpType.CHALLENGE_RESPONSE, challengeResponse(MessageType.SCCRP, secret, challenge)))
      this.peerChallenged = true
    }
    if (secret) {
      this.ourChallenge = this.host.random(16)
      avps.push(avp(AvpType.CHALLENGE, this.ourChallenge))
    }
    this.send(MessageType.SCCRP, 0, avps)
    this.state = 'WaitCtlConn'
    this.setupDeadline = now + this.config.setupTimeout
  }

  private onSccrp(m: DecodedControl, now: number): void {
    const peerTunnelId = avpValue(m.avps, AvpType.ASSIGNED_TUNNEL_ID)
    if (!peerTunnelId) {
      // Nothing to address a StopCCN to: give up; the peer's setup timer clears its side.
      this.host.drop(this.peer, 'L2TP_BAD_MESSAGE')
      return this.abandon('L2TP_BAD_MESSAGE')
    }
    this.peerTunnelId = peerTunnelId
    this.channel.peerTunnelId = peerTunnelId
    this.learnPeer(m)
    const version = avpValue(m.avps, AvpType.PROTOCOL_VERSION)
    if (!version || version.version !== 1) {
      return this.stop({ resultCode: StopCcnResult.BAD_PROTOCOL_VERSION, errorCode: HIGHEST_VERSION }, 'L2TP_BAD_PROTOCOL_VERSION', now)
    }
    const secret = this.config.secret
    if (this.ourChallenge && secret && !this.responseMatches(m, MessageType.SCCRP)) {
      return this.stop({ resultCode: StopCcnResult.NOT_AUTHORIZED, errorCode: GeneralError.NO_ERROR, errorMessage: 'wrong or missing challenge response' }, 'L2TP_NOT_AUTHORIZED', now)
    }
    const avps: AvpInput[] = []
    const challenge = avpValue(m.avps, AvpType.CHALLENGE)
    if (challenge) {
      if (!secret) return this.stop({ resultCode: StopCcnResult.NOT_AUTHORIZED, errorCode: GeneralError.NO_ERROR, errorMessage: 'challenge received and no tunnel secret configured' }, 'L2TP_NOT_AUTHORIZED', now)
      avps.push(avp(AvpType.CHALLENGE_RESPONSE, challengeResponse(MessageType.SCCCN, secret, challenge)))
      this.peerChallenged = true
    }
    this.send(MessageType.SCCCN, 0, avps)
    this.up(now)
  }

  private onScccn(m: DecodedControl, now: number): void {
    if (this.ourChallenge && !this.responseMatches(m, MessageType.SCCCN)) {
      return this.stop({ resultCode: StopCcnResult.NOT_AUTHORIZED, errorCode: GeneralError.NO_ERROR, errorMessage: 'wrong or missing challenge response' }, 'L2TP_NOT_AUTHORIZED', now)
    }
    this.up(now)
  }

  private responseMatches(m: ControlMessage, responseType: number): boolean {
    const got = avpValue(m.avps, AvpType.CHALLENGE_RESPONSE)
    if (!got || !this.ourChallenge || !this.config.secret) return false
    return crypto.timingSafeEqual(got, challengeResponse(responseType, this.config.secret, this.ourChallenge))
  }

  private up(now: number): void {
    this.state = 'Established'
    this.setupDeadline = Infinity
    this.wasUp = true
    this.lastReceived = now
    const authenticated = this.ourChallenge !== undefined && this.peerChallenged
    this.host.emit({ type: 'tunnel-up', ...this.ref(), initiator: this.initiator, peerHostName: this.peerInfo.hostName, ...withoutHostName(this.peerInfo), authenticated })
    // Told: the host name and vendor strings need not stay for the tunnel's life.
    this.peerInfo = NO_PEER_INFO
    for (const s of this.sessionList()) s.start(now)
  }

  // --- teardown -------------------------------------------------------------

  private onStopCcn(m: DecodedControl, now: number): void {
    const established = this.wasUp
    if (this.peerTunnelId === 0) {
      // A refusal of our SCCRQ: the StopCCN names the peer's tunnel (0 if it assigned none).
      this.peerTunnelId = avpValue(m.avps, AvpType.ASSIGNED_TUNNEL_ID) ?? 0
      this.channel.peerTunnelId = this.peerTunnelId
    }
    this.sessionsDown()
    this.state = 'Closing'
    this.closeKind = 'received'
    this.closeDeadline = now + this.config.closeLinger
    this.extra = pushed(this.extra, this.zlb())
    const result = avpValue(m.avps, AvpType.RESULT_CODE)
    this.host.emit({ type: 'tunnel-down', ...this.ref(), reason: 'L2TP_PEER_STOPCCN', by: 'peer', ...(result ? { result } : {}), established })
  }

  /** The retransmission cap was hit (RFC 2661 5.8): one last StopCCN, outside the channel, then gone. */
  private onChannelFailed(): void {
    if (this.state === 'Closing') {
      this.done = true
      return
    }
    const established = this.wasUp
    this.sessionsDown()
    const result: ResultCodeValue = { resultCode: StopCcnResult.GENERAL_ERROR, errorCode: GeneralError.NO_ERROR, errorMessage: 'peer unresponsive' }
    if (this.peerTunnelId !== 0) {
      // Ns: the oldest unacknowledged message, which is what a peer that missed everything still expects.
      const ns = (this.channel.ns - this.channel.unacknowledged + 0x10000) & 0xffff
      this.extra = pushed(this.extra, encodeControl(
        { tunnelId: this.peerTunnelId, sessionId: 0, ns, nr: this.channel.nr, messageType: MessageType.StopCCN, avps: this.hide([avp(AvpType.ASSIGNED_TUNNEL_ID, this.id), avp(AvpType.RESULT_CODE, result)]) },
        this.host.encode,
      ))
    }
    this.done = true
    this.host.emit({ type: 'tunnel-down', ...this.ref(), reason: 'L2TP_PEER_UNRESPONSIVE', by: 'local', result, established })
  }

  private fsmError(what: string, now: number): void {
    this.stop({ resultCode: StopCcnResult.FSM_ERROR, errorCode: GeneralError.NO_ERROR, errorMessage: `unexpected ${what} in state ${this.state}` }, 'L2TP_FSM_ERROR', now)
  }

  private sessionsDown(): void {
    for (const s of this.sessionList()) s.tunnelDown()
    this.reap()
  }

  /** Forgets closed sessions and frees their IDs. */
  private reap(): void {
    const one = this.oneSession
    if (one) {
      if (one.closed) {
        this.oneSession = undefined
        this.host.releaseSession(one.id)
      }
      return
    }
    const more = this.moreSessions
    if (!more) return
    for (const [id, s] of more) {
      if (s.closed) {
        more.delete(id)
        this.host.releaseSession(id)
      }
    }
    // Back to one field (or none) once the tunnel carries one session again.
    if (more.size <= 1) {
      this.moreSessions = undefined
      this.oneSession = more.values().next().value
    }
  }

  // --- sessions ---------------------------------------------------------------

  private onSessionMessage(m: DecodedControl, now: number): void {
    switch (m.messageType) {
      case MessageType.ICRQ:
        return this.onIcrq(m, now)
      case MessageType.OCRQ: {
        // RFC 2661 6.7: we place no outgoing calls. CDN result 5: "lack of appropriate facilities (permanent)".
        const peerSessionId = avpValue(m.avps, AvpType.ASSIGNED_SESSION_ID)
        if (!peerSessionId) return this.host.drop(this.peer, 'L2TP_BAD_MESSAGE')
        return refuseCall(this, peerSessionId, { resultCode: CdnResult.NO_FACILITIES_PERMANENT, errorCode: GeneralError.NO_ERROR, errorMessage: 'outgoing calls not supported' }, 'L2TP_OUTGOING_CALL_REFUSED')
      }
      default: {
        const s = this.findSession(m)
        if (!s) return this.host.drop(this.peer, 'L2TP_UNKNOWN_SESSION')
        return s.handle(m, now)
      }
    }
  }

  private onIcrq(m: DecodedControl, now: number): void {
    const peerSessionId = avpValue(m.avps, AvpType.ASSIGNED_SESSION_ID)
    if (!peerSessionId) return this.host.drop(this.peer, 'L2TP_BAD_MESSAGE')
    if (this.config.role === 'lac') {
      return refuseCall(this, peerSessionId, { resultCode: CdnResult.NO_FACILITIES_PERMANENT, errorCode: GeneralError.NO_ERROR, errorMessage: 'a LAC takes no incoming calls' }, 'L2TP_CALL_REFUSED')
    }
    for (const s of this.sessionList()) if (s.peerSessionId === peerSessionId) return this.host.drop(this.peer, 'L2TP_DUPLICATE_CALL')
    // Refused with CDN and counted (the limit metrics read the drop counts), no state kept.
    const limit = (what: string, reason: 'L2TP_SESSION_LIMIT' | 'L2TP_PEER_SESSION_LIMIT'): void => {
      refuseCall(
        this,
        peerSessionId,
        { resultCode: CdnResult.NO_FACILITIES_TEMPORARY, errorCode: GeneralError.INSUFFICIENT_RESOURCES, errorMessage: `session limit per ${what} reached` },
        'L2TP_SESSION_LIMIT',
      )
      this.host.drop(this.peer, reason)
    }
    if (this.sessionCount >= this.config.maxSessionsPerTunnel) return limit('tunnel', 'L2TP_SESSION_LIMIT')
    const id = this.host.allocateSession(this)
    if (id === undefined) return limit('binding', 'L2TP_PEER_SESSION_LIMIT')
    this.addSession(Session.incoming(this, id, m, now))
  }

  /** The session a message is for: the header's Session ID, or for a CDN with Session ID 0, its Assigned Session ID (the peer's). */
  private findSession(m: DecodedControl): Session | undefined {
    if (m.sessionId !== 0) return this.session(m.sessionId)
    if (m.messageType !== MessageType.CDN) return undefined
    const peerSessionId = avpValue(m.avps, AvpType.ASSIGNED_SESSION_ID)
    for (const s of this.sessionList()) if (peerSessionId && s.peerSessionId === peerSessionId) return s
    return undefined
  }

  /** An unknown M-bit AVP in a session message: clear that session with CDN (RFC 2661 4.2). */
  private sessionFailure(m: DecodedControl, result: ResultCodeValue, now: number): void {
    if (m.messageType === MessageType.ICRQ || m.messageType === MessageType.OCRQ) {
      const peerSessionId = avpValue(m.avps, AvpType.ASSIGNED_SESSION_ID)
      if (!peerSessionId) return this.host.drop(this.peer, 'L2TP_BAD_MESSAGE')
      return refuseCall(this, peerSessionId, result, 'L2TP_UNKNOWN_MANDATORY_AVP')
    }
    const s = this.findSession(m)
    if (!s) return this.host.drop(this.peer, 'L2TP_UNKNOWN_SESSION')
    s.close(result, 'L2TP_UNKNOWN_MANDATORY_AVP', now)
  }

  // --- sending --------------------------------------------------------------

  private send(messageType: number, sessionId: number, avps: AvpInput[]): void {
    this.channel.send({ tunnelId: this.peerTunnelId, sessionId, messageType, avps: this.hide(avps) })
  }

  /** With `hideAvps`, hides the AVPs of HIDDEN_TYPES behind one Random Vector (RFC 2661 4.3). */
  private hide(avps: AvpInput[]): AvpInput[] {
    if (!this.config.hideAvps || !this.config.secret) return avps
    let any = false
    const out = avps.map((a) => {
      if (a.vendorId !== 0 || !HIDDEN_TYPES.has(a.attributeType)) return a
      any = true
      return { ...a, hidden: true } as AvpInput
    })
    return any ? [avp(AvpType.RANDOM_VECTOR, this.host.random(16)), ...out] : out
  }

  private zlb(): Buffer {
    return encodeControl({ tunnelId: this.peerTunnelId, sessionId: 0, ns: this.channel.ns, nr: this.channel.nr })
  }

  private helloDue(): number {
    const interval = this.config.helloInterval
    return interval > 0 ? Math.max(this.lastReceived, this.lastHello) + interval : Infinity
  }
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function withoutHostName(info: PeerInfo): Omit<TunnelUpEvent, keyof TunnelRef | 'type' | 'initiator' | 'peerHostName' | 'authenticated'> {
  const { hostName: _hostName, receiveWindow, vendorName, firmwareRevision, framingCapabilities, bearerCapabilities } = info
  return {
    peerReceiveWindow: receiveWindow,
    ...defined({ peerVendorName: vendorName, peerFirmwareRevision: firmwareRevision, peerFramingCapabilities: framingCapabilities, peerBearerCapabilities: bearerCapabilities }),
  }
}
