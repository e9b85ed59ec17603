/**
 * The server's end of the control plane: IKE responder, L2TP LNS, PPP
 * server that authenticates through the Authenticator and takes addresses
 * from the pool; each client's session routes its own address only.
 *
 * IPv6 (pool.ipv6): once IPV6CP and IPCP are both up, the session gets a
 * prefix from the Ipv6PrefixPool (sticky per user, or the policy's fixed
 * `ipv6Prefix`), the data plane routes it, and the client learns it from
 * Router Advertisements (lib/ppp/ipv6-nd.ts): one at once, one per Router
 * Solicitation (at most one answer per RA_MIN_DELAY s, RFC 4861 6.2.6;
 * a solicitation inside that time is answered when it ends) and one
 * unsolicited about every RA_INTERVAL s. The prefix returns to the pool
 * when the call is gone.
 *
 * Traffic policy (session-policy.ts): from a RADIUS Filter-Id, the user's
 * or the callback's policy, else `access`; a name that is not configured
 * turns the accept into a failure. A reload or a CoA reinstalls it.
 * RADIUS extras of an Access-Accept (lib/auth/radius): Framed-MTU caps the
 * session's MRU; Session-Timeout and
 * Idle-Timeout come in the user's policy and override ppp.* (control-plane).
 * `changeSession` applies a CoA; `disconnect` a Disconnect-Request.
 */
import type { DataPlaneEvent, PolicyOptions, SessionOptions } from '../../native/index.js'
import { GENERIC_FAILURE_MESSAGE, type AuthResult, type AuthSuccess, type Authenticator, type Method } from '../auth/index.js'
import { isRadiusSuccess, type RadiusAcceptInfo, type RadiusAuthSuccess } from '../auth/radius/authenticator.js'
import type { SessionRef, TunnelUpEvent } from '../l2tp/endpoint.js'
import { PppLink, type PppLinkEvent, type PppLinkOptions } from '../ppp/link.js'
import type { Ipv4Pool, Ipv6PrefixPool, PoolStats } from '../pool/ip-pool.js'
import { buildRouterAdvertisement, isIpv6Frame, parseRouterSolicitation } from '../ppp/ipv6-nd.js'
import type { UserPolicy } from '../auth/index.js'
import type { IkeEvent } from '../ike/types.js'
import type { Binding } from './bindings.js'
import { resolveSessionPolicy, samePolicy, type SessionPolicySet } from './session-policy.js'
import { ControlPlane, dataPlaneSummary, earlier, type Call, type ControlPlaneOptions, type PppSettings } from './control-plane.js'
import { SiteManager, type SitePort, type SiteSettings } from './sites.js'
import type { SessionAnomalyInfo, SessionDownReason, SiteInfo } from './types.js'

export interface ServerControlPlaneOptions extends ControlPlaneOptions {
  pool: Ipv4Pool
  authenticator: Authenticator
  /** Methods asked for, in order. */
  authMethods: readonly Method[]
  /** Our end of every PPP link (the pool's gateway). */
  gateway: string
  dns: readonly string[]
  /** Session prefixes (pool.ipv6); without it IPV6CP may come up but no prefix or Router Advertisement follows. */
  ipv6Pool?: Ipv6PrefixPool | undefined
  /** IPv6 DNS servers, sent in the RDNSS option (RFC 8106). */
  dns6?: readonly string[]
  /** Authentication requests in flight at once (default 256); more are answered 'busy'. */
  maxPendingAuth?: number
  /** Traffic policies and how a session's is chosen (session-policy.ts); none: no filtering. */
  access?: SessionPolicySet
  /** What a data-plane anomaly flag does (config anomaly.mode; 'off': the data plane raises none). */
  anomalyMode?: 'off' | 'notify' | 'kick'
  /** Site-to-site links (config `sites`), the data plane's site calls, and where we call from. */
  sites?: { settings: readonly SiteSettings[]; port: SitePort; local: { address: string; port: number }; peerIkePort: number }
}

/**
 * What a call keeps of its accepted authentication: the user, their policy
 * and RADIUS's Accept (Class, Filter-Id... for accounting and CoA), not the
 * AuthSuccess itself, whose MS-CHAPv2 authenticator response and message
 * are spent once CHAP Success is sent (~0.1 KB per call, issue #9).
 */
interface CallAuth {
  user: string
  userPolicy: UserPolicy
  radius?: RadiusAcceptInfo
  /** RADIUS Filter-Id (or a CoA's). */
  filterId?: readonly string[]
  /** The session's traffic policy, resolved from the above and the user's policy. */
  policy?: PolicyOptions
  /** Framed-MTU. */
  mtu?: number
}

/** What a CoA may change (RFC 5176): seconds, 0 = no limit; Filter-Id names. */
export interface SessionChanges {
  sessionTimeout?: number
  idleTimeout?: number
  filterId?: string[]
}

/** Framed-MTU below this is raised to it (the IPv4 minimum datagram every host must take, RFC 791). */
const MIN_MTU = 576

/** Seconds between unsolicited Router Advertisements (about; each is drawn from 0.9..1.1 times it). */
const RA_INTERVAL = 200
/** Least seconds between two answers to Router Solicitations of one session (RFC 4861 10 MIN_DELAY_BETWEEN_RAS). */
const RA_MIN_DELAY = 3

/** A call's IPv6 state (server side). */
/**
 * A call as the server keeps it: its login and IPv6 state ride on the call
 * itself, not in two Maps by call id (two hash tables of one entry per
 * session fewer: issue #9). They go with the call.
 */
interface ServerCall extends Call {
  login?: CallAuth
  v6?: Ipv6Session
}

/** Every call of this control plane is a ServerCall: its `login` is only ever set here. */
const serverCall = (call: Call): ServerCall => call as ServerCall

interface Ipv6Session {
  /** IPV6CP's interface identifiers (16 hex digits): ours makes the RA's source. */
  localInterfaceId: string
  peerInterfaceId: string | undefined
  /** The delegated prefix, once allocated. */
  prefix?: string
  /** No prefix could be given (logged once); the session stays IPv4 only. */
  failed?: boolean
  /** When the last answer to a Router Solicitation left. */
  lastSolicited?: number
  /** A solicitation waiting for its answer (rate limit). */
  solicitedAt?: number
  nextUnsolicited?: number
}

export class ServerControlPlane extends ControlPlane {
  private readonly server: ServerControlPlaneOptions
  private readonly ndCounters = { routerSolicitations: 0, routerAdvertisements: 0 }
  /** Authentication requests in flight, and those refused because too many were. */
  readonly auth = { pending: 0, busy: 0 }
  private readonly siteLinks: SiteManager | undefined
  /** New links' shared options and what they were made from (linkOptions). */
  private sharedLink: { ppp: PppSettings; authMethods: readonly Method[]; dns: readonly string[]; gateway: string; options: PppLinkOptions } | undefined

  constructor(options: ServerControlPlaneOptions) {
    super({ ...options, l2tp: { ...options.l2tp, role: 'lns' } })
    this.server = options
    const s = options.sites
    if (s && s.settings.length > 0) {
      this.siteLinks = new SiteManager({ sites: s.settings, dataplane: s.port, ike: this.ike, log: this.o.log, emit: this.o.emit, local: s.local, peerIkePort: s.peerIkePort })
      this.siteLinks.install(this.o.clock())
    }
  }

  // --- site-to-site (lib/server/sites.ts) ------------------------------------------------

  protected override onTunnelChildUp(e: Extract<IkeEvent, { type: 'child-sa-up' }>, binding: Binding, now: number): void {
    if (this.siteLinks) this.siteLinks.childUp(e, binding, now)
    else super.onTunnelChildUp(e, binding, now)
  }

  protected override onChildDown(e: Extract<IkeEvent, { type: 'child-sa-down' }>, now: number): void {
    this.siteLinks?.childDown(e, now)
  }

  /** Site-to-site links with their traffic. */
  sites(): SiteInfo[] {
    return this.siteLinks?.list(dataPlaneSummary(this.o.dataplane).sites) ?? []
  }

  /** Rekeys a site we call (tests and operators); false when it is not up or not ours to call. */
  rekeySite(name: string): boolean {
    const done = this.siteLinks?.rekey(name, this.o.clock()) ?? false
    this.flush()
    return done
  }

  override refreshCounters(): void {
    super.refreshCounters()
    if (this.siteLinks) this.siteLinks.touch(dataPlaneSummary(this.o.dataplane).sites, 10_000, this.o.clock())
  }

  /**
   * A reload: new authenticator, pool, PPP and IKE settings for what comes
   * next; live sessions stay unless `keep` refuses their user or the new
   * pool cannot hold their address. Returns how many were ended.
   */
  reconfigure(next: Pick<ServerControlPlaneOptions, 'pool' | 'authenticator' | 'authMethods' | 'dns' | 'dns6' | 'ppp' | 'ike' | 'access' | 'anomalyMode'>, keep: (user: string) => boolean): number {
    const now = this.o.clock()
    let ended = 0
    for (const call of [...this.calls.values()]) {
      if (!call.up || call.ending) continue
      const allocation = keep(call.up.user) ? next.pool.allocate({ user: call.up.user, now, fixed: call.up.address }) : undefined
      if (allocation?.ok) continue
      ended++
      this.end(call, 'reload', allocation ? `address ${call.up.address} is outside the new pool` : `user ${call.up.user} is no longer allowed`, now)
    }
    Object.assign(this.server, next)
    this.o.ppp = next.ppp
    this.ike.reconfigure(next.ike)
    // ppp.sessionTimeout may have moved: every call's deadline is looked at again (a reload is rare; O(n) is fine).
    for (const call of this.calls.values()) this.retime(call)
    return ended + this.reapplyPolicies(now)
  }

  /** After a reload: every live session gets its policy chosen again; one whose policy is gone ends. Returns how many ended. */
  private reapplyPolicies(now: number): number {
    let ended = 0
    for (const call of [...this.calls.values()]) {
      const extras = serverCall(call).login
      if (!call.up || call.ending || !extras) continue
      const policy = this.policyOf(extras)
      if ('error' in policy) {
        ended++
        this.end(call, 'reload', `traffic policy: ${policy.error}`, now)
        continue
      }
      if (samePolicy(policy, extras.policy)) continue
      extras.policy = policy
      this.o.log.info({ session: call.id, user: call.up.user }, 'session traffic policy changed (reload)')
      this.refreshSession(call, now)
    }
    return ended
  }

  /** The policy `extras` ask for under the current configuration, or why there is none. */
  private policyOf(extras: CallAuth): PolicyOptions | { error: string } {
    const set = this.server.access
    if (!set) return { default: 'allow', rules: [] }
    return resolveSessionPolicy(set, { user: extras.user, policy: extras.userPolicy, ...(extras.filterId ? { filterId: extras.filterId } : {}) })
  }

  poolStats(): PoolStats {
    return this.server.pool.stats()
  }

  /** The IPv6 prefix pool and Neighbor Discovery counters; undefined without pool.ipv6. */
  ipv6Stats(): { pool: PoolStats; routerSolicitations: number; routerAdvertisements: number } | undefined {
    const pool = this.server.ipv6Pool
    return pool ? { pool: pool.stats(), ...this.ndCounters } : undefined
  }

  protected onBindingUp(): void {
    // The client opens the tunnel.
  }

  protected onTunnelUp(_e: TunnelUpEvent): void {
    // The client places the call.
  }

  protected newLink(_e: SessionRef, binding: Binding): PppLink {
    return new PppLink(this.linkOptions(), { address: binding.peer.address, port: binding.peer.port, ikeId: binding.peerId })
  }

  /**
   * The options every new link shares (one object, not one per link: ~0.1
   * KB, issue #9), made again when what they are made of changes: a reload
   * brings new ppp settings, methods and DNS lists (new objects).
   */
  private linkOptions(): PppLinkOptions {
    const ppp = this.o.ppp
    const s = this.server
    const made = this.sharedLink
    if (made && made.ppp === ppp && made.authMethods === s.authMethods && made.dns === s.dns && made.gateway === s.gateway) return made.options
    const options: PppLinkOptions = {
      role: 'server',
      mru: ppp.mtu,
      authMethods: s.authMethods,
      echoInterval: ppp.echoInterval,
      echoFailures: ppp.echoFailures,
      ipv6: ppp.ipv6,
      localAddress: s.gateway,
      dns: s.dns,
      assignAddress: this.assignAddress,
    }
    this.sharedLink = { ppp, authMethods: s.authMethods, dns: s.dns, gateway: s.gateway, options }
    return options
  }

  /** Every link's address assignment: one function for the server, not a closure per link (issue #9). */
  private readonly assignAddress: NonNullable<PppLinkOptions['assignAddress']> = (r) => {
    const a = this.server.pool.allocate({ user: r.user, now: this.o.clock(), ...(r.requested ? { requested: r.requested } : {}), ...(r.policy.address ? { fixed: r.policy.address } : {}) })
    return a.ok ? { ok: true, address: a.address } : { ok: false, reason: `${a.error}: ${a.reason}` }
  }

  protected sessionRouting(call: Call): Partial<SessionOptions> {
    const prefix = serverCall(call).v6?.prefix
    const extras = serverCall(call).login
    const up = call.up
    return {
      ...(up ? { ipv4: up.address } : {}),
      ...(prefix ? { ipv6: prefix } : {}),
      // No login decided it (cannot happen while ppp.auth is required): default-deny still holds.
      ...(up ? { policy: extras?.policy ?? { default: this.server.access?.mode ?? 'allow', rules: [] } } : {}),
      ...(up && extras?.mtu !== undefined ? { mru: Math.max(MIN_MTU, Math.min(up.peerMru, this.o.ppp.mtu, extras.mtu)) } : {}),
      ...this.keepaliveOf(call),
    }
  }

  /**
   * LCP keepalive goes to the data plane with an established session (issue #9): it answers and sends the echoes,
   * which no longer cross into JS, and raises session-echo-timeout where the link's timer would have said 'echo
   * timeout'. Only to a data plane that can (the native one), and not once the link is going down.
   */
  private keepaliveOf(call: Call): Pick<SessionOptions, 'keepalive'> {
    if (!call.up || call.ending || call.pppDown || !this.o.dataplane.setKeepalive) return {}
    const echo = call.link.offloadEcho(this.o.clock())
    if (!echo) return {}
    const keepalive = { magic: echo.magic, peerMagic: echo.peerMagic, peerMru: echo.peerMru, intervalMs: echo.interval * 1000, failures: echo.failures, identifier: echo.identifier, pending: echo.pending, firstMs: echo.dueIn * 1000 }
    return { keepalive }
  }

  /** The accepted authentication of a live call, as far as it is kept: user, policy and (RADIUS: isRadiusSuccess) the Accept's Class, Acct-Interim-Interval... */
  sessionAuth(id: number): AuthSuccess | undefined {
    const call = this.calls.get(id)
    const login = call && serverCall(call).login
    if (!login) return undefined
    if (!login.radius) return { ok: true, user: login.user, policy: login.userPolicy }
    const radius: RadiusAuthSuccess = { ok: true, user: login.user, policy: login.userPolicy, radius: login.radius }
    return radius
  }

  /** Ends a session (PPP Terminate, CDN) with `reason`; false when there is no such session. */
  disconnect(id: number, reason: SessionDownReason, detail: string): boolean {
    const call = this.calls.get(id)
    if (!call || call.finished) return false
    this.end(call, reason, detail)
    return true
  }

  /**
   * Applies a CoA to a live session: a Session-Timeout counts from now, an
   * Idle-Timeout and Filter-Id reinstall the data-plane session (counters
   * kept). Throws (changing nothing) on a Filter-Id that is not in
   * `policies`; false when there is no such session.
   */
  changeSession(id: number, changes: SessionChanges): boolean {
    const call = this.calls.get(id)
    if (!call || !call.up || call.ending) return false
    const extras = serverCall(call).login
    const policy = changes.filterId && extras ? this.policyOf({ ...extras, filterId: changes.filterId }) : undefined
    if (policy && 'error' in policy) throw new Error(`Filter-Id ${policy.error}`)
    const now = this.o.clock()
    const limits = (call.limits ??= {})
    if (changes.sessionTimeout !== undefined) {
      limits.sessionTimeout = changes.sessionTimeout
      limits.sessionFrom = now
    }
    if (changes.idleTimeout !== undefined) limits.idleTimeout = changes.idleTimeout
    this.retime(call)
    if (policy && extras) {
      extras.policy = policy
      extras.filterId = changes.filterId!
    }
    this.o.log.info({ session: id, user: call.up.user, ...changes }, 'session changed (CoA)')
    if (changes.idleTimeout !== undefined || policy) this.refreshSession(call, now)
    return true
  }

  protected override onAnomaly(call: Call, e: DataPlaneEvent, now: number): void {
    const up = call.up!
    const kick = this.server.anomalyMode === 'kick'
    const info: SessionAnomalyInfo = {
      id: call.id,
      user: up.user,
      address: up.address,
      kind: e.reason === 'rate-jump' ? 'rate-jump' : 'destinations',
      value: e.count ?? 0,
      threshold: e.threshold ?? 0,
      action: kick ? 'kick' : 'notify',
    }
    const what = info.kind === 'rate-jump' ? `${info.value} packets/s (threshold ${info.threshold})` : `${info.value} destinations (threshold ${info.threshold})`
    this.o.log.warn({ session: call.id, user: up.user, address: up.address, anomaly: info.kind, value: info.value, threshold: info.threshold, action: info.action }, `session traffic anomaly: ${what}`)
    this.o.emit('session-anomaly', info)
    if (kick) this.end(call, 'anomaly', `traffic anomaly: ${what}`, now)
  }

  protected override sessionExtras(call: Call): { ipv6Prefix?: string } {
    const prefix = serverCall(call).v6?.prefix
    return prefix ? { ipv6Prefix: prefix } : {}
  }

  protected onPppEvent(call: Call, e: PppLinkEvent, now: number): void {
    if (e.type === 'auth-request') {
      // A flood of logins (or a slow RADIUS) must not pile up promises and sockets without bound.
      if (this.auth.pending >= (this.server.maxPendingAuth ?? 256)) {
        this.auth.busy++
        this.answer(call, e.id, { ok: false, reason: 'busy', detail: `${this.auth.pending} authentication requests in flight`, message: GENERIC_FAILURE_MESSAGE })
        return
      }
      this.auth.pending++
      this.server.authenticator.authenticate(e.request).then(
        (result) => {
          this.auth.pending--
          this.answer(call, e.id, result)
        },
        (err: unknown) => {
          this.auth.pending--
          this.answer(call, e.id, { ok: false, reason: 'internal-error', detail: String(err) })
        },
      )
    } else if (e.type === 'ipv6-up') {
      this.ipv6Up(call, e.localInterfaceId, e.peerInterfaceId, now)
    } else if (e.type === 'up') {
      // IPV6CP came first: the prefix now, so the session goes into the data plane with it.
      const state = serverCall(call).v6
      if (state && this.allocatePrefix(call, state, e.user, e.policy, now)) this.sendRa(call, state, now, false, e.peerMru)
    } else if (e.type === 'down') {
      // The LCP the keepalive was for is gone: its echoes (a Terminate exchange may follow) go up again.
      if (call.up && this.o.dataplane.setKeepalive) this.o.dataplane.setKeepalive(call.id, null)
      if (e.address !== undefined) this.server.pool.release(e.address, now)
      if (!e.wasUp && /no address/i.test(e.reason)) {
        this.o.log.warn({ session: call.id, user: call.link.user, reason: e.reason }, 'session refused: no address')
        this.o.emit('session-refused', { user: call.link.user, peer: { ...call.binding.peer }, reason: 'pool-exhausted', detail: e.reason })
      }
    }
  }

  private answer(call: Call, id: number, result: AuthResult): void {
    if (call.finished) return
    if ('ok' in result && result.ok) {
      const radius = isRadiusSuccess(result) ? result.radius : undefined
      // `policy` in the literal: set below, it then stays in the object, not in a property array of its own (~24 B).
      const extras: CallAuth = { user: result.user, userPolicy: result.policy, policy: undefined }
      if (radius) extras.radius = radius
      if (radius && radius.filterId.length > 0) extras.filterId = radius.filterId
      if (radius?.framedMtu !== undefined) extras.mtu = radius.framedMtu
      const policy = this.policyOf(extras)
      if ('error' in policy) {
        this.o.log.warn({ session: call.id, user: result.user, ...(extras.filterId ? { filterId: extras.filterId } : {}), error: policy.error }, 'login names a traffic policy that is not configured; refused')
        const by = radius ? `RADIUS ${radius.server}: Filter-Id` : 'policy'
        result = { ok: false, reason: 'callback-error', detail: `${by} ${policy.error}`, message: GENERIC_FAILURE_MESSAGE }
      } else {
        extras.policy = policy
        serverCall(call).login = extras
      }
    }
    call.link.authResult(id, result, this.o.clock())
    this.resume(call)
  }

  protected onCallFinished(call: Call, now: number): void {
    // The client decides whether its tunnel and IKE SA go too.
    const c = serverCall(call)
    const state = c.v6
    // Nothing reads them once the call is finished, as when they were Maps emptied here.
    if (c.v6) c.v6 = undefined
    if (c.login) c.login = undefined
    if (state?.prefix) this.server.ipv6Pool?.release(state.prefix, now)
  }

  // --- IPv6: prefixes and Router Advertisements ------------------------------------------

  /** IPV6CP is Opened (again, after a renegotiation: the identifiers may be new, the prefix stays). */
  private ipv6Up(call: Call, localInterfaceId: string, peerInterfaceId: string | undefined, now: number): void {
    if (!this.server.ipv6Pool) return
    let state = serverCall(call).v6
    if (state) {
      state.localInterfaceId = localInterfaceId
      state.peerInterfaceId = peerInterfaceId
    } else {
      state = { localInterfaceId, peerInterfaceId }
      serverCall(call).v6 = state
    }
    // Before IPCP is up the user's policy is not known yet: 'up' allocates.
    if (!call.up || call.ending) return
    if (!state.prefix) {
      if (!this.allocatePrefix(call, state, call.up.user, call.up.policy, now)) return
      if (!this.refreshSession(call, now)) return
      this.o.log.info({ session: call.id, user: call.up.user, prefix: state.prefix }, 'session IPv6 prefix routed')
    }
    this.sendRa(call, state, now, false)
  }

  /** The user's fixed prefix (policy.ipv6Prefix) or one from the pool; false when none (the session stays IPv4 only). */
  private allocatePrefix(call: Call, state: Ipv6Session, user: string, policy: UserPolicy | undefined, now: number): boolean {
    const pool = this.server.ipv6Pool
    if (state.prefix) return true
    if (!pool || state.failed) return false
    const a = pool.allocate({ user, now, ...(policy?.ipv6Prefix ? { fixed: policy.ipv6Prefix } : {}) })
    if (!a.ok) {
      state.failed = true
      this.o.log.warn({ session: call.id, user, error: a.error, reason: a.reason }, 'no IPv6 prefix for the session; it carries IPv4 only')
      return false
    }
    state.prefix = a.address
    this.o.log.info({ session: call.id, user, prefix: a.address, source: a.source }, 'IPv6 prefix delegated')
    return true
  }

  /** Router Solicitations (RFC 4861 6.2.6) come here; any other IPv6 frame on the control path is dropped. */
  protected override interceptPpp(call: Call, frame: Buffer, now: number): boolean {
    if (!this.server.ipv6Pool || !isIpv6Frame(frame)) return false
    const rs = parseRouterSolicitation(frame)
    if (!rs.ok) {
      this.o.log.debug({ session: call.id, reason: rs.reason }, 'IPv6 frame on the control path is not a valid Router Solicitation; dropped')
      return true
    }
    this.ndCounters.routerSolicitations++
    const state = serverCall(call).v6
    if (!state || !this.advertising(call, state)) return true
    const earliest = state.lastSolicited === undefined ? now : state.lastSolicited + RA_MIN_DELAY
    if (earliest <= now) this.sendRa(call, state, now, true)
    else state.solicitedAt ??= earliest
    return true
  }

  /** Whether the call's prefix is advertised: allocated, the link up with IPV6CP Opened, not ending. */
  private advertising(call: Call, state: Ipv6Session): state is Ipv6Session & { prefix: string } {
    return state.prefix !== undefined && call.up !== undefined && !call.ending && call.pppDown === undefined && call.link.ipv6cpState === 'Opened'
  }

  /** Queues an RA to the call (ff02::1). `peerMru` before call.up is set (the 'up' event itself). */
  private sendRa(call: Call, state: Ipv6Session, now: number, solicited: boolean, peerMru = call.up?.peerMru): void {
    if (!state.prefix || peerMru === undefined) return
    const frame = buildRouterAdvertisement({
      interfaceId: state.localInterfaceId,
      prefix: state.prefix,
      mtu: Math.min(peerMru, this.o.ppp.mtu),
      dns: this.server.dns6 ?? [],
    })
    this.sendPpp(call, frame)
    this.ndCounters.routerAdvertisements++
    if (solicited) state.lastSolicited = now
    state.solicitedAt = undefined
    state.nextUnsolicited = now + RA_INTERVAL * (0.9 + 0.2 * Math.random())
  }

  override tick(now = this.o.clock()): number | undefined {
    this.siteLinks?.tick(now)
    return super.tick(now)
  }

  /** Router Advertisements due (answers to solicitations, unsolicited ones), then the common timers. */
  protected override callTimeout(call: Call, now: number): void {
    const state = serverCall(call).v6
    if (state && this.advertising(call, state)) {
      if (state.solicitedAt !== undefined && state.solicitedAt <= now) this.sendRa(call, state, now, true)
      else if (state.nextUnsolicited !== undefined && state.nextUnsolicited <= now) this.sendRa(call, state, now, false)
    }
    super.callTimeout(call, now)
  }

  protected override callDeadline(call: Call): number | undefined {
    const next = super.callDeadline(call)
    const state = serverCall(call).v6
    return state && this.advertising(call, state) ? earlier(earlier(next, state.solicitedAt), state.nextUnsolicited) : next
  }

  override nextDeadline(): number | undefined {
    return earlier(super.nextDeadline(), this.siteLinks?.nextDeadline())
  }
}
