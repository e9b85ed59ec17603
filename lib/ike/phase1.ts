/**
 * What Main Mode and Aggressive Mode share (like strongSwan's phase1.c):
 * NAT-T vendor IDs and NAT-D (RFC 3947), plain notifications, the events of
 * an established IKE SA.
 */
import { hash } from 'node:crypto'
import { encodePlainMessage, payloadsOf, type IsakmpHeader, type Payload, type PayloadInput } from './codec.js'
import { ExchangeType, NotifyType, PayloadType, VendorIds, identifyVendorId } from './constants.js'
import type { Context } from './context.js'
import * as crypto from './crypto.js'
import { addressBytes } from './identity.js'
import type { IkeSa } from './ike-sa.js'
import type { Path } from './types.js'
import { ownCopy } from '../util/buffers.js'

export const NONCE_LENGTH = 32

/** The NAT-T vendor IDs we send as initiator, newest first. */
export const NATT_VENDOR_IDS = [VendorIds.NATT_RFC3947, VendorIds.NATT_DRAFT_03, VendorIds.NATT_DRAFT_02N, VendorIds.NATT_DRAFT_02]

export function vid(id: Buffer): PayloadInput {
  return { type: PayloadType.VENDOR_ID, data: id }
}

export function natTVariant(vendorIds: readonly Buffer[]): 'rfc' | 'draft' | undefined {
  const names = vendorIds.map((v) => identifyVendorId(v))
  if (names.includes(VendorIds.NATT_RFC3947)) return 'rfc'
  if (names.some((n) => n === VendorIds.NATT_DRAFT_02 || n === VendorIds.NATT_DRAFT_02N || n === VendorIds.NATT_DRAFT_03)) return 'draft'
  return undefined
}

export function natDType(ike: IkeSa): number {
  return ike.natT.variant === 'draft' ? PayloadType.NAT_D_DRAFT : PayloadType.NAT_D
}

/**
 * Addresses as bytes for NAT-D, remembered: ours come up in every exchange.
 * A peer's comes up in its own Main Mode only, so the cache is small (a
 * server's few addresses stay; a peer's are computed again, a few hundred
 * ns), and its Buffers own their memory: at 4,096 entries of pool slices
 * it held ~60 B of heap and, through the 8 KiB slabs they pinned, ~330 B
 * outside it per session at 10,000 (issue #9).
 */
const natDAddresses = new Map<string, Buffer>()
const NAT_D_ADDRESSES_KEPT = 64

function natDAddress(address: string): Buffer {
  let bytes = natDAddresses.get(address)
  if (!bytes) {
    bytes = ownCopy(addressBytes(address))
    // The oldest goes (not all at once: a cache that empties and refills would hold a count of strings that wanders).
    if (natDAddresses.size >= NAT_D_ADDRESSES_KEPT) natDAddresses.delete(natDAddresses.keys().next().value!)
    natDAddresses.set(address, bytes)
  }
  return bytes
}

export function natDHash(ike: IkeSa, address: string, port: number): Buffer {
  return crypto.natD(ike.hash, ike.ckyI, ike.ckyR, natDAddress(address), port)
}

/**
 * Reads the peer's NAT-D payloads (RFC 3947 3.2): the first hashes our
 * address as the peer addressed it, the rest the peer's own addresses.
 */
export function readNatD(ike: IkeSa, payloads: readonly Payload[], path: Path): NatDRead | undefined {
  const natds = [...payloadsOf(payloads, PayloadType.NAT_D), ...payloadsOf(payloads, PayloadType.NAT_D_DRAFT)]
  if (!ike.natT.variant || natds.length < 2) return undefined
  const [ours, ...theirs] = natds as [Payload & { data: Buffer }, ...(Payload & { data: Buffer })[]]
  ike.natT.localBehindNat = !ours.data.equals(natDHash(ike, path.local.address, path.local.port))
  const peerHash = natDHash(ike, path.peer.address, path.peer.port)
  ike.natT.peerBehindNat = !theirs.some((p) => p.data.equals(peerHash))
  return { ofUs: ours.data, ofPeer: peerHash }
}

/** The peer's hash of us, as it sent it, and ours of the peer as we see it (readNatD). */
export interface NatDRead {
  ofUs: Buffer
  ofPeer: Buffer
}

/** Plain (unencrypted) notification for a failed negotiation (RFC 2408 3.14). */
export function notifyPlain(ctx: Context, header: IsakmpHeader, path: Path, notifyType: number): void {
  const ckyR = header.responderCookie.equals(Buffer.alloc(8)) ? ctx.random(8) : header.responderCookie
  const message = encodePlain(header.initiatorCookie, ckyR, ExchangeType.INFORMATIONAL, 0, [
    { type: PayloadType.NOTIFICATION, doi: 1, protocol: 1, spi: Buffer.concat([header.initiatorCookie, ckyR]), notifyType, data: Buffer.alloc(0) },
  ])
  ctx.send({ data: message, to: path.peer, fromPort: path.local.port, fromAddress: path.local.address })
}

export function encodePlain(ckyI: Buffer, ckyR: Buffer, exchangeType: number, messageId: number, payloads: readonly PayloadInput[]): Buffer {
  return encodePlainMessage(
    { initiatorCookie: ckyI, responderCookie: ckyR, majorVersion: 1, minorVersion: 0, exchangeType, flags: 0, messageId },
    payloads,
  )
}

/**
 * What identifies a request we answered, to resend the answer to a
 * retransmission: its length and SHA-1. The length comes first so that
 * `isRequest` hashes only a datagram of the same length (a retransmission),
 * never each new message.
 */
export function requestKey(datagram: Buffer): string {
  return `${datagram.length}:${hash('sha1', datagram, 'hex')}`
}

/** Whether `datagram` is the request `key` (from requestKey) names. */
export function isRequest(key: string | undefined, datagram: Buffer): boolean {
  return key !== undefined && key.startsWith(`${datagram.length}:`) && key === requestKey(datagram)
}

export function describeChoice(ike: IkeSa): string {
  const c = ike.choice!
  return `${c.encryption}-${c.hash}-group${c.group}`
}

/** Whether the peer asked us to drop its older IKE SAs (RFC 2407 4.6.3.3). */
export function hasInitialContact(payloads: readonly Payload[]): boolean {
  return payloadsOf(payloads, PayloadType.NOTIFICATION).some((n) => n.notifyType === NotifyType.INITIAL_CONTACT)
}


/** Our reply's NAT-T vendor ID: the variant the peer announced. */
export function natTVendorReply(ike: IkeSa): PayloadInput[] {
  if (ike.natT.variant === 'rfc') return [vid(VendorIds.NATT_RFC3947.id)]
  if (ike.natT.variant === 'draft') {
    const theirs = ike.peerVendorIds.map((v) => identifyVendorId(v)).find((n) => n && n.name.startsWith('draft'))
    return theirs ? [vid(theirs.id)] : []
  }
  return []
}

/**
 * The responder's NAT-D pair. First the peer as we see it — with forced
 * encapsulation a hash that never matches, so the client believes it is
 * behind NAT and uses UDP 4500; then us exactly as the peer computed it, so
 * no client ever sees the server behind NAT (Windows refuses that without a
 * registry change).
 */
export function responderNatD(ctx: Context, ike: IkeSa, path: Path, read: NatDRead | undefined): PayloadInput[] {
  if (!ike.natT.variant) return []
  const type = natDType(ike)
  const theirHashOfUs = read?.ofUs
  // readNatD hashed the peer's address already: not twice.
  const forPeer = ctx.config.forceEncapsulation ? crypto.digest(ike.hash, ctx.random(16)) : (read?.ofPeer ?? natDHash(ike, path.peer.address, path.peer.port))
  const forUs = theirHashOfUs ?? natDHash(ike, path.local.address, path.local.port)
  if (ctx.config.forceEncapsulation) ike.natT.peerBehindNat = true
  // We echo the peer's hash of us: it now believes we are not behind NAT and, not behind NAT itself, sends raw ESP.
  // Our side must agree, whatever our own hash said (bound to 0.0.0.0 we cannot compute it).
  if (theirHashOfUs) ike.natT.localBehindNat = false
  return [
    { type, data: forPeer },
    { type, data: forUs },
  ]
}

/**
 * The initiator's NAT-D pair: the responder as we address it, then us. A
 * gateway calling a site hashes a random "address" for itself (as
 * strongSwan's encapsulation=yes does), so both ends see NAT and ESP goes
 * in UDP 4500: the server has no raw ESP socket.
 */
export function initiatorNatD(ike: IkeSa, random?: (bytes: number) => Buffer): PayloadInput[] {
  if (!ike.natT.variant) return []
  const type = natDType(ike)
  const ours = ike.siteIntent !== undefined && random ? crypto.digest(ike.hash, random(16)) : natDHash(ike, ike.local.address, ike.local.port)
  return [
    { type, data: natDHash(ike, ike.peer.address, ike.peer.port) },
    { type, data: ours },
  ]
}

export function emitIkeSaUp(ctx: Context, ike: IkeSa, local: Path['local']): void {
  ctx.emit({
    type: 'ike-sa-up',
    ikeSa: ike.id,
    peer: ike.peer,
    local,
    peerId: ike.peerId!,
    natDetected: ike.natT.peerBehindNat || ike.natT.localBehindNat,
    suite: describeChoice(ike),
    role: ike.role,
    setupSeconds: Math.max(0, ctx.now - ike.createdAt),
  })
}

/** We answer the FRAGMENTATION vendor ID in kind, so the peer may fragment too. */
export function fragmentationVendorReply(ike: IkeSa): PayloadInput[] {
  return ike.peerVendorIds.some((v) => identifyVendorId(v) === VendorIds.FRAGMENTATION) ? [vid(VendorIds.FRAGMENTATION.id)] : []
}
