/**
 * The PPP credential algorithms (CHAP-MD5, RFC 2759 MS-CHAPv2) in the shape
 * lib/auth's authenticators take, so local users and callbacks verify with
 * exactly the code that builds our packets.
 */
import type { AuthAlgorithms } from '../auth/types.js'
import { chapMd5Response } from './chap.js'
import { generateAuthenticatorResponse, generateNtResponse, ntPasswordHash } from './mschapv2.js'
import { verifyChangePassword } from './mschapv2-password.js'

export const pppAuthAlgorithms: AuthAlgorithms = {
  chapMd5Response,
  ntPasswordHash,
  generateNtResponse: (authenticatorChallenge, peerChallenge, user, ntHash) => generateNtResponse(authenticatorChallenge, peerChallenge, user, { ntHash }),
  generateAuthenticatorResponse: (ntHash, ntResponse, peerChallenge, authenticatorChallenge, user) =>
    generateAuthenticatorResponse({ ntHash }, ntResponse, peerChallenge, authenticatorChallenge, user),
  verifyChangePassword: ({ oldNtHash, authenticatorChallenge, peerChallenge, ntResponse, user, change }) =>
    verifyChangePassword({ oldSecret: { ntHash: oldNtHash }, authenticatorChallenge, peerChallenge, ntResponse, userName: user, encryptedPassword: change.encryptedPassword, encryptedHash: change.encryptedHash }),
}
