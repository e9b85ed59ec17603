/**
 * LCP options (RFC 1661 6) as an `OptionPolicy` for the automaton of
 * lib/ppp/automaton.ts, for both ends of an L2TP session.
 *
 * What we ask for (our Configure-Request):
 * - Maximum-Receive-Unit: the configured MRU (default 1400, what Windows,
 *   Android and common pppd setups use inside L2TP/IPsec).
 * - Authentication-Protocol (server only): the first of our allowed methods
 *   (MS-CHAPv2 by default). A Configure-Nak naming another allowed method
 *   switches to it; one naming a method we do not allow moves to our next
 *   untried method (RFC 1661 6.2: "the Configure-Nak ... indicates the
 *   authentication protocol the peer would prefer"); with none left the
 *   negotiation ends. A Configure-Reject of it ends the negotiation: the
 *   server never lets a peer in unauthenticated.
 * - Magic-Number: random, non-zero (6.4); a Nak of it picks a new one.
 * - ACFC/PFC only when configured (off by default): L2TP carries no HDLC, so
 *   the saving is 2-3 bytes a frame.
 *
 * What we take from the peer (its Configure-Request):
 * - MRU within `peerMruRange` (1270..1500: the values real clients use);
 *   outside it, a Nak with the nearest bound.
 * - ACCM: acknowledged and ignored (RFC 2661 carries frames without HDLC
 *   octet stuffing, so there is nothing to map).
 * - ACFC/PFC: acknowledged; the peer then accepts compressed frames, which
 *   the data plane may send (`negotiated.acfc`, `negotiated.pfc`).
 * - Magic-Number: a zero one, or one equal to ours (a looped-back link,
 *   6.4), is Nak'd with a new random number.
 * - Authentication-Protocol: the server Rejects it (it does not authenticate
 *   itself to clients); the client Acks a method it can do and Naks with its
 *   preferred one otherwise.
 * - Everything else is Rejected, as received: Quality-Protocol, Windows'
 *   multilink MRRU (RFC 1990 5.1.1) and Endpoint-Discriminator,
 *   Callback, and types we do not know (RFC 1661 5.4).
 *
 * Echo, Discard, Protocol-Reject and Identification are handled in
 * `handleExtension`; the link above keeps the echo timer.
 */
import { randomBytes } from 'node:crypto'
import type { ConfigPacket, ExtensionResult, OptionPolicy, RequestVerdict } from './automaton.js'
import { decodeLcp, encodeOption, encodeRawPacket } from './codec.js'
import type { AuthProtocolOption, ConfigOption, LcpOption } from './codec.js'
import { ChapAlgorithm, Code, LcpOptionType, Protocol } from './constants.js'
import type { Method } from '../auth/types.js'

/** Randomness, injected so that tests are deterministic: `size` bytes. */
export type RandomSource = (size: number) => Buffer

export const defaultRandom: RandomSource = (size) => randomBytes(size)

// --- options as bytes and as decoded values ---------------------------------

/** One option of a Configure packet: decoded, and its bytes as received (for Configure-Reject, RFC 1661 5.4). */
export interface ParsedOption<O> {
  option: O
  bytes: Buffer
}

/**
 * The options of a Configure packet of the LCP family, decoded by `decode`
 * (the codec's decodeLcp, decodeIpcp, decodeIpv6cp), each beside its bytes.
 * Undefined when the options are malformed (RFC 1661 5: discard).
 */
export function parseOptions<O>(options: Buffer, decode: (information: Buffer) => { kind: string }): ParsedOption<O>[] | undefined {
  const slices: Buffer[] = []
  for (let at = 0; at < options.length; ) {
    const length = options[at + 1]
    if (length === undefined || length < 2 || at + length > options.length) return undefined
    slices.push(options.subarray(at, at + length))
    at += length
  }
  let decoded: { kind: string; options?: unknown }
  try {
    decoded = decode(encodeRawPacket(Code.CONFIGURE_REQUEST, 0, options))
  } catch {
    return undefined
  }
  const list = decoded.options
  if (!Array.isArray(list) || list.length !== slices.length) return undefined
  return slices.map((bytes, index) => ({ option: list[index] as O, bytes: Buffer.from(bytes) }))
}

/** The verdict of RFC 1661 5.2-5.4: Reject wins over Nak, Nak over Ack. */
export function verdictOf(rejects: Buffer[], naks: Buffer[]): RequestVerdict {
  if (rejects.length) return { verdict: 'reject', options: Buffer.concat(rejects) }
  if (naks.length) return { verdict: 'nak', options: Buffer.concat(naks) }
  return { verdict: 'ack' }
}

export function optionBytes(option: ConfigOption): Buffer {
  return encodeOption(option)
}

// --- authentication methods as LCP options ------------------------------------

/** The Authentication-Protocol option asking for `method` (RFC 1334 3, RFC 1994 3, RFC 2759 2, RFC 3748 7.1). */
export function authOption(method: Method): AuthProtocolOption {
  const empty = Buffer.alloc(0)
  switch (method) {
    case 'pap': return { kind: 'auth-protocol', type: 3, protocol: Protocol.PAP, algorithm: undefined, data: empty }
    case 'chap-md5': return { kind: 'auth-protocol', type: 3, protocol: Protocol.CHAP, algorithm: ChapAlgorithm.MD5, data: empty }
    case 'mschapv2': return { kind: 'auth-protocol', type: 3, protocol: Protocol.CHAP, algorithm: ChapAlgorithm.MSCHAPV2, data: empty }
    case 'eap': return { kind: 'auth-protocol', type: 3, protocol: Protocol.EAP, algorithm: undefined, data: empty }
  }
}

/** The method an Authentication-Protocol option names, or undefined (MS-CHAPv1, SPAP, ...). */
export function methodOf(option: AuthProtocolOption): Method | undefined {
  if (option.protocol === Protocol.PAP) return 'pap'
  if (option.protocol === Protocol.EAP) return 'eap'
  if (option.protocol === Protocol.CHAP && option.data.length === 0) {
    if (option.algorithm === ChapAlgorithm.MD5) return 'chap-md5'
    if (option.algorithm === ChapAlgorithm.MSCHAPV2) return 'mschapv2'
  }
  return undefined
}

// --- the policy -----------------------------------------------------------------

export interface LcpPolicyOptions {
  role: 'server' | 'client'
  /** Our MRU, asked for in every Configure-Request (default 1400). */
  mru?: number
  /** The peer MRUs we accept, inclusive (default [1270, 1500]). */
  peerMruRange?: readonly [number, number]
  /**
   * Server: the methods we ask for, in order of preference (default
   * ['mschapv2', 'chap-md5', 'pap']). Client: the methods we agree to, in
   * order of preference (a Nak names the first; EAP comes last by default:
   * its MD5 method proves nothing of the server).
   */
  authMethods?: readonly Method[]
  /** Ask the peer for Address-and-Control-Field-Compression (default false). */
  requestAcfc?: boolean
  /** Ask the peer for Protocol-Field-Compression (default false). */
  requestPfc?: boolean
  random?: RandomSource
}

/** What is in force once LCP is Opened. */
export interface LcpNegotiated {
  /** Our MRU as the peer acknowledged it (1500 when the option was not negotiated, RFC 1661 6.1). */
  mru: number
  /** The peer's MRU: frames we send must not exceed it (1500 when not negotiated). */
  peerMru: number
  /** Our Magic-Number (0 when not negotiated). */
  magic: number
  /** The peer's Magic-Number (0 when not negotiated). */
  peerMagic: number
  /** The peer accepts frames without FF 03 (it asked for ACFC and we acknowledged). */
  acfc: boolean
  /** The peer accepts 1-byte protocol fields (it asked for PFC and we acknowledged). */
  pfc: boolean
  /** We asked for ACFC and the peer acknowledged: it may send us frames without FF 03. */
  localAcfc: boolean
  /** We asked for PFC and the peer acknowledged. */
  localPfc: boolean
  /** The method that authenticates the client: the server's request the client Acked. Undefined: none. */
  auth: Method | undefined
}

/** Hooks through which LCP reports what only the link acts on. */
export interface LcpHooks {
  /** An Echo-Reply arrived (RFC 1661 5.8). */
  onEchoReply?(identifier: number, magic: number): void
  /** The peer rejected a protocol of ours (RFC 1661 5.7). */
  onProtocolReject?(protocol: number): void
  /** The peer Code-Rejected Echo-Request: keepalive must stop, or it would take the link down. */
  onEchoRejected?(): void
}

const DEFAULT_SERVER_METHODS: readonly Method[] = ['mschapv2', 'chap-md5', 'pap']
const DEFAULT_CLIENT_METHODS: readonly Method[] = ['mschapv2', 'chap-md5', 'pap', 'eap']

const NONE_TRIED: readonly Method[] = Object.freeze([])
/** The MRUs real clients use; one shared pair, not one per link. */
export const DEFAULT_PEER_MRU_RANGE: readonly [number, number] = Object.freeze([1270, 1500] as const)

/** One frozen one-method list per method, shared by every link (#markTried). */
const ONE_TRIED = new Map<Method, readonly Method[]>()
function oneTried(method: Method): readonly Method[] {
  let list = ONE_TRIED.get(method)
  if (!list) ONE_TRIED.set(method, (list = Object.freeze([method])))
  return list
}

export class LcpPolicy implements OptionPolicy {
  readonly role: 'server' | 'client'
  readonly mru: number
  readonly peerMruRange: readonly [number, number]
  readonly authMethods: readonly Method[]
  hooks: LcpHooks = {}

  readonly #random: RandomSource
  readonly #requestAcfc: boolean
  readonly #requestPfc: boolean

  // our wishes for the next Configure-Request
  #wantMru = true
  #askMru: number
  #wantMagic = true
  #magic = 0
  #wantAcfc: boolean
  #wantPfc: boolean
  #auth: Method | undefined
  /**
   * At most the four methods: an array, not a Set, grown by concat (exact
   * length: a push would give it room for 17) from a shared empty one
   * (~0.15 KB less per link, issue #9).
   */
  #authTried: readonly Method[] = NONE_TRIED

  // in force (ours after the peer's Ack, the peer's after our Ack)
  #negotiated: LcpNegotiated = LcpPolicy.#initialNegotiated()

  constructor(options: LcpPolicyOptions) {
    this.role = options.role
    this.mru = options.mru ?? 1400
    this.peerMruRange = options.peerMruRange ?? DEFAULT_PEER_MRU_RANGE
    this.authMethods = options.authMethods ?? (options.role === 'server' ? DEFAULT_SERVER_METHODS : DEFAULT_CLIENT_METHODS)
    this.#random = options.random ?? defaultRandom
    this.#requestAcfc = options.requestAcfc ?? false
    this.#requestPfc = options.requestPfc ?? false
    this.#askMru = this.mru
    this.#wantAcfc = this.#requestAcfc
    this.#wantPfc = this.#requestPfc
    this.reset()
  }

  static #initialNegotiated(): LcpNegotiated {
    return { mru: 1500, peerMru: 1500, magic: 0, peerMagic: 0, acfc: false, pfc: false, localAcfc: false, localPfc: false, auth: undefined }
  }

  /** What is in force (meaningful once LCP is Opened). */
  get negotiated(): Readonly<LcpNegotiated> {
    return this.#negotiated
  }

  /** The authentication method our current request asks for (server). */
  get requestedAuth(): Method | undefined {
    return this.#auth
  }

  /** The Magic-Number we send (in Echo packets too). */
  get magic(): number {
    return this.#wantMagic ? this.#magic : 0
  }

  reset(): void {
    this.#wantMru = true
    this.#askMru = this.mru
    this.#wantMagic = true
    this.#magic = this.#newMagic(0)
    this.#wantAcfc = this.#requestAcfc
    this.#wantPfc = this.#requestPfc
    this.#authTried = NONE_TRIED
    this.#auth = this.role === 'server' ? this.authMethods[0] : undefined
    if (this.#auth) this.#markTried(this.#auth)
    this.#negotiated = LcpPolicy.#initialNegotiated()
  }

  /** A random non-zero Magic-Number different from `avoid`. */
  #newMagic(avoid: number): number {
    for (;;) {
      const magic = this.#random(4).readUInt32BE(0)
      if (magic !== 0 && magic !== avoid) return magic
    }
  }

  buildRequest(): Buffer {
    const options: LcpOption[] = []
    if (this.#wantMru) options.push({ kind: 'mru', type: 1, mru: this.#askMru })
    if (this.#auth) options.push(authOption(this.#auth))
    if (this.#wantMagic) options.push({ kind: 'magic-number', type: 5, magic: this.#magic })
    if (this.#wantPfc) options.push({ kind: 'pfc', type: 7 })
    if (this.#wantAcfc) options.push({ kind: 'acfc', type: 8 })
    return Buffer.concat(options.map(optionBytes))
  }

  checkRequest(options: Buffer): RequestVerdict {
    const parsed = parseOptions<LcpOption>(options, decodeLcp)
    if (!parsed) return { verdict: 'reject', options }
    const rejects: Buffer[] = []
    const naks: Buffer[] = []
    const peer = { peerMru: 1500, peerMagic: 0, acfc: false, pfc: false, auth: undefined as Method | undefined }
    const [low, high] = this.peerMruRange
    for (const { option, bytes } of parsed) {
      switch (option.kind) {
        case 'mru':
          if (option.mru >= low && option.mru <= high) peer.peerMru = option.mru
          else naks.push(optionBytes({ kind: 'mru', type: 1, mru: option.mru < low ? low : high }))
          break
        case 'accm':
          break
        case 'magic-number':
          // 6.4: zero is not a Magic-Number; equal to ours may be a loop: Nak with a different one.
          if (option.magic === 0 || (this.#wantMagic && option.magic === this.#magic)) {
            naks.push(optionBytes({ kind: 'magic-number', type: 5, magic: this.#newMagic(this.#magic) }))
          } else {
            peer.peerMagic = option.magic
          }
          break
        case 'pfc':
          peer.pfc = true
          break
        case 'acfc':
          peer.acfc = true
          break
        case 'auth-protocol': {
          if (this.role === 'server' || this.authMethods.length === 0) {
            rejects.push(bytes)
            break
          }
          const method = methodOf(option)
          if (method && this.authMethods.includes(method)) peer.auth = method
          else naks.push(optionBytes(authOption(this.authMethods[0]!)))
          break
        }
        default:
          // quality-protocol, mrru (Windows' multilink), endpoint discriminator, callback, unknown or malformed types
          rejects.push(bytes)
      }
    }
    const verdict = verdictOf(rejects, naks)
    if (verdict.verdict === 'ack') {
      this.#negotiated.peerMru = peer.peerMru
      this.#negotiated.peerMagic = peer.peerMagic
      this.#negotiated.acfc = peer.acfc
      this.#negotiated.pfc = peer.pfc
      if (this.role === 'client') this.#negotiated.auth = peer.auth
    }
    return verdict
  }

  onAck(_options: Buffer): void {
    this.#negotiated.mru = this.#wantMru ? this.#askMru : 1500
    this.#negotiated.magic = this.magic
    this.#negotiated.localAcfc = this.#wantAcfc
    this.#negotiated.localPfc = this.#wantPfc
    if (this.role === 'server') this.#negotiated.auth = this.#auth
  }

  onNak(options: Buffer): boolean {
    const parsed = parseOptions<LcpOption>(options, decodeLcp)
    if (!parsed) return true
    const [low, high] = this.peerMruRange
    for (const { option } of parsed) {
      switch (option.kind) {
        case 'mru':
          // The peer suggests another MRU for us: take it if it is a sane one (within the range we allow the peer).
          if (option.mru >= Math.min(low, this.mru) && option.mru <= Math.max(high, this.mru)) {
            this.#wantMru = true
            this.#askMru = option.mru
          }
          break
        case 'magic-number':
          if (this.#wantMagic) this.#magic = this.#newMagic(this.#magic)
          break
        case 'auth-protocol':
          if (this.role === 'server' && !this.#nextAuth(methodOf(option))) return false
          break
        default:
          // hints for options we did not ask for (RFC 1661 5.3): we keep our request as it is
          break
      }
    }
    return true
  }

  /** The peer Nak'd our method, naming `preferred`: take it if allowed, else our next untried one. */
  #nextAuth(preferred: Method | undefined): boolean {
    if (preferred && preferred !== this.#auth && this.authMethods.includes(preferred)) {
      this.#auth = preferred
      this.#markTried(preferred)
      return true
    }
    const next = this.authMethods.find((method) => !this.#authTried.includes(method))
    if (!next) return false
    this.#auth = next
    this.#markTried(next)
    return true
  }

  /** Remembers a method once (a peer Nak-ing back and forth between two must not grow the list). */
  #markTried(method: Method): void {
    if (this.#authTried.includes(method)) return
    // The first one (the only one when the peer takes it, as most do) is a shared array: none per link (~56 B, issue #9).
    this.#authTried = this.#authTried.length === 0 ? oneTried(method) : this.#authTried.concat(method)
  }

  onReject(options: Buffer): boolean {
    const parsed = parseOptions<LcpOption>(options, decodeLcp)
    if (!parsed) return true
    for (const { option } of parsed) {
      switch (option.type) {
        case LcpOptionType.MRU:
          this.#wantMru = false
          break
        case LcpOptionType.MAGIC_NUMBER:
          this.#wantMagic = false
          break
        case LcpOptionType.PFC:
          this.#wantPfc = false
          break
        case LcpOptionType.ACFC:
          this.#wantAcfc = false
          break
        case LcpOptionType.AUTH_PROTOCOL:
          // The server requires authentication: a peer refusing every method cannot come in.
          if (this.role === 'server') return false
          break
      }
    }
    return true
  }

  /** RFC 1661 5.6: the peer does not know one of our codes; the only one we send beyond 1-7 is Echo-Request. */
  onCodeReject(rejectedCode: number): void {
    if (rejectedCode === Code.ECHO_REQUEST) this.hooks.onEchoRejected?.()
  }

  /**
   * LCP codes 8-13 (RFC 1661 5.7-5.9, RFC 1570):
   *   8 Protocol-Reject  Rejected-Protocol (2) | Rejected-Information
   *   9 Echo-Request     Magic-Number (4) | Data     -> Echo-Reply, only in Opened (RXR)
   *  10 Echo-Reply       Magic-Number (4) | Data
   *  11 Discard-Request  Magic-Number (4) | Data
   *  12 Identification, 13 Time-Remaining: taken silently, as pppd does
   * Anything else is an unknown code (RUC: Code-Reject).
   */
  handleExtension(packet: ConfigPacket): ExtensionResult {
    switch (packet.code) {
      case Code.PROTOCOL_REJECT: {
        if (packet.data.length < 2) return { event: 'none' }
        const protocol = packet.data.readUInt16BE(0)
        this.hooks.onProtocolReject?.(protocol)
        // A Protocol-Reject of LCP itself is catastrophic (RFC 1661 4.3 RXJ-).
        return { event: protocol === Protocol.LCP ? 'RXJ-' : 'RXJ+' }
      }
      case Code.ECHO_REQUEST: {
        if (packet.data.length < 4) return { event: 'none' }
        const magic = packet.data.readUInt32BE(0)
        // 6.4: our own Magic-Number coming back means a looped-back link; do not answer ourselves.
        if (this.#wantMagic && magic === this.#magic && magic !== this.#negotiated.peerMagic) return { event: 'RXR' }
        // accel-ppp#204: the reply, header included, never exceeds the peer's MRU.
        const room = Math.max(0, this.#negotiated.peerMru - 8)
        const magicBytes = Buffer.alloc(4)
        magicBytes.writeUInt32BE(this.magic)
        const data = Buffer.concat([magicBytes, packet.data.subarray(4, 4 + room)])
        return { event: 'RXR', reply: { code: Code.ECHO_REPLY, identifier: packet.identifier, data } }
      }
      case Code.ECHO_REPLY:
        if (packet.data.length >= 4) this.hooks.onEchoReply?.(packet.identifier, packet.data.readUInt32BE(0))
        return { event: 'RXR' }
      case Code.DISCARD_REQUEST:
      case Code.IDENTIFICATION:
      case Code.TIME_REMAINING:
        return { event: 'RXR' }
      default:
        return { event: 'RUC' }
    }
  }
}
