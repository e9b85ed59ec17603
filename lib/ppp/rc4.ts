/**
 * RC4 (ARCFOUR), for RFC 2759 8.10's EncryptPwBlockWithPasswordHash only:
 * OpenSSL 3 keeps 'rc4' in its legacy provider, which node:crypto does not
 * load (ERR_OSSL_EVP_UNSUPPORTED), as with MD4 (md4.ts). Encryption and
 * decryption are the same operation. Checked against the RFC 6229 test
 * vectors in __test__/ppp-auth.spec.ts.
 */
export function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  if (key.length < 1 || key.length > 256) throw new RangeError('RC4 key must be 1 to 256 bytes')
  const s = new Uint8Array(256)
  for (let i = 0; i < 256; i++) s[i] = i
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff
    const t = s[i]!
    s[i] = s[j]!
    s[j] = t
  }
  const out = Buffer.alloc(data.length)
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff
    j = (j + s[i]!) & 0xff
    const t = s[i]!
    s[i] = s[j]!
    s[j] = t
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 0xff]!
  }
  s.fill(0)
  return out
}
