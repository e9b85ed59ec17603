/**
 * PPP authentication crypto: MD4 (RFC 1320), single DES (NIST), MS-CHAPv2
 * (RFC 2759 9.2) and its MPPE keys (RFC 3079 3.5.3), CHAP-MD5 — published
 * vectors in __test__/vectors/ppp/auth-vectors.json — and then the real
 * thing: the CHAP-MD5, MS-CHAPv2 and PAP exchanges of the recorded sessions
 * (__test__/vectors/ppp/real-control-frames.txt; user alice, password
 * alice-pass-1) check out with the right password and fail with another.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PppCodecError, decodeChap, decodeFrame, decodePap, encodeChap } from '../lib/ppp/codec.js'
import type { ChapChallengePacket, ChapPacket, ChapResultPacket, PapRequestPacket, PppCodecErrorCode } from '../lib/ppp/codec.js'
import { md4 } from '../lib/ppp/md4.js'
import { rc4 } from '../lib/ppp/rc4.js'
import { buildChangePassword, newPasswordEncryptedWithOldNtPasswordHash, oldNtPasswordHashEncryptedWithNewNtPasswordHash, verifyChangePassword } from '../lib/ppp/mschapv2-password.js'
import { chapMd5Response, verifyChapMd5 } from '../lib/ppp/chap.js'
import { papCredentials, verifyPapRequest } from '../lib/ppp/pap.js'
import {
  challengeHash,
  challengeResponse,
  challengeUserName,
  checkAuthenticatorResponse,
  decodeChangePassword,
  decodeResponseValue,
  desEncrypt,
  desEncryptBlock,
  encodeResponseValue,
  formatFailureMessage,
  formatSuccessMessage,
  generateAuthenticatorResponse,
  generateNtResponse,
  getAsymmetricStartKey,
  getMasterKey,
  hashNtPasswordHash,
  ntPasswordHash,
  parseFailureMessage,
  parseSuccessMessage,
  verifyNtResponse,
  verifyResponse,
} from '../lib/ppp/mschapv2.js'
import { MsChapError, Protocol } from '../lib/ppp/constants.js'

const PPP_VECTORS = join(import.meta.dirname, 'vectors', 'ppp')

interface AuthVectors {
  md4: { vectors: { input: string; digest: string }[] }
  md4Padding: { vectors: { repeatA: number; digest: string }[] }
  ntHash: { vectors: { password: string; hash: string }[] }
  des: { vectors: { key: string; plaintext: string; ciphertext: string }[] }
  mschapv2: Record<'userName' | 'password' | 'authenticatorChallenge' | 'peerChallenge' | 'challenge' | 'passwordHash' | 'ntResponse' | 'passwordHashHash' | 'authenticatorResponse' | 'masterKey' | 'sendStartKey128', string>
  chapMd5: { vectors: { identifier: number; secret: string; challenge: string; response: string }[] }
}

const V = JSON.parse(readFileSync(join(PPP_VECTORS, 'auth-vectors.json'), 'utf8')) as AuthVectors
const M = V.mschapv2
const hex = (s: string): Buffer => Buffer.from(s, 'hex')

const PASSWORD = 'alice-pass-1'
const WRONG = 'alice-pass-2'

/** The CHAP and PAP packets of real-control-frames.txt, by session. */
function realAuthPackets(): Map<string, { chap: ChapPacket[]; pap: PapRequestPacket[] }> {
  const sessions = new Map<string, { chap: ChapPacket[]; pap: PapRequestPacket[] }>()
  let session = ''
  for (const line of readFileSync(join(PPP_VECTORS, 'real-control-frames.txt'), 'utf8').split('\n')) {
    const head = /^# (strongswan-\S+) frame/.exec(line)
    if (head) session = head[1]!
    if (!line.startsWith('ppp ')) continue
    const frame = decodeFrame(hex(line.slice(4)))
    const entry = sessions.get(session) ?? { chap: [], pap: [] }
    sessions.set(session, entry)
    if (frame.protocol === Protocol.CHAP) entry.chap.push(decodeChap(frame.information))
    if (frame.protocol === Protocol.PAP) {
      const packet = decodePap(frame.information)
      if (packet.kind === 'authenticate-request') entry.pap.push(packet)
    }
  }
  return sessions
}

const REAL = realAuthPackets()

function chapExchange(session: string): { challenge: ChapChallengePacket; response: ChapChallengePacket; result: ChapResultPacket } {
  const packets = REAL.get(`strongswan-${session}`)?.chap ?? []
  const challenge = packets.find((p): p is ChapChallengePacket => p.kind === 'challenge')
  const response = packets.find((p): p is ChapChallengePacket => p.kind === 'response')
  const result = packets.find((p): p is ChapResultPacket => p.kind === 'success' || p.kind === 'failure')
  if (!challenge || !response || !result) throw new Error(`no CHAP exchange in ${session}`)
  return { challenge, response, result }
}

function throwsCode(t: ExecutionContext, fn: () => unknown, code: PppCodecErrorCode): void {
  const error = t.throws(fn, { instanceOf: PppCodecError })
  t.is(error?.code, code, error?.message)
}

// --- MD4 and DES ------------------------------------------------------------------

test('MD4: the RFC 1320 test suite', (t) => {
  t.is(V.md4.vectors.length, 7)
  for (const { input, digest } of V.md4.vectors) t.is(md4(Buffer.from(input, 'ascii')).toString('hex'), digest, JSON.stringify(input))
})

test('MD4: lengths around the padding boundaries agree with OpenSSL\'s legacy provider', (t) => {
  t.is(V.md4Padding.vectors.length, 8)
  for (const { repeatA, digest } of V.md4Padding.vectors) {
    t.is(md4(Buffer.alloc(repeatA, 'a')).toString('hex'), digest, `${repeatA} bytes`)
    t.is(md4(new Uint8Array(Buffer.alloc(repeatA, 'a'))).toString('hex'), digest, 'from a plain Uint8Array')
  }
})

test('NT password hash: MD4 of UTF-16LE', (t) => {
  for (const { password, hash } of V.ntHash.vectors) t.is(ntPasswordHash(password).toString('hex'), hash)
  throwsCode(t, () => ntPasswordHash('x'.repeat(257)), 'PPP_BAD_VALUE')
})

test('DES through node:crypto (3DES-EDE with K1 = K2 = K3): NIST known answers', (t) => {
  for (const { key, plaintext, ciphertext } of V.des.vectors) t.is(desEncryptBlock(hex(plaintext), hex(key)).toString('hex'), ciphertext, key)
  // The 7-byte form: 0101...01 stripped of parity bits is 56 zero bits.
  t.is(desEncrypt(hex('8000000000000000'), Buffer.alloc(7)).toString('hex'), '95f8a5e5dd31d900')
  throwsCode(t, () => desEncrypt(Buffer.alloc(8), Buffer.alloc(8)), 'PPP_BAD_VALUE')
})

// --- MS-CHAPv2, RFC 2759 9.2 and RFC 3079 3.5.3 ------------------------------------------

test('MS-CHAPv2: every intermediate value of RFC 2759 9.2', (t) => {
  const ac = hex(M.authenticatorChallenge)
  const pc = hex(M.peerChallenge)
  t.is(challengeHash(pc, ac, M.userName).toString('hex'), M.challenge)
  t.is(ntPasswordHash(M.password).toString('hex'), M.passwordHash)
  t.is(challengeResponse(hex(M.challenge), hex(M.passwordHash)).toString('hex'), M.ntResponse)
  t.is(generateNtResponse(ac, pc, M.userName, { password: M.password }).toString('hex'), M.ntResponse)
  t.is(hashNtPasswordHash(hex(M.passwordHash)).toString('hex'), M.passwordHashHash)
  t.is(generateAuthenticatorResponse({ password: M.password }, hex(M.ntResponse), pc, ac, M.userName), M.authenticatorResponse)
})

test('MS-CHAPv2: everything works from the NT hash alone', (t) => {
  const ac = hex(M.authenticatorChallenge)
  const pc = hex(M.peerChallenge)
  const secret = { ntHash: hex(M.passwordHash) }
  t.is(generateNtResponse(ac, pc, M.userName, secret).toString('hex'), M.ntResponse)
  t.true(verifyNtResponse(ac, pc, M.userName, secret, hex(M.ntResponse)))
  t.is(generateAuthenticatorResponse(secret, hex(M.ntResponse), pc, ac, M.userName), M.authenticatorResponse)
  const result = verifyResponse(ac, decodeResponseValue(encodeResponseValue({ peerChallenge: pc, ntResponse: hex(M.ntResponse) })), M.userName, secret)
  t.deepEqual(result, { ok: true, authenticatorResponse: M.authenticatorResponse, masterKey: hex(M.masterKey) })
  throwsCode(t, () => generateNtResponse(ac, pc, M.userName, { ntHash: Buffer.alloc(15) }), 'PPP_BAD_VALUE')
})

test('MS-CHAPv2: wrong password, wrong user, wrong challenge or a changed response all fail', (t) => {
  const ac = hex(M.authenticatorChallenge)
  const pc = hex(M.peerChallenge)
  const nt = hex(M.ntResponse)
  t.false(verifyNtResponse(ac, pc, M.userName, { password: 'clientpass' }, nt))
  t.false(verifyNtResponse(ac, pc, 'user', { password: M.password }, nt))
  t.false(verifyNtResponse(pc, ac, M.userName, { password: M.password }, nt))
  const flipped = Buffer.from(nt)
  flipped[23] = flipped[23]! ^ 1
  t.false(verifyNtResponse(ac, pc, M.userName, { password: M.password }, flipped))
  t.false(verifyNtResponse(ac, pc, M.userName, { password: M.password }, nt.subarray(0, 23)))
  t.deepEqual(verifyResponse(ac, { peerChallenge: pc, reserved: Buffer.alloc(8), ntResponse: flipped, flags: 0 }, M.userName, { password: M.password }), { ok: false })
})

test('MS-CHAPv2: the user name loses a DOMAIN\\ prefix in ChallengeHash (RFC 2759 8.2)', (t) => {
  const ac = hex(M.authenticatorChallenge)
  const pc = hex(M.peerChallenge)
  t.is(challengeUserName('WORKGROUP\\User').toString(), 'User')
  t.is(challengeHash(pc, ac, 'WORKGROUP\\User').toString('hex'), M.challenge)
  t.true(verifyNtResponse(ac, pc, 'WORKGROUP\\User', { password: M.password }, hex(M.ntResponse)))
})

test('MS-CHAPv2: CheckAuthenticatorResponse (RFC 2759 8.8)', (t) => {
  const args = [{ password: M.password }, hex(M.ntResponse), hex(M.peerChallenge), hex(M.authenticatorChallenge), M.userName] as const
  t.true(checkAuthenticatorResponse(...args, M.authenticatorResponse))
  t.true(checkAuthenticatorResponse(...args, M.authenticatorResponse.toLowerCase()))
  t.false(checkAuthenticatorResponse(...args, M.authenticatorResponse.replace('407A', '407B')))
  t.false(checkAuthenticatorResponse(...args, M.authenticatorResponse.slice(0, 41)))
})

test('MPPE: GetMasterKey and GetAsymmetricStartKey (RFC 3079 3.5.3)', (t) => {
  const masterKey = getMasterKey(hex(M.passwordHashHash), hex(M.ntResponse))
  t.is(masterKey.toString('hex'), M.masterKey)
  // The server's send key is the client's receive key, and the reverse.
  t.is(getAsymmetricStartKey(masterKey, 16, true, true).toString('hex'), M.sendStartKey128)
  t.true(getAsymmetricStartKey(masterKey, 16, false, false).equals(hex(M.sendStartKey128)))
  t.true(getAsymmetricStartKey(masterKey, 16, true, false).equals(getAsymmetricStartKey(masterKey, 16, false, true)))
  t.false(getAsymmetricStartKey(masterKey, 16, true, false).equals(hex(M.sendStartKey128)))
  t.true(getAsymmetricStartKey(masterKey, 8, true, true).equals(hex(M.sendStartKey128).subarray(0, 8)))
})

// --- MS-CHAPv2 packet values and messages ------------------------------------------

test('MS-CHAPv2 Response value: 49 bytes, decoded and encoded', (t) => {
  const value = encodeResponseValue({ peerChallenge: hex(M.peerChallenge), ntResponse: hex(M.ntResponse) })
  t.is(value.length, 49)
  t.deepEqual(decodeResponseValue(value), { peerChallenge: hex(M.peerChallenge), reserved: Buffer.alloc(8), ntResponse: hex(M.ntResponse), flags: 0 })
  throwsCode(t, () => decodeResponseValue(value.subarray(0, 48)), 'PPP_MALFORMED')
  throwsCode(t, () => encodeResponseValue({ peerChallenge: Buffer.alloc(15), ntResponse: hex(M.ntResponse) }), 'PPP_BAD_VALUE')
})

test('MS-CHAPv2 Success message: "S=<40 hex> M=<message>"', (t) => {
  t.is(formatSuccessMessage(M.authenticatorResponse, 'Access granted'), `${M.authenticatorResponse} M=Access granted`)
  t.is(formatSuccessMessage(M.authenticatorResponse), M.authenticatorResponse)
  t.deepEqual(parseSuccessMessage(`${M.authenticatorResponse} M=Welcome`), { authenticatorResponse: M.authenticatorResponse, message: 'Welcome' })
  t.deepEqual(parseSuccessMessage(M.authenticatorResponse), { authenticatorResponse: M.authenticatorResponse, message: undefined })
  throwsCode(t, () => formatSuccessMessage('S=407a5589115fd0d6209f510fe9c04566932cda56'), 'PPP_BAD_VALUE')
  throwsCode(t, () => parseSuccessMessage('S=1234'), 'PPP_MALFORMED')
})

test('MS-CHAPv2 Failure message: every error code round-trips', (t) => {
  const challenge = hex(M.authenticatorChallenge)
  t.is(
    formatFailureMessage({ error: MsChapError.AUTHENTICATION_FAILURE, retry: false, challenge, version: 3, message: 'Authentication failed' }),
    'E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed',
  )
  t.deepEqual(Object.values(MsChapError), [646, 647, 648, 649, 691, 709])
  for (const error of Object.values(MsChapError)) {
    const text = formatFailureMessage({ error, retry: error === 691, challenge, version: 3, message: `error ${error}` })
    t.deepEqual(parseFailureMessage(text), { error, retry: error === 691, challenge, version: 3, message: `error ${error}` })
  }
  t.deepEqual(parseFailureMessage('E=648 R=0 V=3'), { error: 648, retry: false, challenge: undefined, version: 3, message: undefined })
  t.is(formatFailureMessage({ error: 649 }), 'E=649 R=0')
  throwsCode(t, () => parseFailureMessage('E=691'), 'PPP_MALFORMED')
  throwsCode(t, () => formatFailureMessage({ error: 691, challenge: Buffer.alloc(8) }), 'PPP_BAD_VALUE')
})

test('MS-CHAPv2 Change-Password (code 7) is recognised', (t) => {
  const body = Buffer.concat([Buffer.alloc(516, 1), Buffer.alloc(16, 2), hex(M.peerChallenge), Buffer.alloc(8), hex(M.ntResponse), Buffer.from([0, 0])])
  const packet = decodeChap(Buffer.concat([Buffer.from([7, 0x21, 0x02, 0x4a]), body]))
  if (packet.kind !== 'other') return t.fail()
  const change = decodeChangePassword(packet)
  t.is(change.identifier, 0x21)
  t.true(change.encryptedPassword.equals(Buffer.alloc(516, 1)))
  t.true(change.encryptedHash.equals(Buffer.alloc(16, 2)))
  t.true(change.peerChallenge.equals(hex(M.peerChallenge)))
  t.true(change.ntResponse.equals(hex(M.ntResponse)))
  t.is(change.flags, 0)
  throwsCode(t, () => decodeChangePassword({ ...packet, data: body.subarray(1) }), 'PPP_MALFORMED')
  throwsCode(t, () => decodeChangePassword({ ...packet, code: 5 }), 'PPP_MALFORMED')
})

// --- MS-CHAPv2 Change-Password (RFC 2759 7, 8.9-8.13) ----------------------------------

const CPW = JSON.parse(readFileSync(join(PPP_VECTORS, 'change-password-vectors.json'), 'utf8')) as {
  userName: string; oldPassword: string; newPassword: string; authenticatorChallenge: string; peerChallenge: string; filler: string
  oldPasswordHash: string; newPasswordHash: string; clearPwBlock: string; encryptedPassword: string; encryptedHash: string
  ntResponse: string; authenticatorResponse: string; changePasswordData: string
  rc4: { vectors: { key: string; keystream32: string }[] }
}

test('RC4: RFC 6229 keystreams', (t) => {
  t.is(CPW.rc4.vectors.length, 2)
  for (const { key, keystream32 } of CPW.rc4.vectors) t.is(rc4(hex(key), Buffer.alloc(32)).toString('hex'), keystream32)
})

test('Change-Password: every value of the vector file, built by the peer and verified by the authenticator', (t) => {
  t.is(ntPasswordHash(CPW.oldPassword).toString('hex'), CPW.oldPasswordHash, 'RFC 2759 9.2 PasswordHash')
  t.is(ntPasswordHash(CPW.newPassword).toString('hex'), CPW.newPasswordHash)
  t.is(newPasswordEncryptedWithOldNtPasswordHash(CPW.newPassword, { password: CPW.oldPassword }, hex(CPW.filler)).toString('hex'), CPW.encryptedPassword)
  t.is(rc4(hex(CPW.oldPasswordHash), hex(CPW.encryptedPassword)).toString('hex'), CPW.clearPwBlock, 'RC4 decrypts what it encrypted')
  t.is(oldNtPasswordHashEncryptedWithNewNtPasswordHash({ password: CPW.newPassword }, { password: CPW.oldPassword }).toString('hex'), CPW.encryptedHash)
  const packet = buildChangePassword({
    identifier: 0x22,
    authenticatorChallenge: hex(CPW.authenticatorChallenge),
    peerChallenge: hex(CPW.peerChallenge),
    userName: CPW.userName,
    oldPassword: CPW.oldPassword,
    newPassword: CPW.newPassword,
    filler: hex(CPW.filler),
  })
  t.is(packet.data.toString('hex'), CPW.changePasswordData)
  const decoded = decodeChangePassword(decodeChap(encodeChap(packet)) as Parameters<typeof decodeChangePassword>[0])
  t.is(decoded.identifier, 0x22)
  const check = verifyChangePassword({ oldSecret: { ntHash: hex(CPW.oldPasswordHash) }, authenticatorChallenge: hex(CPW.authenticatorChallenge), userName: CPW.userName, ...decoded })
  t.like(check, { ok: true, newPassword: CPW.newPassword, authenticatorResponse: CPW.authenticatorResponse })
})

test('Change-Password: a wrong old password, a tampered hash or response, or a foreign block are refused', (t) => {
  const base = { authenticatorChallenge: hex(CPW.authenticatorChallenge), userName: CPW.userName, peerChallenge: hex(CPW.peerChallenge), ntResponse: hex(CPW.ntResponse), encryptedHash: hex(CPW.encryptedHash), encryptedPassword: hex(CPW.encryptedPassword) }
  const old = { password: CPW.oldPassword }
  t.deepEqual(verifyChangePassword({ ...base, oldSecret: { password: 'not the old one' } }), { ok: false, reason: 'bad-old-password' })
  const flipped = Buffer.from(base.encryptedHash)
  flipped[3]! ^= 1
  t.deepEqual(verifyChangePassword({ ...base, oldSecret: old, encryptedHash: flipped }), { ok: false, reason: 'bad-old-password' })
  const response = Buffer.from(base.ntResponse)
  response[0]! ^= 1
  t.deepEqual(verifyChangePassword({ ...base, oldSecret: old, ntResponse: response }), { ok: false, reason: 'bad-response' })
  t.deepEqual(verifyChangePassword({ ...base, oldSecret: old, userName: 'Other' }), { ok: false, reason: 'bad-response' })
  t.deepEqual(verifyChangePassword({ ...base, oldSecret: old, encryptedPassword: base.encryptedPassword.subarray(1) }), { ok: false, reason: 'bad-block' })
})

// --- CHAP-MD5 -------------------------------------------------------------------------

test('CHAP-MD5: published vectors', (t) => {
  // By hand: MD5(01 ‖ 4d 79 50 77 ("MyPw") ‖ 10 2d b5 df 08 5d 30 41) = 8f028814450d66d94c72331ef455a172
  // (`printf '\x01MyPw\x10\x2d\xb5\xdf\x08\x5d\x30\x41' | md5sum`).
  for (const { identifier, secret, challenge, response } of V.chapMd5.vectors) {
    t.is(chapMd5Response(identifier, secret, hex(challenge)).toString('hex'), response)
    t.true(verifyChapMd5(identifier, secret, hex(challenge), hex(response)))
    t.false(verifyChapMd5(identifier + 1, secret, hex(challenge), hex(response)))
  }
  t.false(verifyChapMd5(1, 'MyPw', hex('102db5df085d3041'), hex('8f028814450d66d94c72331ef455a1')))
  throwsCode(t, () => chapMd5Response(256, 'x', Buffer.alloc(16)), 'PPP_BAD_VALUE')
})

// --- the recorded sessions -------------------------------------------------------------

for (const session of ['aes128-sha1-modp2048', 'apple-sha256-modp2048', 'esp-aes128gcm16']) {
  test(`real CHAP-MD5 of ${session}: the Response verifies with alice-pass-1 and fails with another password`, (t) => {
    const { challenge, response, result } = chapExchange(session)
    t.is(challenge.name.toString(), 'l2tpd')
    t.is(response.name.toString(), 'alice')
    t.is(response.identifier, challenge.identifier)
    t.is(response.value.length, 16)
    t.true(verifyChapMd5(challenge.identifier, PASSWORD, challenge.value, response.value))
    t.false(verifyChapMd5(challenge.identifier, WRONG, challenge.value, response.value))
    t.false(verifyChapMd5((challenge.identifier + 1) & 0xff, PASSWORD, challenge.value, response.value))
    t.is(result.kind, 'success')
    t.is(result.message.toString(), 'Access granted')
  })
}

test('real MS-CHAPv2 of windows-ecp384: the NT-Response verifies and our S= is the one pppd sent', (t) => {
  const { challenge, response, result } = chapExchange('windows-ecp384')
  t.is(challenge.value.length, 16)
  t.is(response.identifier, challenge.identifier)
  const value = decodeResponseValue(response.value)
  t.true(value.reserved.equals(Buffer.alloc(8)))
  t.is(value.flags, 0)
  const verification = verifyResponse(challenge.value, value, response.name, { password: PASSWORD })
  if (!verification.ok) return t.fail('NT-Response did not verify')
  t.is(result.kind, 'success')
  const sent = parseSuccessMessage(result.message)
  t.deepEqual(sent, { authenticatorResponse: 'S=40B1C99EF8B3BA69A5239C21F615CF9C48C33888', message: 'Access granted' })
  t.is(verification.authenticatorResponse, sent.authenticatorResponse)
  // pppd's Success packet, rebuilt byte for byte.
  const rebuilt = encodeChap({ kind: 'success', identifier: result.identifier, message: formatSuccessMessage(verification.authenticatorResponse, 'Access granted') })
  t.true(rebuilt.subarray(4).equals(result.message))
  // The client's side of the check, from the NT hash alone.
  t.true(checkAuthenticatorResponse({ ntHash: ntPasswordHash(PASSWORD) }, value.ntResponse, value.peerChallenge, challenge.value, response.name, sent.authenticatorResponse))
  t.deepEqual(verifyResponse(challenge.value, value, response.name, { password: WRONG }), { ok: false })
  t.false(verifyNtResponse(challenge.value, value.peerChallenge, 'bob', { password: PASSWORD }, value.ntResponse))
})

test('real PAP of legacy-3des-modp1024: the request carries alice / alice-pass-1', (t) => {
  const requests = REAL.get('strongswan-legacy-3des-modp1024')?.pap ?? []
  t.is(requests.length, 1)
  const request = requests[0]!
  t.deepEqual(papCredentials(request), { peerId: 'alice', password: PASSWORD })
  t.true(verifyPapRequest(request, 'alice', PASSWORD))
  t.true(verifyPapRequest(request, Buffer.from('alice'), Buffer.from(PASSWORD)))
  t.false(verifyPapRequest(request, 'alice', WRONG))
  t.false(verifyPapRequest(request, 'alic', `e${PASSWORD}`))
  t.false(verifyPapRequest(request, 'bob', PASSWORD))
})

test('which session used which authentication: three CHAP-MD5, one MS-CHAPv2, one PAP', (t) => {
  const summary = [...REAL.entries()].map(([session, { chap, pap }]) => {
    const response = chap.find((p): p is ChapChallengePacket => p.kind === 'response')
    return `${session}:${pap.length > 0 ? 'pap' : response?.value.length === 49 ? 'mschapv2' : response?.value.length === 16 ? 'md5' : 'none'}`
  }).sort()
  t.deepEqual(summary, [
    'strongswan-aes128-sha1-modp2048:md5',
    'strongswan-apple-sha256-modp2048:md5',
    'strongswan-esp-aes128gcm16:md5',
    'strongswan-legacy-3des-modp1024:pap',
    'strongswan-windows-ecp384:mschapv2',
  ])
})
