/**
 * Informational exchanges under an IKE SA (RFC 2409 5.7): Delete and
 * Notification payloads protected by HASH(1); Dead Peer Detection
 * (RFC 3706) R-U-THERE / R-U-THERE-ACK.
 */
import { payloadsOf, type IsakmpHeader, type PayloadInput } from './codec.js'
import { ExchangeType, NotifyType, PayloadType, ProtocolId } from './constants.js'
import type { Context } from './context.js'
import * as crypto from './crypto.js'
import { decryptHashed, encryptHashed } from './exchange.js'
import type { IkeSa } from './ike-sa.js'

/** Sends payloads in a new Informational exchange (its own message ID). */
export function sendInformational(ctx: Context, ike: IkeSa, payloads: readonly PayloadInput[]): void {
  if (!ike.established) return
  const messageId = ctx.random(4).readUInt32BE(0) || 1
  const message = encryptHashed(ike, ExchangeType.INFORMATIONAL, messageId, payloads, (after) => crypto.informationalHash(ike.hash, ike.skeyidA!, messageId, after))
  ike.forgetMessageId(messageId)
  ctx.send({ data: message, to: ike.peer, fromPort: ike.localPort, fromAddress: ike.local.address })
}

export interface InformationalResult {
  deleteIkeSa: boolean
  deletedEspSpis: number[]
  /** An R-U-THERE-ACK for our last R-U-THERE arrived. */
  dpdAck: boolean
  /** ESP SPIs the responder confirmed with N(CONNECTED) (commit bit). */
  connected: number[]
}

/** Handles an Informational message; unauthenticated ones change nothing. */
export function handleInformational(ctx: Context, ike: IkeSa, header: IsakmpHeader, body: Buffer): InformationalResult | undefined {
  const d = decryptHashed(ike, header, body)
  if (!d || !crypto.equalConstantTime(crypto.informationalHash(ike.hash, ike.skeyidA!, header.messageId, d.afterHash), d.hash)) {
    ctx.emit({ type: 'dropped', peer: ike.peer, reason: 'Informational message without a valid HASH(1)', count: 1 })
    return undefined
  }
  d.commit()
  ike.forgetMessageId(header.messageId)
  const result: InformationalResult = { deleteIkeSa: false, deletedEspSpis: [], dpdAck: false, connected: [] }
  for (const del of payloadsOf(d.payloads, PayloadType.DELETE)) {
    if (del.protocol === ProtocolId.ISAKMP) result.deleteIkeSa = true
    if (del.protocol === ProtocolId.IPSEC_ESP) for (const spi of del.spis) if (spi.length === 4) result.deletedEspSpis.push(spi.readUInt32BE(0))
  }
  for (const n of payloadsOf(d.payloads, PayloadType.NOTIFICATION)) {
    if (n.notifyType === NotifyType.R_U_THERE) {
      sendInformational(ctx, ike, [{ type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.ISAKMP, spi: n.spi, notifyType: NotifyType.R_U_THERE_ACK, data: n.data }])
    }
    if (n.notifyType === NotifyType.CONNECTED && n.spi.length === 4) result.connected.push(n.spi.readUInt32BE(0))
    // RFC 3706 5.3: the ACK echoes our sequence number.
    if (n.notifyType === NotifyType.R_U_THERE_ACK && n.data.length === 4 && n.data.readUInt32BE(0) === ike.dpdSeq) result.dpdAck = true
  }
  return result
}

export function deleteIkeSaPayload(ike: IkeSa): PayloadInput {
  return { type: PayloadType.DELETE, doi: 1, protocol: ProtocolId.ISAKMP, spiSize: 16, spis: [Buffer.concat([ike.ckyI, ike.ckyR])] }
}

export function deleteEspPayload(spis: readonly number[]): PayloadInput {
  return {
    type: PayloadType.DELETE,
    doi: 1,
    protocol: ProtocolId.IPSEC_ESP,
    spiSize: 4,
    spis: spis.map((s) => {
      const b = Buffer.alloc(4)
      b.writeUInt32BE(s)
      return b
    }),
  }
}

/** Sends an R-U-THERE with the next sequence number (RFC 3706 5). */
export function sendRUThere(ctx: Context, ike: IkeSa): void {
  ike.dpdSeq = (ike.dpdSeq + 1) >>> 0 || 1
  const seq = Buffer.alloc(4)
  seq.writeUInt32BE(ike.dpdSeq)
  sendInformational(ctx, ike, [
    { type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.concat([ike.ckyI, ike.ckyR]), notifyType: NotifyType.R_U_THERE, data: seq },
  ])
}
