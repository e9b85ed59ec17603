// IKEv1 key derivation and phase 1 / phase 2 hashes (RFC 2409 section 5 and
// appendix B, RFC 3947 section 3.2), and the CBC encryption of IKE
// messages (RFC 2408 section 3.5, RFC 2409 appendix B). The PRF with SHA-1
// and SHA-2 and AES-CBC of message bodies go to the native addon (aws-lc,
// crates/dataplane/src/ike) in one call each: node:crypto's createHmac and
// createCipheriv cost a JS stream object and an OpenSSL 3.0 algorithm fetch
// per call, 2-3x the whole native call on IKE's short inputs (bench/README).
// MD5, 3DES and plain digests stay with node:crypto. Pure functions of their inputs: no state, no
// randomness.
import { createCipheriv, createDecipheriv, createHmac, hash as oneShotHash, timingSafeEqual } from 'node:crypto'
import { ikeAesCbc, ikeAesCbcInPlace, ikePrf, ikeSkeyids } from '../../native/index.js'

/** Hash / PRF algorithms of IKEv1 phase 1 (RFC 2409 appendix A, RFC 4868 for SHA-2). */
export type HashName = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512'

/** Phase 1 ciphers: 3DES-CBC (24-byte key, 8-byte block) and AES-CBC (16/24/32-byte key, 16-byte block). */
export type CipherName = 'des3' | 'aes'

export type IkeCryptoErrorCode =
  | 'IKE_BAD_KE'
  | 'IKE_BAD_CIPHERTEXT'
  | 'IKE_BAD_KEY_LENGTH'
  | 'IKE_BAD_IV'
  | 'IKE_BAD_PRIVATE_KEY'
  | 'IKE_UNKNOWN_GROUP'
  | 'IKE_BAD_ARGUMENT'

/** An error of this module, with a stable `code`. */
export class IkeCryptoError extends Error {
  readonly code: IkeCryptoErrorCode

  constructor(code: IkeCryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'IkeCryptoError'
    this.code = code
  }
}

const HASH_LENGTHS: Record<HashName, number> = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 }

/** Output bytes of `hash` (and of its HMAC). */
export function hashLength(hash: HashName): number {
  return HASH_LENGTHS[hash]
}

/** The plain hash of the concatenated `data`. */
export function digest(hash: HashName, ...data: Buffer[]): Buffer {
  // One-shot: no Hash object per call.
  return oneShotHash(hash, data.length === 1 ? data[0]! : Buffer.concat(data), 'buffer')
}

/** The native PRF's number for a hash (ikePrf); MD5 has none. */
const NATIVE_PRF: Partial<Record<HashName, number>> = { sha1: 1, sha256: 256, sha384: 384, sha512: 512 }
const NO_DATA = Buffer.alloc(0)

/** prf(key, data...) of RFC 2409: the HMAC version of the negotiated hash. */
export function prf(hash: HashName, key: Buffer, ...data: Buffer[]): Buffer {
  const id = NATIVE_PRF[hash]
  // ikePrf takes one to seven parts.
  if (id !== undefined && data.length <= 7) return data.length === 0 ? ikePrf(id, key, NO_DATA) : ikePrf(id, key, data[0]!, ...data.slice(1))
  const h = createHmac(hash, key)
  for (const d of data) h.update(d)
  return h.digest()
}

const OCTET_0 = Buffer.from([0])
const OCTET_1 = Buffer.from([1])
const OCTET_2 = Buffer.from([2])

/** SKEYID for pre-shared keys, RFC 2409 section 5: prf(pre-shared-key, Ni_b | Nr_b). */
export function skeyidPsk(hash: HashName, psk: Buffer, ni: Buffer, nr: Buffer): Buffer {
  return prf(hash, psk, ni, nr)
}

/** SKEYID for signatures, RFC 2409 section 5: prf(Ni_b | Nr_b, g^xy). */
export function skeyidSig(hash: HashName, ni: Buffer, nr: Buffer, gxy: Buffer): Buffer {
  return prf(hash, Buffer.concat([ni, nr]), gxy)
}

export interface Skeyids {
  /** SKEYID_d: keying material for phase 2 (KEYMAT). */
  d: Buffer
  /** SKEYID_a: the key of the phase 2 and informational hashes. */
  a: Buffer
  /** SKEYID_e: what the phase 1 encryption key is taken from. */
  e: Buffer
}

/**
 * RFC 2409 section 5:
 * SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0),
 * SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1),
 * SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2).
 */
export function deriveSkeyids(hash: HashName, skeyid: Buffer, gxy: Buffer, ckyI: Buffer, ckyR: Buffer): Skeyids {
  checkCookie(ckyI, 'CKY-I')
  checkCookie(ckyR, 'CKY-R')
  const id = NATIVE_PRF[hash]
  if (id !== undefined) {
    // One native call and one HMAC key for the three (views of one buffer).
    const all = ikeSkeyids(id, skeyid, gxy, ckyI, ckyR)
    const n = all.length / 3
    return { d: all.subarray(0, n), a: all.subarray(n, 2 * n), e: all.subarray(2 * n) }
  }
  const d = prf(hash, skeyid, gxy, ckyI, ckyR, OCTET_0)
  const a = prf(hash, skeyid, d, gxy, ckyI, ckyR, OCTET_1)
  const e = prf(hash, skeyid, a, gxy, ckyI, ckyR, OCTET_2)
  return { d, a, e }
}

/**
 * The phase 1 encryption key from SKEYID_e (RFC 2409 appendix B): its first
 * `keyLength` bytes, or when SKEYID_e is shorter than the key (3DES or
 * AES-256 with SHA1, AES-256 with MD5), the first `keyLength` bytes of
 * Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1),
 * where 0 is one zero octet. strongSwan (keymat_v1.c expand_skeyid_e) and
 * libreswan do the same; the expansion replaces SKEYID_e entirely, it does
 * not append to it.
 */
export function encryptionKey(hash: HashName, skeyidE: Buffer, keyLength: number): Buffer {
  checkLength(keyLength, 'key length')
  if (skeyidE.length >= keyLength) return Buffer.from(skeyidE.subarray(0, keyLength))
  return expand(hash, skeyidE, OCTET_0, keyLength)
}

/** K1 = prf(key, seed), Kn = prf(key, Kn-1); the first `length` bytes of K1 | K2 | ... */
function expand(hash: HashName, key: Buffer, seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = []
  let total = 0
  let previous: Buffer = seed
  while (total < length) {
    previous = prf(hash, key, previous)
    blocks.push(previous)
    total += previous.length
  }
  return Buffer.concat(blocks).subarray(0, length)
}

/** The phase 1 IV, RFC 2409 appendix B: hash(g^xi | g^xr), truncated to the cipher's block size. */
export function phase1Iv(hash: HashName, gxi: Buffer, gxr: Buffer, blockSize: number): Buffer {
  return truncate(digest(hash, gxi, gxr), blockSize)
}

/**
 * The first IV of a phase 2 (Quick Mode) or informational exchange, RFC 2409
 * appendix B: hash(last phase 1 CBC output block | M-ID), truncated to the
 * block size. Later messages of the exchange chain on the last ciphertext
 * block of the previous one.
 */
export function phase2Iv(hash: HashName, lastPhase1Block: Buffer, messageId: number, blockSize: number): Buffer {
  return truncate(digest(hash, lastPhase1Block, messageIdBytes(messageId)), blockSize)
}

/** HASH_I, RFC 2409 section 5: prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b). */
export function hashI(
  hash: HashName,
  skeyid: Buffer,
  gxi: Buffer,
  gxr: Buffer,
  ckyI: Buffer,
  ckyR: Buffer,
  saiB: Buffer,
  idiiB: Buffer,
): Buffer {
  checkCookie(ckyI, 'CKY-I')
  checkCookie(ckyR, 'CKY-R')
  return prf(hash, skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB)
}

/** HASH_R, RFC 2409 section 5: prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b). */
export function hashR(
  hash: HashName,
  skeyid: Buffer,
  gxi: Buffer,
  gxr: Buffer,
  ckyI: Buffer,
  ckyR: Buffer,
  saiB: Buffer,
  idirB: Buffer,
): Buffer {
  checkCookie(ckyI, 'CKY-I')
  checkCookie(ckyR, 'CKY-R')
  return prf(hash, skeyid, gxr, gxi, ckyR, ckyI, saiB, idirB)
}

/**
 * Quick Mode HASH(1), RFC 2409 section 5.5:
 * prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ]). `afterHash` is
 * the message body after the HASH payload exactly as sent: every following
 * payload with its generic header, without the padding of the encryption.
 */
export function quickHash1(hash: HashName, skeyidA: Buffer, messageId: number, afterHash: Buffer): Buffer {
  return prf(hash, skeyidA, messageIdBytes(messageId), afterHash)
}

/**
 * Quick Mode HASH(2), RFC 2409 section 5.5:
 * prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ]), where
 * Ni_b is the body of the initiator's nonce and `afterHash` the payloads
 * after HASH(2) as sent.
 */
export function quickHash2(hash: HashName, skeyidA: Buffer, messageId: number, niB: Buffer, afterHash: Buffer): Buffer {
  return prf(hash, skeyidA, messageIdBytes(messageId), niB, afterHash)
}

/** Quick Mode HASH(3), RFC 2409 section 5.5: prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b). */
export function quickHash3(hash: HashName, skeyidA: Buffer, messageId: number, niB: Buffer, nrB: Buffer): Buffer {
  return prf(hash, skeyidA, OCTET_0, messageIdBytes(messageId), niB, nrB)
}

/**
 * HASH(1) of an Informational exchange, RFC 2409 section 5.7:
 * prf(SKEYID_a, M-ID | N/D), `afterHash` being the Notification or Delete
 * payload(s) after the HASH payload, as sent.
 */
export function informationalHash(hash: HashName, skeyidA: Buffer, messageId: number, afterHash: Buffer): Buffer {
  return prf(hash, skeyidA, messageIdBytes(messageId), afterHash)
}

/**
 * KEYMAT for one SA, RFC 2409 section 5.5:
 * KEYMAT = K1 | K2 | ..., K1 = prf(SKEYID_d, [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b),
 * Kn = prf(SKEYID_d, Kn-1 | [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b).
 * `spi` is the SPI the receiving side of this SA chose (4 bytes for ESP),
 * Ni_b | Nr_b keep that order for both directions. For ESP the encryption
 * key comes first, then the integrity key (RFC 2409 section 5.5); AES-GCM
 * takes its 4-byte salt right after the key (RFC 4106 section 8.1).
 */
export function keymat(
  hash: HashName,
  skeyidD: Buffer,
  protocol: number,
  spi: Buffer,
  niB: Buffer,
  nrB: Buffer,
  length: number,
  gqmXy?: Buffer,
): Buffer {
  checkLength(length, 'KEYMAT length')
  if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) throw new IkeCryptoError('IKE_BAD_ARGUMENT', `protocol ${protocol} is not one octet`)
  const seed = Buffer.concat([gqmXy ?? Buffer.alloc(0), Buffer.from([protocol]), spi, niB, nrB])
  const blocks: Buffer[] = []
  let total = 0
  let previous: Buffer = Buffer.alloc(0)
  while (total < length) {
    previous = prf(hash, skeyidD, previous, seed)
    blocks.push(previous)
    total += previous.length
  }
  return Buffer.concat(blocks).subarray(0, length)
}

/**
 * A NAT-D payload's hash, RFC 3947 section 3.2: HASH(CKY-I | CKY-R | IP | Port)
 * with the negotiated hash (a plain hash, not the PRF). `address` is the
 * 4-byte IPv4 or 16-byte IPv6 address, `port` the UDP port.
 */
export function natD(hash: HashName, ckyI: Buffer, ckyR: Buffer, address: Buffer, port: number): Buffer {
  checkCookie(ckyI, 'CKY-I')
  checkCookie(ckyR, 'CKY-R')
  if (address.length !== 4 && address.length !== 16) throw new IkeCryptoError('IKE_BAD_ARGUMENT', `address of ${address.length} bytes is neither IPv4 nor IPv6`)
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new IkeCryptoError('IKE_BAD_ARGUMENT', `port ${port} out of range`)
  const portBytes = Buffer.alloc(2)
  portBytes.writeUInt16BE(port)
  return digest(hash, ckyI, ckyR, address, portBytes)
}

/** The cipher's block size in bytes (and its IV size). */
export function blockSize(cipher: CipherName): number {
  return cipher === 'des3' ? 8 : 16
}

/** Key lengths in bytes the cipher accepts. */
export function cipherKeyLengths(cipher: CipherName): readonly number[] {
  return cipher === 'des3' ? [24] : [16, 24, 32]
}

/** 3DES-CBC over whole blocks, through node:crypto. */
function des3(encrypt: boolean, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = encrypt ? createCipheriv('des-ede3-cbc', key, iv) : createDecipheriv('des-ede3-cbc', key, iv)
  c.setAutoPadding(false)
  // Whole blocks and no padding: update() returns all of it, final() nothing.
  const out = c.update(data)
  c.final()
  return out
}

function checkCipher(cipher: CipherName, key: Buffer, iv: Buffer): void {
  if (!cipherKeyLengths(cipher).includes(key.length)) {
    throw new IkeCryptoError('IKE_BAD_KEY_LENGTH', `${cipher} does not take a ${key.length}-byte key`)
  }
  if (iv.length !== blockSize(cipher)) throw new IkeCryptoError('IKE_BAD_IV', `${cipher} IV must be ${blockSize(cipher)} bytes, got ${iv.length}`)
}

/**
 * CBC-encrypts an IKE message body. The plaintext is first padded with
 * zero octets to a whole number of blocks (RFC 2408 section 3.5 leaves the
 * padding's content open; there is no PKCS#7 pad-length byte in IKEv1).
 * `lastBlock` is the last ciphertext block: the IV of the next message of
 * the same exchange (RFC 2409 appendix B).
 */
export function encrypt(cipher: CipherName, key: Buffer, iv: Buffer, plaintext: Buffer): { ciphertext: Buffer; lastBlock: Buffer } {
  checkCipher(cipher, key, iv)
  const size = blockSize(cipher)
  const padding = (size - (plaintext.length % size)) % size
  const padded = plaintext.length === 0 ? Buffer.alloc(size) : padding === 0 ? plaintext : Buffer.concat([plaintext, Buffer.alloc(padding)])
  const ciphertext = cipher === 'aes' ? ikeAesCbc(true, key, iv, padded) : des3(true, key, iv, padded)
  return { ciphertext, lastBlock: Buffer.from(ciphertext.subarray(ciphertext.length - size)) }
}

/**
 * CBC-encrypts `data` where it lies, already padded to whole blocks (how a
 * message encoded into the buffer that is sent is sealed, no copies).
 * Returns the last ciphertext block (a copy): the next IV of the exchange.
 */
export function encryptInPlace(cipher: CipherName, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  checkCipher(cipher, key, iv)
  const size = blockSize(cipher)
  if (data.length === 0 || data.length % size !== 0) throw new IkeCryptoError('IKE_BAD_ARGUMENT', `${data.length} bytes are not whole ${size}-byte blocks`)
  if (cipher === 'aes') ikeAesCbcInPlace(true, key, iv, data)
  else des3(true, key, iv, data).copy(data)
  return Buffer.from(data.subarray(data.length - size))
}

/**
 * CBC-decrypts an IKE message body. The plaintext keeps the sender's
 * padding: the payload lengths say where the message ends. Throws
 * IKE_BAD_CIPHERTEXT if the ciphertext is empty or not whole blocks.
 */
export function decrypt(cipher: CipherName, key: Buffer, iv: Buffer, ciphertext: Buffer): { plaintext: Buffer; lastBlock: Buffer } {
  checkCipher(cipher, key, iv)
  const size = blockSize(cipher)
  if (ciphertext.length === 0 || ciphertext.length % size !== 0) {
    throw new IkeCryptoError('IKE_BAD_CIPHERTEXT', `${ciphertext.length} bytes of ciphertext are not whole ${size}-byte blocks`)
  }
  const plaintext = cipher === 'aes' ? ikeAesCbc(false, key, iv, ciphertext) : des3(false, key, iv, ciphertext)
  return { plaintext, lastBlock: Buffer.from(ciphertext.subarray(ciphertext.length - size)) }
}

function messageIdBytes(messageId: number): Buffer {
  if (!Number.isInteger(messageId) || messageId < 0 || messageId > 0xffffffff) {
    throw new IkeCryptoError('IKE_BAD_ARGUMENT', `message ID ${messageId} is not a 32-bit unsigned integer`)
  }
  const b = Buffer.alloc(4)
  b.writeUInt32BE(messageId)
  return b
}

function truncate(value: Buffer, length: number): Buffer {
  checkLength(length, 'block size')
  if (value.length < length) throw new IkeCryptoError('IKE_BAD_ARGUMENT', `a ${value.length}-byte hash cannot make a ${length}-byte IV`)
  return Buffer.from(value.subarray(0, length))
}

function checkCookie(cookie: Buffer, name: string): void {
  if (cookie.length !== 8) throw new IkeCryptoError('IKE_BAD_ARGUMENT', `${name} must be 8 bytes, got ${cookie.length}`)
}

function checkLength(length: number, what: string): void {
  if (!Number.isInteger(length) || length <= 0) throw new IkeCryptoError('IKE_BAD_ARGUMENT', `${what} ${length} is not a positive integer`)
}

/** Compares MACs and hashes in constant time (a length mismatch is not secret). */
export function equalConstantTime(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}
