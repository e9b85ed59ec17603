/**
 * One IKEv1 SA (ISAKMP SA): cookies, negotiated suite, Diffie-Hellman and
 * key material, and the CBC IV chains of RFC 2409 appendix B — phase 1 IVs
 * chain over every encrypted Main Mode message; each later exchange starts
 * from hash(last phase-1 block | M-ID) and chains within its message ID.
 */
import { decodePayloadChain, payloadsLength, writeMessageHeader, writePayloads, type IsakmpHeader, type Payload, type PayloadInput } from './codec.js'
import { AuthMethod, ExchangeType, Flag, ISAKMP_HEADER_LENGTH, PayloadType } from './constants.js'
import * as crypto from './crypto.js'
import type { DhKeys } from './dh.js'
import type { Phase1Choice } from './proposal.js'
import type { Endpoint } from './types.js'
import { nextTimerSeq, type Timed } from '../util/deadline-queue.js'
import { ownCopies, ownCopy } from '../util/buffers.js'
import { flatString } from '../util/strings.js'
import type { SpiPairs } from '../util/spi-pairs.js'
import { SharedRecords } from '../util/shared-records.js'
import { VendorIds, identifyVendorId } from './constants.js'

export type MainModeState =
  // responder: sent MM2 awaiting MM3, sent MM4 awaiting MM5
  | 'R_SENT_SA'
  | 'R_SENT_KE'
  // initiator: sent MM1 awaiting MM2, sent MM3 awaiting MM4, sent MM5 awaiting MM6
  | 'I_SENT_SA'
  | 'I_SENT_KE'
  | 'I_SENT_AUTH'
  // Aggressive Mode: responder sent message 2, initiator sent message 1
  | 'R_SENT_AGGR'
  | 'I_SENT_AGGR'
  | 'ESTABLISHED'
  | 'DEAD'

export interface NatTState {
  /** 'rfc' (RFC 3947) or 'draft' (draft-ietf-ipsec-nat-t-ike-02/03), from the vendor IDs. */
  variant?: 'rfc' | 'draft'
  /** We are behind NAT (our address as the peer saw it differs). */
  localBehindNat: boolean
  /** The peer is behind NAT. */
  peerBehindNat: boolean
}

/** What we last sent, to retransmit on a duplicate request or a timeout. */
export interface LastSent {
  data: Buffer
  to: Endpoint
  fromPort: number
  fromAddress?: string
  /** Hash of the request it answered (responder), to recognise duplicates. */
  answers?: string
  tries: number
  nextAt?: number
}

/** Told of every state change: the endpoint keeps its indexes (half-open counts, SAs per identity) and timers by it. */
export interface IkeSaObserver {
  stateChanged(ike: IkeSa): void
}

/** What releasePhase1 keeps of the peer's vendor IDs: none, DPD, fragmentation, both (only asked about with some(), so in a fixed order). */
const KEPT_VENDOR_IDS: readonly (readonly Buffer[])[] = [[], [VendorIds.DPD.id], [VendorIds.FRAGMENTATION.id], [VendorIds.DPD.id, VendorIds.FRAGMENTATION.id]].map((ids) => Object.freeze(ids))

/**
 * What only Phase 1 needs: the hash inputs, the Diffie-Hellman state, the
 * keys and cookies before releasePhase1 packs them, the IV chain of Main
 * Mode, the half-open bookkeeping. One object the SA drops once Phase 1 is
 * over, so that an established SA keeps a small shape: each field of the
 * SA costs 8 B for the SA's whole life (issue #9).
 */
class Phase1Material {
  /** The initiator's SA payload body (SAi_b), which HASH_I/HASH_R cover. */
  saiB: Buffer | undefined = undefined
  /** Aggressive Mode: the initiator's ID payload body (IDii_b), which HASH_I covers. */
  idiB: Buffer | undefined = undefined
  dh: DhKeys | undefined = undefined
  gxi: Buffer | undefined = undefined
  gxr: Buffer | undefined = undefined
  ni: Buffer | undefined = undefined
  nr: Buffer | undefined = undefined
  gxy: Buffer | undefined = undefined
  skeyid: Buffer | undefined = undefined
  skeyidD: Buffer | undefined = undefined
  skeyidA: Buffer | undefined = undefined
  encKey: Buffer | undefined = undefined
  /** IV for the next phase-1 message. */
  p1Iv: Buffer | undefined = undefined
  /** Last CBC block of the final phase-1 message: the seed of phase-2 IVs. */
  p1LastBlock: Buffer | undefined = undefined
  /** The endpoint's: counted half-open from this address. */
  halfOpenSource: string | undefined = undefined
  /** Initiator: send INITIAL-CONTACT (a first connection, not a rekey). */
  initialContact = true

  constructor(
    public ckyI: Buffer | undefined,
    public ckyR: Buffer | undefined,
  ) {}
}

/** What established SAs keep alike: the suite they agreed (without the transform as received), NAT-T findings, our endpoint. */
const SHARED_CHOICES = new SharedRecords<Omit<Phase1Choice, 'transform'> & { transform?: Phase1Choice['transform'] }>()
const SHARED_NAT_T = new SharedRecords<NatTState>()
const SHARED_LOCALS = new SharedRecords<Endpoint>()

const FLAG_TRACKED = 1
const FLAG_REKEY_STARTED = 2
const FLAG_AGGRESSIVE = 4

export class IkeSa implements Timed {
  readonly id: string
  #state: MainModeState
  /** The endpoint holding this SA (set when it remembers it). */
  observer: IkeSaObserver | undefined = undefined
  /** The endpoint's timer queue (lib/util/deadline-queue.ts). */
  timerAt: number | undefined = undefined
  readonly timerSeq = nextTimerSeq()
  /** The endpoint's bookkeeping: indexed as established under this identity. */
  identityKey: string | undefined = undefined
  /** Indexed as established under this identity and outer address and port: a rekey or restart from the same endpoint is found without scanning the identity's SAs. */
  endpointKey: string | undefined = undefined
  /** tracked, rekeyStarted, aggressive (FLAG_*): one field, not three (each field costs 8 B for the SA's life, issue #9). */
  #flags = 0
  /** The Phase 1 choice; its `transform` (the client's, echoed in our reply) goes once the SA is established. */
  choice?: Omit<Phase1Choice, 'transform'> & { transform?: Phase1Choice['transform'] }
  /** Until releasePhase1 (then read from #kept, or absent). */
  #p1: Phase1Material | undefined
  /** IV chain per phase-2/informational message ID; none on an idle SA (an empty Map costs ~0.2 KB). */
  private p2Ivs: Map<number, Buffer> | undefined
  natT: NatTState = { localBehindNat: false, peerBehindNat: false }
  peerVendorIds: readonly Buffer[] = []
  peerId?: string
  lastSent?: LastSent
  /** Initiator: the Main Mode message we last had (requestKey), to drop the responder's repeat of it. */
  lastReceived?: string
  createdAt: number
  lastActivity: number
  /** Ports we use towards the peer: 500 until NAT-T floats to 4500. */
  localPort: number
  /** Dead Peer Detection (RFC 3706): our last sequence number, and the time an R-U-THERE went unanswered since (fields, not a record: issue #9). */
  dpdSeq = 0
  dpdPendingSince: number | undefined = undefined
  /** Initiator: the configured site we called (sites.ts). */
  siteIntent?: string
  /** The configured site this SA authenticated as: only then may its Quick Modes use tunnel mode. */
  site?: string
  /** Its ESP SA pairs, inbound SPI -> outbound SPI (the endpoint's; a field, not an entry per SA in a Map by id: issue #9). */
  children: SpiPairs | undefined = undefined

  /**
   * After releasePhase1: the cookies, the keys and the IV seed in one
   * ArrayBuffer (ckyI, ckyR, the key, SKEYID_d, SKEYID_a, the last Phase 1
   * block, at these ends), each read as a view made when asked: a Buffer
   * object costs ~0.1 KB, and an idle SA kept six, then two (issue #9).
   */
  #kept: ArrayBuffer | undefined = undefined
  /** Where the key, SKEYID_d and SKEYID_a end in #kept, a byte each (all end before 256): one field. */
  #ends = 0

  constructor(
    readonly role: 'initiator' | 'responder',
    ckyI: Buffer,
    ckyR: Buffer,
    public peer: Endpoint,
    public local: Endpoint,
    now: number,
  ) {
    // Kept for the SA's life: copies of their own, not slices of a datagram.
    this.#p1 = new Phase1Material(ownCopy(ckyI), ownCopy(ckyR))
    // Kept for the SA's life and shared by the index and the binding: flat, not a concatenation.
    this.id = saId(ckyI, ckyR)
    this.#state = role === 'initiator' ? 'I_SENT_SA' : 'R_SENT_SA'
    this.createdAt = now
    this.lastActivity = now
    this.localPort = local.port
  }

  /** The Phase 1 material, made again if a field of it is set after releasePhase1 (only an encrypted message of ID 0 to an established SA would: a safe default). */
  #phase1(): Phase1Material {
    return (this.#p1 ??= new Phase1Material(undefined, undefined))
  }

  /** A view of #kept, or undefined before releasePhase1. */
  #keptView(start: number, end: number): Buffer | undefined {
    return this.#kept && Buffer.from(this.#kept, start, end - start)
  }

  get ckyI(): Buffer {
    return this.#p1?.ckyI ?? this.#keptView(0, 8)!
  }

  get ckyR(): Buffer {
    return this.#p1?.ckyR ?? this.#keptView(8, 16)!
  }

  set ckyR(cookie: Buffer) {
    this.#phase1().ckyR = cookie
  }

  get #keyEnd(): number {
    return this.#ends & 0xff
  }

  get #skeyidDEnd(): number {
    return (this.#ends >> 8) & 0xff
  }

  get #skeyidAEnd(): number {
    return this.#ends >> 16
  }

  get encKey(): Buffer | undefined {
    return this.#p1?.encKey ?? this.#keptView(16, this.#keyEnd)
  }

  get skeyidD(): Buffer | undefined {
    return this.#p1?.skeyidD ?? this.#keptView(this.#keyEnd, this.#skeyidDEnd)
  }

  get skeyidA(): Buffer | undefined {
    return this.#p1?.skeyidA ?? this.#keptView(this.#skeyidDEnd, this.#skeyidAEnd)
  }

  /** Held by the endpoint. */
  get tracked(): boolean {
    return (this.#flags & FLAG_TRACKED) !== 0
  }
  set tracked(v: boolean) {
    this.#setFlag(FLAG_TRACKED, v)
  }
  /** Initiator: the Phase 1 rekey before this SA's lifetime ends has begun. */
  get rekeyStarted(): boolean {
    return (this.#flags & FLAG_REKEY_STARTED) !== 0
  }
  set rekeyStarted(v: boolean) {
    this.#setFlag(FLAG_REKEY_STARTED, v)
  }
  /** Set up by Aggressive Mode (its fragments carry that exchange type). */
  get aggressive(): boolean {
    return (this.#flags & FLAG_AGGRESSIVE) !== 0
  }
  set aggressive(v: boolean) {
    this.#setFlag(FLAG_AGGRESSIVE, v)
  }

  #setFlag(flag: number, on: boolean): void {
    this.#flags = on ? this.#flags | flag : this.#flags & ~flag
  }

  /** IV for the next phase-1 message. */
  get #p1Iv(): Buffer | undefined {
    return this.#p1?.p1Iv ?? this.#p1LastBlock
  }

  /** Last CBC block of the final phase-1 message: the seed of phase-2 IVs. */
  get #p1LastBlock(): Buffer | undefined {
    return this.#p1?.p1LastBlock ?? this.#keptView(this.#skeyidAEnd, this.#kept?.byteLength ?? 0)
  }

  // Phase 1 only (Phase1Material): read as undefined once released.
  get saiB(): Buffer | undefined {
    return this.#p1?.saiB
  }
  set saiB(v: Buffer | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().saiB = v
  }
  get idiB(): Buffer | undefined {
    return this.#p1?.idiB
  }
  set idiB(v: Buffer | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().idiB = v
  }
  get dh(): DhKeys | undefined {
    return this.#p1?.dh
  }
  set dh(v: DhKeys | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().dh = v
  }
  get gxi(): Buffer | undefined {
    return this.#p1?.gxi
  }
  set gxi(v: Buffer | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().gxi = v
  }
  get gxr(): Buffer | undefined {
    return this.#p1?.gxr
  }
  set gxr(v: Buffer | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().gxr = v
  }
  get ni(): Buffer | undefined {
    return this.#p1?.ni
  }
  set ni(v: Buffer | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().ni = v
  }
  get nr(): Buffer | undefined {
    return this.#p1?.nr
  }
  set nr(v: Buffer | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().nr = v
  }
  get gxy(): Buffer | undefined {
    return this.#p1?.gxy
  }
  get skeyid(): Buffer | undefined {
    return this.#p1?.skeyid
  }
  get halfOpenSource(): string | undefined {
    return this.#p1?.halfOpenSource
  }
  set halfOpenSource(v: string | undefined) {
    if (v !== undefined || this.#p1) this.#phase1().halfOpenSource = v
  }
  /** Initiator: send INITIAL-CONTACT (a first connection, not a rekey); read in Phase 1 only. */
  get initialContact(): boolean {
    return this.#p1?.initialContact ?? false
  }
  set initialContact(v: boolean) {
    this.#phase1().initialContact = v
  }

  get state(): MainModeState {
    return this.#state
  }

  set state(next: MainModeState) {
    if (next === this.#state) return
    this.#state = next
    this.observer?.stateChanged(this)
  }

  get established(): boolean {
    return this.#state === 'ESTABLISHED'
  }

  get hash(): crypto.HashName {
    return this.choice!.hash
  }

  get cipher(): crypto.CipherName {
    return this.choice!.cipher
  }

  get block(): number {
    return crypto.blockSize(this.cipher)
  }

  /**
   * After both KE payloads and nonces are known: SKEYID and friends, and the
   * first IV. SKEYID depends on the authentication method (RFC 2409 5):
   * prf(PSK, Ni | Nr) for pre-shared keys, prf(Ni | Nr, g^xy) for signatures.
   */
  deriveKeys(psk: Buffer | undefined): void {
    const hash = this.hash
    const p1 = this.#phase1()
    p1.gxy = p1.dh!.computeSecret(this.role === 'responder' ? p1.gxi! : p1.gxr!)
    // Our private value has served: zero it and let it go.
    p1.dh!.destroy()
    p1.dh = undefined
    p1.skeyid = this.choice!.authMethod === AuthMethod.RSA_SIG ? crypto.skeyidSig(hash, p1.ni!, p1.nr!, p1.gxy) : crypto.skeyidPsk(hash, psk ?? Buffer.alloc(0), p1.ni!, p1.nr!)
    const ids = crypto.deriveSkeyids(hash, p1.skeyid, p1.gxy, this.ckyI, this.ckyR)
    p1.skeyidD = ids.d
    p1.skeyidA = ids.a
    p1.encKey = crypto.encryptionKey(hash, ids.e, this.choice!.keyLength)
    // SKEYID_e has served (the key is a copy or an expansion of it); it may share a buffer with SKEYID_d and _a.
    ids.e.fill(0)
    p1.p1Iv = crypto.phase1Iv(hash, p1.gxi!, p1.gxr!, this.block)
  }

  header(exchangeType: number, messageId: number, flags: number): Omit<IsakmpHeader, 'length' | 'nextPayload'> {
    return {
      initiatorCookie: this.ckyI,
      responderCookie: this.ckyR,
      majorVersion: 1,
      minorVersion: 0,
      exchangeType,
      flags,
      messageId,
    }
  }

  private ivFor(messageId: number): Buffer {
    if (messageId === 0) return this.#p1Iv!
    let iv = this.p2Ivs?.get(messageId)
    if (!iv) {
      iv = crypto.phase2Iv(this.hash, this.#p1LastBlock!, messageId, this.block)
      ;(this.p2Ivs ??= new Map()).set(messageId, iv)
    }
    return iv
  }

  private advance(messageId: number, lastBlock: Buffer): void {
    if (messageId === 0) this.#phase1().p1Iv = lastBlock
    else (this.p2Ivs ??= new Map()).set(messageId, lastBlock)
  }

  /**
   * Phase 1 is over (the endpoint calls this once the SA is established
   * and the exchange that did it has returned): what only Phase 1 needed
   * goes, the Diffie-Hellman secret and SKEYID zeroed first. A live SA
   * keeps SKEYID_d and SKEYID_a (Quick Mode), the key and the IV seed, and
   * of the peer's vendor IDs those still asked about (DPD, fragmentation).
   */
  releasePhase1(): void {
    const p1 = this.#p1
    if (p1) {
      p1.gxy?.fill(0)
      p1.skeyid?.fill(0)
      p1.gxy = p1.skeyid = p1.gxi = p1.gxr = p1.ni = p1.nr = p1.saiB = p1.idiB = undefined
    }
    // The received transform (its attribute list) served our reply only: ~0.4 KB a session (issue #9).
    if (this.choice?.transform) this.choice = { ...this.choice, transform: undefined }
    // What stays is copied into one allocation of its own (a pool slice would pin 8 KiB; one ArrayBuffer
    // per field costs ~0.2 KB each besides its bytes), read through views; the keys' old copies are zeroed,
    // and the Phase 1 material goes.
    const { encKey, skeyidD, skeyidA, ckyI, ckyR, p1LastBlock } = p1 ?? {}
    if (p1 && encKey && skeyidD && skeyidA && ckyI && ckyR && p1LastBlock) {
      const copies = ownCopies([ckyI, ckyR, encKey, skeyidD, skeyidA, p1LastBlock])
      const keyEnd = 16 + encKey.length
      const skeyidDEnd = keyEnd + skeyidD.length
      const skeyidAEnd = skeyidDEnd + skeyidA.length
      if (skeyidAEnd > 0xff) throw new Error(`IKE keys of ${skeyidAEnd} bytes`)
      this.#ends = keyEnd | (skeyidDEnd << 8) | (skeyidAEnd << 16)
      this.#kept = copies[0]!.buffer as ArrayBuffer
      for (const key of [encKey, skeyidD, skeyidA]) key.fill(0)
      p1.dh?.destroy()
      this.#p1 = undefined
    } else if (p1) {
      if (p1.encKey) p1.encKey = replaceZeroed(p1.encKey)
      if (p1.p1LastBlock) p1.p1Iv = p1.p1LastBlock = ownCopy(p1.p1LastBlock)
    }
    // Records many SAs hold alike, shared (lib/util/shared-records.ts): ~0.2 KB a session (issue #9).
    if (this.choice) this.choice = SHARED_CHOICES.share(JSON.stringify(this.choice), this.choice)
    this.natT = SHARED_NAT_T.share(`${this.natT.variant}/${this.natT.localBehindNat}/${this.natT.peerBehindNat}`, this.natT)
    this.local = SHARED_LOCALS.share(`${this.local.address}\n${this.local.port}`, this.local)
    // Kept as the shared constants they match (identifyVendorId answers the same): no Buffer of its own per SA,
    // and one of four shared arrays, not an array per SA (a pushed-to one has room for 17: ~0.19 KB, issue #9).
    let dpd = false
    let fragmentation = false
    for (const v of this.peerVendorIds) {
      const known = identifyVendorId(v)
      if (known === VendorIds.DPD) dpd = true
      else if (known === VendorIds.FRAGMENTATION) fragmentation = true
    }
    this.peerVendorIds = KEPT_VENDOR_IDS[(dpd ? 1 : 0) + (fragmentation ? 2 : 0)]!
  }

  /**
   * The endpoint lets the SA go: its keys are zeroed where they lie (the
   * kept memory after Phase 1, the Phase 1 material before), and a
   * Diffie-Hellman private value not yet used. The cookies stay readable.
   */
  destroy(): void {
    if (this.#kept) new Uint8Array(this.#kept, 16).fill(0)
    const p1 = this.#p1
    if (p1) {
      for (const key of [p1.gxy, p1.skeyid, p1.skeyidD, p1.skeyidA, p1.encKey]) key?.fill(0)
      p1.dh?.destroy()
      p1.dh = undefined
    }
  }

  /** Phase 1 is complete: later exchanges seed their IVs from its last block. */
  sealPhase1(): void {
    const p1 = this.#phase1()
    p1.p1LastBlock = p1.p1Iv
  }

  forgetMessageId(messageId: number): void {
    this.p2Ivs?.delete(messageId)
    if (this.p2Ivs?.size === 0) this.p2Ivs = undefined
  }

  /** Encodes and encrypts payloads under this SA's key and the IV chain of `messageId`. */
  encryptMessage(exchangeType: number, messageId: number, payloads: readonly PayloadInput[], extraFlags = 0): Buffer {
    return this.seal(exchangeType, messageId, payloads, undefined, extraFlags)
  }

  /**
   * HASH followed by `payloads`, encrypted under the IV chain of
   * `messageId` (RFC 2409 5.5, 5.7): `computeHash` gets the payloads after
   * HASH exactly as sent, without padding.
   */
  encryptHashed(exchangeType: number, messageId: number, payloads: readonly PayloadInput[], computeHash: (afterHash: Buffer) => Buffer, extraFlags = 0): Buffer {
    return this.seal(exchangeType, messageId, payloads, computeHash, extraFlags)
  }

  /**
   * The whole message in one buffer of its own — header, [HASH,] payloads,
   * zero padding — then encrypted where it lies: no buffer per payload, no
   * concatenation, no copy of the ciphertext (bench/README, IKE responder).
   */
  private seal(exchangeType: number, messageId: number, payloads: readonly PayloadInput[], computeHash: ((afterHash: Buffer) => Buffer) | undefined, extraFlags: number): Buffer {
    const block = this.block
    const hashLength = computeHash ? crypto.hashLength(this.hash) : 0
    const head = computeHash ? 4 + hashLength : 0
    const plain = head + payloadsLength(payloads)
    // RFC 2408 3.5: zero octets pad to a whole number of blocks; an empty body is one block.
    const padded = plain === 0 ? block : Math.ceil(plain / block) * block
    const out = Buffer.allocUnsafeSlow(ISAKMP_HEADER_LENGTH + padded)
    const firstPayload = payloads[0]?.type ?? PayloadType.NONE
    writeMessageHeader(this.header(exchangeType, messageId, Flag.ENCRYPTION | extraFlags), computeHash ? PayloadType.HASH : firstPayload, out)
    const start = ISAKMP_HEADER_LENGTH + head
    const end = writePayloads(payloads, out, start)
    if (computeHash) {
      const hash = computeHash(out.subarray(start, end))
      if (hash.length !== hashLength) throw new Error(`a ${hash.length}-byte HASH where ${hashLength} bytes were expected`)
      out[ISAKMP_HEADER_LENGTH] = firstPayload
      out[ISAKMP_HEADER_LENGTH + 1] = 0
      out.writeUInt16BE(head, ISAKMP_HEADER_LENGTH + 2)
      hash.copy(out, ISAKMP_HEADER_LENGTH + 4)
    }
    out.fill(0, end)
    this.advance(messageId, crypto.encryptInPlace(this.cipher, this.encKey!, this.ivFor(messageId), out.subarray(ISAKMP_HEADER_LENGTH)))
    return out
  }

  /**
   * Decrypts a message body and decodes its payloads. Returns also the
   * plaintext and where the payload chain ends, for the hashes. The IV
   * chain advances only if `commit` is called (a forged message must not
   * move it).
   */
  decryptMessage(header: IsakmpHeader, ciphertext: Buffer): { payloads: Payload[]; plaintext: Buffer; end: number; commit: () => void } {
    const { plaintext, lastBlock } = crypto.decrypt(this.cipher, this.encKey!, this.ivFor(header.messageId), ciphertext)
    // The plaintext is a new buffer of this message's alone: its payloads view it, no copy each.
    const { payloads, end } = decodePayloadChain(header.nextPayload, plaintext, 0, false)
    return { payloads, plaintext, end, commit: () => this.advance(header.messageId, lastBlock) }
  }
}

/** The cookies in hex with a colon between: an SA's id, and the endpoint's key for an SA (a responder's key is its id). */
export function cookiesKey(ckyI: Buffer, ckyR: Buffer): string {
  return `${ckyI.toString('hex')}:${ckyR.toString('hex')}`
}

/** An SA's id (cookiesKey), kept for the SA's life: flat, not a concatenation. */
export function saId(ckyI: Buffer, ckyR: Buffer): string {
  return flatString(cookiesKey(ckyI, ckyR))
}

function replaceZeroed(key: Buffer): Buffer {
  const copy = ownCopy(key)
  key.fill(0)
  return copy
}

/** The exchange types this core answers. */
export const HANDLED_EXCHANGES: ReadonlySet<number> = new Set([ExchangeType.MAIN, ExchangeType.QUICK, ExchangeType.INFORMATIONAL])
