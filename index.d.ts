/**
 * l2tp-ipsec: an L2TP/IPsec VPN server for Linux gateways, with a Rust data
 * plane. This file is the package's public API:
 *
 * - `L2tpServer`: the gateway (IKEv1, L2TPv2, PPP, auth, pool, data plane).
 * - `L2tpClient`: our own client, for site-to-site links, tests and load.
 * - `loadConfigFile` / `parseServerConfig`: the YAML configuration, checked.
 * - `EspSa`, `DataPlane`: the native building blocks underneath.
 *
 * `__test__/public-types.spec.ts` checks at compile time that these
 * declarations and the implementation in lib/ agree.
 */
// The native classes and functions, with their doc comments, come from the
// generated binding; this file adds what the TypeScript layer defines.
import type { EventEmitter } from 'node:events'

export { DataPlane, EspSa, espStatusCodes, espSuiteInfo, espSuites } from './native/index.js'
export type {
  ControlBatch,
  ControlMeta,
  DataPlaneEvent,
  DataPlaneOptions,
  DataPlaneStats,
  EspSaOptions,
  EspSaStats,
  EspSuiteInfo,
  KeepaliveOptions,
  LocalAddresses,
  OpenedBatch,
  PacketBatch,
  PolicyOptions,
  PolicyRuleOptions,
  SaLifetimeOptions,
  SaOptions,
  SaStats,
  SessionOptions,
  SessionStats,
  TunOptions,
} from './native/index.js'

/** `ESP_STATUS[status]` names a per-packet status (`OK`, `ESP_REPLAY`, `ESP_ICV_MISMATCH`, ...). */
export declare const ESP_STATUS: readonly string[]

/** Packets back to back in one Buffer, with n + 1 boundaries. */
export interface Batch {
  data: Buffer
  offsets: Uint32Array
}
/** Packs packets into one batch for the native calls. */
export declare function packBatch(packets: readonly Uint8Array[]): Batch
/** Views of each packet of a batch. */
export declare function unpackBatch(batch: Batch): Buffer[]

// --- configuration -----------------------------------------------------------

export type AuthMethodName = 'mschapv2' | 'chap' | 'pap' | 'eap'
export type DhGroup = 2 | 5 | 14 | 15 | 16 | 19 | 20 | 21
export type HashName = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512'

/** Explicit IKE proposals instead of a preset. */
export interface ExplicitProposals {
  phase1: { encryption: ('aes128' | 'aes192' | 'aes256' | '3des')[]; hash: HashName[]; groups: DhGroup[]; lifetime?: number }
  phase2: {
    ciphers: ('aes128' | 'aes192' | 'aes256' | '3des' | 'aes128gcm-16' | 'aes256gcm-16')[]
    integrity: HashName[]
    pfsGroups?: DhGroup[]
    requirePfs?: boolean
    lifetime?: number
  }
}

/**
 * The server configuration: the YAML file's keys, the same for
 * `new L2tpServer(options)`. Only `ipsec` (psk, pskFile or certificate)
 * and `pool` are required; see config/example.yaml for every key.
 */
export interface ServerConfigInput {
  listen?: { address?: string; ikePort?: number; nattPort?: number }
  ipsec: {
    psk?: string
    pskFile?: string
    /** Paths to PEM files (relative to the config file), or PEM text. */
    certificate?: { cert: string; key: string; ca: string }
    localId?: string | null
    proposals?: 'modern' | 'compatible' | 'legacy' | ExplicitProposals
    aggressiveMode?: boolean
    dpdDelay?: number
    dpdTimeout?: number
    maxHalfOpen?: number
    maxHalfOpenPerSource?: number
  }
  l2tp?: { helloInterval?: number; secret?: string | null; hideAvps?: boolean; sequencing?: 'off' | 'allow' | 'require'; maxTunnelsPerPeer?: number; maxSessionsPerTunnel?: number }
  ppp?: {
    auth?: AuthMethodName[]
    dns?: string[]
    /** IPv6 DNS servers (at most 2), sent in Router Advertisements (RDNSS, RFC 8106); needs pool.ipv6. */
    dns6?: string[]
    mtu?: number
    idleTimeout?: number
    sessionTimeout?: number
    echoInterval?: number
    echoFailures?: number
    ipv6?: boolean
  }
  pool: {
    range: string | string[]
    gateway: string
    exclude?: string[]
    /**
     * IPv6 for clients (needs ppp.ipv6: true): each session gets a /64 out of
     * `prefixes`, advertised by Router Advertisements (SLAAC). The server takes
     * the first address of the first prefix (2001:db8:42::/56 -> 2001:db8:42::1)
     * and keeps that /64 for itself.
     */
    ipv6?: { prefixes: string | string[]; delegatedLength?: 64 } | null
  }
  /** `policies`: names of `policies` the user's sessions get (see `access`). */
  users?: { name: string; password?: string; ntHash?: string; address?: string; disabled?: boolean; passwordExpired?: boolean; policies?: string[] }[]
  tun?: { name?: string }
  metrics?: { listen?: string | null }
  admin?: { socket?: string }
  log?: { level?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'; format?: 'json' | 'pretty' | 'auto' }
  dataplane?: { workers?: number; netns?: string | null }
  forwarding?: { enable?: boolean; masquerade?: string | null }
  /**
   * RADIUS (RFC 2865/2866/5176): logins not among `users` are asked of
   * `servers`; sessions are accounted; `dae` takes Disconnect and CoA
   * requests. null (default): no RADIUS. See README "RADIUS".
   */
  radius?: {
    servers: RadiusServerConfig[]
    /** null: no accounting. servers default to `servers`, each on its port + 1 (1813). */
    accounting?: { servers?: RadiusServerConfig[]; interimInterval?: number; queueFile?: string | null } | null
    nas?: { identifier?: string; ipAddress?: string }
    /** A client without a secret uses the one of the `servers` entry with the same host. */
    dae?: { listen: string; clients: { address: string; secret?: string; secretFile?: string }[] } | null
    /** Starts every Acct-Session-Id (default: the host name). */
    gatewayId?: string
  } | null
  /**
   * Data-plane traffic policies by name, for what clients send: a user's
   * `policies`, the login callback's `policy.policies` or a RADIUS Filter-Id
   * names them. `default` absent: `access.default`. See README "Access policies".
   */
  policies?: Record<string, { default?: 'allow' | 'deny'; rules?: PolicyRuleConfig[]; rateBps?: number }>
  /** `default: deny` is default-deny (zero trust); `policies` go to sessions that name none. */
  access?: { default?: 'allow' | 'deny'; policies?: string[] }
  /**
   * Per-session traffic anomaly flags, raised by the data plane: a packet
   * rate `rateJump.factor` times the session's moving average (and above
   * `minPps`), more than `destinations.max` distinct destinations within
   * `destinations.interval` seconds. notify: `session-anomaly` event, metric,
   * log; kick: also ends the session (reason 'anomaly'); off (default).
   */
  anomaly?: {
    mode?: 'off' | 'notify' | 'kick'
    rateJump?: { factor?: number; minPps?: number; averageSeconds?: number } | null
    destinations?: { max?: number; interval?: number } | null
  }
  /** Site-to-site links to other gateways: routed ESP tunnel mode, no L2TP/PPP. */
  sites?: SiteConfig[]
  /** Hash-chained JSON lines of security events (used by `l2tp-ipsec serve`). */
  audit?: { file?: string | null; maxBytes?: number; keep?: number }
  /** Draining, the status page, debug and capture (used by `l2tp-ipsec serve`). */
  operations?: { drainTimeout?: number; statusPage?: { listen?: string | null; tokenFile?: string | null }; debug?: boolean; capture?: boolean }
}

/**
 * One site-to-site link. Tunnel mode is negotiated only with an IKE SA that
 * authenticated as this site: with its own `psk` (chosen by `peer`'s
 * address) or, without one, with a certificate (ipsec.certificate) whose
 * peer proves `remoteId`.
 */
export interface SiteConfig {
  name: string
  /** The peer gateway's address, or 'any' (certificate authentication, `remoteId` required). */
  peer: string
  psk?: string
  pskFile?: string
  localId?: string
  remoteId?: string
  localSubnets: string[]
  remoteSubnets: string[]
  proposals?: 'modern' | 'compatible' | 'legacy' | ExplicitProposals
  /** We call the peer (again after a loss, with back-off) and rekey; default false: we wait for it. */
  connect?: boolean
  /** Phase 2 lifetime we ask for as the caller, seconds (default 3600). */
  lifetime?: number
  dpd?: { delay?: number; timeout?: number }
}

/** A site-to-site link as `sites()` and `status().sites` show it. */
export interface SiteInfo {
  name: string
  state: 'up' | 'connecting' | 'down'
  peer: Endpoint | undefined
  peerId?: string
  suite?: string
  localSubnets: string[]
  remoteSubnets: string[]
  connect: boolean
  upSince?: string
  lastError?: string
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  /** Inner packets outside the site's subnets, dropped. */
  selectorMismatch: number
}

/** One RADIUS server: `secret` or `secretFile`; `timeout` in seconds per transmission (default 3), `retries` (default 2). */
export interface RadiusServerConfig {
  host: string
  port?: number
  secret?: string
  secretFile?: string
  timeout?: number
  retries?: number
}

/** One rule of a named policy; the first matching rule wins. `ports`: 443 or "1000-2000" (tcp, udp, sctp). */
export interface PolicyRuleConfig {
  action: 'allow' | 'deny'
  destination: string
  protocol?: 'any' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6'
  ports?: number | string
}

/** A validated configuration: every default applied, files read (psk, PEM text). */
export type ServerConfig = {
  [K in keyof Required<ServerConfigInput>]-?: Required<NonNullable<ServerConfigInput[K]>> extends infer T ? T : never
}

export interface LoadedConfig {
  config: ServerConfig
  warnings: string[]
}

export interface ConfigIssue {
  /** Dotted path of the bad key, e.g. `ppp.auth[1]`. */
  key: string
  message: string
}

/** A configuration that cannot be used: every problem, each naming its key. */
export declare class ConfigError extends Error {
  readonly code: 'CONFIG_INVALID' | 'CONFIG_UNREADABLE'
  readonly issues: ConfigIssue[]
}

export declare function loadConfigFile(path: string): LoadedConfig
export declare function parseServerConfig(input: unknown, options?: { baseDir?: string }): LoadedConfig

// --- server ------------------------------------------------------------------

export interface Endpoint {
  address: string
  port: number
}

export interface SessionInfo {
  id: number
  user: string
  address: string
  /** The session's IPv6 prefix ("2001:db8:42:1::/64"), with pool.ipv6 once IPV6CP is up. */
  ipv6Prefix?: string
  peer: Endpoint
  peerId: string
  authMethod: string
  suite: string
  udpEncapsulated: boolean
  l2tp: { tunnelId: number; sessionId: number; peerTunnelId: number; peerSessionId: number }
  startedAt: string
  durationSeconds: number
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  /** Packets from the client its traffic policy dropped. */
  policyDenied: number
}

/** 'radius-disconnect': a RADIUS Disconnect-Request (RFC 5176) ended it. */
export type SessionDownReason = 'kicked' | 'closed' | 'idle' | 'session-timeout' | 'peer' | 'lcp-echo-timeout' | 'ike-down' | 'l2tp-down' | 'error' | 'reload' | 'radius-disconnect' | 'anomaly'

export interface ServerEvents {
  'session-up': [{ id: number; user: string; address: string; ipv6Prefix?: string; peer: Endpoint; peerId: string; authMethod: string; suite: string }]
  'session-down': [{ id: number; user: string; address: string; reason: SessionDownReason; detail: string; rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; policyDenied: number; durationSeconds: number }]
  'auth-failure': [{ user: string | undefined; method: string; reason: string; peer: Endpoint }]
  'session-refused': [{ user: string | undefined; peer: Endpoint; reason: 'pool-exhausted' | 'limit'; detail: string }]
  /** Config `anomaly`: a rate jump (packets/s) or many destinations (distinct, in the interval); `action` kick ends the session (reason 'anomaly'). */
  'session-anomaly': [{ id: number; user: string; address: string; kind: 'rate-jump' | 'destinations'; value: number; threshold: number; action: 'notify' | 'kick' }]
  /** setupSeconds: from the client's first IKE message to its authentication. */
  'ike-sa-up': [{ ikeSa: string; peer: Endpoint; peerId: string; natDetected: boolean; suite: string; setupSeconds?: number }]
  'ike-sa-down': [{ ikeSa: string; reason: string }]
  /** An IKE exchange failed before authentication; for proposals the reason names what the client offered and which preset would accept it. */
  'negotiation-failure': [{ stage: string; reason: string; peer: Endpoint }]
  'site-up': [{ name: string; peer: Endpoint; peerId: string; suite: string; selectors: { initiator: string; responder: string } | undefined }]
  'site-down': [{ name: string; reason: string }]
  error: [Error]
}

/** What a login callback is asked. */
export interface CallbackRequest {
  method: 'pap' | 'chap-md5' | 'mschapv2' | 'eap'
  /** The name as the peer sent it ('' for EAP before its Identity). */
  user: string
  peer: { address: string; port: number; ikeId?: string }
  /** PAP: the clear password the peer sent. */
  password?: string
  chap?: { identifier: number; challenge: Buffer; response: Buffer }
  mschapv2?: { authenticatorChallenge: Buffer; peerChallenge: Buffer; ntResponse: Buffer }
  eap?: { message: Buffer; state?: Buffer }
}

export interface UserPolicy {
  address?: string
  ipv6Prefix?: string
  methods?: ('pap' | 'chap-md5' | 'mschapv2' | 'eap')[]
  maxSessions?: number
  /** Traffic rules for what the client sends, first match wins, before those of `policies`. */
  allow?: { action: 'allow' | 'deny'; destination: string; protocol?: 'any' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6'; ports?: [number, number] }[]
  /** Names of configured `policies` (as a RADIUS Filter-Id); none: `access.policies`. */
  policies?: string[]
  /** Bits per second the client may send (the lowest of this and its policies' applies). */
  rateBps?: number
  sessionTimeout?: number
  idleTimeout?: number
}

/**
 * A login decision in code. Easiest: return the user's password (or NT
 * hash) and the server verifies whatever method the client used; or decide
 * yourself (`accept`), or relay EAP (`challenge`). A throw or a timeout
 * refuses that login only.
 */
export type CallbackDecision =
  | { accept: true; user?: string; policy?: UserPolicy; authenticatorResponse?: string; mppeKeys?: { send: Buffer; receive: Buffer }; message?: string }
  /** `code`: the MS-CHAPv2 error (646 logon hours, 647 disabled, 648 password expired, 649 no dial-in, 691 failure, 709 password change failed). */
  | { accept: false; reason?: string; message?: string; code?: 646 | 647 | 648 | 649 | 691 | 709; retry?: boolean }
  | { password: string; user?: string; policy?: UserPolicy }
  | { ntHash: string | Buffer; user?: string; policy?: UserPolicy }
  | { challenge: Buffer; state?: Buffer }

export type AuthCallback = (request: CallbackRequest, context: { signal: AbortSignal }) => CallbackDecision | Promise<CallbackDecision>

export interface L2tpServerOptions extends ServerConfigInput {
  authenticate?: AuthCallback
  /**
   * A local user (`passwordExpired`) changed their password over MS-CHAPv2
   * (RFC 2759 7, verified). Store it (the configuration is not rewritten);
   * the new password is in force once this returns, until the next reload
   * or restart; a throw or rejection fails the change (E=709).
   */
  onPasswordChange?: (change: { user: string; password: string; ntHash: string }) => void | Promise<void>
  /** A pino logger (default: silent). */
  logger?: unknown
  baseDir?: string
  /** Where the RADIUS accounting queue goes when radius.accounting.queueFile is null (default /var/lib/l2tp-ipsec). */
  stateDir?: string
}

export type ServerStatus = {
  state: 'new' | 'listening' | 'closing' | 'closed'
  startedAt: string
  sessions: number
  bindings: number
  pool: { total: number; used: number; free: number; reserved: number; outside: number } | undefined
  /** With pool.ipv6: the prefix pool, Router Solicitations taken and Router Advertisements sent. */
  ipv6: { pool: { total: number; used: number; free: number; reserved: number; outside: number }; routerSolicitations: number; routerAdvertisements: number } | undefined
  dataplane: { sas: number; sessions: number } | undefined
  ike: Record<string, unknown> | undefined
  l2tp: Record<string, unknown> | undefined
  addresses: { ike: string[]; natt: string[]; tun?: string } | undefined
  counters: Record<string, number> | undefined
  sites: SiteInfo[]
}

export declare class L2tpServer extends EventEmitter<ServerEvents> {
  /** Validates the options (throws ConfigError naming each bad key); nothing opens until listen(). */
  constructor(options: L2tpServerOptions)
  static fromConfig(loaded: LoadedConfig, extras?: Pick<L2tpServerOptions, 'authenticate' | 'onPasswordChange' | 'logger' | 'stateDir'>): L2tpServer
  readonly config: ServerConfig
  readonly warnings: readonly string[]
  /** Opens UDP 500/4500 and the TUN device (address, routes) and serves. */
  listen(): Promise<void>
  addresses(): { ike: string[]; natt: string[]; tun?: string }
  sessions(): SessionInfo[]
  /** Site-to-site links with their state and traffic. */
  sites(): SiteInfo[]
  /** PPP Terminate, then CDN; false when there is no such session. */
  kick(id: number): boolean
  status(): ServerStatus
  /** Applies users, PPP, pool and IKE settings; sessions that still satisfy it stay. Refuses (ConfigError) changes that need a restart. */
  reload(next: L2tpServerOptions | LoadedConfig): { changed: string[]; kicked: number }
  /** PPP Terminate, CDN, StopCCN, IKE Delete for everyone, then sockets and TUN close. */
  close(): Promise<void>
}

// --- client ------------------------------------------------------------------

export interface L2tpClientOptions {
  server: string
  serverPort?: number
  serverNattPort?: number
  psk?: string | Buffer
  certificate?: { cert: string; key: string; ca: string }
  localId?: string
  proposals?: 'modern' | 'compatible' | 'legacy'
  user: string
  password: string
  auth?: readonly ('mschapv2' | 'chap' | 'pap' | 'eap')[]
  /** MS-CHAPv2: the password to change to when the server says ours expired (E=648, RFC 2759 7). */
  newPassword?: string
  /** MS-CHAPv2: Responses sent again when a Failure allows a retry (R=1) (default 0). */
  authRetries?: number
  local?: { address?: string; ikePort?: number; nattPort?: number }
  tun?: { name?: string; mtu?: number }
  routes?: readonly string[]
  netns?: string
  workers?: number
  reconnect?: boolean | { initialDelay?: number; maxDelay?: number }
  connectTimeout?: number
  ike?: { retransmitInterval?: number; retransmitTries?: number; dpdDelay?: number; dpdTimeout?: number }
  ppp?: { echoInterval?: number; echoFailures?: number; mtu?: number }
  /** Negotiate IPV6CP; the kernel configures the TUN device from the server's Router Advertisements (address with the IPV6CP identifier, default route, MTU). */
  ipv6?: boolean
  logger?: unknown
}

/** IPv6 on the client's TUN device (option ipv6). */
export interface ClientIpv6Info {
  /** Our IPV6CP interface identifier (16 hex digits), and the server's. */
  interfaceId: string
  peerInterfaceId: string | undefined
  /** fe80::<interfaceId>. */
  linkLocal: string
  /** The address formed from the server's Router Advertisement; undefined until it came ('ipv6-up'). */
  address: string | undefined
  /** "2001:db8:42:1::/64". */
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
  /** With option ipv6, once IPV6CP is up (possibly after 'up': then set on `info` later). */
  ipv6?: ClientIpv6Info
}

export interface ClientEvents {
  up: [ClientUpInfo]
  down: [{ reason: string; detail: string }]
  reconnecting: [{ attempt: number; delaySeconds: number }]
  /** The IPv6 address is configured from the server's Router Advertisement (option ipv6). */
  'ipv6-up': [ClientIpv6Info]
  'auth-failure': [{ user: string | undefined; method: string; reason: string; peer: Endpoint }]
  'ike-sa-up': [{ ikeSa: string; peer: Endpoint; peerId: string; natDetected: boolean; suite: string }]
  'ike-sa-down': [{ ikeSa: string; reason: string }]
  error: [Error]
}

export declare class L2tpClientError extends Error {
  readonly code: 'CLIENT_AUTH_FAILED' | 'CLIENT_IKE_FAILED' | 'CLIENT_L2TP_FAILED' | 'CLIENT_TIMEOUT' | 'CLIENT_CLOSED' | 'CLIENT_FAILED'
}

export declare class L2tpClient extends EventEmitter<ClientEvents> {
  constructor(options: L2tpClientOptions)
  readonly info: ClientUpInfo | undefined
  /** Resolves once PPP is up and the TUN device has the address; rejects with L2tpClientError. */
  connect(): Promise<ClientUpInfo>
  addresses(): { ike: string[]; natt: string[]; tun?: string } | undefined
  /** Rekeys the ESP SAs now (Quick Mode under the IKE SA); false when not connected. */
  rekey(): boolean
  close(): Promise<void>
}
