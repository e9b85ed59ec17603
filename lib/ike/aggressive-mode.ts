/**
 * Aggressive Mode with pre-shared keys (RFC 2409 5.4), which Android's
 * racoon uses when the user fills in "IPsec identifier". Off by default: the
 * responder's HASH_R goes out in clear before the initiator has proven
 * anything, so a passive listener (or anyone sending message 1) can guess
 * the PSK offline.
 *
 *   I -> R  HDR, SA, KE, Ni, IDii [, VID...]
 *   R -> I  HDR, SA, KE, Nr, IDir, HASH_R [, NAT-D, NAT-D] [, VID...]
 *   I -> R  HDR[*], HASH_I [, NAT-D, NAT-D]          (racoon encrypts it)
 */
import { encodePayloadBody, findPayload, payloadsOf, type IsakmpHeader, type Payload, type PayloadInput } from './codec.js'
import { AuthMethod, ExchangeType, NotifyType, PayloadType, VendorIds } from './constants.js'
import type { Context } from './context.js'
import * as crypto from './crypto.js'
import { DhKeyPair, dhGroup } from './dh.js'
import { describeId, idPayload } from './identity.js'
import { IkeSa } from './ike-sa.js'
import {
  NATT_VENDOR_IDS,
  NONCE_LENGTH,
  emitIkeSaUp,
  encodePlain,
  initiatorNatD,
  natTVariant,
  natTVendorReply,
  notifyPlain,
  readNatD,
  requestKey,
  responderNatD,
  vid,
} from './phase1.js'
import { matchPhase1, phase1Offer, phase1Reply } from './proposal.js'
import type { Path } from './types.js'

export const AGGRESSIVE_MODE_WARNING =
  'IKE Aggressive Mode is enabled: the server sends a hash of the pre-shared key in clear to anyone who asks, which can be guessed offline; use long random pre-shared keys, or certificates'

function fail(ctx: Context, header: IsakmpHeader, path: Path, reason: string, notify: number): undefined {
  notifyPlain(ctx, header, path, notify)
  ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: `Aggressive Mode: ${reason}`, notify })
  return undefined
}

/** Message 1: choose, compute keys, answer with everything including HASH_R. */
export function respondToAggressive(ctx: Context, header: IsakmpHeader, payloads: readonly Payload[], path: Path, datagram: Buffer): IkeSa | undefined {
  const sa = findPayload(payloads, PayloadType.SA)
  const ke = findPayload(payloads, PayloadType.KE)
  const nonce = findPayload(payloads, PayloadType.NONCE)
  const id = findPayload(payloads, PayloadType.ID)
  if (!sa || !ke || !nonce || !id) return fail(ctx, header, path, 'message 1 needs SA, KE, nonce and ID', NotifyType.PAYLOAD_MALFORMED)
  // Aggressive Mode here is for PSK clients (Android); signatures go through Main Mode.
  const match = ctx.config.psk ? matchPhase1(sa, ctx.config.policy, [AuthMethod.PSK]) : undefined
  if (!match) return fail(ctx, header, path, 'no pre-shared key is configured', NotifyType.NO_PROPOSAL_CHOSEN)
  if (!match.ok) return fail(ctx, header, path, match.reason, match.notify)
  const group = dhGroup(match.choice.group)!
  // The KE is already computed for the initiator's group: it must fit the transform we chose.
  if (ke.data.length !== group.publicLength) return fail(ctx, header, path, `KE does not fit group ${group.id}`, NotifyType.INVALID_KEY_INFORMATION)
  const ike = new IkeSa('responder', header.initiatorCookie, ctx.random(8), { ...path.peer }, { ...path.local }, ctx.now)
  ike.state = 'R_SENT_AGGR'
  ike.aggressive = true
  ike.choice = match.choice
  ike.saiB = sa.raw
  ike.idiB = id.raw
  ike.peerId = describeId(id)
  ike.peerVendorIds = payloadsOf(payloads, PayloadType.VENDOR_ID).map((v) => v.data)
  ike.natT.variant = natTVariant(ike.peerVendorIds)
  ike.gxi = ke.data
  ike.ni = nonce.data
  ike.dh = new DhKeyPair(group)
  ike.gxr = ike.dh.publicKey
  ike.nr = ctx.random(NONCE_LENGTH)
  try {
    ike.deriveKeys(ctx.config.psk)
  } catch {
    return fail(ctx, header, path, 'the KE value is invalid', NotifyType.INVALID_KEY_INFORMATION)
  }
  const ours = idPayload(ctx.config.localId ?? path.local.address)
  const hashR = crypto.hashR(ike.hash, ike.skeyid!, ike.gxi, ike.gxr, ike.ckyI, ike.ckyR, ike.saiB, encodePayloadBody(ours))
  const reply: PayloadInput[] = [
    { type: PayloadType.SA, ...phase1Reply(sa, match.choice) } as PayloadInput,
    { type: PayloadType.KE, data: ike.gxr },
    { type: PayloadType.NONCE, data: ike.nr },
    ours,
    { type: PayloadType.HASH, data: hashR },
    ...responderNatD(ctx, ike, path, undefined),
    ...natTVendorReply(ike),
    vid(VendorIds.DPD.id),
  ]
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.AGGRESSIVE, 0, reply), to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike, requestKey(datagram))
  return ike
}

/** Message 3: HASH_I (clear or encrypted); the IKE SA is up. */
export function respondToAggressive3(ctx: Context, ike: IkeSa, header: IsakmpHeader, datagram: Buffer, body: Buffer, encrypted: boolean, path: Path, plainPayloads: () => Payload[]): boolean {
  let payloads: Payload[]
  let commit = () => {}
  if (encrypted) {
    try {
      const d = ike.decryptMessage(header, body)
      payloads = d.payloads
      commit = d.commit
    } catch {
      ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'Aggressive Mode message 3 does not decrypt: wrong pre-shared key?' })
      return false
    }
  } else {
    payloads = plainPayloads()
  }
  const hash = findPayload(payloads, PayloadType.HASH)
  const expected = crypto.hashI(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, ike.idiB!)
  if (!hash || !crypto.equalConstantTime(expected, hash.data)) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'HASH_I does not match: wrong pre-shared key' })
    return false
  }
  commit()
  readNatD(ike, payloads, path)
  ike.peer = { ...path.peer }
  ike.localPort = path.local.port
  ike.sealPhase1()
  ike.state = 'ESTABLISHED'
  ike.lastSent = undefined
  emitIkeSaUp(ctx, ike, path.local)
  void datagram
  return true
}

// ---------------------------------------------------------------- initiator

/** Starts Aggressive Mode; the offer uses one group only (our KE is in message 1). */
export function initiateAggressive(ctx: Context, path: Path, group: number, lifetimeSeconds = 28800): IkeSa {
  const ike = new IkeSa('initiator', ctx.random(8), Buffer.alloc(8), { ...path.peer }, { ...path.local }, ctx.now)
  ike.state = 'I_SENT_AGGR'
  ike.aggressive = true
  const policy = { ...ctx.config.policy, phase1: { ...ctx.config.policy.phase1, groups: [group] } }
  const sa = { type: PayloadType.SA, ...phase1Offer(policy, AuthMethod.PSK, lifetimeSeconds) } as PayloadInput
  ike.saiB = encodePayloadBody(sa)
  ike.dh = new DhKeyPair(dhGroup(group)!)
  ike.gxi = ike.dh.publicKey
  ike.ni = ctx.random(NONCE_LENGTH)
  const id = idPayload(ctx.config.localId ?? path.local.address)
  ike.idiB = encodePayloadBody(id)
  const payloads: PayloadInput[] = [sa, { type: PayloadType.KE, data: ike.gxi }, { type: PayloadType.NONCE, data: ike.ni }, id, ...NATT_VENDOR_IDS.map((v) => vid(v.id)), vid(VendorIds.DPD.id)]
  ctx.send({ data: encodePlain(ike.ckyI, ike.ckyR, ExchangeType.AGGRESSIVE, 0, payloads), to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike)
  return ike
}

/** Message 2: check HASH_R, send HASH_I encrypted (as racoon does). */
export function initiatorGotAggressive(ctx: Context, ike: IkeSa, header: IsakmpHeader, payloads: readonly Payload[], path: Path): boolean {
  const sa = findPayload(payloads, PayloadType.SA)
  const ke = findPayload(payloads, PayloadType.KE)
  const nonce = findPayload(payloads, PayloadType.NONCE)
  const id = findPayload(payloads, PayloadType.ID)
  const hash = findPayload(payloads, PayloadType.HASH)
  const match = sa ? matchPhase1(sa, ctx.config.policy, [AuthMethod.PSK]) : undefined
  if (!sa || !ke || !nonce || !id || !hash || !match?.ok || ke.data.length !== ike.dh!.group.publicLength) {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'Aggressive Mode message 2 is incomplete or unacceptable' })
    return false
  }
  ike.ckyR = header.responderCookie
  ike.choice = match.choice
  ike.peerVendorIds = payloadsOf(payloads, PayloadType.VENDOR_ID).map((v) => v.data)
  ike.natT.variant = natTVariant(ike.peerVendorIds)
  ike.gxr = ke.data
  ike.nr = nonce.data
  try {
    ike.deriveKeys(ctx.config.psk)
  } catch {
    ctx.emit({ type: 'negotiation-failure', peer: path.peer, stage: 'main-mode', reason: 'the responder KE value is invalid' })
    return false
  }
  const expected = crypto.hashR(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, id.raw)
  if (!crypto.equalConstantTime(expected, hash.data)) {
    ctx.emit({ type: 'auth-failure', peer: path.peer, reason: 'HASH_R does not match: wrong pre-shared key' })
    return false
  }
  ike.peerId = describeId(id)
  readNatD(ike, payloads, path)
  if (ike.natT.localBehindNat || ike.natT.peerBehindNat) {
    ike.localPort = ctx.config.nattPort
    ike.peer = { ...ike.peer, port: ctx.config.peerNattPort }
  }
  const hashI = crypto.hashI(ike.hash, ike.skeyid!, ike.gxi!, ike.gxr!, ike.ckyI, ike.ckyR, ike.saiB!, ike.idiB!)
  const message = ike.encryptMessage(ExchangeType.AGGRESSIVE, 0, [{ type: PayloadType.HASH, data: hashI }, ...initiatorNatD(ike)])
  ike.sealPhase1()
  ike.state = 'ESTABLISHED'
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address })
  ike.lastSent = undefined
  emitIkeSaUp(ctx, ike, ike.local)
  return true
}
