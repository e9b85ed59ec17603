// RADIUS accounting (RFC 2866): Start, Interim-Update and Stop records for
// each session, and Accounting-On/Off for the gateway.
//
// Every record is first written to a PersistentQueue (fsync'ed) and only
// then sent; it leaves the queue when a server acknowledged it. A RADIUS
// outage of minutes, or a restart of our process (a new RadiusAccounting on
// the same queueFile), loses nothing: records are retried until delivered,
// oldest first, with at most `window` in flight, pausing `retryDelayMs`
// after a failed attempt. Delivery is at least once: a record whose
// response was lost is sent again (RADIUS servers de-duplicate on
// Acct-Session-Id + Acct-Status-Type + Event-Timestamp, all of which we
// fix when the record is queued). Acct-Delay-Time is computed on each
// transmission from the time the event happened.
//
// Acct-Session-Id is "<gatewayId>-<16 random hex digits>": unique across
// gateways sharing one RADIUS server, and across restarts of one gateway.
//
// Interim updates: the caller calls `interim(session, counters)` when it
// wants, or gives `readCounters` and an interval (option, or per session
// from Acct-Interim-Interval) and this class runs one unref'd timer per
// session. Either way the counters are the caller's (the data plane's).
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { isIPv4 } from 'node:net'
import type { SessionDownReason } from '../../server/types.js'
import { AuthError } from '../types.js'
import { attr, ipv6Prefix } from './attributes.js'
import type { NasIdentity } from './authenticator.js'
import { RadiusClient, type RadiusClientOptions } from './client.js'
import { decodeAttributes, encodeAttributes, type RadiusAttribute } from './codec.js'
import { AcctAuthentic, AcctStatusType, AcctTerminateCause, Attr, Code, FramedProtocol, NasPortType, ServiceType } from './dictionary.js'
import { PersistentQueue, type QueueEntry } from './queue.js'

/** What a Start needs to know about a session (SessionUpInfo has all but the RADIUS extras). */
export interface AccountingSession {
  /** Our session id (SessionInfo.id): the key of interim/stop, and NAS-Port. */
  id: number
  user: string
  /** The client's inner IPv4 address (Framed-IP-Address). */
  address: string
  /** The client's outer address (Calling-Station-Id). */
  peer: { address: string; port: number }
  ipv6Prefix?: string
  /** Class values of the Access-Accept (RadiusAcceptInfo.class), echoed in every record (RFC 2865 5.25). */
  class?: Buffer[]
  /** Acct-Authentic: who authenticated the user (default 'radius'). */
  authentic?: 'radius' | 'local'
  /** Automatic interim updates for this session, seconds (e.g. RadiusAcceptInfo.acctInterimInterval); overrides the option. */
  interimIntervalSeconds?: number
}

/** Traffic so far, as the data plane counts it (SessionInfo satisfies this). */
export interface AccountingCounters {
  /** From the client: Acct-Input-Octets (+ Gigawords). */
  rxBytes: number
  /** To the client: Acct-Output-Octets (+ Gigawords). */
  txBytes: number
  rxPackets?: number
  txPackets?: number
  /** Acct-Session-Time; default: seconds since start(). */
  durationSeconds?: number
}

export interface RadiusAccountingOptions extends RadiusClientOptions {
  nas: NasIdentity
  /** Part of every Acct-Session-Id (default: the host name, at most 64 characters). */
  gatewayId?: string
  /** The durable queue; without it, records are lost on restart. */
  queueFile?: string
  /** Oldest records dropped beyond this many queued (default 100,000). */
  maxQueued?: number
  /** Wait after a failed delivery before trying again (default 5,000 ms). */
  retryDelayMs?: number
  /** Records in flight at once (default 16). */
  window?: number
  /** Automatic Interim-Update period in seconds (needs readCounters); 0 or absent: only when interim() is called. */
  interimIntervalSeconds?: number
  readCounters?: (id: number) => AccountingCounters | undefined
  /** Use this client instead of building one from `servers` (port default 1813). */
  client?: RadiusClient
}

/** How each of our session-down reasons is reported (RFC 2866 5.10). */
export const TERMINATE_CAUSES: Readonly<Record<SessionDownReason, number>> = {
  kicked: AcctTerminateCause.ADMIN_RESET,
  idle: AcctTerminateCause.IDLE_TIMEOUT,
  'session-timeout': AcctTerminateCause.SESSION_TIMEOUT,
  peer: AcctTerminateCause.USER_REQUEST,
  'lcp-echo-timeout': AcctTerminateCause.LOST_CARRIER,
  'ike-down': AcctTerminateCause.LOST_CARRIER,
  'l2tp-down': AcctTerminateCause.LOST_CARRIER,
  // the server is shutting down on purpose; NAS-Reboot is for recovering after a crash
  closed: AcctTerminateCause.ADMIN_REBOOT,
  // a reload ended the session (address outside the new pool): an administrative act
  reload: AcctTerminateCause.ADMIN_RESET,
  // the RADIUS server asked (RFC 5176 Disconnect-Request): an administrative act too
  'radius-disconnect': AcctTerminateCause.ADMIN_RESET,
  // anomaly.mode kick: the gateway ended it on its own policy (RFC 2866 5.10 NAS Request)
  anomaly: AcctTerminateCause.NAS_REQUEST,
  error: AcctTerminateCause.NAS_ERROR,
}

/** One queued record: kind, when it happened (ms), and its attributes as hex (without Acct-Delay-Time). */
interface QueuedRecord {
  k: 'start' | 'interim' | 'stop' | 'on' | 'off'
  t: number
  a: string
}

interface LiveSession {
  acctSessionId: string
  startedAt: number
  session: AccountingSession
  timer?: NodeJS.Timeout
}

export interface AccountingStats {
  /** Records acknowledged by a server. */
  delivered: number
  /** Delivery attempts that got no acknowledgement from any server. */
  failedAttempts: number
  /** Records given up: the queue overflowed, or a record could not be encoded. */
  dropped: number
}

export class RadiusAccounting {
  readonly client: RadiusClient
  readonly stats: AccountingStats = { delivered: 0, failedAttempts: 0, dropped: 0 }
  private readonly queue: PersistentQueue<QueuedRecord>
  private readonly nas: NasIdentity
  private readonly gatewayId: string
  private readonly retryDelayMs: number
  private readonly window: number
  private readonly interimIntervalSeconds: number
  private readonly readCounters: ((id: number) => AccountingCounters | undefined) | undefined
  private readonly ownsClient: boolean
  private readonly sessions = new Map<number, LiveSession>()
  private readonly inflight = new Set<number>()
  private readonly idle: Array<() => void> = []
  private pausedUntil = 0
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false

  /** Opens (and compacts) the queue and starts delivering what it holds. Throws AuthError on bad options. */
  constructor(options: RadiusAccountingOptions) {
    const nas = options.nas ?? {}
    if (nas.nasIdentifier === undefined && nas.nasIpAddress === undefined && nas.nasIpv6Address === undefined) {
      throw new AuthError('AUTH_BAD_OPTION', 'RADIUS accounting: give nas.nasIdentifier or nas.nasIpAddress')
    }
    this.nas = { ...nas }
    this.gatewayId = (options.gatewayId ?? hostname()).slice(0, 64) || 'gateway'
    this.retryDelayMs = options.retryDelayMs ?? 5000
    this.window = Math.max(1, options.window ?? 16)
    this.interimIntervalSeconds = options.interimIntervalSeconds ?? 0
    this.readCounters = options.readCounters
    this.ownsClient = !options.client
    this.client = options.client ?? new RadiusClient({ ...options, defaultPort: options.defaultPort ?? 1813 })
    try {
      this.queue = new PersistentQueue<QueuedRecord>({ ...(options.queueFile ? { path: options.queueFile } : {}), ...(options.maxQueued ? { maxRecords: options.maxQueued } : {}) })
    } catch (error) {
      throw new AuthError('AUTH_BAD_OPTION', `RADIUS accounting: cannot open queueFile ${options.queueFile}: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.pump()
  }

  /** Records not yet acknowledged (queued or in flight). */
  get queued(): number {
    return this.queue.size
  }

  /** Records a Start and returns the session's Acct-Session-Id. */
  start(session: AccountingSession): string {
    const acctSessionId = `${this.gatewayId}-${randomBytes(8).toString('hex')}`
    const live: LiveSession = { acctSessionId, startedAt: Date.now(), session: { ...session } }
    this.stopTimer(this.sessions.get(session.id))
    this.sessions.set(session.id, live)
    this.enqueue('start', [attr.integer(Attr.ACCT_STATUS_TYPE, AcctStatusType.START), ...this.sessionAttributes(live)])
    const every = session.interimIntervalSeconds ?? this.interimIntervalSeconds
    if (every > 0 && this.readCounters) {
      live.timer = setInterval(() => {
        const counters = this.readCounters?.(session.id)
        if (counters) this.interim(session, counters)
      }, every * 1000)
      live.timer.unref()
    }
    return acctSessionId
  }

  /** Records an Interim-Update; false when the session was not started here. */
  interim(session: { id: number }, counters: AccountingCounters): boolean {
    const live = this.sessions.get(session.id)
    if (!live) return false
    this.enqueue('interim', [attr.integer(Attr.ACCT_STATUS_TYPE, AcctStatusType.INTERIM_UPDATE), ...this.sessionAttributes(live), ...this.counterAttributes(live, counters)])
    return true
  }

  /** Records a Stop and forgets the session; false when it was not started here. */
  stop(session: { id: number }, counters: AccountingCounters, cause: SessionDownReason): boolean {
    const live = this.sessions.get(session.id)
    if (!live) return false
    this.stopTimer(live)
    this.sessions.delete(session.id)
    this.enqueue('stop', [
      attr.integer(Attr.ACCT_STATUS_TYPE, AcctStatusType.STOP),
      ...this.sessionAttributes(live),
      ...this.counterAttributes(live, counters),
      attr.integer(Attr.ACCT_TERMINATE_CAUSE, TERMINATE_CAUSES[cause] ?? AcctTerminateCause.NAS_ERROR),
    ])
    return true
  }

  /** Accounting-On: the gateway (re)started, so the server may close what it still thinks is open (RFC 2866 5.1). */
  accountingOn(): void {
    this.enqueue('on', [attr.integer(Attr.ACCT_STATUS_TYPE, AcctStatusType.ACCOUNTING_ON), ...this.gatewayAttributes()])
  }

  /** Accounting-Off: the gateway is going down on purpose. */
  accountingOff(): void {
    this.enqueue('off', [attr.integer(Attr.ACCT_STATUS_TYPE, AcctStatusType.ACCOUNTING_OFF), ...this.gatewayAttributes()])
  }

  /** The Acct-Session-Id of a live session. */
  acctSessionId(id: number): string | undefined {
    return this.sessions.get(id)?.acctSessionId
  }

  /** Our session id for an Acct-Session-Id (a Disconnect-Request names sessions that way). */
  findSession(acctSessionId: string): number | undefined {
    for (const [id, live] of this.sessions) if (live.acctSessionId === acctSessionId) return id
    return undefined
  }

  /** Resolves true once every queued record was acknowledged, false after `timeoutMs`. */
  flush(timeoutMs = 30_000): Promise<boolean> {
    if (this.queue.size === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.idle.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /** Stops timers and delivery; what is not delivered stays in the queue file for the next start (records written after close() too). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.retryTimer)
    for (const live of this.sessions.values()) this.stopTimer(live)
    if (this.ownsClient) await this.client.close()
    this.queue.close()
  }

  private stopTimer(live: LiveSession | undefined): void {
    if (live?.timer) clearInterval(live.timer)
  }

  private gatewayAttributes(): RadiusAttribute[] {
    return [
      attr.string(Attr.ACCT_SESSION_ID, `${this.gatewayId}-${randomBytes(8).toString('hex')}`),
      ...this.nasAttributes(),
      attr.integer(Attr.EVENT_TIMESTAMP, Math.floor(Date.now() / 1000)),
    ]
  }

  private nasAttributes(): RadiusAttribute[] {
    const { nasIdentifier, nasIpAddress, nasIpv6Address, calledStationId } = this.nas
    return [
      ...(nasIpAddress !== undefined ? [attr.ipv4(Attr.NAS_IP_ADDRESS, nasIpAddress)] : []),
      ...(nasIpv6Address !== undefined ? [attr.ipv6(Attr.NAS_IPV6_ADDRESS, nasIpv6Address)] : []),
      ...(nasIdentifier !== undefined ? [attr.string(Attr.NAS_IDENTIFIER, nasIdentifier)] : []),
      ...(calledStationId !== undefined ? [attr.string(Attr.CALLED_STATION_ID, calledStationId)] : []),
    ]
  }

  private sessionAttributes(live: LiveSession): RadiusAttribute[] {
    const s = live.session
    return [
      attr.string(Attr.ACCT_SESSION_ID, live.acctSessionId),
      attr.string(Attr.USER_NAME, s.user),
      ...this.nasAttributes(),
      attr.integer(Attr.NAS_PORT, s.id >>> 0),
      attr.integer(Attr.NAS_PORT_TYPE, NasPortType.VIRTUAL),
      attr.integer(Attr.SERVICE_TYPE, ServiceType.FRAMED),
      attr.integer(Attr.FRAMED_PROTOCOL, FramedProtocol.PPP),
      ...(isIPv4(s.address) ? [attr.ipv4(Attr.FRAMED_IP_ADDRESS, s.address)] : []),
      ...(s.ipv6Prefix ? [ipv6Prefix(Attr.FRAMED_IPV6_PREFIX, s.ipv6Prefix)] : []),
      attr.string(Attr.CALLING_STATION_ID, s.peer.address),
      attr.integer(Attr.ACCT_AUTHENTIC, s.authentic === 'local' ? AcctAuthentic.LOCAL : AcctAuthentic.RADIUS),
      ...(s.class ?? []).map((c) => attr.octets(Attr.CLASS, c)),
      attr.integer(Attr.EVENT_TIMESTAMP, Math.floor(Date.now() / 1000)),
    ]
  }

  private counterAttributes(live: LiveSession, c: AccountingCounters): RadiusAttribute[] {
    const words = (n: number) => [Math.max(0, Math.floor(n)) % 2 ** 32, Math.min(2 ** 32 - 1, Math.floor(Math.max(0, n) / 2 ** 32))] as const
    const [inLow, inHigh] = words(c.rxBytes)
    const [outLow, outHigh] = words(c.txBytes)
    const seconds = c.durationSeconds ?? (Date.now() - live.startedAt) / 1000
    return [
      attr.integer(Attr.ACCT_SESSION_TIME, Math.max(0, Math.floor(seconds)) % 2 ** 32),
      attr.integer(Attr.ACCT_INPUT_OCTETS, inLow),
      attr.integer(Attr.ACCT_OUTPUT_OCTETS, outLow),
      attr.integer(Attr.ACCT_INPUT_GIGAWORDS, inHigh),
      attr.integer(Attr.ACCT_OUTPUT_GIGAWORDS, outHigh),
      attr.integer(Attr.ACCT_INPUT_PACKETS, words(c.rxPackets ?? 0)[0]),
      attr.integer(Attr.ACCT_OUTPUT_PACKETS, words(c.txPackets ?? 0)[0]),
    ]
  }

  private enqueue(kind: QueuedRecord['k'], attributes: RadiusAttribute[]): void {
    let encoded: string
    try {
      encoded = encodeAttributes(attributes).toString('hex')
    } catch {
      this.stats.dropped++ // e.g. a Class too long: can never be sent
      return
    }
    this.queue.push({ k: kind, t: Date.now(), a: encoded })
    // after close(): still durable (a Stop written during shutdown goes out on the next start)
    if (this.closed) this.queue.close()
    else this.pump()
  }

  /** Starts deliveries up to the window, oldest first, unless paused after a failure. */
  private pump(): void {
    if (this.closed || Date.now() < this.pausedUntil) return
    for (const entry of this.queue.iterate()) {
      if (this.inflight.size >= this.window) break
      if (this.inflight.has(entry.seq)) continue
      this.inflight.add(entry.seq)
      void this.deliver(entry)
    }
  }

  private async deliver(entry: QueueEntry<QueuedRecord>): Promise<void> {
    let attributes: RadiusAttribute[]
    try {
      attributes = decodeAttributes(Buffer.from(entry.record.a, 'hex'))
    } catch {
      attributes = []
    }
    if (attributes.length === 0) return this.finish(entry.seq, 'dropped')
    const result = await this.client.send({ code: Code.ACCOUNTING_REQUEST, attributes, eventTime: entry.record.t })
    if (result.ok) return this.finish(entry.seq, 'delivered')
    this.inflight.delete(entry.seq)
    if (this.closed) return
    if (result.reason === 'encode-error') return this.finish(entry.seq, 'dropped')
    this.stats.failedAttempts++
    this.pausedUntil = Date.now() + this.retryDelayMs
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => {
      this.pausedUntil = 0
      this.pump()
    }, this.retryDelayMs)
    // the queue file keeps the record; a pending retry alone must not keep the process alive
    this.retryTimer.unref()
  }

  private finish(seq: number, how: 'delivered' | 'dropped'): void {
    this.inflight.delete(seq)
    if (this.closed) return
    this.queue.done(seq)
    this.stats[how]++
    if (this.queue.size === 0) for (const wake of this.idle.splice(0)) wake()
    this.pump()
  }
}
