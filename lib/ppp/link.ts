/**
 * One PPP link (RFC 1661 3), the one carried by an L2TP session: the phases
 * Dead → Establish → Authenticate → Network → Terminate, with LCP, the
 * authentication exchange, IPCP and (optionally) IPV6CP, as the server (the
 * authenticator, which assigns addresses) or as our client.
 *
 * Sans-IO, like every core here (DESIGN.md): frames in with
 * `receive(frame, now)`, frames out with `pollTransmit()`, timers through
 * `nextTimeout()` / `handleTimeout(now)`, what happened through
 * `pollEvent()`. Time is seconds on the owner's clock; randomness is
 * injected. The Authenticator's promise is awaited by the owner: the link
 * emits `auth-request` { id, request } and takes the answer with
 * `authResult(id, result, now)`; the address pool is a synchronous injected
 * function (`assignAddress`, e.g. `Ipv4Pool.allocate`).
 *
 *   const link = new PppLink({ role: 'server', localAddress: '192.168.42.1',
 *     dns: ['192.168.42.1'], peer, assignAddress: (r) => pool.allocate({ user: r.user,
 *     now, requested: r.requested, fixed: r.policy.address }) })
 *   link.open(now)
 *   ... link.receive(frame, now); for (let f; (f = link.pollTransmit()); ) send(f)
 *   ... event auth-request: authenticator.authenticate(e.request).then((r) => link.authResult(e.id, r, clock()))
 *   ... event up: install the session in the data plane (address, acfc/pfc, peerMru)
 *   ... event down: remove it, release `address`; keep draining pollTransmit()
 *       until `phase` is 'Dead' to finish the Terminate handshake
 *
 * Client quirks this follows (../shared/CLIENTS.md):
 * - iOS/macOS discard everything but LCP until LCP is Opened in both
 *   directions: we always send our own Configure-Request at once, and the
 *   server's first Challenge leaves only after LCP is Opened (its
 *   Configure-Ack sent and ours received). Our client likewise discards
 *   authentication and NCP packets before then (RFC 1661 3.4, 3.5).
 * - Windows offers MRRU 1614 (multilink): Configure-Rejected (lib/ppp/lcp.ts).
 * - Peer MRUs 1270..1500 are accepted; Echo-Replies and Protocol-Rejects
 *   never exceed the peer's MRU (accel-ppp#204).
 * - Servers run with `noccp`: CCP (and any protocol we do not run) gets an
 *   LCP Protocol-Reject (RFC 1661 5.7) once in the Network phase, as pppd
 *   does for a disabled protocol; before it, such frames are discarded
 *   (RFC 1661 3.5).
 * - LCP renegotiated by the peer before authentication succeeded (a lost
 *   Configure-Ack: the peer retransmits its request after we reached
 *   Opened) sends the link back to Establish, and authentication starts over
 *   once LCP is Opened again; in the Network phase a renegotiation ends the
 *   session.
 * - A peer that Code-Rejects Echo-Request gets no more of them (instead of
 *   an 'echo timeout').
 *
 * LCP keepalive may be handed over (`offloadEcho`): the server's data plane
 * answers and sends the echoes of an established session by the same rules
 * (crates/dataplane/src/ppp/echo.rs) and the link runs no echo timer; our
 * client keeps its own.
 *
 * Frames we send always carry FF 03 and a two-byte protocol: a receiver
 * must accept them whatever was negotiated (RFC 1661 6.5, 6.6). `acfc` and
 * `pfc` in the `up` event say what the peer accepts, for the data plane.
 */
import { Automaton, type AutomatonEvent, type AutomatonState, type ConfigPacket } from './automaton.js'
import { AuthClient, type AuthClientEvent } from './auth-client.js'
import { AuthServer, type AuthPacket, type AuthServerEvent } from './auth-server.js'
import { decodeFrame, decodeIpcp, decodeIpv6cp, decodeLcp, decodeRawPacket, encodeFrame, encodeRawPacket } from './codec.js'
import { Code, Protocol } from './constants.js'
import { IpcpClientPolicy, IpcpServerPolicy, type AddressAssignment } from './ipcp.js'
import { Ipv6cpPolicy } from './ipv6cp.js'
import { DEFAULT_PEER_MRU_RANGE, LcpPolicy, defaultRandom, type LcpHooks, type LcpNegotiated, type RandomSource } from './lcp.js'
import type { AuthRequest, AuthResult, AuthFailure, Method, MppeKeys, PeerInfo, UserPolicy } from '../auth/types.js'
import { NONE, pushed } from '../util/queues.js'

export type { AddressAssignment } from './ipcp.js'
export type { RandomSource } from './lcp.js'

/** RFC 1661 3.2-3.7. */
export type PppPhase = 'Dead' | 'Establish' | 'Authenticate' | 'Network' | 'Terminate'

/** What `assignAddress` is asked: who, what the peer asked for, and the user's policy (its fixed `address`). */
export interface AddressRequest {
  user: string
  /** The non-zero address in the peer's IP-Address option, if any. */
  requested: string | undefined
  policy: UserPolicy
}

export interface PppLinkOptions {
  role: 'server' | 'client'
  /** Our MRU (default 1400). */
  mru?: number
  /** Peer MRUs accepted, inclusive (default [1270, 1500]). */
  peerMruRange?: readonly [number, number]
  /** Ask the peer for ACFC / PFC (default false: we only accept them). */
  requestAcfc?: boolean
  requestPfc?: boolean
  /**
   * Server: the methods asked for, in order (default
   * ['mschapv2', 'chap-md5', 'pap']). Client: the ones it agrees to
   * (default ['mschapv2', 'chap-md5', 'pap', 'eap'] when user and password
   * are set, else none); a Nak names the first.
   */
  authMethods?: readonly Method[]
  /** Seconds between LCP Echo-Requests once LCP is Opened; 0 turns keepalive off (default 30). */
  echoInterval?: number
  /** Unanswered Echo-Requests after which the link goes down with 'echo timeout' (default 4). */
  echoFailures?: number
  /** Restart timer of LCP/NCPs and auth retransmissions, seconds (RFC 1661 4.6: 3). */
  restartTimer?: number
  /** Max-Configure (10), also the auth retransmission limit. */
  maxConfigure?: number
  /** Max-Terminate (2). */
  maxTerminate?: number
  /** Max-Failure (5). */
  maxFailure?: number
  /** Seconds the Authenticate phase may take, the Authenticator's time included (60). */
  authTimeout?: number
  /** MS-CHAPv2 attempts when the Authenticator's failure allows a retry (3). */
  maxAuthAttempts?: number
  /** Run IPV6CP (default false: IPV6CP is Protocol-Rejected). */
  ipv6?: boolean
  random?: RandomSource

  // --- server
  /** Where the session comes from, passed in every AuthRequest. */
  peer?: PeerInfo
  /** The Name in our CHAP Challenges (default 'l2tp-ipsec'). */
  name?: string
  /** Our end of the link, sent in our IPCP request (required for the server). */
  localAddress?: string
  /** DNS servers offered through IPCP (RFC 1877), at most two. */
  dns?: readonly string[]
  /** NBNS (WINS) servers, at most two. */
  nbns?: readonly string[]
  /** The peer's address, once authenticated (required for the server). Called at most once per session while it succeeds. */
  assignAddress?: (request: AddressRequest) => AddressAssignment

  // --- client
  user?: string
  password?: string
  /** MS-CHAPv2: change to this password when the server says ours expired (E=648, RFC 2759 7). */
  newPassword?: string
  /** MS-CHAPv2: Responses to send again when a Failure says R=1 (default 0). */
  authRetries?: number
  /** The address to ask for (default 0.0.0.0). */
  requestAddress?: string
  /** Ask for DNS servers (default true). */
  requestDns?: boolean
}

/** The link carries IPv4: what the data plane needs. */
export interface PppLinkUpEvent {
  type: 'up'
  /** Server: the canonical user the Authenticator returned. Client: our user name. */
  user: string
  /** The client's address: the one assigned to the peer (server) or to us (client). */
  address: string
  /** The server's end: our gateway address (server) or the server's IP-Address (client), if known. */
  localAddress: string | undefined
  /** DNS servers: offered (server) or obtained (client). */
  dns: string[]
  /** The peer accepts frames without FF 03 / with a 1-byte protocol field. */
  acfc: boolean
  pfc: boolean
  /** Largest frame the peer accepts (information field, RFC 1661 6.1). */
  peerMru: number
  /** Our MRU as negotiated. */
  mru: number
  /** The authentication that was done; undefined when the server asked for none (client). */
  authMethod: Method | undefined
  /** Server: the user's policy from the Authenticator. */
  policy?: UserPolicy
  mppeKeys?: MppeKeys
  /** MS-CHAPv2: the authentication changed an expired password (RFC 2759 7). */
  passwordChanged?: boolean
}

export type PppLinkEvent =
  /** Ask the Authenticator; answer with `authResult(id, result, now)`. */
  | { type: 'auth-request'; id: number; request: AuthRequest }
  /** Authentication succeeded (server: the Authenticator accepted; client: the server accepted us). */
  | { type: 'authenticated'; method: Method; user: string; passwordChanged?: boolean }
  /** An attempt failed; `final` false when an MS-CHAPv2 retry was offered. For logs only: `reason` is never sent to the peer. */
  | { type: 'auth-failed'; method: Method; user: string | undefined; reason: string; final: boolean; failure?: AuthFailure }
  | PppLinkUpEvent
  /** IPV6CP is Opened: interface identifiers as 16 hex digits. */
  | { type: 'ipv6-up'; localInterfaceId: string; peerInterfaceId: string | undefined }
  /** The link no longer carries traffic. Emitted once. `address` (server) is to be released. */
  | { type: 'down'; reason: string; wasUp: boolean; user?: string; address?: string }

/**
 * LCP keepalive handed to someone else (the server's data plane) by
 * `offloadEcho`: what it needs to answer and send Echo-Requests as the link
 * would. Seconds, as the link's clock.
 */
export interface EchoOffload {
  /** Our Magic-Number (0: none negotiated) and the peer's. */
  magic: number
  peerMagic: number
  /** The peer's MRU: an Echo-Reply never exceeds it. */
  peerMru: number
  /** Seconds between Echo-Requests; 0: none (keepalive off, or the peer Code-Rejected them). */
  interval: number
  /** Unanswered Echo-Requests after which the link is lost ('echo timeout'). */
  failures: number
  /** The Identifier of our last Echo-Request and how many are unanswered. */
  identifier: number
  pending: number
  /** Seconds until the next Echo-Request was due. */
  dueIn: number
}

export interface PppLinkCounters {
  /** Frames that did not decode, discarded (RFC 1661 5). */
  malformed: number
  /** Frames discarded because of the phase (non-LCP before Opened, NCPs before Network) or as IP data. */
  discarded: number
  /** Protocol-Rejects sent. */
  protocolRejects: number
}

export type PppLinkErrorCode = 'PPP_BAD_OPTION'

/** A bad constructor option (thrown at configuration time only; the running link never throws). */
export class PppLinkError extends Error {
  override readonly name = 'PppLinkError'
  readonly code: PppLinkErrorCode
  readonly option: string

  constructor(option: string, message: string) {
    super(message)
    this.code = 'PPP_BAD_OPTION'
    this.option = option
  }
}

const AUTH_PROTOCOLS: ReadonlySet<number> = new Set([Protocol.PAP, Protocol.CHAP, Protocol.EAP])
const TERMINATING: ReadonlySet<AutomatonState> = new Set(['Closing', 'Stopping', 'Closed', 'Stopped'])

/**
 * The last Configure-Ack per protocol (LCP, IPCP, IPV6CP): a record of three
 * slots, not a Map; each Ack as a latin1 string, its identifier then its
 * options (~40 B, against ~0.25 KB for a packet record with a Buffer of its
 * own: issue #9). Compared and re-encoded only when a request repeats in Opened.
 */
type LastAcks = { lcp: string | undefined; ipcp: string | undefined; ipv6cp: string | undefined }
const ackSlot = (protocol: number): keyof LastAcks => (protocol === Protocol.LCP ? 'lcp' : protocol === Protocol.IPCP ? 'ipcp' : 'ipv6cp')
/** One flat string (a concatenation would keep a cons string and its two parts). */
function packAck(packet: ConfigPacket): string {
  const bytes = Buffer.allocUnsafe(1 + packet.data.length)
  bytes[0] = packet.identifier
  packet.data.copy(bytes, 1)
  return bytes.toString('latin1')
}

export class PppLink implements LcpHooks {
  readonly role: 'server' | 'client'
  // Counters as fields, read through `counters`: not an object of their own per link (~50 B, issue #9).
  #malformed = 0
  #discarded = 0
  #protocolRejects = 0

  readonly #options: PppLinkOptions
  /** Server: the peer's outer address and IKE identity, for AuthRequest. */
  readonly #peer: PeerInfo | undefined
  readonly #random: RandomSource
  readonly #lcpPolicy: LcpPolicy
  readonly #lcp: Automaton
  readonly #ipcpServer: IpcpServerPolicy | undefined
  readonly #ipcpClient: IpcpClientPolicy | undefined
  readonly #ipcp: Automaton
  readonly #ipv6cpPolicy: Ipv6cpPolicy | undefined
  readonly #ipv6cp: Automaton | undefined
  readonly #echoInterval: number
  readonly #echoFailures: number

  #phase: PppPhase = 'Dead'
  #started = false
  #authServer: AuthServer | undefined
  #authClient: AuthClient | undefined
  #requestIds = 0
  #user: string | undefined
  #policy: UserPolicy | undefined
  #mppeKeys: MppeKeys | undefined
  #authMethod: Method | undefined
  #passwordChanged = false
  /** `up` was emitted (a flag: the event itself goes to the owner, issue #9). */
  #upSent = false
  #downEmitted = false
  /** The reason `down` reports when it differs from what the peer is told (auth failures). */
  #downReason: string | undefined
  #closing = false
  #echoAt: number | undefined
  #echoPending = 0
  #echoIdentifier = 0
  #echoRejected = false
  /** `offloadEcho` handed keepalive over: this Opened LCP sends no Echo-Request itself. */
  #echoOffloaded = false
  #protocolRejectIdentifier = 0
  #rejectedByPeer: number[] = NONE
  /** The last Configure-Ack sent per protocol (LCP, IPCP, IPV6CP), to answer a retransmitted request in Opened. */
  readonly #lastAck: LastAcks = { lcp: undefined, ipcp: undefined, ipv6cp: undefined }
  // The shared empty array while empty (lib/util/queues.ts): an idle link holds no queue of its own.
  #transmit: Buffer[] = NONE
  #events: PppLinkEvent[] = NONE

  /**
   * `peer` may come apart from `options`, so that a server's links share one
   * options object (~0.1 KB less per link, issue #9); it defaults to
   * `options.peer`.
   */
  constructor(options: PppLinkOptions, peer: PeerInfo | undefined = options.peer) {
    this.role = options.role
    this.#options = options
    this.#peer = peer
    this.#random = options.random ?? defaultRandom
    if (options.role !== 'server' && options.role !== 'client') throw new PppLinkError('role', "role must be 'server' or 'client'")
    const mru = options.mru ?? 1400
    if (!Number.isInteger(mru) || mru < 128 || mru > 65535) throw new PppLinkError('mru', `mru must be an integer from 128 to 65535, got ${mru}`)
    const range = options.peerMruRange ?? DEFAULT_PEER_MRU_RANGE
    if (!(range[0] >= 128 && range[0] <= range[1] && range[1] <= 65535)) throw new PppLinkError('peerMruRange', 'peerMruRange must be [low, high] with 128 <= low <= high <= 65535')
    this.#echoInterval = options.echoInterval ?? 30
    this.#echoFailures = options.echoFailures ?? 4
    if (!(this.#echoInterval >= 0)) throw new PppLinkError('echoInterval', 'echoInterval must be >= 0')
    if (!(Number.isInteger(this.#echoFailures) && this.#echoFailures >= 1)) throw new PppLinkError('echoFailures', 'echoFailures must be an integer >= 1')

    let authMethods = options.authMethods
    if (options.role === 'server') {
      if (authMethods !== undefined && authMethods.length === 0) throw new PppLinkError('authMethods', 'the server needs at least one authentication method')
      if (!options.localAddress) throw new PppLinkError('localAddress', 'the server needs localAddress (its end of the link)')
      if (!options.assignAddress) throw new PppLinkError('assignAddress', 'the server needs assignAddress')
      // The limiter keys on (user, source): without the source every peer would share one bucket.
      if (!peer) throw new PppLinkError('peer', 'the server needs peer (the outer address, for AuthRequest)')
    } else {
      const credentials = options.user !== undefined && options.password !== undefined
      authMethods = credentials ? (authMethods ?? ['mschapv2', 'chap-md5', 'pap', 'eap']) : []
    }
    for (const [key, list] of [['dns', options.dns], ['nbns', options.nbns]] as const) {
      if (list && list.length > 2) throw new PppLinkError(key, `${key} takes at most two servers (RFC 1877 has a primary and a secondary)`)
    }

    this.#lcpPolicy = new LcpPolicy({
      role: options.role,
      mru,
      peerMruRange: range,
      ...(authMethods ? { authMethods } : {}),
      requestAcfc: options.requestAcfc ?? false,
      requestPfc: options.requestPfc ?? false,
      random: this.#random,
    })
    // The link is its LCP's hooks: methods, not three closures and an object per link (issue #9).
    this.#lcpPolicy.hooks = this
    const automatonOptions = (): { restartTimer?: number; maxConfigure?: number; maxTerminate?: number; maxFailure?: number; initialIdentifier: number } => ({
      ...(options.restartTimer !== undefined ? { restartTimer: options.restartTimer } : {}),
      ...(options.maxConfigure !== undefined ? { maxConfigure: options.maxConfigure } : {}),
      ...(options.maxTerminate !== undefined ? { maxTerminate: options.maxTerminate } : {}),
      ...(options.maxFailure !== undefined ? { maxFailure: options.maxFailure } : {}),
      initialIdentifier: this.#random(1)[0]!,
    })
    this.#lcp = new Automaton('LCP', this.#lcpPolicy, automatonOptions())
    if (options.role === 'server') {
      this.#ipcpServer = new IpcpServerPolicy({
        localAddress: options.localAddress!,
        dns: options.dns ?? NONE,
        nbns: options.nbns ?? NONE,
        assign: (requested) => this.#assign(requested),
      })
      this.#ipcp = new Automaton('IPCP', this.#ipcpServer, automatonOptions())
    } else {
      this.#ipcpClient = new IpcpClientPolicy({
        ...(options.requestAddress !== undefined ? { requestAddress: options.requestAddress } : {}),
        requestDns: options.requestDns ?? true,
      })
      this.#ipcp = new Automaton('IPCP', this.#ipcpClient, automatonOptions())
    }
    if (options.ipv6) {
      this.#ipv6cpPolicy = new Ipv6cpPolicy({ random: this.#random })
      this.#ipv6cp = new Automaton('IPV6CP', this.#ipv6cpPolicy, automatonOptions())
    }
  }

  // --- LcpHooks: called by this link's LcpPolicy only ------------------------

  /** An Echo-Reply arrived: the peer is alive. */
  onEchoReply(): void {
    this.#echoPending = 0
  }

  /** The peer Protocol-Rejected one of ours: handled in the next pump. */
  onProtocolReject(protocol: number): void {
    this.#rejectedByPeer = pushed(this.#rejectedByPeer, protocol)
  }

  /** The peer Code-Rejected Echo-Request: keepalive stops. */
  onEchoRejected(): void {
    this.#echoRejected = true
    this.#echoAt = undefined
  }

  // --- what the owner reads -------------------------------------------------

  get counters(): Readonly<PppLinkCounters> {
    return { malformed: this.#malformed, discarded: this.#discarded, protocolRejects: this.#protocolRejects }
  }

  get phase(): PppPhase {
    return this.#phase
  }

  /** LCP's automaton state, for diagnostics. */
  get lcpState(): AutomatonState {
    return this.#lcp.state
  }

  get ipcpState(): AutomatonState {
    return this.#ipcp.state
  }

  get ipv6cpState(): AutomatonState | undefined {
    return this.#ipv6cp?.state
  }

  /** LCP's options in force (meaningful once LCP is Opened). */
  get negotiated(): Readonly<LcpNegotiated> {
    return this.#lcpPolicy.negotiated
  }

  /** The authenticated user, once known. */
  get user(): string | undefined {
    return this.#user
  }

  /** The client's address: assigned to the peer (server) or to us (client), once known. */
  get address(): string | undefined {
    return this.role === 'server' ? this.#ipcpServer!.peerAddress : this.#ipcpClient!.result?.address
  }

  /** Whether `up` was emitted and `down` not yet. */
  get isUp(): boolean {
    return this.#upSent && !this.#downEmitted
  }

  /**
   * Hands LCP keepalive over (the server's data plane answers the peer's
   * Echo-Requests and sends ours from now on): the link stops its own echo
   * timer until LCP leaves Opened. Returns what the keepalive needs, or
   * undefined when LCP is not Opened (nothing is handed over). The link
   * still answers an Echo-Request that reaches it, and `close(now, 'echo
   * timeout')` takes it down as its own timer would.
   */
  offloadEcho(now: number): EchoOffload | undefined {
    if (this.#lcp.state !== 'Opened' || this.#closing) return undefined
    const negotiated = this.#lcpPolicy.negotiated
    const offload: EchoOffload = {
      magic: this.#lcpPolicy.magic,
      peerMagic: negotiated.peerMagic,
      peerMru: negotiated.peerMru,
      interval: this.#echoRejected ? 0 : this.#echoInterval,
      failures: this.#echoFailures,
      identifier: this.#echoIdentifier,
      pending: this.#echoPending,
      dueIn: this.#echoAt === undefined ? this.#echoInterval : Math.max(0, this.#echoAt - now),
    }
    this.#echoOffloaded = true
    this.#echoAt = undefined
    return offload
  }

  /** Whether keepalive is handed over (`offloadEcho`) for the current Opened LCP. */
  get echoOffloaded(): boolean {
    return this.#echoOffloaded
  }

  // --- driving it -------------------------------------------------------------

  /** The L2TP session is established: start LCP (we send our Configure-Request at once). */
  open(now: number): void {
    if (this.#started) return
    this.#started = true
    this.#phase = 'Establish'
    this.#lcp.up(now)
    this.#lcp.open(now)
    this.#pump(now)
  }

  /** End the link: LCP Terminate-Request carrying `reason`; `down` follows. */
  close(now: number, reason = 'administrative close'): void {
    if (this.#phase === 'Dead') return
    this.#closeWith(now, reason)
    this.#pump(now)
  }

  /** The L2TP session is gone: no more frames either way; `down` is emitted at once. */
  lowerDown(now: number, reason = 'lower layer down'): void {
    if (this.#phase === 'Dead' && !this.#started) return
    this.#downReason ??= reason
    this.#closing = true
    this.#stopNetwork(now)
    this.#lcp.down(now)
    this.#pump(now)
    this.#emitDown(reason)
    this.#phase = 'Dead'
    this.#echoAt = undefined
    this.#transmit = NONE
  }

  /** A PPP frame from the peer (from the Address/Control field or the protocol on), as carried in L2TP. */
  receive(frame: Buffer, now: number): void {
    if (this.#phase === 'Dead') return
    let protocol: number
    let information: Buffer
    try {
      const decoded = decodeFrame(frame)
      protocol = decoded.protocol
      information = decoded.information
    } catch {
      this.#malformed++
      return
    }
    const lcpOpened = this.#lcp.state === 'Opened'
    switch (protocol) {
      case Protocol.LCP: {
        const packet = this.#controlPacket(information, decodeLcp)
        if (packet) this.#deliver(Protocol.LCP, this.#lcp, packet, now)
        break
      }
      case Protocol.PAP:
      case Protocol.CHAP:
      case Protocol.EAP:
        // RFC 1661 3.4: nothing but LCP before LCP is Opened (what iOS relies on).
        if (!lcpOpened || (this.#phase !== 'Authenticate' && this.#phase !== 'Network')) this.#discarded++
        else if (this.#authServer) this.#authServer.receive(protocol, information, now)
        else if (this.#authClient) this.#authClient.receive(protocol, information, now)
        else this.#discarded++
        break
      case Protocol.IPCP:
        if (this.#phase !== 'Network' || !lcpOpened) {
          this.#discarded++
          break
        }
        {
          const packet = this.#controlPacket(information, decodeIpcp)
          if (packet) this.#deliver(Protocol.IPCP, this.#ipcp, packet, now)
        }
        break
      case Protocol.IPV6CP:
        if (this.#ipv6cp) {
          if (this.#phase !== 'Network' || !lcpOpened) {
            this.#discarded++
            break
          }
          const packet = this.#controlPacket(information, decodeIpv6cp)
          if (packet) this.#deliver(Protocol.IPV6CP, this.#ipv6cp, packet, now)
          break
        }
        this.#rejectProtocol(protocol, information, lcpOpened)
        break
      case Protocol.IPV4:
      case Protocol.IPV6:
        // Data belongs to the data plane; one that reaches us is dropped.
        this.#discarded++
        break
      default:
        // CCP (we run noccp), LQR, multilink, anything else (RFC 1661 5.7).
        this.#rejectProtocol(protocol, information, lcpOpened)
    }
    this.#pump(now)
  }

  /** The Authenticator's answer to `auth-request` `id`. False when that request is no longer awaited (link gone, timed out, superseded). */
  authResult(id: number, result: AuthResult, now: number): boolean {
    if (!this.#authServer || this.#phase === 'Dead') return false
    const taken = this.#authServer.authResult(id, result, now)
    this.#pump(now)
    return taken
  }

  /** Call at or after `nextTimeout()`; early calls do nothing. */
  handleTimeout(now: number): void {
    if (this.#phase === 'Dead') return
    this.#lcp.handleTimeout(now)
    this.#ipcp.handleTimeout(now)
    this.#ipv6cp?.handleTimeout(now)
    this.#authServer?.handleTimeout(now)
    this.#authClient?.handleTimeout(now)
    this.#pump(now)
    if (this.#echoAt !== undefined && now >= this.#echoAt && this.#lcp.state === 'Opened') {
      if (this.#echoPending >= this.#echoFailures) {
        this.#downReason ??= 'echo timeout'
        this.#closeWith(now, 'echo timeout')
      } else {
        this.#sendEchoRequest()
        this.#echoAt = now + this.#echoInterval
      }
      this.#pump(now)
    }
  }

  /** When to call `handleTimeout` (seconds), or undefined when nothing is scheduled. */
  nextTimeout(): number | undefined {
    if (this.#phase === 'Dead') return undefined
    // No arrays: the control plane asks after every input of every call.
    let next = earlier(this.#lcp.pollTimeout(), this.#ipcp.pollTimeout())
    next = earlier(next, this.#ipv6cp?.pollTimeout())
    next = earlier(next, this.#authServer?.pollTimeout())
    next = earlier(next, this.#authClient?.pollTimeout())
    return this.#lcp.state === 'Opened' ? earlier(next, this.#echoAt) : next
  }

  /** Same as `nextTimeout()`, under the name the other cores use. */
  pollTimeout(): number | undefined {
    return this.nextTimeout()
  }

  /** The next PPP frame to send (with FF 03), or undefined. */
  pollTransmit(): Buffer | undefined {
    if (this.#transmit.length === 0) return undefined
    const frame = this.#transmit.shift()
    if (this.#transmit.length === 0) this.#transmit = NONE
    return frame
  }

  pollEvent(): PppLinkEvent | undefined {
    if (this.#events.length === 0) return undefined
    const event = this.#events.shift()
    if (this.#events.length === 0) this.#events = NONE
    return event
  }

  // --- internals -----------------------------------------------------------------

  /** A packet of the LCP family, checked by the codec first (malformed options: discarded, RFC 1661 5). */
  #controlPacket(information: Buffer, decode: (information: Buffer) => unknown): ConfigPacket | undefined {
    try {
      decode(information)
      const raw = decodeRawPacket(information)
      return { code: raw.code, identifier: raw.identifier, data: Buffer.from(raw.data) }
    } catch {
      this.#malformed++
      return undefined
    }
  }

  /**
   * A Configure-Request in Opened is a renegotiation (RFC 1661 4.1), except
   * the request we last Acked, with its Identifier unchanged: RFC 1661 5.1
   * keeps the Identifier only for a retransmission, so the peer did not get
   * our Ack. It gets the Ack again and the link stays Opened (without this, a
   * lost Ack sends a lossy link back to Establish and authentication starts
   * over; with a strict peer such as iOS that can repeat until Max-Configure).
   */
  #deliver(protocol: number, automaton: Automaton, packet: ConfigPacket, now: number): void {
    const acked = this.#lastAck[ackSlot(protocol)]
    if (packet.code === Code.CONFIGURE_REQUEST && automaton.state === 'Opened' && acked !== undefined && acked === packAck(packet)) {
      this.#sendFrame(protocol, encodeRawPacket(Code.CONFIGURE_ACK, packet.identifier, packet.data))
      return
    }
    automaton.receive(packet, now)
  }

  /** RFC 1661 5.7: Protocol-Reject, only in LCP Opened and (3.5) past the Authenticate phase. */
  #rejectProtocol(protocol: number, information: Buffer, lcpOpened: boolean): void {
    if (!lcpOpened || this.#phase !== 'Network') {
      this.#discarded++
      return
    }
    const room = Math.max(0, this.#lcpPolicy.negotiated.peerMru - 6)
    const data = Buffer.alloc(2)
    data.writeUInt16BE(protocol)
    this.#protocolRejectIdentifier = (this.#protocolRejectIdentifier + 1) & 0xff
    this.#protocolRejects++
    this.#sendFrame(Protocol.LCP, encodeRawPacket(Code.PROTOCOL_REJECT, this.#protocolRejectIdentifier, Buffer.concat([data, information.subarray(0, room)])))
  }

  #sendEchoRequest(): void {
    const magic = Buffer.alloc(4)
    magic.writeUInt32BE(this.#lcpPolicy.magic)
    this.#echoIdentifier = (this.#echoIdentifier + 1) & 0xff
    this.#echoPending++
    this.#sendFrame(Protocol.LCP, encodeRawPacket(Code.ECHO_REQUEST, this.#echoIdentifier, magic))
  }

  #sendConfig(protocol: number, packet: ConfigPacket): void {
    if (packet.code === Code.CONFIGURE_ACK) this.#lastAck[ackSlot(protocol)] = packAck(packet)
    this.#sendFrame(protocol, encodeRawPacket(packet.code, packet.identifier, packet.data))
  }

  #sendFrame(protocol: number, information: Buffer): void {
    this.#transmit = pushed(this.#transmit, encodeFrame({ protocol, information }))
  }

  #assign(requested: string | undefined): AddressAssignment {
    if (this.#user === undefined) return { ok: false, reason: 'no authenticated user' }
    const result = this.#options.assignAddress!({ user: this.#user, requested, policy: this.#policy ?? {} })
    return result.ok ? { ok: true, address: result.address } : { ok: false, reason: result.reason }
  }

  #closeWith(now: number, reason: string): void {
    this.#closing = true
    this.#echoAt = undefined
    if (this.#phase !== 'Dead') this.#phase = 'Terminate'
    this.#lcp.close(now, reason)
  }

  #emitDown(reason: string): void {
    if (this.#downEmitted) return
    this.#downEmitted = true
    const event: PppLinkEvent = { type: 'down', reason: this.#downReason ?? reason, wasUp: this.#upSent }
    if (this.#user !== undefined) event.user = this.#user
    if (this.role === 'server' && this.#ipcpServer!.peerAddress !== undefined) event.address = this.#ipcpServer!.peerAddress
    this.#events = pushed(this.#events, event)
  }

  /** Drain every component until nothing moves: transmissions first, so an Ack leaves before what its tlu starts. */
  #pump(now: number): void {
    for (let progress = true; progress; ) {
      progress = false
      for (let p: ConfigPacket | undefined; (p = this.#lcp.pollTransmit()); progress = true) this.#sendConfig(Protocol.LCP, p)
      for (let e: AutomatonEvent | undefined; (e = this.#lcp.pollEvent()); progress = true) this.#onLcpEvent(e, now)
      while (this.#rejectedByPeer.length) {
        progress = true
        this.#onProtocolRejected(this.#rejectedByPeer.shift()!, now)
      }
      this.#rejectedByPeer = NONE
      const auth: { pollTransmit(): AuthPacket | undefined } | undefined = this.#authServer ?? this.#authClient
      for (let p: AuthPacket | undefined; auth && (p = auth.pollTransmit()); progress = true) this.#sendFrame(p.protocol, p.information)
      if (this.#authServer) for (let e: AuthServerEvent | undefined; (e = this.#authServer.pollEvent()); progress = true) this.#onAuthServerEvent(e, now)
      if (this.#authClient) for (let e: AuthClientEvent | undefined; (e = this.#authClient.pollEvent()); progress = true) this.#onAuthClientEvent(e, now)
      for (let p: ConfigPacket | undefined; (p = this.#ipcp.pollTransmit()); progress = true) this.#sendConfig(Protocol.IPCP, p)
      for (let e: AutomatonEvent | undefined; (e = this.#ipcp.pollEvent()); progress = true) this.#onIpcpEvent(e, now)
      if (this.#ipv6cp) {
        for (let p: ConfigPacket | undefined; (p = this.#ipv6cp.pollTransmit()); progress = true) this.#sendConfig(Protocol.IPV6CP, p)
        for (let e: AutomatonEvent | undefined; (e = this.#ipv6cp.pollEvent()); progress = true) this.#onIpv6cpEvent(e)
      }
      const failure = this.#ipcpServer?.failure
      if (failure !== undefined && !this.#closing) {
        progress = true
        this.#downReason ??= `no address for the peer: ${failure}`
        this.#closeWith(now, 'no address available')
      }
    }
  }

  #onLcpEvent(event: AutomatonEvent, now: number): void {
    switch (event.type) {
      case 'this-layer-up':
        this.#lcp.peerMru = this.#lcpPolicy.negotiated.peerMru
        this.#echoPending = 0
        this.#echoAt = this.#echoInterval > 0 && !this.#echoRejected && !this.#echoOffloaded ? now + this.#echoInterval : undefined
        return this.#startAuthentication(now)
      case 'this-layer-down': {
        this.#echoAt = undefined
        // A keepalive handed over was for that Opened LCP: its holder is told by the 'down' that follows.
        this.#echoOffloaded = false
        const terminating = this.#closing || TERMINATING.has(this.#lcp.state)
        // Once authenticated (Network phase) a renegotiation ends the session: a new
        // authentication could name another user than the one the address was given to.
        if (terminating || this.#phase === 'Network' || this.#upSent) {
          this.#stopNetwork(now)
          this.#emitDown(event.reason ?? 'LCP down')
          if (!this.#closing) this.#closeWith(now, event.reason ?? 'LCP renegotiated')
          if (this.#phase !== 'Dead') this.#phase = 'Terminate'
          return
        }
        // The peer renegotiates before the link was up (our Ack to it was lost): back to Establish, authenticate again.
        this.#stopNetwork(now)
        this.#authServer = undefined
        this.#authClient = undefined
        this.#phase = 'Establish'
        return
      }
      case 'this-layer-finished':
        this.#stopNetwork(now)
        this.#emitDown(event.reason ?? 'LCP finished')
        this.#phase = 'Dead'
        this.#echoAt = undefined
        this.#authServer = undefined
        this.#authClient = undefined
        return
      case 'this-layer-started':
        return
    }
  }

  #startAuthentication(now: number): void {
    const method = this.#lcpPolicy.negotiated.auth
    this.#authMethod = method
    const common = {
      random: this.#random,
      ...(this.#options.restartTimer !== undefined ? { restartTimer: this.#options.restartTimer } : {}),
      ...(this.#options.maxConfigure !== undefined ? { maxTransmits: this.#options.maxConfigure } : {}),
      ...(this.#options.authTimeout !== undefined ? { timeout: this.#options.authTimeout } : {}),
    }
    if (this.role === 'server') {
      if (!method) {
        // Cannot happen through the automaton (an Ack repeats our request, which names a method); never let a peer in without one.
        this.#downReason ??= 'LCP opened without an authentication method'
        return this.#closeWith(now, 'Authentication required')
      }
      this.#phase = 'Authenticate'
      this.#authServer = new AuthServer({
        ...common,
        method,
        peer: this.#peer!,
        ...(this.#options.name !== undefined ? { name: this.#options.name } : {}),
        ...(this.#options.maxAuthAttempts !== undefined ? { maxAttempts: this.#options.maxAuthAttempts } : {}),
        newRequestId: () => ++this.#requestIds,
      })
      this.#authServer.start(now)
      return
    }
    if (!method) {
      this.#user = this.#options.user
      return this.#startNetwork(now)
    }
    this.#phase = 'Authenticate'
    this.#authClient = new AuthClient({
      ...common,
      method,
      user: this.#options.user ?? '',
      password: this.#options.password ?? '',
      ...(this.#options.newPassword !== undefined ? { newPassword: this.#options.newPassword } : {}),
      ...(this.#options.authRetries !== undefined ? { retries: this.#options.authRetries } : {}),
    })
    this.#authClient.start(now)
  }

  #onAuthServerEvent(event: AuthServerEvent, now: number): void {
    switch (event.type) {
      case 'auth-request':
        this.#events = pushed(this.#events, { type: 'auth-request', id: event.id, request: event.request })
        return
      case 'success':
        this.#user = event.result.user
        this.#policy = event.result.policy
        this.#mppeKeys = event.result.mppeKeys
        this.#passwordChanged = event.result.passwordChanged === true
        this.#events = pushed(this.#events, { type: 'authenticated', method: event.method, user: event.result.user, ...(event.result.passwordChanged ? { passwordChanged: true } : {}) })
        return this.#startNetwork(now)
      case 'failure': {
        const failed: PppLinkEvent = { type: 'auth-failed', method: event.method, user: event.user, reason: event.reason, final: event.final }
        if (event.failure) failed.failure = event.failure
        this.#events = pushed(this.#events, failed)
        if (!event.final) return
        // The peer is told only "Authentication failed" (no user enumeration); the logs get the reason.
        this.#downReason ??= `authentication failed: ${event.reason}`
        return this.#closeWith(now, 'Authentication failed')
      }
    }
  }

  #onAuthClientEvent(event: AuthClientEvent, now: number): void {
    if (event.type === 'success') {
      this.#user = this.#options.user
      this.#passwordChanged = event.passwordChanged === true
      this.#events = pushed(this.#events, { type: 'authenticated', method: event.method, user: this.#user ?? '', ...(event.passwordChanged ? { passwordChanged: true } : {}) })
      return this.#startNetwork(now)
    }
    const failed: PppLinkEvent = { type: 'auth-failed', method: event.method, user: this.#options.user, reason: event.reason, final: true }
    this.#events = pushed(this.#events, failed)
    this.#downReason ??= `authentication failed: ${event.reason}${event.message ? ` (${event.message})` : ''}`
    this.#closeWith(now, 'Authentication failed')
  }

  #startNetwork(now: number): void {
    if (this.#closing) return
    this.#phase = 'Network'
    this.#ipcp.up(now)
    this.#ipcp.open(now)
    if (this.#ipv6cp) {
      this.#ipv6cp.up(now)
      this.#ipv6cp.open(now)
    }
  }

  /** NCPs to Initial (the lower layer, LCP, is leaving Opened). Their events are drained and ignored while closing. */
  #stopNetwork(now: number): void {
    for (const ncp of [this.#ipcp, this.#ipv6cp]) {
      if (!ncp || ncp.state === 'Initial') continue
      ncp.down(now)
      // Down leaves Starting (tls) or Initial; Close takes Starting to Initial.
      if ((ncp.state as AutomatonState) !== 'Initial') ncp.close(now, 'LCP down')
      while (ncp.pollEvent());
      while (ncp.pollTransmit());
    }
  }

  #onIpcpEvent(event: AutomatonEvent, now: number): void {
    if (this.#closing) return
    switch (event.type) {
      case 'this-layer-up':
        return this.#linkUp(now)
      case 'this-layer-down':
        // Terminated by the peer: the session ends. Renegotiated: wait for Opened again (same address).
        if (TERMINATING.has(this.#ipcp.state)) {
          this.#downReason ??= `IPCP: ${event.reason ?? 'closed'}`
          this.#closeWith(now, 'IPCP closed')
        }
        return
      case 'this-layer-finished':
        this.#downReason ??= `IPCP negotiation failed: ${event.reason ?? 'finished'}`
        return this.#closeWith(now, 'IPCP negotiation failed')
      case 'this-layer-started':
        return
    }
  }

  #linkUp(now: number): void {
    if (this.#upSent) return
    const lcp = this.#lcpPolicy.negotiated
    let address: string | undefined
    let localAddress: string | undefined
    let dns: string[]
    if (this.role === 'server') {
      address = this.#ipcpServer!.peerAddress
      localAddress = this.#options.localAddress
      dns = [...(this.#options.dns ?? [])]
    } else {
      const result = this.#ipcpClient!.result
      address = result?.address
      localAddress = result?.peerAddress
      dns = result?.dns ?? []
    }
    if (address === undefined || address === '0.0.0.0') {
      this.#downReason ??= 'IPCP opened without an address for the client'
      return this.#closeWith(now, 'No IP address')
    }
    const up: PppLinkUpEvent = {
      type: 'up',
      user: this.#user ?? '',
      address,
      localAddress,
      dns,
      acfc: lcp.acfc,
      pfc: lcp.pfc,
      peerMru: lcp.peerMru,
      mru: lcp.mru,
      authMethod: this.#authMethod,
    }
    if (this.#policy) up.policy = this.#policy
    if (this.#mppeKeys) up.mppeKeys = this.#mppeKeys
    if (this.#passwordChanged) up.passwordChanged = true
    this.#upSent = true
    // The keys went out with the event: the link has no further use for them.
    this.#mppeKeys = undefined
    this.#events = pushed(this.#events, up)
    // The peer negotiated IPCP, so it has our Success: the authenticator has nothing left to answer (a repeated
    // Response is now discarded). Its challenge, final packet and queues would otherwise stay for the link's life (issue #9).
    this.#authServer = undefined
  }

  #onIpv6cpEvent(event: AutomatonEvent): void {
    if (this.#closing || event.type !== 'this-layer-up') return
    // IPv6 is optional: its failures never end the link.
    const local = this.#ipv6cpPolicy!.localIdentifier
    const peer = this.#ipv6cpPolicy!.peerIdentifier
    if (local) this.#events = pushed(this.#events, { type: 'ipv6-up', localInterfaceId: local.toString('hex'), peerInterfaceId: peer?.toString('hex') })
  }

  /** The peer Protocol-Rejected one of ours (RFC 1661 5.7): that protocol is finished on this link. */
  #onProtocolRejected(protocol: number, now: number): void {
    if (protocol === Protocol.IPCP) this.#ipcp.receiveReject('protocol', true, now)
    else if (protocol === Protocol.IPV6CP) this.#ipv6cp?.receiveReject('protocol', true, now)
    else if (AUTH_PROTOCOLS.has(protocol) && this.#phase === 'Authenticate') {
      this.#downReason ??= `peer rejected the authentication protocol 0x${protocol.toString(16)}`
      this.#closeWith(now, 'Authentication protocol rejected')
    }
  }
}

function earlier(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a <= b ? a : b
}
