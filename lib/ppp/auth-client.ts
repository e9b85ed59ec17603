/**
 * The peer's side of PPP authentication, for our own client (tests, bench,
 * site-to-site): PAP (RFC 1334 2), CHAP-MD5 (RFC 1994 4) and MS-CHAPv2
 * (RFC 2759 4-6) and EAP (RFC 3748) with a configured user and password.
 *
 *   method     we send                                    we expect
 *   PAP        Authenticate-Request (retransmitted)       Ack / Nak
 *   CHAP-MD5   Response to each Challenge                 Success / Failure
 *   MS-CHAPv2  Response (random Peer-Challenge)           Success "S=..." checked against the
 *                                                         password (RFC 2759 8.8) / Failure
 *   EAP        Response to each Request: Identity (our    Success / Failure
 *              user), MD5-Challenge (RFC 3748 5.4),
 *              Notification (empty), any other Type a
 *              legacy Nak proposing MD5 (5.3.1)
 *
 * MS-CHAPv2 Failures that invite a next step (RFC 2759 6, 7) are answered
 * with the Failure's Identifier plus one and its C=: E=648 (password
 * expired) with a Change-Password to `newPassword`, once, after which the
 * Success must prove the NEW password; R=1 with a new Response while
 * `retries` last.
 *
 * A Challenge repeated with the same Identifier and value gets the same
 * Response (so a retransmitted Challenge does not start a second attempt at
 * the server); the last Response is also retransmitted every `restartTimer`
 * seconds in case the Success was lost (RFC 1994 4.1 lets the authenticator
 * answer a repeated Response). EAP differs: the authenticator retransmits
 * (RFC 3748 4.3), and the peer answers a repeated Request (same Identifier)
 * with its last Response, never on a timer of its own. A Success whose S= does not prove the server
 * knows the password is a failure: that server is not the one we trust.
 */
import { checkAuthenticatorResponse, encodeResponseValue, generateNtResponse, parseFailureMessage, parseSuccessMessage, type MsChapV2Failure } from './mschapv2.js'
import { buildChangePassword } from './mschapv2-password.js'
import { chapMd5Response } from './chap.js'
import { decodeChap, decodeEap, decodePap, encodeChap, encodeEap, encodePap } from './codec.js'
import { EapCode, EapType, MSCHAPV2_CHALLENGE_LENGTH, MsChapError, Protocol } from './constants.js'
import { defaultRandom, type RandomSource } from './lcp.js'
import type { AuthPacket } from './auth-server.js'
import type { Method } from '../auth/types.js'

export type AuthClientEvent =
  | { type: 'success'; method: Method; message: string | undefined; passwordChanged?: boolean }
  | { type: 'failure'; method: Method; reason: string; code?: number; message?: string }

export interface AuthClientOptions {
  method: Method
  user: string
  password: string
  random?: RandomSource
  /** Seconds between retransmissions (3). */
  restartTimer?: number
  /** Transmissions of one request or response before giving up (10). */
  maxTransmits?: number
  /** Seconds the whole exchange may take (60). */
  timeout?: number
  /**
   * MS-CHAPv2: the password to change to when the server says ours expired
   * (Failure E=648 with V=3): we answer with Change-Password (RFC 2759 7),
   * and the Success must prove the server knows the new one. Without it
   * E=648 is a failure.
   */
  newPassword?: string
  /** MS-CHAPv2: further Responses (same password, the new C=) when a Failure says R=1 (default 0). */
  retries?: number
}

type Step = 'idle' | 'waiting' | 'responded' | 'succeeded' | 'failed'

export class AuthClient {
  readonly method: Method
  readonly #user: string
  readonly #password: string
  readonly #random: RandomSource
  readonly #restartTimer: number
  readonly #maxTransmits: number
  readonly #timeout: number
  readonly #newPassword: string | undefined
  #retriesLeft: number

  #step: Step = 'idle'
  #identifier = 0
  #last: { identifier: number; challenge: Buffer; packet: Buffer } | undefined
  /** The MS-CHAPv2 answer in flight, and the password it was made with (the new one after a Change-Password). */
  #mschap: { authenticatorChallenge: Buffer; peerChallenge: Buffer; ntResponse: Buffer; password: string; changed: boolean } | undefined
  #transmits = 0
  readonly #nakked: number[] = []
  #retransmitAt: number | undefined
  #deadline: number | undefined
  readonly #transmit: AuthPacket[] = []
  readonly #events: AuthClientEvent[] = []

  constructor(options: AuthClientOptions) {
    this.method = options.method
    this.#user = options.user
    this.#password = options.password
    this.#random = options.random ?? defaultRandom
    this.#restartTimer = options.restartTimer ?? 3
    this.#maxTransmits = options.maxTransmits ?? 10
    this.#timeout = options.timeout ?? 60
    this.#newPassword = options.newPassword
    this.#retriesLeft = options.retries ?? 0
  }

  get protocol(): number {
    return this.method === 'pap' ? Protocol.PAP : this.method === 'eap' ? Protocol.EAP : Protocol.CHAP
  }

  get done(): boolean {
    return this.#step === 'succeeded' || this.#step === 'failed'
  }

  start(now: number): void {
    if (this.#step !== 'idle') return
    this.#deadline = now + this.#timeout
    this.#step = 'waiting'
    if (this.method === 'pap') {
      this.#identifier = this.#random(1)[0]!
      const packet = encodePap({ kind: 'authenticate-request', identifier: this.#identifier, peerId: this.#user, password: this.#password })
      this.#last = { identifier: this.#identifier, challenge: Buffer.alloc(0), packet }
      this.#respond(packet, now)
    }
  }

  #respond(packet: Buffer, now: number): void {
    this.#step = 'responded'
    this.#transmits = 1
    this.#retransmitAt = now + this.#restartTimer
    this.#transmit.push({ protocol: this.protocol, information: packet })
  }

  receive(protocol: number, information: Buffer, now: number): void {
    if (protocol !== this.protocol || this.#step === 'idle') return
    try {
      if (this.method === 'pap') this.#receivePap(information)
      else if (this.method === 'eap') this.#receiveEap(information)
      else this.#receiveChap(information, now)
    } catch {
      // malformed: discarded
    }
  }

  #receivePap(information: Buffer): void {
    const packet = decodePap(information)
    if (this.#step !== 'responded' || packet.identifier !== this.#identifier) return
    if (packet.kind === 'authenticate-ack') this.#finish({ type: 'success', method: 'pap', message: packet.message.toString('utf8') })
    else if (packet.kind === 'authenticate-nak') this.#finish({ type: 'failure', method: 'pap', reason: 'server sent Authenticate-Nak', message: packet.message.toString('utf8') })
  }

  #receiveChap(information: Buffer, now: number): void {
    const packet = decodeChap(information)
    if (packet.kind === 'challenge') {
      if (this.done) return
      const last = this.#last
      if (last && last.identifier === packet.identifier && last.challenge.equals(packet.value)) {
        this.#transmit.push({ protocol: this.protocol, information: last.packet })
        return
      }
      const value = this.#responseValue(packet.identifier, packet.value)
      if (!value) return
      this.#identifier = packet.identifier
      const response = encodeChap({ kind: 'response', identifier: packet.identifier, value, name: this.#user })
      this.#last = { identifier: packet.identifier, challenge: Buffer.from(packet.value), packet: response }
      return this.#respond(response, now)
    }
    if (this.#step !== 'responded' || packet.identifier !== this.#identifier) return
    if (packet.kind === 'success') {
      if (this.method === 'mschapv2') {
        const m = this.#mschap!
        let parsed: { authenticatorResponse: string; message: string | undefined }
        try {
          parsed = parseSuccessMessage(packet.message)
        } catch {
          return this.#finish({ type: 'failure', method: this.method, reason: 'MS-CHAPv2 Success without a valid S= authenticator response' })
        }
        if (!checkAuthenticatorResponse({ password: m.password }, m.ntResponse, m.peerChallenge, m.authenticatorChallenge, this.#user, parsed.authenticatorResponse)) {
          return this.#finish({ type: 'failure', method: this.method, reason: 'MS-CHAPv2 authenticator response is wrong: the server does not know the password' })
        }
        return this.#finish({ type: 'success', method: this.method, message: parsed.message, ...(m.changed ? { passwordChanged: true } : {}) })
      }
      return this.#finish({ type: 'success', method: this.method, message: packet.message.toString('utf8') })
    }
    if (packet.kind === 'failure') {
      if (this.method === 'mschapv2') {
        try {
          const failure = parseFailureMessage(packet.message)
          if (this.#answerFailure(packet.identifier, failure, now)) return
          const expired = failure.error === MsChapError.PASSWD_EXPIRED ? ' (password expired; give a new password to change it)' : ''
          const event: AuthClientEvent = { type: 'failure', method: this.method, reason: `server sent Failure E=${failure.error}${expired}`, code: failure.error }
          if (failure.message !== undefined) event.message = failure.message
          return this.#finish(event)
        } catch {
          // not RFC 2759 text: a plain failure
        }
      }
      this.#finish({ type: 'failure', method: this.method, reason: 'server sent Failure', message: packet.message.toString('utf8') })
    }
  }

  #receiveEap(information: Buffer): void {
    const packet = decodeEap(information)
    if (packet.kind === 'request') {
      if (this.done) return
      const last = this.#last
      // RFC 3748 4.1: a retransmitted Request (same Identifier) gets the same Response.
      if (last && last.identifier === packet.identifier) {
        this.#transmit.push({ protocol: this.protocol, information: last.packet })
        return
      }
      const response = this.#eapResponse(packet.type, packet.identifier, packet.typeData)
      if (!response) return
      const bytes = encodeEap({ kind: 'response', code: EapCode.RESPONSE, identifier: packet.identifier, type: response.type, typeData: response.typeData })
      this.#identifier = packet.identifier
      this.#last = { identifier: packet.identifier, challenge: Buffer.alloc(0), packet: bytes }
      this.#step = 'responded'
      this.#transmit.push({ protocol: this.protocol, information: bytes })
      return
    }
    // RFC 3748 4.2: Success/Failure answer our last Response; before any Response there was no authentication.
    if (this.#step !== 'responded') return
    if (packet.kind === 'success') this.#finish({ type: 'success', method: 'eap', message: undefined })
    else if (packet.kind === 'failure') this.#finish({ type: 'failure', method: 'eap', reason: 'server sent EAP Failure' })
  }

  /** Our answer to a Request of `type` (RFC 3748 5); undefined for a Request we must not answer (a Nak, Type 3). */
  #eapResponse(type: number, identifier: number, typeData: Buffer): { type: number; typeData: Buffer } | undefined {
    switch (type) {
      case EapType.IDENTITY:
        return { type, typeData: Buffer.from(this.#user, 'utf8') }
      case EapType.NOTIFICATION:
        return { type, typeData: Buffer.alloc(0) }
      case EapType.NAK:
        return undefined // 5.3: only a peer sends Nak
      case EapType.MD5_CHALLENGE: {
        const size = typeData[0]
        if (size === undefined || size === 0 || 1 + size > typeData.length) return undefined // malformed: discarded
        const value = chapMd5Response(identifier, this.#password, Buffer.from(typeData.subarray(1, 1 + size)))
        return { type, typeData: Buffer.concat([Buffer.from([value.length]), value, Buffer.from(this.#user, 'utf8')]) }
      }
      default:
        // 5.3.1: a method we do not do gets a legacy Nak naming the one we do.
        this.#nakked.push(type)
        return { type: EapType.NAK, typeData: Buffer.from([EapType.MD5_CHALLENGE]) }
    }
  }

  /** EAP Types the server proposed that we Nak'd, for logs and tests. */
  get eapNakked(): readonly number[] {
    return this.#nakked
  }

  /**
   * RFC 2759 6, 7: a Failure that invites a next step, answered with the
   * Failure's Identifier plus one and its C=: E=648 with a new password
   * (once), or R=1 while retries are left. False: the Failure ends it.
   */
  #answerFailure(identifier: number, failure: MsChapV2Failure, now: number): boolean {
    const challenge = failure.challenge
    if (!challenge || this.#mschap?.changed) return false
    const next = (identifier + 1) & 0xff
    let packet: Buffer
    if (failure.error === MsChapError.PASSWD_EXPIRED && this.#newPassword !== undefined && failure.version === 3) {
      const peerChallenge = Buffer.from(this.#random(MSCHAPV2_CHALLENGE_LENGTH))
      const change = buildChangePassword({ identifier: next, authenticatorChallenge: challenge, peerChallenge, userName: this.#user, oldPassword: this.#password, newPassword: this.#newPassword, filler: Buffer.from(this.#random(516)) })
      const ntResponse = Buffer.from(change.data.subarray(556, 580))
      this.#mschap = { authenticatorChallenge: challenge, peerChallenge, ntResponse, password: this.#newPassword, changed: true }
      packet = encodeChap(change)
    } else if (failure.retry && this.#retriesLeft > 0) {
      this.#retriesLeft--
      packet = encodeChap({ kind: 'response', identifier: next, value: this.#responseValue(next, challenge)!, name: this.#user })
    } else {
      return false
    }
    this.#identifier = next
    this.#last = { identifier: next, challenge: Buffer.from(challenge), packet }
    this.#respond(packet, now)
    return true
  }

  #responseValue(identifier: number, challenge: Buffer): Buffer | undefined {
    if (this.method === 'chap-md5') return chapMd5Response(identifier, this.#password, challenge)
    if (challenge.length !== MSCHAPV2_CHALLENGE_LENGTH) return undefined
    const peerChallenge = Buffer.from(this.#random(MSCHAPV2_CHALLENGE_LENGTH))
    const ntResponse = generateNtResponse(challenge, peerChallenge, this.#user, { password: this.#password })
    this.#mschap = { authenticatorChallenge: Buffer.from(challenge), peerChallenge, ntResponse, password: this.#password, changed: false }
    return encodeResponseValue({ peerChallenge, ntResponse })
  }

  #finish(event: AuthClientEvent): void {
    this.#step = event.type === 'success' ? 'succeeded' : 'failed'
    this.#retransmitAt = undefined
    this.#deadline = undefined
    this.#events.push(event)
  }

  handleTimeout(now: number): void {
    if (this.done || this.#step === 'idle') return
    if (this.#deadline !== undefined && now >= this.#deadline) {
      return this.#finish({ type: 'failure', method: this.method, reason: `no ${this.method} authentication within ${this.#timeout} s` })
    }
    if (this.method !== 'eap' && this.#step === 'responded' && this.#retransmitAt !== undefined && now >= this.#retransmitAt && this.#last) {
      if (this.#transmits >= this.#maxTransmits) return this.#finish({ type: 'failure', method: this.method, reason: `server did not answer ${this.#transmits} ${this.method} packets` })
      this.#transmits++
      this.#retransmitAt = now + this.#restartTimer
      this.#transmit.push({ protocol: this.protocol, information: this.#last.packet })
    }
  }

  pollTimeout(): number | undefined {
    if (this.done || this.#step === 'idle') return undefined
    const times = [this.#deadline, this.#step === 'responded' && this.method !== 'eap' ? this.#retransmitAt : undefined].filter((t): t is number => t !== undefined)
    return times.length ? Math.min(...times) : undefined
  }

  pollTransmit(): AuthPacket | undefined {
    return this.#transmit.shift()
  }

  pollEvent(): AuthClientEvent | undefined {
    return this.#events.shift()
  }
}
