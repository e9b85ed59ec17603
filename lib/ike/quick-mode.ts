/**
 * Quick Mode (RFC 2409 5.5): ESP SAs under an established IKE SA.
 *
 *   I -> R  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]
 *   R -> I  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OA...] [, N(RESPONDER-LIFETIME)]
 *   I -> R  HDR*, HASH(3)
 *
 * For L2TP clients only transport mode to our UDP 1701 is accepted (tunnel
 * mode would let any PSK holder reach the LAN without a PPP login). Tunnel
 * mode (RFC 2409 5.5 with subnet IDs; UDP-Encapsulated-Tunnel 3 or the
 * draft's 61443 under NAT-T) only under an IKE SA authenticated as a
 * configured site, for subnets inside that site's configuration (sites.ts).
 */
import { encodeAttributes, findPayload, payloadsOf, type IdPayload, type IsakmpHeader, type NatOaPayload, type PayloadInput } from './codec.js'
import { EncapsulationMode, ExchangeType, Flag, IdType, IpsecAttribute, NotifyType, PayloadType, ProtocolId } from './constants.js'
import type { Context } from './context.js'
import * as crypto from './crypto.js'
import { DhKeyPair, dhGroup } from './dh.js'
import { decryptHashed, encryptHashed } from './exchange.js'
import { addressBytes, describeId } from './identity.js'
import type { IkeSa } from './ike-sa.js'
import { sendInformational } from './informational.js'
import { requestKey } from './phase1.js'
import { matchPhase2, phase2Offer, phase2Reply, type Phase2Choice } from './proposal.js'
import { selectorWithin, siteByName, subnetId, tunnelSite, type IkeSite } from './sites.js'
import type { ChildSaKeys, Path } from './types.js'

const L2TP_PORT = 1701
const UDP = 17

export interface QuickMode {
  ike: IkeSa
  messageId: number
  role: 'initiator' | 'responder'
  state: 'I_SENT_1' | 'R_SENT_2' | 'DONE'
  ourSpi: Buffer
  peerSpi?: Buffer
  ni: Buffer
  nr?: Buffer
  dh?: DhKeyPair
  gqmXy?: Buffer
  choice?: Phase2Choice
  peerL2tpPort: number
  createdAt: number
  pfsGroup?: number
  /** The initiator set the commit bit (RFC 2408 3.1): answer HASH(3) with N(CONNECTED). */
  commit: boolean
  selectors?: { initiator: string; responder: string }
  /** Initiator of a site's tunnel-mode SA: our subnet and the peer's, as offered. */
  tunnel?: { local: string; remote: string }
  /** Responder: the inbound SA's keys, derived for child-sa-inbound at message 2 and reused at child-sa-up. */
  inboundKeys?: ChildSaKeys
  /** Responder: message 2 as kept on the IKE SA (to answer a repeated message 1), let go once message 3 came. */
  reply?: IkeSa['lastSent']
}

function failure(ctx: Context, ike: IkeSa, reason: string, notify?: number): undefined {
  ctx.emit({ type: 'negotiation-failure', peer: ike.peer, stage: 'quick-mode', reason, notify })
  if (notify) sendInformational(ctx, ike, [{ type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.IPSEC_ESP, spi: Buffer.alloc(0), notifyType: notify, data: Buffer.alloc(0) }])
  return undefined
}

/** Checks the client's selectors for an L2TP transport-mode SA: UDP to our port 1701, any client port. */
function l2tpSelectors(ids: readonly IdPayload[]): { ok: true; peerPort: number } | { ok: false; reason: string } {
  if (ids.length === 0) return { ok: true, peerPort: 0 }
  if (ids.length !== 2) return { ok: false, reason: `expected IDci and IDcr, got ${ids.length} ID payloads` }
  const [ci, cr] = ids as [IdPayload, IdPayload]
  const host = (id: IdPayload) => id.idType === IdType.IPV4_ADDR || id.idType === IdType.IPV6_ADDR
  if (!host(ci) || !host(cr)) return { ok: false, reason: 'transport mode needs host addresses as IDs' }
  if (cr.protocol !== UDP || cr.port !== L2TP_PORT) return { ok: false, reason: `IDcr is protocol ${cr.protocol} port ${cr.port}; only UDP 1701 (L2TP) is served` }
  if (ci.protocol !== UDP) return { ok: false, reason: `IDci is protocol ${ci.protocol}; only UDP (L2TP) is served` }
  return { ok: true, peerPort: ci.port }
}

/**
 * Checks a site's tunnel-mode selectors (RFC 2409 5.5): IDci and IDcr must
 * be given, and lie inside the site's subnets — the initiator's side in
 * the peer's (`remote`) when the peer initiated, in ours when we did.
 */
function siteSelectors(site: IkeSite, ids: readonly IdPayload[], weInitiated: boolean): { ok: true } | { ok: false; reason: string } {
  if (ids.length !== 2) return { ok: false, reason: `site ${site.name}: tunnel mode needs IDci and IDcr (subnets), got ${ids.length} ID payloads` }
  const [ci, cr] = ids as [IdPayload, IdPayload]
  const [ciWithin, crWithin] = weInitiated ? [site.local, site.remote] : [site.remote, site.local]
  if (!selectorWithin(ci, ciWithin)) return { ok: false, reason: `site ${site.name}: IDci ${describeSelector(ci)} is not inside ${ciWithin.join(', ')}` }
  if (!selectorWithin(cr, crWithin)) return { ok: false, reason: `site ${site.name}: IDcr ${describeSelector(cr)} is not inside ${crWithin.join(', ')}` }
  return { ok: true }
}

/** An ID as a selector in plain words: "10.0.2.15 udp/1701", "192.168.1.0/255.255.255.0 any". */
function describeSelector(id: IdPayload): string {
  const what = id.protocol === 0 ? 'any' : `${id.protocol === UDP ? 'udp' : `proto ${id.protocol}`}/${id.port || 'any'}`
  return `${describeId(id)} ${what}`
}

function childKeys(ike: IkeSa, qm: QuickMode, spi: Buffer): ChildSaKeys {
  const c = qm.choice!
  const material = crypto.keymat(ike.hash, ike.skeyidD!, ProtocolId.IPSEC_ESP, spi, qm.ni, qm.nr!, c.encryptionKeyLength + c.integrityKeyLength, qm.gqmXy)
  return {
    spi: spi.readUInt32BE(0),
    suite: c.espSuite,
    encryptionKey: material.subarray(0, c.encryptionKeyLength),
    integrityKey: material.subarray(c.encryptionKeyLength),
  }
}

function emitChildSa(ctx: Context, ike: IkeSa, qm: QuickMode): void {
  const c = qm.choice!
  ctx.emit({
    type: 'child-sa-up',
    ikeSa: ike.id,
    peer: ike.peer,
    inbound: qm.inboundKeys ?? childKeys(ike, qm, qm.ourSpi),
    outbound: childKeys(ike, qm, qm.peerSpi!),
    mode: c.mode,
    udpEncapsulated: c.udpEncapsulated,
    peerL2tpPort: qm.peerL2tpPort,
    selectors: qm.selectors,
    ...(c.mode === 'tunnel' && ike.site ? { site: ike.site } : {}),
    lifetimeSeconds: c.lifetimeSeconds,
    lifetimeKilobytes: c.lifetimeKilobytes,
  })
}

function responderLifetime(spi: Buffer, c: Phase2Choice): PayloadInput | undefined {
  const r = c.responderLifetime
  if (!r) return undefined
  const attributes = []
  const duration = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }
  if (r.seconds !== undefined) attributes.push({ type: IpsecAttribute.SA_LIFE_TYPE, value: 1 }, { type: IpsecAttribute.SA_LIFE_DURATION, value: duration(r.seconds) })
  if (r.kilobytes !== undefined) attributes.push({ type: IpsecAttribute.SA_LIFE_TYPE, value: 2 }, { type: IpsecAttribute.SA_LIFE_DURATION, value: duration(r.kilobytes) })
  return { type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.IPSEC_ESP, spi, notifyType: NotifyType.RESPONDER_LIFETIME, data: encodeAttributes(attributes) }
}

// ---------------------------------------------------------------- responder

export function respondToQuick1(ctx: Context, ike: IkeSa, header: IsakmpHeader, body: Buffer, path: Path, allocateSpi: () => Buffer): QuickMode | undefined {
  const d = decryptHashed(ike, header, body)
  if (!d) return failure(ctx, ike, 'Quick Mode message 1 does not decrypt or lacks HASH(1)')
  if (!crypto.equalConstantTime(crypto.quickHash1(ike.hash, ike.skeyidA!, header.messageId, d.afterHash), d.hash)) {
    return failure(ctx, ike, 'Quick Mode HASH(1) does not match')
  }
  d.commit()
  const sa = findPayload(d.payloads, PayloadType.SA)
  const nonce = findPayload(d.payloads, PayloadType.NONCE)
  if (!sa || !nonce) return failure(ctx, ike, 'Quick Mode message 1 lacks SA or nonce', NotifyType.PAYLOAD_MALFORMED)
  const natT = ike.natT.localBehindNat || ike.natT.peerBehindNat
  // Tunnel mode only for an IKE SA that authenticated as a site; a site's SAs never carry L2TP.
  const site = tunnelSite(ctx.config, ike)
  const match = matchPhase2(sa, site?.policy ?? ctx.config.policy, { allowTunnel: site !== undefined || ctx.config.allowTunnel, natT, tunnelOnly: site !== undefined })
  if (!match.ok) return failure(ctx, ike, match.reason, match.notify)
  const choice = match.choice
  const ids = payloadsOf(d.payloads, PayloadType.ID)
  let peerPort = 0
  if (choice.mode === 'transport') {
    const sel = l2tpSelectors(ids)
    if (!sel.ok) return failure(ctx, ike, sel.reason, NotifyType.INVALID_ID_INFORMATION)
    peerPort = sel.peerPort
  } else if (site) {
    const sel = siteSelectors(site, ids, false)
    if (!sel.ok) return failure(ctx, ike, sel.reason, NotifyType.INVALID_ID_INFORMATION)
  }
  const qm: QuickMode = {
    ike,
    messageId: header.messageId,
    role: 'responder',
    state: 'R_SENT_2',
    ourSpi: allocateSpi(),
    peerSpi: choice.peerSpi,
    ni: nonce.data,
    nr: ctx.random(32),
    choice,
    peerL2tpPort: peerPort,
    createdAt: ctx.now,
    commit: (header.flags & Flag.COMMIT) !== 0,
  }
  if (ids.length === 2) qm.selectors = { initiator: describeSelector(ids[0]!), responder: describeSelector(ids[1]!) }
  const reply: PayloadInput[] = [{ type: PayloadType.SA, ...phase2Reply(sa, choice, qm.ourSpi) } as PayloadInput, { type: PayloadType.NONCE, data: qm.nr! }]
  if (choice.pfsGroup !== undefined) {
    const ke = findPayload(d.payloads, PayloadType.KE)
    const group = dhGroup(choice.pfsGroup)!
    if (!ke || ke.data.length !== group.publicLength) return failure(ctx, ike, 'PFS requested without a valid KE', NotifyType.INVALID_KEY_INFORMATION)
    qm.dh = new DhKeyPair(group)
    try {
      qm.gqmXy = qm.dh.computeSecret(ke.data)
    } catch {
      return failure(ctx, ike, 'the PFS KE value is invalid', NotifyType.INVALID_KEY_INFORMATION)
    }
    reply.push({ type: PayloadType.KE, data: qm.dh.publicKey })
  }
  // IDci and IDcr are echoed exactly (RFC 2409 5.5), and both NAT-OA payloads back.
  for (const id of ids) reply.push(id)
  const natOas: NatOaPayload[] = [...payloadsOf(d.payloads, PayloadType.NAT_OA), ...payloadsOf(d.payloads, PayloadType.NAT_OA_DRAFT)]
  for (const oa of natOas) reply.push(oa)
  const lifetime = responderLifetime(qm.ourSpi, choice)
  if (lifetime) reply.push(lifetime)
  const message = encryptHashed(
    ike,
    ExchangeType.QUICK,
    header.messageId,
    reply,
    (after) => crypto.quickHash2(ike.hash, ike.skeyidA!, header.messageId, qm.ni, after),
    qm.commit ? Flag.COMMIT : 0,
  )
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike, requestKey(body))
  qm.reply = ike.lastSent
  // The inbound SA may be installed now (libreswan does): clients send their
  // first ESP packet right behind message 3, before child-sa-up is acted on.
  qm.inboundKeys = childKeys(ike, qm, qm.ourSpi)
  ctx.emit({ type: 'child-sa-inbound', ikeSa: ike.id, peer: ike.peer, inbound: qm.inboundKeys, udpEncapsulated: choice.udpEncapsulated, peerL2tpPort: qm.peerL2tpPort })
  return qm
}

export function respondToQuick3(ctx: Context, qm: QuickMode, header: IsakmpHeader, body: Buffer): boolean {
  const ike = qm.ike
  const d = decryptHashed(ike, header, body)
  if (!d || !crypto.equalConstantTime(crypto.quickHash3(ike.hash, ike.skeyidA!, header.messageId, qm.ni, qm.nr!), d.hash)) {
    failure(ctx, ike, 'Quick Mode HASH(3) does not match')
    return false
  }
  d.commit()
  qm.state = 'DONE'
  ike.forgetMessageId(qm.messageId)
  emitChildSa(ctx, ike, qm)
  if (qm.commit) {
    // The SA is installed: say so (RFC 2408 3.1, as racoon does) in an
    // Informational under the Quick Mode's message ID.
    const connected: PayloadInput = { type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.IPSEC_ESP, spi: qm.ourSpi, notifyType: NotifyType.CONNECTED, data: Buffer.alloc(0) }
    const message = encryptHashed(ike, ExchangeType.INFORMATIONAL, qm.messageId, [connected], (after) => crypto.informationalHash(ike.hash, ike.skeyidA!, qm.messageId, after), Flag.COMMIT)
    ike.forgetMessageId(qm.messageId)
    ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address })
  }
  return true
}

// ---------------------------------------------------------------- initiator

export interface QuickModeRequest {
  lifetimeSeconds?: number
  pfsGroup?: number
  /** Set the commit bit: the responder confirms with N(CONNECTED). */
  commit?: boolean
  /** The peer's L2TP UDP port for its selector (a rekey started by the server for a client on an ephemeral port); default 1701. */
  peerL2tpPort?: number
  /** A site's tunnel-mode SA between our subnet and the peer's (CIDR); only under an IKE SA that authenticated as a site. */
  tunnel?: { local: string; remote: string }
}

export function initiateQuick(ctx: Context, ike: IkeSa, request: QuickModeRequest, allocateSpi: () => Buffer): QuickMode {
  const messageId = ctx.random(4).readUInt32BE(0) || 1
  const natT = ike.natT.localBehindNat || ike.natT.peerBehindNat
  const tunnel = request.tunnel
  if (tunnel && !ike.site) throw new Error('tunnel mode is only negotiated under an IKE SA authenticated as a site')
  const draft = ike.natT.variant === 'draft'
  const encapsulation = tunnel
    ? !natT ? EncapsulationMode.TUNNEL : draft ? EncapsulationMode.UDP_TUNNEL_DRAFT : EncapsulationMode.UDP_TUNNEL
    : !natT ? EncapsulationMode.TRANSPORT : draft ? EncapsulationMode.UDP_TRANSPORT_DRAFT : EncapsulationMode.UDP_TRANSPORT
  const policy = siteByName(ctx.config, ike.site)?.policy ?? ctx.config.policy
  const qm: QuickMode = {
    ike,
    messageId,
    role: 'initiator',
    state: 'I_SENT_1',
    ourSpi: allocateSpi(),
    ni: ctx.random(32),
    peerL2tpPort: tunnel ? 0 : (request.peerL2tpPort ?? L2TP_PORT),
    createdAt: ctx.now,
    pfsGroup: request.pfsGroup,
    commit: request.commit ?? false,
    ...(tunnel ? { tunnel } : {}),
  }
  const offer = phase2Offer(policy, qm.ourSpi, { encapsulation, pfsGroup: request.pfsGroup, lifetimeSeconds: request.lifetimeSeconds ?? 3600 })
  const payloads: PayloadInput[] = [{ type: PayloadType.SA, ...offer } as PayloadInput, { type: PayloadType.NONCE, data: qm.ni }]
  if (request.pfsGroup !== undefined) {
    qm.dh = new DhKeyPair(dhGroup(request.pfsGroup)!)
    payloads.push({ type: PayloadType.KE, data: qm.dh.publicKey })
  }
  const hostId = (address: string, port: number): PayloadInput => {
    const bytes = addressBytes(address)
    return { type: PayloadType.ID, idType: bytes.length === 4 ? IdType.IPV4_ADDR : IdType.IPV6_ADDR, protocol: UDP, port, data: bytes }
  }
  const ids = tunnel ? [subnetId(tunnel.local), subnetId(tunnel.remote)] : [hostId(ike.local.address, L2TP_PORT), hostId(ike.peer.address, qm.peerL2tpPort)]
  payloads.push(...ids)
  if (tunnel) qm.selectors = { initiator: describeSelector(ids[0] as IdPayload), responder: describeSelector(ids[1] as IdPayload) }
  // NAT-OA is for transport mode only (RFC 3947 5.2): tunnel mode carries whole inner packets.
  if (natT && !tunnel) {
    // RFC 3947 5.2: in transport mode the initiator sends NAT-OAi then NAT-OAr.
    const type = ike.natT.variant === 'draft' ? PayloadType.NAT_OA_DRAFT : PayloadType.NAT_OA
    for (const address of [ike.local.address, ike.peer.address]) {
      const bytes = addressBytes(address)
      payloads.push({ type, idType: bytes.length === 4 ? IdType.IPV4_ADDR : IdType.IPV6_ADDR, data: bytes })
    }
  }
  const message = encryptHashed(ike, ExchangeType.QUICK, messageId, payloads, (after) => crypto.quickHash1(ike.hash, ike.skeyidA!, messageId, after), qm.commit ? Flag.COMMIT : 0)
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address }, ike)
  return qm
}

export function initiatorGotQuick2(ctx: Context, qm: QuickMode, header: IsakmpHeader, body: Buffer): boolean {
  const ike = qm.ike
  const d = decryptHashed(ike, header, body)
  if (!d || !crypto.equalConstantTime(crypto.quickHash2(ike.hash, ike.skeyidA!, header.messageId, qm.ni, d.afterHash), d.hash)) {
    failure(ctx, ike, 'Quick Mode HASH(2) does not match')
    return false
  }
  const sa = findPayload(d.payloads, PayloadType.SA)
  const nonce = findPayload(d.payloads, PayloadType.NONCE)
  const natT = ike.natT.localBehindNat || ike.natT.peerBehindNat
  const site = qm.tunnel ? tunnelSite(ctx.config, ike) : undefined
  const policy = siteByName(ctx.config, ike.site)?.policy ?? ctx.config.policy
  const match = sa && matchPhase2(sa, policy, { allowTunnel: site !== undefined || ctx.config.allowTunnel, natT, tunnelOnly: site !== undefined })
  if (!sa || !nonce || !match || !match.ok) {
    failure(ctx, ike, 'the responder chose nothing we offered')
    return false
  }
  if (site) {
    const sel = siteSelectors(site, payloadsOf(d.payloads, PayloadType.ID), true)
    if (!sel.ok) {
      failure(ctx, ike, sel.reason)
      return false
    }
  }
  d.commit()
  qm.choice = match.choice
  qm.peerSpi = match.choice.peerSpi
  qm.nr = nonce.data
  if (qm.dh) {
    const ke = findPayload(d.payloads, PayloadType.KE)
    if (!ke) {
      failure(ctx, ike, 'PFS answered without KE')
      return false
    }
    qm.gqmXy = qm.dh.computeSecret(ke.data)
  }
  const message = encryptHashed(ike, ExchangeType.QUICK, header.messageId, [], () => crypto.quickHash3(ike.hash, ike.skeyidA!, header.messageId, qm.ni, qm.nr!))
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address })
  ike.lastSent = undefined
  qm.state = 'DONE'
  ike.forgetMessageId(qm.messageId)
  emitChildSa(ctx, ike, qm)
  return true
}
