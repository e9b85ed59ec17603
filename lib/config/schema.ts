/**
 * The server configuration file, as a zod schema: shapes, defaults and the
 * checks that span keys. Every object is strict, so a misspelt key is an
 * error rather than a silently ignored setting. `configIssues` turns zod's
 * issues into `{ key, message }` lines an operator can act on.
 *
 * The schema sees paths, not files: `ipsec.pskFile` and the certificate
 * paths are read by load.ts, which fills in `ipsec.psk` and replaces the
 * certificate paths with PEM text.
 */
import { isIP } from 'node:net'
import * as z from 'zod'
import { Ipv4Pool, PoolConfigError, parseIpv4 } from '../pool/ip-pool.js'
import { parseIpv6, parseIpv6Prefix } from '../pool/ipv6.js'
import { serverIpv6Address, sessionPrefixPool } from '../pool/ipv6-session-pool.js'
import { securitySchema } from './security-schema.js'
import { auditSchema, operationsSchema } from './operations-schema.js'
import { accessSchema, anomalySchema, policyNames, POLICY_NAME } from './access.js'

export const AUTH_METHODS = ['mschapv2', 'chap', 'pap', 'eap'] as const
export const DH_GROUPS = [2, 5, 14, 15, 16, 19, 20, 21] as const
const PHASE1_ENCRYPTION = ['aes128', 'aes192', 'aes256', '3des'] as const
const HASHES = ['md5', 'sha1', 'sha256', 'sha384', 'sha512'] as const
const ESP_CIPHERS = ['aes128', 'aes192', 'aes256', '3des', 'aes128gcm-16', 'aes256gcm-16'] as const
const PRESET_NAMES = ['modern', 'compatible', 'legacy'] as const
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const

// --- building blocks ---------------------------------------------------------

const ipv4 = () => z.string().refine((s) => parseIpv4(s) !== undefined, { error: (iss) => `${show(iss.input)} is not an IPv4 address (dotted quad, no leading zeros)` })
const ipv6 = () => z.string().refine((s) => parseIpv6(s) !== undefined, { error: (iss) => `${show(iss.input)} is not an IPv6 address` })
const ipv6Prefix = () =>
  z.string().superRefine((s, ctx) => {
    const prefix = s.includes('/') ? parseIpv6Prefix(s.trim()) : undefined
    if (!prefix) ctx.addIssue({ code: 'custom', message: `${show(s)} is not an IPv6 prefix ("2001:db8:42::/56": network/length, no host bits)` })
    else if (prefix.length > 64) ctx.addIssue({ code: 'custom', message: `${show(s)} is longer than /64: each session is given a /64 out of it` })
  })
const port = () => z.number().int().min(0).max(65535)
const seconds = () => z.number().min(0)
const positiveInt = () => z.number().int().min(1)

// Secrets never appear in messages: the error output ends up in logs and tickets.
const secret = (what: string) =>
  z.string({ error: (iss) => (iss.code === 'invalid_type' ? `expected ${what} as a string, got ${kindOf(iss.input)} (quote it in YAML)` : undefined) })

// Linux IFNAMSIZ is 16 with the terminating NUL.
const interfaceName = () =>
  z
    .string()
    .min(1)
    .max(15, 'at most 15 characters (the Linux interface name limit)')
    .regex(/^[A-Za-z0-9_.-]+$/, 'only letters, digits, "_", "." and "-"')
    .refine((s) => s !== '.' && s !== '..', 'not "." or ".."')

const hostPort = () =>
  z.string().refine(
    (s) => {
      const m = /^(?:\[([^\]]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(s)
      return m !== null && Number(m[3]) <= 65535 && (m[1] === undefined || isIP(m[1]) === 6)
    },
    { error: (iss) => `expected "host:port" (IPv6 as "[::1]:9100"), got ${show(iss.input)}` },
  )

const uniqueList = <T extends z.ZodType<string>>(item: T) =>
  z.array(item).superRefine((list, ctx) => {
    list.forEach((value, i) => {
      const first = list.indexOf(value)
      if (first !== i) ctx.addIssue({ code: 'custom', path: [i], message: `${show(value)} is listed twice (also at [${first}])` })
    })
  })

// --- sections ----------------------------------------------------------------

const listenSchema = z.strictObject({
  address: z
    .string()
    .refine((s) => isIP(s) !== 0, { error: (iss) => `${show(iss.input)} is not an IPv4 or IPv6 address` })
    .default('0.0.0.0'),
  ikePort: port().default(500),
  nattPort: port().default(4500),
})

const phase1Schema = z.strictObject({
  encryption: z.array(z.enum(PHASE1_ENCRYPTION)).min(1),
  hash: z.array(z.enum(HASHES)).min(1),
  groups: z.array(z.literal(DH_GROUPS)).min(1),
  lifetime: positiveInt().optional(),
})

const phase2Schema = z.strictObject({
  ciphers: z.array(z.enum(ESP_CIPHERS)).min(1),
  integrity: z.array(z.enum(HASHES)).min(1),
  pfsGroups: z.array(z.literal(DH_GROUPS)).min(1).optional(),
  requirePfs: z.boolean().optional(),
  lifetime: positiveInt().optional(),
})

const proposalsSchema = z.union([z.enum(PRESET_NAMES), z.strictObject({ phase1: phase1Schema, phase2: phase2Schema })], {
  error: (iss) =>
    iss.code === 'invalid_union'
      ? `expected a preset ('modern', 'compatible' or 'legacy') or a mapping with phase1 and phase2, got ${show(iss.input)}${suggestion(iss.input, PRESET_NAMES)}`
      : undefined,
})

const ipsecSchema = z
  .strictObject({
    psk: secret('the pre-shared key').min(8).optional(),
    pskFile: z.string().min(1).optional(),
    certificate: z.strictObject({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1) }).optional(),
    localId: z.string().min(1).nullable().default(null),
    proposals: proposalsSchema.default('compatible'),
    aggressiveMode: z.boolean().default(false),
    dpdDelay: seconds().default(30),
    dpdTimeout: z.number().gt(0).default(120),
    maxHalfOpen: positiveInt().default(1000),
    maxHalfOpenPerSource: positiveInt().default(20),
    // One key, not two: telling peers not behind NAT to send raw ESP without the socket to receive it would only break them.
    rawEsp: z.boolean().default(false),
  })
  .superRefine((ipsec, ctx) => {
    if (ipsec.psk === undefined && ipsec.pskFile === undefined && ipsec.certificate === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs an authentication method: psk, pskFile or certificate' })
    }
    if (ipsec.psk !== undefined && ipsec.pskFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['pskFile'], message: 'give psk or pskFile, not both' })
    }
  })

const l2tpSchema = z
  .strictObject({
    helloInterval: seconds().default(60),
    secret: secret('the tunnel secret').min(1).nullable().default(null),
    hideAvps: z.boolean().default(false),
    sequencing: z.enum(['off', 'allow', 'require']).default('allow'),
    maxTunnelsPerPeer: positiveInt().default(4),
    maxSessionsPerTunnel: positiveInt().default(16),
    /** Sessions one client (IPsec SA) may hold over all its tunnels. */
    maxSessionsPerPeer: positiveInt().default(32),
  })
  .superRefine((l2tp, ctx) => {
    // RFC 2661 4.3: hidden AVPs are encrypted with the tunnel secret
    if (l2tp.hideAvps && l2tp.secret === null) ctx.addIssue({ code: 'custom', path: ['hideAvps'], message: 'needs l2tp.secret: AVP hiding is keyed by the tunnel secret (RFC 2661 4.3)' })
  })

const pppSchema = z.strictObject({
  auth: uniqueList(z.enum(AUTH_METHODS)).min(1).default(['mschapv2', 'chap', 'pap']),
  dns: z.array(ipv4()).max(2, 'at most 2 DNS servers: IPCP carries a primary and a secondary (RFC 1877)').default([]),
  dns6: z.array(ipv6()).max(2, 'at most 2 IPv6 DNS servers (sent in the RDNSS option of Router Advertisements, RFC 8106)').default([]),
  mtu: z.number().int().min(1280).max(1500).default(1400),
  idleTimeout: seconds().default(0),
  sessionTimeout: seconds().default(0),
  echoInterval: seconds().default(30),
  echoFailures: positiveInt().default(4),
  ipv6: z.boolean().default(false),
})

const rangeText = () => z.string().min(1)

const poolSchema = z.strictObject({
  range: z
    .union([rangeText(), z.array(rangeText()).min(1)], {
      error: (iss) =>
        iss.code === 'invalid_union' ? `expected a range ("a.b.c.d-a.b.c.e", CIDR or one address) or a list of them, got ${show(iss.input)}` : undefined,
    })
    // one shape for consumers
    .transform((r) => (typeof r === 'string' ? [r] : r)),
  gateway: ipv4(),
  exclude: z.array(rangeText()).default([]),
  ipv6: z
    .strictObject({
      prefixes: z
        .union([ipv6Prefix(), z.array(ipv6Prefix()).min(1)], {
          error: (iss) => (iss.code === 'invalid_union' ? `expected an IPv6 prefix ("2001:db8:42::/56") or a list of them, got ${show(iss.input)}` : undefined),
        })
        .transform((p) => (typeof p === 'string' ? [p] : p)),
      delegatedLength: z.literal(64, { error: (iss) => `must be 64 (SLAAC forms addresses in a /64, RFC 4862 5.5.3), got ${show(iss.input)}` }).default(64),
    })
    .nullable()
    .default(null),
})

const userSchema = z
  .strictObject({
    name: z.string().min(1),
    password: secret('the password').min(1).optional(),
    ntHash: secret('the NT hash')
      .regex(/^[0-9a-fA-F]{32}$/, 'must be 32 hex digits (the MD4 of the UTF-16LE password, as smbpasswd prints it)')
      .optional(),
    address: ipv4().optional(),
    disabled: z.boolean().default(false),
    // MS-CHAPv2 answers E=648 and takes the client's Change-Password (RFC 2759 7); other methods are refused.
    passwordExpired: z.boolean().optional(),
    /** Names of `policies` this user's sessions get (see `access`). */
    policies: policyNames().optional(),
  })
  .superRefine((user, ctx) => {
    if (user.password === undefined && user.ntHash === undefined) ctx.addIssue({ code: 'custom', path: [], message: 'needs password or ntHash' })
    if (user.password !== undefined && user.ntHash !== undefined) ctx.addIssue({ code: 'custom', path: ['ntHash'], message: 'give password or ntHash, not both' })
  })

const usersSchema = z
  .array(userSchema)
  .superRefine((users, ctx) => {
    const seen = new Map<string, number>()
    users.forEach((u, i) => {
      const first = seen.get(u.name)
      if (first === undefined) seen.set(u.name, i)
      else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate user ${show(u.name)} (also users[${first}])` })
    })
  })
  .default([])

// RADIUS (lib/auth/radius): a server's secret is given inline or as a file (read by load.ts's checks and by the client).
const radiusSecretRefine = (where: string) => (value: { secret?: string | undefined; secretFile?: string | undefined }, ctx: z.core.$RefinementCtx) => {
  if (value.secret === undefined && value.secretFile === undefined) ctx.addIssue({ code: 'custom', path: [], message: `needs secret or secretFile (the shared secret ${where})` })
  if (value.secret !== undefined && value.secretFile !== undefined) ctx.addIssue({ code: 'custom', path: ['secretFile'], message: 'give secret or secretFile, not both' })
}

const radiusServerSchema = z
  .strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    secret: secret('the RADIUS secret').min(1).optional(),
    secretFile: z.string().min(1).optional(),
    /** Seconds to wait for each transmission's reply. */
    timeout: z.number().gt(0).max(60).default(3),
    retries: z.number().int().min(0).max(10).default(2),
  })
  .superRefine(radiusSecretRefine('with this server'))

const daeClientSchema = z.strictObject({
  address: z.string().refine((s) => isIP(s) !== 0, { error: (iss) => `${show(iss.input)} is not an IPv4 or IPv6 address` }),
  secret: secret('the DAE secret').min(1).optional(),
  secretFile: z.string().min(1).optional(),
})

const ipHostPort = () =>
  hostPort().refine((s) => isIP(s.slice(0, s.lastIndexOf(':')).replace(/^\[|\]$/g, '')) !== 0, { error: (iss) => `expected an IP address and port ("0.0.0.0:3799"), got ${show(iss.input)}` })

const radiusSchema = z
  .strictObject({
    servers: z.array(radiusServerSchema).min(1),
    accounting: z
      .strictObject({
        /** Default: the authentication servers, each on its port + 1 (1813). */
        servers: z.array(radiusServerSchema).min(1).optional(),
        interimInterval: z.number().int().min(0).default(0),
        queueFile: z.string().min(1).nullable().default(null),
      })
      .nullable()
      .prefault({}),
    nas: z
      .strictObject({
        identifier: z.string().min(1).max(253).optional(),
        ipAddress: ipv4().optional(),
      })
      .prefault({}),
    dae: z
      .strictObject({
        listen: ipHostPort(),
        clients: z.array(daeClientSchema).min(1),
      })
      .nullable()
      .default(null),
    gatewayId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'at most 64 letters, digits, ".", "_" and "-" (it starts every Acct-Session-Id)')
      .optional(),
  })
  .superRefine((radius, ctx) => {
    radius.dae?.clients.forEach((client, i) => {
      if (client.secret !== undefined && client.secretFile !== undefined) ctx.addIssue({ code: 'custom', path: ['dae', 'clients', i, 'secretFile'], message: 'give secret or secretFile, not both' })
      if (client.secret === undefined && client.secretFile === undefined && !radius.servers.some((s) => s.host === client.address)) {
        ctx.addIssue({ code: 'custom', path: ['dae', 'clients', i], message: `needs secret or secretFile (no radius.servers entry has host ${show(client.address)} to take it from)` })
      }
    })
  })

const POLICY_PROTOCOLS = ['any', 'tcp', 'udp', 'sctp', 'icmp', 'icmpv6'] as const

const policyRuleSchema = z
  .strictObject({
    action: z.enum(['allow', 'deny']),
    /** An address or a CIDR prefix, IPv4 or IPv6. */
    destination: z.string().refine(isAddressOrPrefix, { error: (iss) => `${show(iss.input)} is not an address or a prefix ("10.0.0.0/8", "2001:db8::/32")` }),
    protocol: z.enum(POLICY_PROTOCOLS).default('any'),
    /** Destination port or inclusive range: 443, "1000-2000". */
    ports: z.union([port(), z.string().regex(/^\d{1,5}-\d{1,5}$/, 'expected a port (443) or a range ("1000-2000")')]).optional(),
  })
  .superRefine((rule, ctx) => {
    const v6 = rule.destination.includes(':')
    if (rule.protocol === 'icmp' && v6) ctx.addIssue({ code: 'custom', path: ['protocol'], message: 'icmp never matches an IPv6 destination; use icmpv6' })
    if (rule.protocol === 'icmpv6' && !v6) ctx.addIssue({ code: 'custom', path: ['protocol'], message: 'icmpv6 never matches an IPv4 destination; use icmp' })
    if (rule.ports !== undefined && (rule.protocol === 'icmp' || rule.protocol === 'icmpv6')) ctx.addIssue({ code: 'custom', path: ['ports'], message: 'ports need tcp, udp, sctp or any' })
    if (typeof rule.ports === 'string') {
      const [a, b] = rule.ports.split('-').map(Number)
      if (a! > 65535 || b! > 65535 || a! > b!) ctx.addIssue({ code: 'custom', path: ['ports'], message: `${show(rule.ports)}: ports go from 0 to 65535, first not above last` })
    }
  })

/** A CIDR prefix with no host bits ("10.1.0.0/24", "2001:db8:1::/48"). */
const subnet = () =>
  z.string().superRefine((s, ctx) => {
    const problem = subnetProblem(s)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })

// Site-to-site (lib/server/sites.ts): a routed ESP tunnel-mode link to another gateway, no L2TP/PPP.
const siteSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'at most 64 letters, digits, ".", "_" and "-"'),
    /** The peer gateway's address, or "any" for a dynamic peer recognised by its certificate's ID. */
    peer: z.union([z.literal('any'), z.string().refine((s) => isIP(s) !== 0, { error: (iss) => `${show(iss.input)} is not an IP address or "any"` })]),
    /** The site's own pre-shared key (or pskFile); neither: certificate authentication with ipsec.certificate. */
    psk: secret('the pre-shared key').min(8).optional(),
    pskFile: z.string().min(1).optional(),
    localId: z.string().min(1).optional(),
    remoteId: z.string().min(1).optional(),
    localSubnets: z.array(subnet()).min(1),
    remoteSubnets: z.array(subnet()).min(1),
    proposals: proposalsSchema.optional(),
    /** We initiate (and re-initiate with back-off); otherwise we wait for the peer. */
    connect: z.boolean().default(false),
    /** Phase 2 lifetime we ask for as initiator (seconds); rekeyed before it ends. */
    lifetime: z.number().int().min(60).default(3600),
    dpd: z.strictObject({ delay: seconds().default(30), timeout: z.number().gt(0).default(120) }).prefault({}),
  })
  .superRefine((site, ctx) => {
    if (site.psk !== undefined && site.pskFile !== undefined) ctx.addIssue({ code: 'custom', path: ['pskFile'], message: 'give psk or pskFile, not both' })
    const psk = site.psk !== undefined || site.pskFile !== undefined
    if (site.peer === 'any') {
      // Main Mode picks the key before the peer's ID is known: by address. A key for any address would be one more L2TP-style PSK.
      if (psk) ctx.addIssue({ code: 'custom', path: ['peer'], message: 'a dynamic peer ("any") authenticates with a certificate: Main Mode chooses a pre-shared key by the peer\'s address, before its ID is known' })
      if (site.remoteId === undefined) ctx.addIssue({ code: 'custom', path: ['remoteId'], message: 'required with peer "any": the ID the peer\'s certificate must prove' })
      if (site.connect) ctx.addIssue({ code: 'custom', path: ['connect'], message: 'cannot connect to peer "any": give its address' })
    }
    if (!psk && site.remoteId === undefined) ctx.addIssue({ code: 'custom', path: ['remoteId'], message: 'required for certificate authentication: the ID the peer\'s certificate must prove' })
  })

const sitesSchema = z
  .array(siteSchema)
  .superRefine((sites, ctx) => {
    const names = new Map<string, number>()
    const pskPeers = new Map<string, number>()
    const remotes = new Map<string, number>()
    sites.forEach((s, i) => {
      const first = names.get(s.name)
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate site ${show(s.name)} (also sites[${first}])` })
      else names.set(s.name, i)
      if (s.peer !== 'any' && (s.psk !== undefined || s.pskFile !== undefined)) {
        const other = pskPeers.get(s.peer)
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'peer'], message: `${s.peer} is also the peer of sites[${other}]: its pre-shared key is chosen by address` })
        else pskPeers.set(s.peer, i)
      }
      s.remoteSubnets.forEach((r, j) => {
        const other = remotes.get(r)
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'remoteSubnets', j], message: `${r} is also a remote subnet of sites[${other}]` })
        else remotes.set(r, i)
      })
    })
  })
  .default([])

const policySchema = z.strictObject({
  /** What no rule matches; absent: access.default. */
  default: z.enum(['allow', 'deny']).optional(),
  rules: z.array(policyRuleSchema).default([]),
  /** Rate limit of what the rules allow, bits per second (the lowest of a session's policies applies). */
  rateBps: z.number().int().min(1000).optional(),
})

export const serverConfigSchema = z
  .strictObject({
    listen: listenSchema.prefault({}),
    ipsec: ipsecSchema,
    l2tp: l2tpSchema.prefault({}),
    ppp: pppSchema.prefault({}),
    pool: poolSchema,
    users: usersSchema,
    tun: z.strictObject({ name: interfaceName().default('l2tp0') }).prefault({}),
    metrics: z.strictObject({ listen: hostPort().nullable().default(null) }).prefault({}),
    admin: z.strictObject({ socket: z.string().min(1).default('/run/l2tp-ipsec/admin.sock'), allowKeyExport: z.boolean().default(false) }).prefault({}),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info'),
        format: z.enum(['json', 'pretty', 'auto']).default('auto'),
      })
      .prefault({}),
    dataplane: z
      .strictObject({
        workers: z.number().int().min(0).max(64).default(0),
        netns: z.string().min(1).nullable().default(null),
      })
      .prefault({}),
    forwarding: z
      .strictObject({
        enable: z.boolean().default(false),
        masquerade: interfaceName().nullable().default(null),
      })
      .prefault({}),
    radius: radiusSchema.nullable().default(null),
    policies: z.record(z.string().regex(POLICY_NAME, 'policy names: at most 64 letters, digits, ".", "_" and "-"'), policySchema).default({}),
    access: accessSchema,
    anomaly: anomalySchema,
    security: securitySchema.prefault({}),
    sites: sitesSchema,
    audit: auditSchema.prefault({}),
    operations: operationsSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    checkPolicyNames(config, ctx)
    config.sites.forEach((s, i) => {
      const psk = s.psk !== undefined || s.pskFile !== undefined
      if (!psk && config.ipsec.certificate === undefined) ctx.addIssue({ code: 'custom', path: ['sites', i], message: 'needs psk or pskFile, or ipsec.certificate for certificate authentication' })
    })
    checkPool(config.pool, config.users, ctx)
    checkIpv6Pool(config.pool.ipv6, config.ppp.ipv6, ctx)
    checkChapSecrets(config.ppp.auth, config.users, ctx)
    if (config.ipsec.rawEsp && config.listen.address.includes(':')) {
      ctx.addIssue({ code: 'custom', path: ['ipsec', 'rawEsp'], message: 'raw ESP is IPv4 only: listen on an IPv4 address or leave rawEsp false (peers then use UDP 4500)' })
    }
  })

export type ServerConfigInput = z.input<typeof serverConfigSchema>
/**
 * The validated configuration with every default applied. As returned by
 * parseServerConfig / loadConfigFile, `ipsec.psk` holds the key (read from
 * pskFile if that was given) and `ipsec.certificate` holds PEM text, not paths.
 */
export type ServerConfig = z.output<typeof serverConfigSchema>

/** Why `s` is not a CIDR prefix without host bits, or undefined when it is one. */
function subnetProblem(s: string): string | undefined {
  const slash = s.indexOf('/')
  const address = slash < 0 ? '' : s.slice(0, slash)
  const family = isIP(address)
  const length = s.slice(slash + 1)
  if (slash < 0 || family === 0 || !/^\d{1,3}$/.test(length) || Number(length) > (family === 4 ? 32 : 128)) return `${show(s)} is not a subnet ("10.1.0.0/24", "2001:db8:1::/48")`
  const bits = family === 4 ? 32 : 128
  const value = family === 4 ? BigInt(parseIpv4(address) ?? 0) : ipv6BigInt(address)
  const host = (1n << BigInt(bits - Number(length))) - 1n
  if ((value & host) !== 0n) return `${show(s)} has host bits set; the network is ${family === 4 ? ipv4Text(value & ~host) : 'the address with them cleared'}/${length}`
  return undefined
}

function ipv6BigInt(address: string): bigint {
  return parseIpv6(address) ?? 0n
}

function ipv4Text(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((n >> shift) & 255n)).join('.')
}

function isAddressOrPrefix(s: string): boolean {
  const slash = s.indexOf('/')
  const address = slash < 0 ? s : s.slice(0, slash)
  const family = isIP(address)
  if (family === 0) return false
  if (slash < 0) return true
  const length = s.slice(slash + 1)
  return /^\d{1,3}$/.test(length) && Number(length) <= (family === 4 ? 32 : 128)
}

// --- checks across keys ------------------------------------------------------------

type Ctx = z.core.$RefinementCtx<ServerConfig>
type Pool = ServerConfig['pool']
type Users = ServerConfig['users']

/** The pool exactly as the server will build it, so what passes here cannot fail at start. */
function checkPool(pool: Pool, users: Users, ctx: Ctx): void {
  let built: Ipv4Pool
  try {
    built = new Ipv4Pool({ ranges: pool.range, gateway: pool.gateway, exclude: pool.exclude })
  } catch (e) {
    if (!(e instanceof PoolConfigError)) throw e
    ctx.addIssue({ code: 'custom', path: poolErrorPath(pool, e), message: e.message })
    return
  }
  // The pool would quietly skip it, but a gateway inside the range is usually
  // a range typed one address too wide; excluding it says it is meant.
  let withGateway: Ipv4Pool | undefined
  try {
    withGateway = new Ipv4Pool({ ranges: pool.range, exclude: pool.exclude })
  } catch {
    withGateway = undefined
  }
  if (withGateway?.contains(pool.gateway)) {
    ctx.addIssue({
      code: 'custom',
      path: ['pool', 'gateway'],
      message: `${pool.gateway} is inside pool.range; the gateway is the server's own PPP address: move it out of the range or list it in pool.exclude`,
    })
  }
  const fixed = new Map<string, number>()
  users.forEach((u, i) => {
    if (u.address === undefined) return
    if (!built.contains(u.address)) {
      ctx.addIssue({ code: 'custom', path: ['users', i, 'address'], message: `${u.address} is not a pool address (pool.range minus pool.exclude and the gateway)` })
      return
    }
    const other = fixed.get(u.address)
    if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['users', i, 'address'], message: `${u.address} is also the fixed address of users[${other}]` })
    else fixed.set(u.address, i)
  })
}

/** pool.ipv6 as the server will build it (lib/pool/ipv6-session-pool.ts), and only with IPV6CP on. */
function checkIpv6Pool(pool: Pool['ipv6'], pppIpv6: boolean, ctx: Ctx): void {
  if (pool === null) return
  // The shape checks above report a bad prefix or length; the pool is built only from good ones.
  const shaped = Array.isArray(pool.prefixes) && pool.prefixes.length > 0 && pool.prefixes.every((p) => typeof p === 'string' && p.includes('/') && (parseIpv6Prefix(p.trim())?.length ?? 65) <= 64)
  if (!shaped || pool.delegatedLength !== 64) return
  if (!pppIpv6) {
    ctx.addIssue({ code: 'custom', path: ['pool', 'ipv6'], message: 'needs ppp.ipv6: true: session prefixes are advertised once IPV6CP is up' })
    return
  }
  try {
    sessionPrefixPool(pool)
  } catch (e) {
    if (!(e instanceof PoolConfigError)) throw e
    const at = e.value === undefined ? -1 : pool.prefixes.indexOf(e.value)
    const path = at >= 0 && pool.prefixes.length > 1 ? ['pool', 'ipv6', 'prefixes', at] : ['pool', 'ipv6', 'prefixes']
    const message =
      e.code === 'POOL_EMPTY'
        ? `no /64 left for clients: the server's own address ${serverIpv6Address(pool.prefixes)} takes the first one; give a shorter prefix (e.g. /56) or another prefix`
        : e.message
    ctx.addIssue({ code: 'custom', path, message })
  }
}

function poolErrorPath(pool: Pool, e: PoolConfigError): PropertyKey[] {
  if (e.value !== undefined) {
    const r = pool.range.indexOf(e.value)
    if (r >= 0) return pool.range.length === 1 ? ['pool', 'range'] : ['pool', 'range', r]
    const x = pool.exclude.indexOf(e.value)
    if (x >= 0) return ['pool', 'exclude', x]
    if (e.value === pool.gateway) return ['pool', 'gateway']
  }
  return ['pool', 'range']
}

/** Every policy a user or `access` names is configured. */
function checkPolicyNames(config: ServerConfig, ctx: Ctx): void {
  const known = Object.keys(config.policies)
  const check = (names: readonly string[] | undefined, path: PropertyKey[]) =>
    names?.forEach((n, i) => {
      if (!Object.hasOwn(config.policies, n)) ctx.addIssue({ code: 'custom', path: [...path, i], message: `${show(n)} is not in policies${suggestion(n, known)}` })
    })
  config.users.forEach((u, i) => check(u.policies, ['users', i, 'policies']))
  check(config.access.policies, ['access', 'policies'])
}

/** RFC 1994: CHAP-MD5 hashes the clear-text secret itself, so an NT hash cannot answer it. */
function checkChapSecrets(auth: ServerConfig['ppp']['auth'], users: Users, ctx: Ctx): void {
  if (!auth.includes('chap')) return
  users.forEach((u, i) => {
    if (u.ntHash !== undefined && u.password === undefined) {
      ctx.addIssue({ code: 'custom', path: ['users', i, 'ntHash'], message: 'CHAP-MD5 needs the clear-text password; remove chap from ppp.auth or give a password' })
    }
  })
}

// --- messages ------------------------------------------------------------------------

export interface ConfigIssue {
  /** Dotted path, `ppp.auth[1]`; `(config)` for the whole file. */
  key: string
  message: string
}

/** Parse options for serverConfigSchema: messages for the issues the schema leaves to zod. */
export const parseOptions: z.core.ParseContext<z.core.$ZodIssue> = { reportInput: true, error: errorMessage }

function errorMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return 'required'
      let hint = ''
      if (iss.expected === 'string' && (typeof iss.input === 'number' || typeof iss.input === 'boolean')) hint = ' (quote it in YAML)'
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${show(iss.input)}${hint}`
    }
    case 'too_small':
      return sizeMessage('at least', iss.origin, iss.minimum, iss.inclusive, iss.input)
    case 'too_big':
      return sizeMessage('at most', iss.origin, iss.maximum, iss.inclusive, iss.input)
    case 'invalid_value':
      return `expected ${iss.values.map((v) => JSON.stringify(v)).join(', ').replace(/, ([^,]*)$/, ' or $1')}, got ${show(iss.input)}${suggestion(iss.input, iss.values)}`
    default:
      return undefined
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'null',
}

function sizeMessage(bound: 'at least' | 'at most', origin: string, limit: number | bigint, inclusive: boolean | undefined, input: unknown): string {
  if (origin === 'number' || origin === 'int') {
    const op = bound === 'at least' ? (inclusive ? 'at least' : 'greater than') : inclusive ? 'at most' : 'less than'
    return `must be ${op} ${limit}, got ${show(input)}`
  }
  const length = typeof input === 'string' || Array.isArray(input) ? input.length : undefined
  if (bound === 'at least' && Number(limit) === 1) return 'must not be empty'
  const unit = origin === 'string' ? 'characters' : 'entries'
  return `must have ${bound} ${limit} ${unit}${length === undefined ? '' : `, got ${length}`}`
}

/** A short rendering of a value for messages (not for secrets). */
export function show(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return kindOf(value)
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `a ${typeof value}`
}

/** `{ key, message }` per problem, unknown keys one by one, unions reduced to the branch the input was meant for. */
export function configIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = []
  for (const iss of issues) {
    const path = [...prefix, ...iss.path]
    if (iss.code === 'unrecognized_keys') {
      const known = knownKeys(serverConfigSchema, path)
      for (const key of iss.keys) out.push({ key: formatKey([...path, key]), message: `unknown key${suggestion(key, known)}` })
    } else if (iss.code === 'invalid_union' && iss.errors.length > 0) {
      // A branch whose failure is not "wrong type at the top" is the shape the input was meant to have.
      const meant = iss.errors.filter((branch) => !branch.every((b) => b.path.length === 0 && (b.code === 'invalid_type' || b.code === 'invalid_value')))
      if (meant.length === 1) out.push(...configIssues(meant[0]!, path))
      else out.push({ key: formatKey(path), message: iss.message })
    } else {
      out.push({ key: formatKey(path), message: iss.message })
    }
  }
  return out
}

export function formatKey(path: readonly PropertyKey[]): string {
  let key = ''
  for (const segment of path) {
    if (typeof segment === 'number') key += `[${segment}]`
    else key += key === '' ? String(segment) : `.${String(segment)}`
  }
  return key === '' ? '(config)' : key
}

/** The keys an object at `path` of `schema` accepts (through defaults, optionals, lists, unions and transforms). */
function knownKeys(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  const def = schema._zod.def as z.core.$ZodTypeDef & {
    innerType?: z.core.$ZodType
    in?: z.core.$ZodType
    element?: z.core.$ZodType
    options?: readonly z.core.$ZodType[]
    shape?: Record<string, z.core.$ZodType>
  }
  if (def.innerType) return knownKeys(def.innerType, path)
  if (def.type === 'pipe' && def.in) return knownKeys(def.in, path)
  if (def.options) return [...new Set(def.options.flatMap((o) => knownKeys(o, path)))]
  const [head, ...rest] = path
  if (def.type === 'array' && def.element) return typeof head === 'number' ? knownKeys(def.element, rest) : []
  if (def.type === 'object' && def.shape) {
    if (head === undefined) return Object.keys(def.shape)
    const child = typeof head === 'string' ? def.shape[head] : undefined
    return child ? knownKeys(child, rest) : []
  }
  return []
}

/** `; did you mean "pool"?` when one known value is close to what was written. */
function suggestion(input: unknown, candidates: readonly unknown[]): string {
  if (typeof input !== 'string' || input === '') return ''
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '')
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    if (typeof c !== 'string') continue
    const d = norm(c) === norm(input) ? 0 : distance(input.toLowerCase(), c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  const allowed = input.length <= 3 ? 1 : input.length <= 6 ? 2 : 3
  return best !== undefined && bestDistance <= allowed && best !== input ? `; did you mean ${JSON.stringify(best)}?` : ''
}

/** Edit distance with transpositions (optimal string alignment). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}
