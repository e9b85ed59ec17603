// The two MD5 stream "ciphers" of RADIUS, keyed by the shared secret and a
// Request Authenticator:
// - User-Password hiding (RFC 2865 5.2);
// - salt encryption of MS-MPPE-Send-Key / MS-MPPE-Recv-Key (RFC 2548
//   2.4.2 and 2.4.3; also RFC 2868 3.5 Tunnel-Password).
// Both XOR 16-byte blocks with MD5(secret + previous ciphertext block),
// the first block chained from the authenticator (and the salt).
import { createHash, randomBytes } from 'node:crypto'
import { RadiusCodecError } from './codec.js'

export function md5(...parts: Buffer[]): Buffer {
  const hash = createHash('md5')
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/**
 * c(i) = p(i) XOR MD5(S + c(i-1)), c(0) chained from `iv`; `data` is a
 * multiple of 16 bytes. Both directions chain on the ciphertext: the output
 * when hiding, the input when revealing.
 */
function chainXor(data: Buffer, secret: Buffer, iv: Buffer, direction: 'hide' | 'reveal'): Buffer {
  const out = Buffer.alloc(data.length)
  const ciphertext = direction === 'hide' ? out : data
  let previous = iv
  for (let i = 0; i < data.length; i += 16) {
    const pad = md5(secret, previous)
    for (let j = 0; j < 16; j++) out[i + j] = data[i + j]! ^ pad[j]!
    previous = ciphertext.subarray(i, i + 16)
  }
  return out
}

/** RFC 2865 5.2: the password padded with NULs to a multiple of 16 (at most 128 bytes), hidden. */
export function hidePassword(password: Buffer, secret: Buffer, authenticator: Buffer): Buffer {
  if (password.length > 128) throw new RadiusCodecError('RADIUS_VALUE_TOO_LONG', `password of ${password.length} bytes, at most 128`)
  const padded = Buffer.alloc(Math.max(16, Math.ceil(password.length / 16) * 16))
  password.copy(padded)
  return chainXor(padded, secret, authenticator, 'hide')
}

/** The inverse of hidePassword, trailing NULs removed (used by the vector tests and a server). */
export function revealPassword(hidden: Buffer, secret: Buffer, authenticator: Buffer): Buffer {
  if (hidden.length < 16 || hidden.length > 128 || hidden.length % 16 !== 0) {
    throw new RadiusCodecError('RADIUS_BAD_VALUE', `User-Password of ${hidden.length} bytes is not 16..128 in 16-byte blocks`)
  }
  const clear = chainXor(hidden, secret, authenticator, 'reveal')
  let end = clear.length
  while (end > 0 && clear[end - 1] === 0) end--
  return clear.subarray(0, end)
}

/**
 * RFC 2548 2.4.2: Salt (2 bytes, high bit set) + encrypted(Key-Length + Key
 * + padding to 16). `salt` is random unless given (for vectors).
 */
export function saltEncrypt(key: Buffer, secret: Buffer, requestAuthenticator: Buffer, salt: Buffer = randomSalt()): Buffer {
  if (salt.length !== 2 || (salt[0]! & 0x80) === 0) throw new RadiusCodecError('RADIUS_BAD_VALUE', 'the salt must be 2 bytes with the high bit set')
  if (key.length > 239) throw new RadiusCodecError('RADIUS_VALUE_TOO_LONG', `key of ${key.length} bytes`)
  const plain = Buffer.alloc(Math.ceil((key.length + 1) / 16) * 16)
  plain[0] = key.length
  key.copy(plain, 1)
  return Buffer.concat([salt, chainXor(plain, secret, Buffer.concat([requestAuthenticator, salt]), 'hide')])
}

/** The key inside a salt-encrypted value; RADIUS_BAD_VALUE when the sizes are inconsistent (wrong secret or a forged value). */
export function saltDecrypt(value: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer {
  const cipher = value.subarray(2)
  if (value.length < 18 || cipher.length % 16 !== 0) throw new RadiusCodecError('RADIUS_BAD_VALUE', `salt-encrypted value of ${value.length} bytes`)
  if ((value[0]! & 0x80) === 0) throw new RadiusCodecError('RADIUS_BAD_VALUE', 'salt without its high bit')
  const plain = chainXor(cipher, secret, Buffer.concat([requestAuthenticator, value.subarray(0, 2)]), 'reveal')
  const length = plain[0]!
  if (length + 1 > plain.length) throw new RadiusCodecError('RADIUS_BAD_VALUE', `key length ${length} exceeds the ${plain.length - 1} bytes decrypted`)
  return Buffer.from(plain.subarray(1, 1 + length))
}

function randomSalt(): Buffer {
  const salt = randomBytes(2)
  salt[0] = salt[0]! | 0x80
  return salt
}
