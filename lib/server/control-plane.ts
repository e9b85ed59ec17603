/**
 * The control plane, sans-IO, as both ends share it: IKE → ESP SAs in the
 * data plane → L2TP → PPP → data-plane sessions. It is fed what the data
 * plane sends up (`ingest`) and the clock (`tick`), and sends through the
 * data plane it is given; it never touches a socket or a timer itself. The
 * server (responder, LNS, PPP server with pool and authenticator) and the
 * client (initiator, LAC, PPP client) fill in the hooks.
 *
 * Order matters in three places (found composing the cores, see
 * __test__/stack.spec.ts): IKE events are handled right after each IKE
 * datagram, L2TP events right after each L2TP message, and a session exists
 * in the data plane before PPP starts, so the client's first LCP frame
 * reaches us.
 */
import type { ControlBatch, DataPlaneEvent, KeepaliveOptions, SessionOptions, DataPlaneStats, DataPlaneSummary, SaStats, SessionStats } from '../../native/index.js'
import { IkeEndpoint, type EndpointOptions } from '../ike/endpoint.js'
import type { IkeConfig, IkeEvent, IkeGuard } from '../ike/types.js'
import { L2tpEndpoint } from '../l2tp/endpoint.js'
import type { L2tpConfig, L2tpEvent, SessionRef, SessionUpEvent } from '../l2tp/endpoint.js'
import type { PppLink, PppLinkEvent, PppLinkUpEvent } from '../ppp/link.js'
import { DeadlineQueue, nextTimerSeq, type Timed } from '../util/deadline-queue.js'
import { ownCopy } from '../util/buffers.js'
import { MultiMap } from '../util/multimap.js'
import { BindingTable, parseHostPort, type Binding, type SaSink } from './bindings.js'
import { Outbox, type ControlSink } from './outbox.js'
import type { SessionDownReason, SessionInfo, ServerEvents } from './types.js'
import { NONE, pushed } from '../util/queues.js'

/** The data plane as the control plane uses it. */
export interface DataPlanePort extends SaSink, ControlSink {
  upsertSession(s: SessionOptions): void
  removeSession(id: number): boolean
  stats(): DataPlaneStats
  /** One session's counters, without the whole table (null: no such session). */
  sessionStats(id: number): SessionStats | null
  /**
   * The counters of the sessions whose traffic changed since the last call,
   * flat: [id, rxPackets, rxBytes, txPackets, txBytes, policyDenied,
   * keepaliveHeard] per session. Ports without it (in-memory ones) are read
   * through stats().
   */
  changedSessionCounters?(): Float64Array
  /** One SA's counters (null: none); ports without it are read through stats(). */
  saStats?(spi: number, direction: string): SaStats | null
  /** Counters, SA and session counts and sites without an object per SA or session; ports without it are read through stats(). */
  summary?(): DataPlaneSummary
  /**
   * Hands a session's LCP keepalive to the data plane (null: takes it back). Ports without it (in-memory ones)
   * leave echoes to the PPP link; the server hands them over (SessionOptions.keepalive) only to a port that has it.
   */
  setKeepalive?(session: number, keepalive: KeepaliveOptions | null): boolean
}

/** The data plane's summary, through stats() for ports without summary(). */
export function dataPlaneSummary(dp: Pick<DataPlanePort, 'stats' | 'summary'>): DataPlaneSummary {
  if (dp.summary) return dp.summary()
  const stats = dp.stats()
  return { counters: stats.counters, sas: stats.sas.length, sessions: stats.sessions.length, sites: stats.sites }
}

/** What the logger must offer (pino's shape). */
export interface LogSink {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface PppSettings {
  /** Our MRU, and the MTU the data plane clamps TCP to. */
  mtu: number
  echoInterval: number
  echoFailures: number
  /** Seconds; 0 = never. */
  idleTimeout: number
  sessionTimeout: number
  ipv6: boolean
}

export interface ControlPlaneOptions {
  ike: IkeConfig
  /** Admission control in front of the IKE responder (rate, brute-force back-off); kept across reloads. */
  ikeGuard?: IkeGuard | undefined
  /** Load generators only (lib/ike/reused-key-pair.ts): the initiator's Main Mode Diffie-Hellman half. */
  initiatorKeyPair?: EndpointOptions['initiatorKeyPair']
  l2tp: L2tpConfig
  /** Read at each new session, so a reload changes what comes next. */
  ppp: PppSettings
  dataplane: DataPlanePort
  log: LogSink
  /** Our address as peers reach it (the IKE path's local address). */
  localAddress: string
  /** Typed events out. */
  emit: <K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]) => void
  /** Seconds on the caller's monotonic clock. */
  clock: () => number
  /**
   * Calls whose timers a tick handles at most (default all); the rest are
   * left due, so nextDeadline() says now and the caller's next tick takes
   * them after the I/O waiting. L2tpServer: a stall that let thousands of
   * LCP echo timers fall due must not become one turn that long again.
   */
  maxCallsPerTick?: number
}

/** What a call keeps of its L2TP session: the ids, the peer's L2TP port and sequencing. */
export type CallL2tp = Omit<SessionRef, 'peer'> & { peerL2tpPort: number; sequencing?: boolean }

/**
 * A call's L2TP session in one fixed shape (the session-up event has up to
 * 17 fields, most out of object: ~0.1 KB more per call), and of the event's
 * copy of the peer only its L2TP port (the peer is the binding's: ~60 B
 * more per call; issue #9).
 */
function callRef(e: SessionRef & { sequencing?: boolean }): CallL2tp {
  return { binding: e.binding, peerL2tpPort: e.peer.l2tpPort, tunnelId: e.tunnelId, peerTunnelId: e.peerTunnelId, sessionId: e.sessionId, peerSessionId: e.peerSessionId, sequencing: e.sequencing }
}

/** One PPP session over one L2TP session. */
export interface Call extends Timed {
  /** The data plane's session id, and the id `kick` takes. */
  id: number
  /** The L2TP session: its ids from session-connecting, the whole session-up once ICCN came. */
  l2tp: CallL2tp
  /** PPP started (session-up seen). */
  opened: boolean
  /** PPP frames that came before session-up (the shared empty array while none: lib/util/queues.ts). */
  early: Buffer[]
  binding: Binding
  link: PppLink
  /** What the session reads of PPP's up event (callUp): not the event itself, with its DNS list copy, MRU, keys (issue #9). */
  up?: CallUp
  /**
   * The server's record of the call's login (server-control-plane.ts; the
   * client has none). Named here so that the call is made with it: a field
   * added later goes to a property array of its own (~40 B per call).
   */
  login?: object
  startedAt: number
  /** Wall-clock ms (Date.now()) when it started: a number, not a Date per call (~0.1 KB, issue #9). */
  startedWall: number
  /** Why we are ending it, when we are. */
  ending?: { reason: SessionDownReason; detail: string }
  /** When we started ending it (Terminate-Request sent). */
  endingAt?: number
  /** The L2TP session is gone (CDN sent or received). */
  cleared: boolean
  /** PPP finished (phase Dead) and its down event was seen. */
  pppDown?: { reason: string; wasUp: boolean }
  finished: boolean
  /**
   * Per-session timeouts set after session-up (a RADIUS CoA), over the
   * user's policy (`up.policy`) and ppp.*; seconds, 0 = never. A session
   * timeout counts from `sessionFrom` (default: session-up).
   */
  limits?: { sessionTimeout?: number; sessionFrom?: number; idleTimeout?: number }
  /** Traffic counted by earlier data-plane entries of this session (an upsert starts the counters afresh). */
  counterBase?: SessionCounters
  /** The current data-plane entry's figures as of the last refreshCounters() (none before any traffic): on the call, not in a Map by call id (issue #9). */
  counters?: SessionCounters
}

/** The fields of PPP's up event a live call reads (user, address, the data plane's framing, the user's policy). */
export type CallUp = Pick<PppLinkUpEvent, 'user' | 'address' | 'acfc' | 'pfc' | 'peerMru' | 'authMethod' | 'policy'>

/** A call's up record in one fixed shape: the event's other fields go with the event (~0.1 KB per call, issue #9). */
function callUp(e: PppLinkUpEvent): CallUp {
  return { user: e.user, address: e.address, acfc: e.acfc, pfc: e.pfc, peerMru: e.peerMru, authMethod: e.authMethod, policy: e.policy }
}

/** A session's traffic as the data plane counts it. */
export interface SessionCounters {
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  /** Packets from the client its traffic policy dropped. */
  policyDenied: number
}

const TERMINATE_WAIT = 3
const EARLY_FRAMES = 16
/** Seconds an inbound SA installed at Quick Mode message 2 waits for message 3. */
const EARLY_INBOUND_MAX_AGE = 60

export abstract class ControlPlane {
  readonly ike: IkeEndpoint
  readonly l2tp: L2tpEndpoint
  readonly bindings: BindingTable
  protected readonly o: ControlPlaneOptions
  private readonly outbox = new Outbox()
  /** Established IKE SA id -> the peer identity it proved (a string, not a record: nothing else was read; issue #9). */
  protected readonly ikeSas = new Map<string, string>()
  protected readonly calls = new Map<number, Call>()
  private readonly callBySession = new Map<number, Call>()
  private readonly dirty = new Set<Call>()
  /** Calls by when they must next be woken (PPP timers, session timeout, Terminate wait): a tick touches only those due. */
  private readonly callTimers = new DeadlineQueue<Call>((call) => this.callDeadline(call))
  /** Live calls per ESP SA pair, to end them when it goes without a scan of every call. */
  private readonly callsByBinding = new MultiMap<Binding, Call>()
  private nextCallId = 1
  /** Frames the data plane refused to send (no SA or session yet): counted, visible in status. */
  unsent = 0

  constructor(options: ControlPlaneOptions) {
    this.o = options
    this.ike = new IkeEndpoint(options.ike, { ...(options.ikeGuard ? { guard: options.ikeGuard } : {}), ...(options.initiatorKeyPair ? { initiatorKeyPair: options.initiatorKeyPair } : {}) })
    this.l2tp = new L2tpEndpoint(options.l2tp)
    this.bindings = new BindingTable(options.dataplane)
  }

  // --- what each end does ----------------------------------------------------

  /** An ESP SA pair is installed (the client opens its tunnel here). */
  protected abstract onBindingUp(binding: Binding, now: number): void
  /** An L2TP tunnel came up (the client places its call here). */
  protected abstract onTunnelUp(e: Extract<L2tpEvent, { type: 'tunnel-up' }>, now: number): void
  /** The PPP link for a new L2TP session. */
  protected abstract newLink(e: SessionRef, binding: Binding): PppLink
  /** What the data plane needs of a session beyond its L2TP ids (addresses, routes). */
  protected abstract sessionRouting(call: Call): Partial<SessionOptions>
  /** PPP events beyond the common ones (auth requests, address release). */
  protected abstract onPppEvent(call: Call, e: PppLinkEvent, now: number): void
  /** A call is gone from every layer. */
  protected abstract onCallFinished(call: Call, now: number): void

  /** The data plane flagged a live call's traffic (config `anomaly`; the server reports and may end it). */
  protected onAnomaly(_call: Call, _e: DataPlaneEvent, _now: number): void {}

  /** A tunnel-mode SA pair is installed (a site-to-site link; the IKE core only negotiates one for a configured site). */
  protected onTunnelChildUp(e: Extract<IkeEvent, { type: 'child-sa-up' }>, _binding: Binding, _now: number): void {
    this.o.log.warn({ ikeSa: e.ikeSa, selectors: e.selectors }, 'tunnel-mode ESP SA negotiated: not used here')
  }

  /** An ESP SA pair is gone (either mode). */
  protected onChildDown(_e: Extract<IkeEvent, { type: 'child-sa-down' }>, _now: number): void {}

  /** A PPP frame from a call's peer that this end takes itself (before the link sees it); true when taken. */
  protected interceptPpp(_call: Call, _frame: Buffer, _now: number): boolean {
    return false
  }

  /** What session-up and sessions() show of a call beyond the common fields (the server: its IPv6 prefix). */
  protected sessionExtras(_call: Call): Pick<SessionInfo, 'ipv6Prefix'> {
    return {}
  }

  /** Queues a PPP frame to a call's peer; it leaves with the rest at the end of the current input or tick. */
  protected sendPpp(call: Call, frame: Buffer): void {
    this.outbox.ppp(call.id, frame)
  }

  /** Installs (or replaces) a call's data-plane session: a new entry counts from zero, so the last refresh's figures of the old one go. */
  private installSession(call: Call): void {
    call.counters = undefined
    this.o.dataplane.upsertSession(this.sessionOptions(call))
  }

  /** Installs a call's data-plane session again after `sessionRouting` changed; false (and the call ends) when refused. */
  protected refreshSession(call: Call, now: number): boolean {
    try {
      // The new entry counts from zero: keep what the old one counted.
      const counted = this.o.dataplane.sessionStats(call.id)
      if (counted) call.counterBase = addCounters(call.counterBase, counted)
      this.installSession(call)
      return true
    } catch (err) {
      this.o.log.error({ err, session: call.id }, 'data plane refused the session update')
      this.end(call, 'error', `data plane: ${(err as Error).message}`, now)
      return false
    }
  }

  /** Every L2TP event, before the common handling (a test peer records refusals here). */
  protected observeL2tp(_e: L2tpEvent, _now: number): void {}

  /** A failure under the calls (IKE refused or gone, tunnel gone); the client gives up or retries here. */
  protected onLowerFailure(_what: 'ike' | 'l2tp', _reason: string, _now: number): void {}

  /** Feeds the answer of an asynchronous step (authentication) back in. */
  protected resume(call: Call): void {
    const now = this.o.clock()
    this.dirty.add(call)
    this.pump(now)
  }

  /** Sends whatever the cores queued outside an input (e.g. after connect()). */
  flush(): void {
    this.pump(this.o.clock())
  }

  // --- input ---------------------------------------------------------------

  /** One batch from the data plane: control frames in order, then events. */
  ingest(batch: ControlBatch): void {
    const now = this.o.clock()
    for (let i = 0; i < batch.meta.length; i++) {
      const meta = batch.meta[i]!
      const frame = batch.packets.subarray(batch.offsets[i], batch.offsets[i + 1])
      try {
        this.frame(meta.kind, meta, frame, now)
      } catch (e) {
        this.o.log.error({ err: e, kind: meta.kind }, 'control frame handling failed')
      }
    }
    for (const event of batch.events) this.dataplaneEvent(event, now)
    this.pump(now)
  }

  private frame(kind: string, meta: ControlBatch['meta'][number], frame: Buffer, now: number): void {
    if (kind === 'ike') {
      // Our address as the peer addressed it (IP_PKTINFO; on 0.0.0.0 the listen address says nothing): our default ID, NAT-D hash and reply source.
      const path = { peer: { address: meta.peerAddress ?? '', port: meta.peerPort ?? 0 }, local: { address: meta.localAddress ?? this.o.localAddress, port: meta.localPort ?? 500 } }
      // Copies of their own, not pool slices: what a core keeps of a frame (a vendor ID, an AVP) must not hold an 8 KiB slab.
      this.ike.handle(ownCopy(frame), path, now)
      this.drainIke(now)
    } else if (kind === 'l2tp') {
      const binding = meta.binding === undefined ? undefined : this.bindings.get(meta.binding)
      if (!binding) return
      // It came through the binding's ESP SA: the peer is alive, no DPD probe needed (as for ESP data, refreshCounters).
      this.ike.touch(binding.ikeSa, now)
      this.l2tp.handle(ownCopy(frame), { binding: binding.id, address: binding.peer.address, port: binding.peer.port, l2tpPort: meta.l2tpPort ?? 1701 }, now)
      this.drainL2tp(now)
    } else if (kind === 'ppp') {
      const call = meta.session === undefined ? undefined : this.calls.get(meta.session)
      if (!call) return
      this.ike.touch(call.binding.ikeSa, now)
      if (!call.opened) {
        // Before session-up (ICCN still being handled): keep a few frames.
        if (call.early.length < EARLY_FRAMES) call.early = pushed(call.early, ownCopy(frame))
        return
      }
      // What an end handles itself (the server: IPv6 Router Solicitations) never reaches the link.
      // Dirty either way: what an end intercepts may move the call's timers (the server's Router Advertisements).
      this.dirty.add(call)
      if (this.guarded(call, now, () => this.interceptPpp(call, frame, now)) === true) return
      this.guarded(call, now, () => call.link.receive(ownCopy(frame), now))
    }
  }

  private dataplaneEvent(e: DataPlaneEvent, now: number): void {
    switch (e.type) {
      case 'session-idle': {
        const call = e.session === undefined ? undefined : this.calls.get(e.session)
        if (call) this.end(call, 'idle', `no traffic for ${Math.round((e.idleMs ?? 0) / 1000)} s`, now)
        return
      }
      case 'session-echo-timeout': {
        // The data plane's LCP keepalive (SessionOptions.keepalive) lost the peer: down as the link's own timer takes it.
        const call = e.session === undefined ? undefined : this.calls.get(e.session)
        if (call && !call.finished) this.end(call, 'lcp-echo-timeout', 'echo timeout', now)
        return
      }
      case 'peer-changed': {
        if (e.binding !== undefined && e.newPeer) this.bindings.moved(e.binding, parseHostPort(e.newPeer))
        this.o.log.info({ binding: e.binding, from: e.oldPeer, to: e.newPeer }, 'IPsec peer moved (NAT rebinding)')
        return
      }
      case 'sa-hard-lifetime':
      case 'sa-soft-lifetime':
      case 'sa-sequence-near-exhaustion':
        // The client rekeys (it is the initiator); a hard limit is enforced by the data plane itself.
        this.o.log.info({ spi: e.spi, reason: e.reason, event: e.type }, 'ESP SA lifetime')
        return
      case 'worker-panic':
        this.o.log.error({ message: e.message }, 'data plane worker caught a panic')
        this.o.emit('error', new Error(`data plane worker panic: ${e.message}`))
        return
      case 'session-anomaly': {
        const call = e.session === undefined ? undefined : this.calls.get(e.session)
        if (call?.up && !call.ending) this.onAnomaly(call, e, now)
        return
      }
      case 'drops':
        this.o.log.debug({ drops: e.drops }, 'data plane drops')
        return
      default:
        this.o.log.debug({ event: e }, 'data plane event')
    }
  }

  // --- timers --------------------------------------------------------------

  /** Fires what is due at `now`; returns when next to call. */
  tick(now = this.o.clock()): number | undefined {
    this.ike.handleTimeout(now)
    this.bindings.expireEarly(now, EARLY_INBOUND_MAX_AGE)
    const l2tpAt = this.l2tp.nextTimeout()
    if (l2tpAt !== undefined && l2tpAt <= now) this.l2tp.handleTimeout(now)
    const due = this.callTimers.due(now, this.o.maxCallsPerTick)
    for (const call of due) {
      if (!call.finished) this.callTimeout(call, now)
    }
    this.drainL2tp(now)
    this.pump(now)
    for (const call of due) if (!call.finished) this.callTimers.update(call)
    return this.nextDeadline()
  }

  /** What is due for one call at `now` (the queue found its deadline passed); an end adds its own (the server: Router Advertisements). */
  protected callTimeout(call: Call, now: number): void {
    this.dirty.add(call)
    const at = call.link.nextTimeout()
    if (at !== undefined && at <= now) this.guarded(call, now, () => call.link.handleTimeout(now))
    const timeout = this.sessionTimeoutOf(call)
    if (timeout > 0 && call.up && !call.ending && now - (call.limits?.sessionFrom ?? call.startedAt) >= timeout) {
      this.end(call, 'session-timeout', `session timeout of ${timeout} s`, now)
    }
    // A peer that never answers our Terminate-Request: clear the call anyway.
    if (call.ending && call.link.phase !== 'Dead' && call.endingAt !== undefined && now - call.endingAt > TERMINATE_WAIT * 3) call.link.lowerDown(now, 'terminate timeout')
  }

  /** When `callTimeout` must next run for `call`; an end that adds timers adds their times. */
  protected callDeadline(call: Call): number | undefined {
    if (call.finished) return undefined
    // No closures: asked after every input of every call.
    let next = call.link.nextTimeout()
    const timeout = this.sessionTimeoutOf(call)
    if (timeout > 0 && call.up && !call.ending) next = earlier(next, (call.limits?.sessionFrom ?? call.startedAt) + timeout)
    if (call.ending && call.endingAt !== undefined && call.link.phase !== 'Dead') next = earlier(next, call.endingAt + TERMINATE_WAIT * 3 + 0.01)
    return next
  }

  /** Call after changing what `callDeadline` reads outside a PPP input or tick (a CoA's limits, a reload's ppp settings). */
  protected retime(call: Call): void {
    this.callTimers.update(call)
  }

  /** Seconds a session may last (0: no limit): a CoA's, else the user's policy (RADIUS Session-Timeout), else ppp.sessionTimeout. */
  protected sessionTimeoutOf(call: Call): number {
    return call.limits?.sessionTimeout ?? call.up?.policy?.sessionTimeout ?? this.o.ppp.sessionTimeout
  }

  /** Seconds without IP traffic before a session ends (0: never), chosen the same way. */
  protected idleTimeoutOf(call: Call): number {
    return call.limits?.idleTimeout ?? call.up?.policy?.idleTimeout ?? this.o.ppp.idleTimeout
  }

  /** The earliest deadline of any core or call: O(log n), no scan (called after every batch). */
  nextDeadline(): number | undefined {
    return earlier(earlier(this.ike.nextTimeout(), this.l2tp.nextTimeout()), this.callTimers.next())
  }

  // --- draining ------------------------------------------------------------

  /** Drains every core until nothing moves, then sends what they produced in one batch. */
  pump(now: number): void {
    for (let guard = 0; guard < 64; guard++) {
      let moved = this.drainIke(now)
      moved = this.drainL2tp(now) || moved
      for (const call of [...this.dirty]) {
        this.dirty.delete(call)
        moved = this.guarded(call, now, () => this.drainCall(call, now)) || moved
        if (!call.finished) this.callTimers.update(call)
      }
      if (!moved) break
    }
    this.unsent += this.outbox.flush(this.o.dataplane)
  }

  private drainIke(now: number): boolean {
    let moved = false
    for (let t = this.ike.pollTransmit(); t; t = this.ike.pollTransmit()) {
      moved = true
      this.outbox.ike(t)
    }
    for (let e = this.ike.pollEvent(); e; e = this.ike.pollEvent()) {
      moved = true
      this.ikeEvent(e, now)
    }
    return moved
  }

  private ikeEvent(e: IkeEvent, now: number): void {
    switch (e.type) {
      case 'ike-sa-up':
        this.ikeSas.set(e.ikeSa, e.peerId)
        this.o.log.info({ ikeSa: e.ikeSa, peer: e.peer, peerId: e.peerId, nat: e.natDetected, suite: e.suite }, 'IKE SA up')
        this.o.emit('ike-sa-up', { ikeSa: e.ikeSa, peer: e.peer, peerId: e.peerId, natDetected: e.natDetected, suite: e.suite, setupSeconds: e.setupSeconds })
        return
      case 'ike-sa-down':
        this.ikeSas.delete(e.ikeSa)
        this.o.log.info({ ikeSa: e.ikeSa, reason: e.reason }, 'IKE SA down')
        this.o.emit('ike-sa-down', { ikeSa: e.ikeSa, reason: e.reason })
        this.onLowerFailure('ike', e.reason, now)
        return
      case 'child-sa-inbound':
        try {
          this.bindings.inbound(e, this.ikeSas.get(e.ikeSa) ?? e.peer.address, now)
        } catch (err) {
          this.o.log.warn({ err, ikeSa: e.ikeSa }, 'installing the inbound SA early failed; it goes in with child-sa-up')
        }
        return
      case 'child-sa-up': {
        const peerId = this.ikeSas.get(e.ikeSa) ?? e.peer.address
        try {
          const binding = this.bindings.up(e, peerId, now)
          this.o.log.info({ ikeSa: e.ikeSa, binding: binding.id, spiIn: hex(e.inbound.spi), spiOut: hex(e.outbound.spi), suite: e.inbound.suite, udp: e.udpEncapsulated, mode: e.mode }, 'ESP SA pair installed')
          if (e.mode === 'tunnel') this.onTunnelChildUp(e, binding, now)
          else this.onBindingUp(binding, now)
        } catch (err) {
          this.o.log.error({ err, ikeSa: e.ikeSa }, 'installing the ESP SA pair failed')
          this.o.emit('error', err instanceof Error ? err : new Error(String(err)))
        }
        return
      }
      case 'child-sa-down': {
        const result = this.bindings.down(e)
        this.onChildDown(e, now)
        if (!result) return
        this.o.log.info({ ikeSa: e.ikeSa, binding: result.binding.id, spiIn: hex(e.inboundSpi), reason: e.reason }, 'ESP SA pair removed')
        if (result.empty) {
          for (const call of this.callsByBinding.get(result.binding)) call.ending ??= { reason: 'ike-down', detail: `IPsec SA gone: ${e.reason}` }
          this.l2tp.removeBinding(result.binding.id)
          this.drainL2tp(now)
        }
        return
      }
      case 'auth-failure':
        this.o.log.warn({ peer: e.peer, reason: e.reason }, 'IKE authentication failed')
        this.o.emit('auth-failure', { user: undefined, method: 'ike', reason: e.reason, peer: { ...e.peer } })
        this.onLowerFailure('ike', `IKE authentication failed: ${e.reason}`, now)
        return
      case 'negotiation-failure':
        this.o.log.warn({ peer: e.peer, stage: e.stage, reason: e.reason }, 'IKE negotiation failed')
        this.o.emit('negotiation-failure', { stage: e.stage, reason: e.reason, peer: { ...e.peer } })
        this.onLowerFailure('ike', `IKE ${e.stage} failed: ${e.reason}`, now)
        return
      case 'dropped':
        this.o.log.debug({ peer: e.peer, reason: e.reason, count: e.count }, 'IKE messages dropped')
        return
      default:
        return
    }
  }

  private drainL2tp(now: number): boolean {
    let moved = false
    for (let e = this.l2tp.pollEvent(); e; e = this.l2tp.pollEvent()) {
      moved = true
      this.l2tpEvent(e, now)
    }
    for (let t = this.l2tp.pollTransmit(); t; t = this.l2tp.pollTransmit()) {
      moved = true
      this.outbox.l2tp(t)
    }
    return moved
  }

  private l2tpEvent(e: L2tpEvent, now: number): void {
    this.observeL2tp(e, now)
    switch (e.type) {
      case 'tunnel-up':
        this.o.log.info({ binding: e.binding, tunnel: e.tunnelId, peerHost: e.peerHostName, vendor: e.peerVendorName }, 'L2TP tunnel up')
        return this.onTunnelUp(e, now)
      case 'tunnel-down':
        this.o.log.info({ binding: e.binding, tunnel: e.tunnelId, reason: e.reason, by: e.by }, 'L2TP tunnel down')
        this.onLowerFailure('l2tp', `L2TP tunnel down: ${e.reason}`, now)
        return
      case 'session-connecting':
        this.prepareCall(e, now)
        return
      case 'session-up':
        return this.startCall(e, now)
      case 'session-down': {
        const call = this.callBySession.get(e.sessionId)
        if (!call) return
        call.cleared = true
        if (e.by === 'peer') call.ending ??= { reason: 'peer', detail: `the client cleared the call${e.result ? ` (result ${e.result.resultCode})` : ''}` }
        else call.ending ??= { reason: 'l2tp-down', detail: `L2TP: ${e.reason}` }
        if (call.link.phase !== 'Dead') call.link.lowerDown(now, `L2TP ${e.reason}`)
        this.dirty.add(call)
        return
      }
      default:
        return
    }
  }

  /**
   * A call's data path, ready before PPP starts: the data-plane session
   * (so the client's first LCP frame, sent right behind its ICCN, reaches
   * us) and the PPP link, opened at session-up.
   */
  private prepareCall(e: SessionRef, now: number): Call | undefined {
    const binding = this.bindings.get(e.binding)
    if (!binding) {
      this.l2tp.closeSession(e.sessionId, undefined, now)
      return undefined
    }
    const id = this.allocateCallId()
    const call: Call = { id, l2tp: callRef(e), binding, link: this.newLink(e, binding), up: undefined, login: undefined, startedAt: now, startedWall: Date.now(), cleared: false, finished: false, opened: false, early: NONE, timerAt: undefined, timerSeq: nextTimerSeq() }
    this.calls.set(id, call)
    this.callBySession.set(e.sessionId, call)
    try {
      this.installSession(call)
      this.callTimers.update(call)
      this.callsByBinding.add(binding, call)
    } catch (err) {
      this.o.log.error({ err, session: id }, 'data plane refused the session')
      this.calls.delete(id)
      this.callBySession.delete(e.sessionId)
      this.l2tp.closeSession(e.sessionId, undefined, now)
      return undefined
    }
    return call
  }

  private startCall(e: SessionUpEvent, now: number): void {
    const call = this.callBySession.get(e.sessionId) ?? this.prepareCall(e, now)
    if (!call || call.opened) return
    const sequencingChanged = e.sequencing !== (call.l2tp.sequencing ?? false)
    call.l2tp = callRef(e)
    if (sequencingChanged) this.installSession(call)
    this.o.log.info({ session: call.id, binding: call.binding.id, tunnel: e.tunnelId, l2tpSession: e.sessionId, peer: call.binding.peer }, 'L2TP session up, starting PPP')
    call.opened = true
    call.link.open(now)
    const early = call.early
    call.early = NONE
    for (const frame of early) call.link.receive(frame, now)
    this.dirty.add(call)
  }

  private sessionOptions(call: Call): SessionOptions {
    const up = call.up
    return {
      id: call.id,
      binding: call.binding.id,
      localTunnel: call.l2tp.tunnelId,
      localSession: call.l2tp.sessionId,
      peerTunnel: call.l2tp.peerTunnelId,
      peerSession: call.l2tp.peerSessionId,
      peerPort: call.l2tp.peerL2tpPort,
      sequencing: call.l2tp.sequencing,
      mru: up ? Math.min(up.peerMru, this.o.ppp.mtu) : this.o.ppp.mtu,
      ...(up ? { acfc: up.acfc, pfc: up.pfc } : {}),
      ...(up && this.idleTimeoutOf(call) > 0 ? { idleTimeoutMs: this.idleTimeoutOf(call) * 1000 } : {}),
      ...this.sessionRouting(call),
    }
  }

  private drainCall(call: Call, now: number): boolean {
    let moved = false
    for (let f = call.link.pollTransmit(); f; f = call.link.pollTransmit()) {
      moved = true
      this.outbox.ppp(call.id, f)
    }
    for (let e = call.link.pollEvent(); e; e = call.link.pollEvent()) {
      moved = true
      this.pppEvent(call, e, now)
    }
    if (call.opened && call.link.phase === 'Dead' && !call.cleared) {
      moved = true
      call.cleared = true
      this.l2tp.closeSession(call.l2tp.sessionId, undefined, now)
      this.drainL2tp(now)
    }
    if (call.link.phase === 'Dead' && call.cleared && !call.finished) {
      moved = true
      this.finish(call, now)
    }
    return moved
  }

  private pppEvent(call: Call, e: PppLinkEvent, now: number): void {
    this.onPppEvent(call, e, now)
    switch (e.type) {
      case 'authenticated':
        this.o.log.info({ session: call.id, user: e.user, method: e.method }, 'PPP authenticated')
        return
      case 'auth-failed':
        this.o.log.warn({ session: call.id, user: e.user, method: e.method, reason: e.reason, final: e.final, peer: call.binding.peer }, 'PPP authentication failed')
        this.o.emit('auth-failure', { user: e.user, method: e.method, reason: e.failure?.reason ?? e.reason, peer: { ...call.binding.peer } })
        if (e.final) call.ending ??= { reason: 'error', detail: `authentication failed: ${e.reason}` }
        return
      case 'up':
        call.up = callUp(e)
        call.startedAt = now
        call.startedWall = Date.now()
        try {
          this.installSession(call)
        } catch (err) {
          this.o.log.error({ err, session: call.id }, 'data plane refused the session address')
          this.end(call, 'error', `data plane: ${(err as Error).message}`, now)
          return
        }
        this.o.log.info({ session: call.id, user: e.user, address: e.address, method: e.authMethod, peer: call.binding.peer }, 'session up')
        this.o.emit('session-up', { id: call.id, user: e.user, address: e.address, peer: { ...call.binding.peer }, peerId: call.binding.peerId, authMethod: e.authMethod ?? 'none', suite: call.binding.suite, ...this.sessionExtras(call) })
        return
      case 'down':
        call.pppDown = { reason: e.reason, wasUp: e.wasUp }
        if (!call.ending) {
          const echo = /echo/i.test(e.reason)
          call.ending = echo ? { reason: 'lcp-echo-timeout', detail: e.reason } : { reason: 'peer', detail: e.reason }
        }
        this.dirty.add(call)
        return
      default:
        return
    }
  }

  private finish(call: Call, now: number): void {
    call.finished = true
    const stats = this.countersOf(call)
    this.o.dataplane.removeSession(call.id)
    this.calls.delete(call.id)
    this.callBySession.delete(call.l2tp.sessionId)
    call.counters = undefined
    this.callTimers.cancel(call)
    this.callsByBinding.delete(call.binding, call)
    const ending = call.ending ?? { reason: 'peer' as const, detail: call.pppDown?.reason ?? 'ended' }
    if (call.up) {
      const durationSeconds = Math.max(0, Math.round((Date.now() - call.startedWall) / 1000))
      this.o.log.info({ session: call.id, user: call.up.user, address: call.up.address, reason: ending.reason, detail: ending.detail, ...stats, durationSeconds }, 'session down')
      this.o.emit('session-down', { id: call.id, user: call.up.user, address: call.up.address, reason: ending.reason, detail: ending.detail, ...stats, durationSeconds })
    }
    this.onCallFinished(call, now)
  }

  /**
   * Runs one session's handling; an exception ends that session only
   * (logged, reason 'error'), never the server or the other sessions.
   */
  private guarded<T>(call: Call, now: number, work: () => T): T | false {
    try {
      return work()
    } catch (err) {
      this.o.log.error({ err, session: call.id, user: call.up?.user }, 'session handling failed; ending the session')
      this.o.emit('error', err instanceof Error ? err : new Error(String(err)))
      this.abort(call, now, `internal error: ${err instanceof Error ? err.message : String(err)}`)
      return false
    }
  }

  /** Ends a session whose state can no longer be trusted: no PPP handshake, CDN, data plane and pool cleaned. */
  private abort(call: Call, now: number, detail: string): void {
    call.ending ??= { reason: 'error', detail }
    try {
      if (call.link.phase !== 'Dead') call.link.lowerDown(now, detail)
      for (let e = call.link.pollEvent(); e; e = call.link.pollEvent()) if (e.type === 'down') this.onPppEvent(call, e, now)
    } catch {
      // the link is what failed; its address is released below if known
    }
    if (!call.cleared) {
      call.cleared = true
      try {
        this.l2tp.closeSession(call.l2tp.sessionId, undefined, now)
      } catch {
        // already gone
      }
    }
    if (!call.finished) this.finish(call, now)
  }

  // --- operations ----------------------------------------------------------

  /** Ends a session the right way: PPP Terminate, then CDN. */
  end(call: Call, reason: SessionDownReason, detail: string, now = this.o.clock()): void {
    if (call.ending && call.endingAt !== undefined) return
    call.ending = { reason, detail }
    call.endingAt = now
    if (call.link.phase === 'Dead') call.link.lowerDown(now, detail)
    else call.link.close(now, detail)
    this.dirty.add(call)
    this.pump(now)
  }

  kick(id: number): boolean {
    const call = this.calls.get(id)
    if (!call) return false
    this.end(call, 'kicked', 'kicked by the administrator')
    return true
  }

  /** Starts ending every session; `closed()` says when they are all gone. */
  closeAll(reason: SessionDownReason, detail: string): void {
    const now = this.o.clock()
    for (const call of [...this.calls.values()]) this.end(call, reason, detail, now)
  }

  get sessionCount(): number {
    return this.calls.size
  }

  /** After closeAll: StopCCN to every tunnel and Delete for every IKE SA, sent now. */
  closeTunnelsAndIke(): void {
    const now = this.o.clock()
    for (const t of this.l2tp.tunnels()) {
      try {
        this.l2tp.closeTunnel(t.tunnelId, undefined, now)
      } catch {
        // already closing
      }
    }
    for (const ikeSa of [...this.ikeSas.keys()]) this.ike.close(ikeSa, now, 'server shutting down')
    this.pump(now)
  }

  /**
   * Refreshes per-session counters from the data plane (called periodically
   * and by sessions()): only the sessions whose traffic changed since the
   * last refresh cross the boundary, in one flat array, and their entries
   * are updated in place; a session with no traffic yet has none (zeros).
   */
  refreshCounters(): void {
    const dp = this.o.dataplane
    const flat = dp.changedSessionCounters ? dp.changedSessionCounters() : flatSessionCounters(dp.stats().sessions)
    const now = this.o.clock()
    for (let i = 0; i + COUNTER_STRIDE <= flat.length; i += COUNTER_STRIDE) {
      const id = flat[i]!
      const call = this.calls.get(id)
      if (!call || call.finished) continue
      const rxPackets = flat[i + 1]!
      let c = call.counters
      // ESP traffic from the peer since the last refresh proves it alive: no DPD probe needed for it. So do the
      // LCP echoes the data plane handled (the keepalive flag): they no longer come up as frames.
      if (rxPackets > (c?.rxPackets ?? 0) || flat[i + 6] === 1) this.ike.touch(call.binding.ikeSa, now)
      // Listed for its echoes only, with no traffic yet: it still needs no counters object (issue #9).
      if (!c && rxPackets === 0 && flat[i + 3] === 0 && flat[i + 5] === 0) continue
      if (!c) call.counters = c = countersOf()
      c.rxPackets = rxPackets
      c.rxBytes = flat[i + 2]!
      c.txPackets = flat[i + 3]!
      c.txBytes = flat[i + 4]!
      c.policyDenied = flat[i + 5]!
    }
    const saStats = dp.saStats ? (spi: number) => dp.saStats!(spi, 'in') ?? undefined : inboundSaLookup(() => dp.stats().sas)
    for (const s of this.bindings.checkTruncation(saStats, now)) {
      this.o.log.warn({ binding: s.binding, spiIn: hex(s.spiIn), spiOut: hex(s.spiOut), suite: s.suite }, 'HMAC-SHA-256 ICV length switched: no packet verified (Android 6/7 truncate it to 96 bits)')
    }
  }

  /**
   * A live call's traffic so far (undefined: no such call): read from the
   * data plane now, or with `fresh` false as of the last refreshCounters()
   * (cheap: for periodic readers such as RADIUS interim updates).
   */
  sessionCounters(id: number, fresh = true): SessionCounters | undefined {
    const call = this.calls.get(id)
    return call ? this.countersOf(call, fresh) : undefined
  }

  private countersOf(call: Call, fresh = true): SessionCounters {
    const s = fresh ? this.o.dataplane.sessionStats(call.id) : undefined
    const c = s ? countersOf(s) : (call.counters ?? countersOf())
    return addCounters(call.counterBase, c)
  }

  sessions(): SessionInfo[] {
    this.refreshCounters()
    const out: SessionInfo[] = []
    for (const call of this.calls.values()) {
      if (!call.up || call.finished) continue
      const c = addCounters(call.counterBase, call.counters ?? countersOf())
      out.push({
        id: call.id,
        user: call.up.user,
        address: call.up.address,
        peer: { ...call.binding.peer },
        peerId: call.binding.peerId,
        authMethod: call.up.authMethod ?? 'none',
        suite: call.binding.suite,
        udpEncapsulated: call.binding.udpEncapsulated,
        l2tp: { tunnelId: call.l2tp.tunnelId, sessionId: call.l2tp.sessionId, peerTunnelId: call.l2tp.peerTunnelId, peerSessionId: call.l2tp.peerSessionId },
        startedAt: new Date(call.startedWall).toISOString(),
        durationSeconds: Math.round((Date.now() - call.startedWall) / 1000),
        ...c,
        ...this.sessionExtras(call),
      })
    }
    return out
  }

  private allocateCallId(): number {
    for (;;) {
      const id = this.nextCallId
      this.nextCallId = this.nextCallId >= 0xffff_fffe ? 1 : this.nextCallId + 1
      if (!this.calls.has(id)) return id
    }
  }
}

/** The earlier of two optional times. */
export function earlier(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a <= b ? a : b
}

function addCounters(base: SessionCounters | undefined, c: SessionCounters): SessionCounters {
  return {
    rxBytes: (base?.rxBytes ?? 0) + c.rxBytes,
    txBytes: (base?.txBytes ?? 0) + c.txBytes,
    rxPackets: (base?.rxPackets ?? 0) + c.rxPackets,
    txPackets: (base?.txPackets ?? 0) + c.txPackets,
    policyDenied: (base?.policyDenied ?? 0) + c.policyDenied,
  }
}

function countersOf(s?: SessionCounters): SessionCounters {
  return { rxBytes: s?.rxBytes ?? 0, txBytes: s?.txBytes ?? 0, rxPackets: s?.rxPackets ?? 0, txPackets: s?.txPackets ?? 0, policyDenied: s?.policyDenied ?? 0 }
}

/** Values per session in changedSessionCounters()'s array (the last: the data plane's keepalive heard the peer). */
const COUNTER_STRIDE = 7

/** stats().sessions in changedSessionCounters()'s form (every session, changed or not). */
function flatSessionCounters(sessions: readonly SessionStats[]): Float64Array {
  const out = new Float64Array(sessions.length * COUNTER_STRIDE)
  sessions.forEach((s, i) => out.set([s.id, s.rxPackets, s.rxBytes, s.txPackets, s.txBytes, s.policyDenied, 0], i * COUNTER_STRIDE))
  return out
}

/** An inbound-SA lookup over the whole table, built on first use (for ports without saStats). */
function inboundSaLookup(all: () => readonly SaStats[]): (spi: number) => SaStats | undefined {
  let bySpi: Map<number, SaStats> | undefined
  return (spi) => (bySpi ??= new Map(all().filter((s) => s.direction === 'in').map((s) => [s.spi, s]))).get(spi)
}

function hex(spi: number): string {
  return `0x${spi.toString(16).padStart(8, '0')}`
}
