/**
 * IKEv1 proposal selection (lib/ike/proposal.ts): the Main Mode and Quick
 * Mode offers of the five recorded strongSwan sessions (Quick Mode
 * decrypted with the logged keys of __test__/vectors/ike-crypto), offers
 * built by hand the way CLIENTS.md says Windows, Apple and Android send
 * them, ESP edge cases under each preset, and our own offers and replies
 * through the codec and back.
 */
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeMessage, decodePayloadBody, decodePayloads, encodePayloadBody, findPayload } from '../lib/ike/codec.js'
import type { Attribute, Proposal, SaPayload, Transform } from '../lib/ike/codec.js'
import {
  AuthMethod,
  Doi,
  EncapsulationMode,
  EncryptionAlgorithm,
  EspTransformId,
  HashAlgorithm,
  IkeAttribute,
  IpsecAttribute,
  IpsecAuthAlgorithm,
  IsakmpTransformId,
  LifeType,
  NotifyType,
  PayloadType,
  ProtocolId,
  Situation,
} from '../lib/ike/constants.js'
import { decrypt, type CipherName, type HashName } from '../lib/ike/crypto.js'
import { PRESETS, type PresetName, type ProposalPolicy } from '../lib/ike/policy.js'
import {
  describePhase1Transform,
  describePhase2Transform,
  matchPhase1,
  matchPhase2,
  phase1Offer,
  phase1Reply,
  phase2Offer,
  phase2Reply,
  type MatchFailure,
  type Phase1Choice,
  type Phase1Match,
  type Phase2Choice,
  type Phase2Match,
  type SaPayloadInput,
} from '../lib/ike/proposal.js'

const PRESET_NAMES: readonly PresetName[] = ['modern', 'compatible', 'legacy']
const PSK_ONLY = [AuthMethod.PSK] as const
const L2TP = { allowTunnel: false, natT: false }
const L2TP_NAT = { allowTunnel: false, natT: true }

// --- building SA payloads --------------------------------------------------------

/** Through the codec and back, so every SA under test is one a peer could send. */
function sa(input: SaPayloadInput): SaPayload {
  return decodePayloadBody(PayloadType.SA, encodePayloadBody({ type: PayloadType.SA, ...input })) as SaPayload
}

function saOf(proposals: Proposal[], doi: number = Doi.IPSEC, situation: number = Situation.IDENTITY_ONLY): SaPayload {
  return sa({ doi, situation, situationData: Buffer.alloc(0), proposals })
}

const ENC = { aes: EncryptionAlgorithm.AES, '3des': EncryptionAlgorithm['3DES'], des: EncryptionAlgorithm.DES } as const
const HASH = { md5: HashAlgorithm.MD5, sha1: HashAlgorithm.SHA, sha256: HashAlgorithm.SHA2_256, sha384: HashAlgorithm.SHA2_384 } as const

interface IkeSpec {
  enc: keyof typeof ENC
  bits?: number
  hash: keyof typeof HASH
  group: number
  auth?: number
  seconds?: number
  extra?: Attribute[]
}

/** A KEY_IKE transform, attributes in strongSwan's order (as in the recorded sessions). */
function ikeTransform(number: number, s: IkeSpec): Transform {
  const attributes: Attribute[] = [{ type: IkeAttribute.ENCRYPTION_ALGORITHM, value: ENC[s.enc] }]
  if (s.bits !== undefined) attributes.push({ type: IkeAttribute.KEY_LENGTH, value: s.bits })
  attributes.push(
    { type: IkeAttribute.HASH_ALGORITHM, value: HASH[s.hash] },
    { type: IkeAttribute.GROUP_DESCRIPTION, value: s.group },
    { type: IkeAttribute.AUTHENTICATION_METHOD, value: s.auth ?? AuthMethod.PSK },
  )
  if (s.seconds) attributes.push({ type: IkeAttribute.LIFE_TYPE, value: LifeType.SECONDS }, { type: IkeAttribute.LIFE_DURATION, value: s.seconds })
  attributes.push(...(s.extra ?? []))
  return { number, id: IsakmpTransformId.KEY_IKE, attributes }
}

function isakmpSa(specs: IkeSpec[]): SaPayload {
  return saOf([{ number: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: specs.map((s, i) => ikeTransform(i + 1, s)) }])
}

/** "aes256-sha1-14" style shorthand for offers from CLIENTS.md. */
function ike(text: string, seconds: number): IkeSpec {
  const [cipher, hash, group] = text.split('-') as [string, keyof typeof HASH, string]
  if (cipher === '3des') return { enc: '3des', hash, group: Number(group), seconds }
  if (cipher === 'des') return { enc: 'des', hash, group: Number(group), seconds }
  return { enc: 'aes', bits: Number(cipher.slice(3)), hash, group: Number(group), seconds }
}

interface EspSpec {
  id: number
  bits?: number
  auth?: number
  encap?: number
  group?: number
  seconds?: number
  kilobytes?: number
  extra?: Attribute[]
}

const SPI = Buffer.from('c0ffee01', 'hex')
const OUR_SPI = Buffer.from('cafe0002', 'hex')

function espTransform(number: number, s: EspSpec): Transform {
  const attributes: Attribute[] = []
  if (s.bits !== undefined) attributes.push({ type: IpsecAttribute.KEY_LENGTH, value: s.bits })
  if (s.auth !== undefined) attributes.push({ type: IpsecAttribute.AUTHENTICATION_ALGORITHM, value: s.auth })
  if (s.group !== undefined) attributes.push({ type: IpsecAttribute.GROUP_DESCRIPTION, value: s.group })
  if (s.encap !== undefined) attributes.push({ type: IpsecAttribute.ENCAPSULATION_MODE, value: s.encap })
  if (s.seconds !== undefined) attributes.push({ type: IpsecAttribute.SA_LIFE_TYPE, value: LifeType.SECONDS }, { type: IpsecAttribute.SA_LIFE_DURATION, value: s.seconds })
  if (s.kilobytes !== undefined) attributes.push({ type: IpsecAttribute.SA_LIFE_TYPE, value: LifeType.KILOBYTES }, { type: IpsecAttribute.SA_LIFE_DURATION, value: s.kilobytes })
  attributes.push(...(s.extra ?? []))
  return { number, id: s.id, attributes }
}

/** One ESP proposal with these transforms. */
function espSa(specs: EspSpec[], spi = SPI): SaPayload {
  return saOf([{ number: 1, protocol: ProtocolId.IPSEC_ESP, spi, transforms: specs.map((s, i) => espTransform(i + 1, s)) }])
}

const TRANSPORT = EncapsulationMode.TRANSPORT
const UDP_TRANSPORT = EncapsulationMode.UDP_TRANSPORT
const AES = EspTransformId.ESP_AES
const TDES = EspTransformId.ESP_3DES
const GCM16 = EspTransformId.ESP_AES_GCM_16
const { HMAC_MD5, HMAC_SHA, HMAC_SHA2_256 } = IpsecAuthAlgorithm

function ok1(t: { fail: (m: string) => void }, m: Phase1Match): Phase1Choice {
  if (!m.ok) {
    t.fail(`expected a choice, got ${m.notify}: ${m.reason}`)
    throw new Error(m.reason)
  }
  return m.choice
}

function ok2(t: { fail: (m: string) => void }, m: Phase2Match): Phase2Choice {
  if (!m.ok) {
    t.fail(`expected a choice, got ${m.notify}: ${m.reason}`)
    throw new Error(m.reason)
  }
  return m.choice
}

function failed(t: { fail: (m: string) => void }, m: Phase1Match | Phase2Match): MatchFailure {
  if (m.ok) {
    t.fail(`expected no choice, got transform ${m.choice.transformNumber}`)
    throw new Error('unexpected choice')
  }
  return m
}

// --- the recorded sessions ---------------------------------------------------------

const IKE_VECTORS = new URL('./vectors/ike/', import.meta.url).pathname
const CRYPTO_VECTORS = new URL('./vectors/ike-crypto/', import.meta.url).pathname

interface SessionMessages {
  messages: Array<{ from: 'client' | 'server'; hex: string; tshark: { exchangeType: number } }>
}

interface SessionKeys {
  ike: { proposal: string; hash: HashName; cipher: CipherName; keyLength: number; dhGroup: number }
  esp: { proposal: string; encryptionKeyLength: number; integrityKeyLength: number }
  childSpis: { inbound: string; outbound: string }
  ka: { hex: string }
  ivs: { list: Array<{ messageId: number; hex: string }> }
}

interface Recorded {
  mm1: SaPayload
  mm2: SaPayload
  qm1: SaPayload
  qm2: SaPayload
  keys: SessionKeys
}

/**
 * Main Mode messages 1 and 2 are in the clear; Quick Mode messages 1 and 2
 * are opened with Ka and the logged phase 2 IV (ivs.list[2], the initial
 * IV for the Quick Mode message ID), then the chained last block.
 */
function recorded(session: string): Recorded {
  const ike = JSON.parse(readFileSync(join(IKE_VECTORS, `${session}.json`), 'utf8')) as SessionMessages
  const keys = JSON.parse(readFileSync(join(CRYPTO_VECTORS, `${session}.json`), 'utf8')) as SessionKeys
  const main = ike.messages.filter((m) => m.tshark.exchangeType === 2)
  const quick = ike.messages.filter((m) => m.tshark.exchangeType === 32)
  const saOfClear = (hex: string): SaPayload => findPayload(decodeMessage(Buffer.from(hex, 'hex')).payloads, PayloadType.SA)!
  const ka = Buffer.from(keys.ka.hex, 'hex')
  const qm1 = decodeMessage(Buffer.from(quick.find((m) => m.from === 'client')!.hex, 'hex'))
  const qm2 = decodeMessage(Buffer.from(quick.find((m) => m.from === 'server')!.hex, 'hex'))
  const q1 = decrypt(keys.ike.cipher, ka, Buffer.from(keys.ivs.list[2]!.hex, 'hex'), qm1.body)
  const q2 = decrypt(keys.ike.cipher, ka, q1.lastBlock, qm2.body)
  return {
    mm1: saOfClear(main.find((m) => m.from === 'client')!.hex),
    mm2: saOfClear(main.find((m) => m.from === 'server')!.hex),
    qm1: findPayload(decodePayloads(qm1.header.nextPayload, q1.plaintext), PayloadType.SA)!,
    qm2: findPayload(decodePayloads(qm2.header.nextPayload, q2.plaintext), PayloadType.SA)!,
    keys,
  }
}

/** What each preset picks from each session: Phase 1 encryption and ESP suite, or null for no choice. */
const SESSIONS: Record<string, Record<PresetName, { phase1: string | null; esp: string | null }>> = {
  // IKE:AES_CBC_128/HMAC_SHA1_96/MODP_2048, ESP:AES_CBC_128/HMAC_SHA1_96
  'strongswan-aes128-sha1-modp2048': {
    modern: { phase1: null, esp: null },
    compatible: { phase1: 'aes128', esp: 'aes128-sha1' },
    legacy: { phase1: 'aes128', esp: 'aes128-sha1' },
  },
  // IKE:AES_CBC_256/HMAC_SHA2_256_128/MODP_2048, ESP:AES_CBC_256/HMAC_SHA1_96
  'strongswan-apple-sha256-modp2048': {
    modern: { phase1: 'aes256', esp: null },
    compatible: { phase1: 'aes256', esp: 'aes256-sha1' },
    legacy: { phase1: 'aes256', esp: 'aes256-sha1' },
  },
  // IKE:AES_CBC_256/HMAC_SHA2_256_128/MODP_2048, ESP:AES_GCM_16_128
  'strongswan-esp-aes128gcm16': {
    modern: { phase1: 'aes256', esp: 'aes128gcm-16' },
    compatible: { phase1: 'aes256', esp: 'aes128gcm-16' },
    legacy: { phase1: 'aes256', esp: 'aes128gcm-16' },
  },
  // IKE:3DES_CBC/HMAC_SHA1_96/MODP_1024, ESP:3DES_CBC/HMAC_MD5_96
  'strongswan-legacy-3des-modp1024': {
    modern: { phase1: null, esp: null },
    compatible: { phase1: '3des', esp: null },
    legacy: { phase1: '3des', esp: '3des-md5' },
  },
  // IKE:AES_CBC_256/HMAC_SHA1_96/ECP_384, ESP:AES_CBC_256/HMAC_SHA1_96
  'strongswan-windows-ecp384': {
    modern: { phase1: null, esp: null },
    compatible: { phase1: 'aes256', esp: 'aes256-sha1' },
    legacy: { phase1: 'aes256', esp: 'aes256-sha1' },
  },
}

for (const [session, expected] of Object.entries(SESSIONS)) {
  test(`${session}: Main Mode message 1 under each preset, the choice = what strongSwan negotiated`, (t) => {
    const r = recorded(session)
    for (const preset of PRESET_NAMES) {
      const m = matchPhase1(r.mm1, PRESETS[preset], PSK_ONLY)
      const want = expected[preset].phase1
      if (want === null) {
        const f = failed(t, m)
        t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN, preset)
        t.true(f.reason.includes(`none allowed by preset '${preset}'`), f.reason)
        t.true(f.reason.includes("preset 'compatible' would accept"), f.reason)
        t.is(f.offered.length, 1)
        continue
      }
      const c = ok1(t, m)
      t.is(c.encryption as string, want, preset)
      t.is(c.cipher, r.keys.ike.cipher, r.keys.ike.proposal)
      t.is(c.keyLength, r.keys.ike.keyLength, r.keys.ike.proposal)
      t.is(c.hash, r.keys.ike.hash, r.keys.ike.proposal)
      t.is(c.group, r.keys.ike.dhGroup, r.keys.ike.proposal)
      t.is(c.authMethod, AuthMethod.PSK)
      t.is(c.lifetimeSeconds, 28800, 'strongSwan offers 28800 s (LIFE_DURATION 0x7080)')
      t.is(c.lifetimeKilobytes, undefined)
      t.deepEqual([c.proposalNumber, c.transformNumber], [1, 1])
      t.is(c.transform, r.mm1.proposals[0]!.transforms[0]!)
    }
  })

  test(`${session}: phase1Reply encodes to the strongSwan responder's SA payload, byte for byte`, (t) => {
    const r = recorded(session)
    const c = ok1(t, matchPhase1(r.mm1, PRESETS.legacy, PSK_ONLY))
    // strongSwan answers with the accepted transform as offered: the same bytes.
    t.deepEqual(encodePayloadBody({ type: PayloadType.SA, ...phase1Reply(r.mm1, c) }), r.mm2.raw)
  })

  test(`${session}: Quick Mode message 1 (decrypted) under each preset, the choice = the kernel's ESP SA`, (t) => {
    const r = recorded(session)
    t.is(r.qm1.proposals.length, 1)
    for (const preset of PRESET_NAMES) {
      const m = matchPhase2(r.qm1, PRESETS[preset], L2TP_NAT)
      const want = expected[preset].esp
      if (want === null) {
        const f = failed(t, m)
        t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN, preset)
        t.true(f.reason.includes(`none allowed by preset '${preset}'`), f.reason)
        t.regex(f.reason, /preset '(compatible|legacy)' would accept/)
        continue
      }
      const c = ok2(t, m)
      t.is(c.espSuite, want, preset)
      t.is(c.encryptionKeyLength, r.keys.esp.encryptionKeyLength, r.keys.esp.proposal)
      t.is(c.integrityKeyLength, r.keys.esp.integrityKeyLength, r.keys.esp.proposal)
      t.is(c.peerSpi.toString('hex'), r.keys.childSpis.inbound, 'the initiator names its inbound SPI')
      // The sessions ran behind QEMU's NAT: UDP-Encapsulated-Transport (RFC 3947 5.1).
      t.is(c.encapsulation, EncapsulationMode.UDP_TRANSPORT)
      t.is(c.mode, 'transport')
      t.true(c.udpEncapsulated)
      t.is(c.pfsGroup, undefined)
      t.is(c.lifetimeSeconds, 3600)
      t.is(c.responderLifetime, undefined)
    }
  })

  test(`${session}: phase2Reply with strongSwan's SPI encodes to its Quick Mode SA payload, byte for byte`, (t) => {
    const r = recorded(session)
    const c = ok2(t, matchPhase2(r.qm1, PRESETS.legacy, L2TP_NAT))
    const ours = Buffer.from(r.keys.childSpis.outbound, 'hex')
    t.deepEqual(encodePayloadBody({ type: PayloadType.SA, ...phase2Reply(r.qm1, c, ours) }), r.qm2.raw)
  })
}

test('the recorded sessions offer exactly what their crypto vectors name', (t) => {
  const r = recorded('strongswan-windows-ecp384')
  t.deepEqual(r.mm1.proposals[0]!.transforms.map(describePhase1Transform), ['AES-256/SHA1/ECP384 (group 20), PSK, 28800 s'])
  t.deepEqual(
    r.qm1.proposals[0]!.transforms.map((x) => describePhase2Transform(r.qm1.proposals[0]!, x)),
    ['ESP AES-256/SHA1, UDP-transport, no PFS, 3600 s'],
  )
  const g = recorded('strongswan-esp-aes128gcm16')
  t.deepEqual(g.qm1.proposals[0]!.transforms.map((x) => describePhase2Transform(g.qm1.proposals[0]!, x)), ['ESP AES-128-GCM-16, UDP-transport, no PFS, 3600 s'])
  const l = recorded('strongswan-legacy-3des-modp1024')
  t.deepEqual(l.mm1.proposals[0]!.transforms.map(describePhase1Transform), ['3DES/SHA1/MODP1024 (group 2), PSK, 28800 s'])
})

// --- Phase 1: the built-in clients (CLIENTS.md) ------------------------------------

/** Windows 10/11: AES-256/SHA1/ECP384, AES-128/SHA1/ECP256, AES-256/SHA1/MODP2048, 3DES/SHA1/MODP2048, 3DES/SHA1/MODP1024; 28800 s. */
const WINDOWS = isakmpSa(['aes256-sha1-20', 'aes128-sha1-19', 'aes256-sha1-14', '3des-sha1-14', '3des-sha1-2'].map((x) => ike(x, 28800)))

/**
 * macOS/iOS: about 14 transforms from AES-256/SHA2-256/MODP2048 down to
 * 3DES/SHA1/MODP1024, 3600 s. CLIENTS.md gives the first and the last; the
 * middle is filled in the same spirit.
 */
const APPLE = isakmpSa(
  [
    'aes256-sha256-14', 'aes256-sha1-14', 'aes128-sha256-14', 'aes128-sha1-14',
    'aes256-sha256-5', 'aes256-sha1-5', 'aes128-sha1-5',
    'aes256-sha256-2', 'aes256-sha1-2', 'aes128-sha256-2', 'aes128-sha1-2', 'aes256-md5-2',
    '3des-sha1-14', '3des-sha1-2',
  ].map((x) => ike(x, 3600)),
)

/** Android racoon (AOSP setup.c): all MODP1024, AES256-SHA256 first down to DES-MD5. */
const ANDROID = isakmpSa(
  [
    'aes256-sha256-2', 'aes256-sha1-2', 'aes256-md5-2', 'aes128-sha256-2', 'aes128-sha1-2', 'aes128-md5-2',
    '3des-sha256-2', '3des-sha1-2', '3des-md5-2', 'des-sha256-2', 'des-sha1-2', 'des-md5-2',
  ].map((x) => ike(x, 28800)),
)

test('Windows: every Phase 1 offer is SHA1, so modern refuses and names compatible; compatible takes ECP384', (t) => {
  const f = failed(t, matchPhase1(WINDOWS, PRESETS.modern, PSK_ONLY))
  t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN)
  t.is(
    f.reason,
    "client offered AES-256/SHA1/ECP384, AES-128/SHA1/ECP256, AES-256/SHA1/MODP2048, 3DES/SHA1/MODP2048, 3DES/SHA1/MODP1024; none allowed by preset 'modern'; preset 'compatible' would accept AES-256/SHA1/ECP384",
  )
  t.deepEqual(f.offered, [
    'AES-256/SHA1/ECP384 (group 20), PSK, 28800 s',
    'AES-128/SHA1/ECP256 (group 19), PSK, 28800 s',
    'AES-256/SHA1/MODP2048 (group 14), PSK, 28800 s',
    '3DES/SHA1/MODP2048 (group 14), PSK, 28800 s',
    '3DES/SHA1/MODP1024 (group 2), PSK, 28800 s',
  ])
  for (const preset of ['compatible', 'legacy'] as const) {
    const c = ok1(t, matchPhase1(WINDOWS, PRESETS[preset], PSK_ONLY))
    t.like(c, { transformNumber: 1, encryption: 'aes256', keyLength: 32, hash: 'sha1', group: 20, lifetimeSeconds: 28800 })
  }
})

test('Apple: the first transform (AES-256/SHA2-256/MODP2048, 3600 s) under every preset', (t) => {
  for (const preset of PRESET_NAMES) {
    const c = ok1(t, matchPhase1(APPLE, PRESETS[preset], PSK_ONLY))
    t.like(c, { transformNumber: 1, encryption: 'aes256', cipher: 'aes', keyLength: 32, hash: 'sha256', group: 14, lifetimeSeconds: 3600 }, preset)
  }
})

test("Android: MODP1024 everywhere, so modern refuses with the reason; compatible takes AES256-SHA256", (t) => {
  const f = failed(t, matchPhase1(ANDROID, PRESETS.modern, PSK_ONLY))
  t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN)
  t.true(f.reason.startsWith('client offered AES-256/SHA2-256/MODP1024, AES-256/SHA1/MODP1024, AES-256/MD5/MODP1024,'), f.reason)
  t.true(f.reason.includes("none allowed by preset 'modern'"))
  // DES is not a preset question: it is named as such.
  t.true(f.reason.includes('transform 10: cipher DES is not supported'), f.reason)
  t.true(f.reason.endsWith("preset 'compatible' would accept AES-256/SHA2-256/MODP1024"), f.reason)
  t.is(f.offered.length, 12)
  for (const preset of ['compatible', 'legacy'] as const) {
    t.like(ok1(t, matchPhase1(ANDROID, PRESETS[preset], PSK_ONLY)), { transformNumber: 1, encryption: 'aes256', hash: 'sha256', group: 2 })
  }
})

test("the client's order wins, not the preset's", (t) => {
  const offer = isakmpSa(['3des-sha1-2', 'aes256-sha256-14'].map((x) => ike(x, 28800)))
  t.like(ok1(t, matchPhase1(offer, PRESETS.compatible, PSK_ONLY)), { transformNumber: 1, encryption: '3des', cipher: 'des3', keyLength: 24, group: 2 })
  t.like(ok1(t, matchPhase1(offer, PRESETS.modern, PSK_ONLY)), { transformNumber: 2, encryption: 'aes256' })
  // MD5 first: compatible skips it, legacy takes it.
  const md5 = isakmpSa(['aes256-md5-2', 'aes128-sha1-2'].map((x) => ike(x, 28800)))
  t.like(ok1(t, matchPhase1(md5, PRESETS.compatible, PSK_ONLY)), { transformNumber: 2, hash: 'sha1', encryption: 'aes128', keyLength: 16 })
  t.like(ok1(t, matchPhase1(md5, PRESETS.legacy, PSK_ONLY)), { transformNumber: 1, hash: 'md5' })
})

test('Phase 1: every proposal is looked at, and proposal numbers are kept', (t) => {
  const offer = saOf([
    { number: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: [ikeTransform(1, ike('3des-md5-2', 28800))] },
    { number: 2, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: [ikeTransform(7, ike('aes128-sha256-19', 28800))] },
  ])
  const c = ok1(t, matchPhase1(offer, PRESETS.modern, PSK_ONLY))
  t.like(c, { proposalNumber: 2, transformNumber: 7, group: 19 })
  const reply = sa(phase1Reply(offer, c))
  t.is(reply.proposals.length, 1)
  t.is(reply.proposals[0]!.number, 2)
  t.deepEqual(reply.proposals[0]!.transforms, [c.transform])
})

// --- Phase 1: attributes ------------------------------------------------------------

test('Phase 1: AES without KEY_LENGTH is AES-128 (strongSwan, libreswan); bad lengths and 3DES with a length are skipped', (t) => {
  t.like(ok1(t, matchPhase1(isakmpSa([{ enc: 'aes', hash: 'sha256', group: 14 }]), PRESETS.modern, PSK_ONLY)), { encryption: 'aes128', keyLength: 16 })
  t.like(ok1(t, matchPhase1(isakmpSa([{ enc: 'aes', bits: 192, hash: 'sha256', group: 14 }]), PRESETS.modern, PSK_ONLY)), { encryption: 'aes192', keyLength: 24 })

  const bad = failed(t, matchPhase1(isakmpSa([{ enc: 'aes', bits: 100, hash: 'sha256', group: 14 }]), PRESETS.modern, PSK_ONLY))
  t.is(bad.notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  t.true(bad.reason.includes('AES key length 100 is not 128, 192 or 256'), bad.reason)

  const tdes = failed(t, matchPhase1(isakmpSa([{ enc: '3des', bits: 192, hash: 'sha1', group: 14 }]), PRESETS.compatible, PSK_ONLY))
  t.is(tdes.notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  t.true(tdes.reason.includes('3DES with a key length'), tdes.reason)

  // An unusable transform does not stop the search.
  const next = isakmpSa([{ enc: 'aes', bits: 100, hash: 'sha256', group: 14 }, { enc: 'aes', bits: 256, hash: 'sha256', group: 14 }])
  t.like(ok1(t, matchPhase1(next, PRESETS.modern, PSK_ONLY)), { transformNumber: 2 })
})

test('Phase 1: missing required attributes give ATTRIBUTES_NOT_SUPPORTED only when nothing else was wrong', (t) => {
  const noGroup: Transform = { number: 1, id: IsakmpTransformId.KEY_IKE, attributes: ikeTransform(1, ike('aes256-sha256-14', 0)).attributes.filter((a) => a.type !== IkeAttribute.GROUP_DESCRIPTION) }
  const only = saOf([{ number: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: [noGroup] }])
  const f = failed(t, matchPhase1(only, PRESETS.modern, PSK_ONLY))
  t.is(f.notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  t.true(f.reason.includes('transform 1: missing group description'), f.reason)
  t.true(f.reason.includes('none acceptable'), f.reason)
  t.true(f.offered[0]!.includes('no group'), f.offered[0])

  // With a transform the preset refuses beside it: NO_PROPOSAL_CHOSEN.
  const mixed = saOf([{ number: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: [noGroup, ikeTransform(2, ike('3des-sha1-2', 0))] }])
  t.is(failed(t, matchPhase1(mixed, PRESETS.modern, PSK_ONLY)).notify, NotifyType.NO_PROPOSAL_CHOSEN)
})

test('Phase 1: private groups, a PRF attribute and unknown attribute types are not supported; private-use types are ignored', (t) => {
  const prime = Buffer.alloc(128, 0xff)
  const privateGroup: Transform = {
    number: 1,
    id: IsakmpTransformId.KEY_IKE,
    attributes: [
      { type: IkeAttribute.ENCRYPTION_ALGORITHM, value: EncryptionAlgorithm.AES },
      { type: IkeAttribute.KEY_LENGTH, value: 256 },
      { type: IkeAttribute.HASH_ALGORITHM, value: HashAlgorithm.SHA2_256 },
      { type: IkeAttribute.AUTHENTICATION_METHOD, value: AuthMethod.PSK },
      { type: IkeAttribute.GROUP_TYPE, value: 1 },
      { type: IkeAttribute.GROUP_PRIME, value: prime },
      { type: IkeAttribute.GROUP_GENERATOR_ONE, value: 2 },
    ],
  }
  const f = failed(t, matchPhase1(saOf([{ number: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: [privateGroup] }]), PRESETS.legacy, PSK_ONLY))
  t.is(f.notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  t.true(f.reason.includes('private Diffie-Hellman group'), f.reason)
  t.is(f.offered[0], 'AES-256/SHA2-256/private group, PSK')

  const prf = failed(t, matchPhase1(isakmpSa([{ ...ike('aes256-sha256-14', 0), extra: [{ type: IkeAttribute.PRF, value: 1 }] }]), PRESETS.legacy, PSK_ONLY))
  t.true(prf.reason.includes('PRF'), prf.reason)
  const unknown = failed(t, matchPhase1(isakmpSa([{ ...ike('aes256-sha256-14', 0), extra: [{ type: 17, value: 1 }] }]), PRESETS.legacy, PSK_ONLY))
  t.true(unknown.reason.includes('unknown attribute type 17'), unknown.reason)
  ok1(t, matchPhase1(isakmpSa([{ ...ike('aes256-sha256-14', 0), extra: [{ type: 16500, value: Buffer.from('vendor') }] }]), PRESETS.modern, PSK_ONLY))
})

test('Phase 1: groups must be both in the preset and in SUPPORTED_DH_GROUPS (MODP768 never)', (t) => {
  const g1 = failed(t, matchPhase1(isakmpSa([ike('aes256-sha256-1', 28800)]), PRESETS.legacy, PSK_ONLY))
  t.is(g1.notify, NotifyType.NO_PROPOSAL_CHOSEN)
  t.true(g1.reason.includes('MODP768 (group 1) is not supported'), g1.reason)
  t.false(g1.reason.includes('would accept'))
  const g5 = failed(t, matchPhase1(isakmpSa([ike('aes256-sha256-5', 28800)]), PRESETS.modern, PSK_ONLY))
  t.true(g5.reason.endsWith("preset 'compatible' would accept AES-256/SHA2-256/MODP1536"), g5.reason)
  const g24 = failed(t, matchPhase1(isakmpSa([ike('aes256-sha256-24', 28800)]), PRESETS.legacy, PSK_ONLY))
  t.true(g24.reason.includes('MODP2048_S256 (group 24) is not supported'), g24.reason)
})

test('Phase 1: authentication methods are the caller\'s list', (t) => {
  const rsa = isakmpSa([{ ...ike('aes256-sha256-14', 28800), auth: AuthMethod.RSA_SIG }])
  const f = failed(t, matchPhase1(rsa, PRESETS.modern, PSK_ONLY))
  t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN)
  t.true(f.reason.includes('auth method RSA-SIG is not enabled'), f.reason)
  t.is(f.offered[0], 'AES-256/SHA2-256/MODP2048 (group 14), RSA-SIG, 28800 s')
  t.like(ok1(t, matchPhase1(rsa, PRESETS.modern, [AuthMethod.PSK, AuthMethod.RSA_SIG])), { authMethod: AuthMethod.RSA_SIG })
  const xauth = isakmpSa([{ ...ike('aes256-sha256-14', 28800), auth: AuthMethod.XAUTH_INIT_PSK }])
  t.true(failed(t, matchPhase1(xauth, PRESETS.modern, PSK_ONLY)).reason.includes('XAUTH_INIT_PSK'))
})

test('Phase 1: lifetimes in seconds and kilobytes, TV or 4-byte TLV, clamped to the preset maximum', (t) => {
  const both: IkeSpec = {
    ...ike('aes256-sha256-14', 0),
    seconds: undefined,
    extra: [
      { type: IkeAttribute.LIFE_TYPE, value: LifeType.SECONDS },
      { type: IkeAttribute.LIFE_DURATION, value: Buffer.from([0, 0, 0x70, 0x80]) }, // 28800 as TLV
      { type: IkeAttribute.LIFE_TYPE, value: LifeType.KILOBYTES },
      { type: IkeAttribute.LIFE_DURATION, value: 1000000 },
    ],
  }
  t.like(ok1(t, matchPhase1(isakmpSa([both]), PRESETS.modern, PSK_ONLY)), { lifetimeSeconds: 28800, lifetimeKilobytes: 1000000 })
  // Over the maximum (86400): accepted, expires at ours.
  t.like(ok1(t, matchPhase1(isakmpSa([ike('aes256-sha256-14', 172800)]), PRESETS.modern, PSK_ONLY)), { lifetimeSeconds: 86400 })
  // None given: our maximum.
  const none = ok1(t, matchPhase1(isakmpSa([ike('aes256-sha256-14', 0)].map((s) => ({ ...s, seconds: undefined }))), PRESETS.modern, PSK_ONLY))
  t.is(none.lifetimeSeconds, 86400)
  t.is(none.lifetimeKilobytes, undefined)

  const orphan = failed(t, matchPhase1(isakmpSa([{ ...ike('aes256-sha256-14', 0), seconds: undefined, extra: [{ type: IkeAttribute.LIFE_DURATION, value: 60 }] }]), PRESETS.modern, PSK_ONLY))
  t.is(orphan.notify, NotifyType.BAD_PROPOSAL_SYNTAX)
  t.true(orphan.reason.includes('a life duration without a life type'), orphan.reason)
  const dangling = failed(t, matchPhase1(isakmpSa([{ ...ike('aes256-sha256-14', 0), seconds: undefined, extra: [{ type: IkeAttribute.LIFE_TYPE, value: LifeType.SECONDS }] }]), PRESETS.modern, PSK_ONLY))
  t.is(dangling.notify, NotifyType.BAD_PROPOSAL_SYNTAX)
  const zero = failed(t, matchPhase1(isakmpSa([{ ...ike('aes256-sha256-14', 0), extra: [{ type: IkeAttribute.LIFE_TYPE, value: LifeType.SECONDS }, { type: IkeAttribute.LIFE_DURATION, value: 0 }] }]), PRESETS.modern, PSK_ONLY))
  t.true(zero.reason.includes('a life duration of 0'), zero.reason)
  const twice = failed(t, matchPhase1(isakmpSa([{ ...ike('aes256-sha256-14', 0), extra: [{ type: IkeAttribute.KEY_LENGTH, value: 256 }] }]), PRESETS.modern, PSK_ONLY))
  t.is(twice.notify, NotifyType.BAD_PROPOSAL_SYNTAX)
  t.true(twice.reason.includes('KEY_LENGTH appears twice'), twice.reason)
})

test('Phase 1: DOI, situation, empty SAs, other protocols and transform ids', (t) => {
  const offer = isakmpSa([ike('aes256-sha256-14', 28800)])
  const doi = failed(t, matchPhase1({ ...offer, doi: Doi.ISAKMP }, PRESETS.modern, PSK_ONLY))
  t.is(doi.notify, NotifyType.DOI_NOT_SUPPORTED)
  t.deepEqual(doi.offered, ['AES-256/SHA2-256/MODP2048 (group 14), PSK, 28800 s'])
  // SIT_SECRECY: the codec keeps the rest as situation data and parses no proposal.
  const secrecy = saOf([], Doi.IPSEC, Situation.IDENTITY_ONLY | Situation.SECRECY)
  t.is(failed(t, matchPhase1(secrecy, PRESETS.modern, PSK_ONLY)).notify, NotifyType.SITUATION_NOT_SUPPORTED)
  const empty = failed(t, matchPhase1(saOf([]), PRESETS.modern, PSK_ONLY))
  t.is(empty.notify, NotifyType.BAD_PROPOSAL_SYNTAX)
  t.is(empty.reason, 'client offered nothing; none acceptable (the SA payload holds no proposal)')

  const notIke = saOf([{ number: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms: [{ ...ikeTransform(1, ike('aes256-sha256-14', 28800)), id: 2 }] }])
  const f = failed(t, matchPhase1(notIke, PRESETS.modern, PSK_ONLY))
  t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN)
  t.true(f.reason.includes('transform id 2 is not KEY_IKE'), f.reason)
  t.true(f.offered[0]!.startsWith('transform id 2: '))
  const esp = failed(t, matchPhase1(espSa([{ id: AES, bits: 128, auth: HMAC_SHA, encap: TRANSPORT }]), PRESETS.modern, PSK_ONLY))
  t.true(esp.reason.includes('proposal 1 is for protocol IPSEC_ESP, not ISAKMP'), esp.reason)
})

// --- Phase 2 ------------------------------------------------------------------------

/** Which ESP suite each preset picks for a single-transform offer, or null. */
function espUnderPresets(spec: EspSpec, options = L2TP): Record<PresetName, string | null> {
  const out = {} as Record<PresetName, string | null>
  for (const preset of PRESET_NAMES) {
    const m = matchPhase2(espSa([spec]), PRESETS[preset], options)
    out[preset] = m.ok ? m.choice.espSuite : null
  }
  return out
}

test('ESP AES-GCM-16 under each preset: no integrity key, salt in the encryption KEYMAT, AUTHENTICATION_ALGORITHM ignored', (t) => {
  t.deepEqual(espUnderPresets({ id: GCM16, bits: 128, encap: TRANSPORT }), { modern: 'aes128gcm-16', compatible: 'aes128gcm-16', legacy: 'aes128gcm-16' })
  t.deepEqual(espUnderPresets({ id: GCM16, bits: 256, encap: TRANSPORT, auth: HMAC_SHA }), { modern: 'aes256gcm-16', compatible: 'aes256gcm-16', legacy: 'aes256gcm-16' })
  const c = ok2(t, matchPhase2(espSa([{ id: GCM16, bits: 256, encap: TRANSPORT }]), PRESETS.modern, L2TP))
  t.like(c, { encryptionKeyLength: 36, integrityKeyLength: 0 })
  t.like(ok2(t, matchPhase2(espSa([{ id: GCM16, bits: 128, encap: TRANSPORT }]), PRESETS.modern, L2TP)), { encryptionKeyLength: 20, integrityKeyLength: 0 })

  for (const id of [EspTransformId.ESP_AES_GCM_8, EspTransformId.ESP_AES_GCM_12]) {
    const f = failed(t, matchPhase2(espSa([{ id, bits: 128, encap: TRANSPORT }]), PRESETS.legacy, L2TP))
    t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN)
    t.true(f.reason.includes('16-byte ICV only'), f.reason)
  }
  t.true(failed(t, matchPhase2(espSa([{ id: GCM16, bits: 192, encap: TRANSPORT }]), PRESETS.legacy, L2TP)).reason.includes('AES-192-GCM'))
  t.is(failed(t, matchPhase2(espSa([{ id: GCM16, encap: TRANSPORT }]), PRESETS.legacy, L2TP)).notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
})

test('ESP CBC suites under each preset, KEYMAT sizes as the data plane wants them', (t) => {
  t.deepEqual(espUnderPresets({ id: AES, bits: 128, auth: HMAC_SHA2_256, encap: TRANSPORT }), { modern: 'aes128-sha256', compatible: 'aes128-sha256', legacy: 'aes128-sha256' })
  t.deepEqual(espUnderPresets({ id: AES, bits: 256, auth: HMAC_SHA, encap: TRANSPORT }), { modern: null, compatible: 'aes256-sha1', legacy: 'aes256-sha1' })
  t.deepEqual(espUnderPresets({ id: AES, bits: 192, auth: IpsecAuthAlgorithm.HMAC_SHA2_512, encap: TRANSPORT }), { modern: 'aes192-sha512', compatible: 'aes192-sha512', legacy: 'aes192-sha512' })
  t.deepEqual(espUnderPresets({ id: TDES, auth: HMAC_SHA, encap: TRANSPORT }), { modern: null, compatible: '3des-sha1', legacy: '3des-sha1' })
  t.deepEqual(espUnderPresets({ id: TDES, auth: HMAC_MD5, encap: TRANSPORT }), { modern: null, compatible: null, legacy: '3des-md5' })
  t.deepEqual(espUnderPresets({ id: AES, bits: 128, auth: HMAC_MD5, encap: TRANSPORT }), { modern: null, compatible: null, legacy: 'aes128-md5' })

  const sizes = (spec: EspSpec): [number, number] => {
    const c = ok2(t, matchPhase2(espSa([spec]), PRESETS.legacy, L2TP))
    return [c.encryptionKeyLength, c.integrityKeyLength]
  }
  t.deepEqual(sizes({ id: TDES, auth: HMAC_MD5, encap: TRANSPORT }), [24, 16])
  t.deepEqual(sizes({ id: AES, bits: 256, auth: HMAC_SHA2_256, encap: TRANSPORT }), [32, 32])
  t.deepEqual(sizes({ id: AES, bits: 128, auth: IpsecAuthAlgorithm.HMAC_SHA2_384, encap: TRANSPORT }), [16, 48])

  const md5 = failed(t, matchPhase2(espSa([{ id: TDES, auth: HMAC_MD5, encap: TRANSPORT }]), PRESETS.compatible, L2TP))
  t.is(md5.reason, "client offered 3DES/MD5; none allowed by preset 'compatible'; preset 'legacy' would accept 3DES/MD5")
  t.deepEqual(md5.offered, ['ESP 3DES/MD5, transport, no PFS'])
})

test('ESP: AES needs a key length (RFC 3602 5.3), 3DES must not have one, integrity is required without AEAD', (t) => {
  const noLength = failed(t, matchPhase2(espSa([{ id: AES, auth: HMAC_SHA2_256, encap: TRANSPORT }]), PRESETS.modern, L2TP))
  t.is(noLength.notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  t.true(noLength.reason.includes('ESP AES without a key length'), noLength.reason)
  t.is(failed(t, matchPhase2(espSa([{ id: TDES, bits: 192, auth: HMAC_SHA, encap: TRANSPORT }]), PRESETS.legacy, L2TP)).notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
  const noAuth = failed(t, matchPhase2(espSa([{ id: AES, bits: 256, encap: TRANSPORT }]), PRESETS.legacy, L2TP))
  t.true(noAuth.reason.includes('without an authentication algorithm'), noAuth.reason)
  const des = failed(t, matchPhase2(espSa([{ id: EspTransformId.ESP_DES, auth: HMAC_SHA, encap: TRANSPORT }]), PRESETS.legacy, L2TP))
  t.true(des.reason.includes('ESP cipher DES is not supported'), des.reason)
  const esn = failed(t, matchPhase2(espSa([{ id: AES, bits: 256, auth: HMAC_SHA2_256, encap: TRANSPORT, extra: [{ type: 11, value: 1 }] }]), PRESETS.modern, L2TP))
  t.true(esn.reason.includes('extended sequence numbers'), esn.reason)
  // Private-use attribute types (RFC 2407 4.5: 32001-32767) are ignored.
  ok2(t, matchPhase2(espSa([{ id: AES, bits: 256, auth: HMAC_SHA2_256, encap: TRANSPORT, extra: [{ type: 32001, value: 7 }] }]), PRESETS.modern, L2TP))
})

test('ESP: tunnel modes only with allowTunnel; UDP modes and NAT-T give UDP encapsulation', (t) => {
  for (const encap of [EncapsulationMode.TUNNEL, EncapsulationMode.UDP_TUNNEL, EncapsulationMode.UDP_TUNNEL_DRAFT]) {
    const f = failed(t, matchPhase2(espSa([{ id: GCM16, bits: 256, encap }]), PRESETS.modern, L2TP_NAT))
    t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN)
    t.true(f.reason.includes('mode is not enabled (L2TP uses transport mode)'), f.reason)
    t.true(f.reason.includes('AES-256-GCM-16 tunnel'), f.reason)
    const c = ok2(t, matchPhase2(espSa([{ id: GCM16, bits: 256, encap }]), PRESETS.modern, { allowTunnel: true, natT: false }))
    t.like(c, { mode: 'tunnel', encapsulation: encap, udpEncapsulated: encap !== EncapsulationMode.TUNNEL })
  }
  // No ENCAPSULATION_MODE: tunnel, as strongSwan assumes.
  t.true(failed(t, matchPhase2(espSa([{ id: GCM16, bits: 256 }]), PRESETS.modern, L2TP)).reason.includes('tunnel'))
  t.like(ok2(t, matchPhase2(espSa([{ id: GCM16, bits: 256 }]), PRESETS.modern, { allowTunnel: true, natT: false })), { mode: 'tunnel', encapsulation: EncapsulationMode.TUNNEL })

  const modes: Array<[number, boolean, boolean]> = [
    [EncapsulationMode.TRANSPORT, false, false],
    [EncapsulationMode.TRANSPORT, true, true], // some clients say plain transport behind NAT
    [EncapsulationMode.UDP_TRANSPORT, true, true],
    [EncapsulationMode.UDP_TRANSPORT_DRAFT, true, true],
    [EncapsulationMode.UDP_TRANSPORT, false, true],
  ]
  for (const [encap, natT, udp] of modes) {
    const c = ok2(t, matchPhase2(espSa([{ id: AES, bits: 128, auth: HMAC_SHA2_256, encap }]), PRESETS.modern, { allowTunnel: false, natT }))
    t.like(c, { mode: 'transport', encapsulation: encap, udpEncapsulated: udp }, `${encap} natT=${natT}`)
  }
  t.is(failed(t, matchPhase2(espSa([{ id: AES, bits: 128, auth: HMAC_SHA2_256, encap: 9 }]), PRESETS.modern, L2TP)).notify, NotifyType.ATTRIBUTES_NOT_SUPPORTED)
})

test('ESP: PFS groups from the preset; requirePfs refuses offers without one', (t) => {
  const c = ok2(t, matchPhase2(espSa([{ id: AES, bits: 256, auth: HMAC_SHA, encap: TRANSPORT, group: 14 }]), PRESETS.compatible, L2TP))
  t.is(c.pfsGroup, 14)
  const modp1024 = failed(t, matchPhase2(espSa([{ id: GCM16, bits: 128, encap: TRANSPORT, group: 2 }]), PRESETS.modern, L2TP))
  t.is(modp1024.reason, "client offered AES-128-GCM-16 PFS MODP1024; none allowed by preset 'modern'; preset 'compatible' would accept AES-128-GCM-16 PFS MODP1024")
  t.deepEqual(modp1024.offered, ['ESP AES-128-GCM-16, transport, PFS MODP1024 (group 2)'])
  t.true(failed(t, matchPhase2(espSa([{ id: GCM16, bits: 128, encap: TRANSPORT, group: 1 }]), PRESETS.legacy, L2TP)).reason.includes('PFS MODP768 (group 1) is not supported'))

  const strict: ProposalPolicy = { ...PRESETS.modern, phase2: { ...PRESETS.modern.phase2, requirePfs: true } }
  const f = failed(t, matchPhase2(espSa([{ id: GCM16, bits: 128, encap: TRANSPORT }]), strict, L2TP))
  t.true(f.reason.includes('no PFS, and the policy requires it'), f.reason)
  t.like(ok2(t, matchPhase2(espSa([{ id: GCM16, bits: 128, encap: TRANSPORT }, { id: GCM16, bits: 128, encap: TRANSPORT, group: 19 }]), strict, L2TP)), { transformNumber: 2, pfsGroup: 19 })
})

test('ESP lifetimes: the client\'s, RFC 2407 default 28800 s, clamped with a RESPONDER-LIFETIME', (t) => {
  const base: EspSpec = { id: AES, bits: 256, auth: HMAC_SHA2_256, encap: TRANSPORT }
  const none = ok2(t, matchPhase2(espSa([base]), PRESETS.modern, L2TP))
  t.is(none.lifetimeSeconds, 28800)
  t.is(none.lifetimeKilobytes, undefined)
  t.is(none.responderLifetime, undefined)

  const long = ok2(t, matchPhase2(espSa([{ ...base, seconds: 86400, kilobytes: 4608000 }]), PRESETS.modern, L2TP))
  t.is(long.lifetimeSeconds, 28800)
  t.is(long.lifetimeKilobytes, 4608000, 'the preset has no volume limit of its own')
  t.deepEqual(long.responderLifetime, { seconds: 28800 })

  const capped: ProposalPolicy = { ...PRESETS.modern, phase2: { ...PRESETS.modern.phase2, maxLifetimeSeconds: 3600, maxLifetimeKilobytes: 1000000 } }
  const c = ok2(t, matchPhase2(espSa([{ ...base, seconds: 3600, kilobytes: 4608000 }]), capped, L2TP))
  t.like(c, { lifetimeSeconds: 3600, lifetimeKilobytes: 1000000 })
  t.deepEqual(c.responderLifetime, { kilobytes: 1000000 })
  // No seconds given means 28800 to the client: longer than our 3600, so say so.
  const d = ok2(t, matchPhase2(espSa([base]), capped, L2TP))
  t.deepEqual(d.responderLifetime, { seconds: 3600, kilobytes: 1000000 })
  // 4-byte TLV durations, as some clients send them.
  const tlv = espSa([{ ...base, extra: [{ type: IpsecAttribute.SA_LIFE_TYPE, value: LifeType.SECONDS }, { type: IpsecAttribute.SA_LIFE_DURATION, value: Buffer.from('00000e10', 'hex') }] }])
  t.like(ok2(t, matchPhase2(tlv, PRESETS.modern, L2TP)), { lifetimeSeconds: 3600, responderLifetime: undefined })
})

test('ESP: AH alone and ESP bundles (same proposal number) are skipped; the next ESP proposal is taken', (t) => {
  const gcm = espTransform(1, { id: GCM16, bits: 128, encap: TRANSPORT })
  const offer = saOf([
    { number: 1, protocol: ProtocolId.IPSEC_AH, spi: SPI, transforms: [{ number: 1, id: 3, attributes: [{ type: IpsecAttribute.AUTHENTICATION_ALGORITHM, value: HMAC_SHA }, { type: IpsecAttribute.ENCAPSULATION_MODE, value: TRANSPORT }] }] },
    { number: 2, protocol: ProtocolId.IPSEC_ESP, spi: SPI, transforms: [gcm] },
    { number: 2, protocol: ProtocolId.IPCOMP, spi: Buffer.from([0x12, 0x34]), transforms: [{ number: 1, id: 2, attributes: [] }] },
    { number: 3, protocol: ProtocolId.IPSEC_ESP, spi: SPI, transforms: [{ ...gcm, number: 5 }] },
  ])
  const c = ok2(t, matchPhase2(offer, PRESETS.modern, L2TP))
  t.like(c, { proposalNumber: 3, transformNumber: 5, espSuite: 'aes128gcm-16' })
  t.is(c.proposal, offer.proposals[3]!)
  const reply = sa(phase2Reply(offer, c, OUR_SPI))
  t.deepEqual(reply.proposals.map((p) => [p.number, p.protocol, p.spi.toString('hex'), p.transforms.length]), [[3, ProtocolId.IPSEC_ESP, 'cafe0002', 1]])

  const f = failed(t, matchPhase2(saOf(offer.proposals.slice(0, 3)), PRESETS.modern, L2TP))
  t.is(f.notify, NotifyType.NO_PROPOSAL_CHOSEN)
  t.true(f.reason.includes('proposal 1 is IPSEC_AH; only ESP is supported'), f.reason)
  t.true(f.reason.includes('proposal 2 bundles IPSEC_ESP+IPCOMP; only ESP alone is supported'), f.reason)
  t.deepEqual(f.offered, ['IPSEC_AH transform 3', 'ESP AES-128-GCM-16, transport, no PFS', 'IPCOMP transform 2'])
})

test('ESP: the SPI must be 4 bytes and not reserved; DOI and situation as in Phase 1', (t) => {
  const spec: EspSpec = { id: GCM16, bits: 128, encap: TRANSPORT }
  const long = failed(t, matchPhase2(espSa([spec], Buffer.alloc(8, 1)), PRESETS.modern, L2TP))
  t.is(long.notify, NotifyType.BAD_PROPOSAL_SYNTAX)
  t.true(long.reason.includes('8-byte SPI'), long.reason)
  t.is(failed(t, matchPhase2(espSa([spec], Buffer.from([0, 0, 0, 200])), PRESETS.modern, L2TP)).notify, NotifyType.INVALID_SPI)
  t.is(failed(t, matchPhase2({ ...espSa([spec]), doi: 7 }, PRESETS.modern, L2TP)).notify, NotifyType.DOI_NOT_SUPPORTED)
  t.is(failed(t, matchPhase2(saOf([]), PRESETS.modern, L2TP)).notify, NotifyType.BAD_PROPOSAL_SYNTAX)
})

test('Windows Phase 2 (AES-256/SHA1, AES-128/SHA1, 3DES/SHA1, transport) and Android ({AES-256, AES-128, 3DES, DES} × {SHA256, SHA1, MD5})', (t) => {
  // Windows: one ESP transform per proposal.
  const windows = saOf(
    [
      { id: AES, bits: 256, auth: HMAC_SHA },
      { id: AES, bits: 128, auth: HMAC_SHA },
      { id: TDES, auth: HMAC_SHA },
    ].map((s, i) => ({ number: i + 1, protocol: ProtocolId.IPSEC_ESP, spi: SPI, transforms: [espTransform(1, { ...s, encap: UDP_TRANSPORT, seconds: 3600 })] })),
  )
  const f = failed(t, matchPhase2(windows, PRESETS.modern, L2TP_NAT))
  t.is(f.reason, "client offered AES-256/SHA1, AES-128/SHA1, 3DES/SHA1; none allowed by preset 'modern'; preset 'compatible' would accept AES-256/SHA1")
  t.like(ok2(t, matchPhase2(windows, PRESETS.compatible, L2TP_NAT)), { proposalNumber: 1, transformNumber: 1, espSuite: 'aes256-sha1', udpEncapsulated: true })

  // Android racoon: one proposal, twelve transforms.
  const specs: EspSpec[] = []
  for (const [id, bits] of [[AES, 256], [AES, 128], [TDES, undefined], [EspTransformId.ESP_DES, undefined]] as const) {
    for (const auth of [HMAC_SHA2_256, HMAC_SHA, HMAC_MD5]) specs.push({ id, bits, auth, encap: UDP_TRANSPORT, seconds: 28800 })
  }
  const android = espSa(specs)
  for (const preset of PRESET_NAMES) {
    t.like(ok2(t, matchPhase2(android, PRESETS[preset], L2TP_NAT)), { transformNumber: 1, espSuite: 'aes256-sha256', integrityKeyLength: 32 }, preset)
  }
})

// --- our offers, round trips ----------------------------------------------------------

test('phase1Offer: one ISAKMP proposal, ≤ 24 transforms, every policy value offered, and matchPhase1 picks the first', (t) => {
  for (const preset of PRESET_NAMES) {
    const policy = PRESETS[preset]
    const offer = sa(phase1Offer(policy, AuthMethod.PSK, 28800))
    t.is(offer.doi, Doi.IPSEC)
    t.is(offer.proposals.length, 1)
    const p = offer.proposals[0]!
    t.is(p.protocol, ProtocolId.ISAKMP)
    t.is(p.spi.length, 0)
    t.true(p.transforms.length <= 24 && p.transforms.length > 0)
    t.deepEqual(p.transforms.map((x) => x.number), p.transforms.map((_, i) => i + 1))
    // Every transform is acceptable to the policy that built it.
    for (const x of p.transforms) ok1(t, matchPhase1(saOf([{ ...p, transforms: [x] }]), policy, PSK_ONLY))
    const chosen = new Set<string>()
    for (const x of p.transforms) {
      const c = ok1(t, matchPhase1(saOf([{ ...p, transforms: [x] }]), policy, PSK_ONLY))
      chosen.add(c.encryption).add(c.hash).add(`g${c.group}`)
    }
    for (const v of [...policy.phase1.encryption, ...policy.phase1.hash, ...policy.phase1.groups.map((g) => `g${g}`)]) t.true(chosen.has(v), `${preset} offers ${v}`)

    const c = ok1(t, matchPhase1(offer, policy, PSK_ONLY))
    t.like(c, { proposalNumber: 1, transformNumber: 1, encryption: policy.phase1.encryption[0], hash: policy.phase1.hash[0], group: policy.phase1.groups[0], lifetimeSeconds: 28800 })
    t.is(describePhase1Transform(c.transform), 'AES-256/SHA2-256/MODP2048 (group 14), PSK, 28800 s')
  }
  // Old peers need the weakest combination: compatible offers 3DES/SHA1/MODP1024.
  const compat = sa(phase1Offer(PRESETS.compatible, AuthMethod.PSK, 86400)).proposals[0]!.transforms
  t.true(compat.map(describePhase1Transform).includes('3DES/SHA1/MODP1024 (group 2), PSK, 86400 s'))
  // A small policy: all combinations in nested policy order.
  const small: ProposalPolicy = { ...PRESETS.modern, phase1: { ...PRESETS.modern.phase1, encryption: ['aes128', 'aes256'], hash: ['sha256'], groups: [19, 14] } }
  t.deepEqual(sa(phase1Offer(small, AuthMethod.PSK, 3600)).proposals[0]!.transforms.map(describePhase1Transform), [
    'AES-128/SHA2-256/ECP256 (group 19), PSK, 3600 s',
    'AES-128/SHA2-256/MODP2048 (group 14), PSK, 3600 s',
    'AES-256/SHA2-256/ECP256 (group 19), PSK, 3600 s',
    'AES-256/SHA2-256/MODP2048 (group 14), PSK, 3600 s',
  ])
})

test('phase1Offer → responder → phase1Reply → the initiator accepts the reply', (t) => {
  const offer = sa(phase1Offer(PRESETS.compatible, AuthMethod.PSK, 28800))
  const responder = ok1(t, matchPhase1(offer, PRESETS.modern, PSK_ONLY))
  const bytes = encodePayloadBody({ type: PayloadType.SA, ...phase1Reply(offer, responder) })
  const reply = decodePayloadBody(PayloadType.SA, bytes) as SaPayload
  t.is(reply.proposals.length, 1)
  t.is(reply.proposals[0]!.transforms.length, 1)
  t.deepEqual(reply.proposals[0]!.transforms[0], responder.transform)
  const initiator = ok1(t, matchPhase1(reply, PRESETS.compatible, PSK_ONLY))
  t.like(initiator, { encryption: responder.encryption, hash: responder.hash, group: responder.group, transformNumber: responder.transformNumber })
})

test('phase2Offer: ESP proposals as clients send them; round trip through matchPhase2 and phase2Reply', (t) => {
  for (const preset of PRESET_NAMES) {
    const policy = PRESETS[preset]
    const offer = sa(phase2Offer(policy, SPI, { encapsulation: UDP_TRANSPORT, lifetimeSeconds: 3600 }))
    const p = offer.proposals[0]!
    t.is(offer.proposals.length, 1)
    t.is(p.protocol, ProtocolId.IPSEC_ESP)
    t.deepEqual(p.spi, SPI)
    const aead = policy.phase2.ciphers.filter((c) => c.includes('gcm')).length
    t.is(p.transforms.length, aead + (policy.phase2.ciphers.length - aead) * policy.phase2.integrity.length)
    const suites = p.transforms.map((x) => ok2(t, matchPhase2(saOf([{ ...p, transforms: [x] }]), policy, L2TP_NAT)).espSuite)
    t.is(suites[0], 'aes256gcm-16')
    t.is(new Set(suites).size, suites.length)

    const c = ok2(t, matchPhase2(offer, policy, L2TP_NAT))
    t.like(c, { transformNumber: 1, espSuite: 'aes256gcm-16', lifetimeSeconds: 3600, udpEncapsulated: true, encapsulation: UDP_TRANSPORT })
    const bytes = encodePayloadBody({ type: PayloadType.SA, ...phase2Reply(offer, c, OUR_SPI) })
    const reply = decodePayloadBody(PayloadType.SA, bytes) as SaPayload
    t.is(reply.proposals.length, 1)
    t.deepEqual(reply.proposals[0]!.spi, OUR_SPI)
    t.deepEqual(reply.proposals[0]!.transforms, [c.transform])
    // The initiator reads the reply with the same rules.
    t.like(ok2(t, matchPhase2(reply, policy, L2TP_NAT)), { espSuite: c.espSuite, peerSpi: OUR_SPI })
  }
  t.true(sa(phase2Offer(PRESETS.legacy, SPI, { encapsulation: TRANSPORT, lifetimeSeconds: 0 })).proposals[0]!.transforms.some((x) => describePhase2Transform({ number: 1, protocol: ProtocolId.IPSEC_ESP, spi: SPI, transforms: [] }, x) === 'ESP 3DES/MD5, transport, no PFS'))

  const pfs = sa(phase2Offer(PRESETS.modern, SPI, { encapsulation: TRANSPORT, pfsGroup: 19, lifetimeSeconds: 86400 }))
  const c = ok2(t, matchPhase2(pfs, PRESETS.modern, L2TP))
  t.like(c, { pfsGroup: 19, lifetimeSeconds: 28800, udpEncapsulated: false })
  t.deepEqual(c.responderLifetime, { seconds: 28800 })
  t.is(describePhase2Transform(c.proposal, c.transform), 'ESP AES-256-GCM-16, transport, PFS ECP256 (group 19), 86400 s')
  t.throws(() => phase2Offer(PRESETS.modern, Buffer.alloc(2), { encapsulation: TRANSPORT, lifetimeSeconds: 0 }), { instanceOf: RangeError })
  t.throws(() => phase2Reply(pfs, c, Buffer.alloc(8)), { instanceOf: RangeError })
})
