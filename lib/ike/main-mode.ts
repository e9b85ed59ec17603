/**
 * Main Mode (RFC 2409 5, identity protection) with pre-shared keys, as
 * responder and as initiator, and the NAT-T parts of RFC 3947 it carries:
 *
 *   I -> R  HDR, SA [, VID...]                      R_SENT_SA after our reply
 *   R -> I  HDR, SA [, VID...]
 *   I -> R  HDR, KE, Ni [, NAT-D, NAT-D]            R_SENT_KE after our reply
 *   R -> I  HDR, KE, Nr [, NAT-D, NAT-D]
 *   I -> R  HDR*, IDii, HASH_I [, N(INITIAL-CONTACT)]   (on 4500 once NAT is seen)
 *   R -> I  HDR*, IDir, HASH_R                      ESTABLISHED
 */
import { encodePayloadBody, encodePlainMessage, findPayload, payloadsOf, type IsakmpHeader, type Payload, type PayloadInput, type SaPayload } from './codec.js'
import { AuthMethod, ExchangeType, NotifyType, PayloadType, VendorIds, identifyVendorId } from './constants.js'
import type { Context } from './context.js'
import * as crypto from './crypto.js'
import { DhKeyPair, dhGroup } from './dh.js'
import { addressBytes, describeId, idPayload } from './identity.js'
import { IkeSa } from './ike-sa.js'
import { matchPhase1, phase1Offer, phase1Reply } from './proposal.js'
import type { Path } from './types.js'

const NONCE_LENGTH = 32

/** The NAT-T vendor IDs we send as initiator, newest first. */
const NATT_VENDOR_IDS = [VendorIds.NATT_RFC3947, VendorIds.NATT_DRAFT_03, VendorIds.NATT_DRAFT_02N, VendorIds.NATT_DRAFT_02]

function vid(id: Buffer): PayloadInput {
  return { type: PayloadType.VENDOR_ID, data: id }
}

function natTVariant(vendorIds: readonly Buffer[]): 'rfc' | 'draft' | undefined {
  const names = vendorIds.map((v) => identifyVendorId(v))
  if (names.includes(VendorIds.NATT_RFC3947)) return 'rfc'
  if (names.some((n) => n === VendorIds.NATT_DRAFT_02 || n === VendorIds.NATT_DRAFT_02N || n === VendorIds.NATT_DRAFT_03)) return 'draft'
  return undefined
}

function natDType(ike: IkeSa): number {
  return ike.natT.variant === 'draft' ? PayloadType.NAT_D_DRAFT : PayloadType.NAT_D
}

function natDHash(ike: IkeSa, address: string, port: number): Buffer {
  return crypto.natD(ike.hash, ike.ckyI, ike.ckyR, addressBytes(address), port)
}

/**
 * Reads the peer's NAT-D payloads (RFC 3947 3.2): the first hashes our
 * address as the peer addressed it, the rest the peer's own addresses.
 */
function readNatD(ike: IkeSa, payloads: readonly Payload[], path: Path): Buffer | undefined {
  const natds = [...payloadsOf(payloads, PayloadType.NAT_D), ...payloadsOf(payloads, PayloadType.NAT_D_DRAFT)]
  if (!ike.natT.variant || natds.length < 2) return undefined
  const [ours, ...theirs] = natds as [Payload & { data: Buffer }, ...(Payload & { data: Buffer })[]]
  ike.natT.localBehindNat = !ours.data.equals(natDHash(ike, path.local.address, path.local.port))
  const peerHash = natDHash(ike, path.peer.address, path.peer.port)
  ike.natT.peerBehindNat = !theirs.some((p) => p.data.equals(peerHash))
  return ours.data
}

/** Plain (unencrypted) notification for a failed negotiation (RFC 2408 3.14). */
export function notifyPlain(ctx: Context, header: IsakmpHeader, path: Path, notifyType: number): void {
  const ckyR = header.responderCookie.equals(Buffer.alloc(8)) ? ctx.random(8) : header.responderCookie
  const message = encodePlain(header.initiatorCookie, ckyR, ExchangeType.INFORMATIONAL, 0, [
    { type: PayloadType.NOTIFICATION, doi: 1, protocol: 1, spi: Buffer.concat([header.initiatorCookie, ckyR]), notifyType, data: Buffer.alloc(0) },
  ])
  ctx.send({ data: message, to: path.peer, fromPort: path.local.port })
}


function encodePlain(ckyI: Buffer, ckyR: Buffer, exchangeType: number, messageId: number, payloads: readonly PayloadInput[]): Buffer {
  return encodePlainMessage(
    { initiatorCookie: ckyI, responderCookie: ckyR, majorVersion: 1, minorVersion: 0, exchangeType, flags: 0, messageId },
    payloads,
  )
}

function requestKey(datagram: Buffer): string {
  return crypto.digest('sha1', datagram).toString('hex')
}

// ---------------------------------------------------------------- responder

/** Main Mode message 1: choose a transform, make the IKE SA, answer with message 2. */
export function respondToSa(ctx: Context, header: IsakmpHeader, payloads: readonly Payload[], path: Path, datagram: Buffer): IkeSa | undefined {
  const sa = findPayload(payloads, PayloadType.SA)
  if (!sa) {
    notifyPlain(ctx, header, path, NotifyType.PAYLOAD_MALFORMED)
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'message 1 without an SA payload', notify: NotifyType.PAYLOAD_MALFORMED })
    return undefined
  }
  const match = matchPhase1(sa, ctx.config.policy, [AuthMethod.PSK])
  if (!match.ok) {
    notifyPlain(ctx, header, path, match.notify)
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: match.reason, notify: match.notify })
    return undefined
  }
  const ike = new IkeSa('responder', header.initiatorCookie, ctx.random(8), { ...path.peer }, { ...path.local }, ctx.now)
  ike.choice = match.choice
  ike.saiB = sa.raw
  ike.peerVendorIds = payloadsOf(payloads, PayloadType.VENDOR_ID).map((v) => v.data)
  ike.natT.variant = natTVariant(ike.peerVendorIds)
  const reply: PayloadInput[] = [{ type: PayloadType.SA, ...phase1Reply(sa, match.choice) } as PayloadInput]
  if (ike.natT.variant === 'rfc') reply.push(vid(VendorIds.NATT_RFC3947.id))
  else if (ike.natT.variant === 'draft') {
    const theirs = ike.peerVendorIds.map((v) => identifyVendorId(v)).find((n) => n && n.name.startsWith('draft'))
    reply.push(vid(theirs!.id))
  }
  reply.push(vid(VendorIds.DPD.id))
  ike.state = 'R_SENT_SA'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, reply), to: ike.peer, fromPort: ike.localPort }, ike, requestKey(datagram))
  return ike
}

/** Main Mode message 3: our KE and nonce, NAT-D, keys. */
export function respondToKe(ctx: Context, ike: IkeSa, payloads: readonly Payload[], path: Path, datagram: Buffer): boolean {
  const ke = findPayload(payloads, PayloadType.KE)
  const nonce = findPayload(payloads, PayloadType.NONCE)
  const group = dhGroup(ike.choice!.group)!
  if (!ke || !nonce || ke.data.length !== group.publicLength || nonce.data.length < 8 || nonce.data.length > 256) {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'message 3 lacks a valid KE or nonce', notify: NotifyType.PAYLOAD_MALFORMED })
    return false
  }
  ike.gxi = ke.data
  ike.ni = nonce.data
  ike.dh = new DhKeyPair(group)
  ike.gxr = ike.dh.publicKey
  ike.nr = ctx.random(NONCE_LENGTH)
  const theirHashOfUs = readNatD(ike, payloads, path)
  try {
    ike.deriveKeys(ctx.config.psk)
  } catch {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'the peer KE value is invalid', notify: NotifyType.INVALID_KEY_INFORMATION })
    return false
  }
  const reply: PayloadInput[] = [
    { type: PayloadType.KE, data: ike.gxr },
    { type: PayloadType.NONCE, data: ike.nr },
  ]
  if (ike.natT.variant) {
    const type = natDType(ike)
    // First: the peer as we see it. With forced encapsulation it never
    // matches, so the client believes it is behind NAT and uses UDP 4500.
    const forPeer = ctx.config.forceEncapsulation ? crypto.digest(ike.hash, ctx.random(16)) : natDHash(ike, path.peer.address, path.peer.port)
    // Then: us, exactly as the peer computed it, so no client ever sees the
    // server behind NAT (Windows refuses that without a registry change).
    const forUs = theirHashOfUs ?? natDHash(ike, path.local.address, path.local.port)
    reply.push({ type, data: forPeer }, { type, data: forUs })
    if (ctx.config.forceEncapsulation) ike.natT.peerBehindNat = true
  }
  ike.state = 'R_SENT_KE'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, reply), to: ike.peer, fromPort: ike.localPort }, ike, requestKey(datagram))
  return true
}

/** Main Mode message 5: authenticate the peer, answer with our ID and HASH_R. */
export function respondToAuth(ctx: Context, ike: IkeSa, header: IsakmpHeader, body: Buffer, path: Path, datagram: Buffer): { ok: false } | { ok: true; initialContact: boolean } {
  let decrypted
  try {
    decrypted = ike.decryptMessage(header, body)
  } catch {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'message 5 does not decrypt: wrong pre-shared key?' })
    return { ok: false }
  }
  const id = findPayload(decrypted.payloads, PayloadType.ID)
  const hash = findPayload(decrypted.payloads, PayloadType.HASH)
  const expected = id && crypto.hashI(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, id.raw)
  if (!id || !hash || !expected || !crypto.equalConstantTime(expected, hash.data)) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'HASH_I does not match: wrong pre-shared key' })
    return { ok: false }
  }
  decrypted.commit()
  // NAT-T: the client floated to our NAT-T port; follow it (RFC 3947 4).
  ike.peer = { ...path.peer }
  ike.localPort = path.local.port
  ike.peerId = describeId(id)
  const ours = idPayload(ctx.config.localId ?? path.local.address)
  const ourBody = encodePayloadBody(ours)
  const hashR = crypto.hashR(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, ourBody)
  const message = ike.encryptMessage(ExchangeType.MAIN, 0, [ours, { type: PayloadType.HASH, data: hashR }])
  ike.sealPhase1()
  ike.state = 'ESTABLISHED'
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort }, ike, requestKey(datagram))
  ctx.emit({
    type: 'ike-sa-up',
    ikeSa: ike.id,
    peer: ike.peer,
    local: path.local,
    peerId: ike.peerId,
    natDetected: ike.natT.peerBehindNat || ike.natT.localBehindNat,
    suite: describeChoice(ike),
    role: 'responder',
  })
  return { ok: true, initialContact: hasInitialContact(decrypted.payloads) }
}

export function describeChoice(ike: IkeSa): string {
  const c = ike.choice!
  return `${c.encryption}-${c.hash}-group${c.group}`
}

/** Whether the peer asked us to drop its older IKE SAs (RFC 2407 4.6.3.3). */
export function hasInitialContact(payloads: readonly Payload[]): boolean {
  return payloadsOf(payloads, PayloadType.NOTIFICATION).some((n) => n.notifyType === NotifyType.INITIAL_CONTACT)
}

// ---------------------------------------------------------------- initiator

export function initiate(ctx: Context, path: Path, lifetimeSeconds = 28800): IkeSa {
  const ike = new IkeSa('initiator', ctx.random(8), Buffer.alloc(8), { ...path.peer }, { ...path.local }, ctx.now)
  const offer = phase1Offer(ctx.config.policy, AuthMethod.PSK, lifetimeSeconds)
  const sa: PayloadInput = { type: PayloadType.SA, ...offer } as PayloadInput
  ike.saiB = encodePayloadBody(sa)
  ike.natT.variant = 'rfc'
  const payloads: PayloadInput[] = [sa, ...NATT_VENDOR_IDS.map((v) => vid(v.id)), vid(VendorIds.DPD.id)]
  ike.state = 'I_SENT_SA'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, payloads), to: ike.peer, fromPort: ike.localPort }, ike)
  return ike
}

/** Message 2: the responder's choice; send KE and nonce. */
export function initiatorGotSa(ctx: Context, ike: IkeSa, header: IsakmpHeader, payloads: readonly Payload[], path: Path): boolean {
  const sa = findPayload(payloads, PayloadType.SA) as SaPayload | undefined
  const match = sa && sa.proposals.length === 1 && sa.proposals[0]!.transforms.length === 1 ? matchPhase1(sa, ctx.config.policy, [AuthMethod.PSK]) : undefined
  if (!match?.ok) {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'the responder chose nothing we offered', notify: NotifyType.NO_PROPOSAL_CHOSEN })
    return false
  }
  ike.ckyR = header.responderCookie
  ike.choice = match.choice
  ike.peerVendorIds = payloadsOf(payloads, PayloadType.VENDOR_ID).map((v) => v.data)
  ike.natT.variant = natTVariant(ike.peerVendorIds)
  ike.dh = new DhKeyPair(dhGroup(match.choice.group)!)
  ike.gxi = ike.dh.publicKey
  ike.ni = ctx.random(NONCE_LENGTH)
  const out: PayloadInput[] = [
    { type: PayloadType.KE, data: ike.gxi },
    { type: PayloadType.NONCE, data: ike.ni },
  ]
  if (ike.natT.variant) {
    const type = natDType(ike)
    out.push({ type, data: natDHash(ike, ike.peer.address, ike.peer.port) }, { type, data: natDHash(ike, ike.local.address, ike.local.port) })
  }
  ike.state = 'I_SENT_KE'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, out), to: ike.peer, fromPort: ike.localPort }, ike)
  return true
}

/** Message 4: derive keys, float to NAT-T if NAT was seen, send our ID and HASH_I. */
export function initiatorGotKe(ctx: Context, ike: IkeSa, payloads: readonly Payload[], path: Path): boolean {
  const ke = findPayload(payloads, PayloadType.KE)
  const nonce = findPayload(payloads, PayloadType.NONCE)
  if (!ke || !nonce || ke.data.length !== ike.dh!.group.publicLength) {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'message 4 lacks a valid KE or nonce' })
    return false
  }
  ike.gxr = ke.data
  ike.nr = nonce.data
  readNatD(ike, payloads, path)
  try {
    ike.deriveKeys(ctx.config.psk)
  } catch {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'the responder KE value is invalid' })
    return false
  }
  if (ike.natT.localBehindNat || ike.natT.peerBehindNat) {
    ike.localPort = ctx.config.nattPort
    ike.peer = { ...ike.peer, port: ctx.config.nattPort }
  }
  const id = idPayload(ctx.config.localId ?? ike.local.address)
  const hashI = crypto.hashI(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, encodePayloadBody(id))
  const out: PayloadInput[] = [id, { type: PayloadType.HASH, data: hashI }]
  // INITIAL-CONTACT on a first connection only: a rekey must not make the
  // responder drop the SAs still carrying our traffic.
  if (ike.initialContact) {
    out.push({ type: PayloadType.NOTIFICATION, doi: 1, protocol: 1, spi: Buffer.concat([ike.ckyI, ike.ckyR]), notifyType: NotifyType.INITIAL_CONTACT, data: Buffer.alloc(0) })
  }
  const message = ike.encryptMessage(ExchangeType.MAIN, 0, out)
  ike.state = 'I_SENT_AUTH'
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort }, ike)
  return true
}

/** Message 6: check HASH_R; the IKE SA is up. */
export function initiatorGotAuth(ctx: Context, ike: IkeSa, header: IsakmpHeader, body: Buffer, path: Path): boolean {
  let decrypted
  try {
    decrypted = ike.decryptMessage(header, body)
  } catch {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'message 6 does not decrypt: wrong pre-shared key?' })
    return false
  }
  const id = findPayload(decrypted.payloads, PayloadType.ID)
  const hash = findPayload(decrypted.payloads, PayloadType.HASH)
  const expected = id && crypto.hashR(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, id.raw)
  if (!id || !hash || !expected || !crypto.equalConstantTime(expected, hash.data)) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'HASH_R does not match: wrong pre-shared key' })
    return false
  }
  decrypted.commit()
  ike.sealPhase1()
  ike.peerId = describeId(id)
  ike.state = 'ESTABLISHED'
  ike.lastSent = undefined
  ctx.emit({
    type: 'ike-sa-up',
    ikeSa: ike.id,
    peer: ike.peer,
    local: ike.local,
    peerId: ike.peerId,
    natDetected: ike.natT.peerBehindNat || ike.natT.localBehindNat,
    suite: describeChoice(ike),
    role: 'initiator',
  })
  return true
}
