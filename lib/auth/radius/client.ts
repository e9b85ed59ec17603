// The RADIUS transport: UDP to one or more servers, with per-server
// timeout and retransmissions, failover, identifiers, and the checks every
// reply must pass before anyone sees it.
//
// Identifiers: per server (the RFC 2865 identifier space is per
// source/destination pair), at most 256 outstanding, never reused while a
// request with it is outstanding; an exchange that finds all 256 busy
// waits for one to free.
//
// Retransmissions: an Access-Request is resent byte for byte (same
// identifier and authenticator, so the server can recognise the duplicate,
// RFC 5080 2.2.1). An Accounting-Request carries Acct-Delay-Time, which
// changes with time, so each transmission is a new packet with a new
// identifier; the earlier identifiers stay valid for the reply until the
// exchange ends.
//
// Failover: servers are tried in the configured order, skipping those that
// recently failed to answer (`deadTimeMs`) unless all did. An exchange
// tries each server at most once (1 + retries transmissions).
//
// Replies: a datagram must come from the server's address and port, decode
// strictly, match an outstanding identifier and a plausible code, carry the
// right Response Authenticator and, for replies to Access-Requests, a valid
// Message-Authenticator (BlastRADIUS, CVE-2024-3596). Anything else is
// dropped and counted in `stats.dropped`, and the exchange keeps waiting.
// Nothing a peer sends can make `send` reject or the socket handler throw.
import dgram from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { readFileSync } from 'node:fs'
import { AuthError } from '../types.js'
import { signAccessRequest, signRequest, verifyResponse, type SignedPacket, type VerifyFailure } from './authenticators.js'
import { attr } from './attributes.js'
import { RadiusCodecError, decodePacket, packetBytes, type RadiusAttribute, type RadiusPacket } from './codec.js'
import { Attr, Code } from './dictionary.js'

export interface RadiusServerOptions {
  /** Address or host name (looked up once, on first use). */
  host: string
  /** Default: the client's `defaultPort` (1812 authentication, 1813 accounting). */
  port?: number
  /** The shared secret. Exactly one of `secret` and `secretFile`. */
  secret?: string | Buffer
  /**
   * A file holding the secret (read once, synchronously, by the constructor;
   * one trailing newline is removed). Restart or rebuild the client to pick
   * up a new secret.
   */
  secretFile?: string
  /** Milliseconds to wait for a reply to each transmission (default 3000). */
  timeoutMs?: number
  /** Retransmissions after the first transmission (default 2). */
  retries?: number
}

export interface RadiusClientOptions {
  servers: RadiusServerOptions[]
  /** Port for servers that give none (default 1812). */
  defaultPort?: number
  /** Milliseconds a server that did not answer is tried last (default 30,000). */
  deadTimeMs?: number
  /** Local address to send from (default: any). */
  bindAddress?: string
  /** Drops, failovers, socket errors: for logs. Default: nothing. */
  onEvent?: (event: RadiusClientEvent) => void
}

/** Why a received datagram was dropped. */
export type RadiusDropReason = 'unknown-source' | 'malformed' | 'unknown-identifier' | 'unexpected-code' | VerifyFailure

export const DROP_REASONS: readonly RadiusDropReason[] = [
  'unknown-source',
  'malformed',
  'unknown-identifier',
  'unexpected-code',
  'bad-authenticator',
  'missing-message-authenticator',
  'bad-message-authenticator',
]

export type RadiusClientEvent =
  | { kind: 'dropped'; reason: RadiusDropReason; from: string; detail: string }
  | { kind: 'server-down'; server: string; detail: string }
  | { kind: 'server-up'; server: string }
  | { kind: 'socket-error'; error: Error }

export interface RadiusClientStats {
  /** Exchanges started (`send` calls). */
  requests: number
  /** Datagrams sent, retransmissions included. */
  transmissions: number
  retransmissions: number
  /** Replies that passed every check. */
  responses: number
  /** Times a server gave no valid reply to any transmission of an exchange. */
  timeouts: number
  /** Times an exchange moved on to another server. */
  failovers: number
  dropped: Record<RadiusDropReason, number>
}

export interface RadiusRequest {
  /** Access-Request or Accounting-Request. */
  code: number
  /** In order; User-Password values in clear (hidden per server); no Message-Authenticator (added). */
  attributes: readonly RadiusAttribute[]
  /** Accounting: when the event happened (ms since the epoch); each transmission carries Acct-Delay-Time. */
  eventTime?: number
  /** Only this server (index into `servers`): the one whose State an EAP round echoes. */
  server?: number
}

export type RadiusResult =
  | { ok: true; packet: RadiusPacket; server: number; requestAuthenticator: Buffer; secret: Buffer }
  | { ok: false; reason: 'timeout' | 'closed' | 'encode-error'; detail: string }

interface Transmission {
  identifier: number
  authenticator: Buffer
  exchange: Exchange
}

interface Exchange {
  code: number
  transmissions: Transmission[]
  settle(result: RadiusResult): void
}

interface Server {
  index: number
  name: string
  host: string
  port: number
  secret: Buffer
  timeoutMs: number
  retries: number
  resolved?: { address: string; family: 4 | 6 }
  deadUntil: number
  inflight: Map<number, Transmission>
  nextIdentifier: number
  waiting: Array<() => void>
}

/** The replies each request may get. */
const REPLY_CODES: Readonly<Record<number, readonly number[]>> = {
  [Code.ACCESS_REQUEST]: [Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE],
  [Code.ACCOUNTING_REQUEST]: [Code.ACCOUNTING_RESPONSE],
}

/** Reads `secret` or `secretFile` (configuration time: throws AuthError). */
export function loadSecret(options: { secret?: string | Buffer; secretFile?: string }, what: string): Buffer {
  if ((options.secret === undefined) === (options.secretFile === undefined)) {
    throw new AuthError('AUTH_BAD_OPTION', `${what}: give exactly one of secret and secretFile`)
  }
  let secret: Buffer
  if (options.secretFile !== undefined) {
    try {
      secret = readFileSync(options.secretFile)
    } catch (error) {
      throw new AuthError('AUTH_BAD_OPTION', `${what}: cannot read secretFile ${options.secretFile}: ${error instanceof Error ? error.message : String(error)}`)
    }
    if (secret.at(-1) === 0x0a) secret = secret.subarray(0, secret.at(-2) === 0x0d ? -2 : -1)
  } else {
    secret = Buffer.isBuffer(options.secret) ? options.secret : Buffer.from(options.secret!, 'utf8')
  }
  if (secret.length === 0) throw new AuthError('AUTH_BAD_OPTION', `${what}: the secret is empty`)
  return secret
}

export class RadiusClient {
  readonly stats: RadiusClientStats
  private readonly servers: Server[]
  private readonly deadTimeMs: number
  private readonly bindAddress: string | undefined
  private readonly onEvent: (event: RadiusClientEvent) => void
  private readonly sockets = new Map<4 | 6, Promise<dgram.Socket>>()
  private closed = false

  /** Validates the options and reads secret files; opens nothing until the first `send`. Throws AuthError. */
  constructor(options: RadiusClientOptions) {
    if (!Array.isArray(options.servers) || options.servers.length === 0) throw new AuthError('AUTH_BAD_OPTION', 'RADIUS: no servers')
    const defaultPort = options.defaultPort ?? 1812
    this.servers = options.servers.map((s, index) => {
      const port = s.port ?? defaultPort
      const name = `${s.host.includes(':') ? `[${s.host}]` : s.host}:${port}`
      const timeoutMs = s.timeoutMs ?? 3000
      const retries = s.retries ?? 2
      if (!s.host) throw new AuthError('AUTH_BAD_OPTION', `RADIUS server ${index + 1}: no host`)
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AuthError('AUTH_BAD_OPTION', `RADIUS server ${name}: bad port`)
      if (!(timeoutMs > 0)) throw new AuthError('AUTH_BAD_OPTION', `RADIUS server ${name}: timeoutMs must be positive`)
      if (!Number.isInteger(retries) || retries < 0) throw new AuthError('AUTH_BAD_OPTION', `RADIUS server ${name}: retries must be a non-negative integer`)
      return {
        index, name, host: s.host, port, timeoutMs, retries,
        secret: loadSecret(s, `RADIUS server ${name}`),
        deadUntil: 0,
        inflight: new Map(),
        nextIdentifier: Math.floor(Math.random() * 256),
        waiting: [],
      }
    })
    this.deadTimeMs = options.deadTimeMs ?? 30_000
    this.bindAddress = options.bindAddress
    this.onEvent = options.onEvent ?? (() => {})
    this.stats = {
      requests: 0, transmissions: 0, retransmissions: 0, responses: 0, timeouts: 0, failovers: 0,
      dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<RadiusDropReason, number>,
    }
  }

  /** "host:port" of each server, in configuration order. */
  get serverNames(): string[] {
    return this.servers.map((s) => s.name)
  }

  /** Sends a request and waits for a valid reply, failing over between servers. Never rejects. */
  async send(request: RadiusRequest): Promise<RadiusResult> {
    this.stats.requests++
    if (this.closed) return { ok: false, reason: 'closed', detail: 'the RADIUS client is closed' }
    const order = this.order(request.server)
    if (order.length === 0) return { ok: false, reason: 'timeout', detail: `no RADIUS server ${request.server}` }
    const tried: string[] = []
    for (const server of order) {
      if (tried.length > 0) this.stats.failovers++
      tried.push(server.name)
      const result = await this.exchange(server, request)
      if (result.ok || result.reason !== 'timeout') return result
      this.stats.timeouts++
      if (server.deadUntil <= Date.now()) this.report({ kind: 'server-down', server: server.name, detail: result.detail })
      server.deadUntil = Date.now() + this.deadTimeMs
    }
    return { ok: false, reason: 'timeout', detail: `no valid reply from ${tried.join(', ')}` }
  }

  /** Ends every outstanding exchange (result `closed`) and closes the sockets. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const server of this.servers) {
      for (const t of [...server.inflight.values()]) t.exchange.settle({ ok: false, reason: 'closed', detail: 'the RADIUS client closed' })
      for (const wake of server.waiting.splice(0)) wake()
    }
    const sockets = await Promise.allSettled(this.sockets.values())
    await Promise.all(sockets.map((s) => (s.status === 'fulfilled' ? new Promise<void>((resolve) => s.value.close(() => resolve())) : undefined)))
  }

  /** Alive servers in configuration order, then the dead ones, soonest back first. */
  private order(only: number | undefined): Server[] {
    if (only !== undefined) return this.servers[only] ? [this.servers[only]] : []
    const now = Date.now()
    const alive = this.servers.filter((s) => s.deadUntil <= now)
    const dead = this.servers.filter((s) => s.deadUntil > now).sort((a, b) => a.deadUntil - b.deadUntil)
    return [...alive, ...dead]
  }

  /** One server: 1 + retries transmissions, each waiting timeoutMs. */
  private exchange(server: Server, request: RadiusRequest): Promise<RadiusResult> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      let done = false
      const exchange: Exchange = {
        code: request.code,
        transmissions: [],
        settle: (result) => {
          if (done) return
          done = true
          clearTimeout(timer)
          for (const t of exchange.transmissions) this.release(server, t.identifier)
          resolve(result)
        },
      }
      const resend = request.code !== Code.ACCOUNTING_REQUEST
      let packet: SignedPacket | undefined
      const transmit = async (attempt: number): Promise<void> => {
        if (done) return
        if (this.closed) return exchange.settle({ ok: false, reason: 'closed', detail: 'the RADIUS client closed' })
        let socket: dgram.Socket
        let address: string
        try {
          ;({ address } = await this.resolve(server))
          socket = await this.socket(server.resolved!.family)
        } catch (error) {
          return exchange.settle({ ok: false, reason: 'timeout', detail: `${server.name}: ${error instanceof Error ? error.message : String(error)}` })
        }
        if (done) return
        if (this.closed) return exchange.settle({ ok: false, reason: 'closed', detail: 'the RADIUS client closed' })
        if (!(resend && packet)) {
          const transmission = await this.allocate(server, exchange)
          if (!transmission) return exchange.settle({ ok: false, reason: 'closed', detail: 'the RADIUS client closed' })
          if (done) return this.release(server, transmission.identifier) // a reply to an earlier transmission came while we waited
          try {
            packet = this.encode(server, request, transmission.identifier)
          } catch (error) {
            return exchange.settle({ ok: false, reason: 'encode-error', detail: error instanceof Error ? error.message : String(error) })
          }
          transmission.authenticator = packet.authenticator
        }
        this.stats.transmissions++
        if (attempt > 0) this.stats.retransmissions++
        try {
          socket.send(packet.bytes, server.port, address, (error) => {
            if (error) this.report({ kind: 'socket-error', error })
          })
        } catch (error) {
          // e.g. the socket closed under us: this transmission is lost, the timer below decides
          this.report({ kind: 'socket-error', error: error instanceof Error ? error : new Error(String(error)) })
        }
        timer = setTimeout(() => {
          if (attempt < server.retries) void transmit(attempt + 1)
          else exchange.settle({ ok: false, reason: 'timeout', detail: `${server.name}: no valid reply to ${attempt + 1} transmissions` })
        }, server.timeoutMs)
      }
      void transmit(0)
    })
  }

  private encode(server: Server, request: RadiusRequest, identifier: number): SignedPacket {
    if (request.code === Code.ACCESS_REQUEST) return signAccessRequest({ identifier, attributes: request.attributes, secret: server.secret })
    const attributes = request.eventTime === undefined
      ? request.attributes
      : [...request.attributes.filter((a) => a.type !== Attr.ACCT_DELAY_TIME), attr.integer(Attr.ACCT_DELAY_TIME, Math.max(0, Math.floor((Date.now() - request.eventTime) / 1000)))]
    return signRequest({ code: request.code, identifier, attributes, secret: server.secret })
  }

  /**
   * Reserves a free identifier of `server` for `exchange` (registered at
   * once, so no other exchange can take it), waiting while all 256 are
   * outstanding; undefined once closed. The authenticator is filled in
   * after encoding; until then a reply with this identifier cannot verify.
   */
  private async allocate(server: Server, exchange: Exchange): Promise<Transmission | undefined> {
    while (server.inflight.size >= 256) {
      await new Promise<void>((wake) => server.waiting.push(wake))
      if (this.closed) return undefined
    }
    let identifier = server.nextIdentifier
    while (server.inflight.has(identifier)) identifier = (identifier + 1) & 0xff
    server.nextIdentifier = (identifier + 1) & 0xff
    const transmission: Transmission = { identifier, authenticator: Buffer.alloc(0), exchange }
    server.inflight.set(identifier, transmission)
    exchange.transmissions.push(transmission)
    return transmission
  }

  private release(server: Server, identifier: number): void {
    if (!server.inflight.delete(identifier)) return
    server.waiting.shift()?.()
  }

  private async resolve(server: Server): Promise<{ address: string; family: 4 | 6 }> {
    if (!server.resolved) {
      const found = await lookup(server.host)
      server.resolved = { address: found.address, family: found.family === 6 ? 6 : 4 }
    }
    return server.resolved
  }

  private socket(family: 4 | 6): Promise<dgram.Socket> {
    let socket = this.sockets.get(family)
    if (!socket) {
      socket = new Promise((resolve, reject) => {
        const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
        s.on('message', (data, rinfo) => this.receive(data, rinfo))
        s.on('error', (error) => this.report({ kind: 'socket-error', error }))
        s.once('error', reject)
        const bindTo = this.bindAddress && (this.bindAddress.includes(':') ? family === 6 : family === 4) ? this.bindAddress : undefined
        s.bind({ port: 0, ...(bindTo ? { address: bindTo } : {}) }, () => {
          s.off('error', reject)
          resolve(s)
        })
      })
      this.sockets.set(family, socket)
    }
    return socket
  }

  /** Every datagram from anywhere: checked, then handed to its exchange, or dropped and counted. */
  private receive(data: Buffer, from: dgram.RemoteInfo): void {
    const source = `${from.address}:${from.port}`
    try {
      const server = this.servers.find((s) => s.resolved?.address === from.address && s.port === from.port)
      if (!server) return this.drop('unknown-source', source, 'not a configured server')
      let bytes: Buffer
      let packet: RadiusPacket
      try {
        bytes = packetBytes(data)
        packet = decodePacket(data)
      } catch (error) {
        return this.drop('malformed', source, error instanceof RadiusCodecError ? `${error.code}: ${error.message}` : String(error))
      }
      const transmission = server.inflight.get(packet.identifier)
      if (!transmission) return this.drop('unknown-identifier', source, `identifier ${packet.identifier} is not outstanding`)
      const code = transmission.exchange.code
      if (!REPLY_CODES[code]?.includes(packet.code)) return this.drop('unexpected-code', source, `code ${packet.code} in reply to code ${code}`)
      const failure = verifyResponse(bytes, transmission.authenticator, server.secret, code === Code.ACCESS_REQUEST)
      if (failure) return this.drop(failure, source, `identifier ${packet.identifier}`)
      this.stats.responses++
      if (server.deadUntil > 0) {
        server.deadUntil = 0
        this.report({ kind: 'server-up', server: server.name })
      }
      transmission.exchange.settle({ ok: true, packet, server: server.index, requestAuthenticator: transmission.authenticator, secret: server.secret })
    } catch (error) {
      // a bug of ours must not take the socket down: count it with the malformed
      this.drop('malformed', source, `internal: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private drop(reason: RadiusDropReason, from: string, detail: string): void {
    this.stats.dropped[reason]++
    this.report({ kind: 'dropped', reason, from, detail })
  }

  private report(event: RadiusClientEvent): void {
    try {
      this.onEvent(event)
    } catch {
      // a failing logger must not break the transport
    }
  }
}
