/**
 * IKEv1 fragmentation, the Cisco/Microsoft scheme announced by the
 * FRAGMENTATION vendor ID (VendorIds.FRAGMENTATION), as strongSwan
 * implements it. Windows and strongSwan use it for Main Mode messages 5/6
 * that carry certificates and would otherwise be fragmented at the IP layer
 * (and lost behind NATs that drop IP fragments). Sans-IO: Buffers in,
 * Buffers out; the caller owns sockets and clocks.
 *
 * Sending (strongSwan src/libcharon/encoding/message.c, `fragment` and
 * `create_fragment`; src/libcharon/sa/ike_sa.c, `generate_message_fragmented`):
 *
 * - Only towards a peer that sent the FRAGMENTATION vendor ID, and only when
 *   the whole message does not fit: `fragment()` returns the message as it
 *   is when its length <= the budget. (strongSwan additionally sends
 *   fragments to Windows peers only for messages that carry a CERT payload,
 *   as Windows 7/8 accept them only there; that decision is the caller's.)
 * - The data that is split is the whole message as it would have been sent
 *   — ISAKMP header included, already encrypted (`finalize_message` first,
 *   then `this->packet->get_data()`). The receiver concatenates the data in
 *   fragment-number order and parses the result as a new datagram
 *   (`add_fragment_v1` -> `merge_fragments` -> `parse_header`).
 * - strongSwan's `fragment_size` (charon.fragment_size, default 1280; 0
 *   means 576 for IPv4 / 1280 for IPv6; ike_sa.c `determine_fragment_size`)
 *   is the size of the whole IP packet: it subtracts 20 (IPv4) or 40 (IPv6),
 *   8 (UDP), 4 (non-ESP marker, when not on port 500), then 28 (ISAKMP
 *   header) and 8 (fragment payload header) to get the data per fragment.
 *   `maxIkeMessageSize` does the first three subtractions; `fragmentMessage`
 *   the last two.
 * - One fragment message per chunk, numbered from 1, the last one flagged.
 *   Header of each fragment message (`create_fragment` -> `clone_message`,
 *   `create_header`), as strongSwan sends it:
 *
 *     initiator cookie, responder cookie  copied from the original message
 *     next payload                        132 (FRAGMENT), the only payload
 *     version                             copied (1.0)
 *     exchange type                       2 (ID_PROT) — "always use the
 *                                         initial message type for fragments,
 *                                         even for quick mode or transaction
 *                                         messages" — or 4 (AGGRESSIVE) when
 *                                         the connection uses Aggressive Mode
 *     flags                               0: the fragment message itself is
 *                                         not encrypted (the payload rule for
 *                                         PLV1_FRAGMENT has encr = FALSE), so
 *                                         the E bit is clear even when the
 *                                         original's is set; no commit bit
 *     message ID                          0 ("other implementations seem to
 *                                         just use 0 as message ID")
 *     length                              28 + 8 + data
 *
 *   Fragment payload (encoding/payloads/fragment_payload.c): next payload 0,
 *   reserved 0, payload length 8 + data, fragment ID, fragment number
 *   (1 byte), flags (1 byte, 0x01 = last), data. strongSwan's
 *   `fragment_payload_create_from_data` always writes fragment ID 1; it does
 *   not increment it. libreswan (programs/pluto/ikev1_send.c `send_v1_frags`)
 *   also hard-codes ID 1 ("seems to be what all the cool implementations
 *   do"), but copies the original header, keeping its exchange type, message
 *   ID and flags except E.
 *
 * Receiving (strongSwan message.c `add_fragment_v1`, `add_fragment`,
 * `merge_fragments`, `message_create_defrag`; sa/ikev1/task_manager_v1.c
 * `handle_fragment`; libreswan programs/pluto/ikev1.c, the
 * ISAKMP_NEXT_IKE_FRAGMENTATION branch of `process_v1_packet`):
 *
 * - A fragment message is recognised by the header's next payload 132 alone.
 *   The E flag is ignored (racoon sets it; strongSwan `parse_header` clears
 *   it for fragments); the message ID and exchange type are not part of the
 *   key (strongSwan sends 0 and ID_PROT, libreswan the original values).
 * - strongSwan keeps one reassembly per IKE SA and starts over when a
 *   fragment with another fragment ID arrives; we keep one per (peer,
 *   cookies) and do the same.
 * - A fragment number 0 is invalid (`fragment_payload.c` `verify`);
 *   libreswan also rejects numbers above 16 and a fragment payload whose
 *   next payload is not NONE.
 * - A duplicate number is ignored, the first copy kept (`add_fragment`:
 *   "ignore a duplicate fragment"). We do so for an identical copy; a copy
 *   with other data starts the reassembly over (see `add`). The first fragment with the last flag
 *   fixes the count (`if (!this->frag->last && payload->is_last(payload))`);
 *   the message is complete when every number 1..last is present.
 * - When the data received so far exceeds `max_packet` (charon.max_packet,
 *   PACKET_MAX_DEFAULT = 10000 bytes) strongSwan discards the whole
 *   reassembly (`reset_defrag`: "fragmented IKE message is too large").
 * - The reassembled datagram must parse as an ISAKMP header (`parse_header`);
 *   we also require its cookies to be those of the fragments and its next
 *   payload not to be another FRAGMENT.
 *
 * Beyond strongSwan (which bounds reassembly by having one per IKE SA), the
 * Reassembler bounds the number of messages being reassembled at once and
 * their age, since it runs before any IKE SA exists for the cookies.
 */
import { decodeHeader } from './codec.js'
import type { IsakmpHeader } from './codec.js'
import { ExchangeType, ISAKMP_HEADER_LENGTH, PayloadType } from './constants.js'

/** The fragment payload's own header: next payload, reserved, length (2), fragment ID (2), number, flags. */
export const FRAGMENT_HEADER_LENGTH = 8
/** Header of a fragment message before its data: ISAKMP header plus fragment payload header. */
export const FRAGMENT_OVERHEAD = ISAKMP_HEADER_LENGTH + FRAGMENT_HEADER_LENGTH
/** The fragment number is one byte. */
export const MAX_FRAGMENT_NUMBER = 255
/** Flag bit of the last fragment. */
export const LAST_FRAGMENT = 0x01
/** strongSwan's charon.fragment_size default: the whole IP packet, in bytes. */
export const DEFAULT_FRAGMENT_SIZE = 1280

/**
 * The largest IKE message (ISAKMP header and payloads) that fits in an IP
 * packet of `fragmentSize` bytes, as strongSwan's `fragment()` computes it:
 * minus the IP header (20, or 40 for IPv6), the UDP header (8), and the
 * non-ESP marker (4) when the message goes over UDP 4500.
 */
export function maxIkeMessageSize(fragmentSize: number = DEFAULT_FRAGMENT_SIZE, options: { ipv6?: boolean; nonEspMarker?: boolean } = {}): number {
  return Math.max(1, fragmentSize - (options.ipv6 ? 40 : 20) - 8 - (options.nonEspMarker ? 4 : 0))
}

export interface FragmentOptions {
  /**
   * Exchange type of the fragment messages. Default: AGGRESSIVE when the
   * original message is Aggressive Mode, else MAIN (ID_PROT), as strongSwan
   * does (it uses AGGRESSIVE for every message of an Aggressive Mode
   * connection, Quick Mode included: pass it here for those).
   */
  exchangeType?: number
}

/**
 * Splits a whole (already encrypted) ISAKMP message into fragment messages
 * of at most `maxSize` bytes each (header + fragment payload + data). A
 * message of at most `maxSize` bytes is returned unchanged, alone, as
 * strongSwan does. `fragmentId` is 0..65535 (strongSwan and libreswan always
 * send 1). Throws RangeError on a bad argument, on a message whose header
 * does not decode or whose length field is not its length, or when more
 * than 255 fragments would be needed. Note that libreswan accepts fragment
 * numbers up to 16 only.
 */
export function fragmentMessage(message: Buffer, fragmentId: number, maxSize: number, options: FragmentOptions = {}): Buffer[] {
  if (!Buffer.isBuffer(message)) throw new RangeError('message must be a Buffer')
  if (!Number.isInteger(fragmentId) || fragmentId < 0 || fragmentId > 0xffff) throw new RangeError(`fragment ID ${fragmentId} is not 0..65535`)
  if (!Number.isInteger(maxSize) || maxSize <= FRAGMENT_OVERHEAD) throw new RangeError(`maximum fragment size ${maxSize} leaves no room for data after ${FRAGMENT_OVERHEAD} header bytes`)
  let header: IsakmpHeader
  try {
    header = decodeHeader(message)
  } catch (e) {
    throw new RangeError(`not an ISAKMP message: ${(e as Error).message}`)
  }
  if (header.length !== message.length) throw new RangeError(`ISAKMP length ${header.length} is not the message length ${message.length}`)
  if (message.length <= maxSize) return [message]

  const exchangeType = options.exchangeType ?? (header.exchangeType === ExchangeType.AGGRESSIVE ? ExchangeType.AGGRESSIVE : ExchangeType.MAIN)
  if (!Number.isInteger(exchangeType) || exchangeType < 0 || exchangeType > 0xff) throw new RangeError(`exchange type ${exchangeType} is not 0..255`)
  const chunk = maxSize - FRAGMENT_OVERHEAD
  const count = Math.ceil(message.length / chunk)
  if (count > MAX_FRAGMENT_NUMBER) throw new RangeError(`a message of ${message.length} bytes needs ${count} fragments of ${chunk} bytes, more than ${MAX_FRAGMENT_NUMBER}`)

  const fragments: Buffer[] = []
  for (let number = 1; number <= count; number++) {
    const data = message.subarray((number - 1) * chunk, number * chunk)
    const out = Buffer.alloc(FRAGMENT_OVERHEAD + data.length)
    message.copy(out, 0, 0, 16) // both cookies
    out[16] = PayloadType.FRAGMENT
    out[17] = message[17]! // version
    out[18] = exchangeType
    out[19] = 0 // flags: not encrypted, no commit
    out.writeUInt32BE(0, 20) // message ID
    out.writeUInt32BE(out.length, 24)
    out[28] = PayloadType.NONE
    out[29] = 0
    out.writeUInt16BE(FRAGMENT_HEADER_LENGTH + data.length, 30)
    out.writeUInt16BE(fragmentId, 32)
    out[34] = number
    out[35] = number === count ? LAST_FRAGMENT : 0
    data.copy(out, FRAGMENT_OVERHEAD)
    fragments.push(out)
  }
  return fragments
}

/** Whether a datagram (non-ESP marker removed) is a fragment message: header next payload 132. */
export function isFragment(datagram: Buffer): boolean {
  return Buffer.isBuffer(datagram) && datagram.length >= ISAKMP_HEADER_LENGTH && datagram[16] === PayloadType.FRAGMENT
}

export interface ReassemblyLimits {
  /** Highest fragment number accepted, so fragments per message (libreswan: 16). */
  maxFragments: number
  /** Fragment data per message, in bytes (strongSwan max_packet: 10000). */
  maxBytes: number
  /** Messages being reassembled at once, all peers of this endpoint together. */
  maxPending: number
  /** Seconds from a message's first fragment until its partial reassembly is discarded. */
  timeout: number
}

export const DEFAULT_REASSEMBLY_LIMITS: Readonly<ReassemblyLimits> = Object.freeze({
  maxFragments: 16,
  maxBytes: 64 * 1024,
  maxPending: 32,
  timeout: 30,
})

/** Why a fragment, or a whole reassembly, was dropped. */
export type FragmentDropReason =
  | 'fragment: malformed header'
  | 'fragment: not a fragment message'
  | 'fragment: truncated payload'
  | 'fragment: bad payload length'
  | 'fragment: payload not alone'
  | 'fragment: number 0'
  | 'fragment: too many fragments'
  | 'fragment: number beyond last'
  | 'fragment: conflicting last'
  | 'fragment: message too large'
  | 'fragment: too many pending'
  | 'fragment: reassembled message malformed'

export type ReassemblyResult = { complete: Buffer } | { dropped: FragmentDropReason } | undefined

interface Pending {
  fragmentId: number
  cookies: Buffer
  /** Fragment data by number. */
  parts: Map<number, Buffer>
  /** Number of the last fragment, 0 while unknown. */
  last: number
  bytes: number
  started: number
}

/**
 * Reassembles fragment messages into the datagrams they carry. One per
 * endpoint: peers are told apart by `peerKey`, so that fragments from two
 * addresses never mix even when they claim the same cookies. `now` is in
 * seconds, on the same clock as `timeout`.
 */
export class Reassembler {
  readonly limits: Readonly<ReassemblyLimits>
  private readonly table = new Map<string, Pending>()
  private readonly counts: Partial<Record<FragmentDropReason | 'duplicate' | 'replaced' | 'expired' | 'complete', number>> = {}

  constructor(limits: Partial<ReassemblyLimits> = {}) {
    const merged = { ...DEFAULT_REASSEMBLY_LIMITS }
    for (const key of Object.keys(merged) as (keyof ReassemblyLimits)[]) {
      const v = limits[key]
      if (v === undefined) continue
      if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`reassembly limit ${key} must be a non-negative number`)
      merged[key] = v
    }
    this.limits = Object.freeze(merged)
  }

  /** Messages being reassembled. */
  get pending(): number {
    return this.table.size
  }

  /** How many fragments were dropped, by reason, plus duplicates ignored, reassemblies replaced or expired, and messages completed. */
  get stats(): Readonly<Record<string, number>> {
    return { ...this.counts }
  }

  /**
   * Feeds one fragment message (header + FRAGMENT payload). Returns the
   * reassembled original message when complete; undefined while waiting
   * (a retransmitted fragment is ignored); `{ dropped }` for
   * what breaks the limits or is malformed. Never throws.
   */
  add(datagram: Buffer, peerKey: string, now: number): ReassemblyResult {
    this.expire(now)
    if (!isFragment(datagram)) {
      return this.drop(Buffer.isBuffer(datagram) && datagram.length >= ISAKMP_HEADER_LENGTH ? 'fragment: not a fragment message' : 'fragment: malformed header')
    }
    let length: number
    try {
      length = decodeHeader(datagram).length
    } catch {
      return this.drop('fragment: malformed header')
    }
    const body = datagram.subarray(ISAKMP_HEADER_LENGTH, length)
    if (body.length < FRAGMENT_HEADER_LENGTH) return this.drop('fragment: truncated payload')
    const payloadLength = body.readUInt16BE(2)
    if (payloadLength < FRAGMENT_HEADER_LENGTH || payloadLength > body.length) return this.drop('fragment: bad payload length')
    if (body[0] !== PayloadType.NONE) return this.drop('fragment: payload not alone')
    const fragmentId = body.readUInt16BE(4)
    const number = body[6]!
    const isLast = (body[7]! & LAST_FRAGMENT) !== 0
    const data = body.subarray(FRAGMENT_HEADER_LENGTH, payloadLength)
    if (number === 0) return this.drop('fragment: number 0')
    if (number > this.limits.maxFragments) return this.drop('fragment: too many fragments')

    const cookies = datagram.subarray(0, 16)
    const key = `${String(peerKey)}\u0000${cookies.toString('hex')}`
    let entry = this.table.get(key)
    if (entry && entry.fragmentId !== fragmentId) {
      // strongSwan add_fragment_v1: another fragment ID starts over.
      this.replace(key)
      entry = undefined
    }
    const held = entry?.parts.get(number)
    if (entry && held) {
      // strongSwan add_fragment ignores a duplicate number. A retransmission
      // carries the same data; different data under the same number means
      // the peer started another message under the same fragment ID (every
      // implementation sends ID 1), so start over with it rather than
      // splice two messages together.
      if (held.equals(data)) {
        this.count('duplicate')
        return undefined
      }
      this.replace(key)
      entry = undefined
    }
    if (!entry) {
      if (this.table.size >= this.limits.maxPending) return this.drop('fragment: too many pending')
      entry = { fragmentId, cookies: Buffer.from(cookies), parts: new Map(), last: 0, bytes: 0, started: now }
      this.table.set(key, entry)
    }

    if (entry.last !== 0 && number > entry.last) return this.drop('fragment: number beyond last')
    if (isLast) {
      if (entry.last !== 0 && entry.last !== number) return this.drop('fragment: conflicting last')
      let highest = 0
      for (const n of entry.parts.keys()) highest = Math.max(highest, n)
      if (highest > number) return this.drop('fragment: conflicting last')
      entry.last = number
    }
    entry.bytes += data.length
    if (entry.bytes > this.limits.maxBytes) {
      // strongSwan reset_defrag: "fragmented IKE message is too large".
      this.table.delete(key)
      return this.drop('fragment: message too large')
    }
    entry.parts.set(number, Buffer.from(data))

    if (entry.last === 0 || entry.parts.size !== entry.last) return undefined
    this.table.delete(key)
    const parts: Buffer[] = []
    for (let n = 1; n <= entry.last; n++) parts.push(entry.parts.get(n)!)
    const whole = Buffer.concat(parts, entry.bytes)
    try {
      const header = decodeHeader(whole)
      if (!whole.subarray(0, 16).equals(entry.cookies) || header.nextPayload === PayloadType.FRAGMENT) {
        return this.drop('fragment: reassembled message malformed')
      }
    } catch {
      return this.drop('fragment: reassembled message malformed')
    }
    this.count('complete')
    return { complete: whole }
  }

  /** Discards reassemblies whose first fragment arrived `timeout` seconds or more before `now`. */
  expire(now: number): void {
    if (typeof now !== 'number' || Number.isNaN(now)) return
    for (const [key, entry] of this.table) {
      if (now - entry.started >= this.limits.timeout) {
        this.table.delete(key)
        this.count('expired')
      }
    }
  }

  private replace(key: string): void {
    this.table.delete(key)
    this.count('replaced')
  }

  private count(what: FragmentDropReason | 'duplicate' | 'replaced' | 'expired' | 'complete'): void {
    this.counts[what] = (this.counts[what] ?? 0) + 1
  }

  private drop(reason: FragmentDropReason): { dropped: FragmentDropReason } {
    this.count(reason)
    return { dropped: reason }
  }
}
