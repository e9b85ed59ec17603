/**
 * `L2tpServer`: the VPN gateway as a Node object. It validates its options
 * with the same schema as the YAML config, opens the data plane (UDP
 * 500/4500, TUN), configures the TUN device's address and routes, and runs
 * the control plane on the data plane's batches and one timer.
 *
 *   const server = new L2tpServer({ ipsec: { psk }, pool: { range, gateway }, users: [...] })
 *   server.on('session-up', (s) => ...)
 *   await server.listen()
 *   ...
 *   await server.close()
 *
 * RADIUS (config `radius`): logins whose name is not among the local
 * `users` go to the RADIUS servers; every session is accounted (Start,
 * Interim-Update, Stop, Accounting-On/Off) when accounting is on; a
 * Disconnect-Request or CoA (RFC 5176) acts on the matching sessions.
 */
import { mkdirSync } from 'node:fs'
import { EventEmitter } from 'node:events'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { DataPlane } from '../../native/index.js'
import type { ControlBatch, DataPlaneOptions, LocalAddresses } from '../../native/index.js'
import { AuthLimiter, CallbackAuthenticator, GENERIC_FAILURE_MESSAGE, LimitedAuthenticator, LocalUsersAuthenticator, withoutDomain, type AuthCallback, type Authenticator, type Method, type PasswordChange } from '../auth/index.js'
import { RadiusAccounting, RadiusAuthenticator, isRadiusSuccess, startDaeServer, type DaeChanges, type DaeMatch, type DaeServer, type NasIdentity, type RadiusServerOptions } from '../auth/radius/index.js'
import { openKeyExport, type KeyExporter } from '../debug/keylog.js'
import type { KeyExport } from '../debug/wireshark-keys.js'
import { ConfigError, parseServerConfig, proposalPolicy, type LoadedConfig, type ServerConfig, type ServerConfigInput } from '../config/index.js'
import { loadCredentials, loadTrustAnchors } from '../ike/certificates.js'
import type { IkeConfig } from '../ike/types.js'
import { silentLogger, type Logger } from '../log/index.js'
import { Ipv4Pool, type Ipv6PrefixPool } from '../pool/ip-pool.js'
import { serverIpv6Address, sessionPrefixPool } from '../pool/ipv6-session-pool.js'
import { pppAuthAlgorithms } from '../ppp/auth-algorithms.js'
import { Netconf, poolRoutes } from '../system/netconf.js'
import { AllowList } from '../security/allow-list.js'
import { createIkeGuard, type IkeSourceGuard } from '../security/ike-guard.js'
import { securityStatus, type SecurityStatus } from '../security/status.js'
import { formatHost } from './bindings.js'
import type { DataPlanePort } from './control-plane.js'
import { ServerControlPlane } from './server-control-plane.js'
import { sessionPolicySet } from './session-policy.js'
import { dataplaneAnomaly } from './anomaly.js'
import { monotonicSeconds, TimerLoop } from './timer-loop.js'
import type { IkeSite } from '../ike/sites.js'
import type { AdminTarget, ServerEvents, ServerStatus, SessionInfo, SiteInfo } from './types.js'

export interface L2tpServerOptions extends ServerConfigInput {
  /** Decide logins in code (checked after the configured `users`, when none of them matches). */
  authenticate?: AuthCallback
  /** Stores the password a `passwordExpired` user changed over MS-CHAPv2 (LocalUsersOptions.onPasswordChange). */
  onPasswordChange?: (change: PasswordChange) => void | Promise<void>
  /** A pino logger; default: silent. */
  logger?: Logger
  /** Where relative paths in the options (pskFile, certificates) start. */
  baseDir?: string
  /** Where the RADIUS accounting queue goes when radius.accounting.queueFile is null (default /var/lib/l2tp-ipsec). */
  stateDir?: string
  /** Debug: append every IKE and ESP SA's keys to this file (0600) as Wireshark lines (lib/debug/wireshark-keys.ts). */
  keylog?: string
}

const DEFAULT_STATE_DIR = '/var/lib/l2tp-ipsec'
/** Milliseconds close() waits for RADIUS to acknowledge the last accounting records (the rest stay queued on disk). */
const ACCOUNTING_FLUSH_MS = 2000

/** The RADIUS parts of a listening server. */
interface RadiusParts {
  auth: RadiusAuthenticator
  accounting?: RadiusAccounting
  dae?: DaeServer
}

const PPP_METHOD: Record<string, Method> = { mschapv2: 'mschapv2', chap: 'chap-md5', pap: 'pap', eap: 'eap' }
/** Seconds between data-plane counter refreshes (session counters, DPD suppression). */
const COUNTER_INTERVAL = 5
/** Call timers (LCP echoes, mostly) one timer turn handles: ~25 ms of work on a loaded machine; the rest come after the I/O waiting. */
const MAX_CALLS_PER_TICK = 256
/** Seconds close() waits for PPP Terminate and CDN before it cuts. */
const CLOSE_GRACE = 4

export class L2tpServer extends EventEmitter<ServerEvents> implements AdminTarget {
  readonly config: ServerConfig
  readonly warnings: readonly string[]
  private readonly log: Logger
  private readonly authenticator: Authenticator
  private readonly callback: AuthCallback | undefined
  private readonly onPasswordChange: ((change: PasswordChange) => void | Promise<void>) | undefined
  private readonly stateDir: string
  private readonly keylogPath: string | undefined
  /** Live SA keys, only with keylog or admin.allowKeyExport. */
  private keys: KeyExporter | undefined
  private radius: RadiusParts | undefined
  private limiter: AuthLimiter | undefined
  private ikeGuard: IkeSourceGuard | undefined
  private dp: DataPlane | undefined
  private core: ServerControlPlane | undefined
  private timers: TimerLoop | undefined
  private counterTimer: NodeJS.Timeout | undefined
  private startedAt = new Date()
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new'

  /**
   * Validates the options (throws ConfigError naming each bad key); nothing
   * is opened until listen(). `loaded` is a configuration already validated
   * (by loadConfigFile): then `options` only brings the logger and callback.
   */
  constructor(options: L2tpServerOptions, loaded?: LoadedConfig) {
    super()
    const { authenticate, onPasswordChange, logger, baseDir, stateDir, keylog, ...input } = options
    const parsed = loaded ?? parseServerConfig(input, baseDir === undefined ? {} : { baseDir })
    this.config = parsed.config
    this.warnings = parsed.warnings
    this.log = logger ?? silentLogger()
    this.callback = authenticate
    this.onPasswordChange = onPasswordChange
    this.stateDir = stateDir ?? DEFAULT_STATE_DIR
    this.keylogPath = keylog
    if (authenticate && this.config.radius) throw new ConfigError([{ key: 'radius', message: 'give radius or the authenticate callback, not both: both would decide the logins local users do not' }])
    this.authenticator = this.buildAuthenticator(authenticate, this.config)
  }

  /** A server on a configuration loadConfigFile already validated (the CLI's way). */
  static fromConfig(loaded: LoadedConfig, extras: Pick<L2tpServerOptions, 'authenticate' | 'onPasswordChange' | 'logger' | 'stateDir' | 'keylog'> = {}): L2tpServer {
    return new L2tpServer(extras as L2tpServerOptions, loaded)
  }

  private buildAuthenticator(callback: AuthCallback | undefined, config: ServerConfig): Authenticator {
    const users = config.users.map((u) => ({
      user: u.name,
      ...(u.password !== undefined ? { password: u.password } : {}),
      ...(u.ntHash !== undefined ? { ntHash: u.ntHash } : {}),
      ...(u.address !== undefined ? { address: u.address } : {}),
      ...(u.disabled !== undefined ? { disabled: u.disabled } : {}),
      ...(u.passwordExpired ? { passwordExpired: true } : {}),
      ...(u.policies !== undefined ? { policies: u.policies } : {}),
    }))
    const local = new LocalUsersAuthenticator({
      users,
      algorithms: pppAuthAlgorithms,
      onPasswordChange: async (change) => {
        // Never the password itself in the log.
        if (this.onPasswordChange) await this.onPasswordChange(change)
        else this.log.warn({ user: change.user }, 'password changed in memory only (no onPasswordChange): the configured one returns at reload or restart')
        this.log.info({ user: change.user }, 'expired password changed (MS-CHAPv2 Change-Password)')
      },
    })
    let inner: Authenticator = local
    // Names that are not local users go to the callback, or to RADIUS (opened in listen()); EAP always does.
    let external: Authenticator | undefined
    if (callback) {
      external = new CallbackAuthenticator({ callback, algorithms: pppAuthAlgorithms, onError: (e) => this.log.error({ event: e }, 'authenticate callback failed') })
    } else if (config.radius) {
      external = {
        authenticate: async (request) =>
          this.radius ? this.radius.auth.authenticate(request) : { ok: false, reason: 'internal-error', detail: 'RADIUS is not open', message: GENERIC_FAILURE_MESSAGE },
      }
    }
    if (external) {
      const next = external
      inner = {
        authenticate: async (request) => {
          const first = users.length && request.method !== 'eap' ? await local.authenticate(request) : undefined
          if (first && !('challenge' in first) && (first.ok || first.reason !== 'unknown-user')) return first
          return next.authenticate(request)
        },
      }
    }
    // One limiter for the server's life: a reload must not forgive locked-out guessers.
    this.limiter ??= new AuthLimiter({ ...config.security.pppAuth, allowList: new AllowList(config.security.allowList), onEvent: (e) => this.log.warn({ event: e }, 'authentication limiter') })
    return new LimitedAuthenticator({ authenticator: inner, limiter: this.limiter, clock: monotonicSeconds })
  }

  /** Opens sockets and the TUN device and starts serving. */
  async listen(): Promise<void> {
    if (this.state !== 'new') throw new Error(`listen() on a server that is ${this.state}`)
    const c = this.config
    for (const w of this.warnings) this.log.warn({}, w)
    if (c.radius) this.radius = await this.openRadius(c.radius)
    const host = formatHost(c.listen.address)
    const dpOptions: DataPlaneOptions = {
      ike: [`${host}:${c.listen.ikePort}`],
      natt: [`${host}:${c.listen.nattPort}`],
      tun: { name: c.tun.name, mtu: c.ppp.mtu },
      ...(c.dataplane.workers > 0 ? { workers: c.dataplane.workers } : {}),
      ...(c.dataplane.netns ? { netns: c.dataplane.netns } : {}),
      ...(c.ipsec.rawEsp ? { rawEsp: c.listen.address } : {}),
      upQueue: c.security.limits.controlQueue,
      upQueueBytes: c.security.limits.controlQueueBytes,
    }
    let dp: DataPlane
    try {
      this.keys = openKeyExport({ keylog: this.keylogPath, allowKeyExport: c.admin.allowKeyExport, localAddress: c.listen.address, log: this.log })
      dp = new DataPlane(dpOptions, (batch: ControlBatch) => this.onBatch(batch))
    } catch (e) {
      this.keys?.close()
      await this.closeRadius()
      throw e
    }
    this.dp = dp
    try {
      dp.setAnomaly(dataplaneAnomaly(c.anomaly))
      const netconf = new Netconf(c.dataplane.netns)
      const tun = dp.localAddresses().tun ?? c.tun.name
      await netconf.addAddress(tun, c.pool.gateway)
      for (const prefix of poolRoutes(c.pool.range)) await netconf.addRoute(tun, prefix, c.pool.gateway)
      // Each site's remote subnets go into the TUN device, where the data plane seals them in tunnel mode.
      for (const site of c.sites) for (const prefix of site.remoteSubnets) await (prefix.includes(':') ? netconf.addRoute6(tun, prefix) : netconf.addRoute(tun, prefix))
      // IPv6: our address (the first of the first prefix) and the parent prefixes, each session's /64 inside them.
      let ipv6Pool: Ipv6PrefixPool | undefined
      if (c.pool.ipv6) {
        ipv6Pool = sessionPrefixPool(c.pool.ipv6)
        await netconf.addAddress6(tun, serverIpv6Address(c.pool.ipv6.prefixes))
        for (const prefix of c.pool.ipv6.prefixes) await netconf.addRoute6(tun, prefix)
      }
      const addresses = dp.localAddresses()
      this.ikeGuard = createIkeGuard(c.security, (e) => this.log.warn({ event: e }, 'IKE authentication limiter'))
      this.core = new ServerControlPlane({
        ...this.reloadable(c, this.authenticator, addresses),
        ikeGuard: this.ikeGuard,
        maxPendingAuth: c.security.limits.pendingAuth,
        l2tp: {
          role: 'lns',
          hostName: 'l2tp-ipsec',
          helloInterval: c.l2tp.helloInterval,
          ...(c.l2tp.secret ? { secret: c.l2tp.secret } : {}),
          hideAvps: c.l2tp.hideAvps,
          sequencing: c.l2tp.sequencing,
          maxTunnelsPerBinding: c.l2tp.maxTunnelsPerPeer,
          maxSessionsPerTunnel: c.l2tp.maxSessionsPerTunnel,
          maxSessionsPerBinding: c.l2tp.maxSessionsPerPeer,
        },
        gateway: c.pool.gateway,
        ipv6Pool,
        // With keylog or admin.allowKeyExport, the ledger sees each ESP SA as it goes in.
        dataplane: this.keys ? this.keys.ledger.watch(dp as DataPlanePort) : (dp as DataPlanePort),
        sites: {
          settings: c.sites.map((s) => ({ ...siteForIke(s), connect: s.connect, lifetime: s.lifetime })),
          port: dp,
          local: { address: isUnspecified(c.listen.address) ? '0.0.0.0' : c.listen.address, port: Number(addresses.ike[0]?.slice(addresses.ike[0].lastIndexOf(':') + 1) ?? 500) },
          peerIkePort: 500,
        },
        log: this.log,
        localAddress: isUnspecified(c.listen.address) ? '0.0.0.0' : c.listen.address,
        emit: (event, ...args) => {
          if (this.keys && event === 'ike-sa-up') this.keys.ledger.ikeUp((args as ServerEvents['ike-sa-up'])[0], this.core!.ike)
          if (this.keys && event === 'ike-sa-down') this.keys.ledger.ikeDown((args as ServerEvents['ike-sa-down'])[0].ikeSa)
          this.account(event, args)
          this.safeEmit(event, ...args)
        },
        clock: monotonicSeconds,
        maxCallsPerTick: MAX_CALLS_PER_TICK,
      })
    } catch (e) {
      this.keys?.close()
      dp.close()
      this.dp = undefined
      await this.closeRadius()
      throw e
    }
    // The gateway (re)started: the RADIUS server may close what it still thinks is open.
    this.radius?.accounting?.accountingOn()
    this.timers = new TimerLoop((now) => this.core!.tick(now), monotonicSeconds, (e) => this.log.error({ err: e }, 'timer handling failed'))
    this.timers.arm(monotonicSeconds() + 1)
    this.counterTimer = setInterval(() => this.core?.refreshCounters(), COUNTER_INTERVAL * 1000)
    this.counterTimer.unref()
    this.startedAt = new Date()
    this.state = 'listening'
    const a = dp.localAddresses()
    this.log.info({ ike: a.ike, natt: a.natt, tun: a.tun, pool: c.pool.range, gateway: c.pool.gateway, ...(c.pool.ipv6 ? { ipv6: c.pool.ipv6.prefixes, ipv6Address: serverIpv6Address(c.pool.ipv6.prefixes) } : {}) }, 'listening')
  }

  /** The settings a reload may change. */
  private reloadable(c: ServerConfig, authenticator: Authenticator, addresses: LocalAddresses) {
    return {
      ike: this.ikeConfig(c, addresses),
      authMethods: c.ppp.auth.map((m) => PPP_METHOD[m]!),
      dns: c.ppp.dns,
      dns6: c.ppp.dns6,
      ppp: {
        mtu: c.ppp.mtu,
        echoInterval: c.ppp.echoInterval,
        echoFailures: c.ppp.echoFailures,
        idleTimeout: c.ppp.idleTimeout,
        sessionTimeout: c.ppp.sessionTimeout,
        ipv6: c.ppp.ipv6,
      },
      pool: new Ipv4Pool({ ranges: c.pool.range, gateway: c.pool.gateway, exclude: c.pool.exclude }),
      authenticator,
      access: sessionPolicySet(c),
      anomalyMode: c.anomaly.mode,
    }
  }

  // --- RADIUS ----------------------------------------------------------------

  private async openRadius(r: NonNullable<ServerConfig['radius']>): Promise<RadiusParts> {
    const gatewayId = r.gatewayId ?? (hostname().replace(/[^A-Za-z0-9._-]/g, '').slice(0, 64) || 'gateway')
    const nas: NasIdentity = { nasIdentifier: r.nas.identifier ?? gatewayId, ...(r.nas.ipAddress !== undefined ? { nasIpAddress: r.nas.ipAddress } : {}) }
    const server = (s: (typeof r.servers)[number], port = s.port): RadiusServerOptions => ({
      host: s.host,
      ...(port !== undefined ? { port } : {}),
      ...(s.secretFile !== undefined ? { secretFile: s.secretFile } : { secret: s.secret! }),
      timeoutMs: s.timeout * 1000,
      retries: s.retries,
    })
    const onEvent = (what: string) => (event: { kind: string }) => {
      if (event.kind === 'server-up') this.log.info({ event }, `RADIUS ${what}`)
      else this.log.warn({ event }, `RADIUS ${what}`)
    }
    const auth = new RadiusAuthenticator({ servers: r.servers.map((s) => server(s)), nas, onEvent: onEvent('authentication') })
    const parts: RadiusParts = { auth }
    try {
      const a = r.accounting
      if (a) {
        const queueFile = a.queueFile ?? join(this.stateDir, 'radius-acct.queue')
        mkdirSync(dirname(queueFile), { recursive: true, mode: 0o700 })
        parts.accounting = new RadiusAccounting({
          // Default: the authentication servers, accounting on the next port (1812 -> 1813).
          servers: a.servers ? a.servers.map((s) => server(s)) : r.servers.map((s) => server(s, s.port === undefined ? undefined : s.port + 1)),
          nas,
          gatewayId,
          queueFile,
          interimIntervalSeconds: a.interimInterval,
          readCounters: (id) => this.core?.sessionCounters(id, false),
          onEvent: onEvent('accounting'),
        })
      }
      if (r.dae) {
        const at = r.dae.listen.lastIndexOf(':')
        parts.dae = await startDaeServer({
          listen: { address: r.dae.listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(r.dae.listen.slice(at + 1)) },
          clients: r.dae.clients.map((client) => {
            if (client.secret !== undefined || client.secretFile !== undefined) return client
            const same = r.servers.find((s) => s.host === client.address)!
            return { address: client.address, ...(same.secretFile !== undefined ? { secretFile: same.secretFile } : { secret: same.secret! }) }
          }),
          nas,
          onDisconnect: (match) => this.daeDisconnect(match),
          onCoa: (match, changes) => this.daeCoa(match, changes),
          onEvent: (event) => {
            if (event.kind === 'answered') this.log.info({ dae: event }, 'RADIUS dynamic authorization')
            else this.log.warn({ dae: event }, 'RADIUS dynamic authorization')
          },
        })
      }
    } catch (e) {
      await auth.close()
      await parts.accounting?.close()
      throw e
    }
    this.log.info({ servers: r.servers.map((s) => `${s.host}:${s.port ?? 1812}`), accounting: parts.accounting !== undefined, dae: parts.dae?.address, gatewayId }, 'RADIUS ready')
    return parts
  }

  private async closeRadius(): Promise<void> {
    const r = this.radius
    this.radius = undefined
    if (!r) return
    await r.dae?.close()
    if (r.accounting) {
      await r.accounting.flush(ACCOUNTING_FLUSH_MS)
      await r.accounting.close()
    }
    await r.auth.close()
  }

  /** Accounting Start at session-up (with the Accept's Class), Stop at session-down. */
  private account<K extends keyof ServerEvents>(event: K, args: ServerEvents[K]): void {
    const accounting = this.radius?.accounting
    if (!accounting) return
    try {
      if (event === 'session-up') {
        const up = (args as ServerEvents['session-up'])[0]
        const auth = this.core?.sessionAuth(up.id)
        const radius = auth && isRadiusSuccess(auth) ? auth.radius : undefined
        accounting.start({
          id: up.id,
          user: up.user,
          address: up.address,
          peer: up.peer,
          authentic: radius ? 'radius' : 'local',
          ...(radius && radius.class.length > 0 ? { class: radius.class } : {}),
          ...(radius?.acctInterimInterval !== undefined ? { interimIntervalSeconds: radius.acctInterimInterval } : {}),
        })
      } else if (event === 'session-down') {
        const down = (args as ServerEvents['session-down'])[0]
        accounting.stop({ id: down.id }, down, down.reason)
      }
    } catch (e) {
      this.log.error({ err: e, event }, 'RADIUS accounting failed')
    }
  }

  /** The live sessions a Disconnect-Request or CoA names (every attribute given must match). */
  private daeSessions(match: DaeMatch): SessionInfo[] {
    const byAcct = match.acctSessionId === undefined ? undefined : this.radius?.accounting?.findSession(match.acctSessionId)
    if (match.acctSessionId !== undefined && byAcct === undefined) return []
    return this.sessions().filter(
      (s) =>
        (byAcct === undefined || s.id === byAcct) &&
        (match.user === undefined || s.user === match.user || s.user === withoutDomain(match.user)) &&
        (match.framedIpAddress === undefined || s.address === match.framedIpAddress) &&
        (match.callingStationId === undefined || s.peer.address === match.callingStationId) &&
        (match.nasPort === undefined || s.id === match.nasPort),
    )
  }

  private daeDisconnect(match: DaeMatch): boolean {
    const found = this.daeSessions(match)
    for (const s of found) this.core?.disconnect(s.id, 'radius-disconnect', 'RADIUS Disconnect-Request')
    this.timers?.arm(this.core?.nextDeadline())
    return found.length > 0
  }

  private daeCoa(match: DaeMatch, changes: DaeChanges): boolean {
    const found = this.daeSessions(match)
    const apply = {
      ...(changes.sessionTimeout !== undefined ? { sessionTimeout: changes.sessionTimeout } : {}),
      ...(changes.idleTimeout !== undefined ? { idleTimeout: changes.idleTimeout } : {}),
      ...(changes.filterId !== undefined ? { filterId: changes.filterId } : {}),
    }
    // An unknown Filter-Id throws before anything changed: the answer is a NAK (506).
    for (const s of found) this.core?.changeSession(s.id, apply)
    this.timers?.arm(this.core?.nextDeadline())
    return found.length > 0
  }

  /**
   * Applies a new configuration to a running server: users, PPP settings,
   * the pool and IKE proposals/secrets take effect for what comes next; live
   * sessions stay unless their user is gone or disabled, or their address is
   * outside the new pool (those end with reason 'reload'). Sockets, TUN,
   * gateway, pool.ipv6 and L2TP settings need a restart: changing them is refused
   * (ConfigError naming the keys) and nothing changes.
   */
  reload(next: L2tpServerOptions | LoadedConfig): { changed: string[]; kicked: number } {
    const loaded = 'config' in next && 'warnings' in next ? (next as LoadedConfig) : parseServerConfig(omitExtras(next as L2tpServerOptions))
    const c = loaded.config
    const changed = Object.keys(c).filter((k) => JSON.stringify(c[k as keyof ServerConfig]) !== JSON.stringify(this.config[k as keyof ServerConfig]))
    const fixed = ['listen', 'tun', 'dataplane', 'admin', 'l2tp', 'metrics', 'radius', 'sites', 'security', 'audit', 'operations'].filter((k) => changed.includes(k))
    if (c.ipsec.rawEsp !== this.config.ipsec.rawEsp) fixed.push('ipsec.rawEsp')
    if (c.pool.gateway !== this.config.pool.gateway) fixed.push('pool.gateway')
    // The TUN device's IPv6 address and routes come from it.
    if (JSON.stringify(c.pool.ipv6) !== JSON.stringify(this.config.pool.ipv6)) fixed.push('pool.ipv6')
    if (fixed.length) throw new ConfigError(fixed.map((key) => ({ key, message: 'cannot change while running; restart the server' })))
    if (!this.core || !this.dp) {
      ;(this as { config: ServerConfig }).config = c
      return { changed, kicked: 0 }
    }
    const authenticator = this.buildAuthenticator(this.callback, c)
    const users = new Map(c.users.map((u) => [u.name, u]))
    const keep = (user: string) => (users.has(user) ? !users.get(user)!.disabled : this.callback !== undefined || c.radius !== null)
    this.dp.setAnomaly(dataplaneAnomaly(c.anomaly))
    const kicked = this.core.reconfigure(this.reloadable(c, authenticator, this.dp.localAddresses()), keep)
    ;(this as { config: ServerConfig }).config = c
    ;(this as { warnings: readonly string[] }).warnings = loaded.warnings
    this.log.info({ changed, kicked }, 'configuration reloaded')
    this.timers?.arm(this.core.nextDeadline())
    return { changed, kicked }
  }

  private ikeConfig(config: ServerConfig, addresses: LocalAddresses): IkeConfig {
    const c = config.ipsec
    const port = (list: string[], fallback: number) => Number(list[0]?.slice(list[0].lastIndexOf(':') + 1) ?? fallback)
    return {
      policy: proposalPolicy(c.proposals),
      ...(c.psk ? { psk: Buffer.from(c.psk) } : {}),
      ...(c.certificate
        ? { certificate: { credentials: loadCredentials({ cert: c.certificate.cert, key: c.certificate.key }), trustAnchors: loadTrustAnchors(c.certificate.ca) } }
        : {}),
      ...(c.localId ? { localId: c.localId } : {}),
      ikePort: port(addresses.ike, 500),
      nattPort: port(addresses.natt, 4500),
      aggressiveMode: c.aggressiveMode,
      dpdDelay: c.dpdDelay,
      dpdTimeout: c.dpdTimeout,
      maxHalfOpen: c.maxHalfOpen,
      maxHalfOpenPerSource: c.maxHalfOpenPerSource,
      // Without the raw ESP socket every peer must encapsulate: NAT-D is answered as if it were behind NAT.
      forceEncapsulation: !c.rawEsp,
      maxSasPerIdentity: config.security.limits.ikeSasPerIdentity,
      fragmentReassembly: { maxPending: config.security.limits.ikeFragmentReassemblies, maxBytes: config.security.limits.ikeFragmentBytes },
      sites: config.sites.map(siteForIke),
    }
  }

  /** The live IKE and ESP keys for `l2tp-ipsec keys --wireshark`; undefined unless admin.allowKeyExport. */
  exportKeys(): KeyExport | undefined {
    if (!this.config.admin.allowKeyExport || !this.keys) return undefined
    return this.keys.ledger.snapshot()
  }

  /** A batch from the data plane: one call per batch, never per data packet. */
  private onBatch(batch: ControlBatch): void {
    if (!this.core || this.state === 'closed') return
    try {
      this.core.ingest(batch)
    } catch (e) {
      this.log.error({ err: e }, 'control batch handling failed')
    }
    this.timers?.arm(this.core.nextDeadline())
  }

  private safeEmit<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void {
    // 'error' without a listener would throw out of the control plane.
    if (event === 'error' && this.listenerCount('error') === 0) return
    try {
      ;(this.emit as (e: K, ...a: ServerEvents[K]) => boolean)(event, ...args)
    } catch (e) {
      this.log.error({ err: e, event }, 'an event listener threw')
    }
  }

  /** Where the sockets are bound (ports resolved) and the TUN device's name. */
  addresses(): LocalAddresses {
    if (!this.dp) throw new Error('the server is not listening')
    return this.dp.localAddresses()
  }

  sessions(): SessionInfo[] {
    // Closed: the data plane the counters come from is gone, and so are the sessions.
    if (this.state === 'closed') return []
    return this.core?.sessions() ?? []
  }

  /** Site-to-site links (config `sites`) with their state and traffic. */
  sites(): SiteInfo[] {
    return this.core?.sites() ?? []
  }

  /** Starts a new Quick Mode for a site we call (the old SA pair is deleted a few seconds after the new one is up); false when it is not up or not ours to call. */
  rekeySite(name: string): boolean {
    const done = this.core?.rekeySite(name) ?? false
    this.timers?.arm(this.core?.nextDeadline())
    return done
  }

  kick(id: number): boolean {
    const done = this.core?.kick(id) ?? false
    this.timers?.arm(this.core?.nextDeadline())
    return done
  }

  status(): ServerStatus {
    const stats = this.dp?.summary()
    return {
      state: this.state,
      startedAt: this.startedAt.toISOString(),
      sessions: this.core?.sessionCount ?? 0,
      bindings: this.core?.bindings.size ?? 0,
      pool: this.core?.poolStats(),
      ipv6: this.core?.ipv6Stats(),
      dataplane: stats ? { sas: stats.sas, sessions: stats.sessions } : undefined,
      ike: this.core ? { ...this.core.ike.stats() } : undefined,
      l2tp: this.core ? { ...this.core.l2tp.stats() } : undefined,
      addresses: this.dp?.localAddresses(),
      counters: stats?.counters,
      security: this.core ? this.securityStatus(stats?.counters) : undefined,
      sites: this.sites(),
    }
  }

  private securityStatus(counters: Record<string, number> | undefined): SecurityStatus {
    const ike = this.core!.ike.stats()
    return securityStatus({
      ikeDropped: ike.dropped,
      l2tpDropped: this.core!.l2tp.stats().dropped,
      dataplaneCounters: counters,
      ikeLimiter: this.ikeGuard?.limiter,
      pppLimiter: this.limiter,
      busyRefusals: this.core!.auth.busy,
      pendingAuth: this.core!.auth.pending,
      reassembling: ike.reassembling,
    })
  }

  /**
   * Troubleshooting: the data plane writes session `id`'s inner (decrypted)
   * IP packets, both ways, to a new pcap file at `path` until stopCapture
   * or the session's end. Throws when there is no such session or the file
   * exists. Packets never pass through JS for this.
   */
  startCapture(id: number, path: string): void {
    if (!this.dp) throw new Error('the server is not listening')
    this.dp.startCapture(id, path)
  }

  /** Stops session `id`'s capture (the file is complete); undefined when none was running. */
  stopCapture(id: number): { packets: number; bytes: number } | undefined {
    return this.dp?.stopCapture(id) ?? undefined
  }

  /** Ends every session (PPP Terminate, CDN), every tunnel (StopCCN) and every IKE SA (Delete), then closes the data plane. */
  async close(options: { graceSeconds?: number } = {}): Promise<void> {
    if (this.state !== 'listening') {
      this.state = 'closed'
      return
    }
    this.state = 'closing'
    const core = this.core!
    core.closeAll('closed', 'server shutting down')
    this.timers?.arm(core.nextDeadline())
    const deadline = monotonicSeconds() + (options.graceSeconds ?? CLOSE_GRACE)
    while (core.sessionCount > 0 && monotonicSeconds() < deadline) await sleep(50)
    core.closeTunnelsAndIke()
    // Let the last datagrams leave before the sockets close.
    await sleep(50)
    this.timers?.stop()
    if (this.counterTimer) clearInterval(this.counterTimer)
    this.state = 'closed'
    this.dp?.close()
    this.dp = undefined
    this.keys?.close()
    this.radius?.accounting?.accountingOff()
    await this.closeRadius()
    this.log.info({}, 'closed')
  }
}

function omitExtras(options: L2tpServerOptions): ServerConfigInput {
  const { authenticate: _a, onPasswordChange: _p, logger: _l, baseDir: _b, stateDir: _s, keylog: _k, ...input } = options
  return input
}

/** A configured site as the IKE core takes it. */
function siteForIke(s: ServerConfig['sites'][number]): IkeSite {
  return {
    name: s.name,
    ...(s.peer !== 'any' ? { peer: s.peer } : {}),
    ...(s.psk !== undefined ? { psk: Buffer.from(s.psk) } : {}),
    ...(s.localId !== undefined ? { localId: s.localId } : {}),
    ...(s.remoteId !== undefined ? { remoteId: s.remoteId } : {}),
    local: s.localSubnets,
    remote: s.remoteSubnets,
    ...(s.proposals !== undefined ? { policy: proposalPolicy(s.proposals) } : {}),
    dpdDelay: s.dpd.delay,
    dpdTimeout: s.dpd.timeout,
  }
}

function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::'
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
