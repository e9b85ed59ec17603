/**
 * Certificates for IKEv1 Main Mode with RSA signature authentication
 * (RFC 2409 section 5.1): loading our certificate and key, the PKCS#1
 * signature over HASH_I / HASH_R, the peer's chain checked up to our trust
 * anchors, ID payloads against certificates, and the CERT / CERTREQ
 * payloads (RFC 2408 sections 3.9 and 3.10, X.509 signature encoding 4).
 *
 * node:crypto does the RSA and signature arithmetic; the few certificate
 * fields node does not expose (the subject Name as DER, validity as dates,
 * subjectAltName entries as bytes, basicConstraints' path length, critical
 * extensions) come from a minimal DER walker below. Sans-IO: the time to
 * check validity against is a parameter.
 */
import { constants, createPrivateKey, KeyObject, privateEncrypt, publicDecrypt, X509Certificate } from 'node:crypto'
import { CertEncoding, IdType, PayloadType } from './constants.js'
import { equalConstantTime } from './crypto.js'

/**
 * Stable codes of `IkeCertError`:
 * - `IKE_CERT_LOAD`: a certificate, key or chain given to loadCredentials /
 *   loadTrustAnchors is unusable (the message says which and why).
 * - `IKE_CERT_SIGN`: signHash was given something it cannot sign with or
 *   over (not an RSA private key, a hash too long for the modulus).
 * - `IKE_CERT_DER`: a certificate's DER could not be walked (subjectDer).
 */
export type IkeCertErrorCode = 'IKE_CERT_LOAD' | 'IKE_CERT_SIGN' | 'IKE_CERT_DER'

/** An error of this module, with a stable `code`. */
export class IkeCertError extends Error {
  override readonly name = 'IkeCertError'
  readonly code: IkeCertErrorCode

  constructor(code: IkeCertErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** What we authenticate with: our certificate, the intermediates we send after it, our RSA private key. */
export interface Credentials {
  certificate: X509Certificate
  /** Intermediate CA certificates sent after ours, in the order given. */
  chain: X509Certificate[]
  key: KeyObject
}

/** A CERT payload as the codec encodes it (RFC 2408 3.9). */
export interface CertPayloadInput {
  type: typeof PayloadType.CERT
  encoding: typeof CertEncoding.X509_SIGNATURE
  data: Buffer
}

/** A CERTREQ payload as the codec encodes it (RFC 2408 3.10). */
export interface CertRequestPayloadInput {
  type: typeof PayloadType.CERTREQ
  encoding: typeof CertEncoding.X509_SIGNATURE
  data: Buffer
}

export type ChainResult = { ok: true; certificate: X509Certificate } | { ok: false; reason: string }

// --- loading ------------------------------------------------------------

/**
 * Our certificate, its RSA private key and the intermediates to send. Each
 * input is PEM. `cert` may hold a bundle (a "fullchain" file): its first
 * certificate is ours, the others are sent as the chain, before `chain`'s.
 * Throws IKE_CERT_LOAD naming what is wrong: no or unreadable PEM, an
 * encrypted or non-RSA key, a certificate whose key is not RSA, a key that
 * does not belong to the certificate. Validity dates are not checked here.
 */
export function loadCredentials(pem: { cert: string | Buffer; key: string | Buffer; chain?: string | Buffer }): Credentials {
  if (typeof pem !== 'object' || pem === null) throw new IkeCertError('IKE_CERT_LOAD', 'credentials must be an object with cert and key')
  const [certificate, ...bundled] = parsePemCertificates(pem.cert, 'cert')
  const chain = [...bundled, ...(pem.chain === undefined ? [] : parsePemCertificates(pem.chain, 'chain'))]
  const key = parsePrivateKey(pem.key)
  const certKeyType = certificate!.publicKey.asymmetricKeyType
  if (certKeyType !== 'rsa') {
    throw new IkeCertError('IKE_CERT_LOAD', `cert: the certificate (${describe(certificate!)}) has a ${certKeyType ?? 'unknown'} public key; RSA signature authentication needs RSA`)
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new IkeCertError('IKE_CERT_LOAD', `key: a ${key.asymmetricKeyType ?? 'unknown'} private key; RSA signature authentication needs an RSA key`)
  }
  if (!certificate!.checkPrivateKey(key)) {
    throw new IkeCertError('IKE_CERT_LOAD', `key: the private key does not match the certificate (${describe(certificate!)})`)
  }
  return { certificate: certificate!, chain, key }
}

/**
 * Trust anchors: one or more PEM CA certificates (self-signed roots or
 * intermediates to trust directly). Throws IKE_CERT_LOAD when there is no
 * certificate, one does not parse, or one is not a CA (basicConstraints
 * CA:TRUE), since it could never issue a certificate verifyChain accepts.
 */
export function loadTrustAnchors(pem: string | Buffer): X509Certificate[] {
  const anchors = parsePemCertificates(pem, 'trust anchors')
  anchors.forEach((a, i) => {
    if (!a.ca) throw new IkeCertError('IKE_CERT_LOAD', `trust anchors: certificate ${i + 1} (${describe(a)}) is not a CA (no basicConstraints CA:TRUE)`)
  })
  return anchors
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

function parsePemCertificates(input: unknown, what: string): X509Certificate[] {
  const text = pemText(input, what)
  const blocks = text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) throw new IkeCertError('IKE_CERT_LOAD', `${what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found`)
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block)
    } catch (cause) {
      throw new IkeCertError('IKE_CERT_LOAD', `${what}: certificate ${i + 1} does not parse: ${messageOf(cause)}`, { cause })
    }
  })
}

function parsePrivateKey(input: unknown): KeyObject {
  const text = pemText(input, 'key')
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new IkeCertError('IKE_CERT_LOAD', 'key: no PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----) found')
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4, *ENCRYPTED/.test(text)) {
    throw new IkeCertError('IKE_CERT_LOAD', 'key: the private key is encrypted; an unencrypted key is needed')
  }
  try {
    return createPrivateKey({ key: text, format: 'pem' })
  } catch (cause) {
    const code = (cause as { code?: unknown } | null)?.code
    if (code === 'ERR_MISSING_PASSPHRASE') throw new IkeCertError('IKE_CERT_LOAD', 'key: the private key is encrypted; an unencrypted key is needed', { cause })
    throw new IkeCertError('IKE_CERT_LOAD', `key: the private key does not parse: ${messageOf(cause)}`, { cause })
  }
}

function pemText(input: unknown, what: string): string {
  if (typeof input === 'string') return input
  if (Buffer.isBuffer(input)) return input.toString('latin1')
  throw new IkeCertError('IKE_CERT_LOAD', `${what}: expected PEM text as a string or Buffer`)
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

// --- signatures ---------------------------------------------------------

/**
 * SIG_I / SIG_R of RFC 2409 5.1: the raw hash bytes (HASH_I or HASH_R, as
 * long as the negotiated PRF's output) padded with PKCS#1 v1.5 block type 1
 * and put through the RSA private key. No DigestInfo: this is what
 * strongSwan calls SIGN_RSA_EMSA_PKCS1_NULL, what `openssl pkeyutl -sign`
 * does without a digest. Deterministic. Throws IKE_CERT_SIGN for a key that
 * is not an RSA private key or a hash longer than the modulus allows.
 */
export function signHash(key: KeyObject, hash: Buffer): Buffer {
  if (!(key instanceof KeyObject) || key.type !== 'private' || key.asymmetricKeyType !== 'rsa') {
    throw new IkeCertError('IKE_CERT_SIGN', 'signing needs an RSA private key')
  }
  if (!Buffer.isBuffer(hash) || hash.length === 0) throw new IkeCertError('IKE_CERT_SIGN', 'the hash to sign must be a non-empty Buffer')
  const size = modulusBytes(key)
  if (hash.length > size - 11) throw new IkeCertError('IKE_CERT_SIGN', `a ${hash.length}-byte hash does not fit PKCS#1 padding under a ${size * 8}-bit key`)
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, hash)
}

/**
 * Whether `signature` is signHash(certificate's key, hash): the signature
 * must be exactly as long as the modulus, its PKCS#1 type 1 padding intact
 * and what it carries equal to `hash` (compared in constant time). A
 * DigestInfo-wrapped signature (crypto.sign) does not verify. False, never
 * an exception, on any mismatch or bad input.
 */
export function verifyHashSignature(certificate: X509Certificate, hash: Buffer, signature: Buffer): boolean {
  try {
    if (!Buffer.isBuffer(hash) || !Buffer.isBuffer(signature) || hash.length === 0) return false
    const key = certificate.publicKey
    if (key.asymmetricKeyType !== 'rsa') return false
    if (signature.length !== modulusBytes(key)) return false
    const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature)
    return equalConstantTime(recovered, hash)
  } catch {
    return false
  }
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength
  if (bits === undefined) throw new IkeCertError('IKE_CERT_SIGN', 'RSA key without a modulus length')
  return Math.ceil(bits / 8)
}

// --- chain verification -------------------------------------------------

/** The most certificates a path may have, end-entity and anchor included. */
const MAX_PATH = 8

/**
 * The peer's chain (DER from its CERT payloads, end-entity first or in any
 * order) checked up to one of `anchors`. The end-entity certificate is the
 * first one that issued none of the others. From it, each issuer is looked
 * for among the anchors first, then the other certificates sent, by name,
 * and must have signed the certificate below it. Every certificate of the
 * path, anchor included, must be valid at `now` (notBefore <= now <=
 * notAfter); every issuer must be a CA (basicConstraints CA:TRUE), allowed
 * to sign certificates when it has a keyUsage, and within its path length
 * constraint; no certificate below the anchor may carry a critical
 * extension this module does not understand (nameConstraints and
 * policyConstraints among them: they are refused rather than ignored).
 * Returns the end-entity certificate, or why the chain was refused.
 */
export function verifyChain(certs: readonly Buffer[], anchors: readonly X509Certificate[], now: Date): ChainResult {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) return fail('no valid time to check the certificates against')
  if (!Array.isArray(certs) || certs.length === 0) return fail('the peer sent no certificate')
  if (anchors.length === 0) return fail('no trust anchors configured')
  if (certs.length >= MAX_PATH) return fail(`the peer sent ${certs.length} certificates, more than ${MAX_PATH - 1}`)

  const pool: Parsed[] = []
  for (const [i, der] of certs.entries()) {
    const parsed = parseDer(der)
    if (parsed === undefined) return fail(`certificate ${i + 1} of the peer is not a DER X.509 certificate`)
    pool.push(parsed)
  }
  const anchorList: Parsed[] = []
  for (const a of anchors) {
    try {
      anchorList.push({ cert: a, info: certInfo(a) })
    } catch {
      return fail(`trust anchor ${describe(a)} could not be read`)
    }
  }

  const endEntity = pool.find((p) => !pool.some((o) => o !== p && !isSelfIssued(o.cert) && namedIssuer(o.cert, p.cert) && signedBy(o.cert, p.cert)))
  if (endEntity === undefined) return fail('no end-entity certificate among those sent (they issue each other in a loop)')

  let current = endEntity
  const used = new Set<Parsed>([current])
  let intermediates = 0
  for (let depth = 1; ; depth++) {
    const problem = certificateProblem(current, now)
    if (problem !== undefined) return fail(problem)

    const candidates = [...anchorList.map((c) => ({ c, anchor: true })), ...pool.filter((c) => !used.has(c)).map((c) => ({ c, anchor: false }))]
      .filter(({ c }) => namedIssuer(current.cert, c.cert))
    const found = candidates.find(({ c }) => signedBy(current.cert, c.cert))
    if (found === undefined) {
      if (candidates.length > 0) {
        return fail(`the signature of ${describe(current.cert)} does not verify with the key of ${candidates.map(({ c }) => describe(c.cert)).join(' or ')}`)
      }
      if (isSelfIssued(current.cert)) return fail(`${describe(current.cert)} is self-signed and not a trust anchor`)
      return fail(`no trust anchor or certificate sent issued ${describe(current.cert)} (issuer ${oneLine(current.cert.issuer)})`)
    }
    const issuer = found.c
    if (!issuer.info.ca) return fail(`${describe(issuer.cert)}, issuer of ${describe(current.cert)}, is not a CA (no basicConstraints CA:TRUE)`)
    if (issuer.info.keyCertSign === false) return fail(`${describe(issuer.cert)} has a keyUsage without keyCertSign and cannot issue certificates`)
    if (depth > 1 && !isSelfIssued(current.cert)) intermediates++
    if (issuer.info.pathLength !== undefined && intermediates > issuer.info.pathLength) {
      return fail(`${describe(issuer.cert)} allows ${issuer.info.pathLength} intermediate CA certificate(s) below it (path length constraint), the chain has ${intermediates}`)
    }
    if (found.anchor) {
      const validity = validityProblem(issuer, now)
      return validity === undefined ? { ok: true, certificate: endEntity.cert } : fail(validity)
    }
    if (depth + 1 >= MAX_PATH) return fail(`no trust anchor within ${MAX_PATH} certificates`)
    used.add(issuer)
    current = issuer
  }
}

interface Parsed {
  cert: X509Certificate
  info: CertInfo
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason }
}

function parseDer(der: unknown): Parsed | undefined {
  if (!Buffer.isBuffer(der) || der.length < 2 || der[0] !== 0x30) return undefined
  try {
    if (readTlv(der, 0, der.length).end !== der.length) return undefined
    const cert = new X509Certificate(der)
    return { cert, info: certInfo(cert) }
  } catch {
    return undefined
  }
}

/** Whether `issuer`'s subject is `cert`'s issuer: the same DER, or the same Name as OpenSSL prints it. */
function namedIssuer(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.issuer === issuer.subject || certInfo(cert).issuer.equals(certInfo(issuer).subject)
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey)
  } catch {
    return false
  }
}

function isSelfIssued(cert: X509Certificate): boolean {
  return namedIssuer(cert, cert)
}

/** Why a certificate below the anchor is unacceptable by itself, if it is. */
function certificateProblem(p: Parsed, now: Date): string | undefined {
  const validity = validityProblem(p, now)
  if (validity !== undefined) return validity
  const unknown = p.info.criticalExtensions.filter((oid) => !UNDERSTOOD_EXTENSIONS.has(oid))
  if (unknown.length > 0) {
    return `${describe(p.cert)} has critical extension(s) not supported here: ${unknown.map((oid) => EXTENSION_NAMES[oid] ?? oid).join(', ')}`
  }
  return undefined
}

function validityProblem(p: Parsed, now: Date): string | undefined {
  const t = now.getTime()
  if (t < p.info.notBefore.getTime()) return `${describe(p.cert)} is not valid before ${p.info.notBefore.toISOString()} (now ${now.toISOString()})`
  if (t > p.info.notAfter.getTime()) return `${describe(p.cert)} expired at ${p.info.notAfter.toISOString()} (now ${now.toISOString()})`
  return undefined
}

/** A certificate's subject on one line, for logs and reasons. */
function describe(cert: X509Certificate): string {
  return `"${oneLine(cert.subject)}"`
}

function oneLine(name: string): string {
  return name.split('\n').join(', ')
}

// --- identities ---------------------------------------------------------

/**
 * Whether an ID payload names `certificate`: IPV4_ADDR / IPV6_ADDR against
 * the subjectAltName iPAddress entries (the bytes), FQDN against dNSName
 * entries and USER_FQDN against rfc822Name entries (ASCII case-insensitive,
 * exact otherwise: no wildcards, no fallback to the subject CN), and
 * DER_ASN1_DN against the subject Name as RFC 5280 7.1 compares names (see
 * namesMatch). Any other ID type (subnets, ranges, KEY_ID, DER_ASN1_GN)
 * never matches.
 */
export function idMatchesCertificate(id: { idType: number; data: Buffer }, certificate: X509Certificate): boolean {
  try {
    if (!Buffer.isBuffer(id.data) || id.data.length === 0) return false
    const info = certInfo(certificate)
    switch (id.idType) {
      case IdType.IPV4_ADDR:
      case IdType.IPV6_ADDR: {
        if (id.data.length !== (id.idType === IdType.IPV4_ADDR ? 4 : 16)) return false
        return info.altNames.some((n) => n.tag === GN_IP && n.value.equals(id.data))
      }
      case IdType.FQDN:
        return info.altNames.some((n) => n.tag === GN_DNS && asciiEqualIgnoringCase(n.value, id.data))
      case IdType.USER_FQDN:
        return info.altNames.some((n) => n.tag === GN_EMAIL && asciiEqualIgnoringCase(n.value, id.data))
      case IdType.DER_ASN1_DN:
        return namesMatch(info.subject, id.data)
      default:
        return false
    }
  } catch {
    return false
  }
}

/**
 * Two DER Names naming the same entity, as RFC 5280 7.1 compares them: the
 * same RDNs in the same order, each with the same attributes (in any order
 * within the RDN), values encoded as PrintableString or UTF8String compared
 * after the LDAP string preparation (RFC 4518: Unicode NFKC, case folded,
 * insignificant spaces removed), any other value type byte for byte.
 *
 * Byte equality is not enough: a client configured with its DN as text
 * (strongSwan's `leftid="O=…, CN=…"`) re-encodes it, PrintableString where
 * the certificate has UTF8String (OpenSSL's default), and sends those bytes
 * as its ID.
 */
export function namesMatch(a: Buffer, b: Buffer): boolean {
  if (a.equals(b)) return true
  try {
    const x = parseName(a)
    const y = parseName(b)
    if (x.length !== y.length) return false
    return x.every((rdn, i) => {
      const other = [...y[i]!]
      if (rdn.length !== other.length) return false
      return rdn.every((ava) => {
        const j = other.findIndex((o) => o.oid.equals(ava.oid) && valuesMatch(ava, o))
        if (j === -1) return false
        other.splice(j, 1)
        return true
      })
    })
  } catch {
    return false
  }
}

interface Ava {
  oid: Buffer
  tag: number
  value: Buffer
}

const TAG_UTF8_STRING = 0x0c
const TAG_PRINTABLE_STRING = 0x13
const TAG_SET = 0x31

/** Name ::= SEQUENCE OF RelativeDistinguishedName; RDN ::= SET OF SEQUENCE { type OID, value ANY }. */
function parseName(der: Buffer): Ava[][] {
  const name = expectTag(readTlv(der, 0, der.length), TAG_SEQUENCE, 'Name')
  if (name.end !== der.length) throw derError('Name: trailing bytes')
  return childrenOf(der, name).map((rdn) =>
    childrenOf(der, expectTag(rdn, TAG_SET, 'RelativeDistinguishedName')).map((atv) => {
      const [type, value, extra] = childrenOf(der, expectTag(atv, TAG_SEQUENCE, 'AttributeTypeAndValue'))
      const oid = expectTag(type, TAG_OID, 'AttributeType')
      if (value === undefined || extra !== undefined) throw derError('AttributeTypeAndValue: expected a type and one value')
      return { oid: der.subarray(oid.contents, oid.end), tag: value.tag, value: der.subarray(value.contents, value.end) }
    }),
  )
}

function valuesMatch(a: Ava, b: Ava): boolean {
  const text = (v: Ava) => (v.tag === TAG_UTF8_STRING ? v.value.toString('utf8') : v.value.toString('latin1'))
  const isString = (v: Ava) => v.tag === TAG_UTF8_STRING || v.tag === TAG_PRINTABLE_STRING
  if (isString(a) && isString(b)) return prepareString(text(a)) === prepareString(text(b))
  return a.tag === b.tag && a.value.equals(b.value)
}

/** RFC 4518 for matching, without its prohibited-character checks: NFKC, case fold, one space between words, none at the ends. */
function prepareString(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()
}

function asciiEqualIgnoringCase(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x === y) continue
    const lx = x >= 0x41 && x <= 0x5a ? x + 0x20 : x
    const ly = y >= 0x41 && y <= 0x5a ? y + 0x20 : y
    if (lx !== ly) return false
  }
  return true
}

/**
 * The DER of `certificate`'s subject Name (tbsCertificate.subject): the
 * data of our ID payload for DER_ASN1_DN, and what a CERTREQ names a CA by.
 * Throws IKE_CERT_DER if the certificate's DER cannot be walked.
 */
export function subjectDer(certificate: X509Certificate): Buffer {
  return Buffer.from(certInfo(certificate).subject)
}

// --- payloads -----------------------------------------------------------

/** CERT payloads (X.509 signature, encoding 4): our certificate first, then the chain. */
export function certPayloads(credentials: Credentials): CertPayloadInput[] {
  return [credentials.certificate, ...credentials.chain].map((c) => ({
    type: PayloadType.CERT,
    encoding: CertEncoding.X509_SIGNATURE,
    data: Buffer.from(c.raw),
  }))
}

/** A CERTREQ payload (RFC 2408 3.10) naming `anchor` by its subject DN, as IKEv1 peers expect. */
export function certRequestPayload(anchor: X509Certificate): CertRequestPayloadInput {
  return { type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: subjectDer(anchor) }
}

// --- DER ----------------------------------------------------------------

/** One DER element: tag byte, where it starts, where its contents start and where it ends. */
interface Tlv {
  tag: number
  start: number
  contents: number
  end: number
}

const TAG_BOOLEAN = 0x01
const TAG_INTEGER = 0x02
const TAG_BIT_STRING = 0x03
const TAG_OCTET_STRING = 0x04
const TAG_OID = 0x06
const TAG_UTC_TIME = 0x17
const TAG_GENERALIZED_TIME = 0x18
const TAG_SEQUENCE = 0x30
const TAG_VERSION = 0xa0
const TAG_EXTENSIONS = 0xa3
/** GeneralName choices (RFC 5280 4.2.1.6), as context-specific primitive tags. */
const GN_EMAIL = 0x81
const GN_DNS = 0x82
const GN_IP = 0x87

function derError(message: string): IkeCertError {
  return new IkeCertError('IKE_CERT_DER', message)
}

/** The element at `at`, which must end by `limit`. Definite lengths and one-byte tags only, as DER certificates have. */
function readTlv(der: Buffer, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw derError(`DER element at ${at} is truncated`)
  const tag = der[at]!
  if ((tag & 0x1f) === 0x1f) throw derError(`DER element at ${at} has a multi-byte tag`)
  let length = der[at + 1]!
  let contents = at + 2
  if (length & 0x80) {
    const n = length & 0x7f
    if (n === 0 || n > 4) throw derError(`DER element at ${at} has an unsupported length form`)
    if (contents + n > limit) throw derError(`DER element at ${at} is truncated`)
    length = 0
    for (let i = 0; i < n; i++) length = length * 256 + der[contents + i]!
    contents += n
  }
  const end = contents + length
  if (end > limit) throw derError(`DER element at ${at} runs ${end - limit} bytes past its container`)
  return { tag, start: at, contents, end }
}

/** The elements inside a constructed element. */
function childrenOf(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let at = parent.contents; at < parent.end; ) {
    const t = readTlv(der, at, parent.end)
    out.push(t)
    at = t.end
  }
  return out
}

function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) throw derError(`${what}: expected tag 0x${tag.toString(16)}, got ${t === undefined ? 'nothing' : `0x${t.tag.toString(16)}`}`)
  return t
}

/** What this module reads from a certificate's DER. */
interface CertInfo {
  issuer: Buffer
  subject: Buffer
  notBefore: Date
  notAfter: Date
  /** basicConstraints cA (false when the extension is absent). */
  ca: boolean
  /** basicConstraints pathLenConstraint, if any. */
  pathLength: number | undefined
  /** keyUsage keyCertSign; undefined without a keyUsage extension. */
  keyCertSign: boolean | undefined
  altNames: { tag: number; value: Buffer }[]
  /** Dotted OIDs of the critical extensions. */
  criticalExtensions: string[]
}

const OID_KEY_USAGE = '2.5.29.15'
const OID_SUBJECT_ALT_NAME = '2.5.29.17'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'

/** Extensions a critical flag on which does not make us refuse the certificate. */
const UNDERSTOOD_EXTENSIONS = new Set([
  '2.5.29.14', // subjectKeyIdentifier
  OID_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  '2.5.29.18', // issuerAltName
  OID_BASIC_CONSTRAINTS,
  '2.5.29.32', // certificatePolicies (informational here)
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.37', // extKeyUsage
])

const EXTENSION_NAMES: Record<string, string> = {
  '2.5.29.30': 'nameConstraints',
  '2.5.29.33': 'policyMappings',
  '2.5.29.36': 'policyConstraints',
  '2.5.29.54': 'inhibitAnyPolicy',
}

const infoCache = new WeakMap<X509Certificate, CertInfo>()

function certInfo(certificate: X509Certificate): CertInfo {
  const cached = infoCache.get(certificate)
  if (cached !== undefined) return cached
  const info = parseCertificate(certificate.raw)
  infoCache.set(certificate, info)
  return info
}

/**
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
 * TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
 *   issuer, validity, subject, subjectPublicKeyInfo, [1] [2] unique IDs OPTIONAL,
 *   [3] extensions OPTIONAL }   (RFC 5280 4.1)
 */
function parseCertificate(der: Buffer): CertInfo {
  const cert = expectTag(readTlv(der, 0, der.length), TAG_SEQUENCE, 'Certificate')
  const tbs = expectTag(childrenOf(der, cert)[0], TAG_SEQUENCE, 'tbsCertificate')
  const fields = childrenOf(der, tbs)
  let i = fields[0]?.tag === TAG_VERSION ? 1 : 0
  expectTag(fields[i++], TAG_INTEGER, 'serialNumber')
  expectTag(fields[i++], TAG_SEQUENCE, 'signature')
  const issuer = expectTag(fields[i++], TAG_SEQUENCE, 'issuer')
  const validity = expectTag(fields[i++], TAG_SEQUENCE, 'validity')
  const subject = expectTag(fields[i++], TAG_SEQUENCE, 'subject')
  expectTag(fields[i++], TAG_SEQUENCE, 'subjectPublicKeyInfo')
  const [notBefore, notAfter] = childrenOf(der, validity)
  const info: CertInfo = {
    issuer: der.subarray(issuer.start, issuer.end),
    subject: der.subarray(subject.start, subject.end),
    notBefore: parseTime(der, notBefore, 'notBefore'),
    notAfter: parseTime(der, notAfter, 'notAfter'),
    ca: false,
    pathLength: undefined,
    keyCertSign: undefined,
    altNames: [],
    criticalExtensions: [],
  }
  const extensions = fields.slice(i).find((f) => f.tag === TAG_EXTENSIONS)
  if (extensions === undefined) return info
  const list = expectTag(childrenOf(der, extensions)[0], TAG_SEQUENCE, 'extensions')
  for (const ext of childrenOf(der, list)) {
    // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    const parts = childrenOf(der, expectTag(ext, TAG_SEQUENCE, 'extension'))
    const oid = decodeOid(der, expectTag(parts[0], TAG_OID, 'extnID'))
    const flag = parts[1]?.tag === TAG_BOOLEAN ? parts[1] : undefined
    const critical = flag !== undefined && der[flag.contents] !== 0
    const value = expectTag(parts[flag === undefined ? 1 : 2], TAG_OCTET_STRING, 'extnValue')
    if (critical) info.criticalExtensions.push(oid)
    const inner = readTlv(der, value.contents, value.end)
    if (oid === OID_BASIC_CONSTRAINTS) {
      // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
      for (const c of childrenOf(der, expectTag(inner, TAG_SEQUENCE, 'basicConstraints'))) {
        if (c.tag === TAG_BOOLEAN) info.ca = der[c.contents] !== 0
        else if (c.tag === TAG_INTEGER) info.pathLength = smallInteger(der, c)
      }
    } else if (oid === OID_KEY_USAGE) {
      // KeyUsage ::= BIT STRING; keyCertSign is bit 5: the first content byte
      // counts unused bits, bit 5 is 0x04 of the next.
      expectTag(inner, TAG_BIT_STRING, 'keyUsage')
      info.keyCertSign = inner.end - inner.contents >= 2 && (der[inner.contents + 1]! & 0x04) !== 0
    } else if (oid === OID_SUBJECT_ALT_NAME) {
      for (const n of childrenOf(der, expectTag(inner, TAG_SEQUENCE, 'subjectAltName'))) {
        info.altNames.push({ tag: n.tag, value: der.subarray(n.contents, n.end) })
      }
    }
  }
  return info
}

function decodeOid(der: Buffer, t: Tlv): string {
  const arcs: number[] = []
  let value = 0
  for (let at = t.contents; at < t.end; at++) {
    const b = der[at]!
    value = value * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80)
      else arcs.push(value)
      value = 0
    }
  }
  return arcs.join('.')
}

function smallInteger(der: Buffer, t: Tlv): number {
  const bytes = der.subarray(t.contents, t.end)
  if (bytes.length === 0 || bytes.length > 4 || (bytes[0]! & 0x80) !== 0) throw derError('pathLenConstraint is not a small non-negative integer')
  return bytes.readUIntBE(0, bytes.length)
}

/** UTCTime YYMMDDHHMMSSZ (years 50..99 are 19xx) or GeneralizedTime YYYYMMDDHHMMSS[.f]Z (RFC 5280 4.1.2.5). */
function parseTime(der: Buffer, t: Tlv | undefined, what: string): Date {
  if (t === undefined) throw derError(`${what} missing`)
  const s = der.toString('latin1', t.contents, t.end)
  const utc = t.tag === TAG_UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null
  const generalized = t.tag === TAG_GENERALIZED_TIME ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(s) : null
  const m = utc ?? generalized
  if (m === null) throw derError(`${what} is not a DER UTCTime or GeneralizedTime: ${JSON.stringify(s)}`)
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number]
  const year = utc === null ? y : y >= 50 ? 1900 + y : 2000 + y
  return new Date(Date.UTC(year, mo - 1, d, h, mi, se))
}
