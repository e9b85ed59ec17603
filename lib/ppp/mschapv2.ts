/**
 * MS-CHAPv2 (RFC 2759): the Response value and the Success/Failure messages
 * carried in CHAP packets (lib/ppp/codec.ts decodes the packets), the
 * crypto of RFC 2759 8, and the MPPE master key of RFC 3079 3.4.
 *
 * Every function that needs the user's secret takes an `NtSecret`: either
 * the password or its NT hash (MD4 of UTF-16LE), so that a server can store
 * NT hashes instead of passwords. Comparisons of secrets are constant-time.
 *
 * DES: OpenSSL 3 keeps single DES ('des-ecb') in its legacy provider, which
 * node:crypto does not load (ERR_OSSL_EVP_UNSUPPORTED). Triple DES in EDE
 * mode with K1 = K2 = K3 is single DES (E_K(D_K(E_K(x))) = E_K(x)), and
 * 'des-ede3-ecb' is in the default provider, so DesEncrypt uses that; the
 * tests check it against the NIST DES known answers.
 */
import { createCipheriv, createHash, timingSafeEqual } from 'node:crypto'
import { ChapCode, MSCHAPV2_CHALLENGE_LENGTH, MSCHAPV2_RESPONSE_LENGTH, NT_HASH_LENGTH, NT_RESPONSE_LENGTH } from './constants.js'
import { PppCodecError, toBytes } from './codec.js'
import type { Bytes, OtherCodePacket } from './codec.js'
import { md4 } from './md4.js'

/** The user's secret: the password (at most 256 characters, RFC 2759 8.3) or its 16-byte NT hash. */
export type NtSecret = { password: string } | { ntHash: Buffer }

function fixed(value: unknown, length: number, what: string): Buffer {
  if (!Buffer.isBuffer(value) || value.length !== length) {
    throw new PppCodecError('PPP_BAD_VALUE', `${what} must be a Buffer of ${length} bytes`)
  }
  return value
}

function sha1(...parts: Buffer[]): Buffer {
  const hash = createHash('sha1')
  for (const part of parts) hash.update(part)
  return hash.digest()
}

// --- RFC 2759 8 -----------------------------------------------------------

/** NtPasswordHash (RFC 2759 8.3): MD4 of the password in UTF-16LE (RFC 2759 calls it Unicode). */
export function ntPasswordHash(password: string): Buffer {
  if (typeof password !== 'string') throw new PppCodecError('PPP_BAD_VALUE', 'password must be a string')
  if (password.length > 256) throw new PppCodecError('PPP_BAD_VALUE', 'password is longer than 256 characters (RFC 2759 8.3)')
  return md4(Buffer.from(password, 'utf16le'))
}

/** HashNtPasswordHash (RFC 2759 8.4): MD4 of the NT hash. */
export function hashNtPasswordHash(passwordHash: Buffer): Buffer {
  return md4(fixed(passwordHash, NT_HASH_LENGTH, 'password hash'))
}

/** The NT hash of a secret given either way. */
export function ntHashOf(secret: NtSecret): Buffer {
  if (typeof secret !== 'object' || secret === null) throw new PppCodecError('PPP_BAD_VALUE', 'secret must be { password } or { ntHash }')
  if ('ntHash' in secret) return fixed(secret.ntHash, NT_HASH_LENGTH, 'NT hash')
  return ntPasswordHash(secret.password)
}

/**
 * The user name that goes into ChallengeHash: RFC 2759 8.2 uses "only the
 * user name (as presented by the peer and excluding any prepended domain
 * name)", so "DOMAIN\user" becomes "user", as pppd's chap_ms.c does.
 */
export function challengeUserName(userName: Bytes): Buffer {
  const bytes = toBytes(userName, 'user name')
  const backslash = bytes.lastIndexOf(0x5c)
  return backslash === -1 ? bytes : bytes.subarray(backslash + 1)
}

/** ChallengeHash (RFC 2759 8.2): the first 8 bytes of SHA1(PeerChallenge ‖ AuthenticatorChallenge ‖ UserName). */
export function challengeHash(peerChallenge: Buffer, authenticatorChallenge: Buffer, userName: Bytes): Buffer {
  return sha1(
    fixed(peerChallenge, MSCHAPV2_CHALLENGE_LENGTH, 'peer challenge'),
    fixed(authenticatorChallenge, MSCHAPV2_CHALLENGE_LENGTH, 'authenticator challenge'),
    challengeUserName(userName),
  ).subarray(0, 8)
}

/**
 * A DES key from 7 bytes (RFC 2759 8.6, "MakeKey" of RFC 2433 A.6): each
 * 8-byte key byte takes the next 7 bits, its low (parity) bit left 0, which
 * DES ignores.
 */
function desKey(key7: Buffer): Buffer {
  const key = Buffer.alloc(8)
  let bits = 0n
  for (const byte of key7) bits = (bits << 8n) | BigInt(byte)
  for (let i = 0; i < 8; i++) key[i] = Number((bits >> BigInt(49 - 7 * i)) & 0x7fn) << 1
  return key
}

/** DES-ECB of one block under an 8-byte key: 'des-ede3-ecb' with the key three times (see the module comment). */
export function desEncryptBlock(block: Buffer, key8: Buffer): Buffer {
  const key = fixed(key8, 8, 'DES key')
  const cipher = createCipheriv('des-ede3-ecb', Buffer.concat([key, key, key]), null)
  cipher.setAutoPadding(false)
  return Buffer.concat([cipher.update(fixed(block, 8, 'DES block')), cipher.final()])
}

/** DesEncrypt (RFC 2759 8.6): one block under a 7-byte key. */
export function desEncrypt(clear: Buffer, key7: Buffer): Buffer {
  return desEncryptBlock(clear, desKey(fixed(key7, 7, 'DES key')))
}

/** ChallengeResponse (RFC 2759 8.5): the 8-byte challenge encrypted under the NT hash, zero-padded to 21 bytes, cut in three 7-byte keys. */
export function challengeResponse(challenge: Buffer, passwordHash: Buffer): Buffer {
  fixed(challenge, 8, 'challenge')
  const z = Buffer.concat([fixed(passwordHash, NT_HASH_LENGTH, 'password hash'), Buffer.alloc(5)])
  return Buffer.concat([desEncrypt(challenge, z.subarray(0, 7)), desEncrypt(challenge, z.subarray(7, 14)), desEncrypt(challenge, z.subarray(14, 21))])
}

/** GenerateNTResponse (RFC 2759 8.1): the 24-byte NT-Response. */
export function generateNtResponse(authenticatorChallenge: Buffer, peerChallenge: Buffer, userName: Bytes, secret: NtSecret): Buffer {
  return challengeResponse(challengeHash(peerChallenge, authenticatorChallenge, userName), ntHashOf(secret))
}

/** Whether a peer's NT-Response is the one its secret gives (constant-time in the response). */
export function verifyNtResponse(authenticatorChallenge: Buffer, peerChallenge: Buffer, userName: Bytes, secret: NtSecret, ntResponse: Buffer): boolean {
  const expected = generateNtResponse(authenticatorChallenge, peerChallenge, userName, secret)
  return Buffer.isBuffer(ntResponse) && ntResponse.length === NT_RESPONSE_LENGTH && timingSafeEqual(expected, ntResponse)
}

const MAGIC1 = Buffer.from('Magic server to client signing constant', 'ascii')
const MAGIC2 = Buffer.from('Pad to make it do more than one iteration', 'ascii')

/**
 * GenerateAuthenticatorResponse (RFC 2759 8.7): "S=" and 40 upper-case hex
 * digits of SHA1(SHA1(PasswordHashHash ‖ NT-Response ‖ Magic1) ‖
 * ChallengeHash ‖ Magic2).
 */
export function generateAuthenticatorResponse(secret: NtSecret, ntResponse: Buffer, peerChallenge: Buffer, authenticatorChallenge: Buffer, userName: Bytes): string {
  const passwordHashHash = hashNtPasswordHash(ntHashOf(secret))
  const digest = sha1(passwordHashHash, fixed(ntResponse, NT_RESPONSE_LENGTH, 'NT-Response'), MAGIC1)
  const challenge = challengeHash(peerChallenge, authenticatorChallenge, userName)
  return `S=${sha1(digest, challenge, MAGIC2).toString('hex').toUpperCase()}`
}

/** CheckAuthenticatorResponse (RFC 2759 8.8): the peer's check of the server's "S=" string (hex compared case-insensitively). */
export function checkAuthenticatorResponse(secret: NtSecret, ntResponse: Buffer, peerChallenge: Buffer, authenticatorChallenge: Buffer, userName: Bytes, receivedResponse: string): boolean {
  const expected = Buffer.from(generateAuthenticatorResponse(secret, ntResponse, peerChallenge, authenticatorChallenge, userName), 'ascii')
  if (typeof receivedResponse !== 'string') return false
  const received = Buffer.from(receivedResponse.toUpperCase(), 'ascii')
  return received.length === expected.length && timingSafeEqual(expected, received)
}

// --- RFC 3079 3.4: MPPE keys ------------------------------------------------

const MASTER_MAGIC = Buffer.from('This is the MPPE Master Key', 'ascii')
const CLIENT_SEND_MAGIC = Buffer.from('On the client side, this is the send key; on the server side, it is the receive key.', 'ascii')
const CLIENT_RECEIVE_MAGIC = Buffer.from('On the client side, this is the receive key; on the server side, it is the send key.', 'ascii')
const SHS_PAD1 = Buffer.alloc(40, 0x00)
const SHS_PAD2 = Buffer.alloc(40, 0xf2)

/** GetMasterKey (RFC 3079 3.4): the first 16 bytes of SHA1(PasswordHashHash ‖ NT-Response ‖ Magic1). */
export function getMasterKey(passwordHashHash: Buffer, ntResponse: Buffer): Buffer {
  return sha1(fixed(passwordHashHash, NT_HASH_LENGTH, 'password hash hash'), fixed(ntResponse, NT_RESPONSE_LENGTH, 'NT-Response'), MASTER_MAGIC).subarray(0, 16)
}

/** GetAsymmetricStartKey (RFC 3079 3.4): the send or receive start key, 8 or 16 bytes, of the server or the client. */
export function getAsymmetricStartKey(masterKey: Buffer, keyLength: 8 | 16, isSend: boolean, isServer: boolean): Buffer {
  if (keyLength !== 8 && keyLength !== 16) throw new PppCodecError('PPP_BAD_VALUE', 'MPPE key length must be 8 or 16')
  const magic = isSend === isServer ? CLIENT_RECEIVE_MAGIC : CLIENT_SEND_MAGIC
  return sha1(fixed(masterKey, 16, 'master key'), SHS_PAD1, magic, SHS_PAD2).subarray(0, keyLength)
}

// --- the server's whole check -------------------------------------------------

/** The outcome of `verifyResponse`: on success, what goes in the Success packet and the MPPE master key. */
export type MsChapV2Verification =
  | { ok: true; authenticatorResponse: string; masterKey: Buffer }
  | { ok: false }

/**
 * The authenticator's check of a Response (RFC 2759 4, 5): the NT-Response
 * must match; then the "S=" string for the Success packet and the RFC 3079
 * master key. Works from the NT hash alone. `userName` is the Name field of
 * the Response.
 */
export function verifyResponse(authenticatorChallenge: Buffer, response: MsChapV2Response, userName: Bytes, secret: NtSecret): MsChapV2Verification {
  const ntHash = ntHashOf(secret)
  if (!verifyNtResponse(authenticatorChallenge, response.peerChallenge, userName, { ntHash }, response.ntResponse)) return { ok: false }
  return {
    ok: true,
    authenticatorResponse: generateAuthenticatorResponse({ ntHash }, response.ntResponse, response.peerChallenge, authenticatorChallenge, userName),
    masterKey: getMasterKey(hashNtPasswordHash(ntHash), response.ntResponse),
  }
}

// --- values and messages in CHAP packets ----------------------------------------

/**
 * The 49-byte Value of an MS-CHAPv2 Response (RFC 2759 4):
 *
 *   Peer-Challenge (16) | Reserved (8, zero) | NT-Response (24) | Flags (1, zero)
 */
export interface MsChapV2Response {
  peerChallenge: Buffer
  reserved: Buffer
  ntResponse: Buffer
  flags: number
}

export function decodeResponseValue(value: Buffer): MsChapV2Response {
  if (!Buffer.isBuffer(value) || value.length !== MSCHAPV2_RESPONSE_LENGTH) {
    throw new PppCodecError('PPP_MALFORMED', `MS-CHAPv2 Response value must be ${MSCHAPV2_RESPONSE_LENGTH} bytes`)
  }
  return {
    peerChallenge: Buffer.from(value.subarray(0, 16)),
    reserved: Buffer.from(value.subarray(16, 24)),
    ntResponse: Buffer.from(value.subarray(24, 48)),
    flags: value[48]!,
  }
}

/** The 49-byte Response value; `reserved` defaults to zeros and `flags` to 0. */
export function encodeResponseValue(response: { peerChallenge: Buffer; ntResponse: Buffer; reserved?: Buffer; flags?: number }): Buffer {
  const flags = response.flags ?? 0
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new PppCodecError('PPP_BAD_VALUE', 'flags must be a byte')
  return Buffer.concat([
    fixed(response.peerChallenge, 16, 'peer challenge'),
    fixed(response.reserved ?? Buffer.alloc(8), 8, 'reserved'),
    fixed(response.ntResponse, NT_RESPONSE_LENGTH, 'NT-Response'),
    Buffer.from([flags]),
  ])
}

/** The Success message (RFC 2759 5): "S=<40 hex digits>", then " M=<message>" when there is one. */
export function formatSuccessMessage(authenticatorResponse: string, message?: string): string {
  if (typeof authenticatorResponse !== 'string' || !/^S=[0-9A-F]{40}$/.test(authenticatorResponse)) {
    throw new PppCodecError('PPP_BAD_VALUE', 'authenticator response must be "S=" and 40 upper-case hex digits')
  }
  return message === undefined ? authenticatorResponse : `${authenticatorResponse} M=${message}`
}

/** A Success message read back: the "S=" string (as sent) and the text after "M=", if any. */
export function parseSuccessMessage(message: Bytes): { authenticatorResponse: string; message: string | undefined } {
  const text = toBytes(message, 'message').toString('latin1')
  const match = /^(S=[0-9A-Fa-f]{40})(?: M=([\s\S]*))?$/.exec(text)
  if (!match) throw new PppCodecError('PPP_MALFORMED', 'MS-CHAPv2 Success message is not "S=<40 hex> [M=<message>]"')
  return { authenticatorResponse: match[1]!, message: match[2] }
}

/** The fields of a Failure message (RFC 2759 6). */
export interface MsChapV2Failure {
  /** E=: one of MsChapError (691 authentication failure...). */
  error: number
  /** R=: whether the peer may retry. */
  retry: boolean
  /** C=: the 16-byte challenge for a retry or a password change; pppd and Windows always send one. */
  challenge: Buffer | undefined
  /** V=: the password change protocol version; 3 for RFC 2759 Change-Password. */
  version: number | undefined
  /** M=: text for the user. */
  message: string | undefined
}

/** "E=691 R=0 C=<32 upper-case hex digits> V=3 M=<message>" (RFC 2759 6), omitting C, V and M when undefined. */
export function formatFailureMessage(failure: { error: number; retry?: boolean; challenge?: Buffer; version?: number; message?: string }): string {
  if (!Number.isInteger(failure.error) || failure.error < 0) throw new PppCodecError('PPP_BAD_VALUE', 'error must be a non-negative integer')
  const parts = [`E=${failure.error}`, `R=${failure.retry === true ? 1 : 0}`]
  if (failure.challenge !== undefined) parts.push(`C=${fixed(failure.challenge, 16, 'challenge').toString('hex').toUpperCase()}`)
  if (failure.version !== undefined) {
    if (!Number.isInteger(failure.version) || failure.version < 0) throw new PppCodecError('PPP_BAD_VALUE', 'version must be a non-negative integer')
    parts.push(`V=${failure.version}`)
  }
  if (failure.message !== undefined) parts.push(`M=${failure.message}`)
  return parts.join(' ')
}

/** A Failure message read back; E= and R= are required, the rest optional; M= runs to the end. */
export function parseFailureMessage(message: Bytes): MsChapV2Failure {
  const text = toBytes(message, 'message').toString('latin1')
  const match = /^E=(\d+) R=([01])(?: C=([0-9A-Fa-f]{32}))?(?: V=(\d+))?(?: M=([\s\S]*))?$/.exec(text)
  if (!match) throw new PppCodecError('PPP_MALFORMED', 'MS-CHAPv2 Failure message is not "E=<n> R=<0|1> [C=<hex>] [V=<n>] [M=<text>]"')
  return {
    error: Number(match[1]),
    retry: match[2] === '1',
    challenge: match[3] === undefined ? undefined : Buffer.from(match[3], 'hex'),
    version: match[4] === undefined ? undefined : Number(match[4]),
    message: match[5],
  }
}

/**
 * Change-Password (CHAP code 7, RFC 2759 7), which the peer sends after a
 * Failure with E=648:
 *
 *   Encrypted-Password (516) | Encrypted-Hash (16) | Peer-Challenge (16) |
 *   Reserved (8) | NT-Response (24) | Flags (2)
 *
 * Recognised so a server can refuse it with a Failure; nothing here decrypts it.
 */
export interface MsChapV2ChangePassword {
  identifier: number
  encryptedPassword: Buffer
  encryptedHash: Buffer
  peerChallenge: Buffer
  reserved: Buffer
  ntResponse: Buffer
  flags: number
}

const CHANGE_PASSWORD_LENGTH = 516 + 16 + 16 + 8 + 24 + 2

/** Reads a CHAP packet the codec returned as `other` with code 7. */
export function decodeChangePassword(packet: OtherCodePacket): MsChapV2ChangePassword {
  if (packet.code !== ChapCode.CHANGE_PASSWORD) throw new PppCodecError('PPP_MALFORMED', `CHAP code ${packet.code} is not Change-Password (7)`)
  const data = packet.data
  if (!Buffer.isBuffer(data) || data.length !== CHANGE_PASSWORD_LENGTH) {
    throw new PppCodecError('PPP_MALFORMED', `Change-Password data must be ${CHANGE_PASSWORD_LENGTH} bytes`)
  }
  return {
    identifier: packet.identifier,
    encryptedPassword: Buffer.from(data.subarray(0, 516)),
    encryptedHash: Buffer.from(data.subarray(516, 532)),
    peerChallenge: Buffer.from(data.subarray(532, 548)),
    reserved: Buffer.from(data.subarray(548, 556)),
    ntResponse: Buffer.from(data.subarray(556, 580)),
    flags: data.readUInt16BE(580),
  }
}
