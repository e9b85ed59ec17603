/**
 * The PPP option-negotiation automaton (RFC 1661 section 4), shared by LCP,
 * IPCP and IPV6CP: states, events, actions, the Restart timer and counters
 * (4.6), Max-Failure, identifiers (5.1-5.4) and Terminate/Code-Reject
 * handling. Sans-IO: it never reads a clock or touches a socket. Time comes in
 * as `now` (seconds); the owner wakes it at `pollTimeout()` with
 * `handleTimeout(now)` and drains `pollTransmit()` and `pollEvent()`.
 *
 * The protocol-specific part (which options, which values) is an
 * `OptionPolicy`; the automaton only sees option bytes. It does not use the
 * packet codec: the owner decodes the PPP frame into a `ConfigPacket` (code,
 * identifier, data after the 4-byte header) and encodes what comes out.
 *
 * RFC 1661 4.1, State Transition Table (the spec this file implements; the
 * same table, typed, is `TRANSITIONS` below):
 *
 *       | State
 *       |    0         1         2         3         4         5
 * Events| Initial   Starting  Closed    Stopped   Closing   Stopping
 * ------+-----------------------------------------------------------
 *  Up   |    2     irc,scr/6     -         -         -         -
 *  Down |    -         -         0       tls/1       0         1
 *  Open |  tls/1       1     irc,scr/6     3r        5r        5r
 *  Close|    0       tlf/0       2         2         4         4
 *       |
 *   TO+ |    -         -         -         -       str/4     str/5
 *   TO- |    -         -         -         -       tlf/2     tlf/3
 *       |
 *  RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
 *  RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
 *  RCA  |    -         -       sta/2     sta/3       4         5
 *  RCN  |    -         -       sta/2     sta/3       4         5
 *       |
 *  RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
 *  RTA  |    -         -         2         3       tlf/2     tlf/3
 *       |
 *  RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
 *  RXJ+ |    -         -         2         3         4         5
 *  RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
 *       |
 *  RXR  |    -         -         2         3         4         5
 *
 *       | State
 *       |    6         7         8           9
 * Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
 * ------+-----------------------------------------
 *  Up   |    -         -         -           -
 *  Down |    1         1         1         tld/1
 *  Open |    6         7         8           9r
 *  Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
 *       |
 *   TO+ |  scr/6     scr/6     scr/8         -
 *   TO- |  tlf/3p    tlf/3p    tlf/3p        -
 *       |
 *  RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 *  RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
 *  RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 *  RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
 *       |
 *  RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
 *  RTA  |    6         6         8       tld,scr/6
 *       |
 *  RUC  |  scj/6     scj/7     scj/8       scj/9
 *  RXJ+ |    6         6         8           9
 *  RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
 *       |
 *  RXR  |    6         7         8         ser/9
 *
 *    [p] Passive option; see Stopped state discussion.
 *    [r] Restart option; see Open event discussion.
 *    [x] Crossed connection; see RCA event discussion.
 *
 * Interpretations (the table leaves these to the implementation):
 * - [p] and [r] are not taken: TO- in Req-Sent/Ack-Rcvd/Ack-Sent does tlf
 *   (right for switched links such as L2TP sessions), and Open in
 *   Stopped/Opened is no restart (the owner calls down() and up() to force
 *   renegotiation, as 4.3 "Open" suggests).
 * - A Configure-Ack/Nak/Reject is valid only if its Identifier is that of the
 *   last Configure-Request sent and no valid reply to that transmission has
 *   been taken yet (RFC 1661 5.2-5.4 "silently discarded"; pppd's
 *   `seen_ack`); a Configure-Ack must also repeat our options exactly (5.2).
 *   Every entry into Ack-Rcvd and Opened follows a valid Ack, so the RCA/RCN
 *   cells of Ack-Rcvd and Opened ([x], a crossed connection) cannot be reached
 *   through `receive()`: a duplicated Ack is discarded instead of taking an
 *   Opened link down. The cells are kept in `TRANSITIONS` as the RFC gives them.
 * - The same check applies in Closed/Stopped/Closing/Stopping, so sta/2 and
 *   sta/3 answer only a reply to a request we actually sent.
 * - Configure-Request in Initial/Starting, Code-Reject there, and the other
 *   `-` cells are counted in `counters.illegalEvents` and change nothing.
 * - The Restart counter is decremented by each scr and str (pppd); TO+ means
 *   counter > 0 when the timer expires. With Max-Configure 10 that is 10
 *   Configure-Requests, then TO-. zrc sets it to 0 and starts the timer
 *   (4.4 "MUST set the timeout period"), so Stopping ends after one period.
 * - scr on TO+ retransmits the same request with the same Identifier; every
 *   other scr builds a new request with a new Identifier (5.1). The same for
 *   str. sca/scn/sta echo the Identifier of the packet they answer.
 * - A new negotiation (scr from a state other than Req-Sent, Ack-Rcvd,
 *   Ack-Sent) calls `policy.reset()` first and clears the Max-Failure count.
 *   For RCR in Stopped and Opened that happens before the request is checked.
 * - Max-Failure (4.6): after `maxFailure` Configure-Naks sent without a
 *   Configure-Ack in between, a Nak verdict becomes a Configure-Reject of the
 *   peer's options whose types the Nak named, copied as received. If the Nak
 *   named only options the peer did not send (there is nothing to reject),
 *   the automaton closes instead of Nak-ing forever.
 * - A Configure-Nak/Reject the policy cannot honour (`onNak`/`onReject`
 *   returning false) is an administrative Close with a reason.
 * - RXJ: a Code-Reject of codes 1-7 is catastrophic (RXJ-), of any other code
 *   permitted (RXJ+) (4.3). Protocol-Reject is decoded by LCP's owner, who calls
 *   `receiveReject('protocol', ...)` on the automaton concerned.
 */
import { ownCopy } from '../util/buffers.js'
import { NONE, pushed } from '../util/queues.js'

/** States in RFC 1661 order 0..9; the names follow STYLE.md (`ReqSent`, `AckRcvd`). */
export type AutomatonState = 'Initial' | 'Starting' | 'Closed' | 'Stopped' | 'Closing' | 'Stopping' | 'ReqSent' | 'AckRcvd' | 'AckSent' | 'Opened'

export const STATES: readonly AutomatonState[] = ['Initial', 'Starting', 'Closed', 'Stopped', 'Closing', 'Stopping', 'ReqSent', 'AckRcvd', 'AckSent', 'Opened']

/** The events of RFC 1661 4.3. */
export type FsmEvent = 'Up' | 'Down' | 'Open' | 'Close' | 'TO+' | 'TO-' | 'RCR+' | 'RCR-' | 'RCA' | 'RCN' | 'RTR' | 'RTA' | 'RUC' | 'RXJ+' | 'RXJ-' | 'RXR'

export const EVENTS: readonly FsmEvent[] = ['Up', 'Down', 'Open', 'Close', 'TO+', 'TO-', 'RCR+', 'RCR-', 'RCA', 'RCN', 'RTR', 'RTA', 'RUC', 'RXJ+', 'RXJ-', 'RXR']

/** The actions of RFC 1661 4.4. */
export type FsmAction = 'tlu' | 'tld' | 'tls' | 'tlf' | 'irc' | 'zrc' | 'scr' | 'sca' | 'scn' | 'str' | 'sta' | 'scj' | 'ser'

/** One cell of the table: actions in the order they are taken, then the new state. */
export interface Transition {
  readonly actions: readonly FsmAction[]
  readonly next: AutomatonState
}

/** Codes of RFC 1661 5 that the automaton itself handles. */
const CONFIGURE_REQUEST = 1
const CONFIGURE_ACK = 2
const CONFIGURE_NAK = 3
const CONFIGURE_REJECT = 4
const TERMINATE_REQUEST = 5
const TERMINATE_ACK = 6
const CODE_REJECT = 7

/** A control packet of LCP/IPCP/IPV6CP: the header fields and the bytes after the 4-byte header. */
export interface ConfigPacket {
  /** 1 Configure-Request, 2 Ack, 3 Nak, 4 Reject, 5 Terminate-Request, 6 Terminate-Ack, 7 Code-Reject; LCP adds 8-11 and more. */
  code: number
  identifier: number
  data: Buffer
}

/** What the policy makes of the peer's Configure-Request. */
export type RequestVerdict = { verdict: 'ack' } | { verdict: 'nak'; options: Buffer } | { verdict: 'reject'; options: Buffer }

/**
 * What the policy makes of a packet whose code is not 1-7: an unknown code
 * (RUC, answered with Code-Reject), Echo/Discard (RXR; `reply`, such as an
 * Echo-Reply, is sent only in Opened), a Protocol-Reject (RXJ+/RXJ-), or
 * something the policy handled itself ('none').
 */
export type ExtensionResult = { event: 'RUC' } | { event: 'RXR'; reply?: ConfigPacket } | { event: 'RXJ+' } | { event: 'RXJ-' } | { event: 'none' }

/** The protocol-specific part: LCP options, IPCP addresses, IPV6CP interface identifiers. */
export interface OptionPolicy {
  /** Our Configure-Request options (encoded), given what the peer Nak'd/Rejected so far. */
  buildRequest(): Buffer
  /** The peer's Configure-Request options: all acceptable, some with other values (Nak, with the options to send back), or unacceptable (Reject, with the options as received). */
  checkRequest(options: Buffer): RequestVerdict
  /** The peer Acked our request: these options are now in force for our side. */
  onAck(options: Buffer): void
  /** The peer Nak'd our request: adjust what buildRequest() returns next. False when it cannot be honoured: the automaton closes. */
  onNak(options: Buffer): boolean
  /** The peer Rejected options of our request: stop sending them. False when a required option was rejected: the automaton closes. */
  onReject(options: Buffer): boolean
  /** A new negotiation starts (after Opened, Stopped, Closed, Starting): go back to the initial wishes. */
  reset?(): void
  /** Codes beyond 1-7 (LCP: Protocol-Reject, Echo, Discard, Identification, ...). Without it every such code is RUC. */
  handleExtension?(packet: ConfigPacket): ExtensionResult
  /** The peer Code-Rejected one of our codes: stop sending it (RFC 1661 5.6). */
  onCodeReject?(rejectedCode: number): void
}

export interface AutomatonOptions {
  /** Restart timer in seconds (RFC 1661 4.6: 3). */
  restartTimer?: number
  /** Configure-Requests sent before giving up (10). */
  maxConfigure?: number
  /** Terminate-Requests sent before giving up (2). */
  maxTerminate?: number
  /** Configure-Naks sent without an Ack before Nak becomes Reject (5). */
  maxFailure?: number
  /** The identifier the first packet we originate gets, minus one (0). */
  initialIdentifier?: number
}

/** The restart timer and the three counters' limits, as an automaton keeps them. */
type Limits = Readonly<{ restartTimer: number; maxConfigure: number; maxTerminate: number; maxFailure: number }>
/** RFC 1661's suggested values: one object every automaton without options of its own shares (four fields less per automaton, issue #9). */
const DEFAULT_LIMITS: Limits = Object.freeze({ restartTimer: 3, maxConfigure: 10, maxTerminate: 2, maxFailure: 5 })

function limitsOf(o: AutomatonOptions): Limits {
  if (o.restartTimer === undefined && o.maxConfigure === undefined && o.maxTerminate === undefined && o.maxFailure === undefined) return DEFAULT_LIMITS
  const d = DEFAULT_LIMITS
  return { restartTimer: o.restartTimer ?? d.restartTimer, maxConfigure: o.maxConfigure ?? d.maxConfigure, maxTerminate: o.maxTerminate ?? d.maxTerminate, maxFailure: o.maxFailure ?? d.maxFailure }
}

/** What happened, for the layer above and below (RFC 1661 4.4). */
export interface AutomatonEvent {
  type: 'this-layer-up' | 'this-layer-down' | 'this-layer-started' | 'this-layer-finished'
  reason?: string
}

export interface AutomatonCounters {
  /** Events the table marks `-` (cannot happen), ignored. */
  illegalEvents: number
  /** Configure-Ack/Nak/Reject discarded: stale or unknown identifier, or an Ack not repeating our options. */
  discardedReplies: number
}

function to(next: AutomatonState, ...actions: FsmAction[]): Transition {
  return { actions, next }
}
const _ = undefined

/** RFC 1661 4.1, indexed by event, then by state number (0 Initial .. 9 Opened). `undefined` is `-`. */
export const TRANSITIONS: Readonly<Record<FsmEvent, readonly (Transition | undefined)[]>> = {
  // each row: 0 Initial, 1 Starting, 2 Closed, 3 Stopped, 4 Closing, 5 Stopping, 6 ReqSent, 7 AckRcvd, 8 AckSent, 9 Opened
  Up: [to('Closed'), to('ReqSent', 'irc', 'scr'), _, _, _, _, _, _, _, _],
  Down: [_, _, to('Initial'), to('Starting', 'tls'), to('Initial'), to('Starting'), to('Starting'), to('Starting'), to('Starting'), to('Starting', 'tld')],
  Open: [to('Starting', 'tls'), to('Starting'), to('ReqSent', 'irc', 'scr'), to('Stopped'), to('Stopping'), to('Stopping'), to('ReqSent'), to('AckRcvd'), to('AckSent'), to('Opened')],
  Close: [to('Initial'), to('Initial', 'tlf'), to('Closed'), to('Closed'), to('Closing'), to('Closing'), to('Closing', 'irc', 'str'), to('Closing', 'irc', 'str'), to('Closing', 'irc', 'str'), to('Closing', 'tld', 'irc', 'str')],
  'TO+': [_, _, _, _, to('Closing', 'str'), to('Stopping', 'str'), to('ReqSent', 'scr'), to('ReqSent', 'scr'), to('AckSent', 'scr'), _],
  'TO-': [_, _, _, _, to('Closed', 'tlf'), to('Stopped', 'tlf'), to('Stopped', 'tlf'), to('Stopped', 'tlf'), to('Stopped', 'tlf'), _],
  'RCR+': [_, _, to('Closed', 'sta'), to('AckSent', 'irc', 'scr', 'sca'), to('Closing'), to('Stopping'), to('AckSent', 'sca'), to('Opened', 'sca', 'tlu'), to('AckSent', 'sca'), to('AckSent', 'tld', 'scr', 'sca')],
  'RCR-': [_, _, to('Closed', 'sta'), to('ReqSent', 'irc', 'scr', 'scn'), to('Closing'), to('Stopping'), to('ReqSent', 'scn'), to('AckRcvd', 'scn'), to('ReqSent', 'scn'), to('ReqSent', 'tld', 'scr', 'scn')],
  RCA: [_, _, to('Closed', 'sta'), to('Stopped', 'sta'), to('Closing'), to('Stopping'), to('AckRcvd', 'irc'), to('ReqSent', 'scr'), to('Opened', 'irc', 'tlu'), to('ReqSent', 'tld', 'scr')],
  RCN: [_, _, to('Closed', 'sta'), to('Stopped', 'sta'), to('Closing'), to('Stopping'), to('ReqSent', 'irc', 'scr'), to('ReqSent', 'scr'), to('AckSent', 'irc', 'scr'), to('ReqSent', 'tld', 'scr')],
  RTR: [_, _, to('Closed', 'sta'), to('Stopped', 'sta'), to('Closing', 'sta'), to('Stopping', 'sta'), to('ReqSent', 'sta'), to('ReqSent', 'sta'), to('ReqSent', 'sta'), to('Stopping', 'tld', 'zrc', 'sta')],
  RTA: [_, _, to('Closed'), to('Stopped'), to('Closed', 'tlf'), to('Stopped', 'tlf'), to('ReqSent'), to('ReqSent'), to('AckSent'), to('ReqSent', 'tld', 'scr')],
  RUC: [_, _, to('Closed', 'scj'), to('Stopped', 'scj'), to('Closing', 'scj'), to('Stopping', 'scj'), to('ReqSent', 'scj'), to('AckRcvd', 'scj'), to('AckSent', 'scj'), to('Opened', 'scj')],
  'RXJ+': [_, _, to('Closed'), to('Stopped'), to('Closing'), to('Stopping'), to('ReqSent'), to('ReqSent'), to('AckSent'), to('Opened')],
  'RXJ-': [_, _, to('Closed', 'tlf'), to('Stopped', 'tlf'), to('Closed', 'tlf'), to('Stopped', 'tlf'), to('Stopped', 'tlf'), to('Stopped', 'tlf'), to('Stopped', 'tlf'), to('Stopping', 'tld', 'irc', 'str')],
  RXR: [_, _, to('Closed'), to('Stopped'), to('Closing'), to('Stopping'), to('ReqSent'), to('AckRcvd'), to('AckSent'), to('Opened', 'ser')],
}

/** States in which the Restart timer runs (RFC 1661 4.2). */
const TIMER_STATES: ReadonlySet<AutomatonState> = new Set(['Closing', 'Stopping', 'ReqSent', 'AckRcvd', 'AckSent'])
/** States in which a Configure-Request of ours is being negotiated. */
const NEGOTIATING: ReadonlySet<AutomatonState> = new Set(['ReqSent', 'AckRcvd', 'AckSent'])

/** What a transition's actions need from the event that caused it. */
interface Cause {
  /** The received packet (sca/scn/sta echo its identifier; scj copies it). */
  packet?: ConfigPacket
  /** scn: Configure-Nak or Configure-Reject, and its options. */
  reply?: { code: number; options: Buffer }
  /** ser: the policy's answer to Echo-Request. */
  echoReply?: ConfigPacket
  /** Why, for tld/tlf and the Terminate-Request data. */
  reason?: string
  /** policy.reset() already ran for this event (RCR in Stopped/Opened). */
  resetDone?: boolean
}

/** Options in the RFC 1661 6 layout: Type, Length (including both), Data. Undefined when malformed. */
function splitOptions(options: Buffer): Buffer[] | undefined {
  const out: Buffer[] = []
  for (let at = 0; at < options.length; ) {
    const length = options[at + 1]
    if (length === undefined || length < 2 || at + length > options.length) return undefined
    out.push(options.subarray(at, at + length))
    at += length
  }
  return out
}

/** Printable text of a peer's Terminate-Request data, for logs. */
function printable(data: Buffer): string {
  return data.subarray(0, 64).toString('latin1').replace(/[^\x20-\x7e]/g, '?')
}

export class Automaton {
  readonly name: string
  // Counters as fields, read through `counters`: not an object of their own per automaton (~40 B, issue #9).
  #illegalEvents = 0
  #discardedReplies = 0
  /** The peer's MRU: a Code-Reject is truncated to fit (RFC 1661 5.6). LCP sets it once negotiated. */
  peerMru = 1500

  readonly #policy: OptionPolicy
  readonly #limits: Limits

  #state: AutomatonState = 'Initial'
  #restartCounter = 0
  #deadline: number | undefined
  /** Configure-Naks sent since the last Configure-Ack sent (Max-Failure). */
  #naksSent = 0
  #lastIdentifier: number
  /** Our last Configure-Request: its identifier and options, and whether a valid reply to it was taken. */
  #request: { identifier: number; options: Buffer; answered: boolean } | undefined
  #terminate: { identifier: number; data: Buffer } | undefined
  /** Why Closing/Stopping was entered: the reason this-layer-finished reports when it ends. */
  #terminationReason: string | undefined
  // The shared empty array while empty (lib/util/queues.ts): an idle automaton holds no queue of its own.
  #transmit: ConfigPacket[] = NONE
  #events: AutomatonEvent[] = NONE

  constructor(name: string, policy: OptionPolicy, options: AutomatonOptions = {}) {
    this.name = name
    this.#policy = policy
    this.#limits = limitsOf(options)
    this.#lastIdentifier = (options.initialIdentifier ?? 0) & 0xff
  }

  get counters(): Readonly<AutomatonCounters> {
    return { illegalEvents: this.#illegalEvents, discardedReplies: this.#discardedReplies }
  }

  get state(): AutomatonState {
    return this.#state
  }

  /** The Restart counter (RFC 1661 4.6), for diagnostics and tests. */
  get restartCounter(): number {
    return this.#restartCounter
  }

  /** The lower layer is up. */
  up(now: number): void {
    this.#dispatch('Up', now, {})
  }

  /** The lower layer went down. */
  down(now: number): void {
    this.#dispatch('Down', now, { reason: 'lower layer down' })
  }

  /** Administrative Open: negotiate when the lower layer is up. */
  open(now: number): void {
    this.#dispatch('Open', now, {})
  }

  /** Administrative Close; `reason` goes into the Terminate-Request and the events. */
  close(now: number, reason = 'administrative close'): void {
    this.#dispatch('Close', now, { reason })
  }

  /** A packet of this protocol from the peer. */
  receive(packet: ConfigPacket, now: number): void {
    switch (packet.code) {
      case CONFIGURE_REQUEST:
        return this.#receiveConfigureRequest(packet, now)
      case CONFIGURE_ACK:
        return this.#receiveConfigureAck(packet, now)
      case CONFIGURE_NAK:
      case CONFIGURE_REJECT:
        return this.#receiveConfigureNakReject(packet, now)
      case TERMINATE_REQUEST:
        return this.#dispatch('RTR', now, { packet, reason: `peer sent Terminate-Request${packet.data.length ? `: ${printable(packet.data)}` : ''}` })
      case TERMINATE_ACK:
        return this.#dispatch('RTA', now, { packet, reason: 'peer sent Terminate-Ack' })
      case CODE_REJECT: {
        const rejected = packet.data[0]
        if (rejected === undefined) return this.#illegal()
        if (rejected < CONFIGURE_REQUEST || rejected > CODE_REJECT) this.#policy.onCodeReject?.(rejected)
        const catastrophic = rejected >= CONFIGURE_REQUEST && rejected <= CODE_REJECT
        return this.#dispatch(catastrophic ? 'RXJ-' : 'RXJ+', now, { packet, reason: `peer sent Code-Reject of code ${rejected}` })
      }
      default: {
        const result: ExtensionResult = this.#policy.handleExtension?.(packet) ?? { event: 'RUC' }
        switch (result.event) {
          case 'none':
            return
          case 'RUC':
            return this.#dispatch('RUC', now, { packet })
          case 'RXR':
            return this.#dispatch('RXR', now, result.reply ? { packet, echoReply: result.reply } : { packet })
          case 'RXJ+':
          case 'RXJ-':
            return this.#dispatch(result.event, now, { packet, reason: 'peer sent Protocol-Reject' })
        }
      }
    }
  }

  /**
   * RXJ+/RXJ- (RFC 1661 4.3): a Code-Reject or Protocol-Reject the owner
   * decoded. Catastrophic: a Code-Reject of a code we need, or a
   * Protocol-Reject of this protocol (LCP's owner sends an NCP's to the NCP).
   */
  receiveReject(kind: 'code' | 'protocol', catastrophic: boolean, now: number): void {
    this.#dispatch(catastrophic ? 'RXJ-' : 'RXJ+', now, { reason: `peer sent ${kind === 'code' ? 'Code-Reject' : 'Protocol-Reject'}` })
  }

  /** Call at or after `pollTimeout()`; an early call does nothing. */
  handleTimeout(now: number): void {
    if (this.#deadline === undefined || now < this.#deadline) return
    this.#deadline = undefined
    if (this.#restartCounter > 0) return this.#dispatch('TO+', now, {})
    const waiting = this.#state === 'Closing' || this.#state === 'Stopping' ? 'Terminate-Ack' : 'answer to Configure-Request'
    this.#dispatch('TO-', now, { reason: `no ${waiting} from peer` })
  }

  /** When the Restart timer expires (seconds, same clock as `now`), or undefined when it is not running. */
  pollTimeout(): number | undefined {
    return this.#deadline
  }

  pollTransmit(): ConfigPacket | undefined {
    if (this.#transmit.length === 0) return undefined
    const packet = this.#transmit.shift()
    if (this.#transmit.length === 0) this.#transmit = NONE
    return packet
  }

  pollEvent(): AutomatonEvent | undefined {
    if (this.#events.length === 0) return undefined
    const event = this.#events.shift()
    if (this.#events.length === 0) this.#events = NONE
    return event
  }

  // --- receive -------------------------------------------------------------

  #receiveConfigureRequest(packet: ConfigPacket, now: number): void {
    const state = this.#state
    if (state === 'Initial' || state === 'Starting') return this.#illegal()
    // Closed answers sta, Closing/Stopping ignore: the options need no check (pppd does the same).
    if (state === 'Closed' || state === 'Closing' || state === 'Stopping') return this.#dispatch('RCR+', now, { packet })
    const cause: Cause = { packet, reason: 'peer sent Configure-Request' }
    if (state === 'Stopped' || state === 'Opened') {
      // Both cells start a new negotiation (scr): reset before judging the request.
      this.#beginNegotiation()
      cause.resetDone = true
    }
    const verdict = this.#policy.checkRequest(packet.data)
    if (verdict.verdict === 'ack') return this.#dispatch('RCR+', now, cause)
    if (verdict.verdict === 'reject') return this.#dispatch('RCR-', now, { ...cause, reply: { code: CONFIGURE_REJECT, options: verdict.options } })
    if (this.#naksSent < this.#limits.maxFailure) {
      this.#naksSent++
      return this.#dispatch('RCR-', now, { ...cause, reply: { code: CONFIGURE_NAK, options: verdict.options } })
    }
    // RFC 1661 4.6 Max-Failure: not converging, so reject what we kept Nak-ing.
    const rejected = this.#rejectInsteadOfNak(packet.data, verdict.options)
    if (rejected === undefined) return this.close(now, `${this.name} negotiation does not converge (Max-Failure ${this.#limits.maxFailure})`)
    this.#dispatch('RCR-', now, { ...cause, reply: { code: CONFIGURE_REJECT, options: rejected } })
  }

  /** The peer's options whose types our Nak named, as the peer sent them. */
  #rejectInsteadOfNak(requested: Buffer, nak: Buffer): Buffer | undefined {
    const theirs = splitOptions(requested)
    const named = splitOptions(nak)
    if (!theirs || !named) return undefined
    const types = new Set(named.map((option) => option[0]))
    const rejected = theirs.filter((option) => types.has(option[0]))
    return rejected.length ? Buffer.concat(rejected) : undefined
  }

  /** RFC 1661 5.2-5.4: a reply must carry the identifier of our last Configure-Request and be the first valid reply to it. */
  #validReply(packet: ConfigPacket): boolean {
    const request = this.#request
    if (!request || request.answered || packet.identifier !== request.identifier) return false
    // 5.2: "the Configuration Options in a Configure-Ack MUST exactly match those of the last Configure-Request"
    if (packet.code === CONFIGURE_ACK && !packet.data.equals(request.options)) return false
    return true
  }

  #receiveConfigureAck(packet: ConfigPacket, now: number): void {
    if (this.#state === 'Initial' || this.#state === 'Starting') return this.#illegal()
    if (!this.#validReply(packet)) {
      this.#discardedReplies++
      return
    }
    this.#request!.answered = true
    if (NEGOTIATING.has(this.#state) || this.#state === 'Opened') this.#policy.onAck(packet.data)
    this.#dispatch('RCA', now, { packet, reason: 'peer sent Configure-Ack' })
  }

  #receiveConfigureNakReject(packet: ConfigPacket, now: number): void {
    if (this.#state === 'Initial' || this.#state === 'Starting') return this.#illegal()
    if (!this.#validReply(packet)) {
      this.#discardedReplies++
      return
    }
    this.#request!.answered = true
    const nak = packet.code === CONFIGURE_NAK
    if (NEGOTIATING.has(this.#state) || this.#state === 'Opened') {
      const honoured = nak ? this.#policy.onNak(packet.data) : this.#policy.onReject(packet.data)
      if (!honoured) return this.close(now, `${this.name}: peer ${nak ? "Nak'd" : 'rejected'} options we cannot do without`)
    }
    this.#dispatch('RCN', now, { packet, reason: `peer sent Configure-${nak ? 'Nak' : 'Reject'}` })
  }

  // --- the table -----------------------------------------------------------

  #illegal(): void {
    this.#illegalEvents++
  }

  #dispatch(event: FsmEvent, now: number, cause: Cause): void {
    const from = this.#state
    const cell = TRANSITIONS[event][STATES.indexOf(from)]
    if (!cell) return this.#illegal()
    for (const action of cell.actions) this.#act(action, cell, event, from, now, cause)
    this.#state = cell.next
    // Opened: our request was Acked, and a reply to it is discarded as to none (5.2 wants the first valid one);
    // the next negotiation makes a fresh request. Not kept for the link's life (~0.24 KB an automaton, issue #9).
    if (cell.next === 'Opened') this.#request = undefined
    if ((cell.next === 'Closing' || cell.next === 'Stopping') && from !== 'Closing' && from !== 'Stopping') this.#terminationReason = cause.reason
    if (!TIMER_STATES.has(cell.next)) this.#deadline = undefined
  }

  #act(action: FsmAction, cell: Transition, event: FsmEvent, from: AutomatonState, now: number, cause: Cause): void {
    switch (action) {
      case 'tlu':
        return this.#emit({ type: 'this-layer-up' })
      case 'tld':
        return this.#emit(cause.reason ? { type: 'this-layer-down', reason: cause.reason } : { type: 'this-layer-down' })
      case 'tls':
        return this.#emit({ type: 'this-layer-started' })
      case 'tlf': {
        const reason = (from === 'Closing' || from === 'Stopping' ? this.#terminationReason : undefined) ?? cause.reason
        return this.#emit(reason ? { type: 'this-layer-finished', reason } : { type: 'this-layer-finished' })
      }
      case 'irc':
        // "set to Max-Terminate or Max-Configure as appropriate": Max-Terminate when this transition sends a Terminate-Request.
        this.#restartCounter = cell.actions.includes('str') ? this.#limits.maxTerminate : this.#limits.maxConfigure
        return
      case 'zrc':
        this.#restartCounter = 0
        this.#deadline = now + this.#limits.restartTimer
        return
      case 'scr':
        return this.#sendConfigureRequest(now, event === 'TO+', !NEGOTIATING.has(from) && !cause.resetDone)
      case 'sca':
        this.#naksSent = 0
        return this.#send({ code: CONFIGURE_ACK, identifier: cause.packet!.identifier, data: cause.packet!.data })
      case 'scn':
        return this.#send({ code: cause.reply!.code, identifier: cause.packet!.identifier, data: cause.reply!.options })
      case 'str':
        return this.#sendTerminateRequest(now, event === 'TO+', cause.reason)
      case 'sta':
        return this.#send({ code: TERMINATE_ACK, identifier: cause.packet?.identifier ?? this.#newIdentifier(), data: Buffer.alloc(0) })
      case 'scj': {
        // 5.6: the rejected packet from its Code field on, truncated to the peer's MRU.
        const packet = cause.packet!
        const header = Buffer.from([packet.code, packet.identifier, 0, 0])
        header.writeUInt16BE(4 + packet.data.length, 2)
        const rejected = Buffer.concat([header, packet.data]).subarray(0, Math.max(0, this.peerMru - 4))
        return this.#send({ code: CODE_REJECT, identifier: this.#newIdentifier(), data: rejected })
      }
      case 'ser':
        if (cause.echoReply) this.#send(cause.echoReply)
        return
    }
  }

  #beginNegotiation(): void {
    this.#policy.reset?.()
    this.#naksSent = 0
  }

  #sendConfigureRequest(now: number, retransmit: boolean, fresh: boolean): void {
    if (fresh) this.#beginNegotiation()
    if (!retransmit || !this.#request) {
      // Kept until the next negotiation: memory of its own, not a pool slice (lib/util/buffers.ts).
      this.#request = { identifier: this.#newIdentifier(), options: ownCopy(this.#policy.buildRequest()), answered: false }
    }
    // A retransmission keeps its identifier (5.1) and may be answered anew.
    this.#request.answered = false
    this.#restartCounter = Math.max(0, this.#restartCounter - 1)
    this.#deadline = now + this.#limits.restartTimer
    this.#send({ code: CONFIGURE_REQUEST, identifier: this.#request.identifier, data: this.#request.options })
  }

  #sendTerminateRequest(now: number, retransmit: boolean, reason: string | undefined): void {
    if (!retransmit || !this.#terminate) {
      this.#terminate = { identifier: this.#newIdentifier(), data: Buffer.from(reason ?? '', 'utf8').subarray(0, 64) }
    }
    this.#restartCounter = Math.max(0, this.#restartCounter - 1)
    this.#deadline = now + this.#limits.restartTimer
    this.#send({ code: TERMINATE_REQUEST, identifier: this.#terminate.identifier, data: this.#terminate.data })
  }

  #newIdentifier(): number {
    this.#lastIdentifier = (this.#lastIdentifier + 1) & 0xff
    return this.#lastIdentifier
  }

  #send(packet: ConfigPacket): void {
    this.#transmit = pushed(this.#transmit, packet)
  }

  #emit(event: AutomatonEvent): void {
    this.#events = pushed(this.#events, event)
  }
}
