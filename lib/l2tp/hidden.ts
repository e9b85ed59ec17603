/**
 * Hidden AVPs (RFC 2661 4.3). The value of an AVP with the H bit is the
 * "hidden AVP subformat"
 *
 *   |  Length of Original Value (2)  |  Original Attribute Value ...
 *   |  ... Padding ...
 *
 * XORed with an MD5 keystream: b(1) = MD5(Attribute Type (2) + secret +
 * Random Vector), b(i) = MD5(secret + c(i-1)), c(i) = p(i) xor b(i), over
 * 16-byte chunks, the last one short. The Random Vector is the value of the
 * nearest Random Vector AVP before the hidden AVP in the same message.
 *
 * Pure functions over Buffers; the caller supplies the padding (randomness
 * is injected).
 */
import crypto from 'node:crypto'

function md5(...parts: Buffer[]): Buffer {
  const h = crypto.createHash('md5')
  for (const p of parts) h.update(p)
  return h.digest()
}

function typeBytes(attributeType: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(attributeType, 0)
  return b
}

/**
 * The MD5 chaining of RFC 2661 4.3 in either direction: `input` is the
 * plaintext subformat when `encrypt`, the ciphertext otherwise. The chain
 * always hashes the ciphertext, so the two directions differ only in which
 * side feeds it.
 */
function chain(attributeType: number, secret: Buffer, randomVector: Buffer, input: Buffer, encrypt: boolean): Buffer {
  const out = Buffer.alloc(input.length)
  let b = md5(typeBytes(attributeType), secret, randomVector)
  for (let at = 0; at < input.length; at += 16) {
    const end = Math.min(at + 16, input.length)
    for (let i = at; i < end; i++) out[i] = input[i]! ^ b[i - at]!
    const cipherChunk = encrypt ? out.subarray(at, end) : input.subarray(at, end)
    b = md5(secret, cipherChunk)
  }
  return out
}

/** The wire value of a hidden AVP: the subformat of `value` and `padding`, encrypted. */
export function hideValue(attributeType: number, value: Buffer, padding: Buffer, secret: Buffer, randomVector: Buffer): Buffer {
  const plain = Buffer.alloc(2 + value.length + padding.length)
  plain.writeUInt16BE(value.length, 0)
  value.copy(plain, 2)
  padding.copy(plain, 2 + value.length)
  return chain(attributeType, secret, randomVector, plain, true)
}

/**
 * The original value and padding of a hidden AVP's wire value, or
 * `undefined` when the decrypted length prefix does not fit (a wrong secret
 * or Random Vector, most likely).
 */
export function revealValue(attributeType: number, hidden: Buffer, secret: Buffer, randomVector: Buffer): { value: Buffer; padding: Buffer } | undefined {
  if (hidden.length < 2) return undefined
  const plain = chain(attributeType, secret, randomVector, hidden, false)
  const length = plain.readUInt16BE(0)
  if (2 + length > plain.length) return undefined
  return { value: plain.subarray(2, 2 + length), padding: plain.subarray(2 + length) }
}
