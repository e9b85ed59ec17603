/**
 * Fuzz targets for the JS codecs: each decoder takes mutated real messages
 * and must either decode them or throw its own typed error (IkeCodecError,
 * L2tpCodecError, PppCodecError, RadiusCodecError); anything else (a
 * TypeError, a RangeError from a Buffer read, an endless loop the runner
 * times) is a bug. Where a decode succeeds, the checks that follow a decode
 * in the real path run too (payload chains of "decrypted" bodies, hidden
 * AVPs with a secret, the RADIUS authenticator checks).
 */
import { decodeHeader, decodeMessage, decodePayloads, IkeCodecError } from '../../ike/codec.js'
import { decodeControl as decodeL2tp, L2tpCodecError } from '../../l2tp/codec.js'
import * as ppp from '../../ppp/codec.js'
import { parseRouterSolicitation } from '../../ppp/ipv6-nd.js'
import { decodeAttributes, decodePacket, packetBytes, RadiusCodecError } from '../../auth/radius/codec.js'
import { verifyAccessRequest, verifyRequest, verifyResponse } from '../../auth/radius/authenticators.js'
import { parseMsChapError } from '../../auth/radius/authenticator.js'
import { mutatedBytes } from './mutate.js'
import { ikeSeeds, l2tpSeeds, pppSeeds, radiusSeeds } from './seeds.js'
import { bufferJson, FuzzPropertyError, onlyTyped, type FuzzTarget } from './target.js'

const isIke = (e: unknown) => e instanceof IkeCodecError
const isL2tp = (e: unknown) => e instanceof L2tpCodecError
const isPpp = (e: unknown) => e instanceof ppp.PppCodecError
const isRadius = (e: unknown) => e instanceof RadiusCodecError
const never = () => false

export const ikeCodecTarget: FuzzTarget<Buffer> = {
  name: 'ike-codec',
  description: 'decodeHeader, decodeMessage and the payload chain of a (decrypted) body, on mutated IKE messages of the recorded sessions',
  arbitrary: () => mutatedBytes(ikeSeeds()),
  check(input) {
    onlyTyped('decodeHeader', () => decodeHeader(input), isIke)
    onlyTyped('decodeMessage', () => decodeMessage(input), isIke)
    // What a wrong key decrypts to is garbage parsed as a payload chain: every first payload type.
    const body = input.subarray(Math.min(28, input.length))
    for (const first of [1, 5, 8, 11, 20, input[16] ?? 0]) onlyTyped(`decodePayloads(${first})`, () => decodePayloads(first, body, 28), isIke)
  },
  ...bufferJson,
}

export const l2tpCodecTarget: FuzzTarget<Buffer> = {
  name: 'l2tp-codec',
  description: 'decodeControl without and with a tunnel secret (hidden AVPs), on mutated L2TP control messages of the recorded sessions',
  arbitrary: () => mutatedBytes(l2tpSeeds()),
  check(input) {
    onlyTyped('decodeControl', () => decodeL2tp(input), isL2tp)
    onlyTyped('decodeControl(secret)', () => decodeL2tp(input, { secret: 'fuzz-secret' }), isL2tp)
  },
  ...bufferJson,
}

const PPP_DECODERS: [string, (b: Buffer) => unknown][] = [
  ['decodeLcp', ppp.decodeLcp],
  ['decodeIpcp', ppp.decodeIpcp],
  ['decodeIpv6cp', ppp.decodeIpv6cp],
  ['decodeCcp', ppp.decodeCcp],
  ['decodePap', ppp.decodePap],
  ['decodeChap', ppp.decodeChap],
  ['decodeEap', ppp.decodeEap],
]

export const pppCodecTarget: FuzzTarget<Buffer> = {
  name: 'ppp-codec',
  description: 'decodeFrame, decodeControlFrame, every protocol decoder on the information field, and the Router Solicitation parser, on mutated PPP control frames of the recorded sessions',
  arbitrary: () => mutatedBytes(pppSeeds()),
  check(input) {
    onlyTyped('decodeFrame', () => ppp.decodeFrame(input), isPpp)
    onlyTyped('decodeControlFrame', () => ppp.decodeControlFrame(input), isPpp)
    let information = input
    try {
      information = ppp.decodeFrame(input).information
    } catch {
      // the raw bytes then
    }
    for (const [name, decode] of PPP_DECODERS) onlyTyped(name, () => decode(information), isPpp)
    onlyTyped('parseRouterSolicitation', () => parseRouterSolicitation(input), never)
  },
  ...bufferJson,
}

export const radiusCodecTarget: FuzzTarget<Buffer> = {
  name: 'radius-codec',
  description: 'decodePacket and decodeAttributes, the authenticator checks (which must never throw) and the MS-CHAP-Error parser, on mutated RADIUS requests and replies (FreeRADIUS, RFC 2865)',
  arbitrary: () => mutatedBytes(radiusSeeds().flatMap((s) => [s.request, s.reply])),
  check(input) {
    onlyTyped('decodePacket', () => decodePacket(input), isRadius)
    onlyTyped('decodeAttributes', () => decodeAttributes(input.subarray(Math.min(20, input.length))), isRadius)
    let bytes: Buffer
    try {
      bytes = packetBytes(input)
    } catch (e) {
      if (!isRadius(e)) throw new FuzzPropertyError(`packetBytes threw ${String(e)}`)
      return
    }
    const secret = radiusSeeds()[0]!.secret
    for (const required of [true, false]) {
      onlyTyped('verifyResponse', () => verifyResponse(bytes, Buffer.alloc(16, 7), secret, required), never)
      onlyTyped('verifyRequest', () => verifyRequest(bytes, secret, required), never)
      onlyTyped('verifyAccessRequest', () => verifyAccessRequest(bytes, secret, required), never)
    }
    onlyTyped('parseMsChapError', () => parseMsChapError(input.subarray(1)), never)
  },
  ...bufferJson,
}

export const codecTargets = [ikeCodecTarget, l2tpCodecTarget, pppCodecTarget, radiusCodecTarget]
