/**
 * The IKEv1 endpoint, sans-IO: feed it datagrams (`handle`) and the clock
 * (`handleTimeout`), drain what to send (`pollTransmit`) and what happened
 * (`pollEvent`). One endpoint serves as responder and, through `connect`,
 * as initiator. IKE SAs are found by their cookies, never by address, so
 * many clients behind one NAT (even all from port 1701) stay apart.
 */
import { decodeHeader, decodeMessage, IkeCodecError, type IsakmpHeader } from './codec.js'
import { ExchangeType, Flag, NotifyType, PayloadType, VendorIds, identifyVendorId } from './constants.js'
import type { Context, ResolvedConfig } from './context.js'
import type { DhGroup, DhKeys } from './dh.js'
import { IkeSa, cookiesKey, type IkeSaObserver } from './ike-sa.js'
import { DeadlineQueue } from '../util/deadline-queue.js'
import { MultiMap } from '../util/multimap.js'
import { ownMemory } from '../util/buffers.js'
import { randomBytesPooled } from './random.js'
import { deleteEspPayload, deleteIkeSaPayload, handleInformational, sendInformational, sendRUThere } from './informational.js'
import * as am from './aggressive-mode.js'
import { isRequest, requestKey } from './phase1.js'
import { DEFAULT_FRAGMENT_SIZE, Reassembler, fragmentMessage, maxIkeMessageSize } from './fragments.js'
import * as mm from './main-mode.js'
import * as qmode from './quick-mode.js'
import type { QuickModeRequest } from './quick-mode.js'
import { siteByName } from './sites.js'
import type { IkeConfig, IkeEvent, IkeGuard, Path, Transmit } from './types.js'
import { SpiPairs } from '../util/spi-pairs.js'
import { flatString } from '../util/strings.js'

const ZERO_COOKIE = Buffer.alloc(8)
/** Seconds between two `dropped` events for one peer. */
const DROP_REPORT_INTERVAL = 10

export interface EndpointOptions {
  /** Randomness, injectable for deterministic tests. */
  random?: (bytes: number) => Buffer
  /** Wall-clock time for certificate validity (the `now` of handle() is only monotonic). */
  wallClock?: () => Date
  /** Per-source rate limit and failed-authentication back-off (lib/security); kept across reconfigure(). */
  guard?: IkeGuard
  /**
   * For load generators only (the IKE benchmark's initiators): the Main
   * Mode initiator's Diffie-Hellman half, e.g. one key pair reused for
   * every SA so that the initiators cost less than the responder they
   * measure. Reuse gives up forward secrecy between those SAs: never in a
   * server.
   */
  initiatorKeyPair?: (group: DhGroup) => DhKeys
}

export interface EndpointStats {
  ikeSas: number
  halfOpen: number
  quickModes: number
  /** IKE messages being reassembled from fragments. */
  reassembling: number
  dropped: Record<string, number>
  /** Messages sent again: our answer to a repeated request, or our request after a timeout. */
  retransmits: number
}

function resolve(config: IkeConfig): ResolvedConfig {
  return {
    forceEncapsulation: true,
    nattPort: 4500,
    ikePort: 500,
    allowTunnel: false,
    sites: [],
    maxHalfOpenPerSource: 8,
    maxHalfOpen: 1024,
    halfOpenTimeout: 30,
    maxSasPerIdentity: 256,
    retransmitInterval: 1,
    retransmitTries: 5,
    dpdDelay: 30,
    dpdTimeout: 120,
    fragmentSize: DEFAULT_FRAGMENT_SIZE,
    aggressiveMode: false,
    // Unless told otherwise the peer listens where we do.
    peerNattPort: config.nattPort ?? 4500,
    peerIkePort: config.ikePort ?? 500,
    ...config,
  }
}

interface ContextOutputs {
  push(t: Transmit, sa?: IkeSa): void
  events: IkeEvent[]
  admitPeer(ike: IkeSa): string | undefined
  retime(ike: IkeSa): void
}

/** The Context of one call into the endpoint: methods on a prototype, no closures per call. */
class EndpointContext implements Context {
  constructor(
    readonly config: ResolvedConfig,
    readonly now: number,
    // Plain functions, not methods: callers may pass them on (e.g. `ctx.random` as a callback).
    readonly random: (bytes: number) => Buffer,
    readonly wallClock: () => Date,
    private readonly outputs: ContextOutputs,
    readonly initiatorKeyPair: ((group: DhGroup) => DhKeys) | undefined,
  ) {}

  send(t: Transmit, sa?: IkeSa, answers?: string): void {
    this.outputs.push(t, sa)
    if (sa) {
      // Kept until the next message: memory of its own, not a pool slice (lib/util/buffers.ts; encoded messages already are).
      sa.lastSent = {
        data: ownMemory(t.data),
        to: t.to,
        fromPort: t.fromPort,
        fromAddress: t.fromAddress,
        answers,
        tries: 0,
        nextAt: sa.role === 'initiator' && !answers ? this.now + this.config.retransmitInterval : undefined,
      }
      // A retransmission timer may have started.
      this.outputs.retime(sa)
    }
  }

  emit(e: IkeEvent): void {
    this.outputs.events.push(e)
  }

  admitPeer(ike: IkeSa): string | undefined {
    return this.outputs.admitPeer(ike)
  }
}

export class IkeEndpoint {
  private config: ResolvedConfig
  private readonly random: (bytes: number) => Buffer
  private readonly wallClock: () => Date
  private readonly initiatorKeyPair: ((group: DhGroup) => DhKeys) | undefined
  /**
   * The SAs by their cookies, spelt as an SA id (ike-sa.ts `saId`): for a
   * responder the key is its id itself (one string, and no second Map by
   * id: issue #9). An initiator's id keeps the zero responder cookie it
   * started with; `byId` finds it through `initiators`.
   */
  private readonly sas = new Map<string, IkeSa>()
  /** Responder SAs by initiator cookie and peer, to answer retransmitted message 1. */
  private readonly byInitiatorCookie = new Map<string, IkeSa>()
  private readonly quickModes = new Map<string, qmode.QuickMode>()
  private readonly spis = new Set<number>()
  private readonly pendingQuick = new Map<string, QuickModeRequest>()
  private readonly transmits: Transmit[] = []
  private readonly events: IkeEvent[] = []
  private readonly dropped: Record<string, number> = {}
  private retransmits = 0
  private readonly dropReports = new Map<string, { since: number; count: number }>()
  private readonly reassembler: Reassembler
  private readonly guard: IkeGuard | undefined
  private lastNow = 0
  /**
   * Indexes kept as SAs change state (IkeSa.observer), so that nothing a
   * stranger sends costs a scan of every SA (issue #12) and a tick touches
   * only the SAs due (issue #9): half-open SAs in all and per source
   * address, established SAs per identity and per identity + outer
   * address and port, initiator SAs by their cookie, and SAs by deadline.
   */
  private halfOpen = 0
  private readonly halfOpenBySource = new Map<string, number>()
  private readonly byIdentity = new MultiMap<string, IkeSa>()
  private readonly byIdentityEndpoint = new MultiMap<string, IkeSa>()
  private readonly initiators = new Map<string, IkeSa>()
  private readonly timers = new DeadlineQueue<IkeSa>((ike) => this.deadlineOf(ike))
  /** SAs established during the current handle(): their Phase 1 material goes once it returns. */
  private readonly settled: IkeSa[] = []
  private readonly observer: IkeSaObserver = {
    stateChanged: (ike) => {
      this.reindex(ike)
      this.timers.update(ike)
      if (ike.established) this.settled.push(ike)
    },
  }

  constructor(config: IkeConfig, options: EndpointOptions = {}) {
    this.config = resolve(config)
    this.random = options.random ?? randomBytesPooled
    this.wallClock = options.wallClock ?? (() => new Date())
    this.guard = options.guard
    this.reassembler = new Reassembler(config.fragmentReassembly)
    this.initiatorKeyPair = options.initiatorKeyPair
    if (!config.psk && !config.certificate) throw new Error('IKE needs a pre-shared key (psk) or a certificate')
  }

  /** New negotiations use `config` (a reload); established SAs keep what they agreed. */
  reconfigure(config: IkeConfig): void {
    this.config = resolve(config)
    // Timeouts and DPD settings may have shrunk: every SA's deadline is looked at again (a reload is rare).
    for (const ike of this.sas.values()) this.timers.update(ike)
  }

  pollTransmit(): Transmit | undefined {
    return this.transmits.shift()
  }

  pollEvent(): IkeEvent | undefined {
    return this.events.shift()
  }

  stats(): EndpointStats {
    return { ikeSas: this.sas.size, halfOpen: this.halfOpen, quickModes: this.quickModes.size, reassembling: this.reassembler.pending, dropped: { ...this.dropped }, retransmits: this.retransmits }
  }

  private context(now: number): Context {
    return new EndpointContext(this.config, now, this.random, this.wallClock, this.outputs, this.initiatorKeyPair)
  }

  /** What a Context writes to; one object, so a context costs no closures. */
  private readonly outputs: ContextOutputs = {
    push: (t, sa) => this.push(t, sa),
    events: this.events,
    admitPeer: (ike) => this.admitPeer(ike),
    retime: (ike) => this.timers.update(ike),
  }

  /** The per-identity limit: other established SAs of this identity, a rekey or restart from the same address and port not counted. */
  private admitPeer(ike: IkeSa): string | undefined {
    const identity = ike.peerId ?? ''
    let others = this.byIdentity.count(identity)
    for (const s of this.byIdentityEndpoint.get(endpointKey(identity, ike.peer))) if (s !== ike) others--
    if (ike.identityKey === identity) others--
    return others >= this.config.maxSasPerIdentity ? 'IKE SAs per identity limit reached' : undefined
  }

  /**
   * Brings the indexes in line with the SA's state: counted half-open while
   * held and not established, indexed under its identity while held and
   * established.
   */
  private reindex(ike: IkeSa): void {
    const half = ike.tracked && !ike.established && ike.state !== 'DEAD'
    if (half && ike.halfOpenSource === undefined) {
      ike.halfOpenSource = ike.peer.address
      this.halfOpen++
      this.halfOpenBySource.set(ike.halfOpenSource, (this.halfOpenBySource.get(ike.halfOpenSource) ?? 0) + 1)
    } else if (!half && ike.halfOpenSource !== undefined) {
      this.halfOpen--
      const n = (this.halfOpenBySource.get(ike.halfOpenSource) ?? 1) - 1
      if (n > 0) this.halfOpenBySource.set(ike.halfOpenSource, n)
      else this.halfOpenBySource.delete(ike.halfOpenSource)
      ike.halfOpenSource = undefined
    }
    const established = ike.tracked && ike.established
    if (established && ike.identityKey === undefined) {
      ike.identityKey = ike.peerId ?? ''
      ike.endpointKey = flatString(endpointKey(ike.identityKey, ike.peer))
      this.byIdentity.add(ike.identityKey, ike)
      this.byIdentityEndpoint.add(ike.endpointKey, ike)
    } else if (!established && ike.identityKey !== undefined) {
      this.byIdentity.delete(ike.identityKey, ike)
      this.byIdentityEndpoint.delete(ike.endpointKey!, ike)
      ike.identityKey = undefined
      ike.endpointKey = undefined
    }
  }

  /**
   * Queues a datagram, in fragments when the peer announced IKE
   * fragmentation and the message is larger than fits one IP packet of
   * `fragmentSize` (certificates in Main Mode 5/6).
   */
  private push(t: Transmit, ike?: IkeSa): void {
    const budget = maxIkeMessageSize(this.config.fragmentSize, { ipv6: t.to.address.includes(':'), nonEspMarker: t.fromPort !== this.config.ikePort })
    if (ike && t.data.length > budget && ike.peerVendorIds.some((v) => identifyVendorId(v) === VendorIds.FRAGMENTATION)) {
      const exchangeType = ike.aggressive ? ExchangeType.AGGRESSIVE : ExchangeType.MAIN
      for (const fragment of fragmentMessage(t.data, 1, budget, { exchangeType })) this.transmits.push({ ...t, data: fragment })
      return
    }
    this.transmits.push(t)
  }

  /** Counts every drop; reports a peer at most once per interval so a flood cannot flood the log. */
  private drop(path: Path, reason: string, now = this.lastNow): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1
    const peer = `${path.peer.address}:${path.peer.port}`
    const report = this.dropReports.get(peer) ?? { since: -Infinity, count: 0 }
    report.count++
    if (now - report.since >= DROP_REPORT_INTERVAL) {
      this.events.push({ type: 'dropped', peer: path.peer, reason, count: report.count })
      report.since = now
      report.count = 0
    }
    this.dropReports.set(peer, report)
    // Bounded: forget the oldest reporters when a scan spreads over many sources.
    if (this.dropReports.size > 4096) this.dropReports.delete(this.dropReports.keys().next().value!)
  }

  private allocateSpi = (): Buffer => {
    for (;;) {
      const spi = this.random(4)
      const n = spi.readUInt32BE(0)
      // SPIs 1-255 are reserved (RFC 4303 2.1).
      if (n > 255 && !this.spis.has(n)) {
        this.spis.add(n)
        return spi
      }
    }
  }

  /** The SA map's key: the cookies as an SA id spells them (cookiesKey, not made flat: a lookup's key is dropped). */
  private key(ckyI: Buffer, ckyR: Buffer): string {
    return cookiesKey(ckyI, ckyR)
  }

  /** The SA of an id (what events and the server name SAs by). */
  private byId(id: string): IkeSa | undefined {
    const ike = this.sas.get(id)
    if (ike?.id === id) return ike
    // An initiator past message 2 is held under its final cookies: found by its own, the id's first 16 hex digits.
    const initiator = this.initiators.get(id.slice(0, 16))
    return initiator?.id === id ? initiator : undefined
  }

  private remember(ike: IkeSa): void {
    const key = this.key(ike.ckyI, ike.ckyR)
    // The id's own string when it spells the same cookies (a responder's always): the Map keeps no second one.
    this.sas.set(key === ike.id ? ike.id : flatString(key), ike)
    if (ike.role === 'responder') this.byInitiatorCookie.set(ike.ckyI.toString('hex'), ike)
    else this.initiators.set(ike.ckyI.toString('hex'), ike)
    ike.observer = this.observer
    ike.tracked = true
    this.reindex(ike)
    this.timers.update(ike)
  }

  private forget(ike: IkeSa, reason: string): void {
    ike.tracked = false
    ike.state = 'DEAD'
    this.reindex(ike)
    this.timers.cancel(ike)
    this.sas.delete(this.key(ike.ckyI, ike.ckyR))
    if (this.byInitiatorCookie.get(ike.ckyI.toString('hex')) === ike) this.byInitiatorCookie.delete(ike.ckyI.toString('hex'))
    if (this.initiators.get(ike.ckyI.toString('hex')) === ike) this.initiators.delete(ike.ckyI.toString('hex'))
    for (const [k, q] of this.quickModes) if (q.ike === ike) this.quickModes.delete(k)
    const children = ike.children
    if (children) {
      for (const [inbound, outbound] of children) {
        this.spis.delete(inbound)
        this.events.push({ type: 'child-sa-down', ikeSa: ike.id, inboundSpi: inbound, outboundSpi: outbound, reason })
      }
      ike.children = undefined
    }
    this.events.push({ type: 'ike-sa-down', ikeSa: ike.id, reason })
    ike.destroy()
  }

  /** Starts Main Mode towards `path.peer`, then (unless `quick` is false) Quick Mode for an L2TP SA. Returns the IKE SA id (it changes once the responder's cookie is known; events carry the final one). */
  connect(path: Path, now: number, quick: QuickModeRequest | false = {}, options: { rekey?: boolean; site?: string } = {}): string {
    const ctx = this.context(now)
    const ike = mm.initiate(ctx, path, undefined, options.site)
    ike.initialContact = !options.rekey
    this.remember(ike)
    if (quick) this.pendingQuick.set(ike.ckyI.toString('hex'), quick)
    return ike.id
  }

  /** Starts a Quick Mode under an established IKE SA (a new or rekeyed ESP SA pair). */
  startQuickMode(ikeSaId: string, now: number, request: QuickModeRequest = {}): boolean {
    const ike = this.byId(ikeSaId)
    if (!ike?.established) return false
    const qm = qmode.initiateQuick(this.context(now), ike, request, this.allocateSpi)
    this.quickModes.set(`${ike.id}/${qm.messageId}`, qm)
    return true
  }

  /**
   * Deletes an IKE SA and its ESP SAs, telling the peer unless `notify` is
   * false (the peer is known gone, or a benchmark recycles its SAs).
   */
  close(ikeSaId: string, now: number, reason = 'closed', options: { notify?: boolean } = {}): void {
    const ike = this.byId(ikeSaId)
    if (!ike) return
    if (options.notify !== false) {
      const ctx = this.context(now)
      const children = [...(ike.children?.keys() ?? [])]
      if (children.length) sendInformational(ctx, ike, [deleteEspPayload(children)])
      sendInformational(ctx, ike, [deleteIkeSaPayload(ike)])
    }
    this.forget(ike, reason)
  }

  /** Deletes one ESP SA pair (the old pair after a rekey), telling the peer; false when the IKE SA has no such pair. */
  deleteChildSa(ikeSaId: string, inboundSpi: number, now: number, reason = 'rekeyed'): boolean {
    const ike = this.byId(ikeSaId)
    const children = ike?.children
    const outbound = children?.get(inboundSpi)
    if (!ike?.established || outbound === undefined) return false
    sendInformational(this.context(now), ike, [deleteEspPayload([inboundSpi])])
    children!.delete(inboundSpi)
    this.spis.delete(inboundSpi)
    this.events.push({ type: 'child-sa-down', ikeSa: ike.id, inboundSpi, outboundSpi: outbound, reason })
    return true
  }

  handle(datagram: Buffer, path: Path, now: number): void {
    try {
      this.handleDatagram(datagram, path, now)
    } finally {
      for (let ike = this.settled.pop(); ike; ike = this.settled.pop()) ike.releasePhase1()
    }
  }

  private handleDatagram(datagram: Buffer, path: Path, now: number): void {
    this.lastNow = now
    let header: IsakmpHeader
    try {
      header = decodeHeader(datagram)
    } catch (e) {
      return this.drop(path, e instanceof IkeCodecError ? e.code : 'IKE_MALFORMED')
    }
    if (header.nextPayload === PayloadType.FRAGMENT) {
      const result = this.reassembler.add(datagram, `${path.peer.address}:${path.peer.port}`, now)
      if (!result) return
      if ('dropped' in result) return this.drop(path, result.dropped)
      return this.handleDatagram(result.complete, path, now)
    }
    const ctx = this.context(now)
    const body = datagram.subarray(28, header.length)
    const encrypted = (header.flags & Flag.ENCRYPTION) !== 0
    try {
      if (header.exchangeType === ExchangeType.MAIN) return this.mainMode(ctx, header, datagram, body, encrypted, path)
      const ike = this.sas.get(this.key(header.initiatorCookie, header.responderCookie))
      if (header.exchangeType === ExchangeType.QUICK) return this.quickMode(ctx, ike, header, body, path)
      if (header.exchangeType === ExchangeType.INFORMATIONAL) return this.informational(ctx, ike, header, datagram, body, encrypted, path)
      if (header.exchangeType === ExchangeType.AGGRESSIVE) {
        if (!this.config.aggressiveMode && !this.findInitiator(header, 'I_SENT_AGGR')) {
          mm.notifyPlain(ctx, header, path, NotifyType.UNSUPPORTED_EXCHANGE_TYPE)
          return this.drop(path, 'aggressive mode is disabled')
        }
        return this.aggressiveMode(ctx, header, datagram, body, encrypted, path)
      }
      return this.drop(path, `exchange type ${header.exchangeType} not handled`)
    } catch (e) {
      // Nothing a peer sends may throw out of the core.
      return this.drop(path, e instanceof IkeCodecError ? e.code : `error: ${(e as Error).message}`)
    }
  }

  private retransmitIfDuplicate(ike: IkeSa, datagram: Buffer): boolean {
    const last = ike.lastSent
    if (last && isRequest(last.answers, datagram)) {
      this.push({ data: last.data, to: last.to, fromPort: last.fromPort, fromAddress: last.fromAddress }, ike)
      this.retransmits++
      return true
    }
    return false
  }

  private mainMode(ctx: Context, header: IsakmpHeader, datagram: Buffer, body: Buffer, encrypted: boolean, path: Path): void {
    if (header.messageId !== 0) return this.drop(path, 'Main Mode with a non-zero message ID')
    if (header.responderCookie.equals(ZERO_COOKIE)) {
      const existing = this.byInitiatorCookie.get(header.initiatorCookie.toString('hex'))
      if (existing) {
        if (!this.retransmitIfDuplicate(existing, datagram)) this.drop(path, 'second Main Mode message 1 for a known cookie')
        return
      }
      const refused = this.guard?.admitNew(path.peer.address, ctx.now)
      if (refused) return this.drop(path, refused)
      const full = this.halfOpenRefusal(path)
      if (full) return this.drop(path, full)
      const { payloads } = decodeMessage(datagram)
      const ike = mm.respondToSa(ctx, header, payloads, path, datagram)
      if (ike) this.remember(ike)
      return
    }
    let ike = this.sas.get(this.key(header.initiatorCookie, header.responderCookie))
    if (!ike) {
      // Initiator: message 2 is the first to carry the responder's cookie.
      const pending = this.findInitiator(header, 'I_SENT_SA')
      if (!pending) return this.drop(path, 'unknown cookies')
      ike = pending
    }
    if (ike.role === 'responder' && this.retransmitIfDuplicate(ike, datagram)) return
    if (ike.role === 'initiator') {
      // A slow responder answers our retransmitted request a second time:
      // that copy arrives when we already wait for its next message, and
      // read as that one it failed the exchange ("message 4 lacks a valid
      // KE", "authentication failed" on a plain message 4), in bursts
      // whenever the server was busy for over a retransmit interval.
      if (isRequest(ike.lastReceived, datagram)) return this.drop(path, 'a repeat of the message before')
      ike.lastReceived = requestKey(datagram)
    }
    ike.lastActivity = ctx.now
    const plain = () => decodeMessage(datagram).payloads
    switch (ike.state) {
      case 'R_SENT_SA':
        if (encrypted) return this.drop(path, 'encrypted message 3')
        if (!mm.respondToKe(ctx, ike, plain(), path, datagram)) this.forget(ike, 'Main Mode failed')
        return
      case 'R_SENT_KE': {
        if (!encrypted) return this.drop(path, 'message 5 not encrypted')
        const waiting = this.guard?.admitAuth(path.peer.address, ctx.now)
        if (waiting) {
          this.drop(path, waiting)
          return this.forget(ike, waiting)
        }
        const auth = mm.respondToAuth(ctx, ike, header, body, path, datagram)
        if (!auth.ok) {
          if (auth.limited) {
            this.drop(path, auth.limited)
            return this.forget(ike, auth.limited)
          }
          this.guard?.authFailed(path.peer.address, ctx.now)
          return this.forget(ike, 'authentication failed')
        }
        this.guard?.authSucceeded(path.peer.address, ctx.now)
        this.supersede(ike, auth.initialContact)
        return
      }
      case 'I_SENT_SA': {
        this.sas.delete(this.key(ike.ckyI, ike.ckyR))
        if (!mm.initiatorGotSa(ctx, ike, header, plain(), path)) return this.forget(ike, 'Main Mode failed')
        this.remember(ike)
        return
      }
      case 'I_SENT_KE':
        if (!mm.initiatorGotKe(ctx, ike, plain(), path)) this.forget(ike, 'Main Mode failed')
        return
      case 'I_SENT_AUTH': {
        if (!encrypted || !mm.initiatorGotAuth(ctx, ike, header, body, path)) return this.forget(ike, 'authentication failed')
        this.supersede(ike, ike.initialContact)
        this.startPendingQuick(ctx, ike)
        return
      }
      default:
        return this.drop(path, `Main Mode message in state ${ike.state}`)
    }
  }

  /**
   * A new IKE SA from the same identity, outer address and port as older
   * ones. With INITIAL-CONTACT (RFC 2407 4.6.3.3) the peer restarted: the
   * old SAs and their ESP SAs go. Without it, it is a Phase 1 rekey: the new
   * IKE SA adopts the old ones' ESP SAs, so that the client deleting its old
   * IKE SA — or it expiring — does not cut the L2TP session (the failure
   * most reported around rekeys with iOS, macOS and Windows). Clients
   * behind one NAT often share an identity; the address and port keep them
   * apart.
   */
  private supersede(ike: IkeSa, initialContact: boolean): void {
    for (const old of this.byIdentityEndpoint.get(endpointKey(ike.peerId ?? '', ike.peer))) {
      if (old === ike || !old.established) continue
      if (initialContact) {
        this.forget(old, 'replaced by a new IKE SA (INITIAL-CONTACT)')
        continue
      }
      const adopted = old.children
      if (adopted?.size) {
        const mine = (ike.children ??= new SpiPairs())
        for (const [inbound, outbound] of adopted) mine.set(inbound, outbound)
        old.children = undefined
      }
    }
  }

  private findInitiator(header: IsakmpHeader, state: IkeSa['state']): IkeSa | undefined {
    const s = this.initiators.get(header.initiatorCookie.toString('hex'))
    return s?.state === state ? s : undefined
  }

  private aggressiveMode(ctx: Context, header: IsakmpHeader, datagram: Buffer, body: Buffer, encrypted: boolean, path: Path): void {
    if (header.messageId !== 0) return this.drop(path, 'Aggressive Mode with a non-zero message ID')
    if (header.responderCookie.equals(ZERO_COOKIE)) {
      const existing = this.byInitiatorCookie.get(header.initiatorCookie.toString('hex'))
      if (existing) {
        if (!this.retransmitIfDuplicate(existing, datagram)) this.drop(path, 'second Aggressive Mode message 1 for a known cookie')
        return
      }
      const refused = this.guard?.admitNew(path.peer.address, ctx.now)
      if (refused) return this.drop(path, refused)
      const full = this.halfOpenRefusal(path)
      if (full) return this.drop(path, full)
      const ike = am.respondToAggressive(ctx, header, decodeMessage(datagram).payloads, path, datagram)
      if (ike) this.remember(ike)
      return
    }
    const pending = this.findInitiator(header, 'I_SENT_AGGR')
    if (pending) {
      this.sas.delete(this.key(pending.ckyI, pending.ckyR))
      if (!am.initiatorGotAggressive(ctx, pending, header, decodeMessage(datagram).payloads, path)) return this.forget(pending, 'Aggressive Mode failed')
      this.remember(pending)
      this.startPendingQuick(ctx, pending)
      return
    }
    const ike = this.sas.get(this.key(header.initiatorCookie, header.responderCookie))
    if (!ike) return this.drop(path, 'unknown cookies')
    if (this.retransmitIfDuplicate(ike, datagram)) return
    if (ike.state !== 'R_SENT_AGGR') return this.drop(path, `Aggressive Mode message in state ${ike.state}`)
    ike.lastActivity = ctx.now
    if (!am.respondToAggressive3(ctx, ike, header, datagram, body, encrypted, path, () => decodeMessage(datagram).payloads)) {
      this.guard?.authFailed(path.peer.address, ctx.now)
      this.forget(ike, 'authentication failed')
    } else {
      this.guard?.authSucceeded(path.peer.address, ctx.now)
    }
  }

  /** Starts Aggressive Mode towards `path.peer` with one DH group (ours goes in message 1). */
  connectAggressive(path: Path, now: number, group: number, quick: QuickModeRequest = {}): string {
    const ike = am.initiateAggressive(this.context(now), path, group)
    this.remember(ike)
    this.pendingQuick.set(ike.ckyI.toString('hex'), quick)
    return ike.id
  }

  private startPendingQuick(ctx: Context, ike: IkeSa): void {
    const quick = this.pendingQuick.get(ike.ckyI.toString('hex'))
    this.pendingQuick.delete(ike.ckyI.toString('hex'))
    if (quick) {
      const qm = qmode.initiateQuick(ctx, ike, quick, this.allocateSpi)
      this.quickModes.set(`${ike.id}/${qm.messageId}`, qm)
    }
  }

  /** Posture warnings for the operator's log. */
  warnings(): string[] {
    return [...this.config.policy.warnings, ...(this.config.aggressiveMode ? [am.AGGRESSIVE_MODE_WARNING] : [])]
  }

  private quickMode(ctx: Context, ike: IkeSa | undefined, header: IsakmpHeader, body: Buffer, path: Path): void {
    if (!ike?.established) return this.drop(path, 'Quick Mode without an established IKE SA')
    ike.lastActivity = ctx.now
    // Follow the peer if its NAT mapping moved (authenticated below).
    const key = `${ike.id}/${header.messageId}`
    const qm = this.quickModes.get(key)
    if (!qm) {
      if (ike.role !== 'responder' && ike.role !== 'initiator') return
      const started = qmode.respondToQuick1(ctx, ike, header, body, path, this.allocateSpi)
      if (started) this.quickModes.set(key, started)
      return
    }
    if (qm.role === 'responder') {
      if (qm.state === 'R_SENT_2') {
        const last = ike.lastSent
        if (last && isRequest(last.answers, body)) {
          this.push({ data: last.data, to: last.to, fromPort: last.fromPort, fromAddress: last.fromAddress }, ike)
          return
        }
        if (qmode.respondToQuick3(ctx, qm, header, body)) this.childUp(ike, qm)
        // Message 3 shows the initiator has our message 2: the copy kept to answer a repeat of message 1 would
        // otherwise stay on the idle SA until the next exchange (~0.7 KB a session, issue #9).
        if (ike.lastSent === qm.reply) ike.lastSent = undefined
        this.quickModes.delete(key)
      }
      return
    }
    if (qm.state === 'I_SENT_1') {
      if (qmode.initiatorGotQuick2(ctx, qm, header, body)) this.childUp(ike, qm)
      this.quickModes.delete(key)
    }
  }

  private childUp(ike: IkeSa, qm: qmode.QuickMode): void {
    ;(ike.children ??= new SpiPairs()).set(qm.ourSpi.readUInt32BE(0), qm.peerSpi!.readUInt32BE(0))
  }

  private informational(ctx: Context, ike: IkeSa | undefined, header: IsakmpHeader, datagram: Buffer, body: Buffer, encrypted: boolean, path: Path): void {
    if (!encrypted) {
      // Before keys exist only notifications about our own exchange make sense.
      const initiator = this.initiators.get(header.initiatorCookie.toString('hex'))
      const pending = initiator && !initiator.established ? initiator : undefined
      if (pending) {
        const notify = decodeMessage(datagram).payloads.find((p) => p.type === PayloadType.NOTIFICATION) as { notifyType: number } | undefined
        ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: `the responder answered ${notify ? `notification ${notify.notifyType}` : 'an unencrypted Informational'}`, notify: notify?.notifyType })
        this.forget(pending, 'refused by the responder')
        return
      }
      return this.drop(path, 'unencrypted Informational')
    }
    if (!ike?.established) return this.drop(path, 'Informational without an established IKE SA')
    const result = handleInformational(ctx, ike, header, body)
    if (!result) return
    ike.lastActivity = ctx.now
    if (result.dpdAck) ike.dpdPendingSince = undefined
    for (const spi of result.connected) ctx.emit({ type: 'child-sa-connected', ikeSa: ike.id, spi })
    const children = ike.children
    for (const spi of result.deletedEspSpis) {
      // The peer names its own inbound SPI, which is our outbound one.
      for (const [inbound, outbound] of children ?? []) {
        if (outbound === spi || inbound === spi) {
          children!.delete(inbound)
          this.spis.delete(inbound)
          ctx.emit({ type: 'child-sa-down', ikeSa: ike.id, inboundSpi: inbound, outboundSpi: outbound, reason: 'deleted by the peer' })
        }
      }
    }
    if (result.deleteIkeSa) this.forget(ike, 'deleted by the peer')
  }

  /** Undefined when one more half-open SA fits, else the drop reason (which limit). */
  private halfOpenRefusal(path: Path): string | undefined {
    if ((this.halfOpenBySource.get(path.peer.address) ?? 0) >= this.config.maxHalfOpenPerSource) return 'half-open limit per source reached'
    return this.halfOpen >= this.config.maxHalfOpen ? 'half-open limit reached' : undefined
  }

  /**
   * Retransmits initiators' last messages, expires half-open state, rekeys
   * and expires Phase 1, sends DPD probes: for the SAs due only. Returns
   * when to call again.
   */
  handleTimeout(now: number): number | undefined {
    for (const ike of this.timers.due(now)) {
      if (!ike.tracked) continue
      this.saTimeout(ike, now)
      if (ike.tracked) this.timers.update(ike)
    }
    for (const [key, qm] of this.quickModes) {
      if (now - qm.createdAt > this.config.halfOpenTimeout) this.quickModes.delete(key)
    }
    this.reassembler.expire(now)
    return this.nextTimeout()
  }

  /** When `handleTimeout` must next run; undefined when no SA waits on time. */
  nextTimeout(): number | undefined {
    return this.timers.next()
  }

  /** The Phase 1 lifetime in force: the agreed one, capped by the policy. */
  private lifetimeOf(ike: IkeSa): number {
    return Math.min(ike.choice!.lifetimeSeconds, this.config.policy.phase1.maxLifetimeSeconds)
  }

  /** [delay, timeout] of Dead Peer Detection for an established SA whose peer announced it, if enabled for it (its site's or the global setting). */
  private dpdOf(ike: IkeSa): [number, number] | undefined {
    if (!ike.established || !ike.peerVendorIds.some((v) => identifyVendorId(v) === VendorIds.DPD)) return undefined
    const site = siteByName(this.config, ike.site)
    const delay = site?.dpdDelay ?? this.config.dpdDelay
    return delay > 0 ? [delay, site?.dpdTimeout ?? this.config.dpdTimeout] : undefined
  }

  /** When `saTimeout` must next run for `ike`: what the scan of every SA used to compute for it. */
  private deadlineOf(ike: IkeSa): number | undefined {
    if (!ike.tracked) return undefined
    if (!ike.established) {
      const expiry = ike.createdAt + this.config.halfOpenTimeout
      const last = ike.lastSent
      return ike.role === 'initiator' && last?.nextAt !== undefined ? Math.min(last.nextAt, expiry) : expiry
    }
    const lifetime = this.lifetimeOf(ike)
    let at = ike.createdAt + (ike.role === 'initiator' && !ike.rekeyStarted ? lifetime * 0.9 : lifetime)
    const dpd = this.dpdOf(ike)
    if (dpd) at = Math.min(at, ike.dpdPendingSince !== undefined ? ike.dpdPendingSince + dpd[1] : ike.lastActivity + dpd[0])
    return at
  }

  /** What is due for one SA at `now`. */
  private saTimeout(ike: IkeSa, now: number): void {
    if (!ike.established) {
      if (now - ike.createdAt > this.config.halfOpenTimeout) return this.forget(ike, 'timed out before authentication')
      const last = ike.lastSent
      if (ike.role !== 'initiator' || last?.nextAt === undefined || now < last.nextAt) return
      if (last.tries >= this.config.retransmitTries) {
        this.events.push({ type: 'negotiation-failure', peer: ike.peer, stage: 'main-mode', reason: 'no answer from the responder' })
        return this.forget(ike, 'no answer')
      }
      last.tries++
      last.nextAt = now + this.config.retransmitInterval * 2 ** last.tries
      this.push({ data: last.data, to: last.to, fromPort: last.fromPort, fromAddress: last.fromAddress }, ike)
      this.retransmits++
      return
    }
    const lifetime = this.lifetimeOf(ike)
    const age = now - ike.createdAt
    // As initiator, rekey Phase 1 at 90% of its life (the new SA adopts our ESP SAs).
    if (ike.role === 'initiator' && !ike.rekeyStarted && age >= lifetime * 0.9) {
      ike.rekeyStarted = true
      this.connect({ peer: { ...ike.peer, port: this.config.peerIkePort }, local: ike.local }, now, false, { rekey: true, ...(ike.siteIntent ? { site: ike.siteIntent } : {}) })
    }
    if (age >= lifetime) return this.close(ike.id, now, 'Phase 1 lifetime expired')
    const dpd = this.dpdOf(ike)
    if (!dpd) return
    const pending = ike.dpdPendingSince
    if (pending !== undefined && now - pending >= dpd[1]) return this.forget(ike, 'dead peer: no answer to R-U-THERE')
    if (pending === undefined && now - ike.lastActivity >= dpd[0]) {
      sendRUThere(this.context(now), ike)
      ike.dpdPendingSince = now
    }
  }

  /** Traffic from the peer (ESP from the data plane) proves it alive: no R-U-THERE needed. */
  touch(ikeSaId: string, now: number): void {
    const ike = this.byId(ikeSaId)
    if (ike) ike.lastActivity = Math.max(ike.lastActivity, now)
  }

  /**
   * The IKE SA's cookies and phase-1 encryption key, for decrypting a
   * capture in Wireshark (its IKEv1 decryption table) — operator tooling
   * and tests; never logged.
   */
  exportKeys(ikeSaId: string): { initiatorCookie: Buffer; responderCookie: Buffer; encryptionKey: Buffer; cipher: string } | undefined {
    const ike = this.byId(ikeSaId)
    if (!ike?.encKey) return undefined
    // Copies: the SA's own memory is zeroed when it goes (IkeSa.destroy), a capture may be decrypted after.
    return { initiatorCookie: Buffer.from(ike.ckyI), responderCookie: Buffer.from(ike.ckyR), encryptionKey: Buffer.from(ike.encKey), cipher: ike.cipher }
  }

  /**
   * The IKE SA that holds an ESP SA pair now (a Phase 1 rekey moves pairs
   * to the new IKE SA). A scan of the SAs: asked only when a site's ESP SA
   * is rekeyed (lib/server/sites.ts), which an authenticated site alone can
   * cause; an index by SPI would cost every session a table entry.
   */
  ikeSaOfChild(inboundSpi: number): string | undefined {
    for (const ike of this.sas.values()) if (ike.children?.has(inboundSpi)) return ike.id
    return undefined
  }

  /** ESP SPIs we allocated and that are live. */
  childSas(ikeSaId: string): [number, number][] {
    return [...(this.byId(ikeSaId)?.children ?? [])]
  }
}

function endpointKey(identity: string, peer: { address: string; port: number }): string {
  return `${identity}\n${peer.address}\n${peer.port}`
}
