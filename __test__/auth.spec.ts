// lib/auth: local users (every method, right and wrong, NT-hash-only users,
// no user enumeration), the callback authenticator (accept, reject, throw,
// timeout, nonsense, secrets returned for us to verify, EAP), the
// (user, source) limiter with an injected clock, and the limiter in front
// of an authenticator.
//
// The RFC 2759 algorithms are lib/ppp's and are tested there against the
// RFC's vectors. Here MS-CHAPv2 uses TEST DOUBLES (below) that only have the
// right shapes; CHAP-MD5 uses the real RFC 1994 formula, it being one MD5.
import test from 'ava'
import { createHash } from 'node:crypto'
import {
  AuthError,
  AuthLimiter,
  CallbackAuthenticator,
  GENERIC_FAILURE_MESSAGE,
  LimitedAuthenticator,
  LocalUsersAuthenticator,
  normalizeUser,
  sourceKey,
  type AuthAlgorithms,
  type AuthFailure,
  type AuthRequest,
  type AuthResult,
  type AuthSuccess,
  type Authenticator,
  type CallbackErrorEvent,
  type CallbackRequest,
  type LimiterEvent,
  type LocalUser,
  type PeerInfo,
} from '../lib/auth/index.js'

// --- algorithms ---------------------------------------------------------------

function digest(name: 'md5' | 'sha1' | 'sha256', ...parts: (Buffer | string)[]): Buffer {
  const h = createHash(name)
  for (const part of parts) h.update(part)
  return h.digest()
}

/**
 * TEST DOUBLES, NOT RFC 2759: MS-CHAPv2 stand-ins with the right sizes
 * (16-byte hash, 24-byte NT-Response, "S=" + 40 upper-case hex) built from
 * SHA-256/SHA-1 so that this file does not depend on lib/ppp. The real
 * functions (MD4, DES, RFC 2759 section 9 vectors) are lib/ppp's.
 * chapMd5Response is the real RFC 1994 section 4.1 formula.
 */
function makeAlgorithms(calls: string[] = []): AuthAlgorithms {
  return {
  chapMd5Response(identifier, secret, challenge) {
    calls.push('chap')
    return digest('md5', Buffer.from([identifier]), secret, challenge)
  },
  ntPasswordHash(password) {
    calls.push('nthash')
    if (password.length > 256) throw new RangeError('too long') // as lib/ppp does
    return digest('sha256', 'TEST DOUBLE nt-hash', Buffer.from(password, 'utf16le')).subarray(0, 16)
  },
  generateNtResponse(authenticatorChallenge, peerChallenge, user, ntHash) {
    calls.push('ntresponse')
    return digest('sha256', 'TEST DOUBLE nt-response', authenticatorChallenge, peerChallenge, user, ntHash).subarray(0, 24)
  },
  generateAuthenticatorResponse(ntHash, ntResponse, peerChallenge, authenticatorChallenge, user) {
    calls.push('authresponse')
    return `S=${digest('sha1', 'TEST DOUBLE S', ntHash, ntResponse, peerChallenge, authenticatorChallenge, user).toString('hex').toUpperCase()}`
  },
  deriveMppeKeys(ntHash, ntResponse) {
    return { send: digest('md5', 'send', ntHash, ntResponse), receive: digest('md5', 'recv', ntHash, ntResponse) }
  },
  }
}
const algorithms = makeAlgorithms()

const peer: PeerInfo = { address: '198.51.100.7', port: 4500 }
const AUTH_CHALLENGE = Buffer.alloc(16, 0xa1)
const PEER_CHALLENGE = Buffer.alloc(16, 0xb2)
const CHAP_CHALLENGE = Buffer.from('0123456789abcdef0123', 'ascii')

// What a peer would send, computed with the same doubles.
function pap(user: string, password: string, from: PeerInfo = peer): AuthRequest {
  return { method: 'pap', user, password, peer: from }
}
function chap(user: string, password: string, identifier = 7): AuthRequest {
  const response = digest('md5', Buffer.from([identifier]), Buffer.from(password, 'utf8'), CHAP_CHALLENGE)
  return { method: 'chap-md5', user, identifier, challenge: CHAP_CHALLENGE, response, peer }
}
function mschap(user: string, password: string): AuthRequest {
  const name = user.slice(user.lastIndexOf('\\') + 1)
  const ntResponse = algorithms.generateNtResponse(AUTH_CHALLENGE, PEER_CHALLENGE, name, algorithms.ntPasswordHash(password))
  return { method: 'mschapv2', user, authenticatorChallenge: AUTH_CHALLENGE, peerChallenge: PEER_CHALLENGE, ntResponse, peer }
}
function expectedS(user: string, password: string): string {
  const hash = algorithms.ntPasswordHash(password)
  const ntResponse = algorithms.generateNtResponse(AUTH_CHALLENGE, PEER_CHALLENGE, user, hash)
  return algorithms.generateAuthenticatorResponse(hash, ntResponse, PEER_CHALLENGE, AUTH_CHALLENGE, user)
}

const ntHashHex = (password: string) => algorithms.ntPasswordHash(password).toString('hex')

function accepted(t: { true(v: boolean, m?: string): void }, result: AuthResult, what = ''): AuthSuccess {
  t.true('ok' in result && result.ok, `${what}: expected success, got ${JSON.stringify(result)}`)
  return result as AuthSuccess
}
function refused(t: { true(v: boolean, m?: string): void }, result: AuthResult, what = ''): AuthFailure {
  t.true('ok' in result && !result.ok, `${what}: expected failure, got ${JSON.stringify(result)}`)
  return result as AuthFailure
}
/** What PPP puts on the wire for a failure. */
function outward(result: AuthResult): unknown {
  const { reason: _reason, detail: _detail, ...rest } = result as AuthFailure
  return rest
}

const USERS: LocalUser[] = [
  { user: 'alice', password: 'correct horse', address: '192.168.42.50', rateBps: 10_000_000 },
  { user: 'bob', ntHash: ntHashHex('bob secret'), methods: ['mschapv2', 'pap'] },
  { user: 'carol', password: 'carol pw', methods: ['mschapv2'] },
  { user: 'dave', password: 'dave pw', disabled: true },
]

function local(): LocalUsersAuthenticator {
  return new LocalUsersAuthenticator({ users: USERS, algorithms })
}

// --- local users ---------------------------------------------------------------

test('local: PAP right and wrong, with a password and with only an NT hash', async (t) => {
  const auth = local()
  const ok = accepted(t, await auth.authenticate(pap('alice', 'correct horse')))
  t.deepEqual(ok, { ok: true, user: 'alice', policy: { address: '192.168.42.50', rateBps: 10_000_000 } })
  t.is(refused(t, await auth.authenticate(pap('alice', 'correct hors'))).reason, 'bad-password')
  t.is(refused(t, await auth.authenticate(pap('alice', 'correct horse '))).reason, 'bad-password')
  accepted(t, await auth.authenticate(pap('bob', 'bob secret')), 'NT-hash user, PAP')
  t.is(refused(t, await auth.authenticate(pap('bob', 'bob Secret'))).reason, 'bad-password')
  t.is(refused(t, await auth.authenticate(pap('bob', 'x'.repeat(300)))).reason, 'bad-password', 'a password the NT hash cannot take')
})

test('local: CHAP-MD5 right and wrong; an NT-hash-only user cannot use it', async (t) => {
  const auth = local()
  t.like(accepted(t, await auth.authenticate(chap('alice', 'correct horse'))), { user: 'alice' })
  t.is(refused(t, await auth.authenticate(chap('alice', 'wrong'))).reason, 'bad-password')
  // the right identifier matters (RFC 1994 4.1)
  const request = chap('alice', 'correct horse', 7)
  t.is(refused(t, await auth.authenticate({ ...request, identifier: 8 } as AuthRequest)).reason, 'bad-password')
  const nt = refused(t, await auth.authenticate(chap('bob', 'bob secret')))
  t.is(nt.reason, 'cannot-verify')
  t.regex(nt.detail ?? '', /CHAP-MD5 needs the clear password/)
  const short = refused(t, await auth.authenticate({ ...chap('alice', 'correct horse'), response: Buffer.alloc(15) } as AuthRequest))
  t.is(short.reason, 'malformed')
})

test('local: MS-CHAPv2 right (S= and MPPE keys) and wrong; NT-hash-only users work', async (t) => {
  const auth = local()
  const ok = accepted(t, await auth.authenticate(mschap('alice', 'correct horse')))
  t.is(ok.authenticatorResponse, expectedS('alice', 'correct horse'))
  t.regex(ok.authenticatorResponse!, /^S=[0-9A-F]{40}$/)
  t.is(ok.mppeKeys?.send.length, 16)
  const wrong = refused(t, await auth.authenticate(mschap('alice', 'nope')))
  t.like(wrong, { reason: 'bad-password', code: 691, retry: false })
  t.is(accepted(t, await auth.authenticate(mschap('bob', 'bob secret'))).authenticatorResponse, expectedS('bob', 'bob secret'))
  t.is(refused(t, await auth.authenticate(mschap('bob', 'bob secreT'))).reason, 'bad-password')
  const bad = mschap('alice', 'correct horse') as Extract<AuthRequest, { method: 'mschapv2' }>
  t.is(refused(t, await auth.authenticate({ ...bad, ntResponse: bad.ntResponse.subarray(0, 23) })).reason, 'malformed')
})

test('local: "DOMAIN\\\\user" from Windows finds the user; the MS-CHAPv2 hash uses the bare name', async (t) => {
  const auth = local()
  const ok = accepted(t, await auth.authenticate(mschap('CORP\\alice', 'correct horse')))
  t.is(ok.user, 'alice')
  t.is(ok.authenticatorResponse, expectedS('alice', 'correct horse'))
  accepted(t, await auth.authenticate(pap('CORP\\alice', 'correct horse')))
  const strict = new LocalUsersAuthenticator({ users: USERS, algorithms, stripDomain: false })
  t.is(refused(t, await strict.authenticate(pap('CORP\\alice', 'correct horse'))).reason, 'unknown-user')
})

test('local: an unknown user and a wrong password look the same from outside, and cost the same', async (t) => {
  const calls: string[] = []
  const auth = new LocalUsersAuthenticator({ users: USERS, algorithms: makeAlgorithms(calls) })
  const pairs: [AuthRequest, AuthRequest][] = [
    [pap('mallory', 'correct horse'), pap('alice', 'wrong')],
    [chap('mallory', 'correct horse'), chap('alice', 'wrong')],
    [mschap('mallory', 'correct horse'), mschap('alice', 'wrong')],
    [chap('mallory', 'x'), chap('bob', 'bob secret')], // NT-hash-only + CHAP-MD5 must not reveal bob either
  ]
  for (const [unknown, wrong] of pairs) {
    calls.length = 0
    const a = refused(t, await auth.authenticate(unknown))
    const unknownCalls = [...calls]
    calls.length = 0
    const b = refused(t, await auth.authenticate(wrong))
    t.is(a.reason, 'unknown-user')
    t.not(b.reason, 'unknown-user')
    t.deepEqual(outward(a), outward(b), unknown.method)
    t.deepEqual(outward(a), { ok: false, retry: false, code: 691, message: GENERIC_FAILURE_MESSAGE })
    if (wrong.user !== 'bob') t.deepEqual(unknownCalls, calls, `${unknown.method}: same algorithm calls`)
  }
})

test('local: disabled accounts and per-user methods answer specifically only after the right credentials', async (t) => {
  const auth = local()
  t.like(refused(t, await auth.authenticate(pap('dave', 'dave pw'))), { reason: 'disabled', code: 647 })
  t.like(refused(t, await auth.authenticate(pap('dave', 'wrong'))), { reason: 'bad-password', code: 691, message: GENERIC_FAILURE_MESSAGE })
  t.like(refused(t, await auth.authenticate(pap('carol', 'carol pw'))), { reason: 'method-not-allowed', code: 649 })
  t.like(refused(t, await auth.authenticate(pap('carol', 'wrong'))), { reason: 'bad-password', code: 691 })
  accepted(t, await auth.authenticate(mschap('carol', 'carol pw')))
})

/** EAP packets as a peer sends them (RFC 3748 4.1): Code 2, Identifier, Length, Type, Type-Data. */
function eapResponse(identifier: number, type: number, typeData: Buffer): Buffer {
  return Buffer.concat([Buffer.from([2, identifier, 0, 5 + typeData.length, type]), typeData])
}

test('local: EAP-MD5, an MD5-Challenge for the Identity, then the CHAP-MD5 value of RFC 3748 5.4 decides', async (t) => {
  const auth = local()
  const round = async (user: string, password: string | undefined, nak = false): Promise<AuthResult> => {
    const first = await auth.authenticate({ method: 'eap', user, eapMessage: eapResponse(7, 1, Buffer.from(user)), peer })
    t.true('challenge' in first, JSON.stringify(first))
    const { eapMessage, state } = first as { eapMessage: Buffer; state: Buffer }
    // Request/MD5-Challenge: Code 1, Identifier 8, Type 4, Value-Size 16, Value, Name
    t.deepEqual([eapMessage[0], eapMessage[1], eapMessage.readUInt16BE(2), eapMessage[4], eapMessage[5]], [1, 8, eapMessage.length, 4, 16])
    t.is(eapMessage.subarray(22).toString(), 'l2tp-ipsec')
    const value = eapMessage.subarray(6, 22)
    const answer = nak
      ? eapResponse(8, 3, Buffer.from([26]))
      : eapResponse(8, 4, Buffer.concat([Buffer.from([16]), digest('md5', Buffer.from([8]), Buffer.from(password!, 'utf8'), value), Buffer.from(user)]))
    return auth.authenticate({ method: 'eap', user, eapMessage: answer, state, peer })
  }
  t.like(accepted(t, await round('alice', 'correct horse')), { user: 'alice', policy: { address: '192.168.42.50' } })
  const wrong = refused(t, await round('alice', 'wrong'))
  t.is(wrong.reason, 'bad-password')
  const unknown = refused(t, await round('nobody', 'wrong'))
  t.is(unknown.reason, 'unknown-user')
  t.deepEqual(outward(unknown), outward(wrong), 'an unknown user looks like a wrong password')
  t.is(refused(t, await round('bob', 'bob secret')).reason, 'cannot-verify', 'an NT hash cannot check MD5')
  t.like(refused(t, await round('carol', 'carol pw')), { reason: 'method-not-allowed', code: 649 })
  t.like(refused(t, await round('dave', 'dave pw')), { reason: 'disabled', code: 647 })
  t.is(refused(t, await round('alice', undefined, true)).reason, 'unsupported-method', 'a peer that Naks MD5 (asking for MS-CHAPv2, 26)')
  // Out of sequence or forged: a Response that answers no Challenge of ours, or with another Identifier.
  t.is(refused(t, await auth.authenticate({ method: 'eap', user: 'alice', eapMessage: eapResponse(8, 4, Buffer.alloc(17, 16)), peer })).reason, 'malformed')
  const first = await auth.authenticate({ method: 'eap', user: 'alice', eapMessage: eapResponse(7, 1, Buffer.from('alice')), peer })
  const state = (first as { state: Buffer }).state
  t.is(refused(t, await auth.authenticate({ method: 'eap', user: 'alice', eapMessage: eapResponse(9, 4, Buffer.alloc(17, 16)), state, peer })).reason, 'malformed')
  t.is(refused(t, await auth.authenticate({ method: 'eap', user: 'alice', eapMessage: Buffer.from([2, 1, 0, 9, 1]), peer })).reason, 'malformed', 'Length past the packet')
})

test('local: results carry a copy of the policy and never a secret', async (t) => {
  const auth = local()
  const first = accepted(t, await auth.authenticate(pap('bob', 'bob secret')))
  t.deepEqual(first.policy, { methods: ['mschapv2', 'pap'] })
  first.policy.methods!.push('chap-md5')
  t.deepEqual(accepted(t, await auth.authenticate(pap('bob', 'bob secret'))).policy, { methods: ['mschapv2', 'pap'] })
  t.false(JSON.stringify(first).includes(ntHashHex('bob secret')))
})

test('local: configuration mistakes throw AuthError naming the user; reload is all or nothing', async (t) => {
  const code = (users: LocalUser[]) => t.throws(() => new LocalUsersAuthenticator({ users, algorithms }), { instanceOf: AuthError })?.code
  t.is(code([{ user: '', password: 'x' }]), 'AUTH_BAD_USER')
  t.is(code([{ user: 'a', password: 'x' }, { user: 'a', password: 'y' }]), 'AUTH_BAD_USER')
  t.is(code([{ user: 'a' }]), 'AUTH_NO_SECRET')
  t.is(code([{ user: 'a', ntHash: 'abc' }]), 'AUTH_BAD_NT_HASH')
  t.is(code([{ user: 'a', password: 'x', ntHash: ntHashHex('y') }]), 'AUTH_SECRET_MISMATCH')
  t.is(code([{ user: 'a', password: 'x', methods: ['telnet' as 'pap'] }]), 'AUTH_BAD_OPTION')
  new LocalUsersAuthenticator({ users: [{ user: 'a', password: 'x', ntHash: ntHashHex('x') }], algorithms })

  const auth = local()
  t.throws(() => auth.reload([{ user: 'zed', password: 'z' }, { user: 'zed', password: 'z' }]))
  t.true(auth.has('alice'))
  auth.reload([{ user: 'zed', password: 'z' }])
  t.false(auth.has('alice'))
  accepted(t, await auth.authenticate(pap('zed', 'z')))
})

// --- callback -------------------------------------------------------------------

function errors(): { events: CallbackErrorEvent[]; onError: (e: CallbackErrorEvent) => void } {
  const events: CallbackErrorEvent[] = []
  return { events, onError: (e) => events.push(e) }
}

test('callback: accept with a policy, reject with a reason, and what the callback is shown', async (t) => {
  const seen: CallbackRequest[] = []
  const auth = new CallbackAuthenticator({
    callback: async (request) => {
      seen.push(request)
      if (request.user === 'alice' && request.password === 'pw') return { accept: true, policy: { address: '10.0.0.9', sessionTimeout: 3600 }, message: 'hi' }
      return { accept: false, reason: 'not in LDAP group vpn', message: 'Ask IT', code: 649 }
    },
  })
  t.deepEqual(await auth.authenticate(pap('alice', 'pw')), { ok: true, user: 'alice', policy: { address: '10.0.0.9', sessionTimeout: 3600 }, message: 'hi' })
  t.deepEqual(await auth.authenticate(pap('alice', 'no')), { ok: false, reason: 'rejected', detail: 'not in LDAP group vpn', retry: false, code: 649, message: 'Ask IT' })
  t.deepEqual(seen[0], { method: 'pap', user: 'alice', peer, password: 'pw' })
  await auth.authenticate(chap('alice', 'pw'))
  t.like(seen[2], { method: 'chap-md5', user: 'alice', chap: { identifier: 7, challenge: CHAP_CHALLENGE } })
  t.is(seen[2]!.password, undefined)
})

test('callback: a throw (sync or async) or nonsense is a logged rejection, never a crash', async (t) => {
  const log = errors()
  const make = (callback: () => unknown) => new CallbackAuthenticator({ callback: callback as never, onError: log.onError })
  t.like(await make(() => { throw new Error('db down') }).authenticate(pap('a', 'b')), { ok: false, reason: 'callback-error', code: 691, message: GENERIC_FAILURE_MESSAGE })
  t.like(await make(async () => { throw new Error('db down') }).authenticate(pap('a', 'b')), { ok: false, reason: 'callback-error' })
  t.like(await make(() => Promise.reject('a string')).authenticate(pap('a', 'b')), { ok: false, reason: 'callback-error' })
  for (const nonsense of [null, undefined, 42, {}, { accept: 'yes' }, { accept: true, policy: 'x' }, { password: 5 }, { ntHash: 'zz' }, { challenge: Buffer.alloc(4) }]) {
    t.like(await make(() => nonsense).authenticate(pap('a', 'b')), { ok: false, reason: 'callback-error' }, JSON.stringify(nonsense))
  }
  t.deepEqual(log.events.map((e) => e.kind), ['threw', 'threw', 'threw', ...new Array(9).fill('invalid')])
  t.is(log.events[0]!.user, 'a')
  // a logger that throws changes nothing
  const noisy = new CallbackAuthenticator({ callback: () => { throw new Error('x') }, onError: () => { throw new Error('log down') } })
  t.like(await noisy.authenticate(pap('a', 'b')), { ok: false, reason: 'callback-error' })
})

test('callback: a deadline turns silence into reason "timeout" and aborts the signal', async (t) => {
  const log = errors()
  let signal: AbortSignal | undefined
  let late: ((value: { accept: true }) => void) | undefined
  const auth = new CallbackAuthenticator({
    timeoutMs: 50,
    onError: log.onError,
    callback: (_request, context) => {
      signal = context.signal
      return new Promise((resolve) => { late = resolve })
    },
  })
  const started = Date.now()
  const result = await auth.authenticate(pap('alice', 'pw'))
  t.like(result, { ok: false, reason: 'timeout', message: GENERIC_FAILURE_MESSAGE })
  t.true(Date.now() - started >= 45)
  t.true(signal?.aborted)
  t.is(log.events[0]?.kind, 'timeout')
  late?.({ accept: true }) // too late: nothing happens
  // a fast answer clears its timer (the test would hang on a leaked one only if it were ref'd; check the result)
  const fast = new CallbackAuthenticator({ timeoutMs: 10_000, callback: () => ({ accept: true }) })
  t.like(await fast.authenticate(pap('alice', 'pw')), { ok: true })
})

test('callback: returning the password lets us verify CHAP-MD5 and MS-CHAPv2', async (t) => {
  const secrets: Record<string, string> = { alice: 'pw-a' }
  const auth = new CallbackAuthenticator({
    algorithms,
    callback: ({ user }) => {
      const name = user.slice(user.lastIndexOf('\\') + 1) // the service strips "DOMAIN\" itself
      return name in secrets ? { password: secrets[name]!, policy: { rateBps: 1000 } } : { accept: false, reason: 'no such user' }
    },
  })
  t.deepEqual(await auth.authenticate(chap('alice', 'pw-a')), { ok: true, user: 'alice', policy: { rateBps: 1000 } })
  t.like(refused(t, await auth.authenticate(chap('alice', 'pw-b'))), { reason: 'bad-password', code: 691, message: GENERIC_FAILURE_MESSAGE })
  const ms = accepted(t, await auth.authenticate(mschap('CORP\\alice', 'pw-a')))
  t.is(ms.authenticatorResponse, expectedS('alice', 'pw-a'))
  t.is(ms.user, 'alice')
  accepted(t, await auth.authenticate(pap('alice', 'pw-a')))
  t.is(refused(t, await auth.authenticate(pap('alice', 'pw-x'))).reason, 'bad-password')
})

test('callback: returning an NT hash works for MS-CHAPv2 and PAP, not CHAP-MD5', async (t) => {
  const auth = new CallbackAuthenticator({ algorithms, callback: () => ({ ntHash: ntHashHex('pw-a') }) })
  t.is(accepted(t, await auth.authenticate(mschap('alice', 'pw-a'))).authenticatorResponse, expectedS('alice', 'pw-a'))
  accepted(t, await auth.authenticate(pap('alice', 'pw-a')))
  t.is(refused(t, await auth.authenticate(chap('alice', 'pw-a'))).reason, 'cannot-verify')
  const buffer = new CallbackAuthenticator({ algorithms, callback: () => ({ ntHash: algorithms.ntPasswordHash('pw-a') }) })
  accepted(t, await buffer.authenticate(mschap('alice', 'pw-a')))
  // without the algorithms only PAP against a clear password can be checked
  const bare = new CallbackAuthenticator({ callback: () => ({ password: 'pw-a' }), onError: () => {} })
  accepted(t, await bare.authenticate(pap('alice', 'pw-a')))
  t.is(refused(t, await bare.authenticate(chap('alice', 'pw-a'))).reason, 'callback-error')
})

test('callback: an MS-CHAPv2 accept must carry the S= response; EAP challenges pass through', async (t) => {
  const log = errors()
  const selfVerified = new CallbackAuthenticator({ onError: log.onError, callback: () => ({ accept: true, authenticatorResponse: `S=${'AB'.repeat(20)}` }) })
  t.like(await selfVerified.authenticate(mschap('alice', 'x')), { ok: true, authenticatorResponse: `S=${'AB'.repeat(20)}` })
  const forgetful = new CallbackAuthenticator({ onError: log.onError, callback: () => ({ accept: true }) })
  t.like(await forgetful.authenticate(mschap('alice', 'x')), { ok: false, reason: 'callback-error' })
  t.is(log.events[0]?.kind, 'invalid')

  const eap = new CallbackAuthenticator({
    callback: ({ eap: e }) => (e?.state ? { accept: true, user: 'alice' } : { challenge: Buffer.from([1, 2, 0, 6, 4, 16]), state: Buffer.from('s1') }),
  })
  const first = await eap.authenticate({ method: 'eap', eapMessage: Buffer.from([2, 1, 0, 10, 1, 97, 108, 105, 99, 101]), peer })
  t.deepEqual(first, { challenge: true, eapMessage: Buffer.from([1, 2, 0, 6, 4, 16]), state: Buffer.from('s1') })
  t.like(await eap.authenticate({ method: 'eap', user: 'alice', eapMessage: Buffer.from([2, 2, 0, 6, 4, 16]), state: Buffer.from('s1'), peer }), { ok: true, user: 'alice' })
})

// --- limiter --------------------------------------------------------------------

const HOME = '203.0.113.10'
const ATTACKER = '192.0.2.66'

test('limiter: exponential back-off, then lock-out, timed by the injected clock', (t) => {
  const events: LimiterEvent[] = []
  const limiter = new AuthLimiter({ maxFailures: 5, baseDelay: 1, maxDelay: 60, lockout: 900, onEvent: (e) => events.push(e) })
  t.deepEqual(limiter.check('alice', ATTACKER, 0), { allowed: true })
  t.deepEqual(limiter.recordFailure('alice', ATTACKER, 0), { allowed: false, reason: 'backoff', lockedUntil: 1 })
  t.deepEqual(limiter.check('alice', ATTACKER, 0.5), { allowed: false, reason: 'backoff', lockedUntil: 1 })
  t.deepEqual(limiter.check('alice', ATTACKER, 1), { allowed: true })
  t.like(limiter.recordFailure('alice', ATTACKER, 1), { lockedUntil: 3 })
  t.like(limiter.recordFailure('alice', ATTACKER, 3), { lockedUntil: 7 })
  t.like(limiter.recordFailure('alice', ATTACKER, 7), { lockedUntil: 15 })
  t.deepEqual(limiter.recordFailure('alice', ATTACKER, 15), { allowed: false, reason: 'locked-out', lockedUntil: 915 })
  t.like(limiter.check('alice', ATTACKER, 914), { allowed: false, reason: 'locked-out' })
  t.deepEqual(limiter.check('alice', ATTACKER, 915), { allowed: true })
  t.deepEqual(events.map((e) => e.type), ['failure', 'blocked', 'failure', 'failure', 'failure', 'lockout', 'blocked'])
  t.like(events[5], { type: 'lockout', user: 'alice', source: ATTACKER, failures: 5, lockedUntil: 915 })
  // the back-off is capped
  const capped = new AuthLimiter({ maxFailures: 100, baseDelay: 1, maxDelay: 10 })
  let decision = capped.recordFailure('u', HOME, 0)
  for (let i = 1; i < 20; i++) decision = capped.recordFailure('u', HOME, i * 100)
  t.like(decision, { lockedUntil: 1900 + 10 })
})

test('limiter: a stranger locks only their own pair; the user from home and other users are unaffected', (t) => {
  const limiter = new AuthLimiter({ maxFailures: 3 })
  for (let i = 0; i < 3; i++) limiter.recordFailure('alice', ATTACKER, i * 100)
  t.like(limiter.check('alice', ATTACKER, 300), { allowed: false, reason: 'locked-out' })
  t.deepEqual(limiter.check('alice', HOME, 300), { allowed: true })
  t.deepEqual(limiter.check('bob', ATTACKER, 300), { allowed: true })
  // names are folded: the stranger cannot dodge the lock by spelling
  t.like(limiter.check('ALICE', ATTACKER, 300), { allowed: false })
  t.like(limiter.check('CORP\\alice', ATTACKER, 300), { allowed: false })
  t.is(normalizeUser('CORP\\Alice'), 'alice')
})

test('limiter: success resets the pair; failures older than the window are forgotten', (t) => {
  const events: LimiterEvent[] = []
  const limiter = new AuthLimiter({ maxFailures: 3, window: 60, onEvent: (e) => events.push(e) })
  limiter.recordFailure('alice', HOME, 0)
  limiter.recordFailure('alice', HOME, 10)
  limiter.recordSuccess('alice', HOME, 20)
  t.like(events.at(-1), { type: 'reset', failures: 2 })
  t.deepEqual(limiter.check('alice', HOME, 20), { allowed: true })
  t.like(limiter.recordFailure('alice', HOME, 30), { reason: 'backoff', lockedUntil: 31 }, 'back to the first delay')
  // spaced beyond the window, failures never reach the lock-out
  const slow = new AuthLimiter({ maxFailures: 3, window: 60 })
  for (let i = 0; i < 10; i++) t.like(slow.recordFailure('alice', HOME, i * 61), { reason: 'backoff' })
})

test('limiter: a per-source ceiling across users, expiring, not reset by a success', (t) => {
  const events: LimiterEvent[] = []
  const limiter = new AuthLimiter({ maxFailures: 5, sourceMaxFailures: 10, sourceLockout: 600, onEvent: (e) => events.push(e) })
  for (let i = 0; i < 9; i++) limiter.recordFailure(`user${i}`, ATTACKER, i)
  limiter.recordSuccess('valid', ATTACKER, 9)
  t.deepEqual(limiter.check('fresh', ATTACKER, 9), { allowed: true })
  t.like(limiter.recordFailure('user9', ATTACKER, 10), { allowed: false, reason: 'source-limit', lockedUntil: 610 })
  t.like(limiter.check('fresh', ATTACKER, 11), { allowed: false, reason: 'source-limit', lockedUntil: 610 })
  t.deepEqual(limiter.check('fresh', HOME, 11), { allowed: true })
  t.deepEqual(limiter.check('fresh', ATTACKER, 610), { allowed: true })
  t.like(events.find((e) => e.type === 'source-lockout'), { source: ATTACKER, failures: 10, lockedUntil: 610 })
})

test('limiter: IPv6 sources are grouped by /64; IPv4-mapped addresses are IPv4', (t) => {
  t.is(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2:0:0:0:0/64')
  t.is(sourceKey('2001:DB8:1:2::ffff'), '2001:db8:1:2:0:0:0:0/64')
  t.is(sourceKey('2001:db8:1:2::1', 48), '2001:db8:1:0:0:0:0:0/48')
  t.is(sourceKey('::ffff:192.0.2.66'), '192.0.2.66')
  t.is(sourceKey('fe80::1%eth0'), 'fe80:0:0:0:0:0:0:0/64')
  t.is(sourceKey('192.0.2.66'), '192.0.2.66')
  const limiter = new AuthLimiter({ maxFailures: 2 })
  limiter.recordFailure('alice', '2001:db8:1:2::1', 0)
  limiter.recordFailure('alice', '2001:db8:1:2::9999', 10)
  t.like(limiter.check('alice', '2001:db8:1:2:1234::5', 20), { allowed: false, reason: 'locked-out' })
  t.deepEqual(limiter.check('alice', '2001:db8:1:3::1', 20), { allowed: true })
})

test('limiter: memory stays bounded under a flood of distinct pairs; expired entries are swept', (t) => {
  const evicted: LimiterEvent[] = []
  const limiter = new AuthLimiter({ maxPairs: 1000, maxSources: 200, window: 60, lockout: 60, onEvent: (e) => { if (e.type === 'evicted') evicted.push(e) } })
  for (let i = 0; i < 20_000; i++) limiter.recordFailure(`user${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i / 1000)
  t.deepEqual(limiter.size(), { pairs: 1000, sources: 200 })
  t.true(evicted.length >= 19_000 + 19_800)
  // long after, ordinary traffic sweeps the stale entries away a few at a time
  for (let i = 0; i < 400; i++) limiter.recordFailure('late', '192.0.2.1', 10_000 + i * 0.001)
  t.true(limiter.size().pairs < 10, JSON.stringify(limiter.size()))
})

// --- limiter in front of an authenticator ----------------------------------------------

test('limited authenticator: guesses lock the (user, attacker) pair only; refusals look like a wrong password', async (t) => {
  let now = 1000
  let innerCalls = 0
  const inner = local()
  const counting: Authenticator = { authenticate: (r) => { innerCalls++; return inner.authenticate(r) } }
  const auth = new LimitedAuthenticator({ authenticator: counting, limiter: new AuthLimiter({ maxFailures: 3, baseDelay: 1 }), clock: () => now })
  const attacker: PeerInfo = { address: ATTACKER, port: 4500 }
  const home: PeerInfo = { address: HOME, port: 4500 }
  for (let i = 0; i < 3; i++) {
    t.is(refused(t, await auth.authenticate(pap('alice', `guess${i}`, attacker))).reason, 'bad-password')
    now += 10
  }
  innerCalls = 0
  const locked = refused(t, await auth.authenticate(pap('alice', 'correct horse', attacker)))
  t.is(locked.reason, 'locked-out')
  t.is(innerCalls, 0, 'the right password is not even looked at while locked')
  const wrong = refused(t, await auth.authenticate(pap('alice', 'nope', home)))
  t.deepEqual(outward(locked), outward(wrong))
  // alice from home: one wrong, then right; the success clears her back-off
  now += 1
  accepted(t, await auth.authenticate(pap('alice', 'correct horse', home)))
  accepted(t, await auth.authenticate(pap('alice', 'correct horse', home)))
  // back-off: an immediate retry after a failure is refused without verification
  t.is(refused(t, await auth.authenticate(pap('bob', 'x', home))).reason, 'bad-password')
  t.is(refused(t, await auth.authenticate(pap('bob', 'bob secret', home))).reason, 'backoff')
  now += 1
  accepted(t, await auth.authenticate(pap('bob', 'bob secret', home)))
})

test('limited authenticator: our own outages (timeouts, callback errors) are not counted', async (t) => {
  let now = 0
  const limiter = new AuthLimiter({ maxFailures: 2 })
  const auth = new LimitedAuthenticator({
    authenticator: new CallbackAuthenticator({ timeoutMs: 5, onError: () => {}, callback: () => new Promise(() => {}) }),
    limiter,
    clock: () => now,
  })
  for (let i = 0; i < 5; i++) {
    t.is(refused(t, await auth.authenticate(pap('alice', 'pw'))).reason, 'timeout')
    now += 1
  }
  t.deepEqual(limiter.size(), { pairs: 0, sources: 0 })
  const broken: Authenticator = { authenticate: () => Promise.reject(new Error('bug')) }
  const guarded = new LimitedAuthenticator({ authenticator: broken, limiter, clock: () => now })
  t.is(refused(t, await guarded.authenticate(pap('alice', 'pw'))).reason, 'internal-error')
})
