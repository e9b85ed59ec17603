/**
 * MD4 (RFC 1320), for the NT password hash of MS-CHAPv2 (RFC 2759 8.3).
 * OpenSSL 3 moved MD4 to its legacy provider, which node:crypto does not
 * load, so `createHash('md4')` throws ERR_OSSL_EVP_UNSUPPORTED; this is the
 * RFC's algorithm, one-shot over a Buffer. MD4 is broken as a hash: use it
 * for nothing but NT hashes.
 */

const A0 = 0x67452301
const B0 = 0xefcdab89
const C0 = 0x98badcfe
const D0 = 0x10325476

/** RFC 1320 3.4: the additive constants of rounds 2 and 3 (sqrt 2 and sqrt 3). */
const ROUND2 = 0x5a827999
const ROUND3 = 0x6ed9eba1

function rotl(x: number, s: number): number {
  return (x << s) | (x >>> (32 - s))
}

/** The 16-byte MD4 digest of `message`. */
export function md4(message: Uint8Array): Buffer {
  // RFC 1320 3.1, 3.2: append 0x80, zeros to 56 mod 64, then the bit length little-endian in 64 bits.
  const length = message.length
  const padded = Buffer.alloc((((length + 8) >>> 6) + 1) << 6)
  padded.set(message, 0)
  padded[length] = 0x80
  const bits = length * 8
  padded.writeUInt32LE(bits >>> 0, padded.length - 8)
  padded.writeUInt32LE(Math.floor(bits / 0x100000000) >>> 0, padded.length - 4)

  let a = A0
  let b = B0
  let c = C0
  let d = D0
  const x = new Array<number>(16)
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readInt32LE(block + i * 4)
    const aa = a
    const bb = b
    const cc = c
    const dd = d

    // Round 1: [abcd k s] a = (a + F(b,c,d) + X[k]) <<< s, F(x,y,z) = xy v not(x) z.
    for (const k of [0, 4, 8, 12]) {
      a = rotl((a + ((b & c) | (~b & d)) + x[k]!) | 0, 3)
      d = rotl((d + ((a & b) | (~a & c)) + x[k + 1]!) | 0, 7)
      c = rotl((c + ((d & a) | (~d & b)) + x[k + 2]!) | 0, 11)
      b = rotl((b + ((c & d) | (~c & a)) + x[k + 3]!) | 0, 19)
    }
    // Round 2: a = (a + G(b,c,d) + X[k] + 5A827999) <<< s, G(x,y,z) = xy v xz v yz.
    for (const k of [0, 1, 2, 3]) {
      a = rotl((a + ((b & c) | (b & d) | (c & d)) + x[k]! + ROUND2) | 0, 3)
      d = rotl((d + ((a & b) | (a & c) | (b & c)) + x[k + 4]! + ROUND2) | 0, 5)
      c = rotl((c + ((d & a) | (d & b) | (a & b)) + x[k + 8]! + ROUND2) | 0, 9)
      b = rotl((b + ((c & d) | (c & a) | (d & a)) + x[k + 12]! + ROUND2) | 0, 13)
    }
    // Round 3: a = (a + H(b,c,d) + X[k] + 6ED9EBA1) <<< s, H(x,y,z) = x xor y xor z; k in order 0 8 4 12, 2 10 6 14, ...
    for (const k of [0, 2, 1, 3]) {
      a = rotl((a + (b ^ c ^ d) + x[k]! + ROUND3) | 0, 3)
      d = rotl((d + (a ^ b ^ c) + x[k + 8]! + ROUND3) | 0, 9)
      c = rotl((c + (d ^ a ^ b) + x[k + 4]! + ROUND3) | 0, 11)
      b = rotl((b + (c ^ d ^ a) + x[k + 12]! + ROUND3) | 0, 15)
    }

    a = (a + aa) | 0
    b = (b + bb) | 0
    c = (c + cc) | 0
    d = (d + dd) | 0
  }

  const digest = Buffer.alloc(16)
  digest.writeInt32LE(a, 0)
  digest.writeInt32LE(b, 4)
  digest.writeInt32LE(c, 8)
  digest.writeInt32LE(d, 12)
  return digest
}
