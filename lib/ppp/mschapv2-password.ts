/**
 * MS-CHAPv2 Change-Password (RFC 2759 7, 8.9-8.13): after a Failure with
 * E=648 (password expired) the peer sends CHAP code 7 carrying its new
 * password, RC4-encrypted under the old NT hash, the old NT hash
 * DES-encrypted under the new one (proof that it knew the old password),
 * and an NT-Response to the Failure's C= computed with the new password.
 *
 *   Encrypted-Password (516) | Encrypted-Hash (16) | Peer-Challenge (16) |
 *   Reserved (8) | NT-Response (24) | Flags (2)
 *
 * The peer builds it with `buildChangePassword`; the authenticator (which
 * holds the old secret) checks it with `verifyChangePassword`. Vectors:
 * __test__/vectors/ppp/change-password-vectors.json.
 */
import { timingSafeEqual } from 'node:crypto'
import { ChapCode, NT_HASH_LENGTH } from './constants.js'
import { PppCodecError } from './codec.js'
import type { OtherCodePacket } from './codec.js'
import { decodeChangePassword, desEncrypt, generateAuthenticatorResponse, generateNtResponse, ntHashOf, ntPasswordHash, type MsChapV2ChangePassword, type NtSecret } from './mschapv2.js'
import { md4 } from './md4.js'
import { rc4 } from './rc4.js'

/** sizeof(PW_BLOCK): WCHAR Password[256] and a ULONG PasswordLength. */
const PW_BLOCK_LENGTH = 516
const PASSWORD_FIELD = 512

/**
 * EncryptPwBlockWithPasswordHash (RFC 2759 8.10): the UTF-16LE password at
 * the end of 512 random bytes, its byte length as a little-endian ULONG
 * (Windows' layout, as FreeRADIUS rlm_mschap reads it), RC4 under the hash.
 */
export function encryptPwBlockWithPasswordHash(password: string, passwordHash: Buffer, filler: Buffer): Buffer {
  const pw = Buffer.from(password, 'utf16le')
  if (password.length > 256) throw new PppCodecError('PPP_BAD_VALUE', 'password is longer than 256 characters (RFC 2759 8.10)')
  if (filler.length < PW_BLOCK_LENGTH) throw new PppCodecError('PPP_BAD_VALUE', `filler must be ${PW_BLOCK_LENGTH} bytes`)
  const block = Buffer.from(filler.subarray(0, PW_BLOCK_LENGTH))
  pw.copy(block, PASSWORD_FIELD - pw.length)
  block.writeUInt32LE(pw.length, PASSWORD_FIELD)
  const encrypted = rc4(passwordHash, block)
  block.fill(0)
  pw.fill(0)
  return encrypted
}

/** NewPasswordEncryptedWithOldNtPasswordHash (RFC 2759 8.9). */
export function newPasswordEncryptedWithOldNtPasswordHash(newPassword: string, oldSecret: NtSecret, filler: Buffer): Buffer {
  return encryptPwBlockWithPasswordHash(newPassword, ntHashOf(oldSecret), filler)
}

/** NtPasswordHashEncryptedWithBlock (RFC 2759 8.13): the hash's two halves DES-encrypted under 7-byte keys from `block`. */
export function ntPasswordHashEncryptedWithBlock(passwordHash: Buffer, block: Buffer): Buffer {
  return Buffer.concat([desEncrypt(passwordHash.subarray(0, 8), block.subarray(0, 7)), desEncrypt(passwordHash.subarray(8, 16), block.subarray(7, 14))])
}

/** OldNtPasswordHashEncryptedWithNewNtPasswordHash (RFC 2759 8.12). */
export function oldNtPasswordHashEncryptedWithNewNtPasswordHash(newSecret: NtSecret, oldSecret: NtSecret): Buffer {
  return ntPasswordHashEncryptedWithBlock(ntHashOf(oldSecret), ntHashOf(newSecret))
}

/** The Data of a Change-Password packet (582 bytes). */
export function encodeChangePasswordData(cp: Omit<MsChapV2ChangePassword, 'identifier' | 'reserved'> & { reserved?: Buffer }): Buffer {
  const flags = Buffer.alloc(2)
  flags.writeUInt16BE(cp.flags)
  return Buffer.concat([cp.encryptedPassword, cp.encryptedHash, cp.peerChallenge, cp.reserved ?? Buffer.alloc(8), cp.ntResponse, flags])
}

/** What the peer sends after E=648: the whole Change-Password (RFC 2759 7) for `newPassword`. */
export function buildChangePassword(input: {
  identifier: number
  /** The C= of the Failure. */
  authenticatorChallenge: Buffer
  peerChallenge: Buffer
  userName: string
  oldPassword: string
  newPassword: string
  /** 516 random bytes for the unused part of the PW_BLOCK. */
  filler: Buffer
}): OtherCodePacket {
  const encryptedPassword = newPasswordEncryptedWithOldNtPasswordHash(input.newPassword, { password: input.oldPassword }, input.filler)
  const encryptedHash = oldNtPasswordHashEncryptedWithNewNtPasswordHash({ password: input.newPassword }, { password: input.oldPassword })
  const ntResponse = generateNtResponse(input.authenticatorChallenge, input.peerChallenge, input.userName, { password: input.newPassword })
  const data = encodeChangePasswordData({ encryptedPassword, encryptedHash, peerChallenge: input.peerChallenge, ntResponse, flags: 0 })
  return { kind: 'other', code: ChapCode.CHANGE_PASSWORD, identifier: input.identifier, data }
}

/** Why a Change-Password does not verify. */
export type ChangePasswordRefusal = 'bad-block' | 'bad-old-password' | 'bad-response'

export type ChangePasswordCheck =
  | { ok: true; newPassword: string; newNtHash: Buffer; authenticatorResponse: string }
  | { ok: false; reason: ChangePasswordRefusal }

/**
 * The authenticator's check (the inverse of 8.9-8.12): decrypt the PW_BLOCK
 * with the old hash; a length that is odd or above 512 means the old hash
 * was wrong. Then the new hash must decrypt Encrypted-Hash to the old one,
 * and the NT-Response must answer C= with the new password. Constant-time
 * comparisons; the decrypted block is zeroed.
 */
export function verifyChangePassword(input: { oldSecret: NtSecret; authenticatorChallenge: Buffer; userName: string; encryptedPassword: Buffer; encryptedHash: Buffer; peerChallenge: Buffer; ntResponse: Buffer }): ChangePasswordCheck {
  const oldHash = ntHashOf(input.oldSecret)
  if (input.encryptedPassword.length !== PW_BLOCK_LENGTH || input.encryptedHash.length !== NT_HASH_LENGTH) return { ok: false, reason: 'bad-block' }
  const block = rc4(oldHash, input.encryptedPassword)
  try {
    const length = block.readUInt32LE(PASSWORD_FIELD)
    if (length > PASSWORD_FIELD || length % 2 !== 0) return { ok: false, reason: 'bad-old-password' }
    const pw = block.subarray(PASSWORD_FIELD - length, PASSWORD_FIELD)
    const newNtHash = md4(pw)
    const expectedHash = ntPasswordHashEncryptedWithBlock(oldHash, newNtHash)
    if (!timingSafeEqual(expectedHash, input.encryptedHash)) return { ok: false, reason: 'bad-old-password' }
    const expected = generateNtResponse(input.authenticatorChallenge, input.peerChallenge, input.userName, { ntHash: newNtHash })
    if (input.ntResponse.length !== expected.length || !timingSafeEqual(expected, input.ntResponse)) return { ok: false, reason: 'bad-response' }
    const newPassword = pw.toString('utf16le')
    if (!ntPasswordHash(newPassword).equals(newNtHash)) return { ok: false, reason: 'bad-block' } // not valid UTF-16
    return { ok: true, newPassword, newNtHash, authenticatorResponse: generateAuthenticatorResponse({ ntHash: newNtHash }, input.ntResponse, input.peerChallenge, input.authenticatorChallenge, input.userName) }
  } finally {
    block.fill(0)
  }
}

export { decodeChangePassword }
