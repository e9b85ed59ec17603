/**
 * Phase 1 authentication, for both ends and both modes: pre-shared key
 * (HASH_I / HASH_R) or RSA signatures with X.509 certificates (RFC 2409
 * 5.1: SIG_I / SIG_R over the same hashes, CERT payloads, the peer's ID
 * checked against its certificate).
 */
import { encodePayloadBody, findPayload, payloadsOf, type IdPayload, type Payload, type PayloadInput } from './codec.js'
import { AuthMethod, CertEncoding, IdType, PayloadType } from './constants.js'
import type { Context, ResolvedConfig } from './context.js'
import * as crypto from './crypto.js'
import { certPayloads, certRequestPayload, idMatchesCertificate, signHash, subjectDer, verifyChain, verifyHashSignature } from './certificates.js'
import { idPayload } from './identity.js'
import type { IkeSa } from './ike-sa.js'
import { localIdFor } from './sites.js'

/** The Phase 1 authentication methods we accept, by what is configured. */
export function authMethods(config: ResolvedConfig): number[] {
  return [...(config.certificate ? [AuthMethod.RSA_SIG] : []), ...(config.psk ? [AuthMethod.PSK] : [])]
}

/** The method we offer as initiator: certificates when we have them. */
export function offeredAuthMethod(config: ResolvedConfig): number {
  return config.certificate ? AuthMethod.RSA_SIG : AuthMethod.PSK
}

export function usesSignatures(ike: IkeSa): boolean {
  return ike.choice?.authMethod === AuthMethod.RSA_SIG
}

/** CERTREQ payloads naming the CAs we trust (RFC 2408 3.10), for signature authentication. */
export function certificateRequests(ctx: Context, ike: IkeSa): PayloadInput[] {
  if (!usesSignatures(ike)) return []
  return (ctx.config.certificate?.trustAnchors ?? []).map((a) => certRequestPayload(a) as PayloadInput)
}

/**
 * Our ID and proof: ID + HASH for PSK; ID + CERT... + SIG for signatures,
 * where the ID is `localId` (which our certificate must name) or else our
 * certificate's subject DN. `hashOver` computes HASH_I or HASH_R over the
 * ID payload body.
 */
export function ourAuthentication(ctx: Context, ike: IkeSa, localAddress: string, hashOver: (idBody: Buffer) => Buffer): PayloadInput[] {
  const cert = ctx.config.certificate
  const localId = localIdFor(ctx.config, ike)
  if (!usesSignatures(ike) || !cert) {
    const id = idPayload(localId ?? localAddress)
    return [id, { type: PayloadType.HASH, data: hashOver(encodePayloadBody(id)) }]
  }
  const id: PayloadInput = localId
    ? idPayload(localId)
    : { type: PayloadType.ID, idType: IdType.DER_ASN1_DN, protocol: 0, port: 0, data: subjectDer(cert.credentials.certificate) }
  const signature = signHash(cert.credentials.key, hashOver(encodePayloadBody(id)))
  return [id, ...(certPayloads(cert.credentials) as PayloadInput[]), { type: PayloadType.SIG, data: signature }]
}

export type PeerAuthentication = { ok: true; id: IdPayload } | { ok: false; reason: string }

/** Checks the peer's ID and proof in message 5/6 (or Aggressive Mode 1/2 + 3). */
export function verifyPeer(ctx: Context, ike: IkeSa, payloads: readonly Payload[], hashOver: (idBody: Buffer) => Buffer, id?: IdPayload): PeerAuthentication {
  const peerId = id ?? findPayload(payloads, PayloadType.ID)
  if (!peerId) return { ok: false, reason: 'no ID payload' }
  const expected = hashOver(peerId.raw)
  if (!usesSignatures(ike)) {
    const hash = findPayload(payloads, PayloadType.HASH)
    if (!hash || !crypto.equalConstantTime(expected, hash.data)) return { ok: false, reason: 'the hash does not match: wrong pre-shared key' }
    return { ok: true, id: peerId }
  }
  const sig = findPayload(payloads, PayloadType.SIG)
  if (!sig) return { ok: false, reason: 'no signature payload' }
  const certs = payloadsOf(payloads, PayloadType.CERT).filter((c) => c.encoding === CertEncoding.X509_SIGNATURE)
  if (certs.length === 0) return { ok: false, reason: 'no X.509 certificate sent (we do not fetch certificates)' }
  const chain = verifyChain(
    certs.map((c) => c.data),
    ctx.config.certificate?.trustAnchors ?? [],
    ctx.wallClock(),
  )
  if (!chain.ok) return { ok: false, reason: `certificate: ${chain.reason}` }
  if (!idMatchesCertificate(peerId, chain.certificate)) return { ok: false, reason: `the peer's ID is not named by its certificate (${chain.certificate.subject.replace(/\n/g, ', ')})` }
  if (!verifyHashSignature(chain.certificate, expected, sig.data)) return { ok: false, reason: 'the signature does not verify' }
  return { ok: true, id: peerId }
}
