/**
 * RadiusAuthenticator (and its RadiusClient) against a hostile RADIUS
 * server on loopback: each Access-Request is answered with a drawn series
 * of datagrams: random bytes, mutated recorded replies unsigned, and
 * mutated recorded replies correctly signed for this request (so the
 * mutations reach the code that reads an Accept: MS-CHAP2-Success, MPPE
 * keys, Framed-IP-Address, Session-Timeout, Filter-Id, EAP...). The
 * request goes out for PAP, CHAP, MS-CHAPv2 or EAP.
 *
 * Properties: authenticate() resolves (it never rejects) within the
 * client's timeout; the result is a success or a typed failure, never
 * 'internal-error' (which is what an exception inside turns into).
 */
import { createSocket, type Socket } from 'node:dgram'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { RadiusAuthenticator } from '../../auth/radius/authenticator.js'
import { signResponse } from '../../auth/radius/authenticators.js'
import { decodeAttributes, decodePacket, encodeAttributes, RadiusCodecError } from '../../auth/radius/codec.js'
import type { AuthRequest } from '../../auth/types.js'
import { applyEdits, editArbitrary, type Edit } from './mutate.js'
import { radiusSeeds } from './seeds.js'
import { FuzzPropertyError, type FuzzTarget } from './target.js'

type Reply = { kind: 'random'; bytes: number[] } | { kind: 'unsigned' | 'signed'; seed: number; edits: Edit[]; code: number }

interface RadiusInput {
  method: number
  replies: Reply[]
}

const SECRET = radiusSeeds()[0]!.secret
const PEER = { address: '198.51.100.7', port: 4500 }
const REQUESTS: AuthRequest[] = [
  { method: 'pap', user: 'alice', password: 'alice-pass-1', peer: PEER },
  { method: 'chap-md5', user: 'alice', identifier: 1, challenge: Buffer.alloc(16, 1), response: Buffer.alloc(16, 2), peer: PEER },
  { method: 'mschapv2', user: 'mppe-user', authenticatorChallenge: Buffer.alloc(16, 3), peerChallenge: Buffer.alloc(16, 4), ntResponse: Buffer.alloc(24, 5), peer: PEER },
  { method: 'eap', eapMessage: Buffer.from('0201000a01616c696365', 'hex'), peer: PEER },
]
/** Access-Accept, -Reject, -Challenge, and whatever else. */
const CODES = [2, 3, 11, 2, 2, 4, 0, 255]

function replyBytes(r: Reply, request: Buffer): Buffer | undefined {
  if (r.kind === 'random') return Buffer.from(r.bytes)
  const seeds = radiusSeeds()
  const seed = seeds[r.seed % seeds.length]!.reply
  if (r.kind === 'unsigned') {
    const b = applyEdits(seed, r.edits)
    if (b.length >= 2) b[1] = request[1]!
    return b
  }
  // Signed: mutate the attribute section, keep it decodable, sign for this request.
  let attributes
  try {
    attributes = decodeAttributes(applyEdits(decodePacket(seed).attributes.length ? encodeAttributes(decodePacket(seed).attributes) : Buffer.alloc(0), r.edits))
  } catch (e) {
    if (e instanceof RadiusCodecError) return undefined
    throw e
  }
  try {
    return signResponse({ code: CODES[r.code % CODES.length]!, identifier: request[1]!, requestAuthenticator: request.subarray(4, 20), attributes: attributes.filter((a) => a.type !== 80), secret: SECRET, messageAuthenticator: true })
  } catch (e) {
    if (e instanceof RadiusCodecError) return undefined
    throw e
  }
}

const replyArbitrary: fc.Arbitrary<Reply> = fc.oneof(
  fc.record({ kind: fc.constant('random' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 80 }) }),
  fc.record({ kind: fc.constant('unsigned' as const), seed: fc.nat({ max: 100 }), edits: fc.array(editArbitrary, { maxLength: 4 }), code: fc.nat({ max: 7 }) }),
  { arbitrary: fc.record({ kind: fc.constant('signed' as const), seed: fc.nat({ max: 100 }), edits: fc.array(editArbitrary, { maxLength: 4 }), code: fc.nat({ max: 7 }) }), weight: 4 },
)

function bind(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4')
    s.once('error', reject)
    s.bind(0, '127.0.0.1', () => resolve(s))
  })
}

export const radiusClientTarget: FuzzTarget<RadiusInput> = {
  name: 'radius-client',
  description: 'RadiusAuthenticator (PAP, CHAP, MS-CHAPv2, EAP) against a loopback RADIUS server answering with random bytes, mutated unsigned replies and mutated replies signed for the request; resolves in time with a typed result, never internal-error',
  arbitrary: () => fc.record({ method: fc.nat({ max: REQUESTS.length - 1 }), replies: fc.array(replyArbitrary, { minLength: 1, maxLength: 4 }) }),
  async check(input) {
    const server = await bind()
    const port = (server.address() as AddressInfo).port
    server.on('message', (request, from) => {
      for (const r of input.replies) {
        const bytes = replyBytes(r, request)
        if (bytes) server.send(bytes, from.port, from.address)
      }
    })
    const auth = new RadiusAuthenticator({ servers: [{ host: '127.0.0.1', port, secret: SECRET, timeoutMs: 60, retries: 0 }], nas: { nasIdentifier: 'fuzz' } })
    try {
      const result = await Promise.race([auth.authenticate(REQUESTS[input.method]!), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 3000))])
      if (result === 'hung') throw new FuzzPropertyError('authenticate() did not settle within 3 s (client timeout 60 ms)')
      if (typeof result !== 'object' || result === null) throw new FuzzPropertyError(`authenticate() gave ${String(result)}`)
      if ('ok' in result && !result.ok && result.reason === 'internal-error') throw new FuzzPropertyError(`internal-error: ${result.detail}`)
    } finally {
      await auth.close()
      await new Promise<void>((r) => server.close(() => r()))
    }
  },
  toJson: (i) => i,
  fromJson: (j) => j as RadiusInput,
}
