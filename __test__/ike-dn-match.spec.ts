// An ID_DER_ASN1_DN names a certificate when the Names match as RFC 5280
// 7.1 compares them, not only byte for byte. Found with a real strongSwan
// client (interop/scenarios/certificate-rsa): configured the usual way,
// leftid="O=…, CN=…", it re-encodes its DN with PrintableString while the
// OpenSSL-made certificate holds UTF8String, and our server refused it
// ("the peer's ID is not named by its certificate").
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { idMatchesCertificate, namesMatch, subjectDer } from '../lib/ike/certificates.js'
import { IdType } from '../lib/ike/constants.js'

const OID = { O: [0x55, 0x04, 0x0a], CN: [0x55, 0x04, 0x03], OU: [0x55, 0x04, 0x0b], C: [0x55, 0x04, 0x06] } as const
const UTF8 = 0x0c
const PRINTABLE = 0x13
const IA5 = 0x16

const tlv = (tag: number, body: Buffer): Buffer => {
  if (body.length >= 128) throw new Error('short lengths only in this test')
  return Buffer.concat([Buffer.from([tag, body.length]), body])
}
/** A Name from [attribute, value, string tag] per RDN, as a client would encode its DN. */
const name = (rdns: [keyof typeof OID, string, number][][]): Buffer =>
  tlv(0x30, Buffer.concat(rdns.map((rdn) => tlv(0x31, Buffer.concat(rdn.map(([a, v, tag]) => tlv(0x30, Buffer.concat([tlv(0x06, Buffer.from(OID[a])), tlv(tag, Buffer.from(v, 'utf8'))]))))))))

function opensslCert(subject: string): X509Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'l2tp-dn-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', subject], { stdio: 'ignore' })
    return new X509Certificate(readFileSync(join(dir, 'c.pem')))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('a DN re-encoded with PrintableString names the certificate whose subject is UTF8String (strongSwan leftid against an OpenSSL certificate)', (t) => {
  const cert = opensslCert('/O=l2tp-ipsec interop/CN=client1.interop.test')
  const subject = subjectDer(cert)
  t.true(subject.includes(Buffer.from([UTF8])), 'OpenSSL encodes the subject as UTF8String')
  const fromText = name([[['O', 'l2tp-ipsec interop', PRINTABLE]], [['CN', 'client1.interop.test', PRINTABLE]]])
  t.false(fromText.equals(subject), 'the bytes differ')
  t.true(idMatchesCertificate({ idType: IdType.DER_ASN1_DN, data: fromText }, cert))
  t.true(idMatchesCertificate({ idType: IdType.DER_ASN1_DN, data: subject }, cert), 'the exact bytes still match')
  // Case and insignificant spaces do not matter (RFC 4518).
  t.true(idMatchesCertificate({ idType: IdType.DER_ASN1_DN, data: name([[['O', 'L2TP-IPsec  Interop ', PRINTABLE]], [['CN', 'Client1.Interop.Test', UTF8]]]) }, cert))
})

test('names that differ do not match', (t) => {
  const cert = opensslCert('/O=l2tp-ipsec interop/CN=client1.interop.test')
  const id = (data: Buffer) => idMatchesCertificate({ idType: IdType.DER_ASN1_DN, data }, cert)
  t.false(id(name([[['O', 'l2tp-ipsec interop', PRINTABLE]], [['CN', 'client2.interop.test', PRINTABLE]]])), 'another CN')
  t.false(id(name([[['CN', 'client1.interop.test', PRINTABLE]], [['O', 'l2tp-ipsec interop', PRINTABLE]]])), 'RDNs in another order')
  t.false(id(name([[['O', 'l2tp-ipsec interop', PRINTABLE]]])), 'an RDN missing')
  t.false(id(name([[['O', 'l2tp-ipsec interop', PRINTABLE]], [['CN', 'client1.interop.test', PRINTABLE]], [['OU', 'x', PRINTABLE]]])), 'an RDN more')
  t.false(id(name([[['O', 'l2tp-ipsec interop', PRINTABLE]], [['OU', 'client1.interop.test', PRINTABLE]]])), 'another attribute type')
  t.false(id(name([[['O', 'l2tp-ipsec interop', PRINTABLE]], [['CN', 'client1.interop.test', IA5]]])), 'IA5String is compared byte for byte with the certificate UTF8String')
  t.false(id(name([[['O', 'l2tp-ipsec interop', PRINTABLE], ['CN', 'client1.interop.test', PRINTABLE]]])), 'one multi-valued RDN is not two RDNs')
  t.false(id(Buffer.from([0x30, 0x03, 0x31])), 'truncated DER')
  t.false(id(Buffer.concat([subjectDer(cert), Buffer.from([0])])), 'trailing bytes')
})

test('namesMatch: attributes of a multi-valued RDN in any order; other value types byte for byte', (t) => {
  const a = name([[['O', 'x', PRINTABLE], ['CN', 'y', PRINTABLE]]])
  const b = name([[['CN', 'Y', UTF8], ['O', 'X', UTF8]]])
  t.true(namesMatch(a, b))
  t.true(namesMatch(name([[['C', 'CH', IA5]]]), name([[['C', 'CH', IA5]]])))
  t.false(namesMatch(name([[['C', 'CH', IA5]]]), name([[['C', 'ch', IA5]]])))
})
