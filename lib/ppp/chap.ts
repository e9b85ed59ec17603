/**
 * CHAP with MD5 (RFC 1994): the Response value and its constant-time check.
 * The packets are in lib/ppp/codec.ts; MS-CHAPv2 is in lib/ppp/mschapv2.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { PppCodecError, toBytes } from './codec.js'
import type { Bytes } from './codec.js'

/** RFC 1994 2.2: the value is "a one-way hash ... of the Identifier, followed by the secret, followed by the Challenge Value". */
export function chapMd5Response(identifier: number, secret: Bytes, challenge: Buffer): Buffer {
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 0xff) throw new PppCodecError('PPP_BAD_VALUE', 'identifier must be a byte')
  if (!Buffer.isBuffer(challenge)) throw new PppCodecError('PPP_BAD_VALUE', 'challenge must be a Buffer')
  return createHash('md5').update(Buffer.from([identifier])).update(toBytes(secret, 'secret')).update(challenge).digest()
}

/**
 * Whether a peer's Response value is MD5(identifier ‖ secret ‖ challenge),
 * with `identifier` that of the Challenge we sent (RFC 1994 4.1: the
 * Response copies it). Constant-time; a value of the wrong length is false.
 */
export function verifyChapMd5(identifier: number, secret: Bytes, challenge: Buffer, value: Buffer): boolean {
  const expected = chapMd5Response(identifier, secret, challenge)
  return Buffer.isBuffer(value) && value.length === expected.length && timingSafeEqual(expected, value)
}
