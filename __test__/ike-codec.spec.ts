/**
 * IKEv1 codec: every IKE message of the five recorded real sessions (see
 * __test__/vectors/ike/*.json, built by extract.ts from
 * __test__/vectors/real/*\/session.pcap with tshark's reading stored beside
 * each message), hand-built payloads for what the sessions do not carry,
 * every error path, and a property test that only IkeCodecError escapes.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { readCapture } from './helpers/pcap.js'
import { parseIpv4 } from './helpers/packets.js'
import {
  IkeCodecError,
  attributeNumber,
  decodeAttributes,
  decodeHeader,
  decodeMessage,
  decodePayloadBody,
  decodePayloadChain,
  decodePayloads,
  encodeAttributes,
  encodeMessage,
  encodePayloadBody,
  encodePayloads,
  encodePlainMessage,
  findAttribute,
  findPayload,
  payloadsOf,
} from '../lib/ike/codec.js'
import type { IkeCodecErrorCode, IsakmpHeader, Payload, PayloadInput } from '../lib/ike/codec.js'
import {
  EncapsulationMode,
  EncryptionAlgorithm,
  EspTransformId,
  ExchangeType,
  Flag,
  HashAlgorithm,
  IdType,
  IkeAttribute,
  IpsecAttribute,
  IpsecAuthAlgorithm,
  NotifyType,
  PayloadType,
  ProtocolId,
  VendorIds,
  identifyVendorId,
  nameOf,
} from '../lib/ike/constants.js'

// --- vectors --------------------------------------------------------------

interface TsharkAttribute { type: number; tv: boolean; value: string; text: string }
interface TsharkSummary {
  exchangeType: number
  flags: number
  messageId: string
  length: number
  encrypted: boolean
  payloads: { type: number; name: string; length: number }[]
  sa?: {
    doi: number
    situation: string
    proposals: { number: number; protocol: number; spiSize: number; transformCount: number; transforms: { number: number; id: number; attributes: TsharkAttribute[] }[] }[]
  }
  vendorIds: { id: string; name: string }[]
  natD: string[]
  encryptedDataSize?: number
}
interface VectorMessage { frame: number; from: 'client' | 'server'; udp: string; nonEspMarker: boolean; info: string; hex: string; tshark: TsharkSummary }
interface VectorFile { source: string; counts: { frames: number; ike: number; esp: number; keepalive: number }; messages: VectorMessage[] }

const vectorDir = join(import.meta.dirname, 'vectors', 'ike')
const realDir = join(import.meta.dirname, 'vectors', 'real')
const sessions = readdirSync(vectorDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ name: f.replace(/\.json$/, ''), vectors: JSON.parse(readFileSync(join(vectorDir, f), 'utf8')) as VectorFile }))
const allMessages = sessions.flatMap((s) => s.vectors.messages.map((m) => ({ session: s.name, ...m, bytes: Buffer.from(m.hex, 'hex') })))

test('vectors: five sessions, 45 IKE messages, 20 in the clear and 25 encrypted', (t) => {
  t.is(sessions.length, 5)
  t.is(allMessages.length, 45)
  t.is(allMessages.filter((m) => !m.tshark.encrypted).length, 20)
  t.is(allMessages.filter((m) => m.tshark.encrypted).length, 25)
})

for (const { name, vectors } of sessions) {
  test(`${name}: vectors are the capture's IKE datagrams (helpers/pcap.ts re-extraction)`, (t) => {
    const frames = readCapture(readFileSync(join(realDir, name, 'session.pcap')))
    t.is(frames.length, vectors.counts.frames)
    for (const m of vectors.messages) {
      const frame = frames[m.frame - 1]!
      const ip = parseIpv4(frame.data, frame.linkType)
      t.truthy(ip)
      const udpPayload = ip!.payload.subarray(8)
      const ike = m.nonEspMarker ? udpPayload.subarray(4) : udpPayload
      if (m.nonEspMarker) t.true(udpPayload.subarray(0, 4).equals(Buffer.alloc(4)))
      t.is(ike.toString('hex'), m.hex, `frame ${m.frame}`)
    }
  })
}

function checkHeader(t: ExecutionContext, header: IsakmpHeader, m: (typeof allMessages)[number]): void {
  t.is(header.majorVersion, 1)
  t.is(header.minorVersion, 0)
  t.is(header.exchangeType, m.tshark.exchangeType)
  t.is(header.flags, m.tshark.flags)
  t.is(header.messageId, parseInt(m.tshark.messageId, 16))
  t.is(header.length, m.tshark.length)
  t.is(header.length, m.bytes.length)
  t.true(header.initiatorCookie.equals(m.bytes.subarray(0, 8)))
}

for (const m of allMessages) {
  const label = `${m.session} frame ${m.frame} (${m.from}, ${m.info}${m.tshark.encrypted ? ', encrypted' : ''})`
  test(`vector ${label}: decodes as tshark reads it and re-encodes byte for byte`, (t) => {
    const { header, payloads, body, trailing } = decodeMessage(m.bytes)
    checkHeader(t, header, m)
    t.is(trailing, 0)
    if (m.tshark.encrypted) {
      t.is(header.flags & Flag.ENCRYPTION, Flag.ENCRYPTION)
      t.deepEqual(payloads, [])
      t.is(body.length, m.tshark.encryptedDataSize ?? -1)
      t.true(encodeMessage(header, body, header.nextPayload).equals(m.bytes))
      return
    }

    // Payload types and lengths, in order.
    t.deepEqual(payloads.map((p) => p.type), m.tshark.payloads.map((p) => p.type))
    t.deepEqual(payloads.map((p) => p.raw.length + 4), m.tshark.payloads.map((p) => p.length))

    // SA: proposals, transforms, attributes.
    const sa = findPayload(payloads, PayloadType.SA)
    t.is(sa !== undefined, m.tshark.sa !== undefined)
    if (sa && m.tshark.sa) {
      t.is(sa.doi, m.tshark.sa.doi)
      t.is(sa.situation, parseInt(m.tshark.sa.situation, 16))
      t.is(sa.situationData.length, 0)
      t.is(sa.proposals.length, m.tshark.sa.proposals.length)
      sa.proposals.forEach((p, i) => {
        const want = m.tshark.sa!.proposals[i]!
        t.is(p.number, want.number)
        t.is(p.protocol, want.protocol)
        t.is(p.spi.length, want.spiSize)
        t.is(p.transforms.length, want.transformCount)
        t.is(p.transforms.length, want.transforms.length)
        p.transforms.forEach((tr, j) => {
          const wantT = want.transforms[j]!
          t.is(tr.number, wantT.number)
          t.is(tr.id, wantT.id)
          t.deepEqual(
            tr.attributes.map((a) => ({ type: a.type, tv: typeof a.value === 'number', value: typeof a.value === 'number' ? a.value.toString(16).padStart(4, '0') : a.value.toString('hex') })),
            wantT.attributes.map((a) => ({ type: a.type, tv: a.tv, value: a.value })),
          )
        })
      })
    }

    // Vendor IDs and NAT-D hashes.
    t.deepEqual(payloadsOf(payloads, PayloadType.VENDOR_ID).map((v) => v.data.toString('hex')), m.tshark.vendorIds.map((v) => v.id))
    t.deepEqual(
      [...payloadsOf(payloads, PayloadType.NAT_D), ...payloadsOf(payloads, PayloadType.NAT_D_DRAFT)].map((n) => n.data.toString('hex')),
      m.tshark.natD,
    )

    // Exact round trip: each body, the chain, the whole message.
    for (const p of payloads) t.true(encodePayloadBody(p).equals(p.raw), `payload ${p.type} body`)
    const encodedBody = encodePayloads(payloads)
    t.true(encodedBody.equals(body))
    t.true(encodeMessage(header, encodedBody, header.nextPayload).equals(m.bytes))
    t.true(encodePlainMessage(header, payloads).equals(m.bytes))
  })
}

test('vectors: the vendor IDs strongSwan sends are identified by name', (t) => {
  const seen = new Set<string>()
  for (const m of allMessages.filter((x) => !x.tshark.encrypted)) {
    for (const v of payloadsOf(decodeMessage(m.bytes).payloads, PayloadType.VENDOR_ID)) seen.add(identifyVendorId(v.data)?.name ?? `unknown ${v.data.toString('hex')}`)
  }
  t.deepEqual([...seen].sort(), [VendorIds.DPD.name, VendorIds.FRAGMENTATION.name, VendorIds.NATT_RFC3947.name, VendorIds.XAUTH.name, VendorIds.NATT_DRAFT_02N.name].sort())
})

test('vectors: Main Mode messages 3 and 4 carry KE, nonce and two NAT-D; clients offer NAT-T, servers answer RFC 3947', (t) => {
  for (const s of sessions) {
    const plain = s.vectors.messages.filter((m) => !m.tshark.encrypted).map((m) => ({ m, d: decodeMessage(Buffer.from(m.hex, 'hex')) }))
    t.is(plain.length, 4)
    const [m1, m2, m3, m4] = plain
    t.is(m1!.m.from, 'client')
    t.true(payloadsOf(m1!.d.payloads, PayloadType.VENDOR_ID).some((v) => v.data.equals(VendorIds.NATT_DRAFT_02N.id)))
    t.true(payloadsOf(m2!.d.payloads, PayloadType.VENDOR_ID).some((v) => v.data.equals(VendorIds.NATT_RFC3947.id)))
    for (const x of [m3!, m4!]) {
      t.deepEqual(x.d.payloads.map((p) => p.type), [PayloadType.KE, PayloadType.NONCE, PayloadType.NAT_D, PayloadType.NAT_D])
    }
    const sa = findPayload(m1!.d.payloads, PayloadType.SA)!
    const tr = sa.proposals[0]!.transforms[0]!
    t.is(sa.proposals[0]!.protocol, ProtocolId.ISAKMP)
    t.true([EncryptionAlgorithm.AES, EncryptionAlgorithm['3DES']].includes(attributeNumber(findAttribute(tr.attributes, IkeAttribute.ENCRYPTION_ALGORITHM)!) as 7 | 5))
    t.is(attributeNumber(findAttribute(tr.attributes, IkeAttribute.LIFE_DURATION)!), 28800)
  }
})

// --- hand-built messages and payloads ---------------------------------------

const cookieI = Buffer.from('0102030405060708', 'hex')
const cookieR = Buffer.from('1112131415161718', 'hex')
const baseHeader = { initiatorCookie: cookieI, responderCookie: cookieR, majorVersion: 1, minorVersion: 0, exchangeType: ExchangeType.QUICK, flags: 0, messageId: 0xdeadbeef }

/** A Quick Mode-like message touching every payload type the codec knows. */
const everyPayload: PayloadInput[] = [
  { type: PayloadType.HASH, data: Buffer.alloc(20, 0xaa) },
  {
    type: PayloadType.SA,
    doi: 1,
    situation: 1,
    situationData: Buffer.alloc(0),
    proposals: [
      {
        number: 1,
        protocol: ProtocolId.IPSEC_ESP,
        spi: Buffer.from('c0ffee01', 'hex'),
        transforms: [
          {
            number: 1,
            id: EspTransformId.ESP_AES_GCM_16,
            attributes: [
              { type: IpsecAttribute.SA_LIFE_TYPE, value: 1 },
              { type: IpsecAttribute.SA_LIFE_DURATION, value: Buffer.from('00000e10', 'hex') },
              { type: IpsecAttribute.ENCAPSULATION_MODE, value: EncapsulationMode.UDP_TRANSPORT },
              { type: IpsecAttribute.KEY_LENGTH, value: 128 },
            ],
          },
          {
            number: 2,
            id: EspTransformId.ESP_AES,
            attributes: [
              { type: IpsecAttribute.ENCAPSULATION_MODE, value: EncapsulationMode.UDP_TRANSPORT_DRAFT },
              { type: IpsecAttribute.AUTHENTICATION_ALGORITHM, value: IpsecAuthAlgorithm.HMAC_SHA },
              { type: IpsecAttribute.KEY_LENGTH, value: 256 },
            ],
          },
        ],
      },
      { number: 2, protocol: ProtocolId.IPSEC_ESP, spi: Buffer.from('c0ffee02', 'hex'), transforms: [{ number: 1, id: EspTransformId.ESP_3DES, attributes: [] }] },
    ],
  },
  { type: PayloadType.NONCE, data: Buffer.alloc(32, 0x11) },
  { type: PayloadType.KE, data: Buffer.alloc(96, 0x22) },
  { type: PayloadType.ID, idType: IdType.IPV4_ADDR, protocol: 17, port: 1701, data: Buffer.from([10, 0, 2, 15]) },
  { type: PayloadType.ID, idType: IdType.FQDN, protocol: 0, port: 0, data: Buffer.from('vpn.example') },
  { type: PayloadType.NAT_OA, idType: IdType.IPV4_ADDR, data: Buffer.from([10, 0, 2, 15]) },
  { type: PayloadType.NAT_OA_DRAFT, idType: IdType.IPV4_ADDR, data: Buffer.from([192, 168, 1, 2]) },
  { type: PayloadType.NAT_D_DRAFT, data: Buffer.alloc(20, 0x33) },
  { type: PayloadType.CERT, encoding: 4, data: Buffer.from('3082', 'hex') },
  { type: PayloadType.CERTREQ, encoding: 4, data: Buffer.alloc(0) },
  { type: PayloadType.SIG, data: Buffer.alloc(64, 0x44) },
  { type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.concat([cookieI, cookieR]), notifyType: NotifyType.INITIAL_CONTACT, data: Buffer.alloc(0) },
  { type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.concat([cookieI, cookieR]), notifyType: NotifyType.R_U_THERE, data: Buffer.from('00000007', 'hex') },
  { type: PayloadType.NOTIFICATION, doi: 1, protocol: ProtocolId.IPSEC_ESP, spi: Buffer.from('c0ffee01', 'hex'), notifyType: NotifyType.RESPONDER_LIFETIME, data: Buffer.from('800100010002000400015180', 'hex') },
  { type: PayloadType.DELETE, doi: 1, protocol: ProtocolId.IPSEC_ESP, spiSize: 4, spis: [Buffer.from('c0ffee01', 'hex'), Buffer.from('c0ffee02', 'hex')] },
  { type: PayloadType.DELETE, doi: 1, protocol: ProtocolId.ISAKMP, spiSize: 16, spis: [Buffer.concat([cookieI, cookieR])] },
  { type: PayloadType.ATTRIBUTE, cfgType: 1, identifier: 0x1234, attributes: [{ type: 1, value: Buffer.alloc(0) }, { type: 16520, value: 1 }] },
  { type: PayloadType.FRAGMENT, fragmentId: 7, number: 2, last: true, data: Buffer.alloc(50, 0x55) },
  { type: 200, data: Buffer.from('an unknown payload') },
  { type: PayloadType.VENDOR_ID, data: VendorIds.MS_NT5_ISAKMPOAKLEY.id },
]

test('every payload type encodes, decodes to the same fields, and re-encodes byte for byte', (t) => {
  const datagram = encodePlainMessage(baseHeader, everyPayload)
  const { header, payloads, trailing } = decodeMessage(datagram)
  t.is(trailing, 0)
  t.is(header.nextPayload, PayloadType.HASH)
  t.is(header.messageId, 0xdeadbeef)
  t.is(header.length, datagram.length)
  t.deepEqual(stripRaw(payloads), everyPayload)
  t.true(encodePlainMessage(header, payloads).equals(datagram))
  for (const p of payloads) t.true(encodePayloadBody(p).equals(p.raw))
  // HASH(1) in Quick Mode is computed over every payload after the HASH payload, headers included.
  const afterHash = datagram.subarray(28 + 4 + 20)
  t.true(encodePayloads(everyPayload.slice(1)).equals(afterHash))
})

test('the wire layout of a few payloads, by hand', (t) => {
  t.is(encodePayloads([{ type: PayloadType.ID, idType: IdType.IPV4_ADDR, protocol: 17, port: 1701, data: Buffer.from([10, 0, 2, 15]) }]).toString('hex'), '0000000c011106a50a00020f')
  t.is(encodePayloadBody({ type: PayloadType.NAT_OA, idType: 1, data: Buffer.from([10, 0, 2, 15]) }).toString('hex'), '010000000a00020f')
  t.is(
    encodePayloadBody({ type: PayloadType.NOTIFICATION, doi: 1, protocol: 1, spi: Buffer.alloc(0), notifyType: NotifyType.NO_PROPOSAL_CHOSEN, data: Buffer.alloc(0) }).toString('hex'),
    '000000010100000e',
  )
  t.is(encodePayloadBody({ type: PayloadType.FRAGMENT, fragmentId: 1, number: 1, last: false, data: Buffer.from('ab', 'hex') }).toString('hex'), '00010100ab')
  t.is(
    encodeMessage({ ...baseHeader, exchangeType: ExchangeType.MAIN, messageId: 0, flags: Flag.ENCRYPTION | Flag.COMMIT }, Buffer.alloc(0), PayloadType.ID).toString('hex'),
    '0102030405060708111213141516171805100203000000000000001c',
  )
})

test('attributes: TV and TLV formats are kept; wide numbers go TLV; attributeNumber reads both', (t) => {
  const wire = Buffer.from('800b0001' + '000c00020e10' + '000c000400015180' + '800e0100', 'hex')
  const attributes = decodeAttributes(wire)
  t.deepEqual(attributes, [
    { type: 11, value: 1 },
    { type: 12, value: Buffer.from('0e10', 'hex') },
    { type: 12, value: Buffer.from('00015180', 'hex') },
    { type: 14, value: 256 },
  ])
  t.true(encodeAttributes(attributes).equals(wire), 'a 2-byte TLV stays TLV')
  t.is(attributeNumber(attributes[1]!), 3600)
  t.is(attributeNumber(attributes[2]!), 86400)
  t.is(encodeAttributes([{ type: IkeAttribute.LIFE_DURATION, value: 86400 }]).toString('hex'), '000c000400015180')
  t.is(encodeAttributes([{ type: IkeAttribute.LIFE_DURATION, value: 65535 }]).toString('hex'), '800cffff')
  t.is(attributeNumber({ type: 1, value: Buffer.alloc(0) }), 0)
  const long = t.throws(() => attributeNumber({ type: 6, value: Buffer.alloc(7) }), { instanceOf: IkeCodecError })
  t.is(long?.notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  t.is(findAttribute(attributes, 99), undefined)
})

test('an SA with a labeled-domain situation is kept opaque, without proposals', (t) => {
  const body = Buffer.from('00000001' + '00000003' + '00000001' + '00020000' + 'abcd0000', 'hex')
  const sa = decodePayloadBody(PayloadType.SA, body)
  t.like(sa, { type: 1, doi: 1, situation: 3, proposals: [] })
  t.true((sa as { situationData: Buffer }).situationData.equals(body.subarray(8)))
  t.true(encodePayloadBody(sa).equals(body))
  const otherDoi = decodePayloadBody(PayloadType.SA, Buffer.from('0000000200000001ff', 'hex'))
  t.like(otherDoi, { doi: 2, proposals: [] })
  t.deepEqual(decodePayloadBody(PayloadType.SA, Buffer.from('0000000100000001', 'hex')), {
    type: 1, doi: 1, situation: 1, situationData: Buffer.alloc(0), proposals: [], raw: Buffer.from('0000000100000001', 'hex'),
  })
})

test('unknown payload types are kept raw and skipped through the chain', (t) => {
  const body = encodePayloads([{ type: 77, data: Buffer.from('0102', 'hex') }, { type: PayloadType.NONCE, data: Buffer.from('ff', 'hex') }])
  const payloads = decodePayloads(77, body)
  t.deepEqual(stripRaw(payloads), [{ type: 77, data: Buffer.from('0102', 'hex') }, { type: PayloadType.NONCE, data: Buffer.from('ff', 'hex') }])
  // PROPOSAL and TRANSFORM outside an SA are unknown at top level, too.
  t.deepEqual(stripRaw(decodePayloads(PayloadType.PROPOSAL, Buffer.from('00000006abcd', 'hex'))), [{ type: 2, data: Buffer.from('abcd', 'hex') }])
})

test('decrypted plaintext: zero padding after the last payload is tolerated and located', (t) => {
  const payloads = encodePayloads([{ type: PayloadType.HASH, data: Buffer.alloc(20, 1) }, { type: PayloadType.ID, idType: 1, protocol: 17, port: 500, data: Buffer.alloc(4) }])
  const padded = Buffer.concat([payloads, Buffer.alloc(7), Buffer.from([7])])
  const { payloads: decoded, end } = decodePayloadChain(PayloadType.HASH, padded)
  t.is(end, payloads.length)
  t.deepEqual(decoded.map((p) => p.type), [PayloadType.HASH, PayloadType.ID])
})

test('header: trailing bytes after the announced length are ignored and counted', (t) => {
  const datagram = encodePlainMessage(baseHeader, [{ type: PayloadType.NONCE, data: Buffer.alloc(16) }])
  const padded = Buffer.concat([datagram, Buffer.alloc(16)])
  const d = decodeMessage(padded)
  t.is(d.trailing, 16)
  t.is(d.header.length, datagram.length)
  t.is(d.payloads.length, 1)
})

// --- errors ---------------------------------------------------------------

function throwsCode(t: ExecutionContext, fn: () => unknown, code: IkeCodecErrorCode, notify?: number): void {
  const e = t.throws(fn, { instanceOf: IkeCodecError })
  t.is(e?.code, code)
  if (notify !== undefined) t.is(e?.notify, notify)
}

const plain = encodePlainMessage(baseHeader, [{ type: PayloadType.NONCE, data: Buffer.alloc(16) }])
const withByte = (b: Buffer, at: number, v: number): Buffer => {
  const c = Buffer.from(b)
  c[at] = v
  return c
}
const withU32 = (b: Buffer, at: number, v: number): Buffer => {
  const c = Buffer.from(b)
  c.writeUInt32BE(v, at)
  return c
}

test('header errors: short, wrong major version, impossible lengths', (t) => {
  throwsCode(t, () => decodeHeader(Buffer.alloc(27)), 'IKE_TRUNCATED', NotifyType.PAYLOAD_MALFORMED)
  throwsCode(t, () => decodeHeader(withByte(plain, 17, 0x20)), 'IKE_BAD_VERSION', NotifyType.INVALID_MAJOR_VERSION)
  throwsCode(t, () => decodeHeader(withByte(plain, 17, 0x00)), 'IKE_BAD_VERSION', NotifyType.INVALID_MAJOR_VERSION)
  t.is(decodeHeader(withByte(plain, 17, 0x13)).minorVersion, 3)
  throwsCode(t, () => decodeHeader(withU32(plain, 24, 27)), 'IKE_BAD_LENGTH')
  throwsCode(t, () => decodeHeader(withU32(plain, 24, plain.length + 1)), 'IKE_TRUNCATED', NotifyType.UNEQUAL_PAYLOAD_LENGTHS)
  throwsCode(t, () => decodeMessage(plain.subarray(0, plain.length - 1)), 'IKE_TRUNCATED')
})

test('payload chain errors: short header, length below 4, length past the body, chain past the end', (t) => {
  throwsCode(t, () => decodePayloads(PayloadType.NONCE, Buffer.from('000000', 'hex')), 'IKE_TRUNCATED')
  throwsCode(t, () => decodePayloads(PayloadType.NONCE, Buffer.from('00000003', 'hex')), 'IKE_BAD_LENGTH')
  throwsCode(t, () => decodePayloads(PayloadType.NONCE, Buffer.from('00000009aabb', 'hex')), 'IKE_BAD_LENGTH')
  throwsCode(t, () => decodePayloads(PayloadType.NONCE, Buffer.from('0a000004', 'hex')), 'IKE_TRUNCATED')
  const e = t.throws(() => decodeMessage(withByte(plain, 28 + 3, 0xff)), { instanceOf: IkeCodecError })
  t.is(e?.payloadType, PayloadType.NONCE)
  t.is(e?.offset, 28)
  t.deepEqual(decodePayloads(PayloadType.NONE, Buffer.alloc(0)), [])
})

test('payload body errors: too short for fixed fields, DELETE SPIs that do not fill', (t) => {
  for (const type of [PayloadType.ID, PayloadType.NAT_OA, PayloadType.NAT_OA_DRAFT, PayloadType.FRAGMENT, PayloadType.ATTRIBUTE]) {
    throwsCode(t, () => decodePayloadBody(type, Buffer.alloc(3)), 'IKE_TRUNCATED')
  }
  throwsCode(t, () => decodePayloadBody(PayloadType.CERT, Buffer.alloc(0)), 'IKE_TRUNCATED')
  throwsCode(t, () => decodePayloadBody(PayloadType.NOTIFICATION, Buffer.alloc(7)), 'IKE_TRUNCATED')
  throwsCode(t, () => decodePayloadBody(PayloadType.NOTIFICATION, Buffer.from('00000001031000180000', 'hex')), 'IKE_TRUNCATED')
  throwsCode(t, () => decodePayloadBody(PayloadType.DELETE, Buffer.from('000000010304000200000001', 'hex')), 'IKE_MALFORMED')
  throwsCode(t, () => decodePayloadBody(PayloadType.DELETE, Buffer.from('00000001030400010000000100', 'hex')), 'IKE_MALFORMED')
  throwsCode(t, () => decodePayloadBody(PayloadType.ATTRIBUTE, Buffer.from('010000000001', 'hex')), 'IKE_TRUNCATED', NotifyType.PAYLOAD_MALFORMED)
})

test('SA errors answer BAD_PROPOSAL_SYNTAX', (t) => {
  const saBody = encodePayloadBody(everyPayload[1]!)
  const sa = (mutate: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(saBody)
    mutate(b)
    return b
  }
  const cases: [string, Buffer, IkeCodecErrorCode][] = [
    ['short', Buffer.alloc(7), 'IKE_TRUNCATED'],
    ['proposal next is not 2 or 0', sa((b) => (b[8] = 3)), 'IKE_MALFORMED'],
    ['last proposal says more follow', sa((b) => (b[8 + b.readUInt16BE(10)] = 2)), 'IKE_TRUNCATED'],
    ['proposal length below 8', sa((b) => b.writeUInt16BE(7, 10)), 'IKE_BAD_LENGTH'],
    ['proposal length past the SA', sa((b) => b.writeUInt16BE(0xfff0, 10)), 'IKE_BAD_LENGTH'],
    ['SPI past the proposal', sa((b) => (b[14] = 0xff)), 'IKE_BAD_LENGTH'],
    ['transform count mismatch', sa((b) => (b[15] = 3)), 'IKE_MALFORMED'],
    ['transform next is not 3 or 0', sa((b) => (b[20] = 2)), 'IKE_MALFORMED'],
    ['transform length past the proposal', sa((b) => b.writeUInt16BE(0x1000, 22)), 'IKE_BAD_LENGTH'],
    ['attribute length past the transform', sa((b) => b.writeUInt16BE(0x00ff, 34)), 'IKE_BAD_LENGTH'],
    ['bytes after the last proposal', Buffer.concat([saBody, Buffer.alloc(4)]), 'IKE_BAD_LENGTH'],
  ]
  for (const [what, body, code] of cases) {
    const e = t.throws(() => decodePayloadBody(PayloadType.SA, body), { instanceOf: IkeCodecError }, what)
    t.is(e?.code, code, what)
    t.is(e?.notify, NotifyType.BAD_PROPOSAL_SYNTAX, what)
    t.is(e?.payloadType, PayloadType.SA, what)
  }
})

test('encoders reject values that do not fit the wire with IKE_BAD_VALUE', (t) => {
  const bad: (() => unknown)[] = [
    () => encodeMessage({ ...baseHeader, initiatorCookie: Buffer.alloc(7) }, Buffer.alloc(0), 0),
    () => encodeMessage({ ...baseHeader, messageId: 2 ** 32 }, Buffer.alloc(0), 0),
    () => encodeMessage({ ...baseHeader, majorVersion: 16 }, Buffer.alloc(0), 0),
    () => encodePayloads([{ type: 300, data: Buffer.alloc(0) }]),
    () => encodePayloads([{ type: PayloadType.NONCE, data: Buffer.alloc(0x10000) }]),
    () => encodePayloadBody({ type: PayloadType.ID, idType: 1, protocol: 17, port: 70000, data: Buffer.alloc(4) }),
    () => encodePayloadBody({ type: PayloadType.DELETE, doi: 1, protocol: 3, spiSize: 4, spis: [Buffer.alloc(3)] }),
    () => encodePayloadBody({ type: PayloadType.SA, doi: 1, situation: 1, situationData: Buffer.alloc(0), proposals: [{ number: 1, protocol: 3, spi: Buffer.alloc(4), transforms: [{ number: 1, id: 256, attributes: [] }] }] }),
    () => encodeAttributes([{ type: 0x8000, value: 1 }]),
    () => encodeAttributes([{ type: 1, value: -1 }]),
    () => encodeAttributes([{ type: 1, value: 2 ** 32 }]),
    () => encodeAttributes([{ type: 1, value: 1.5 }]),
    () => encodePayloadBody({ type: PayloadType.SA } as unknown as PayloadInput),
    () => encodePayloadBody({ type: PayloadType.NONCE } as unknown as PayloadInput),
    () => encodePayloadBody(null as unknown as PayloadInput),
  ]
  for (const [i, fn] of bad.entries()) {
    const e = t.throws(fn, { instanceOf: IkeCodecError }, `case ${i}`)
    t.is(e?.code, 'IKE_BAD_VALUE', `case ${i}`)
  }
})

test('constants: nameOf prints names and keeps unknown values; vendor IDs by prefix', (t) => {
  t.is(nameOf(PayloadType, 20), 'NAT_D')
  t.is(nameOf(ExchangeType, 2), 'MAIN')
  t.is(nameOf(NotifyType, 36136), 'R_U_THERE')
  t.is(nameOf(EncryptionAlgorithm, 5), '3DES')
  t.is(nameOf(HashAlgorithm, 99), 'UNKNOWN(99)')
  t.is(identifyVendorId(Buffer.concat([VendorIds.MS_NT5_ISAKMPOAKLEY.id, Buffer.from('00000009', 'hex')]))?.name, 'MS NT5 ISAKMPOAKLEY')
  t.is(identifyVendorId(VendorIds.FRAGMENTATION.id)?.name, 'FRAGMENTATION')
  t.is(identifyVendorId(Buffer.from('4048b7d56ebce88525e7de7f00d6c2d3c0000000', 'hex'))?.name, 'FRAGMENTATION')
  t.is(identifyVendorId(Buffer.concat([VendorIds.DPD.id, Buffer.alloc(1)])), undefined, 'exact IDs do not match by prefix')
  t.is(identifyVendorId(Buffer.from('882fe56d6fd20dbc2251613b2ebe5beb', 'hex'))?.name, 'strongSwan')
  t.is(identifyVendorId(Buffer.from('12f5f28c457168a9702d9fe274cc0100', 'hex'))?.name, 'Cisco Unity')
  t.is(identifyVendorId(Buffer.from('7d9419a65310ca6f2c179d9215529d56', 'hex'))?.name, 'draft-ietf-ipsec-nat-t-ike-03')
  t.is(identifyVendorId(Buffer.from('cd60464335df21f87cfdb2fc68b6a448', 'hex'))?.name, 'draft-ietf-ipsec-nat-t-ike-02')
})

// --- property: only IkeCodecError, ever -------------------------------------

/** xorshift32, seeded: failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 2 ** 32
  }
}

function stripRaw(payloads: readonly Payload[]): PayloadInput[] {
  return payloads.map((p) => {
    const { raw: _raw, ...rest } = p
    return rest as PayloadInput
  })
}

/**
 * Decodes `datagram`; anything but IkeCodecError fails the test. When it
 * decodes in the clear, re-encoding must decode to the same fields.
 */
function probe(t: ExecutionContext, datagram: Buffer, what: string): 'ok' | 'rejected' {
  let decoded
  try {
    decoded = decodeMessage(datagram)
  } catch (e) {
    if (!(e instanceof IkeCodecError)) t.fail(`${what}: threw ${String(e)}`)
    return 'rejected'
  }
  if (decoded.header.flags & Flag.ENCRYPTION) {
    // What crypto.ts would do with a decrypted body: the same chain walk.
    try {
      decodePayloadChain(decoded.header.nextPayload, decoded.body)
    } catch (e) {
      if (!(e instanceof IkeCodecError)) t.fail(`${what}: body threw ${String(e)}`)
    }
    return 'ok'
  }
  const again = decodeMessage(encodePlainMessage(decoded.header, decoded.payloads))
  if (!isDeepStrictEqual(stripRaw(again.payloads), stripRaw(decoded.payloads))) t.fail(`${what}: re-encoding changed the payloads`)
  return 'ok'
}

test('property: random, truncated and mutated messages throw only IkeCodecError', (t) => {
  const random = rng(0x1ce5eed)
  const int = (n: number): number => Math.floor(random() * n)
  const seeds = [...allMessages.map((m) => m.bytes), encodePlainMessage(baseHeader, everyPayload)]
  const tally = { ok: 0, rejected: 0 }
  const count = (r: 'ok' | 'rejected'): void => {
    tally[r]++
  }

  // Every truncation of every message, and of every payload chain.
  for (const s of seeds) {
    for (let n = 0; n <= s.length; n++) count(probe(t, s.subarray(0, n), `truncated to ${n}`))
    for (let n = 28; n <= s.length; n++) {
      try {
        decodePayloads(s[16]!, s.subarray(28, n))
      } catch (e) {
        if (!(e instanceof IkeCodecError)) t.fail(`chain truncated to ${n}: ${String(e)}`)
      }
    }
  }

  // Mutations: random bytes, length fields, payload type bytes; cleared E flag so that ciphertext is parsed as payloads.
  for (let i = 0; i < 30_000; i++) {
    const m = Buffer.from(seeds[int(seeds.length)]!)
    const edits = 1 + int(4)
    for (let e = 0; e < edits; e++) {
      const at = int(m.length)
      switch (int(4)) {
        case 0:
          m[at] = int(256)
          break
        case 1:
          m[at] = m[at]! ^ (1 << int(8))
          break
        case 2:
          m[at] = [0, 1, 2, 3, 4, 5, 11, 12, 13, 14, 20, 21, 130, 131, 132, 255][int(16)]!
          break
        default:
          if (at + 1 < m.length) m.writeUInt16BE(int(0x60), at)
      }
    }
    if (int(4) === 0) m[19] = m[19]! & ~Flag.ENCRYPTION
    const cut = int(8) === 0 ? m.subarray(0, int(m.length + 1)) : m
    count(probe(t, cut, `mutation ${i}`))
  }

  // Pure noise, some of it behind a plausible header.
  for (let i = 0; i < 5_000; i++) {
    const b = Buffer.alloc(int(200))
    for (let j = 0; j < b.length; j++) b[j] = int(256)
    if (b.length >= 28 && int(2) === 0) {
      b[17] = 0x10
      b[19] = 0
      b.writeUInt32BE(b.length, 24)
    }
    count(probe(t, b, `noise ${i}`))
    try {
      decodePayloadBody(int(256), b)
    } catch (e) {
      if (!(e instanceof IkeCodecError)) t.fail(`payload body noise ${i}: ${String(e)}`)
    }
  }
  t.log(`decoded ${tally.ok}, rejected ${tally.rejected}`)
  t.true(tally.ok > 1000 && tally.rejected > 1000)
})
