// The integrity checks of RADIUS, for each direction:
// - Access-Request: a random Request Authenticator (RFC 2865 3), hidden
//   User-Password, and a Message-Authenticator (RFC 3579 3.2), always: it
//   is the only thing that makes a request's attributes tamper-evident, and
//   BlastRADIUS (CVE-2024-3596) forges Access-Accepts for requests without it.
// - Accounting-, CoA- and Disconnect-Request: Request Authenticator =
//   MD5(packet with a zero authenticator + secret) (RFC 2866 3, RFC 5176
//   3.5); a Message-Authenticator in them is computed over the zero
//   authenticator first (RFC 5176 3.3).
// - Replies: Response Authenticator = MD5(Code + Identifier + Length +
//   Request Authenticator + attributes + secret) (RFC 2865 3); their
//   Message-Authenticator is computed with the Request Authenticator in
//   the header (RFC 3579 3.2).
// Secrets are compared in constant time.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { encodePacket, valueOffsets, type RadiusAttribute } from './codec.js'
import { md5, hidePassword } from './crypto.js'
import { Attr } from './dictionary.js'

const ZERO16 = Buffer.alloc(16)

export interface SignedPacket {
  bytes: Buffer
  /** The Request Authenticator (for a request): what the reply is checked against. */
  authenticator: Buffer
}

function hmacMd5(secret: Buffer, data: Buffer): Buffer {
  return createHmac('md5', secret).update(data).digest()
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Our attributes with one zeroed Message-Authenticator first (any the caller put in are dropped). */
function withMessageAuthenticator(attributes: readonly RadiusAttribute[]): RadiusAttribute[] {
  return [{ type: Attr.MESSAGE_AUTHENTICATOR, value: Buffer.alloc(16) }, ...attributes.filter((a) => a.type !== Attr.MESSAGE_AUTHENTICATOR)]
}

/** Writes HMAC-MD5(secret, bytes) into the (zeroed) Message-Authenticator of `bytes`. */
function fillMessageAuthenticator(bytes: Buffer, secret: Buffer): void {
  const [offset] = valueOffsets(bytes, Attr.MESSAGE_AUTHENTICATOR)
  if (offset !== undefined) hmacMd5(secret, bytes).copy(bytes, offset)
}

/**
 * An Access-Request: User-Password values in `attributes` are given in
 * clear and hidden here; a Message-Authenticator is always added, first.
 */
export function signAccessRequest(input: { identifier: number; attributes: readonly RadiusAttribute[]; secret: Buffer; authenticator?: Buffer }): SignedPacket {
  const authenticator = input.authenticator ?? randomBytes(16)
  const attributes = withMessageAuthenticator(input.attributes).map((a) =>
    a.type === Attr.USER_PASSWORD ? { type: a.type, value: hidePassword(a.value, input.secret, authenticator) } : a,
  )
  const bytes = encodePacket({ code: 1, identifier: input.identifier, authenticator, attributes })
  fillMessageAuthenticator(bytes, input.secret)
  return { bytes, authenticator }
}

/** An Accounting-, CoA- or Disconnect-Request (computed Request Authenticator). */
export function signRequest(input: { code: number; identifier: number; attributes: readonly RadiusAttribute[]; secret: Buffer; messageAuthenticator?: boolean }): SignedPacket {
  const attributes = input.messageAuthenticator ? withMessageAuthenticator(input.attributes) : input.attributes
  const bytes = encodePacket({ code: input.code, identifier: input.identifier, authenticator: ZERO16, attributes: [...attributes] })
  fillMessageAuthenticator(bytes, input.secret)
  const authenticator = md5(bytes, input.secret)
  authenticator.copy(bytes, 4)
  return { bytes, authenticator }
}

/** A reply to a request whose authenticator was `requestAuthenticator`. */
export function signResponse(input: { code: number; identifier: number; requestAuthenticator: Buffer; attributes: readonly RadiusAttribute[]; secret: Buffer; messageAuthenticator?: boolean }): Buffer {
  const attributes = input.messageAuthenticator === false ? input.attributes : withMessageAuthenticator(input.attributes)
  const bytes = encodePacket({ code: input.code, identifier: input.identifier, authenticator: input.requestAuthenticator, attributes: [...attributes] })
  fillMessageAuthenticator(bytes, input.secret)
  md5(bytes, input.secret).copy(bytes, 4)
  return bytes
}

/** Why a packet failed authentication. */
export type VerifyFailure = 'bad-authenticator' | 'missing-message-authenticator' | 'bad-message-authenticator'

/**
 * Checks the Message-Authenticator of `bytes`, computed with `headerAuthenticator`
 * in the Authenticator field. More than one, or one of the wrong size, fails.
 */
function checkMessageAuthenticator(bytes: Buffer, headerAuthenticator: Buffer, secret: Buffer, required: boolean): VerifyFailure | undefined {
  const offsets = valueOffsets(bytes, Attr.MESSAGE_AUTHENTICATOR)
  if (offsets.length === 0) return required ? 'missing-message-authenticator' : undefined
  const offset = offsets[0]!
  // The attribute must fit: callers decode first, but a check must not throw on what it checks.
  if (offsets.length > 1 || bytes[offset - 1] !== 18 || offset + 16 > bytes.length) return 'bad-message-authenticator'
  const received = Buffer.from(bytes.subarray(offset, offset + 16))
  const copy = Buffer.from(bytes)
  headerAuthenticator.copy(copy, 4)
  copy.fill(0, offset, offset + 16)
  return equal(hmacMd5(secret, copy), received) ? undefined : 'bad-message-authenticator'
}

/**
 * A reply: Response Authenticator, then the Message-Authenticator (required
 * for every reply to an Access-Request). `bytes` is exactly the packet (packetBytes()).
 */
export function verifyResponse(bytes: Buffer, requestAuthenticator: Buffer, secret: Buffer, requireMessageAuthenticator: boolean): VerifyFailure | undefined {
  const expected = md5(bytes.subarray(0, 4), requestAuthenticator, bytes.subarray(20), secret)
  if (!equal(expected, bytes.subarray(4, 20))) return 'bad-authenticator'
  return checkMessageAuthenticator(bytes, requestAuthenticator, secret, requireMessageAuthenticator)
}

/** An Accounting-, CoA- or Disconnect-Request as a server receives it. */
export function verifyRequest(bytes: Buffer, secret: Buffer, requireMessageAuthenticator = false): VerifyFailure | undefined {
  const zeroed = Buffer.from(bytes)
  ZERO16.copy(zeroed, 4)
  if (!equal(md5(zeroed, secret), bytes.subarray(4, 20))) return 'bad-authenticator'
  return checkMessageAuthenticator(bytes, ZERO16, secret, requireMessageAuthenticator)
}

/** An Access-Request as a server receives it: only its Message-Authenticator can be checked. */
export function verifyAccessRequest(bytes: Buffer, secret: Buffer, requireMessageAuthenticator = true): VerifyFailure | undefined {
  return checkMessageAuthenticator(bytes, bytes.subarray(4, 20), secret, requireMessageAuthenticator)
}
