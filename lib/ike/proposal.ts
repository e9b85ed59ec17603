/**
 * IKEv1 proposal selection: which of the client's Phase 1 (ISAKMP) and
 * Phase 2 (ESP) transforms we accept under a ProposalPolicy, the reply SA
 * payloads that echo the choice, and the SA payloads our own initiator
 * offers. Pure functions over decoded SA payloads; no state, no I/O.
 *
 * Selection follows RFC 2409 5 and RFC 2408 4.2: the responder picks one
 * proposal and one transform and returns them unchanged. "The responder
 * MUST NOT modify the attributes of any proposal" (RFC 2409 5), so what we
 * would rather have (a shorter lifetime) is not written into the reply:
 * Phase 2 reports it with a RESPONDER-LIFETIME notify (RFC 2407 4.5.4),
 * Phase 1 simply expires at our maximum. The first acceptable transform in
 * the client's order wins, not ours: the client ranks its own offer
 * (RFC 2408 4.2 "in order of preference"), and policy.ts only says what is
 * acceptable at all.
 */
import {
  AuthMethod,
  Doi,
  EncapsulationMode,
  EncryptionAlgorithm,
  EspTransformId,
  GroupDescription,
  HashAlgorithm,
  IkeAttribute,
  IpsecAttribute,
  IpsecAuthAlgorithm,
  IsakmpTransformId,
  LifeType,
  NotifyType,
  ProtocolId,
  Situation,
  nameOf,
} from './constants.js'
import { attributeNumber } from './codec.js'
import type { Attribute, Proposal, SaPayload, Transform } from './codec.js'
import type { CipherName, HashName } from './crypto.js'
import { SUPPORTED_DH_GROUPS, dhGroup } from './dh.js'
import { PRESETS } from './policy.js'
import type { EspCipher, EspIntegrity, Phase1Encryption, PresetName, ProposalPolicy } from './policy.js'

/**
 * The fields of an SA payload to send; add `type: PayloadType.SA` to make
 * it a PayloadInput for encodePayloadBody / encodePayloads.
 */
export type SaPayloadInput = Omit<SaPayload, 'raw' | 'type'>

export interface Phase1Choice {
  proposalNumber: number
  transformNumber: number
  encryption: Phase1Encryption
  cipher: CipherName
  /** Bytes of the IKE encryption key (RFC 2409 appendix B). */
  keyLength: number
  hash: HashName
  group: number
  /** AuthMethod value (PSK 1, RSA_SIG 3, ...). */
  authMethod: number
  /** The client's, or the policy maximum if the client gave none or more. */
  lifetimeSeconds: number
  /** The client's volume limit, if it gave one (the policy has none for Phase 1). */
  lifetimeKilobytes?: number
  /** The client's transform exactly as received, to echo back. */
  transform: Transform
}

export interface Phase2Choice {
  proposalNumber: number
  transformNumber: number
  /** The data plane's suite name (crates/dataplane/src/esp/suite.rs Suite::NAMES). */
  espSuite: string
  /** KEYMAT bytes for encryption; AES-GCM: the key and its 4-byte salt (RFC 4106 8.1). */
  encryptionKeyLength: number
  /** KEYMAT bytes for integrity; 0 for AES-GCM. */
  integrityKeyLength: number
  /** EncapsulationMode as received (TUNNEL 1 when the client left it out). */
  encapsulation: number
  mode: 'transport' | 'tunnel'
  /** ESP goes in UDP (RFC 3948): NAT was detected or the client asked for a UDP mode. */
  udpEncapsulated: boolean
  pfsGroup?: number
  /** The initiator's SPI (4 bytes): where we send. */
  peerSpi: Buffer
  lifetimeSeconds: number
  lifetimeKilobytes?: number
  /** Set when our policy is shorter than what the client asked: answer with RESPONDER-LIFETIME. */
  responderLifetime?: { seconds?: number; kilobytes?: number }
  /** As received, to echo (with our SPI substituted by phase2Reply). */
  proposal: Proposal
  transform: Transform
}

export interface MatchFailure {
  ok: false
  /** NotifyType to send: NO_PROPOSAL_CHOSEN, BAD_PROPOSAL_SYNTAX, ATTRIBUTES_NOT_SUPPORTED, ... */
  notify: number
  /** Plain words for the operator. */
  reason: string
  /** Each transform the client offered, in plain words. */
  offered: string[]
}

export type Phase1Match = { ok: true; choice: Phase1Choice } | MatchFailure
export type Phase2Match = { ok: true; choice: Phase2Choice } | MatchFailure

/**
 * IPsec DOI attributes after RFC 2407's nine (IANA "IPSEC Security
 * Association Attributes"): not in constants.ts, needed to refuse them.
 */
const IpsecAttributeExt = {
  ECN_TUNNEL: 10, // RFC 4301 appendix C
  EXTENDED_SEQUENCE_NUMBER: 11, // RFC 4304
  AUTH_KEY_LENGTH: 12, // RFC 4359
  SIGNATURE_ENCODING: 13, // RFC 4359
  ADDRESS_PRESERVATION: 14, // RFC 6407
  SA_DIRECTION: 15, // RFC 6407
} as const

/** RFC 2407 4.5: "If unspecified, the default value shall be assumed to be 28800 seconds". */
const PHASE2_DEFAULT_LIFETIME_SECONDS = 28800

/** Our initiator's offers stop here: a longer SA payload helps no one and may need fragmentation. */
const MAX_OFFERED_TRANSFORMS = 24

// --- why a transform was skipped -------------------------------------------------

interface Problem {
  /** What to answer if every transform fails the same way. */
  notify: number
  /** Plain words; shown in the failure reason. */
  note: string
  /**
   * True when the transform is well formed and only the preset's algorithm
   * lists exclude it: those are summed up as "none allowed by preset".
   */
  preset?: true
}

const invalid = (note: string, notify: number = NotifyType.ATTRIBUTES_NOT_SUPPORTED): Problem => ({ notify, note })
const refused = (note: string): Problem => ({ notify: NotifyType.NO_PROPOSAL_CHOSEN, note })
const notInPreset = (note: string): Problem => ({ notify: NotifyType.NO_PROPOSAL_CHOSEN, note, preset: true })

function isProblem<T extends object>(x: T | Problem): x is Problem {
  return 'notify' in x && 'note' in x
}

// --- attributes -------------------------------------------------------------------

type AttributeClass = 'value' | 'life-type' | 'life-duration' | 'ignore' | { unsupported: string }

interface Collected {
  /** Single-valued attributes by type. */
  values: Map<number, number>
  seconds?: number
  kilobytes?: number
}

/**
 * Reads a transform's attributes. Each attribute may appear once, except
 * the life type/duration pairs: "Life Type ... MUST be followed by Life
 * Duration" and a transform may carry one pair per type (RFC 2409
 * appendix A, RFC 2407 4.5); if a type repeats, the shorter duration holds.
 * Durations arrive as TV or as 4-byte TLV: attributeNumber reads both.
 */
function collect(attributes: readonly Attribute[], classify: (type: number) => AttributeClass, names: Readonly<Record<string, number>>): Collected | Problem {
  const out: Collected = { values: new Map() }
  let pending: number | undefined
  for (const a of attributes) {
    const kind = classify(a.type)
    if (kind === 'ignore') continue
    if (typeof kind === 'object') return invalid(kind.unsupported)
    let value: number
    try {
      value = attributeNumber(a)
    } catch {
      return invalid(`attribute ${nameOf(names, a.type)} is too long for a number`)
    }
    if (kind === 'life-type') {
      if (pending !== undefined) return invalid('a life type without a life duration', NotifyType.BAD_PROPOSAL_SYNTAX)
      if (value !== LifeType.SECONDS && value !== LifeType.KILOBYTES) return invalid(`life type ${value} is neither seconds nor kilobytes`)
      pending = value
    } else if (kind === 'life-duration') {
      if (pending === undefined) return invalid('a life duration without a life type', NotifyType.BAD_PROPOSAL_SYNTAX)
      if (value === 0) return invalid('a life duration of 0', NotifyType.BAD_PROPOSAL_SYNTAX)
      if (pending === LifeType.SECONDS) out.seconds = Math.min(out.seconds ?? value, value)
      else out.kilobytes = Math.min(out.kilobytes ?? value, value)
      pending = undefined
    } else {
      // libreswan refuses a repeated KEY_LENGTH too (its impair test
      // "key-length-attribute:duplicate" expects the exchange to fail).
      if (out.values.has(a.type)) return invalid(`attribute ${nameOf(names, a.type)} appears twice`, NotifyType.BAD_PROPOSAL_SYNTAX)
      out.values.set(a.type, value)
    }
  }
  if (pending !== undefined) return invalid('a life type without a life duration', NotifyType.BAD_PROPOSAL_SYNTAX)
  return out
}

/** RFC 2409 appendix A: types 17-16383 are IANA's (none assigned), 16384-32767 private use. */
function classifyPhase1(type: number): AttributeClass {
  switch (type) {
    case IkeAttribute.ENCRYPTION_ALGORITHM:
    case IkeAttribute.HASH_ALGORITHM:
    case IkeAttribute.AUTHENTICATION_METHOD:
    case IkeAttribute.GROUP_DESCRIPTION:
    case IkeAttribute.GROUP_TYPE:
    case IkeAttribute.KEY_LENGTH:
      return 'value'
    case IkeAttribute.LIFE_TYPE:
      return 'life-type'
    case IkeAttribute.LIFE_DURATION:
      return 'life-duration'
    case IkeAttribute.GROUP_PRIME:
    case IkeAttribute.GROUP_GENERATOR_ONE:
    case IkeAttribute.GROUP_GENERATOR_TWO:
    case IkeAttribute.GROUP_CURVE_A:
    case IkeAttribute.GROUP_CURVE_B:
    case IkeAttribute.FIELD_SIZE:
    case IkeAttribute.GROUP_ORDER:
      return { unsupported: 'a private Diffie-Hellman group (GROUP_PRIME etc.) is not supported' }
    case IkeAttribute.PRF:
      // RFC 2409 appendix A: "There are currently no negotiable pseudo-random functions".
      return { unsupported: 'a negotiated PRF attribute is not supported' }
    default:
      return type >= 16384 ? 'ignore' : { unsupported: `unknown attribute type ${type}` }
  }
}

/** RFC 2407 4.5: types 10-32000 are IANA's, 32001-32767 private use. */
function classifyPhase2(type: number): AttributeClass {
  switch (type) {
    case IpsecAttribute.GROUP_DESCRIPTION:
    case IpsecAttribute.ENCAPSULATION_MODE:
    case IpsecAttribute.AUTHENTICATION_ALGORITHM:
    case IpsecAttribute.KEY_LENGTH:
    case IpsecAttributeExt.EXTENDED_SEQUENCE_NUMBER:
      return 'value'
    case IpsecAttribute.SA_LIFE_TYPE:
      return 'life-type'
    case IpsecAttribute.SA_LIFE_DURATION:
      return 'life-duration'
    case IpsecAttributeExt.ECN_TUNNEL:
      // Only says how the tunnel copies ECN bits (RFC 4301 5.1.2.1); nothing to agree on in transport mode.
      return 'ignore'
    case IpsecAttribute.KEY_ROUNDS:
      return { unsupported: 'KEY_ROUNDS is not supported' }
    case IpsecAttribute.COMPRESS_DICTIONARY_SIZE:
    case IpsecAttribute.COMPRESS_PRIVATE_ALGORITHM:
      return { unsupported: 'IPComp attributes in an ESP transform' }
    case IpsecAttributeExt.AUTH_KEY_LENGTH:
    case IpsecAttributeExt.SIGNATURE_ENCODING:
    case IpsecAttributeExt.ADDRESS_PRESERVATION:
    case IpsecAttributeExt.SA_DIRECTION:
      return { unsupported: `attribute ${nameOf(IpsecAttributeExt, type)} is not supported` }
    default:
      return type >= 32001 ? 'ignore' : { unsupported: `unknown attribute type ${type}` }
  }
}

// --- names for people -------------------------------------------------------------

const PHASE1_HASHES: ReadonlyMap<number, HashName> = new Map([
  [HashAlgorithm.MD5, 'md5'],
  [HashAlgorithm.SHA, 'sha1'],
  [HashAlgorithm.SHA2_256, 'sha256'],
  [HashAlgorithm.SHA2_384, 'sha384'],
  [HashAlgorithm.SHA2_512, 'sha512'],
])

/** RFC 2407 4.5 and RFC 4868 2.4 (SHA-2 HMACs truncated to half their length). */
const ESP_INTEGRITY: ReadonlyMap<number, EspIntegrity> = new Map([
  [IpsecAuthAlgorithm.HMAC_MD5, 'md5'],
  [IpsecAuthAlgorithm.HMAC_SHA, 'sha1'],
  [IpsecAuthAlgorithm.HMAC_SHA2_256, 'sha256'],
  [IpsecAuthAlgorithm.HMAC_SHA2_384, 'sha384'],
  [IpsecAuthAlgorithm.HMAC_SHA2_512, 'sha512'],
])

const AES_BY_BITS: ReadonlyMap<number, 'aes128' | 'aes192' | 'aes256'> = new Map([
  [128, 'aes128'],
  [192, 'aes192'],
  [256, 'aes256'],
])

const HASH_WORDS: Readonly<Record<HashName, string>> = { md5: 'MD5', sha1: 'SHA1', sha256: 'SHA2-256', sha384: 'SHA2-384', sha512: 'SHA2-512' }

/** KEYMAT bytes of each ESP integrity algorithm: the HMAC key is the hash's length (RFC 2403, 2404, 4868 2.1.1). */
const INTEGRITY_KEY_BYTES: Readonly<Record<EspIntegrity, number>> = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 }

function phase1EncryptionWords(id: number | undefined, keyBits: number | undefined): string {
  if (id === undefined) return 'no cipher'
  if (id === EncryptionAlgorithm.AES) return keyBits === undefined ? 'AES' : `AES-${keyBits}`
  if (id === EncryptionAlgorithm['3DES']) return '3DES'
  return nameOf(EncryptionAlgorithm, id)
}

function phase1HashWords(id: number | undefined): string {
  if (id === undefined) return 'no hash'
  const h = PHASE1_HASHES.get(id)
  return h ? HASH_WORDS[h] : nameOf(HashAlgorithm, id)
}

function groupName(id: number): string {
  const g = dhGroup(id)
  if (g) return g.name.toUpperCase()
  const name = nameOf(GroupDescription, id)
  return name.startsWith('UNKNOWN') ? `group ${id}` : name
}

function groupWords(id: number | undefined): string {
  if (id === undefined) return 'no group'
  const name = groupName(id)
  return name === `group ${id}` ? name : `${name} (group ${id})`
}

function authWords(id: number | undefined): string {
  if (id === undefined) return 'no auth method'
  if (id === AuthMethod.PSK) return 'PSK'
  if (id === AuthMethod.RSA_SIG) return 'RSA-SIG'
  return nameOf(AuthMethod, id)
}

function lifetimeWords(seconds: number | undefined, kilobytes: number | undefined): string[] {
  const out: string[] = []
  if (seconds !== undefined) out.push(`${seconds} s`)
  if (kilobytes !== undefined) out.push(`${kilobytes} KB`)
  return out
}

/** Attribute values for display: never throws, first value of each type. */
function looseValues(t: Transform): Map<number, number> {
  const m = new Map<number, number>()
  for (const a of t.attributes) {
    if (m.has(a.type)) continue
    try {
      m.set(a.type, attributeNumber(a))
    } catch {
      // too long to be a number: shown as absent
    }
  }
  return m
}

/** Life durations for display: each duration paired with the type before it. */
function looseLifetimes(t: Transform, typeAttr: number, durationAttr: number): { seconds?: number; kilobytes?: number } {
  const out: { seconds?: number; kilobytes?: number } = {}
  let type: number | undefined
  for (const a of t.attributes) {
    try {
      if (a.type === typeAttr) type = attributeNumber(a)
      else if (a.type === durationAttr) {
        if (type === LifeType.SECONDS) out.seconds ??= attributeNumber(a)
        else if (type === LifeType.KILOBYTES) out.kilobytes ??= attributeNumber(a)
      }
    } catch {
      // ignored for display
    }
  }
  return out
}

function phase1Short(t: Transform): string {
  const v = looseValues(t)
  const group = v.get(IkeAttribute.GROUP_DESCRIPTION)
  return [
    phase1EncryptionWords(v.get(IkeAttribute.ENCRYPTION_ALGORITHM), v.get(IkeAttribute.KEY_LENGTH)),
    phase1HashWords(v.get(IkeAttribute.HASH_ALGORITHM)),
    group === undefined ? (v.has(IkeAttribute.GROUP_PRIME) || v.has(IkeAttribute.GROUP_TYPE) ? 'private group' : 'no group') : groupName(group),
  ].join('/')
}

/** One Phase 1 transform in plain words: "AES-256/SHA1/MODP1024 (group 2), PSK, 28800 s". */
export function describePhase1Transform(t: Transform): string {
  const v = looseValues(t)
  const group = v.get(IkeAttribute.GROUP_DESCRIPTION)
  const parts = [
    `${phase1EncryptionWords(v.get(IkeAttribute.ENCRYPTION_ALGORITHM), v.get(IkeAttribute.KEY_LENGTH))}/${phase1HashWords(v.get(IkeAttribute.HASH_ALGORITHM))}/${
      group === undefined && t.attributes.some((a) => a.type === IkeAttribute.GROUP_PRIME || a.type === IkeAttribute.GROUP_TYPE) ? 'private group' : groupWords(group)
    }`,
    authWords(v.get(IkeAttribute.AUTHENTICATION_METHOD)),
  ]
  const life = looseLifetimes(t, IkeAttribute.LIFE_TYPE, IkeAttribute.LIFE_DURATION)
  parts.push(...lifetimeWords(life.seconds, life.kilobytes))
  const text = parts.join(', ')
  return t.id === IsakmpTransformId.KEY_IKE ? text : `transform id ${t.id}: ${text}`
}

function espCipherWords(id: number, keyBits: number | undefined): string {
  const bits = keyBits === undefined ? '' : `-${keyBits}`
  switch (id) {
    case EspTransformId.ESP_AES:
      return `AES${bits}`
    case EspTransformId.ESP_3DES:
      return '3DES'
    case EspTransformId.ESP_AES_GCM_8:
      return `AES${bits}-GCM-8`
    case EspTransformId.ESP_AES_GCM_12:
      return `AES${bits}-GCM-12`
    case EspTransformId.ESP_AES_GCM_16:
      return `AES${bits}-GCM-16`
    default:
      return nameOf(EspTransformId, id).replace(/^ESP_/, '')
  }
}

const isGcm = (id: number): boolean => id === EspTransformId.ESP_AES_GCM_8 || id === EspTransformId.ESP_AES_GCM_12 || id === EspTransformId.ESP_AES_GCM_16

function espIntegrityWords(id: number | undefined): string | undefined {
  if (id === undefined) return undefined
  const i = ESP_INTEGRITY.get(id)
  return i ? HASH_WORDS[i] : nameOf(IpsecAuthAlgorithm, id)
}

function encapsulationWords(mode: number | undefined): string {
  switch (mode) {
    case undefined:
      return 'mode unspecified'
    case EncapsulationMode.TUNNEL:
      return 'tunnel'
    case EncapsulationMode.TRANSPORT:
      return 'transport'
    case EncapsulationMode.UDP_TUNNEL:
      return 'UDP-tunnel'
    case EncapsulationMode.UDP_TRANSPORT:
      return 'UDP-transport'
    case EncapsulationMode.UDP_TUNNEL_DRAFT:
      return 'UDP-tunnel (draft)'
    case EncapsulationMode.UDP_TRANSPORT_DRAFT:
      return 'UDP-transport (draft)'
    default:
      return `encapsulation ${mode}`
  }
}

function espAlgorithmWords(t: Transform, v: Map<number, number>): string {
  const cipher = espCipherWords(t.id, v.get(IpsecAttribute.KEY_LENGTH))
  const integrity = espIntegrityWords(v.get(IpsecAttribute.AUTHENTICATION_ALGORITHM))
  return integrity === undefined || isGcm(t.id) ? cipher : `${cipher}/${integrity}`
}

function phase2Short(p: Proposal, t: Transform): string {
  if (p.protocol !== ProtocolId.IPSEC_ESP) return `${nameOf(ProtocolId, p.protocol)} transform ${t.id}`
  const v = looseValues(t)
  const group = v.get(IpsecAttribute.GROUP_DESCRIPTION)
  const mode = v.get(IpsecAttribute.ENCAPSULATION_MODE)
  const tunnel = mode === undefined || mode === EncapsulationMode.TUNNEL || mode === EncapsulationMode.UDP_TUNNEL || mode === EncapsulationMode.UDP_TUNNEL_DRAFT
  return `${espAlgorithmWords(t, v)}${group === undefined ? '' : ` PFS ${groupName(group)}`}${tunnel ? ' tunnel' : ''}`
}

/** One Phase 2 transform in plain words: "ESP AES-256/SHA1, UDP-transport, no PFS, 3600 s". */
export function describePhase2Transform(p: Proposal, t: Transform): string {
  if (p.protocol !== ProtocolId.IPSEC_ESP) return `${nameOf(ProtocolId, p.protocol)} transform ${t.id}`
  const v = looseValues(t)
  const group = v.get(IpsecAttribute.GROUP_DESCRIPTION)
  const life = looseLifetimes(t, IpsecAttribute.SA_LIFE_TYPE, IpsecAttribute.SA_LIFE_DURATION)
  return [
    `ESP ${espAlgorithmWords(t, v)}`,
    encapsulationWords(v.get(IpsecAttribute.ENCAPSULATION_MODE)),
    group === undefined ? 'no PFS' : `PFS ${groupWords(group)}`,
    ...lifetimeWords(life.seconds, life.kilobytes),
  ].join(', ')
}

// --- failures -----------------------------------------------------------------------

interface Skipped {
  problems: Problem[]
}

/**
 * The notify for a failed match: a transform-level notify only when every
 * transform failed that same way (ATTRIBUTES_NOT_SUPPORTED if nothing was
 * acceptable because of its attributes, BAD_PROPOSAL_SYNTAX if everything
 * was malformed), else NO_PROPOSAL_CHOSEN (RFC 2408 5.4: "If none of the
 * proposals are acceptable").
 */
function failureNotify(problems: readonly Problem[]): number {
  const first = problems[0]
  if (first && problems.every((p) => p.notify === first.notify)) return first.notify
  return NotifyType.NO_PROPOSAL_CHOSEN
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)]
}

function failure(problems: readonly Problem[], offeredShort: readonly string[], offered: string[], preset: string, hint: string | undefined): MatchFailure {
  const what = offeredShort.length === 0 ? 'client offered nothing' : `client offered ${unique(offeredShort).join(', ')}`
  const summary = problems.some((p) => p.preset) ? `none allowed by preset '${preset}'` : 'none acceptable'
  const notes = unique(problems.filter((p) => !p.preset).map((p) => p.note))
  const shown = notes.slice(0, 5)
  if (notes.length > shown.length) shown.push(`${notes.length - shown.length} more`)
  let reason = `${what}; ${summary}`
  if (shown.length > 0) reason += ` (${shown.join('; ')})`
  if (hint) reason += `; ${hint}`
  return { ok: false, notify: failureNotify(problems), reason, offered }
}

/** The narrowest other preset that would accept the offer, for the operator. */
function presetHint(current: string, tryPreset: (policy: ProposalPolicy) => string | undefined): string | undefined {
  for (const name of ['modern', 'compatible', 'legacy'] as const satisfies readonly PresetName[]) {
    if (name === current) continue
    const accepted = tryPreset(PRESETS[name])
    if (accepted) return `preset '${name}' would accept ${accepted}`
  }
  return undefined
}

function checkDoi(sa: SaPayload): MatchFailure | undefined {
  if (sa.doi !== Doi.IPSEC) {
    return { ok: false, notify: NotifyType.DOI_NOT_SUPPORTED, reason: `client's SA uses DOI ${sa.doi}; only the IPsec DOI (1) is supported (RFC 2407 4.2)`, offered: [] }
  }
  if (sa.situation !== Situation.IDENTITY_ONLY) {
    // RFC 2407 4.2: SIT_SECRECY and SIT_INTEGRITY are labeled-security situations we do not do.
    return { ok: false, notify: NotifyType.SITUATION_NOT_SUPPORTED, reason: `client's SA has situation ${sa.situation}; only SIT_IDENTITY_ONLY (1) is supported`, offered: [] }
  }
  return undefined
}

// --- Phase 1 ------------------------------------------------------------------------

type Phase1Result = { choice: Phase1Choice } | Skipped

function selectPhase1(sa: SaPayload, policy: ProposalPolicy, authMethods: readonly number[]): Phase1Result {
  const problems: Problem[] = []
  if (sa.proposals.length === 0) problems.push(invalid('the SA payload holds no proposal', NotifyType.BAD_PROPOSAL_SYNTAX))
  for (const proposal of sa.proposals) {
    if (proposal.protocol !== ProtocolId.ISAKMP) {
      problems.push(refused(`proposal ${proposal.number} is for protocol ${nameOf(ProtocolId, proposal.protocol)}, not ISAKMP`))
      continue
    }
    if (proposal.transforms.length === 0) problems.push(invalid(`proposal ${proposal.number} holds no transform`, NotifyType.BAD_PROPOSAL_SYNTAX))
    for (const t of proposal.transforms) {
      const r = phase1Transform(proposal, t, policy, authMethods)
      if (!isProblem(r)) return { choice: r }
      problems.push({ ...r, note: `transform ${t.number}: ${r.note}` })
    }
  }
  return { problems }
}

/** One ISAKMP transform: the choice, or why not. Malformed and unsupported first, then the preset. */
function phase1Transform(proposal: Proposal, t: Transform, policy: ProposalPolicy, authMethods: readonly number[]): Phase1Choice | Problem {
  if (t.id !== IsakmpTransformId.KEY_IKE) return refused(`transform id ${t.id} is not KEY_IKE`)
  const c = collect(t.attributes, classifyPhase1, IkeAttribute)
  if (isProblem(c)) return c
  const v = c.values
  const encryptionId = v.get(IkeAttribute.ENCRYPTION_ALGORITHM)
  const hashId = v.get(IkeAttribute.HASH_ALGORITHM)
  const auth = v.get(IkeAttribute.AUTHENTICATION_METHOD)
  const group = v.get(IkeAttribute.GROUP_DESCRIPTION)
  const missing = [
    encryptionId === undefined ? 'encryption algorithm' : '',
    hashId === undefined ? 'hash algorithm' : '',
    auth === undefined ? 'authentication method' : '',
    group === undefined ? (v.has(IkeAttribute.GROUP_TYPE) ? '' : 'group description') : '',
  ].filter(Boolean)
  // RFC 2409 5: encryption, hash, authentication method and group are mandatory.
  if (missing.length > 0) return invalid(`missing ${missing.join(', ')}`)
  if (group === undefined) return invalid('a private Diffie-Hellman group (GROUP_TYPE without GROUP_DESCRIPTION) is not supported')

  const keyBits = v.get(IkeAttribute.KEY_LENGTH)
  let encryption: Phase1Encryption
  if (encryptionId === EncryptionAlgorithm.AES) {
    // RFC 3602 does not cover IKE; an absent KEY_LENGTH means AES-128 as
    // in strongSwan (proposal_substructure.c: "some implementations don't
    // send a Key Length attribute for AES-128, early drafts of RFC 3602
    // allowed that") and libreswan (its IKEv1 test with the key length
    // omitted in Phase 1 establishes).
    const bits = keyBits ?? 128
    const aes = AES_BY_BITS.get(bits)
    if (!aes) return invalid(`AES key length ${bits} is not 128, 192 or 256`)
    encryption = aes
  } else if (encryptionId === EncryptionAlgorithm['3DES']) {
    // RFC 2409 appendix A: Key Length "MUST NOT be used when the specified
    // Encryption Algorithm uses a fixed length key".
    if (keyBits !== undefined) return invalid(`3DES with a key length (${keyBits}) attribute`)
    encryption = '3des'
  } else {
    return refused(`cipher ${phase1EncryptionWords(encryptionId, keyBits)} is not supported`)
  }
  const hash = PHASE1_HASHES.get(hashId!)
  if (!hash) return refused(`hash ${phase1HashWords(hashId)} is not supported`)
  if (!SUPPORTED_DH_GROUPS.includes(group)) return refused(`${groupWords(group)} is not supported`)
  if (!authMethods.includes(auth!)) return refused(`auth method ${authWords(auth)} is not enabled`)
  if (!policy.phase1.encryption.includes(encryption)) return notInPreset(`${encryption} not in preset`)
  if (!policy.phase1.hash.includes(hash)) return notInPreset(`${hash} not in preset`)
  if (!policy.phase1.groups.includes(group)) return notInPreset(`group ${group} not in preset`)

  const max = policy.phase1.maxLifetimeSeconds
  const choice: Phase1Choice = {
    proposalNumber: proposal.number,
    transformNumber: t.number,
    encryption,
    cipher: encryption === '3des' ? 'des3' : 'aes',
    keyLength: encryption === '3des' ? 24 : Number(encryption.slice(3)) / 8,
    hash,
    group,
    authMethod: auth!,
    lifetimeSeconds: c.seconds === undefined ? max : Math.min(c.seconds, max),
    transform: t,
  }
  if (c.kilobytes !== undefined) choice.lifetimeKilobytes = c.kilobytes
  return choice
}

/**
 * The first transform of the client's Phase 1 SA that `policy` accepts
 * with one of `authMethods` (RFC 2409 5: one proposal, KEY_IKE transforms,
 * first acceptable in the client's order).
 */
export function matchPhase1(sa: SaPayload, policy: ProposalPolicy, authMethods: readonly number[]): Phase1Match {
  // Only a failure is described, for the operator: a match costs no words.
  const offeredTransforms = () => sa.proposals.flatMap((p) => p.transforms)
  const bad = checkDoi(sa)
  if (bad) return { ...bad, offered: offeredTransforms().map(describePhase1Transform) }
  const r = selectPhase1(sa, policy, authMethods)
  if ('choice' in r) return { ok: true, choice: r.choice }
  const offered = offeredTransforms()
  const hint = presetHint(policy.preset, (other) => {
    const o = selectPhase1(sa, other, authMethods)
    return 'choice' in o ? phase1Short(o.choice.transform) : undefined
  })
  return failure(r.problems, offered.map(phase1Short), offered.map(describePhase1Transform), policy.preset, hint)
}

// --- Phase 2 ------------------------------------------------------------------------

type Phase2Result = { choice: Phase2Choice } | Skipped
/** `tunnelOnly`: a site-to-site peer, whose SAs carry routed subnets and never L2TP. */
type Phase2Options = { allowTunnel: boolean; natT: boolean; tunnelOnly?: boolean }

/**
 * Proposals sharing a number are one offer, all of them together (RFC
 * 2408 4.2: "a logical AND"); different numbers are alternatives in the
 * client's order.
 */
function bundles(proposals: readonly Proposal[]): Proposal[][] {
  const out: Proposal[][] = []
  for (const p of proposals) {
    const last = out[out.length - 1]
    if (last && last[0]!.number === p.number) last.push(p)
    else out.push([p])
  }
  return out
}

function selectPhase2(sa: SaPayload, policy: ProposalPolicy, options: Phase2Options): Phase2Result {
  const problems: Problem[] = []
  if (sa.proposals.length === 0) problems.push(invalid('the SA payload holds no proposal', NotifyType.BAD_PROPOSAL_SYNTAX))
  for (const bundle of bundles(sa.proposals)) {
    const proposal = bundle[0]!
    if (bundle.length > 1) {
      // ESP+IPComp or ESP+AH: our data plane does ESP alone.
      problems.push(refused(`proposal ${proposal.number} bundles ${bundle.map((p) => nameOf(ProtocolId, p.protocol)).join('+')}; only ESP alone is supported`))
      continue
    }
    if (proposal.protocol !== ProtocolId.IPSEC_ESP) {
      problems.push(refused(`proposal ${proposal.number} is ${nameOf(ProtocolId, proposal.protocol)}; only ESP is supported`))
      continue
    }
    if (proposal.spi.length !== 4) {
      problems.push(invalid(`proposal ${proposal.number} has a ${proposal.spi.length}-byte SPI, ESP needs 4`, NotifyType.BAD_PROPOSAL_SYNTAX))
      continue
    }
    if (proposal.spi.readUInt32BE(0) < 256) {
      // RFC 4303 2.1: SPIs 1-255 are reserved to IANA, 0 for local use.
      problems.push(invalid(`proposal ${proposal.number} has the reserved SPI ${proposal.spi.readUInt32BE(0)}`, NotifyType.INVALID_SPI))
      continue
    }
    if (proposal.transforms.length === 0) problems.push(invalid(`proposal ${proposal.number} holds no transform`, NotifyType.BAD_PROPOSAL_SYNTAX))
    for (const t of proposal.transforms) {
      const r = phase2Transform(proposal, t, policy, options)
      if (!isProblem(r)) return { choice: r }
      problems.push({ ...r, note: `proposal ${proposal.number} transform ${t.number}: ${r.note}` })
    }
  }
  return { problems }
}

const TUNNEL_MODES: readonly number[] = [EncapsulationMode.TUNNEL, EncapsulationMode.UDP_TUNNEL, EncapsulationMode.UDP_TUNNEL_DRAFT]
const UDP_MODES: readonly number[] = [
  EncapsulationMode.UDP_TUNNEL,
  EncapsulationMode.UDP_TRANSPORT,
  EncapsulationMode.UDP_TUNNEL_DRAFT,
  EncapsulationMode.UDP_TRANSPORT_DRAFT,
]
const KNOWN_MODES: readonly number[] = Object.values(EncapsulationMode)

/** KEYMAT bytes of each ESP cipher: AES-GCM adds the 4-byte salt (RFC 4106 8.1). */
const CIPHER_KEY_BYTES: Readonly<Record<EspCipher, number>> = {
  aes128: 16,
  aes192: 24,
  aes256: 32,
  '3des': 24,
  'aes128gcm-16': 20,
  'aes256gcm-16': 36,
}

/** Names of Phase 2 attribute types, for problems: merged once, not per transform looked at. */
const PHASE2_ATTRIBUTE_NAMES: Readonly<Record<string, number>> = { ...IpsecAttribute, ...IpsecAttributeExt }

/** One ESP transform: the choice, or why not. Malformed and unsupported first, then the preset. */
function phase2Transform(proposal: Proposal, t: Transform, policy: ProposalPolicy, options: Phase2Options): Phase2Choice | Problem {
  const c = collect(t.attributes, classifyPhase2, PHASE2_ATTRIBUTE_NAMES)
  if (isProblem(c)) return c
  const v = c.values
  const keyBits = v.get(IpsecAttribute.KEY_LENGTH)
  const authId = v.get(IpsecAttribute.AUTHENTICATION_ALGORITHM)

  let cipher: EspCipher
  switch (t.id) {
    case EspTransformId.ESP_AES:
      // RFC 3602 5.3: "the Key Length attribute MUST be specified in the
      // IKE Phase 2 exchange". libreswan refuses ESP AES without it (its
      // impair test child-key-length-attribute:omit fails); strongSwan
      // assumes 128. We follow the RFC and libreswan.
      if (keyBits === undefined) return invalid('ESP AES without a key length (RFC 3602 5.3)')
      {
        const aes = AES_BY_BITS.get(keyBits)
        if (!aes) return invalid(`AES key length ${keyBits} is not 128, 192 or 256`)
        cipher = aes
      }
      break
    case EspTransformId.ESP_3DES:
      if (keyBits !== undefined) return invalid(`3DES with a key length (${keyBits}) attribute`)
      cipher = '3des'
      break
    case EspTransformId.ESP_AES_GCM_16:
      // RFC 4106 8.4: Key Length MUST be given; our data plane has 128 and 256.
      if (keyBits === undefined) return invalid('ESP AES-GCM without a key length (RFC 4106 8.4)')
      if (keyBits !== 128 && keyBits !== 256) {
        return keyBits === 192 ? refused('AES-192-GCM is not supported by the data plane') : invalid(`AES-GCM key length ${keyBits} is not 128, 192 or 256`)
      }
      cipher = keyBits === 128 ? 'aes128gcm-16' : 'aes256gcm-16'
      break
    case EspTransformId.ESP_AES_GCM_8:
    case EspTransformId.ESP_AES_GCM_12:
      return refused(`${espCipherWords(t.id, keyBits)}: the data plane has AES-GCM with a 16-byte ICV only`)
    default:
      return refused(`ESP cipher ${espCipherWords(t.id, keyBits)} is not supported`)
  }

  const aead = cipher === 'aes128gcm-16' || cipher === 'aes256gcm-16'
  let integrity: EspIntegrity | undefined
  if (!aead) {
    // RFC 2407 4.5 lets ESP go without authentication; we never do (RFC 4303 3.2.2 on confidentiality-only ESP).
    if (authId === undefined) return refused(`${espCipherWords(t.id, keyBits)} without an authentication algorithm`)
    integrity = ESP_INTEGRITY.get(authId)
    if (!integrity) return refused(`ESP authentication ${espIntegrityWords(authId)} is not supported`)
  }
  // For AES-GCM, AUTHENTICATION_ALGORITHM is meaningless (RFC 4106 8.4
  // ties integrity to the cipher); if a client sends one it is ignored.

  const esn = v.get(IpsecAttributeExt.EXTENDED_SEQUENCE_NUMBER)
  if (esn !== undefined && esn !== 0) return invalid('extended sequence numbers (RFC 4304) are not supported by the data plane')

  // RFC 2407 4.5: an absent Encapsulation Mode is "host-dependent";
  // strongSwan (proposal_substructure.c get_encap_mode) takes tunnel, so do we.
  const encapsulation = v.get(IpsecAttribute.ENCAPSULATION_MODE) ?? EncapsulationMode.TUNNEL
  if (!KNOWN_MODES.includes(encapsulation)) return invalid(`encapsulation mode ${encapsulation} is unknown`)
  const mode = TUNNEL_MODES.includes(encapsulation) ? 'tunnel' : 'transport'
  if (mode === 'tunnel' && !options.allowTunnel) return refused(`${encapsulationWords(encapsulation)} mode is not enabled (L2TP uses transport mode)`)
  if (mode === 'transport' && options.tunnelOnly) return refused(`${encapsulationWords(encapsulation)} mode: a site-to-site peer negotiates tunnel mode only`)

  const pfsGroup = v.get(IpsecAttribute.GROUP_DESCRIPTION)
  if (pfsGroup !== undefined && !SUPPORTED_DH_GROUPS.includes(pfsGroup)) return refused(`PFS ${groupWords(pfsGroup)} is not supported`)
  if (pfsGroup === undefined && policy.phase2.requirePfs) return refused('no PFS, and the policy requires it')

  if (!policy.phase2.ciphers.includes(cipher)) return notInPreset(`${cipher} not in preset`)
  if (integrity && !policy.phase2.integrity.includes(integrity)) return notInPreset(`${integrity} not in preset`)
  if (pfsGroup !== undefined && !policy.phase2.pfsGroups.includes(pfsGroup)) return notInPreset(`PFS group ${pfsGroup} not in preset`)

  const choice: Phase2Choice = {
    proposalNumber: proposal.number,
    transformNumber: t.number,
    espSuite: integrity ? `${cipher}-${integrity}` : cipher,
    encryptionKeyLength: CIPHER_KEY_BYTES[cipher],
    integrityKeyLength: integrity ? INTEGRITY_KEY_BYTES[integrity] : 0,
    encapsulation,
    mode,
    // With NAT detected ESP must go in UDP whatever the client wrote (some
    // clients say plain TRANSPORT behind NAT); a client that asks for a UDP
    // mode will send UDP-encapsulated ESP, so we must take it that way too.
    udpEncapsulated: options.natT || UDP_MODES.includes(encapsulation),
    peerSpi: proposal.spi,
    lifetimeSeconds: 0,
    proposal,
    transform: t,
  }
  if (pfsGroup !== undefined) choice.pfsGroup = pfsGroup

  // Lifetimes: keep the client's; above our maximum, keep ours and say so
  // (RFC 2407 4.5.4 RESPONDER-LIFETIME). No seconds given means 28800.
  const responder: { seconds?: number; kilobytes?: number } = {}
  const seconds = c.seconds ?? PHASE2_DEFAULT_LIFETIME_SECONDS
  const maxSeconds = policy.phase2.maxLifetimeSeconds
  choice.lifetimeSeconds = Math.min(seconds, maxSeconds)
  if (seconds > maxSeconds) responder.seconds = maxSeconds
  const maxKb = policy.phase2.maxLifetimeKilobytes
  if (maxKb > 0 && (c.kilobytes === undefined || c.kilobytes > maxKb)) {
    choice.lifetimeKilobytes = maxKb
    responder.kilobytes = maxKb
  } else if (c.kilobytes !== undefined) {
    choice.lifetimeKilobytes = c.kilobytes
  }
  if (responder.seconds !== undefined || responder.kilobytes !== undefined) choice.responderLifetime = responder
  return choice
}

/**
 * The first ESP transform of the client's Quick Mode SA that `policy`
 * accepts (RFC 2409 5.5, RFC 2407 4.5, RFC 3947 5.1 for the UDP modes).
 * The espSuite for HMAC-SHA2-256 is 'sha256' (128-bit ICV, RFC 4868);
 * Android 6/7 truncate to 96 bits, which the proposal cannot show: a
 * caller that knows the peer may switch to 'sha256_96'.
 */
export function matchPhase2(sa: SaPayload, policy: ProposalPolicy, options: Phase2Options): Phase2Match {
  const bad = checkDoi(sa)
  const r = bad ? undefined : selectPhase2(sa, policy, options)
  if (r && 'choice' in r) return { ok: true, choice: r.choice }
  // Only a failure is described, for the operator: a match costs no words.
  const pairs = sa.proposals.flatMap((p) => p.transforms.map((t) => [p, t] as const))
  const offered = pairs.map(([p, t]) => describePhase2Transform(p, t))
  if (bad || !r) return { ...bad!, offered }
  const hint = presetHint(policy.preset, (other) => {
    const o = selectPhase2(sa, other, options)
    return 'choice' in o ? phase2Short(o.choice.proposal, o.choice.transform) : undefined
  })
  return failure(r.problems, pairs.map(([p, t]) => phase2Short(p, t)), offered, policy.preset, hint)
}

// --- replies ------------------------------------------------------------------------

/**
 * The responder's Main Mode SA: the chosen proposal with only the chosen
 * transform, numbers and attributes as received (RFC 2409 5: the
 * responder "MUST NOT modify the attributes of any proposal").
 */
export function phase1Reply(sa: SaPayload, choice: Phase1Choice): SaPayloadInput {
  const proposal =
    sa.proposals.find((p) => p.transforms.includes(choice.transform)) ?? sa.proposals.find((p) => p.number === choice.proposalNumber)
  if (!proposal) throw new RangeError(`phase1Reply: proposal ${choice.proposalNumber} is not in this SA payload`)
  return {
    doi: sa.doi,
    situation: sa.situation,
    situationData: sa.situationData,
    proposals: [{ number: proposal.number, protocol: proposal.protocol, spi: proposal.spi, transforms: [choice.transform] }],
  }
}

/**
 * The responder's Quick Mode SA: the chosen proposal with only the chosen
 * transform, as received, carrying our inbound SPI (RFC 2408 3.5: each
 * side's SPI is the one it receives on).
 */
export function phase2Reply(sa: SaPayload, choice: Phase2Choice, ourSpi: Buffer): SaPayloadInput {
  if (ourSpi.length !== 4) throw new RangeError(`phase2Reply: an ESP SPI is 4 bytes, got ${ourSpi.length}`)
  return {
    doi: sa.doi,
    situation: sa.situation,
    situationData: sa.situationData,
    proposals: [{ number: choice.proposal.number, protocol: choice.proposal.protocol, spi: ourSpi, transforms: [choice.transform] }],
  }
}

// --- our own offers -----------------------------------------------------------------

const PHASE1_ENCRYPTION_IDS: Readonly<Record<Phase1Encryption, { id: number; bits?: number }>> = {
  aes128: { id: EncryptionAlgorithm.AES, bits: 128 },
  aes192: { id: EncryptionAlgorithm.AES, bits: 192 },
  aes256: { id: EncryptionAlgorithm.AES, bits: 256 },
  '3des': { id: EncryptionAlgorithm['3DES'] },
}

const PHASE1_HASH_IDS: Readonly<Record<HashName, number>> = {
  md5: HashAlgorithm.MD5,
  sha1: HashAlgorithm.SHA,
  sha256: HashAlgorithm.SHA2_256,
  sha384: HashAlgorithm.SHA2_384,
  sha512: HashAlgorithm.SHA2_512,
}

const ESP_INTEGRITY_IDS: Readonly<Record<EspIntegrity, number>> = {
  md5: IpsecAuthAlgorithm.HMAC_MD5,
  sha1: IpsecAuthAlgorithm.HMAC_SHA,
  sha256: IpsecAuthAlgorithm.HMAC_SHA2_256,
  sha384: IpsecAuthAlgorithm.HMAC_SHA2_384,
  sha512: IpsecAuthAlgorithm.HMAC_SHA2_512,
}

interface Combo {
  e: number
  h: number
  g: number
}

/**
 * Which (encryption, hash, group) index triples to offer. All of them in
 * nested policy order when they fit; otherwise a "diagonal" first, so that
 * every encryption, hash and group of the policy appears at least once
 * (the last one pairs the weakest of each, which is what old peers need),
 * then the rest by how far down the lists they reach, strongest first.
 */
function phase1Combos(ne: number, nh: number, ng: number, cap: number): Combo[] {
  const all: Combo[] = []
  for (let e = 0; e < ne; e++) for (let h = 0; h < nh; h++) for (let g = 0; g < ng; g++) all.push({ e, h, g })
  if (all.length <= cap) return all
  const rank = (c: Combo): number => c.e + c.h + c.g
  const key = (c: Combo): number => (c.e * nh + c.h) * ng + c.g
  const chosen = new Map<number, Combo>()
  const n = Math.max(ne, nh, ng)
  for (let i = 0; i < n && chosen.size < cap; i++) {
    const c = { e: Math.min(i, ne - 1), h: Math.min(i, nh - 1), g: Math.min(i, ng - 1) }
    chosen.set(key(c), c)
  }
  const byRank = [...all].sort((a, b) => rank(a) - rank(b) || key(a) - key(b))
  for (const c of byRank) {
    if (chosen.size >= cap) break
    chosen.set(key(c), c)
  }
  return [...chosen.values()].sort((a, b) => rank(a) - rank(b) || key(a) - key(b))
}

/** A life type/duration pair, or nothing when `value` is not positive. */
function lifeAttributes(typeAttr: number, durationAttr: number, lifeType: number, value: number): Attribute[] {
  return value > 0 ? [{ type: typeAttr, value: lifeType }, { type: durationAttr, value }] : []
}

/**
 * The Main Mode SA our initiator offers: one ISAKMP proposal with one
 * KEY_IKE transform per (encryption × hash × group) of the policy, groups
 * limited to SUPPORTED_DH_GROUPS, at most 24 (see phase1Combos). Attribute
 * order as strongSwan writes it (encryption, key length, hash, group,
 * auth method, life type, life duration).
 */
export function phase1Offer(policy: ProposalPolicy, authMethod: number, lifetimeSeconds: number): SaPayloadInput {
  const enc = policy.phase1.encryption
  const hashes = policy.phase1.hash
  const groups = policy.phase1.groups.filter((g) => SUPPORTED_DH_GROUPS.includes(g))
  const transforms: Transform[] = phase1Combos(enc.length, hashes.length, groups.length, MAX_OFFERED_TRANSFORMS).map((c, i) => {
    const e = PHASE1_ENCRYPTION_IDS[enc[c.e]!]
    const attributes: Attribute[] = [{ type: IkeAttribute.ENCRYPTION_ALGORITHM, value: e.id }]
    if (e.bits !== undefined) attributes.push({ type: IkeAttribute.KEY_LENGTH, value: e.bits })
    attributes.push(
      { type: IkeAttribute.HASH_ALGORITHM, value: PHASE1_HASH_IDS[hashes[c.h]!] },
      { type: IkeAttribute.GROUP_DESCRIPTION, value: groups[c.g]! },
      { type: IkeAttribute.AUTHENTICATION_METHOD, value: authMethod },
      ...lifeAttributes(IkeAttribute.LIFE_TYPE, IkeAttribute.LIFE_DURATION, LifeType.SECONDS, lifetimeSeconds),
    )
    return { number: i + 1, id: IsakmpTransformId.KEY_IKE, attributes }
  })
  return {
    doi: Doi.IPSEC,
    situation: Situation.IDENTITY_ONLY,
    situationData: Buffer.alloc(0),
    proposals: [{ number: 1, protocol: ProtocolId.ISAKMP, spi: Buffer.alloc(0), transforms }],
  }
}

/**
 * The Quick Mode SA our initiator offers, as strongSwan and racoon send
 * it: one ESP proposal carrying `spi` (our inbound SPI) with one transform
 * per cipher (× integrity unless AEAD) in policy order, each with the same
 * encapsulation, PFS group and lifetime (RFC 2409 5.5: one KE payload, so
 * one group for every offer). At most 22 transforms with the policy types.
 */
export function phase2Offer(
  policy: ProposalPolicy,
  spi: Buffer,
  options: { encapsulation: number; pfsGroup?: number; lifetimeSeconds: number },
): SaPayloadInput {
  if (spi.length !== 4) throw new RangeError(`phase2Offer: an ESP SPI is 4 bytes, got ${spi.length}`)
  const tail = (): Attribute[] => [
    ...(options.pfsGroup === undefined ? [] : [{ type: IpsecAttribute.GROUP_DESCRIPTION, value: options.pfsGroup }]),
    { type: IpsecAttribute.ENCAPSULATION_MODE, value: options.encapsulation },
    ...lifeAttributes(IpsecAttribute.SA_LIFE_TYPE, IpsecAttribute.SA_LIFE_DURATION, LifeType.SECONDS, options.lifetimeSeconds),
  ]
  const transforms: Transform[] = []
  for (const cipher of policy.phase2.ciphers) {
    if (cipher === 'aes128gcm-16' || cipher === 'aes256gcm-16') {
      transforms.push({
        number: 0,
        id: EspTransformId.ESP_AES_GCM_16,
        attributes: [{ type: IpsecAttribute.KEY_LENGTH, value: cipher === 'aes128gcm-16' ? 128 : 256 }, ...tail()],
      })
      continue
    }
    for (const integrity of policy.phase2.integrity) {
      const head: Attribute[] = cipher === '3des' ? [] : [{ type: IpsecAttribute.KEY_LENGTH, value: Number(cipher.slice(3)) }]
      transforms.push({
        number: 0,
        id: cipher === '3des' ? EspTransformId.ESP_3DES : EspTransformId.ESP_AES,
        attributes: [...head, { type: IpsecAttribute.AUTHENTICATION_ALGORITHM, value: ESP_INTEGRITY_IDS[integrity] }, ...tail()],
      })
    }
  }
  const numbered = transforms.slice(0, MAX_OFFERED_TRANSFORMS).map((t, i) => ({ ...t, number: i + 1 }))
  return {
    doi: Doi.IPSEC,
    situation: Situation.IDENTITY_ONLY,
    situationData: Buffer.alloc(0),
    proposals: [{ number: 1, protocol: ProtocolId.IPSEC_ESP, spi, transforms: numbered }],
  }
}
