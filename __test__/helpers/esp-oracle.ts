/**
 * ESP (RFC 4303) sealed and opened with OpenSSL through node:crypto: an
 * implementation independent of ours, to check ours against.
 */
import crypto from 'node:crypto'

interface OracleSuite {
  cipher: string
  gcm: boolean
  ivLength: number
  block: number
  hmac?: string
  icvLength: number
}

const CIPHERS: Record<string, [string, number, number]> = {
  aes128: ['aes-128-cbc', 16, 16],
  aes192: ['aes-192-cbc', 16, 16],
  aes256: ['aes-256-cbc', 16, 16],
  '3des': ['des-ede3-cbc', 8, 8],
}
const MACS: Record<string, [string, number]> = {
  md5: ['md5', 12],
  sha1: ['sha1', 12],
  sha256: ['sha256', 16],
  sha256_96: ['sha256', 12],
  sha384: ['sha384', 24],
  sha512: ['sha512', 32],
}

export function oracleSuite(name: string): OracleSuite {
  if (name === 'aes128gcm-16') return { cipher: 'aes-128-gcm', gcm: true, ivLength: 8, block: 4, icvLength: 16 }
  if (name === 'aes256gcm-16') return { cipher: 'aes-256-gcm', gcm: true, ivLength: 8, block: 4, icvLength: 16 }
  const [c, m] = name.split('-') as [string, string]
  const cipher = CIPHERS[c]
  const mac = MACS[m]
  if (!cipher || !mac) throw new Error(`oracle has no suite ${name}`)
  return { cipher: cipher[0], gcm: false, ivLength: cipher[1], block: cipher[2], hmac: mac[0], icvLength: mac[1] }
}

export interface OracleKeys {
  encryptionKey: Buffer
  integrityKey?: Buffer
}

/** Ways to make an authentic but malformed packet. */
export interface Malformation {
  /** Pad bytes other than RFC 4303 2.4's 1, 2, 3, ... */
  padByte?: (i: number) => number
  /** A Pad Length field that lies. */
  padLengthField?: number
  /** Extra whole blocks of padding. */
  extraPadBlocks?: number
}

export function opensslSeal(
  name: string,
  keys: OracleKeys,
  spi: number,
  seq: number,
  payload: Buffer,
  nextHeader: number,
  malform: Malformation = {},
): Buffer {
  const { padByte = (i: number) => i + 1, padLengthField, extraPadBlocks = 0 } = malform
  const s = oracleSuite(name)
  const header = Buffer.alloc(8)
  header.writeUInt32BE(spi, 0)
  header.writeUInt32BE(seq, 4)
  const padded = (Math.ceil((payload.length + 2) / s.block) + extraPadBlocks) * s.block
  const padLength = padded - payload.length - 2
  const trailer = Buffer.alloc(padLength + 2)
  for (let i = 0; i < padLength; i++) trailer[i] = padByte(i)
  trailer[padLength] = padLengthField ?? padLength
  trailer[padLength + 1] = nextHeader
  const plaintext = Buffer.concat([payload, trailer])
  const iv = crypto.randomBytes(s.ivLength)
  if (s.gcm) {
    const key = keys.encryptionKey.subarray(0, -4)
    const nonce = Buffer.concat([keys.encryptionKey.subarray(-4), iv])
    const c = crypto.createCipheriv(s.cipher as crypto.CipherGCMTypes, key, nonce, { authTagLength: 16 })
    c.setAAD(header)
    const ct = Buffer.concat([c.update(plaintext), c.final()])
    return Buffer.concat([header, iv, ct, c.getAuthTag()])
  }
  const c = crypto.createCipheriv(s.cipher, keys.encryptionKey, iv).setAutoPadding(false)
  const body = Buffer.concat([header, iv, c.update(plaintext), c.final()])
  const icv = crypto.createHmac(s.hmac!, keys.integrityKey!).update(body).digest().subarray(0, s.icvLength)
  return Buffer.concat([body, icv])
}

/** Opens a packet; throws if the ICV or padding is wrong. */
export function opensslOpen(name: string, keys: OracleKeys, packet: Buffer): { spi: number; seq: number; payload: Buffer; nextHeader: number } {
  const s = oracleSuite(name)
  const header = packet.subarray(0, 8)
  const iv = packet.subarray(8, 8 + s.ivLength)
  const ciphertext = packet.subarray(8 + s.ivLength, packet.length - s.icvLength)
  const icv = packet.subarray(packet.length - s.icvLength)
  let plaintext: Buffer
  if (s.gcm) {
    const nonce = Buffer.concat([keys.encryptionKey.subarray(-4), iv])
    const d = crypto.createDecipheriv(s.cipher as crypto.CipherGCMTypes, keys.encryptionKey.subarray(0, -4), nonce, { authTagLength: 16 })
    d.setAAD(header)
    d.setAuthTag(icv)
    plaintext = Buffer.concat([d.update(ciphertext), d.final()])
  } else {
    const expected = crypto.createHmac(s.hmac!, keys.integrityKey!).update(packet.subarray(0, packet.length - s.icvLength)).digest().subarray(0, s.icvLength)
    if (!crypto.timingSafeEqual(expected, icv)) throw new Error('ICV mismatch')
    const d = crypto.createDecipheriv(s.cipher, keys.encryptionKey, iv).setAutoPadding(false)
    plaintext = Buffer.concat([d.update(ciphertext), d.final()])
  }
  const nextHeader = plaintext[plaintext.length - 1]!
  const padLength = plaintext[plaintext.length - 2]!
  const payload = plaintext.subarray(0, plaintext.length - 2 - padLength)
  for (let i = 0; i < padLength; i++) {
    if (plaintext[payload.length + i] !== i + 1) throw new Error('bad padding')
  }
  return { spi: header.readUInt32BE(0), seq: header.readUInt32BE(4), payload, nextHeader }
}
