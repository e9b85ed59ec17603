// Certificates for IKEv1 RSA signature authentication (lib/ike/certificates.ts)
// against a small PKI made with the openssl CLI at test time, in a temporary
// directory removed afterwards: a root, an intermediate, server and client
// certificates, and the bad cases (expired, another CA, an impostor CA with
// our intermediate's name, a non-CA issuer, a path length violation, an
// issuer without keyCertSign, an unknown critical extension). The PKCS#1
// signature over HASH_I / HASH_R is compared byte for byte with
// `openssl pkeyutl -sign` and `openssl rsautl -sign -pkcs`.
import test from 'ava'
import { execFile } from 'node:child_process'
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  certPayloads,
  certRequestPayload,
  idMatchesCertificate,
  IkeCertError,
  loadCredentials,
  loadTrustAnchors,
  signHash,
  subjectDer,
  verifyChain,
  verifyHashSignature,
  type Credentials,
} from '../lib/ike/certificates.js'
import { decodePayloadBody, decodePayloads, encodePayloadBody, encodePayloads, type CertPayload } from '../lib/ike/codec.js'
import { CertEncoding, IdType, PayloadType } from '../lib/ike/constants.js'
import { addressBytes } from '../lib/ike/identity.js'

const run = promisify(execFile)

/** Within every good certificate's validity (2020-01-01 .. 2045-01-01). */
const NOW = new Date('2030-06-01T12:00:00Z')

let dir = ''

async function openssl(args: string[]): Promise<Buffer> {
  try {
    const { stdout } = await run('openssl', args, { cwd: dir, encoding: 'buffer', maxBuffer: 1 << 20 })
    return stdout
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? ''
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr}`)
  }
}

const path = (name: string) => join(dir, name)
const read = (name: string) => readFile(path(name), 'utf8')

async function rsaKey(name: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`])
}

interface Issue {
  name: string
  subject: string
  key: string
  /** Issuer certificate and key names; absent for self-signed. */
  issuer?: string
  issuerKey?: string
  ext: string
  start?: string
  end?: string
}

/** `openssl ca` for explicit validity dates (openssl x509 -days cannot make an expired certificate). */
async function issue(o: Issue): Promise<void> {
  await writeFile(path(`${o.name}.ext`), `[v3]\n${o.ext}\n`)
  await openssl(['req', '-new', '-key', `${o.key}.key`, '-subj', o.subject, '-out', `${o.name}.csr`])
  const signer = o.issuer === undefined ? ['-selfsign', '-keyfile', `${o.key}.key`] : ['-cert', `${o.issuer}.pem`, '-keyfile', `${o.issuerKey ?? o.issuer}.key`]
  await openssl([
    'ca', '-batch', '-config', 'ca.cnf', '-notext', '-md', 'sha256', ...signer,
    '-startdate', o.start ?? '20200101000000Z', '-enddate', o.end ?? '20450101000000Z',
    '-extfile', `${o.name}.ext`, '-extensions', 'v3', '-in', `${o.name}.csr`, '-out', `${o.name}.pem`,
  ])
}

const CA_CONFIG = `[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
preserve = yes
email_in_dn = yes
[policy_any]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = optional
`

const CA_EXT = 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash'
const SUB_EXT = 'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid'

const ROOT_DN = '/C=XX/O=l2tp-ipsec test/CN=Test Root CA'
const INTER_DN = '/C=XX/O=l2tp-ipsec test/CN=Test Intermediate CA'

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ike-certs-'))
  await mkdir(path('issued'))
  await writeFile(path('ca.cnf'), CA_CONFIG)
  await writeFile(path('index.txt'), '')
  await writeFile(path('serial'), '1000\n')
  await Promise.all([
    ...['root', 'inter', 'server', 'client', 'other', 'nonca', 'sub'].map(rsaKey),
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ec.key']),
  ])
  // openssl ca appends to one database: issue one at a time.
  const steps: Issue[] = [
    // The root's notAfter is past 2049: a GeneralizedTime.
    { name: 'root', subject: ROOT_DN, key: 'root', ext: CA_EXT, end: '20600101000000Z' },
    { name: 'inter', subject: INTER_DN, key: 'inter', issuer: 'root', ext: `basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\n${SUB_EXT}` },
    {
      name: 'server', subject: '/C=XX/O=l2tp-ipsec test/OU=VPN/CN=vpn.example.test', key: 'server', issuer: 'inter',
      ext: `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth, 1.3.6.1.5.5.8.2.2\nsubjectAltName = IP:10.0.2.2, DNS:vpn.example.test, IP:fd00::1\n${SUB_EXT}`,
    },
    { name: 'client', subject: '/C=XX/O=l2tp-ipsec test/CN=alice', key: 'client', issuer: 'inter', ext: `extendedKeyUsage = clientAuth\nsubjectAltName = email:alice@example.test\n${SUB_EXT}` },
    { name: 'expired', subject: '/C=XX/O=l2tp-ipsec test/CN=expired.example.test', key: 'client', issuer: 'inter', ext: SUB_EXT, start: '20200101000000Z', end: '20210101000000Z' },
    { name: 'other', subject: '/C=XX/O=Other/CN=Other Root CA', key: 'other', ext: CA_EXT },
    { name: 'otherleaf', subject: '/C=XX/O=Other/CN=vpn.example.test', key: 'server', issuer: 'other', ext: `subjectAltName = DNS:vpn.example.test\n${SUB_EXT}` },
    // Self-signed with our intermediate's name, and a leaf under it.
    { name: 'impostor', subject: INTER_DN, key: 'other', ext: CA_EXT },
    { name: 'impostorleaf', subject: '/C=XX/O=l2tp-ipsec test/CN=mallory', key: 'client', issuer: 'impostor', issuerKey: 'other', ext: 'subjectAltName = DNS:vpn.example.test' },
    { name: 'nonca', subject: '/C=XX/O=l2tp-ipsec test/CN=Not a CA', key: 'nonca', issuer: 'root', ext: `basicConstraints = critical, CA:FALSE\n${SUB_EXT}` },
    { name: 'noncaleaf', subject: '/C=XX/O=l2tp-ipsec test/CN=under a non-CA', key: 'client', issuer: 'nonca', ext: SUB_EXT },
    { name: 'sub', subject: '/C=XX/O=l2tp-ipsec test/CN=Test Sub CA', key: 'sub', issuer: 'inter', ext: `${CA_EXT}\nauthorityKeyIdentifier = keyid` },
    { name: 'subleaf', subject: '/C=XX/O=l2tp-ipsec test/CN=too deep', key: 'client', issuer: 'sub', ext: SUB_EXT },
    { name: 'nosign', subject: '/C=XX/O=l2tp-ipsec test/CN=CA without keyCertSign', key: 'nonca', issuer: 'root', ext: `basicConstraints = critical, CA:TRUE\nkeyUsage = critical, digitalSignature\n${SUB_EXT}` },
    { name: 'nosignleaf', subject: '/C=XX/O=l2tp-ipsec test/CN=under nosign', key: 'client', issuer: 'nosign', issuerKey: 'nonca', ext: SUB_EXT },
    { name: 'critical', subject: '/C=XX/O=l2tp-ipsec test/CN=critical', key: 'client', issuer: 'inter', ext: `1.3.6.1.4.1.55555.1 = critical, ASN1:NULL\n${SUB_EXT}` },
    { name: 'ec', subject: '/CN=ec.example.test', key: 'ec', ext: 'subjectAltName = DNS:ec.example.test' },
  ]
  for (const step of steps) await issue(step)
})

test.after.always(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

const cert = async (name: string) => new X509Certificate(await read(`${name}.pem`))
const der = async (name: string) => Buffer.from((await cert(name)).raw)
const serverCredentials = async (): Promise<Credentials> =>
  loadCredentials({ cert: await read('server.pem'), key: await read('server.key'), chain: await read('inter.pem') })

function loadError(t: import('ava').ExecutionContext, f: () => unknown, message: RegExp): void {
  const e = t.throws(f, { instanceOf: IkeCertError, message })
  t.is(e?.code, 'IKE_CERT_LOAD')
}

// --- loading ------------------------------------------------------------

test('loadCredentials: certificate, RSA key and chain', async (t) => {
  const c = await serverCredentials()
  t.is(c.certificate.fingerprint256, (await cert('server')).fingerprint256)
  t.deepEqual(c.chain.map((x) => x.fingerprint256), [(await cert('inter')).fingerprint256])
  t.is(c.key.type, 'private')
  t.is(c.key.asymmetricKeyType, 'rsa')
  // Buffers, a traditional "RSA PRIVATE KEY" and no chain.
  const traditional = (await openssl(['rsa', '-in', 'server.key', '-traditional'])).toString()
  t.regex(traditional, /BEGIN RSA PRIVATE KEY/)
  const b = loadCredentials({ cert: Buffer.from(await read('server.pem')), key: Buffer.from(traditional) })
  t.deepEqual(b.chain, [])
  // A "fullchain" bundle: the first certificate is ours, the rest is chain, before `chain`.
  const bundled = loadCredentials({ cert: (await read('server.pem')) + (await read('inter.pem')), key: await read('server.key'), chain: await read('root.pem') })
  t.is(bundled.certificate.fingerprint256, c.certificate.fingerprint256)
  t.deepEqual(bundled.chain.map((x) => x.subject), [(await cert('inter')).subject, (await cert('root')).subject])
})

test('loadCredentials: an expired certificate loads (validity is not checked here)', async (t) => {
  const c = loadCredentials({ cert: await read('expired.pem'), key: await read('client.key') })
  t.regex(c.certificate.subject, /expired\.example\.test/)
})

test('loadCredentials: errors name what is wrong', async (t) => {
  const serverPem = await read('server.pem')
  const serverKey = await read('server.key')
  const clientKey = await read('client.key')
  const ecPem = await read('ec.pem')
  const ecKey = await read('ec.key')
  loadError(t, () => loadCredentials({ cert: serverPem, key: '' }), /^key: no PEM private key/)
  loadError(t, () => loadCredentials({ cert: serverPem, key: '-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n' }), /^key: the private key does not parse/)
  loadError(t, () => loadCredentials({ cert: serverPem, key: clientKey }), /^key: the private key does not match the certificate \("C=XX, O=l2tp-ipsec test, OU=VPN, CN=vpn\.example\.test"\)/)
  loadError(t, () => loadCredentials({ cert: 'garbage', key: serverKey }), /^cert: no PEM certificate/)
  loadError(t, () => loadCredentials({ cert: '-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n', key: serverKey }), /^cert: certificate 1 does not parse/)
  loadError(t, () => loadCredentials({ cert: serverPem, key: serverKey, chain: 'not PEM' }), /^chain: no PEM certificate/)
  loadError(t, () => loadCredentials({ cert: ecPem, key: ecKey }), /^cert: .* has a ec public key; RSA signature authentication needs RSA/)
  loadError(t, () => loadCredentials({ cert: serverPem, key: ecKey }), /^key: a ec private key; .*needs an RSA key/)
  const encrypted = (await openssl(['pkey', '-in', 'server.key', '-aes256', '-passout', 'pass:secret'])).toString()
  loadError(t, () => loadCredentials({ cert: serverPem, key: encrypted }), /^key: the private key is encrypted/)
})

test('loadTrustAnchors: one or more CA certificates; not a CA, none or garbage throw', async (t) => {
  const anchors = loadTrustAnchors((await read('root.pem')) + (await read('other.pem')))
  t.deepEqual(anchors.map((a) => a.subject.split('\n').at(-1)), ['CN=Test Root CA', 'CN=Other Root CA'])
  t.is(loadTrustAnchors(Buffer.from(await read('root.pem'))).length, 1)
  const serverPem = await read('server.pem')
  loadError(t, () => loadTrustAnchors(serverPem), /^trust anchors: certificate 1 \(.*vpn\.example\.test"\) is not a CA/)
  loadError(t, () => loadTrustAnchors(''), /^trust anchors: no PEM certificate/)
})

// --- signatures ---------------------------------------------------------

test('signHash equals openssl pkeyutl -sign and rsautl -sign -pkcs over the raw 20-byte hash; openssl recovers it', async (t) => {
  const { key, certificate } = await serverCredentials()
  const hash = createHash('sha1').update('HASH_I').digest()
  t.is(hash.length, 20)
  await writeFile(path('hash.bin'), hash)
  const ours = signHash(key, hash)
  t.is(ours.length, 256)
  const pkeyutl = await openssl(['pkeyutl', '-sign', '-inkey', 'server.key', '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', 'hash.bin'])
  t.true(ours.equals(pkeyutl), 'pkeyutl -sign, no digest')
  const rsautl = await openssl(['rsautl', '-sign', '-pkcs', '-inkey', 'server.key', '-in', 'hash.bin'])
  t.true(ours.equals(rsautl), 'rsautl -sign -pkcs')
  await writeFile(path('sig.bin'), ours)
  const recovered = await openssl(['pkeyutl', '-verifyrecover', '-certin', '-inkey', 'server.pem', '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', 'sig.bin'])
  t.true(recovered.equals(hash), 'the signature carries the bare hash, no DigestInfo')
  t.true(verifyHashSignature(certificate, hash, ours))
  t.true(verifyHashSignature(certificate, hash, pkeyutl))
})

test('signHash / verifyHashSignature round trip for every PRF length, deterministic', async (t) => {
  const { key, certificate } = await serverCredentials()
  for (const n of [16, 20, 32, 48, 64]) {
    const hash = randomBytes(n)
    const s = signHash(key, hash)
    t.true(s.equals(signHash(key, hash)))
    t.true(verifyHashSignature(certificate, hash, s), `${n}-byte hash`)
  }
})

test('verifyHashSignature is false, never throws, on any mismatch', async (t) => {
  const { key, certificate } = await serverCredentials()
  const client = await cert('client')
  const data = Buffer.from('g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b')
  const hash = createHash('sha1').update(data).digest()
  const good = signHash(key, hash)
  // crypto.sign wraps the hash in a DigestInfo: a valid PKCS#1 signature, not an IKEv1 one.
  const withDigestInfo = sign('sha1', data, key)
  t.true(verify('sha1', data, certificate.publicKey, withDigestInfo), 'a valid signature in the DigestInfo form')
  t.false(verifyHashSignature(certificate, hash, withDigestInfo))
  t.false(verifyHashSignature(client, hash, good), 'another certificate')
  const otherHash = Buffer.from(hash)
  otherHash[0]! ^= 1
  t.false(verifyHashSignature(certificate, otherHash, good), 'another hash')
  t.false(verifyHashSignature(certificate, hash.subarray(0, 19), good), 'a truncated hash')
  const flipped = Buffer.from(good)
  flipped[100]! ^= 0x10
  t.false(verifyHashSignature(certificate, hash, flipped), 'a flipped bit')
  t.false(verifyHashSignature(certificate, hash, good.subarray(1)), 'a short signature')
  t.false(verifyHashSignature(certificate, hash, Buffer.concat([Buffer.alloc(1), good])), 'a long signature')
  t.false(verifyHashSignature(certificate, hash, Buffer.alloc(256)), 'zeros')
  t.false(verifyHashSignature(certificate, hash, Buffer.alloc(256, 0xff)), 'above the modulus')
  t.false(verifyHashSignature(certificate, hash, Buffer.alloc(0)), 'empty')
  t.false(verifyHashSignature(certificate, Buffer.alloc(0), good), 'empty hash')
  t.false(verifyHashSignature(await cert('ec'), hash, good), 'an EC certificate')
  t.false(verifyHashSignature(certificate, hash, 'not a buffer' as unknown as Buffer))
})

test('signHash refuses what it cannot sign with or over', async (t) => {
  const { key } = await serverCredentials()
  const sig = (k: unknown, h: Buffer) => () => signHash(k as Parameters<typeof signHash>[0], h)
  const hash = randomBytes(20)
  t.is(t.throws(sig(createPublicKey(key), hash), { instanceOf: IkeCertError })?.code, 'IKE_CERT_SIGN')
  t.is(t.throws(sig(createPrivateKey(await read('ec.key')), hash), { instanceOf: IkeCertError })?.code, 'IKE_CERT_SIGN')
  t.is(t.throws(sig('pem', hash), { instanceOf: IkeCertError })?.code, 'IKE_CERT_SIGN')
  t.throws(sig(key, Buffer.alloc(0)), { instanceOf: IkeCertError, message: /non-empty/ })
  t.throws(sig(key, Buffer.alloc(246)), { instanceOf: IkeCertError, message: /does not fit PKCS#1 padding under a 2048-bit key/ })
  t.notThrows(sig(key, Buffer.alloc(245)))
})

// --- chains -------------------------------------------------------------

const accepted = async (t: import('ava').ExecutionContext, chain: Buffer[], anchors: X509Certificate[], expected: string, now = NOW) => {
  const r = verifyChain(chain, anchors, now)
  t.true(r.ok, r.ok ? '' : r.reason)
  if (r.ok) t.is(r.certificate.fingerprint256, (await cert(expected)).fingerprint256)
}

const refused = (t: import('ava').ExecutionContext, chain: Buffer[], anchors: X509Certificate[], reason: RegExp, now = NOW) => {
  const r = verifyChain(chain, anchors, now)
  t.false(r.ok)
  if (!r.ok) t.regex(r.reason, reason)
}

test('verifyChain accepts the good chain in either order, with or without the root, and now', async (t) => {
  const anchors = loadTrustAnchors(await read('root.pem'))
  const [server, inter, root, client] = await Promise.all(['server', 'inter', 'root', 'client'].map(der))
  await accepted(t, [server!, inter!], anchors, 'server')
  await accepted(t, [inter!, server!], anchors, 'server')
  await accepted(t, [root!, server!, inter!], anchors, 'server')
  await accepted(t, [client!, inter!], anchors, 'client')
  await accepted(t, [server!, inter!], anchors, 'server', new Date())
  // The intermediate itself as the trust anchor.
  await accepted(t, [server!], [await cert('inter')], 'server')
  await accepted(t, [server!, inter!], [await cert('other'), ...anchors], 'server')
})

test('verifyChain refuses expired and not yet valid certificates, with the dates', async (t) => {
  const anchors = [await cert('root')]
  const inter = await der('inter')
  refused(t, [await der('expired'), inter], anchors, /^"C=XX, O=l2tp-ipsec test, CN=expired\.example\.test" expired at 2021-01-01T00:00:00\.000Z \(now 2030-06-01T12:00:00\.000Z\)$/)
  refused(t, [await der('server'), inter], anchors, /vpn\.example\.test" is not valid before 2020-01-01T00:00:00\.000Z/, new Date('2019-12-31T23:59:59Z'))
  refused(t, [await der('server'), inter], anchors, /vpn\.example\.test" expired at 2045-01-01/, new Date('2045-01-01T00:00:01Z'))
  // The root's GeneralizedTime notAfter (2060) is read: it expires after the leaves.
  refused(t, [await der('inter')], anchors, /Test Intermediate CA" expired at 2045/, new Date('2050-01-01T00:00:00Z'))
  refused(t, [await der('root')], anchors, /Test Root CA" expired at 2060-01-01T00:00:00\.000Z/, new Date('2061-01-01T00:00:00Z'))
  refused(t, [await der('server'), inter], anchors, /no valid time/, new Date(Number.NaN))
})

test('verifyChain refuses another CA, a missing intermediate and a self-signed certificate', async (t) => {
  const anchors = [await cert('root')]
  refused(t, [await der('otherleaf'), await der('other')], anchors, /"C=XX, O=Other, CN=Other Root CA" is self-signed and not a trust anchor/)
  refused(t, [await der('otherleaf')], anchors, /no trust anchor or certificate sent issued "C=XX, O=Other, CN=vpn\.example\.test" \(issuer C=XX, O=Other, CN=Other Root CA\)/)
  refused(t, [await der('server')], anchors, /no trust anchor or certificate sent issued .*vpn\.example\.test" \(issuer .*CN=Test Intermediate CA\)/)
  refused(t, [await der('server'), await der('inter')], [await cert('other')], /no trust anchor or certificate sent issued .*Test Intermediate CA/)
})

test('verifyChain refuses a certificate its named issuer did not sign (impostor CA, tampered certificate)', async (t) => {
  const anchors = [await cert('root')]
  // Signed by the impostor, presented with the real intermediate of the same name.
  refused(t, [await der('impostorleaf'), await der('inter')], anchors, /the signature of .*CN=mallory" does not verify with the key of .*CN=Test Intermediate CA"/)
  // The impostor itself: same name as the intermediate, self-signed.
  refused(t, [await der('impostorleaf'), await der('impostor')], anchors, /Test Intermediate CA" is self-signed and not a trust anchor/)
  // One byte of the server's subject changed: still a certificate, no longer the one the intermediate signed.
  const server = await der('server')
  const at = server.indexOf('vpn.example.test')
  t.true(at > 0)
  const tampered = Buffer.from(server)
  tampered[at] = 'w'.charCodeAt(0)
  t.regex(new X509Certificate(tampered).subject, /CN=wpn\.example\.test/)
  refused(t, [tampered, await der('inter')], anchors, /the signature of .*CN=wpn\.example\.test" does not verify with the key of .*Test Intermediate CA"/)
  // A tampered intermediate (its subject, the only place its name is).
  const inter = Buffer.from(await der('inter'))
  const i = inter.indexOf('Test Intermediate CA')
  t.true(i > 0)
  inter[i + 5] = 'i'.charCodeAt(0)
  refused(t, [server, inter], anchors, /^no trust anchor or certificate sent issued .*vpn\.example\.test"/)
  const interKeyOnly = Buffer.from(await der('inter'))
  interKeyOnly[interKeyOnly.length - 1]! ^= 1
  refused(t, [server, interKeyOnly], anchors, /^the signature of .*Test Intermediate CA" does not verify with the key of .*Test Root CA"/)
})

test('verifyChain refuses issuers that are not CAs, a path length violation, no keyCertSign, an unknown critical extension', async (t) => {
  const anchors = [await cert('root')]
  refused(t, [await der('noncaleaf'), await der('nonca')], anchors, /^"C=XX, O=l2tp-ipsec test, CN=Not a CA", issuer of .*under a non-CA", is not a CA \(no basicConstraints CA:TRUE\)$/)
  refused(t, [await der('subleaf'), await der('sub'), await der('inter')], anchors, /Test Intermediate CA" allows 0 intermediate CA certificate\(s\) below it \(path length constraint\), the chain has 1/)
  refused(t, [await der('nosignleaf'), await der('nosign')], anchors, /CA without keyCertSign" has a keyUsage without keyCertSign/)
  refused(t, [await der('critical'), await der('inter')], anchors, /CN=critical" has critical extension\(s\) not supported here: 1\.3\.6\.1\.4\.1\.55555\.1/)
  // With the sub CA as anchor there is nothing to constrain.
  await accepted(t, [await der('subleaf')], [await cert('sub')], 'subleaf')
})

test('verifyChain refuses what is not a DER certificate list', async (t) => {
  const anchors = [await cert('root')]
  const server = await der('server')
  refused(t, [], anchors, /no certificate/)
  refused(t, [server], [], /no trust anchors/)
  refused(t, [Buffer.from(await read('server.pem')), await der('inter')], anchors, /^certificate 1 of the peer is not a DER X\.509 certificate$/)
  refused(t, [server, Buffer.from('garbage')], anchors, /^certificate 2 of the peer is not a DER X\.509 certificate$/)
  refused(t, [server, server.subarray(0, 300)], anchors, /^certificate 2 of the peer is not a DER/)
  refused(t, [Buffer.concat([server, Buffer.alloc(1)])], anchors, /^certificate 1 of the peer is not a DER/)
  refused(t, Array.from({ length: 8 }, () => server), anchors, /more than 7/)
})

test('verifyChain and idMatchesCertificate never throw on mutated certificates', async (t) => {
  const anchors = [await cert('root')]
  const server = await der('server')
  const inter = await der('inter')
  let parsed = 0
  for (let n = 0; n < 400; n++) {
    const m = Buffer.from(server)
    for (let k = 0; k <= n % 3; k++) m[(n * 7919 + k * 104729) % m.length]! ^= 1 << ((n + k) % 8)
    const r = verifyChain([m, inter], anchors, NOW)
    if (!r.ok) t.is(typeof r.reason, 'string')
    let c: X509Certificate | undefined
    try {
      c = new X509Certificate(m)
    } catch {
      continue
    }
    parsed++
    t.notThrows(() => idMatchesCertificate(id(IdType.FQDN, 'vpn.example.test'), c))
    try {
      subjectDer(c)
    } catch (e) {
      t.is((e as IkeCertError).code, 'IKE_CERT_DER')
    }
  }
  t.true(parsed > 0)
})

// --- identities ---------------------------------------------------------

const id = (idType: number, data: Buffer | string) => ({ idType, data: typeof data === 'string' ? Buffer.from(data) : data })

test('idMatchesCertificate: addresses, FQDN and user FQDN against subjectAltName only', async (t) => {
  const server = await cert('server')
  const client = await cert('client')
  const expired = await cert('expired')
  t.true(idMatchesCertificate(id(IdType.IPV4_ADDR, addressBytes('10.0.2.2')), server))
  t.false(idMatchesCertificate(id(IdType.IPV4_ADDR, addressBytes('10.0.2.3')), server))
  t.false(idMatchesCertificate(id(IdType.IPV6_ADDR, addressBytes('10.0.2.2')), server), 'IPv4 bytes under IPV6_ADDR')
  t.false(idMatchesCertificate(id(IdType.IPV4_ADDR, addressBytes('::ffff:10.0.2.2')), client))
  t.true(idMatchesCertificate(id(IdType.IPV6_ADDR, addressBytes('fd00::1')), server))
  t.false(idMatchesCertificate(id(IdType.IPV6_ADDR, addressBytes('fd00::2')), server))
  t.false(idMatchesCertificate(id(IdType.IPV4_ADDR, addressBytes('fd00::1').subarray(0, 4)), server))
  t.true(idMatchesCertificate(id(IdType.FQDN, 'vpn.example.test'), server))
  t.true(idMatchesCertificate(id(IdType.FQDN, 'VPN.Example.TEST'), server), 'DNS names compare case-insensitively')
  t.false(idMatchesCertificate(id(IdType.FQDN, 'other.example.test'), server))
  t.false(idMatchesCertificate(id(IdType.FQDN, 'vpn.example.test.'), server))
  t.false(idMatchesCertificate(id(IdType.FQDN, '10.0.2.2'), server), 'an address is not a DNS name')
  t.false(idMatchesCertificate(id(IdType.FQDN, 'expired.example.test'), expired), 'no fallback to the subject CN')
  t.false(idMatchesCertificate(id(IdType.FQDN, 'vpn.example.test'), client))
  t.true(idMatchesCertificate(id(IdType.USER_FQDN, 'alice@example.test'), client))
  t.true(idMatchesCertificate(id(IdType.USER_FQDN, 'Alice@Example.test'), client))
  t.false(idMatchesCertificate(id(IdType.USER_FQDN, 'bob@example.test'), client))
  t.false(idMatchesCertificate(id(IdType.USER_FQDN, 'alice@example.test'), server))
  t.false(idMatchesCertificate(id(IdType.FQDN, 'alice@example.test'), client), 'an email address is not a DNS name')
  t.false(idMatchesCertificate(id(IdType.USER_FQDN, ''), client))
  for (const other of [IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET, IdType.IPV4_ADDR_RANGE, IdType.KEY_ID, IdType.DER_ASN1_GN, 200]) {
    t.false(idMatchesCertificate(id(other, subjectDer(server)), server), `ID type ${other}`)
  }
})

const SHORT_NAMES: Record<string, string> = { countryName: 'C', organizationName: 'O', organizationalUnitName: 'OU', commonName: 'CN' }

/** A DER Name in RFC 2253 form, as openssl asn1parse reads the bytes. */
async function rfc2253(name: Buffer, file: string): Promise<string> {
  await writeFile(path(file), name)
  const lines = (await openssl(['asn1parse', '-inform', 'DER', '-in', file])).toString().split('\n')
  const parts: string[] = []
  let attribute = ''
  for (const line of lines) {
    const m = /prim: (\S+)\s*:(.*)$/.exec(line)
    if (m === null) continue
    if (m[1] === 'OBJECT') attribute = SHORT_NAMES[m[2]!] ?? m[2]!
    else parts.push(`${attribute}=${m[2]}`)
  }
  return parts.reverse().join(',')
}

test('subjectDer is the subject Name openssl prints; DER_ASN1_DN IDs match it as RFC 5280 7.1 compares names', async (t) => {
  for (const name of ['server', 'client', 'root', 'inter']) {
    const c = await cert(name)
    const dn = subjectDer(c)
    t.is(dn[0], 0x30)
    t.true(c.raw.includes(dn))
    const printed = (await openssl(['x509', '-in', `${name}.pem`, '-noout', '-subject', '-nameopt', 'RFC2253'])).toString().trim()
    t.is(`subject=${await rfc2253(dn, `${name}.dn`)}`, printed)
  }
  const server = await cert('server')
  t.is(await rfc2253(subjectDer(server), 'x.dn'), 'CN=vpn.example.test,OU=VPN,O=l2tp-ipsec test,C=XX')
  // The root's subject is the intermediate's issuer.
  const inter = await cert('inter')
  const root = await cert('root')
  t.true(inter.raw.includes(subjectDer(root)))
  t.true(idMatchesCertificate(id(IdType.DER_ASN1_DN, subjectDer(server)), server))
  t.false(idMatchesCertificate(id(IdType.DER_ASN1_DN, subjectDer(server)), await cert('client')))
  t.false(idMatchesCertificate(id(IdType.DER_ASN1_DN, subjectDer(server)), await cert('otherleaf')), 'another CN=vpn.example.test')
  // The same text with another string type is other bytes but the same
  // name (RFC 5280 7.1; strongSwan re-encodes a leftid DN this way: see
  // ike-dn-match.spec.ts).
  const retyped = subjectDer(server)
  const cn = retyped.indexOf('vpn.example.test')
  t.is(retyped[cn - 2], 0x0c, 'UTF8String')
  retyped[cn - 2] = 0x13
  t.true(idMatchesCertificate(id(IdType.DER_ASN1_DN, retyped), server))
  retyped[cn] = 0x56 // 'V': case does not matter either
  t.true(idMatchesCertificate(id(IdType.DER_ASN1_DN, retyped), server))
  retyped[cn + 2] = 0x4f // "VpO.example.test": another name
  t.false(idMatchesCertificate(id(IdType.DER_ASN1_DN, retyped), server))
  t.false(idMatchesCertificate(id(IdType.DER_ASN1_DN, subjectDer(server).subarray(0, 20)), server))
  // subjectDer returns a copy.
  subjectDer(server).fill(0)
  t.true(idMatchesCertificate(id(IdType.DER_ASN1_DN, subjectDer(server)), server))
})

// --- payloads -----------------------------------------------------------

test('certPayloads: end-entity then chain, through the codec and back', async (t) => {
  const credentials = await serverCredentials()
  const payloads = certPayloads(credentials)
  t.deepEqual(payloads.map((p) => [p.type, p.encoding]), [[PayloadType.CERT, CertEncoding.X509_SIGNATURE], [PayloadType.CERT, CertEncoding.X509_SIGNATURE]])
  const body = encodePayloads(payloads)
  const decoded = decodePayloads(PayloadType.CERT, body) as CertPayload[]
  t.deepEqual(decoded.map((p) => [p.type, p.encoding]), [[6, 4], [6, 4]])
  t.true(decoded[0]!.data.equals(await der('server')))
  t.true(decoded[1]!.data.equals(await der('inter')))
  t.is(encodePayloadBody(payloads[0]!)[0], 4)
  // What a peer would send is what verifyChain takes.
  const r = verifyChain(decoded.map((p) => p.data), [await cert('root')], NOW)
  t.true(r.ok && r.certificate.fingerprint256 === credentials.certificate.fingerprint256)
})

test('certRequestPayload: the CA subject DN (RFC 2408 3.10), through the codec and back', async (t) => {
  const root = await cert('root')
  const p = certRequestPayload(root)
  t.is(p.type, PayloadType.CERTREQ)
  t.is(p.encoding, CertEncoding.X509_SIGNATURE)
  const body = encodePayloadBody(p)
  t.true(body.equals(Buffer.concat([Buffer.from([4]), subjectDer(root)])))
  const decoded = decodePayloadBody(PayloadType.CERTREQ, body) as CertPayload
  t.is(decoded.type, 7)
  t.is(decoded.encoding, 4)
  t.true(decoded.data.equals(subjectDer(root)))
  t.is(await rfc2253(decoded.data, 'certreq.dn'), 'CN=Test Root CA,O=l2tp-ipsec test,C=XX')
})
