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
import { encodePayloadBody, findPayload, payloadsOf, type IsakmpHeader, type Payload, type PayloadInput, type SaPayload } from './codec.js'
import { AuthMethod, ExchangeType, NotifyType, PayloadType, VendorIds } from './constants.js'
import type { Context } from './context.js'
import * as crypto from './crypto.js'
import { DhKeyPair, dhGroup } from './dh.js'
import { describeId } from './identity.js'
import { IkeSa } from './ike-sa.js'
import {
  NATT_VENDOR_IDS,
  NONCE_LENGTH,
  emitIkeSaUp,
  encodePlain,
  fragmentationVendorReply,
  hasInitialContact,
  initiatorNatD,
  natTVariant,
  natTVendorReply,
  notifyPlain,
  readNatD,
  requestKey,
  responderNatD,
  vid,
} from './phase1.js'
import { authMethods, certificateRequests, offeredAuthMethod, ourAuthentication, usesSignatures, verifyPeer } from './auth.js'
import { authMethodsFor, authenticatedSite, policyFor, pskFor, siteByAddress, siteByName } from './sites.js'
import { matchPhase1, phase1Offer, phase1Reply } from './proposal.js'
import type { Path } from './types.js'

export { notifyPlain } from './phase1.js'

// ---------------------------------------------------------------- responder

/** Main Mode message 1: choose a transform, make the IKE SA, answer with message 2. */
export function respondToSa(ctx: Context, header: IsakmpHeader, payloads: readonly Payload[], path: Path, datagram: Buffer): IkeSa | undefined {
  const sa = findPayload(payloads, PayloadType.SA)
  if (!sa) {
    notifyPlain(ctx, header, path, NotifyType.PAYLOAD_MALFORMED)
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'message 1 without an SA payload', notify: NotifyType.PAYLOAD_MALFORMED })
    return undefined
  }
  // A PSK site's address negotiates with that site's proposals and key only.
  const site = siteByAddress(ctx.config, path.peer.address)
  const match = matchPhase1(sa, site?.policy ?? ctx.config.policy, authMethodsFor(ctx.config, path.peer.address, authMethods(ctx.config)))
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
  const reply: PayloadInput[] = [{ type: PayloadType.SA, ...phase1Reply(sa, match.choice) } as PayloadInput, ...natTVendorReply(ike), vid(VendorIds.DPD.id), ...fragmentationVendorReply(ike)]
  ike.state = 'R_SENT_SA'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, reply), to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike, requestKey(datagram))
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
  const natD = readNatD(ike, payloads, path)
  try {
    ike.deriveKeys(pskFor(ctx.config, ike))
  } catch {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'the peer KE value is invalid', notify: NotifyType.INVALID_KEY_INFORMATION })
    return false
  }
  const reply: PayloadInput[] = [
    { type: PayloadType.KE, data: ike.gxr },
    { type: PayloadType.NONCE, data: ike.nr },
  ]
  reply.push(...certificateRequests(ctx, ike), ...responderNatD(ctx, ike, path, natD))
  ike.state = 'R_SENT_KE'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, reply), to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike, requestKey(datagram))
  return true
}

/** Main Mode message 5: authenticate the peer, answer with our ID and HASH_R. */
export function respondToAuth(ctx: Context, ike: IkeSa, header: IsakmpHeader, body: Buffer, path: Path, datagram: Buffer): { ok: false; limited?: string } | { ok: true; initialContact: boolean } {
  let decrypted
  try {
    decrypted = ike.decryptMessage(header, body)
  } catch {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'message 5 does not decrypt: wrong pre-shared key?' })
    return { ok: false }
  }
  const hashI = (idBody: Buffer) => crypto.hashI(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, idBody)
  const verdict = verifyPeer(ctx, ike, decrypted.payloads, hashI)
  if (!verdict.ok) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: `Main Mode message 5: ${verdict.reason}` })
    return { ok: false }
  }
  const id = verdict.id
  const site = authenticatedSite(ctx.config, ike, id, usesSignatures(ike))
  if (!site.ok) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: `Main Mode message 5: ${site.reason}` })
    return { ok: false }
  }
  ike.site = site.site
  decrypted.commit()
  // NAT-T: the client floated to our NAT-T port; follow it (RFC 3947 4).
  ike.peer = { ...path.peer }
  ike.localPort = path.local.port
  ike.peerId = describeId(id)
  const refused = ctx.admitPeer?.(ike)
  if (refused) {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: refused })
    return { ok: false, limited: refused }
  }
  const hashR = (idBody: Buffer) => crypto.hashR(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, idBody)
  const message = ike.encryptMessage(ExchangeType.MAIN, 0, ourAuthentication(ctx, ike, path.local.address, hashR))
  ike.sealPhase1()
  ike.state = 'ESTABLISHED'
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike, requestKey(datagram))
  emitIkeSaUp(ctx, ike, path.local)
  return { ok: true, initialContact: hasInitialContact(decrypted.payloads) }
}

// ---------------------------------------------------------------- initiator

export function initiate(ctx: Context, path: Path, lifetimeSeconds = 28800, site?: string): IkeSa {
  const ike = new IkeSa('initiator', ctx.random(8), Buffer.alloc(8), { ...path.peer }, { ...path.local }, ctx.now)
  ike.siteIntent = site
  const called = siteByName(ctx.config, site)
  const method = called ? (called.psk ? AuthMethod.PSK : AuthMethod.RSA_SIG) : offeredAuthMethod(ctx.config)
  const offer = phase1Offer(policyFor(ctx.config, ike), method, lifetimeSeconds)
  const sa: PayloadInput = { type: PayloadType.SA, ...offer } as PayloadInput
  ike.saiB = encodePayloadBody(sa)
  ike.natT.variant = 'rfc'
  const payloads: PayloadInput[] = [sa, ...NATT_VENDOR_IDS.map((v) => vid(v.id)), vid(VendorIds.DPD.id), vid(VendorIds.FRAGMENTATION.id)]
  ike.state = 'I_SENT_SA'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, payloads), to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike)
  return ike
}

/** Message 2: the responder's choice; send KE and nonce. */
export function initiatorGotSa(ctx: Context, ike: IkeSa, header: IsakmpHeader, payloads: readonly Payload[], path: Path): boolean {
  const sa = findPayload(payloads, PayloadType.SA) as SaPayload | undefined
  const called = siteByName(ctx.config, ike.siteIntent)
  const methods = called ? [called.psk ? AuthMethod.PSK : AuthMethod.RSA_SIG] : authMethods(ctx.config)
  const match = sa && sa.proposals.length === 1 && sa.proposals[0]!.transforms.length === 1 ? matchPhase1(sa, policyFor(ctx.config, ike), methods) : undefined
  if (!match?.ok) {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'the responder chose nothing we offered', notify: NotifyType.NO_PROPOSAL_CHOSEN })
    return false
  }
  ike.ckyR = header.responderCookie
  ike.choice = match.choice
  ike.peerVendorIds = payloadsOf(payloads, PayloadType.VENDOR_ID).map((v) => v.data)
  ike.natT.variant = natTVariant(ike.peerVendorIds)
  const group = dhGroup(match.choice.group)!
  ike.dh = ctx.initiatorKeyPair?.(group) ?? new DhKeyPair(group)
  ike.gxi = ike.dh.publicKey
  ike.ni = ctx.random(NONCE_LENGTH)
  const out: PayloadInput[] = [
    { type: PayloadType.KE, data: ike.gxi },
    { type: PayloadType.NONCE, data: ike.ni },
  ]
  out.push(...certificateRequests(ctx, ike), ...initiatorNatD(ike, ctx.random))
  ike.state = 'I_SENT_KE'
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.MAIN, 0, out), to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike)
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
  // Calling a site we told the responder we are behind NAT (initiatorNatD): act on it.
  if (ike.siteIntent !== undefined && ike.natT.variant) ike.natT.localBehindNat = true
  try {
    ike.deriveKeys(pskFor(ctx.config, ike))
  } catch {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'the responder KE value is invalid' })
    return false
  }
  if (ike.natT.localBehindNat || ike.natT.peerBehindNat) {
    ike.localPort = ctx.config.nattPort
    ike.peer = { ...ike.peer, port: ctx.config.peerNattPort }
  }
  // Bound to 0.0.0.0 we learn our address from message 4's destination (IP_PKTINFO): our default ID is then not 0.0.0.0.
  if ((ike.local.address === '0.0.0.0' || ike.local.address === '::') && path.local.address !== ike.local.address) ike.local = { ...ike.local, address: path.local.address }
  const hashI = (idBody: Buffer) => crypto.hashI(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, idBody)
  const out: PayloadInput[] = ourAuthentication(ctx, ike, ike.local.address, hashI)
  // INITIAL-CONTACT on a first connection only: a rekey must not make the
  // responder drop the SAs still carrying our traffic.
  if (ike.initialContact) {
    out.push({ type: PayloadType.NOTIFICATION, doi: 1, protocol: 1, spi: Buffer.concat([ike.ckyI, ike.ckyR]), notifyType: NotifyType.INITIAL_CONTACT, data: Buffer.alloc(0) })
  }
  const message = ike.encryptMessage(ExchangeType.MAIN, 0, out)
  ike.state = 'I_SENT_AUTH'
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike)
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
  const hashR = (idBody: Buffer) => crypto.hashR(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, idBody)
  const verdict = verifyPeer(ctx, ike, decrypted.payloads, hashR)
  if (!verdict.ok) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: `Main Mode message 6: ${verdict.reason}` })
    return false
  }
  const id = verdict.id
  const site = authenticatedSite(ctx.config, ike, id, usesSignatures(ike))
  if (!site.ok) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: `Main Mode message 6: ${site.reason}` })
    return false
  }
  ike.site = site.site
  decrypted.commit()
  ike.sealPhase1()
  ike.peerId = describeId(id)
  ike.state = 'ESTABLISHED'
  ike.lastSent = undefined
  emitIkeSaUp(ctx, ike, ike.local)
  return true
}
