/**
 * L2TPv2 sessions (RFC 2661 5.4, 5.6, 7.4), sans-IO: incoming calls only.
 * The LNS answers ICRQ with ICRP and waits for ICCN; the LAC sends ICRQ,
 * waits for ICRP and sends ICCN. Either side clears a call with CDN. Outgoing
 * calls (OCRQ) are refused by the tunnel.
 *
 * States are named by what they await:
 *
 *   LAC: WaitTunnel --tunnel up/ICRQ--> WaitReply --ICRP/ICCN--> Established
 *   LNS:          (ICRQ/ICRP) --> WaitConnect --ICCN--> Established
 *   any: --CDN sent or received, or tunnel down--> Closed
 *
 * A session never touches bytes or the reliable channel: it asks its tunnel
 * (the `SessionHost`) to send messages and to report events.
 */
import { AvpType, CdnResult, FramingBit, GeneralError, MessageType } from './constants.js'
import { avp, avpValue, findAvp } from './codec.js'
import type { AccmValue, AvpInput, CallErrorsValue, ControlMessage, ResultCodeValue } from './codec.js'

/** Where a tunnel's control messages come from and go to. */
export interface L2tpPeer {
  /** The IPsec SA pair (IKE) the messages travel over: the security principal. */
  binding: number
  /** Outer (post-NAT) address and port of the client: for logs, and to tell clients behind one NAT apart. */
  address: string
  port: number
  /** The peer's L2TP UDP port inside IPsec (1701 for nearly every client; never used to tell peers apart). */
  l2tpPort: number
}

/**
 * Data sequencing (RFC 2661 5.4, 4.4.5 Sequencing Required): `off` refuses a
 * call whose LAC requires sequence numbers; `allow` sequences when the LAC
 * asks; `require` always sequences (the LAC asks for it in its ICCN, the LNS
 * turns it on from its side).
 */
export type SequencingPolicy = 'off' | 'allow' | 'require'

export type SessionState = 'WaitTunnel' | 'WaitReply' | 'WaitConnect' | 'Established' | 'Closed'

/** Proxy LCP AVPs of an ICCN (RFC 2661 4.4.5): the LCP CONFREQs the LAC already exchanged. */
export interface ProxyLcp {
  initialReceivedConfReq?: Buffer
  lastSentConfReq?: Buffer
  lastReceivedConfReq?: Buffer
}

/** Proxy authentication AVPs of an ICCN (RFC 2661 4.4.5). */
export interface ProxyAuthen {
  type?: number
  name?: string
  challenge?: Buffer
  id?: number
  response?: Buffer
}

/** What our LAC says about a call it places (ICRQ and ICCN). */
export interface SessionOpenOptions {
  /** Framing Type of the ICCN; default synchronous (FramingBit.SYNC), as xl2tpd sends. */
  framingType?: number
  /** Bearer Type of the ICRQ; left out by default. */
  bearerType?: number
  /** (Tx) Connect Speed of the ICCN in bits per second; default 100000000. */
  txConnectSpeed?: number
  rxConnectSpeed?: number
  callingNumber?: string
  calledNumber?: string
  subAddress?: string
  proxyLcp?: ProxyLcp
  proxyAuthen?: ProxyAuthen
}

/** Which session an event is about. */
export interface SessionRef {
  binding: number
  peer: L2tpPeer
  tunnelId: number
  peerTunnelId: number
  /** Our Session ID (0 for a call refused before one was assigned). */
  sessionId: number
  peerSessionId: number
}

/** Stable codes for why a session went down. */
export type SessionDownReason =
  /** closeSession() or a limit on our side. */
  | 'L2TP_LOCAL_CLOSE'
  /** The peer sent CDN. */
  | 'L2TP_PEER_CDN'
  /** The tunnel went down, taking the session with it. */
  | 'L2TP_TUNNEL_DOWN'
  /** ICRQ refused: a session limit per tunnel or per binding, or no free Session ID. */
  | 'L2TP_SESSION_LIMIT'
  /** ICRQ refused: we are a LAC and take no incoming calls. */
  | 'L2TP_CALL_REFUSED'
  /** OCRQ refused: outgoing calls are not supported. */
  | 'L2TP_OUTGOING_CALL_REFUSED'
  /** ICRP or ICCN did not come in time. */
  | 'L2TP_SETUP_TIMEOUT'
  /** An unknown AVP with the M bit (RFC 2661 4.2). */
  | 'L2TP_UNKNOWN_MANDATORY_AVP'
  /** The LAC requires data sequencing and our policy is `off`. */
  | 'L2TP_SEQUENCING_REFUSED'
  /** A message the session's state does not expect. */
  | 'L2TP_FSM_ERROR'
  /** A required AVP is missing or wrong. */
  | 'L2TP_BAD_MESSAGE'

export interface SessionUpEvent extends SessionRef {
  type: 'session-up'
  role: 'lns' | 'lac'
  /** Data messages carry sequence numbers (Ns/Nr) in both directions. */
  sequencing: boolean
  /** Framing Type of the ICCN (FramingBit bits). */
  framingType: number
  bearerType?: number
  txConnectSpeed?: number
  rxConnectSpeed?: number
  callSerialNumber?: number
  callingNumber?: string
  calledNumber?: string
  subAddress?: string
  /** Present when the ICCN carried proxy LCP AVPs. */
  proxyLcp?: ProxyLcp
  proxyAuthen?: ProxyAuthen
}

export interface SessionDownEvent extends SessionRef {
  type: 'session-down'
  reason: SessionDownReason
  /** Who cleared the call. */
  by: 'local' | 'peer'
  /** The Result Code sent or received in the CDN (none when the tunnel went down). */
  result?: ResultCodeValue
  /** Whether session-up was reported before. */
  established: boolean
}

/** WAN-Error-Notify (RFC 2661 6.15), acknowledged and reported. */
export interface WanErrorEvent extends SessionRef {
  type: 'wan-error'
  callErrors?: CallErrorsValue
}

/** Set-Link-Info (RFC 2661 6.16), acknowledged and reported. */
export interface SetLinkInfoEvent extends SessionRef {
  type: 'set-link-info'
  accm?: AccmValue
}

/**
 * LNS: ICRP sent, ICCN awaited. Both Session IDs are known, so the owner
 * can ready the data path now: clients send their first LCP frame right
 * behind the ICCN, before session-up could be acted on.
 */
export interface SessionConnectingEvent extends SessionRef {
  type: 'session-connecting'
}

export type SessionEvent = SessionConnectingEvent | SessionUpEvent | SessionDownEvent | WanErrorEvent | SetLinkInfoEvent

/** What a session needs of its tunnel. */
export interface SessionHost {
  readonly role: 'lns' | 'lac'
  readonly sequencing: SequencingPolicy
  /** Seconds a call may take to connect. */
  readonly setupTimeout: number
  /** The tunnel half of a SessionRef. */
  tunnelRef(): Omit<SessionRef, 'sessionId' | 'peerSessionId'>
  /** Sends a session message; `sessionId` is the header's (the peer's Session ID). */
  sendSession(sessionId: number, messageType: number, avps: AvpInput[]): void
  emit(event: SessionEvent): void
}

const DEFAULT_CONNECT_SPEED = 100_000_000

function definedEntries<T extends object>(o: T): T | undefined {
  const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
  return Object.keys(out).length > 0 ? out : undefined
}

/** The Proxy LCP and Proxy Authen AVPs of an ICCN, if any. */
function readProxies(message: ControlMessage): { proxyLcp?: ProxyLcp; proxyAuthen?: ProxyAuthen } {
  const a = message.avps
  const proxyLcp = definedEntries<ProxyLcp>({
    initialReceivedConfReq: avpValue(a, AvpType.INITIAL_RECEIVED_LCP_CONFREQ),
    lastSentConfReq: avpValue(a, AvpType.LAST_SENT_LCP_CONFREQ),
    lastReceivedConfReq: avpValue(a, AvpType.LAST_RECEIVED_LCP_CONFREQ),
  })
  const proxyAuthen = definedEntries<ProxyAuthen>({
    type: avpValue(a, AvpType.PROXY_AUTHEN_TYPE),
    name: avpValue(a, AvpType.PROXY_AUTHEN_NAME),
    challenge: avpValue(a, AvpType.PROXY_AUTHEN_CHALLENGE),
    id: avpValue(a, AvpType.PROXY_AUTHEN_ID),
    response: avpValue(a, AvpType.PROXY_AUTHEN_RESPONSE),
  })
  return { ...(proxyLcp ? { proxyLcp } : {}), ...(proxyAuthen ? { proxyAuthen } : {}) }
}

/**
 * Clears a call that has no session on our side (a refused ICRQ or OCRQ):
 * CDN addressed to the peer's Session ID, with Assigned Session ID 0 since
 * we assigned none (RFC 2661 6.14).
 */
export function refuseCall(host: SessionHost, peerSessionId: number, result: ResultCodeValue, reason: SessionDownReason): void {
  host.sendSession(peerSessionId, MessageType.CDN, [avp(AvpType.RESULT_CODE, result), avp(AvpType.ASSIGNED_SESSION_ID, 0)])
  host.emit({ type: 'session-down', ...host.tunnelRef(), sessionId: 0, peerSessionId, reason, by: 'local', result, established: false })
}

/** What an established session keeps of its call details once session-up has carried them. */
const UP_TOLD = Object.freeze({ framingType: FramingBit.SYNC })
/** The options of a call placed without any (and of every incoming call, which has none): shared, not an empty object per session (~56 B, issue #9). */
const NO_OPEN_OPTIONS: SessionOpenOptions = Object.freeze({})

export class Session {
  state: SessionState
  peerSessionId = 0
  /** When a call still connecting gives up (WaitReply, WaitConnect). */
  private deadline = Infinity
  private sequencing = false
  private up: Omit<SessionUpEvent, keyof SessionRef | 'type' | 'role' | 'sequencing'> = { framingType: FramingBit.SYNC }

  private constructor(
    private readonly host: SessionHost,
    readonly id: number,
    readonly callSerialNumber: number,
    private readonly options: SessionOpenOptions,
    state: SessionState,
  ) {
    this.state = state
  }

  /** LAC: a call to place once the tunnel is up (`start`). */
  static outgoing(host: SessionHost, id: number, callSerialNumber: number, options: SessionOpenOptions = NO_OPEN_OPTIONS): Session {
    return new Session(host, id, callSerialNumber, options, 'WaitTunnel')
  }

  /**
   * LNS: an ICRQ the tunnel admitted (limits checked, Assigned Session ID
   * present): answers ICRP and waits for ICCN.
   */
  static incoming(host: SessionHost, id: number, icrq: ControlMessage, now: number): Session {
    const s = new Session(host, id, avpValue(icrq.avps, AvpType.CALL_SERIAL_NUMBER) ?? 0, NO_OPEN_OPTIONS, 'WaitConnect')
    s.peerSessionId = avpValue(icrq.avps, AvpType.ASSIGNED_SESSION_ID)!
    const a = icrq.avps
    s.up = {
      framingType: FramingBit.SYNC,
      ...definedEntries({
        callSerialNumber: avpValue(a, AvpType.CALL_SERIAL_NUMBER),
        bearerType: avpValue(a, AvpType.BEARER_TYPE),
        callingNumber: avpValue(a, AvpType.CALLING_NUMBER),
        calledNumber: avpValue(a, AvpType.CALLED_NUMBER),
        subAddress: avpValue(a, AvpType.SUB_ADDRESS),
      }),
    }
    s.deadline = now + host.setupTimeout
    // ICRP: Message Type, Assigned Session ID (RFC 2661 6.11).
    host.sendSession(s.peerSessionId, MessageType.ICRP, [avp(AvpType.ASSIGNED_SESSION_ID, id)])
    host.emit({ type: 'session-connecting', ...s.ref() })
    return s
  }

  get established(): boolean {
    return this.state === 'Established'
  }

  get closed(): boolean {
    return this.state === 'Closed'
  }

  /** LAC: the tunnel is up; send ICRQ (RFC 2661 6.10). */
  start(now: number): void {
    if (this.state !== 'WaitTunnel') return
    const o = this.options
    const avps: AvpInput[] = [avp(AvpType.ASSIGNED_SESSION_ID, this.id), avp(AvpType.CALL_SERIAL_NUMBER, this.callSerialNumber)]
    if (o.bearerType !== undefined) avps.push(avp(AvpType.BEARER_TYPE, o.bearerType))
    if (o.callingNumber !== undefined) avps.push(avp(AvpType.CALLING_NUMBER, o.callingNumber))
    if (o.calledNumber !== undefined) avps.push(avp(AvpType.CALLED_NUMBER, o.calledNumber))
    if (o.subAddress !== undefined) avps.push(avp(AvpType.SUB_ADDRESS, o.subAddress))
    this.host.sendSession(0, MessageType.ICRQ, avps)
    this.state = 'WaitReply'
    this.deadline = now + this.host.setupTimeout
  }

  /** A message for this session, in order, after the tunnel checked it for unknown M-bit AVPs. */
  handle(message: ControlMessage, now: number): void {
    switch (message.messageType) {
      case MessageType.ICRP:
        return this.onIcrp(message, now)
      case MessageType.ICCN:
        return this.onIccn(message, now)
      case MessageType.CDN:
        return this.onCdn(message)
      case MessageType.WEN:
        return this.host.emit({ type: 'wan-error', ...this.ref(), ...definedEntries({ callErrors: avpValue(message.avps, AvpType.CALL_ERRORS) }) })
      case MessageType.SLI:
        return this.host.emit({ type: 'set-link-info', ...this.ref(), ...definedEntries({ accm: avpValue(message.avps, AvpType.ACCM) }) })
      default:
        // OCRP, OCCN: we never place outgoing calls.
        return this.close({ resultCode: CdnResult.GENERAL_ERROR, errorCode: GeneralError.NO_ERROR, errorMessage: `unexpected message type ${String(message.messageType)}` }, 'L2TP_FSM_ERROR', now)
    }
  }

  /** Clears the call with CDN (RFC 2661 6.14) and reports it. */
  close(result: ResultCodeValue, reason: SessionDownReason, _now: number): void {
    if (this.closed) return
    if (this.state !== 'WaitTunnel') {
      // CDN: Result Code, Assigned Session ID (ours); the header carries the peer's (0 if not yet known).
      this.host.sendSession(this.peerSessionId, MessageType.CDN, [avp(AvpType.RESULT_CODE, result), avp(AvpType.ASSIGNED_SESSION_ID, this.id)])
    }
    this.finish({ reason, by: 'local', result })
  }

  /** The tunnel went down: no CDN, just the event. */
  tunnelDown(): void {
    if (!this.closed) this.finish({ reason: 'L2TP_TUNNEL_DOWN', by: 'local' })
  }

  nextTimeout(): number | undefined {
    return this.state === 'WaitReply' || this.state === 'WaitConnect' ? this.deadline : undefined
  }

  handleTimeout(now: number): void {
    if ((this.state === 'WaitReply' || this.state === 'WaitConnect') && now >= this.deadline) {
      const resultCode = this.host.role === 'lac' ? CdnResult.TIMEOUT : CdnResult.GENERAL_ERROR
      this.close({ resultCode, errorCode: GeneralError.NO_ERROR, errorMessage: `no ${this.state === 'WaitReply' ? 'ICRP' : 'ICCN'} in time` }, 'L2TP_SETUP_TIMEOUT', now)
    }
  }

  // --- per message ---------------------------------------------------------

  private onIcrp(message: ControlMessage, now: number): void {
    if (this.state !== 'WaitReply') return this.fsmError(message, now)
    const peerSessionId = avpValue(message.avps, AvpType.ASSIGNED_SESSION_ID)
    if (!peerSessionId) return this.close({ resultCode: CdnResult.GENERAL_ERROR, errorCode: GeneralError.VALUE_OUT_OF_RANGE, errorMessage: 'ICRP without Assigned Session ID' }, 'L2TP_BAD_MESSAGE', now)
    this.peerSessionId = peerSessionId
    // ICCN: Framing Type and (Tx) Connect Speed are required (RFC 2661 6.12).
    const o = this.options
    const framingType = o.framingType ?? FramingBit.SYNC
    const txConnectSpeed = o.txConnectSpeed ?? DEFAULT_CONNECT_SPEED
    const avps: AvpInput[] = [avp(AvpType.TX_CONNECT_SPEED, txConnectSpeed), avp(AvpType.FRAMING_TYPE, framingType)]
    if (o.rxConnectSpeed !== undefined) avps.push(avp(AvpType.RX_CONNECT_SPEED, o.rxConnectSpeed, { mandatory: false }))
    this.sequencing = this.host.sequencing === 'require'
    if (this.sequencing) avps.push(avp(AvpType.SEQUENCING_REQUIRED, null))
    const lcp = o.proxyLcp
    if (lcp?.initialReceivedConfReq) avps.push(avp(AvpType.INITIAL_RECEIVED_LCP_CONFREQ, lcp.initialReceivedConfReq, { mandatory: false }))
    if (lcp?.lastSentConfReq) avps.push(avp(AvpType.LAST_SENT_LCP_CONFREQ, lcp.lastSentConfReq, { mandatory: false }))
    if (lcp?.lastReceivedConfReq) avps.push(avp(AvpType.LAST_RECEIVED_LCP_CONFREQ, lcp.lastReceivedConfReq, { mandatory: false }))
    const auth = o.proxyAuthen
    if (auth?.type !== undefined) avps.push(avp(AvpType.PROXY_AUTHEN_TYPE, auth.type, { mandatory: false }))
    if (auth?.name !== undefined) avps.push(avp(AvpType.PROXY_AUTHEN_NAME, auth.name, { mandatory: false }))
    if (auth?.challenge !== undefined) avps.push(avp(AvpType.PROXY_AUTHEN_CHALLENGE, auth.challenge, { mandatory: false }))
    if (auth?.id !== undefined) avps.push(avp(AvpType.PROXY_AUTHEN_ID, auth.id, { mandatory: false }))
    if (auth?.response !== undefined) avps.push(avp(AvpType.PROXY_AUTHEN_RESPONSE, auth.response, { mandatory: false }))
    this.host.sendSession(this.peerSessionId, MessageType.ICCN, avps)
    this.up = {
      framingType,
      txConnectSpeed,
      ...definedEntries({
        callSerialNumber: this.callSerialNumber,
        bearerType: o.bearerType,
        rxConnectSpeed: o.rxConnectSpeed,
        callingNumber: o.callingNumber,
        calledNumber: o.calledNumber,
        subAddress: o.subAddress,
        proxyLcp: lcp,
        proxyAuthen: auth,
      }),
    }
    this.connected()
  }

  private onIccn(message: ControlMessage, now: number): void {
    if (this.state !== 'WaitConnect') return this.fsmError(message, now)
    const a = message.avps
    const framingType = avpValue(a, AvpType.FRAMING_TYPE)
    if (framingType === undefined) return this.close({ resultCode: CdnResult.GENERAL_ERROR, errorCode: GeneralError.VALUE_OUT_OF_RANGE, errorMessage: 'ICCN without Framing Type' }, 'L2TP_BAD_MESSAGE', now)
    const peerRequires = findAvp(a, AvpType.SEQUENCING_REQUIRED) !== undefined
    if (peerRequires && this.host.sequencing === 'off') {
      return this.close({ resultCode: CdnResult.GENERAL_ERROR, errorCode: GeneralError.VENDOR_SPECIFIC, errorMessage: 'data sequencing is not supported' }, 'L2TP_SEQUENCING_REFUSED', now)
    }
    this.sequencing = peerRequires || this.host.sequencing === 'require'
    this.up = {
      ...this.up,
      framingType,
      ...definedEntries({ txConnectSpeed: avpValue(a, AvpType.TX_CONNECT_SPEED), rxConnectSpeed: avpValue(a, AvpType.RX_CONNECT_SPEED) }),
      ...readProxies(message),
    }
    this.connected()
  }

  private onCdn(message: ControlMessage): void {
    const result = avpValue(message.avps, AvpType.RESULT_CODE)
    this.finish({ reason: 'L2TP_PEER_CDN', by: 'peer', ...(result ? { result } : {}) })
  }

  private fsmError(message: ControlMessage, now: number): void {
    const name = message.messageType === MessageType.ICRP ? 'ICRP' : message.messageType === MessageType.ICCN ? 'ICCN' : String(message.messageType)
    this.close({ resultCode: CdnResult.GENERAL_ERROR, errorCode: GeneralError.NO_ERROR, errorMessage: `unexpected ${name} in state ${this.state}` }, 'L2TP_FSM_ERROR', now)
  }

  private connected(): void {
    this.state = 'Established'
    this.deadline = Infinity
    this.host.emit({ type: 'session-up', ...this.ref(), role: this.host.role, sequencing: this.sequencing, ...this.up })
    // Told once: an established session does not keep its ICRQ/ICCN details (~0.25 KB, issue #9).
    this.up = UP_TOLD
  }

  private finish(down: Pick<SessionDownEvent, 'reason' | 'by' | 'result'>): void {
    const established = this.state === 'Established'
    this.state = 'Closed'
    this.deadline = Infinity
    this.host.emit({ type: 'session-down', ...this.ref(), ...down, established })
  }

  private ref(): SessionRef {
    return { ...this.host.tunnelRef(), sessionId: this.id, peerSessionId: this.peerSessionId }
  }
}
