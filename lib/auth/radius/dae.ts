// Dynamic Authorization Extensions (RFC 5176): a UDP listener (port 3799
// by default) for Disconnect-Request and CoA-Request from the RADIUS
// servers we trust.
//
// A request is dropped silently (and counted) unless it comes from a
// configured client address, decodes strictly, has the right Request
// Authenticator (MD5 over the packet with a zero authenticator and the
// shared secret, RFC 5176 3.5), a valid Message-Authenticator if it has
// one, and an Event-Timestamp within the window if it has one (RFC 5176
// 3.3: replay protection). Otherwise it is answered:
// - NAK 401 Unsupported-Attribute: an attribute we do not act on;
// - NAK 402 Missing-Attribute: no attribute naming a session;
// - NAK 403 NAS-Identification-Mismatch: NAS-IP-Address / NAS-Identifier not ours;
// - NAK 405 Unsupported-Service: Service-Type Authorize-Only (we cannot re-authenticate);
// - NAK 407 Invalid-Attribute-Value: a value of the wrong size;
// - NAK 503 Session-Context-Not-Found: the callback found no session;
// - NAK 506 Resources-Unavailable: the callback threw or took too long;
// - ACK: the callback acted.
// Which sessions match is the callback's decision (the server owns the
// session table). A retransmitted request (same source, identifier and
// authenticator) gets the cached answer, not a second action.
import dgram from 'node:dgram'
import type { NasIdentity } from './authenticator.js'
import { signResponse, verifyRequest, type VerifyFailure } from './authenticators.js'
import { attr, readInteger, readIpv4, readString } from './attributes.js'
import { loadSecret } from './client.js'
import { RadiusCodecError, decodePacket, packetBytes, type RadiusAttribute, type RadiusPacket } from './codec.js'
import { Attr, Code, ErrorCause, ServiceType, type ErrorCauseValue } from './dictionary.js'

/** The attributes of a request that name the session(s) it is about. */
export interface DaeMatch {
  acctSessionId?: string
  user?: string
  framedIpAddress?: string
  callingStationId?: string
  /** Our session id, as sent in NAS-Port by accounting. */
  nasPort?: number
}

/** What a CoA-Request asks to change. */
export interface DaeChanges {
  sessionTimeout?: number
  idleTimeout?: number
  filterId?: string[]
  acctInterimInterval?: number
  class?: Buffer[]
  replyMessage?: string
}

export interface DaeClient {
  /** The source address requests come from (exact match). */
  address: string
  /** This client's secret; default: the options' secret. */
  secret?: string | Buffer
  secretFile?: string
}

export interface DaeOptions {
  /** Default 0.0.0.0:3799 (RFC 5176 3). */
  listen?: { address?: string; port?: number }
  /** The secret of clients that give none (or secretFile). */
  secret?: string | Buffer
  secretFile?: string
  /** Who may send requests. */
  clients: DaeClient[]
  /** When a request names a NAS (NAS-IP-Address, NAS-Identifier, NAS-IPv6-Address), it must be this one. */
  nas?: NasIdentity
  /** Event-Timestamp must be within this many seconds of our clock (default 300). */
  eventTimestampWindowSeconds?: number
  /** Milliseconds a callback may take before the answer is NAK 506 (default 5000). */
  callbackTimeoutMs?: number
  /** End the matching sessions; true when at least one was found. */
  onDisconnect(match: DaeMatch): boolean | Promise<boolean>
  /** Apply `changes` to the matching sessions; true when at least one was found. Absent: CoA is NAK 405. */
  onCoa?(match: DaeMatch, changes: DaeChanges): boolean | Promise<boolean>
  onEvent?(event: DaeEvent): void
}

export type DaeDropReason = 'unknown-client' | 'malformed' | 'unexpected-code' | 'stale' | VerifyFailure

export type DaeEvent =
  | { kind: 'dropped'; reason: DaeDropReason; from: string; detail: string }
  | { kind: 'answered'; from: string; request: 'disconnect' | 'coa'; ack: boolean; errorCause?: number; match: DaeMatch }
  | { kind: 'callback-error'; error: unknown }
  | { kind: 'socket-error'; error: Error }

export interface DaeStats {
  acks: number
  naks: number
  duplicates: number
  dropped: Record<DaeDropReason, number>
}

export interface DaeServer {
  /** The bound address and port (port 0 in the options picks one). */
  readonly address: { address: string; port: number }
  readonly stats: DaeStats
  close(): Promise<void>
}

/** Attributes that identify the session, the NAS, or are plumbing; anything else in a Disconnect is unsupported. */
const IDENTIFICATION = new Set<number>([
  Attr.USER_NAME, Attr.FRAMED_IP_ADDRESS, Attr.CALLING_STATION_ID, Attr.ACCT_SESSION_ID, Attr.NAS_PORT,
  Attr.NAS_IP_ADDRESS, Attr.NAS_IDENTIFIER, Attr.NAS_IPV6_ADDRESS, Attr.CALLED_STATION_ID, Attr.NAS_PORT_TYPE,
  Attr.PROXY_STATE, Attr.MESSAGE_AUTHENTICATOR, Attr.EVENT_TIMESTAMP, Attr.SERVICE_TYPE,
])
/** What a CoA may change. */
const CHANGES = new Set<number>([Attr.SESSION_TIMEOUT, Attr.IDLE_TIMEOUT, Attr.FILTER_ID, Attr.ACCT_INTERIM_INTERVAL, Attr.CLASS, Attr.REPLY_MESSAGE])
/** How long an answer is kept for retransmissions (RFC 5080 2.2.2 suggests a few seconds at least). */
const DUPLICATE_MS = 30_000

class Nak extends Error {
  constructor(readonly errorCause: ErrorCauseValue, message: string) {
    super(message)
  }
}

export async function startDaeServer(options: DaeOptions): Promise<DaeServer> {
  const secrets = new Map<string, Buffer>()
  for (const client of options.clients) {
    const own = client.secret !== undefined || client.secretFile !== undefined
    secrets.set(client.address, loadSecret(own ? client : options, `DAE client ${client.address}`))
  }
  const window = options.eventTimestampWindowSeconds ?? 300
  const callbackTimeoutMs = options.callbackTimeoutMs ?? 5000
  const stats: DaeStats = { acks: 0, naks: 0, duplicates: 0, dropped: { 'unknown-client': 0, malformed: 0, 'unexpected-code': 0, stale: 0, 'bad-authenticator': 0, 'missing-message-authenticator': 0, 'bad-message-authenticator': 0 } }
  const answers = new Map<string, { bytes: Buffer | undefined; at: number }>()
  const report = (event: DaeEvent) => {
    try {
      options.onEvent?.(event)
    } catch {
      // a failing logger must not stop the listener
    }
  }
  const drop = (reason: DaeDropReason, from: string, detail: string) => {
    stats.dropped[reason]++
    report({ kind: 'dropped', reason, from, detail })
  }

  const listen = options.listen ?? {}
  const host = listen.address ?? '0.0.0.0'
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  socket.on('error', (error) => report({ kind: 'socket-error', error }))

  async function handle(data: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const from = `${rinfo.address}:${rinfo.port}`
    const secret = secrets.get(rinfo.address)
    if (!secret) return drop('unknown-client', from, 'not a configured DAE client')
    let bytes: Buffer
    let packet: RadiusPacket
    try {
      bytes = packetBytes(data)
      packet = decodePacket(data)
    } catch (error) {
      return drop('malformed', from, error instanceof RadiusCodecError ? `${error.code}: ${error.message}` : String(error))
    }
    if (packet.code !== Code.DISCONNECT_REQUEST && packet.code !== Code.COA_REQUEST) return drop('unexpected-code', from, `code ${packet.code}`)
    const failure = verifyRequest(bytes, secret)
    if (failure) return drop(failure, from, `identifier ${packet.identifier}`)

    const key = `${from}/${packet.identifier}/${packet.authenticator.toString('hex')}`
    const now = Date.now()
    for (const [k, v] of answers) if (now - v.at > DUPLICATE_MS) answers.delete(k)
    const cached = answers.get(key)
    if (cached) {
      stats.duplicates++
      if (cached.bytes) socket.send(cached.bytes, rinfo.port, rinfo.address)
      return
    }
    const timestamp = packet.attributes.find((a) => a.type === Attr.EVENT_TIMESTAMP)
    if (timestamp && (timestamp.value.length !== 4 || Math.abs(timestamp.value.readUInt32BE(0) - now / 1000) > window)) {
      return drop('stale', from, 'Event-Timestamp outside the window')
    }
    answers.set(key, { bytes: undefined, at: now }) // in progress: retransmissions are ignored until answered

    const disconnect = packet.code === Code.DISCONNECT_REQUEST
    let ack = false
    let errorCause: number | undefined
    let match: DaeMatch = {}
    try {
      const parsed = parseRequest(packet, disconnect, options)
      match = parsed.match
      const found = await withTimeout(
        Promise.resolve().then(() => (disconnect ? options.onDisconnect(parsed.match) : options.onCoa!(parsed.match, parsed.changes))),
        callbackTimeoutMs,
      )
      if (found === true) ack = true
      else errorCause = ErrorCause.SESSION_CONTEXT_NOT_FOUND
    } catch (error) {
      if (error instanceof Nak) errorCause = error.errorCause
      else {
        report({ kind: 'callback-error', error })
        errorCause = ErrorCause.RESOURCES_UNAVAILABLE
      }
    }
    const attributes: RadiusAttribute[] = [
      ...(errorCause !== undefined ? [attr.integer(Attr.ERROR_CAUSE, errorCause)] : []),
      // RFC 2865 5.33: Proxy-State comes back unchanged and in order
      ...packet.attributes.filter((a) => a.type === Attr.PROXY_STATE),
    ]
    const code = disconnect ? (ack ? Code.DISCONNECT_ACK : Code.DISCONNECT_NAK) : ack ? Code.COA_ACK : Code.COA_NAK
    const reply = signResponse({ code, identifier: packet.identifier, requestAuthenticator: packet.authenticator, attributes, secret })
    answers.set(key, { bytes: reply, at: Date.now() })
    if (ack) stats.acks++
    else stats.naks++
    report({ kind: 'answered', from, request: disconnect ? 'disconnect' : 'coa', ack, ...(errorCause !== undefined ? { errorCause } : {}), match })
    socket.send(reply, rinfo.port, rinfo.address)
  }

  socket.on('message', (data, rinfo) => {
    handle(data, rinfo).catch((error: unknown) => drop('malformed', `${rinfo.address}:${rinfo.port}`, `internal: ${String(error)}`))
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(listen.port ?? 3799, host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  const bound = socket.address()
  return {
    address: { address: bound.address, port: bound.port },
    stats,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`callback did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** The match and changes of a request, or a Nak saying why it cannot be acted on. */
function parseRequest(packet: RadiusPacket, disconnect: boolean, options: DaeOptions): { match: DaeMatch; changes: DaeChanges } {
  if (!disconnect && !options.onCoa) throw new Nak(ErrorCause.UNSUPPORTED_SERVICE, 'CoA is not enabled')
  const match: DaeMatch = {}
  const changes: DaeChanges = {}
  const nas = options.nas ?? {}
  try {
    for (const { type, value } of packet.attributes) {
      if (!IDENTIFICATION.has(type) && (disconnect || !CHANGES.has(type))) throw new Nak(ErrorCause.UNSUPPORTED_ATTRIBUTE, `attribute ${type}`)
      switch (type) {
        case Attr.USER_NAME: match.user = readString(value); break
        case Attr.ACCT_SESSION_ID: match.acctSessionId = readString(value); break
        case Attr.FRAMED_IP_ADDRESS: match.framedIpAddress = readIpv4(value); break
        case Attr.CALLING_STATION_ID: match.callingStationId = readString(value); break
        case Attr.NAS_PORT: match.nasPort = readInteger(value); break
        case Attr.NAS_IP_ADDRESS:
          if (readIpv4(value) !== nas.nasIpAddress) throw new Nak(ErrorCause.NAS_IDENTIFICATION_MISMATCH, 'NAS-IP-Address')
          break
        case Attr.NAS_IDENTIFIER:
          if (readString(value) !== nas.nasIdentifier) throw new Nak(ErrorCause.NAS_IDENTIFICATION_MISMATCH, 'NAS-Identifier')
          break
        case Attr.NAS_IPV6_ADDRESS:
          if (nas.nasIpv6Address === undefined) throw new Nak(ErrorCause.NAS_IDENTIFICATION_MISMATCH, 'NAS-IPv6-Address')
          break
        case Attr.SERVICE_TYPE:
          // RFC 5176 3.2: Authorize-Only asks us to re-authenticate, which a PPP session cannot do here
          if (readInteger(value) === ServiceType.AUTHORIZE_ONLY) throw new Nak(ErrorCause.UNSUPPORTED_SERVICE, 'Service-Type Authorize-Only')
          throw new Nak(ErrorCause.UNSUPPORTED_ATTRIBUTE, 'Service-Type')
        case Attr.SESSION_TIMEOUT: changes.sessionTimeout = readInteger(value); break
        case Attr.IDLE_TIMEOUT: changes.idleTimeout = readInteger(value); break
        case Attr.ACCT_INTERIM_INTERVAL: changes.acctInterimInterval = readInteger(value); break
        case Attr.FILTER_ID: (changes.filterId ??= []).push(readString(value)); break
        case Attr.CLASS: (changes.class ??= []).push(value); break
        case Attr.REPLY_MESSAGE: changes.replyMessage = (changes.replyMessage ? `${changes.replyMessage}\n` : '') + readString(value); break
      }
    }
  } catch (error) {
    if (error instanceof RadiusCodecError) throw new Nak(ErrorCause.INVALID_ATTRIBUTE_VALUE, error.message)
    throw error
  }
  if (Object.keys(match).length === 0) throw new Nak(ErrorCause.MISSING_ATTRIBUTE, 'no session identification attribute')
  return { match, changes }
}
