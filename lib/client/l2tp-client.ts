/**
 * `L2tpClient`: our own L2TP/IPsec client (IKE initiator, LAC, PPP client)
 * over its own data plane and TUN device. For site-to-site links, tests and
 * load generation.
 *
 *   const client = new L2tpClient({ server: '203.0.113.1', psk, user, password })
 *   const { address } = await client.connect()
 *   ...
 *   await client.close()
 */
import { EventEmitter } from 'node:events'
import { DataPlane } from '../../native/index.js'
import type { ControlBatch, LocalAddresses } from '../../native/index.js'
import type { Method } from '../auth/index.js'
import { loadCredentials, loadTrustAnchors } from '../ike/certificates.js'
import { PRESETS, type PresetName } from '../ike/policy.js'
import type { IkeConfig } from '../ike/types.js'
import { silentLogger, type Logger } from '../log/index.js'
import type { PppLinkUpEvent } from '../ppp/link.js'
import { linkLocalFromInterfaceId } from '../ppp/ipv6-nd.js'
import { formatIpv6, parseIpv6 } from '../pool/ipv6.js'
import { Netconf } from '../system/netconf.js'
import { formatHost, parseHostPort } from '../server/bindings.js'
import type { DataPlanePort } from '../server/control-plane.js'
import { monotonicSeconds, TimerLoop } from '../server/timer-loop.js'
import type { AuthFailureInfo, IkeSaDownInfo, IkeSaUpInfo } from '../server/types.js'
import { ClientControlPlane } from './client-control-plane.js'

export interface L2tpClientOptions {
  /** The server's address, and its IKE and NAT-T ports (500, 4500). */
  server: string
  serverPort?: number
  serverNattPort?: number
  psk?: string | Buffer
  /** PEM contents: our certificate (and chain), key, and the CA(s) the server's certificate must chain to. */
  certificate?: { cert: string; key: string; ca: string }
  /** The IKE ID we send (default our address). */
  localId?: string
  proposals?: PresetName
  user: string
  password: string
  /**
   * PPP methods we agree to, the first one named when the server asks for
   * one we refuse (default mschapv2, chap, pap, eap). EAP answers Identity
   * and EAP-MD5 and Naks other EAP types, proposing MD5.
   */
  auth?: readonly ('mschapv2' | 'chap' | 'pap' | 'eap')[]
  /**
   * MS-CHAPv2: when the server says the password expired (Failure E=648),
   * change it to this one (RFC 2759 7 Change-Password); `up` then says
   * `passwordChanged`. Without it an expired password fails the login.
   */
  newPassword?: string
  /** MS-CHAPv2: Responses sent again, same password, when a Failure allows a retry (R=1) (default 0). */
  authRetries?: number
  /** Our address and ports (default 0.0.0.0, any free port for IKE and NAT-T). */
  local?: { address?: string; ikePort?: number; nattPort?: number }
  /** Send ESP as IP protocol 50 when no NAT is in the way (needs CAP_NET_RAW; default false: always UDP 4500). */
  rawEsp?: boolean
  tun?: { name?: string; mtu?: number }
  /** Prefixes sent into the tunnel (default: the server's PPP address only). */
  routes?: readonly string[]
  /** Run the data plane's sockets and TUN inside this network namespace (a /run/netns path). */
  netns?: string
  workers?: number
  /** Reconnect with back-off after an established session is lost (default true; never after close()). */
  reconnect?: boolean | { initialDelay?: number; maxDelay?: number }
  /** Seconds connect() waits for the session (default 30). */
  connectTimeout?: number
  /** IKE retransmission (first interval s, attempts) and DPD (s). */
  ike?: { retransmitInterval?: number; retransmitTries?: number; dpdDelay?: number; dpdTimeout?: number }
  ppp?: { echoInterval?: number; echoFailures?: number; mtu?: number }
  /**
   * Negotiate IPV6CP too (default false). The kernel then configures IPv6 on
   * the TUN device from the server's Router Advertisements (SLAAC, with the
   * IPV6CP interface identifier as the address's token): the address, an
   * IPv6 default route through the tunnel (the RA's router lifetime) and the
   * MTU. `info.ipv6` and the 'ipv6-up' event report it once it is there.
   */
  ipv6?: boolean
  logger?: Logger
}

/** IPv6 on the TUN device (option ipv6, IPV6CP up). */
export interface ClientIpv6Info {
  /** Our IPV6CP interface identifier (16 hex digits), and the server's. */
  interfaceId: string
  peerInterfaceId: string | undefined
  /** fe80::<interfaceId>, on the TUN device. */
  linkLocal: string
  /** The global address the kernel formed from the server's Router Advertisement, "2001:db8:42:1:…" (undefined until then). */
  address: string | undefined
  /** The advertised prefix it is in, "2001:db8:42:1::/64". */
  prefix: string | undefined
}

export interface ClientUpInfo {
  address: string
  gateway: string | undefined
  dns: string[]
  authMethod: string | undefined
  /** The login changed an expired password to `newPassword`. */
  passwordChanged?: boolean
  tun: string
  /** With option ipv6, once IPV6CP is up (it may open after IPCP: then set on `info` later); `address` fills in when the RA came. */
  ipv6?: ClientIpv6Info
}

export interface ClientDownInfo {
  reason: string
  detail: string
}

export interface ClientEvents {
  up: [ClientUpInfo]
  down: [ClientDownInfo]
  reconnecting: [{ attempt: number; delaySeconds: number }]
  /** The kernel formed our IPv6 address from the server's Router Advertisement (option ipv6). */
  'ipv6-up': [ClientIpv6Info]
  'auth-failure': [AuthFailureInfo]
  'ike-sa-up': [IkeSaUpInfo]
  'ike-sa-down': [IkeSaDownInfo]
  error: [Error]
}

export class L2tpClientError extends Error {
  override readonly name = 'L2tpClientError'
  constructor(
    readonly code: 'CLIENT_AUTH_FAILED' | 'CLIENT_IKE_FAILED' | 'CLIENT_L2TP_FAILED' | 'CLIENT_TIMEOUT' | 'CLIENT_CLOSED' | 'CLIENT_FAILED',
    message: string,
  ) {
    super(message)
  }
}

const METHOD: Record<string, Method> = { mschapv2: 'mschapv2', chap: 'chap-md5', pap: 'pap', eap: 'eap' }
/** How long after IPV6CP is up we look for the address the kernel forms from the server's RA. */
const IPV6_ADDRESS_WAIT_MS = 15_000

export class L2tpClient extends EventEmitter<ClientEvents> {
  private readonly options: L2tpClientOptions
  private readonly log: Logger
  private dp: DataPlane | undefined
  private core: ClientControlPlane | undefined
  private timers: TimerLoop | undefined
  private netconf: Netconf
  private current: ClientUpInfo | undefined
  private ipv6: ClientIpv6Info | undefined
  /** The TUN device made ready for SLAAC (option ipv6), started when it is created. */
  private ipv6Prepared: Promise<boolean> | undefined
  private closing = false
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | undefined
  private pending: { resolve: (u: ClientUpInfo) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined

  constructor(options: L2tpClientOptions) {
    super()
    if (!options.psk && !options.certificate) throw new L2tpClientError('CLIENT_FAILED', 'L2tpClient needs psk or certificate')
    if (!options.user) throw new L2tpClientError('CLIENT_FAILED', 'L2tpClient needs user')
    this.options = options
    this.log = options.logger ?? silentLogger()
    this.netconf = new Netconf(options.netns)
  }

  /** The session's address once up. */
  get info(): ClientUpInfo | undefined {
    return this.current
  }

  addresses(): LocalAddresses | undefined {
    return this.dp?.localAddresses()
  }

  /** Connects; resolves once PPP is up and the TUN device carries the address. */
  connect(): Promise<ClientUpInfo> {
    if (this.pending) throw new L2tpClientError('CLIENT_FAILED', 'connect() is already in progress')
    this.closing = false
    return new Promise<ClientUpInfo>((resolve, reject) => {
      const seconds = this.options.connectTimeout ?? 30
      const timer = setTimeout(() => this.fail(new L2tpClientError('CLIENT_TIMEOUT', `no session within ${seconds} s`)), seconds * 1000)
      this.pending = { resolve, reject, timer }
      try {
        this.start()
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)))
      }
    })
  }

  private start(): void {
    const o = this.options
    this.openDataPlane()
    const addresses = this.dp!.localAddresses()
    const ikePort = parseHostPort(addresses.ike[0]!).port
    const nattPort = parseHostPort(addresses.natt[0]!).port
    const localAddress = o.local?.address ?? '0.0.0.0'
    this.core = new ClientControlPlane({
      ike: this.ikeConfig(ikePort, nattPort),
      l2tp: { role: 'lac', hostName: 'l2tp-ipsec-client' },
      ppp: { mtu: o.ppp?.mtu ?? 1400, echoInterval: o.ppp?.echoInterval ?? 30, echoFailures: o.ppp?.echoFailures ?? 4, idleTimeout: 0, sessionTimeout: 0, ipv6: o.ipv6 ?? false },
      dataplane: this.dp as DataPlanePort,
      log: this.log,
      localAddress,
      clock: monotonicSeconds,
      emit: (event, ...args) => {
        if (event === 'auth-failure' || event === 'ike-sa-up' || event === 'ike-sa-down') (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args)
      },
      user: o.user,
      password: o.password,
      ...(o.auth ? { authMethods: o.auth.map((m) => METHOD[m]!) } : {}),
      ...(o.newPassword !== undefined ? { newPassword: o.newPassword } : {}),
      ...(o.authRetries !== undefined ? { authRetries: o.authRetries } : {}),
      onUp: (e) => void this.onUp(e),
      onIpv6Up: (e) => void this.onIpv6Up(e.localInterfaceId, e.peerInterfaceId),
      onDown: (reason, detail) => this.onDown(reason, detail),
    })
    this.timers = new TimerLoop((now) => this.core?.tick(now), monotonicSeconds, (e) => this.log.error({ err: e }, 'client timer failed'))
    this.ipv6 = undefined
    this.ipv6Prepared = o.ipv6 ? this.prepareIpv6(this.tunName()) : undefined
    this.core.connect({ peer: { address: o.server, port: o.serverPort ?? 500 }, local: { address: localAddress, port: ikePort } })
    this.timers.arm(this.core.nextDeadline())
  }

  private openDataPlane(): void {
    if (this.dp) return
    const o = this.options
    const host = formatHost(o.local?.address ?? '0.0.0.0')
    this.dp = new DataPlane(
      {
        ike: [`${host}:${o.local?.ikePort ?? 0}`],
        natt: [`${host}:${o.local?.nattPort ?? 0}`],
        ...(o.rawEsp ? { rawEsp: o.local?.address ?? '0.0.0.0' } : {}),
        tun: { name: o.tun?.name ?? 'l2tpc0', mtu: o.tun?.mtu ?? o.ppp?.mtu ?? 1400 },
        workers: o.workers ?? 1,
        ...(o.netns ? { netns: o.netns } : {}),
      },
      (batch: ControlBatch) => {
        if (!this.core) return
        this.core.ingest(batch)
        this.timers?.arm(this.core.nextDeadline())
      },
    )
  }

  private ikeConfig(ikePort: number, nattPort: number): IkeConfig {
    const o = this.options
    return {
      policy: PRESETS[o.proposals ?? 'compatible'],
      ...(o.psk ? { psk: Buffer.from(o.psk) } : {}),
      ...(o.certificate ? { certificate: { credentials: loadCredentials({ cert: o.certificate.cert, key: o.certificate.key }), trustAnchors: loadTrustAnchors(o.certificate.ca) } } : {}),
      ...(o.localId ? { localId: o.localId } : {}),
      ikePort,
      nattPort,
      peerIkePort: o.serverPort ?? 500,
      peerNattPort: o.serverNattPort ?? 4500,
      forceEncapsulation: !o.rawEsp,
      ...(o.ike?.retransmitInterval !== undefined ? { retransmitInterval: o.ike.retransmitInterval } : {}),
      ...(o.ike?.retransmitTries !== undefined ? { retransmitTries: o.ike.retransmitTries } : {}),
      ...(o.ike?.dpdDelay !== undefined ? { dpdDelay: o.ike.dpdDelay } : {}),
      ...(o.ike?.dpdTimeout !== undefined ? { dpdTimeout: o.ike.dpdTimeout } : {}),
    }
  }

  private async onUp(e: PppLinkUpEvent): Promise<void> {
    const tun = this.dp?.localAddresses().tun ?? this.options.tun?.name ?? 'l2tpc0'
    try {
      await this.netconf.addAddress(tun, e.address, e.localAddress)
      for (const prefix of this.options.routes ?? []) await this.netconf.addRoute(tun, prefix, e.address)
    } catch (err) {
      this.log.error({ err }, 'configuring the TUN device failed')
      this.core?.hangUp('TUN configuration failed')
      this.fail(err instanceof Error ? err : new Error(String(err)))
      return
    }
    this.attempt = 0
    this.current = { address: e.address, gateway: e.localAddress, dns: e.dns, authMethod: e.authMethod, ...(e.passwordChanged ? { passwordChanged: true } : {}), tun, ...(this.ipv6 ? { ipv6: this.ipv6 } : {}) }
    this.log.info({ ...this.current }, 'connected')
    this.emit('up', this.current)
    if (this.pending) {
      clearTimeout(this.pending.timer)
      this.pending.resolve(this.current)
      this.pending = undefined
    }
  }

  private tunName(): string {
    return this.dp?.localAddresses().tun ?? this.options.tun?.name ?? 'l2tpc0'
  }

  /**
   * Readies the TUN device for the kernel's SLAAC before IPV6CP is up:
   * RAs accepted (2: whatever the forwarding setting), no forwarding, no
   * DAD (the /64 is ours alone), no address of the kernel's own making from
   * an RA (addrgenmode none), and ARP on, without which the kernel refuses
   * an interface token (a TUN device has no neighbours either way: no
   * header_ops, so no resolution).
   */
  private async prepareIpv6(tun: string): Promise<boolean> {
    try {
      for (const [key, value] of [['accept_ra', 2], ['forwarding', 0], ['accept_dad', 0], ['autoconf', 1]] as const) await this.netconf.sysctl(`net/ipv6/conf/${tun}/${key}`, value)
      await this.netconf.ip('link', 'set', 'dev', tun, 'addrgenmode', 'none')
      await this.netconf.ip('link', 'set', 'dev', tun, 'arp', 'on')
      return true
    } catch (err) {
      this.log.warn({ err, tun }, 'preparing the TUN device for IPv6 failed; no IPv6 address will be configured')
      return false
    }
  }

  /**
   * IPV6CP is up: the interface identifier becomes the token of the TUN
   * device (the global address is prefix + it, RFC 5072 5) and fe80::<it> its
   * link-local address. Setting the token (or a lone link-local address)
   * makes the kernel send a Router Solicitation; the server's answer makes
   * the address, which we then read back.
   */
  private async onIpv6Up(interfaceId: string, peerInterfaceId: string | undefined): Promise<void> {
    const dp = this.dp
    const tun = this.tunName()
    const info: ClientIpv6Info = { interfaceId, peerInterfaceId, linkLocal: linkLocalFromInterfaceId(interfaceId), address: undefined, prefix: undefined }
    this.ipv6 = info
    if (this.current) this.current.ipv6 = info
    try {
      if (!(await this.ipv6Prepared)) return
      await this.netconf.ip('token', 'set', `${formatIpv6(BigInt(`0x${interfaceId}`))}/64`, 'dev', tun)
      await this.netconf.addAddress6(tun, `${info.linkLocal}/64`)
    } catch (err) {
      this.log.warn({ err, tun }, 'configuring IPv6 on the TUN device failed; the session carries IPv4 only')
      return
    }
    const iid = BigInt(`0x${interfaceId}`)
    const deadline = Date.now() + IPV6_ADDRESS_WAIT_MS
    let delay = 50
    while (this.dp === dp && dp && this.ipv6 === info && Date.now() < deadline) {
      const addresses = await this.netconf.globalAddresses6(tun).catch(() => [])
      for (const a of addresses) {
        const [text = '', length = '128'] = a.split('/')
        const value = parseIpv6(text)
        if (value === undefined || (value & 0xffff_ffff_ffff_ffffn) !== iid) continue
        const bits = Number(length)
        const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits)
        info.address = text
        info.prefix = `${formatIpv6(value & mask)}/${bits}`
        this.log.info({ address: info.address, prefix: info.prefix, tun }, 'IPv6 address configured from the Router Advertisement')
        this.emit('ipv6-up', info)
        return
      }
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(500, delay * 2)
    }
    if (this.dp === dp && this.ipv6 === info) this.log.warn({ tun, seconds: IPV6_ADDRESS_WAIT_MS / 1000 }, 'no IPv6 address from a Router Advertisement; the server may have no pool.ipv6')
  }

  private onDown(reason: string, detail: string): void {
    const wasUp = this.current !== undefined
    this.current = undefined
    this.ipv6 = undefined
    this.log.info({ reason, detail }, 'disconnected')
    this.emit('down', { reason, detail })
    this.stopRuntime()
    if (this.pending) {
      const code = /authentication/.test(detail) ? 'CLIENT_AUTH_FAILED' : reason === 'ike-failed' ? 'CLIENT_IKE_FAILED' : reason === 'l2tp-failed' ? 'CLIENT_L2TP_FAILED' : 'CLIENT_FAILED'
      this.fail(new L2tpClientError(code, detail))
      return
    }
    if (wasUp && !this.closing && this.options.reconnect !== false) this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    const r = typeof this.options.reconnect === 'object' ? this.options.reconnect : {}
    this.attempt++
    const delaySeconds = Math.min(r.maxDelay ?? 60, (r.initialDelay ?? 1) * 2 ** (this.attempt - 1))
    this.emit('reconnecting', { attempt: this.attempt, delaySeconds })
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      if (this.closing) return
      this.connect().catch((e: Error) => {
        this.log.warn({ err: e }, 'reconnect failed')
        if (!this.closing) this.scheduleReconnect()
      })
    }, delaySeconds * 1000)
  }

  private fail(e: Error): void {
    this.stopRuntime()
    if (!this.pending) return
    clearTimeout(this.pending.timer)
    const reject = this.pending.reject
    this.pending = undefined
    reject(e)
  }

  /** Stops timers and closes the data plane (TUN device and its routes go with it). */
  private stopRuntime(): void {
    this.timers?.stop()
    this.timers = undefined
    this.core = undefined
    const dp = this.dp
    this.dp = undefined
    // Let the last Delete / StopCCN leave first.
    if (dp) setTimeout(() => dp.close(), 50)
  }

  /** Rekeys the ESP SAs now (Quick Mode under the IKE SA; traffic moves to the new pair); false when not connected. */
  rekey(): boolean {
    const started = this.core?.rekey() ?? false
    this.timers?.arm(this.core?.nextDeadline())
    return started
  }

  /** Hangs up (PPP Terminate, CDN, StopCCN, IKE Delete) and closes everything; no reconnect after it. */
  async close(): Promise<void> {
    this.closing = true
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    const core = this.core
    if (core) {
      if (core.hasCall) {
        core.hangUp('client closed')
        this.timers?.arm(core.nextDeadline())
        const deadline = monotonicSeconds() + 4
        while (this.core === core && monotonicSeconds() < deadline) await new Promise((r) => setTimeout(r, 25))
      }
      if (this.core === core) {
        core.teardown()
        core.report('closed', 'client closed')
      }
    }
    this.fail(new L2tpClientError('CLIENT_CLOSED', 'closed'))
    await new Promise((r) => setTimeout(r, 60))
  }
}
