/**
 * PAP (RFC 1334 2): reading an Authenticate-Request and checking it against
 * a known password. The packets are in lib/ppp/codec.ts. PAP carries the
 * password in clear (here inside IPsec): offer it last.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { toBytes } from './codec.js'
import type { Bytes, PapRequestPacket } from './codec.js'

/** The Peer-ID and Password of a request as strings (UTF-8; invalid sequences become U+FFFD). */
export function papCredentials(request: PapRequestPacket): { peerId: string; password: string } {
  return { peerId: request.peerId.toString('utf8'), password: request.password.toString('utf8') }
}

/**
 * Whether a request carries this Peer-ID and password, byte for byte. Both
 * sides are hashed before the constant-time comparison so that neither
 * length nor content leaks through timing.
 */
export function verifyPapRequest(request: PapRequestPacket, peerId: Bytes, password: Bytes): boolean {
  const digest = (id: Buffer, pw: Buffer): Buffer => {
    const hash = createHash('sha256')
    hash.update(Buffer.from([id.length]))
    hash.update(id)
    hash.update(pw)
    return hash.digest()
  }
  const expected = digest(toBytes(peerId, 'Peer-ID', 0xff), toBytes(password, 'password', 0xff))
  return timingSafeEqual(expected, digest(request.peerId, request.password))
}
