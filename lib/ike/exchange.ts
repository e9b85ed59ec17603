/**
 * What every exchange after Main Mode shares (RFC 2409 5.5, 5.7): the
 * encrypted message begins with HASH, computed with SKEYID_a over the
 * message ID and the payloads that follow it.
 */
import type { IsakmpHeader, Payload, PayloadInput } from './codec.js'
import { PayloadType } from './constants.js'
import type { IkeSa } from './ike-sa.js'

export interface Decrypted {
  payloads: Payload[]
  /** The payloads after HASH as they were on the wire (no padding). */
  afterHash: Buffer
  hash: Buffer
  commit: () => void
}

/**
 * Decrypts a message whose first payload must be HASH. Returns undefined
 * when it does not decrypt or does not start with HASH.
 */
export function decryptHashed(ike: IkeSa, header: IsakmpHeader, body: Buffer): Decrypted | undefined {
  try {
    const d = ike.decryptMessage(header, body)
    const first = d.payloads[0]
    if (!first || first.type !== PayloadType.HASH) return undefined
    const start = 4 + first.raw.length
    return { payloads: d.payloads.slice(1), afterHash: d.plaintext.subarray(start, d.end), hash: (first as { data: Buffer }).data, commit: d.commit }
  } catch {
    return undefined
  }
}

/** HASH followed by `payloads`, encrypted under the message ID's IV chain (IkeSa.encryptHashed). */
export function encryptHashed(
  ike: IkeSa,
  exchangeType: number,
  messageId: number,
  payloads: readonly PayloadInput[],
  computeHash: (afterHash: Buffer) => Buffer,
  extraFlags = 0,
): Buffer {
  return ike.encryptHashed(exchangeType, messageId, payloads, computeHash, extraFlags)
}
