// lib/auth/radius codec and crypto: RFC 2865 section 7's packets (decode,
// User-Password, Response Authenticators), round trips of every signing
// function against its verifier, RFC 2548 salt encryption (and a real
// FreeRADIUS Access-Accept whose MPPE keys must equal RFC 3079's), strict
// decoding of malformed packets, and a seeded fuzz of the decoder.
import test from 'ava'
import { readFileSync } from 'node:fs'
import {
  Attr,
  Code,
  MsAttr,
  RadiusCodecError,
  VENDOR_MICROSOFT,
  attr,
  decodePacket,
  encodePacket,
  formatIpv6,
  ipv6Bytes,
  ipv6Prefix,
  readIpv6Prefix,
  revealPassword,
  hidePassword,
  saltDecrypt,
  saltEncrypt,
  signAccessRequest,
  signRequest,
  signResponse,
  splitEapMessage,
  joinEapMessage,
  verifyAccessRequest,
  verifyRequest,
  verifyResponse,
  vendorAttributes,
  first,
  readInteger,
  readIpv4,
  readString,
  attributeName,
  codeName,
} from '../lib/auth/radius/index.js'
import { getAsymmetricStartKey, getMasterKey, hashNtPasswordHash, ntPasswordHash, generateAuthenticatorResponse } from '../lib/ppp/mschapv2.js'
import { mutateRadius as mutate } from './helpers/freeradius.js'
import { mulberry32 } from './helpers/seeded.js'

interface Rfc2865Exchange {
  section: string
  request: string
  requestAttributes: Record<string, string | number>
  reply: string
  replyAttributes: Record<string, string | number>
}
const rfc = JSON.parse(readFileSync(new URL('./vectors/radius/rfc2865.json', import.meta.url), 'utf8')) as { secret: string; exchanges: Rfc2865Exchange[] }
const mschap = JSON.parse(readFileSync(new URL('./vectors/radius/freeradius-mschapv2.json', import.meta.url), 'utf8')) as {
  secret: string
  user: string
  password: string
  authenticatorChallenge: string
  peerChallenge: string
  ntResponse: string
  request: string
  accept: string
}
const SECRET = Buffer.from(rfc.secret)

/** Dictionary names of the RFC 2865 examples (some are not in our dictionary: they are the RFC's, not ours). */
const TYPES: Record<string, [number, 'string' | 'integer' | 'ipv4']> = {
  'User-Name': [1, 'string'], 'NAS-IP-Address': [4, 'ipv4'], 'NAS-Port': [5, 'integer'], 'Service-Type': [6, 'integer'],
  'Framed-Protocol': [7, 'integer'], 'Framed-IP-Address': [8, 'ipv4'], 'Framed-Routing': [10, 'integer'], 'Framed-MTU': [12, 'integer'],
  'Framed-Compression': [13, 'integer'], 'Login-IP-Host': [14, 'ipv4'], 'Login-Service': [15, 'integer'], 'Reply-Message': [18, 'string'], State: [24, 'string'],
}

function read(value: Buffer, kind: 'string' | 'integer' | 'ipv4'): string | number {
  return kind === 'string' ? readString(value) : kind === 'integer' ? readInteger(value) : readIpv4(value)
}

for (const ex of rfc.exchanges) {
  test(`RFC 2865 ${ex.section} (identifier ${parseInt(ex.request.slice(2, 4), 16)}): decode, password, Response Authenticator, re-encode`, (t) => {
    const request = Buffer.from(ex.request, 'hex')
    const reply = Buffer.from(ex.reply, 'hex')
    const q = decodePacket(request)
    const r = decodePacket(reply)
    t.is(q.code, Code.ACCESS_REQUEST)
    t.is(r.identifier, q.identifier)
    for (const [name, expected] of Object.entries(ex.requestAttributes)) {
      if (name === 'User-Password') {
        t.is(revealPassword(first(q.attributes, Attr.USER_PASSWORD)!, SECRET, q.authenticator).toString(), String(expected))
        // and hiding it again gives the RFC's bytes
        t.deepEqual(hidePassword(Buffer.from(String(expected)), SECRET, q.authenticator), first(q.attributes, Attr.USER_PASSWORD))
        continue
      }
      const [type, kind] = TYPES[name]!
      t.is(read(first(q.attributes, type)!, kind), expected, name)
    }
    for (const [name, expected] of Object.entries(ex.replyAttributes)) {
      const [type, kind] = TYPES[name]!
      t.is(read(first(r.attributes, type)!, kind), expected, name)
    }
    t.is(verifyResponse(reply, q.authenticator, SECRET, false), undefined)
    t.is(verifyResponse(reply, q.authenticator, Buffer.from('xyzzy5462'), false), 'bad-authenticator')
    // no Message-Authenticator in 1997: our client (which requires one) would drop these
    t.is(verifyResponse(reply, q.authenticator, SECRET, true), 'missing-message-authenticator')
    t.deepEqual(encodePacket(q), request)
    t.deepEqual(encodePacket(r), reply)
    // signResponse without a Message-Authenticator reproduces the RFC's reply byte for byte
    t.deepEqual(signResponse({ code: r.code, identifier: r.identifier, requestAuthenticator: q.authenticator, attributes: r.attributes, secret: SECRET, messageAuthenticator: false }), reply)
  })
}

test('signAccessRequest: Message-Authenticator first, password hidden, verifiable; reproduces RFC 2865 7.1 with it removed', (t) => {
  const ex = rfc.exchanges[0]!
  const q = decodePacket(Buffer.from(ex.request, 'hex'))
  const clear = q.attributes.map((a) => (a.type === Attr.USER_PASSWORD ? attr.string(Attr.USER_PASSWORD, 'arctangent') : a))
  const signed = signAccessRequest({ identifier: 0, attributes: clear, secret: SECRET, authenticator: q.authenticator })
  const p = decodePacket(signed.bytes)
  t.is(p.attributes[0]!.type, Attr.MESSAGE_AUTHENTICATOR)
  t.deepEqual(p.attributes.slice(1), q.attributes)
  t.is(verifyAccessRequest(signed.bytes, SECRET), undefined)
  t.is(verifyAccessRequest(signed.bytes, Buffer.from('other')), 'bad-message-authenticator')
  const tampered = Buffer.from(signed.bytes)
  tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1
  t.is(verifyAccessRequest(tampered, SECRET), 'bad-message-authenticator')
})

test('signResponse / verifyResponse: Message-Authenticator over the Request Authenticator; one flipped bit anywhere fails', (t) => {
  const requestAuthenticator = Buffer.alloc(16, 7)
  const reply = signResponse({ code: Code.ACCESS_ACCEPT, identifier: 9, requestAuthenticator, attributes: [attr.ipv4(Attr.FRAMED_IP_ADDRESS, '10.0.0.9')], secret: SECRET })
  t.is(verifyResponse(reply, requestAuthenticator, SECRET, true), undefined)
  t.is(verifyResponse(reply, Buffer.alloc(16, 8), SECRET, true), 'bad-authenticator')
  for (let i = 0; i < reply.length * 8; i++) {
    const copy = Buffer.from(reply)
    copy[i >> 3] = copy[i >> 3]! ^ (1 << (i & 7))
    if (copy.readUInt16BE(2) !== reply.length) continue // a Length change is the decoder's business
    t.not(verifyResponse(copy, requestAuthenticator, SECRET, true), undefined, `bit ${i}`)
  }
})

test('signRequest / verifyRequest (Accounting, Disconnect): computed Request Authenticator, optional Message-Authenticator', (t) => {
  const attributes = [attr.integer(Attr.ACCT_STATUS_TYPE, 1), attr.string(Attr.ACCT_SESSION_ID, 'gw-1')]
  for (const messageAuthenticator of [false, true]) {
    const { bytes } = signRequest({ code: Code.DISCONNECT_REQUEST, identifier: 3, attributes, secret: SECRET, messageAuthenticator })
    t.is(verifyRequest(bytes, SECRET), undefined)
    t.is(verifyRequest(bytes, Buffer.from('nope')), 'bad-authenticator')
    t.is(decodePacket(bytes).attributes.some((a) => a.type === Attr.MESSAGE_AUTHENTICATOR), messageAuthenticator)
  }
})

test('User-Password: 1..128 bytes round-trip in 16-byte blocks; longer is refused', (t) => {
  const authenticator = Buffer.alloc(16, 0x5a)
  for (const n of [1, 15, 16, 17, 63, 128]) {
    const password = Buffer.alloc(n, 0x61 + (n % 20))
    const hidden = hidePassword(password, SECRET, authenticator)
    t.is(hidden.length, Math.max(16, Math.ceil(n / 16) * 16))
    t.deepEqual(revealPassword(hidden, SECRET, authenticator), password)
  }
  t.throws(() => hidePassword(Buffer.alloc(129), SECRET, authenticator), { instanceOf: RadiusCodecError })
  t.throws(() => revealPassword(Buffer.alloc(17), SECRET, authenticator), { instanceOf: RadiusCodecError })
})

test('RFC 2548 salt encryption: round trip; a wrong secret or a mangled value is a typed error or a different key', (t) => {
  const authenticator = Buffer.alloc(16, 3)
  const key = Buffer.alloc(16, 0xab)
  const value = saltEncrypt(key, SECRET, authenticator, Buffer.from([0x81, 0x02]))
  t.is(value.length, 2 + 32) // salt, then Key-Length + 16 + padding to 32
  t.deepEqual(saltDecrypt(value, SECRET, authenticator), key)
  t.throws(() => saltEncrypt(key, SECRET, authenticator, Buffer.from([0x01, 0x02])), { instanceOf: RadiusCodecError })
  t.throws(() => saltDecrypt(value.subarray(0, 20), SECRET, authenticator), { instanceOf: RadiusCodecError })
  let wrong: Buffer | RadiusCodecError
  try {
    wrong = saltDecrypt(value, Buffer.from('other'), authenticator)
  } catch (error) {
    wrong = error as RadiusCodecError
  }
  t.true(wrong instanceof RadiusCodecError || !wrong.equals(key))
})

test('FreeRADIUS 3.2.1 MS-CHAPv2 Access-Accept: authenticated, S= is RFC 2759 8.7, MPPE keys are RFC 3079 3.4', (t) => {
  const secret = Buffer.from(mschap.secret)
  const request = decodePacket(Buffer.from(mschap.request, 'hex'))
  const acceptBytes = Buffer.from(mschap.accept, 'hex')
  t.is(verifyAccessRequest(Buffer.from(mschap.request, 'hex'), secret), undefined)
  t.is(verifyResponse(acceptBytes, request.authenticator, secret, true), undefined)
  const accept = decodePacket(acceptBytes)
  const ms = vendorAttributes(accept.attributes, VENDOR_MICROSOFT)
  const ntResponse = Buffer.from(mschap.ntResponse, 'hex')
  const peerChallenge = Buffer.from(mschap.peerChallenge, 'hex')
  const authenticatorChallenge = Buffer.from(mschap.authenticatorChallenge, 'hex')
  const success = ms.find((v) => v.type === MsAttr.CHAP2_SUCCESS)!.value.subarray(1).toString()
  t.is(success, generateAuthenticatorResponse({ password: mschap.password }, ntResponse, peerChallenge, authenticatorChallenge, mschap.user))
  const master = getMasterKey(hashNtPasswordHash(ntPasswordHash(mschap.password)), ntResponse)
  const send = saltDecrypt(ms.find((v) => v.type === MsAttr.MPPE_SEND_KEY)!.value, secret, request.authenticator)
  const recv = saltDecrypt(ms.find((v) => v.type === MsAttr.MPPE_RECV_KEY)!.value, secret, request.authenticator)
  t.deepEqual(send, getAsymmetricStartKey(master, 16, true, true))
  t.deepEqual(recv, getAsymmetricStartKey(master, 16, false, true))
})

test('attribute helpers: IPv6 prefixes (RFC 3162), tagged integers, EAP-Message split at 253, names', (t) => {
  t.is(formatIpv6(ipv6Bytes('2001:db8::1')), '2001:db8::1')
  t.is(formatIpv6(ipv6Bytes('::ffff:192.0.2.1')), '::ffff:c000:201')
  t.is(formatIpv6(ipv6Bytes('1:0:0:2:0:0:0:3')), '1:0:0:2::3')
  const prefix = ipv6Prefix(Attr.FRAMED_IPV6_PREFIX, '2001:db8:42:7::/64')
  t.is(prefix.value.length, 2 + 8)
  t.is(readIpv6Prefix(prefix.value), '2001:db8:42:7::/64')
  t.throws(() => readIpv6Prefix(Buffer.from([0, 64, 1])), { instanceOf: RadiusCodecError })
  t.deepEqual(attr.tagged(Attr.TUNNEL_TYPE, 0, 3).value, Buffer.from([0, 0, 0, 3]))
  const eap = Buffer.alloc(600, 1)
  const chunks = splitEapMessage(eap)
  t.deepEqual(chunks.map((c) => c.value.length), [253, 253, 94])
  t.deepEqual(joinEapMessage(chunks), eap)
  t.is(attributeName(Attr.NAS_IP_ADDRESS), 'NAS-IP-Address')
  t.is(attributeName(Attr.FRAMED_IPV6_PREFIX), 'Framed-IPv6-Prefix')
  t.is(attributeName(Attr.ACCT_SESSION_ID), 'Acct-Session-Id')
  t.is(codeName(Code.COA_ACK), 'CoA-ACK')
  t.throws(() => readInteger(Buffer.alloc(3)), { instanceOf: RadiusCodecError })
  t.throws(() => attr.vendor(VENDOR_MICROSOFT, 1, Buffer.alloc(248)), { instanceOf: RadiusCodecError })
})

test('strict decoding: each malformation is a RadiusCodecError with its code', (t) => {
  const good = Buffer.from(rfc.exchanges[0]!.reply, 'hex')
  const cases: Array<[string, Buffer, string]> = [
    ['short datagram', good.subarray(0, 19), 'RADIUS_TRUNCATED'],
    ['Length below 20', Buffer.concat([good.subarray(0, 2), Buffer.from([0, 19]), good.subarray(4)]), 'RADIUS_BAD_LENGTH'],
    ['Length above 4096', Buffer.concat([good.subarray(0, 2), Buffer.from([0x10, 0x01]), good.subarray(4)]), 'RADIUS_BAD_LENGTH'],
    ['Length beyond the datagram', Buffer.concat([good.subarray(0, 2), Buffer.from([0, good.length + 1]), good.subarray(4)]), 'RADIUS_TRUNCATED'],
    ['attribute length 1', Buffer.concat([good.subarray(0, 21), Buffer.from([1]), good.subarray(22)]), 'RADIUS_BAD_ATTRIBUTE'],
    ['attribute past the end', Buffer.concat([good.subarray(0, 21), Buffer.from([40]), good.subarray(22)]), 'RADIUS_BAD_ATTRIBUTE'],
    ['attribute type 0', Buffer.concat([good.subarray(0, 20), Buffer.from([0]), good.subarray(21)]), 'RADIUS_BAD_ATTRIBUTE'],
    ['one stray byte', (() => { const b = Buffer.concat([good, Buffer.from([6])]); b.writeUInt16BE(b.length, 2); return b })(), 'RADIUS_BAD_ATTRIBUTE'],
  ]
  for (const [name, bytes, code] of cases) t.is(catchCode(() => decodePacket(bytes)), code, name)
  // bytes beyond Length are padding (RFC 2865 3)
  t.deepEqual(decodePacket(Buffer.concat([good, Buffer.alloc(10, 0xee)])), decodePacket(good))
  t.is(catchCode(() => encodePacket({ code: 1, identifier: 0, authenticator: Buffer.alloc(16), attributes: [{ type: 1, value: Buffer.alloc(254) }] })), 'RADIUS_VALUE_TOO_LONG')
  t.is(catchCode(() => encodePacket({ code: 1, identifier: 0, authenticator: Buffer.alloc(16), attributes: Array.from({ length: 17 }, () => ({ type: 1, value: Buffer.alloc(253) })) })), 'RADIUS_PACKET_TOO_LONG')
})

function catchCode(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return error instanceof RadiusCodecError ? error.code : `not a RadiusCodecError: ${String(error)}`
  }
  return undefined
}

test('decoder fuzz: 5000 seeded mutations of real packets decode or throw RadiusCodecError, nothing else', (t) => {
  const seeds = [...rfc.exchanges.flatMap((e) => [e.request, e.reply]), mschap.request, mschap.accept].map((h) => Buffer.from(h, 'hex'))
  const next = mulberry32(2865)
  let decoded = 0
  for (let i = 0; i < 5000; i++) {
    const bytes = mutate(seeds[next() % seeds.length]!, next)
    try {
      const p = decodePacket(bytes)
      for (const a of p.attributes) if (a.type === Attr.VENDOR_SPECIFIC) vendorAttributes([a], VENDOR_MICROSOFT)
      decoded++
    } catch (error) {
      if (!(error instanceof RadiusCodecError)) t.fail(`mutation ${i} threw ${String(error)}`)
    }
  }
  t.true(decoded > 100 && decoded < 5000, `${decoded} decoded`)
})
