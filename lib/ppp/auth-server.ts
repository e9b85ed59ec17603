/**
 * The authenticator's side of PPP authentication (RFC 1661 3.5), started by
 * the link once LCP is Opened in both directions (iOS discards anything
 * else, SoftEtherVPN#1102): PAP (RFC 1334 2), CHAP-MD5 (RFC 1994 4),
 * MS-CHAPv2 (RFC 2759 4-6) and EAP relayed to an external server
 * (RFC 3748, RFC 3579 pass-through).
 *
 * Sans-IO and synchronous: credentials are never checked here. A peer's
 * answer becomes an `auth-request` event carrying the `AuthRequest` of
 * lib/auth/types.ts and an id; the owner awaits its Authenticator and calls
 * `authResult(id, result, now)`. Until then duplicates of the answer are
 * ignored; a result for an id that is no longer awaited is dropped.
 *
 *   method     we send first          the peer answers           we answer
 *   PAP        nothing (we wait)      Authenticate-Request       Ack / Nak
 *   CHAP-MD5   Challenge (16 random)  Response (16-byte MD5)     Success / Failure
 *   MS-CHAPv2  Challenge (16 random)  Response (49 bytes)        Success "S=... M=..." /
 *                                                                Failure "E=691 R=r C=... V=3 M=..."
 *   EAP        Request/Identity       Response                   the authenticator's next Request,
 *                                                                then Success / Failure
 *
 * Retransmission: a Challenge (or EAP Request) unanswered for `restartTimer`
 * seconds is sent again, the same packet with the same Identifier, up to
 * `maxTransmits` times; the whole exchange has `timeout` seconds. After a
 * Success a repeated Response/Request with the same Identifier gets the same
 * Success again (RFC 1994 4.1: "the authenticator MUST allow repeated
 * Response packets ... after it has sent a Success packet"; RFC 1334 2.2.1).
 *
 * MS-CHAPv2 retry: when the Authenticator's failure allows it
 * (`AuthFailure.retry`, which LocalUsersAuthenticator never sets) and fewer
 * than `maxAttempts` attempts were made, the Failure carries R=1 and a new
 * challenge C=, and a Response whose Identifier is the Failure's plus one
 * (RFC 2759 6) starts the next attempt.
 *
 * MS-CHAPv2 password change: a failure with code 648 (password expired,
 * given only after the old credentials matched) is sent as "E=648 R=0 C=...
 * V=3" and, within `maxAttempts`, we wait for a Change-Password (code 7,
 * RFC 2759 7) with the Failure's Identifier plus one. It has no Name field:
 * the user is the one of the Response. It goes to the Authenticator as an
 * `mschapv2` request with `changePassword` set and `authenticatorChallenge`
 * = the C= we sent; its Success carries the S= of the new password.
 */
import type { AuthFailure, AuthRequest, AuthResult, AuthSuccess, Method, PeerInfo } from '../auth/types.js'
import { GENERIC_FAILURE_MESSAGE } from '../auth/types.js'
import { decodeChap, decodeEap, decodePap, decodeRawPacket, encodeChap, encodeEap, encodePap } from './codec.js'
import { ChapCode, EapCode, MSCHAPV2_CHALLENGE_LENGTH, MSCHAPV2_RESPONSE_LENGTH, MsChapError, Protocol } from './constants.js'
import { defaultRandom, type RandomSource } from './lcp.js'
import { decodeChangePassword, decodeResponseValue, formatFailureMessage, formatSuccessMessage } from './mschapv2.js'
import type { OtherCodePacket } from './codec.js'
import { owned } from '../util/owned.js'

/** A packet of an authentication protocol, to be framed by the link. */
export interface AuthPacket {
  protocol: number
  information: Buffer
}

/** Why the exchange ended without success, for logs (`reason`) and the LCP Terminate-Request. */
export type AuthServerEvent =
  | { type: 'auth-request'; id: number; request: AuthRequest }
  | { type: 'success'; method: Method; result: AuthSuccess }
  | { type: 'failure'; method: Method; user: string | undefined; reason: string; failure?: AuthFailure; final: boolean }

export interface AuthServerOptions {
  method: Method
  peer: PeerInfo
  /** The Name field of our CHAP Challenges (default 'l2tp-ipsec'). */
  name?: string
  random?: RandomSource
  /** Seconds between retransmissions of a Challenge (3, as pppd's chap-restart). */
  restartTimer?: number
  /** Challenges sent before giving up (10, as pppd's chap-max-challenge). */
  maxTransmits?: number
  /** Seconds the whole exchange may take, the Authenticator's time included (60). */
  timeout?: number
  /** MS-CHAPv2 attempts when the Authenticator allows retries (3). */
  maxAttempts?: number
  /** Ids of `auth-request` events, unique for the link (the link passes its counter). */
  newRequestId: () => number
}

type Step = 'idle' | 'waiting' | 'pending' | 'succeeded' | 'failed'

const CHALLENGE_LENGTH = 16

export class AuthServer {
  readonly method: Method
  readonly #peer: PeerInfo
  readonly #name: string
  readonly #random: RandomSource
  readonly #restartTimer: number
  readonly #maxTransmits: number
  readonly #timeout: number
  readonly #maxAttempts: number
  readonly #newRequestId: () => number

  #step: Step = 'idle'
  /** The Identifier the peer's next answer must carry. */
  #identifier: number
  #challenge: Buffer = Buffer.alloc(0)
  /** What we retransmit while waiting (Challenge, EAP Request, Failure with R=1). */
  #outstanding: Buffer | undefined
  #transmits = 0
  #retransmitAt: number | undefined
  #deadline: number | undefined
  #pendingId: number | undefined
  #pendingIdentifier = 0
  #pendingUser: string | undefined
  /** Our Success (and the Identifier it answered), sent again to a repeated answer. */
  #final: { identifier: number; packet: Buffer } | undefined
  #attempts = 0
  /** After E=648: only a Change-Password continues, for this user. */
  #awaitingChange: { user: string } | undefined
  #eapState: Buffer | undefined
  #eapIdentity: string | undefined
  readonly #transmit: AuthPacket[] = []
  readonly #events: AuthServerEvent[] = []

  constructor(options: AuthServerOptions) {
    this.method = options.method
    this.#peer = options.peer
    this.#name = options.name ?? 'l2tp-ipsec'
    this.#random = options.random ?? defaultRandom
    this.#restartTimer = options.restartTimer ?? 3
    this.#maxTransmits = options.maxTransmits ?? 10
    this.#timeout = options.timeout ?? 60
    this.#maxAttempts = options.maxAttempts ?? 3
    this.#newRequestId = options.newRequestId
    this.#identifier = this.#random(1)[0]!
  }

  get protocol(): number {
    return this.method === 'pap' ? Protocol.PAP : this.method === 'eap' ? Protocol.EAP : Protocol.CHAP
  }

  get done(): boolean {
    return this.#step === 'succeeded' || this.#step === 'failed'
  }

  get succeeded(): boolean {
    return this.#step === 'succeeded'
  }

  /** The auth-request id awaiting `authResult`, if any. */
  get pendingId(): number | undefined {
    return this.#pendingId
  }

  start(now: number): void {
    if (this.#step !== 'idle') return
    this.#deadline = now + this.#timeout
    this.#step = 'waiting'
    switch (this.method) {
      case 'pap':
        return // the peer speaks first (RFC 1334 2.1)
      case 'chap-md5':
      case 'mschapv2':
        return this.#sendChallenge(now)
      case 'eap':
        // RFC 3748 5.1: the authenticator opens with Request/Identity.
        return this.#sendOutstanding(encodeEap({ kind: 'request', code: EapCode.REQUEST, identifier: this.#identifier, type: 1, typeData: Buffer.alloc(0) }), now)
    }
  }

  #sendChallenge(now: number): void {
    this.#challenge = Buffer.from(this.#random(CHALLENGE_LENGTH))
    this.#sendOutstanding(encodeChap({ kind: 'challenge', identifier: this.#identifier, value: this.#challenge, name: this.#name }), now)
  }

  #sendOutstanding(packet: Buffer, now: number): void {
    this.#outstanding = packet
    this.#transmits = 1
    this.#retransmitAt = now + this.#restartTimer
    this.#send(packet)
  }

  #send(information: Buffer): void {
    this.#transmit.push({ protocol: this.protocol, information })
  }

  /** A packet of our method's protocol from the peer; others are ignored. */
  receive(protocol: number, information: Buffer, now: number): void {
    if (protocol !== this.protocol || this.#step === 'idle') return
    try {
      switch (this.method) {
        case 'pap': return this.#receivePap(information, now)
        case 'chap-md5':
        case 'mschapv2': return this.#receiveChap(information, now)
        case 'eap': return this.#receiveEap(information, now)
      }
    } catch {
      // malformed: RFC 1661 5 "silently discarded"
    }
  }

  #repeatFinal(identifier: number): boolean {
    if (this.#step === 'succeeded' && this.#final && this.#final.identifier === identifier) this.#send(this.#final.packet)
    return this.#step !== 'waiting'
  }

  #receivePap(information: Buffer, _now: number): void {
    const packet = decodePap(information)
    if (packet.kind !== 'authenticate-request') return
    if (this.#repeatFinal(packet.identifier)) return
    const user = packet.peerId.toString('utf8')
    this.#ask(packet.identifier, user, { method: 'pap', user, password: packet.password.toString('utf8'), peer: this.#peer })
  }

  #receiveChap(information: Buffer, _now: number): void {
    const packet = decodeChap(information)
    if (packet.kind === 'other') return this.#receiveChangePassword(packet)
    if (packet.kind !== 'response') return
    if (this.#repeatFinal(packet.identifier)) return
    if (packet.identifier !== this.#identifier || this.#awaitingChange) return
    const user = packet.name.toString('utf8')
    // A value of the wrong size is malformed: discarded (RFC 1661 5), the Challenge goes on being retransmitted.
    if (this.method === 'chap-md5') {
      if (packet.value.length !== 16) return
      return this.#ask(packet.identifier, user, { method: 'chap-md5', user, identifier: packet.identifier, challenge: this.#challenge, response: packet.value, peer: this.#peer })
    }
    if (packet.value.length !== MSCHAPV2_RESPONSE_LENGTH) return
    const value = decodeResponseValue(packet.value)
    this.#ask(packet.identifier, user, {
      method: 'mschapv2',
      user,
      authenticatorChallenge: this.#challenge,
      peerChallenge: value.peerChallenge,
      ntResponse: value.ntResponse,
      peer: this.#peer,
    })
  }

  /** RFC 2759 7: the answer to our E=648 Failure. A malformed one throws (discarded by `receive`). */
  #receiveChangePassword(packet: OtherCodePacket): void {
    if (this.method !== 'mschapv2' || packet.code !== ChapCode.CHANGE_PASSWORD) return
    if (this.#repeatFinal(packet.identifier)) return
    const awaiting = this.#awaitingChange
    if (!awaiting || packet.identifier !== this.#identifier) return
    const change = decodeChangePassword(packet)
    this.#awaitingChange = undefined
    this.#ask(packet.identifier, awaiting.user, {
      method: 'mschapv2',
      user: awaiting.user,
      authenticatorChallenge: this.#challenge,
      peerChallenge: change.peerChallenge,
      ntResponse: change.ntResponse,
      changePassword: { identifier: packet.identifier, encryptedPassword: change.encryptedPassword, encryptedHash: change.encryptedHash },
      peer: this.#peer,
    })
  }

  #receiveEap(information: Buffer, _now: number): void {
    const packet = decodeEap(information)
    if (packet.kind !== 'response') return
    if (this.#repeatFinal(packet.identifier)) return
    if (packet.identifier !== this.#identifier) return
    if (packet.type === 1) this.#eapIdentity = packet.typeData.toString('utf8')
    const { data } = decodeRawPacket(information, Protocol.EAP)
    const eapMessage = Buffer.from(information.subarray(0, 4 + data.length))
    const request: AuthRequest = { method: 'eap', eapMessage, peer: this.#peer }
    if (this.#eapIdentity !== undefined) request.user = this.#eapIdentity
    if (this.#eapState) request.state = this.#eapState
    this.#ask(packet.identifier, this.#eapIdentity, request)
  }

  #ask(identifier: number, user: string | undefined, request: AuthRequest): void {
    this.#step = 'pending'
    this.#retransmitAt = undefined
    this.#pendingId = this.#newRequestId()
    this.#pendingIdentifier = identifier
    this.#pendingUser = user
    this.#events.push({ type: 'auth-request', id: this.#pendingId, request })
  }

  /** The Authenticator's answer to `auth-request` `id`. False when that request is no longer awaited. */
  authResult(id: number, result: AuthResult, now: number): boolean {
    if (this.#step !== 'pending' || id !== this.#pendingId) return false
    this.#pendingId = undefined
    const identifier = this.#pendingIdentifier
    if ('challenge' in result) {
      if (this.method !== 'eap' || result.eapMessage.length < 4) {
        this.#fail(now, this.#pendingUser, 'authenticator sent an EAP challenge for a method that is not EAP')
        return true
      }
      // RFC 3579 2.1: the EAP packet from the server goes to the peer unchanged.
      this.#eapState = result.state
      this.#identifier = result.eapMessage[1]!
      this.#step = 'waiting'
      this.#sendOutstanding(Buffer.from(result.eapMessage), now)
      return true
    }
    if (result.ok) this.#succeed(identifier, result, now)
    else this.#reject(identifier, result, now)
    return true
  }

  #succeed(identifier: number, result: AuthSuccess, now: number): void {
    let packet: Buffer
    switch (this.method) {
      case 'pap':
        packet = encodePap({ kind: 'authenticate-ack', identifier, message: result.message ?? 'Login ok' })
        break
      case 'chap-md5':
        packet = encodeChap({ kind: 'success', identifier, message: result.message ?? 'Access granted' })
        break
      case 'mschapv2':
        if (result.authenticatorResponse === undefined || !/^S=[0-9A-F]{40}$/.test(result.authenticatorResponse)) {
          // Windows and pppd drop a Success without a valid S=: fail here, clearly.
          return this.#reject(identifier, { ok: false, reason: 'internal-error', detail: 'MS-CHAPv2 success without an authenticator response' }, now)
        }
        packet = encodeChap({ kind: 'success', identifier, message: formatSuccessMessage(result.authenticatorResponse, result.message ?? 'Access granted') })
        break
      case 'eap':
        packet = encodeEap({ kind: 'success', code: EapCode.SUCCESS, identifier, data: Buffer.alloc(0) })
        break
    }
    this.#step = 'succeeded'
    // Kept for a repeated Response while the link lives: its own memory, not a pooled slab's; the challenge has served.
    this.#final = { identifier, packet: owned(packet) }
    this.#challenge = Buffer.alloc(0)
    this.#outstanding = undefined
    this.#retransmitAt = undefined
    this.#deadline = undefined
    this.#send(packet)
    this.#events.push({ type: 'success', method: this.method, result })
  }

  #reject(identifier: number, result: AuthFailure, now: number): void {
    const message = result.message ?? GENERIC_FAILURE_MESSAGE
    const reason = `${result.reason}${result.detail ? `: ${result.detail}` : ''}`
    const user = this.#pendingUser
    this.#attempts++
    if (this.method === 'mschapv2') {
      const expired = result.code === MsChapError.PASSWD_EXPIRED && user !== undefined && this.#attempts < this.#maxAttempts
      const retry = !expired && result.retry === true && this.#attempts < this.#maxAttempts
      const challenge = Buffer.from(this.#random(MSCHAPV2_CHALLENGE_LENGTH))
      const text = formatFailureMessage({ error: result.code ?? MsChapError.AUTHENTICATION_FAILURE, retry, challenge, version: 3, message })
      const packet = encodeChap({ kind: 'failure', identifier, message: text })
      if (retry || expired) {
        // RFC 2759 6, 7: the next Response (or the Change-Password) answers C= and carries the Failure's Identifier plus one.
        this.#challenge = challenge
        this.#identifier = (identifier + 1) & 0xff
        this.#step = 'waiting'
        this.#awaitingChange = expired ? { user: user! } : undefined
        this.#sendOutstanding(packet, now)
        this.#events.push({ type: 'failure', method: this.method, user, reason, failure: result, final: false })
        return
      }
      this.#send(packet)
    } else if (this.method === 'pap') {
      this.#send(encodePap({ kind: 'authenticate-nak', identifier, message }))
    } else if (this.method === 'chap-md5') {
      this.#send(encodeChap({ kind: 'failure', identifier, message }))
    } else {
      this.#send(encodeEap({ kind: 'failure', code: EapCode.FAILURE, identifier, data: Buffer.alloc(0) }))
    }
    this.#finishFailed(user, reason, result)
  }

  /** A failure of ours (a timeout): the peer, if it answered, is told it failed; no Authenticator result is involved. */
  #fail(_now: number, user: string | undefined, reason: string): void {
    if (this.#step === 'pending') {
      const identifier = this.#pendingIdentifier
      if (this.method === 'pap') this.#send(encodePap({ kind: 'authenticate-nak', identifier, message: GENERIC_FAILURE_MESSAGE }))
      else if (this.method === 'chap-md5') this.#send(encodeChap({ kind: 'failure', identifier, message: GENERIC_FAILURE_MESSAGE }))
      else if (this.method === 'mschapv2') {
        this.#send(encodeChap({ kind: 'failure', identifier, message: formatFailureMessage({ error: MsChapError.AUTHENTICATION_FAILURE, retry: false, challenge: Buffer.from(this.#random(MSCHAPV2_CHALLENGE_LENGTH)), version: 3, message: GENERIC_FAILURE_MESSAGE }) }))
      } else this.#send(encodeEap({ kind: 'failure', code: EapCode.FAILURE, identifier, data: Buffer.alloc(0) }))
    }
    this.#finishFailed(user, reason, undefined)
  }

  #finishFailed(user: string | undefined, reason: string, failure: AuthFailure | undefined): void {
    this.#step = 'failed'
    this.#pendingId = undefined
    this.#outstanding = undefined
    this.#retransmitAt = undefined
    this.#deadline = undefined
    this.#events.push(failure ? { type: 'failure', method: this.method, user, reason, failure, final: true } : { type: 'failure', method: this.method, user, reason, final: true })
  }

  handleTimeout(now: number): void {
    if (this.done || this.#step === 'idle') return
    if (this.#deadline !== undefined && now >= this.#deadline) {
      return this.#fail(now, this.#pendingUser, `no ${this.method} authentication within ${this.#timeout} s`)
    }
    if (this.#step === 'waiting' && this.#retransmitAt !== undefined && now >= this.#retransmitAt && this.#outstanding) {
      if (this.#transmits >= this.#maxTransmits) return this.#fail(now, this.#pendingUser, `peer did not answer ${this.#transmits} ${this.method} challenges`)
      this.#transmits++
      this.#retransmitAt = now + this.#restartTimer
      this.#send(this.#outstanding)
    }
  }

  pollTimeout(): number | undefined {
    if (this.done || this.#step === 'idle') return undefined
    const times = [this.#deadline, this.#step === 'waiting' ? this.#retransmitAt : undefined].filter((t): t is number => t !== undefined)
    return times.length ? Math.min(...times) : undefined
  }

  pollTransmit(): AuthPacket | undefined {
    return this.#transmit.shift()
  }

  pollEvent(): AuthServerEvent | undefined {
    return this.#events.shift()
  }
}
