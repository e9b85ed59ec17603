// EAP-MD5 (RFC 3748 5.4) decided locally, for users with a clear password
// when no RADIUS server relays EAP (small setups, tests). Two rounds:
//
//   peer                                   us
//   Response/Identity "alice"      ->     { challenge: Request/MD5-Challenge, state }
//   Response/MD5-Challenge         ->     accept / reject
//   Response/Nak (wants another)   ->     reject, `unsupported-method`
//
// The MD5-Challenge packet (Type 4):
//   Code 1 | Identifier | Length | Type 4 | Value-Size 16 | Value (16) | Name
// and the Response value is MD5(Identifier || password || Value), the
// CHAP-MD5 algorithm (RFC 1994 2.2), so `AuthAlgorithms.chapMd5Response`.
//
// The `state` handed back with the next response stays inside this process
// (PPP keeps it; it is never sent to the peer): a tag, the Request's
// Identifier and the challenge.
import { randomBytes } from 'node:crypto'
import type { AuthChallenge } from './types.js'

export const EAP_TYPE = { IDENTITY: 1, NOTIFICATION: 2, NAK: 3, MD5_CHALLENGE: 4 } as const

const STATE_TAG = Buffer.from('local-eap-md5:', 'ascii')
const CHALLENGE_LENGTH = 16

/** The fields of an EAP Request/Response (RFC 3748 4.1), or undefined if `packet` is not one. */
export function eapMessage(packet: Buffer): { code: number; identifier: number; type: number; typeData: Buffer } | undefined {
  if (packet.length < 5) return undefined
  const length = packet.readUInt16BE(2)
  if (length < 5 || length > packet.length || (packet[0] !== 1 && packet[0] !== 2)) return undefined
  return { code: packet[0]!, identifier: packet[1]!, type: packet[4]!, typeData: Buffer.from(packet.subarray(5, length)) }
}

/** An EAP Request or Response packet. */
export function encodeEapMessage(code: 1 | 2, identifier: number, type: number, typeData: Buffer): Buffer {
  const packet = Buffer.alloc(5 + typeData.length)
  packet[0] = code
  packet[1] = identifier & 0xff
  packet.writeUInt16BE(packet.length, 2)
  packet[4] = type
  typeData.copy(packet, 5)
  return packet
}

/** Value-Size, Value and Name of an MD5-Challenge Request or Response. */
export function md5ChallengeData(typeData: Buffer): { value: Buffer; name: Buffer } | undefined {
  const size = typeData[0]
  if (size === undefined || size === 0 || 1 + size > typeData.length) return undefined
  return { value: Buffer.from(typeData.subarray(1, 1 + size)), name: Buffer.from(typeData.subarray(1 + size)) }
}

export function encodeMd5ChallengeData(value: Buffer, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from([value.length]), value, name])
}

/** The MD5-Challenge that answers a Response/Identity with `identifier` (the next Request takes identifier + 1). */
export function md5Challenge(identifier: number, serverName: string, random: (size: number) => Buffer = randomBytes): AuthChallenge {
  const next = (identifier + 1) & 0xff
  const value = Buffer.from(random(CHALLENGE_LENGTH))
  return {
    challenge: true,
    eapMessage: encodeEapMessage(1, next, EAP_TYPE.MD5_CHALLENGE, encodeMd5ChallengeData(value, Buffer.from(serverName, 'utf8'))),
    state: Buffer.concat([STATE_TAG, Buffer.from([next]), value]),
  }
}

/** The Identifier and challenge our `state` carried, or undefined when it is not ours. */
export function readState(state: Buffer | undefined): { identifier: number; challenge: Buffer } | undefined {
  if (!state || state.length !== STATE_TAG.length + 1 + CHALLENGE_LENGTH || !state.subarray(0, STATE_TAG.length).equals(STATE_TAG)) return undefined
  return { identifier: state[STATE_TAG.length]!, challenge: Buffer.from(state.subarray(STATE_TAG.length + 1)) }
}
