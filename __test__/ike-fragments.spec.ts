/**
 * IKEv1 fragmentation (lib/ike/fragments.ts): fragment messages built as
 * strongSwan builds them (src/libcharon/encoding/message.c `fragment`,
 * `create_fragment`), reassembly as strongSwan's `add_fragment_v1` with
 * limits, malformed input never throwing, and tshark reassembling and
 * dissecting our fragments.
 */
import test from 'ava'
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeMessage, encodeMessage, encodePlainMessage, findPayload } from '../lib/ike/codec.js'
import type { HeaderInput } from '../lib/ike/codec.js'
import { ExchangeType, Flag, PayloadType } from '../lib/ike/constants.js'
import {
  DEFAULT_REASSEMBLY_LIMITS,
  FRAGMENT_OVERHEAD,
  Reassembler,
  fragmentMessage,
  isFragment,
  maxIkeMessageSize,
} from '../lib/ike/fragments.js'
import type { ReassemblyResult } from '../lib/ike/fragments.js'
import { ipv4, udp } from './helpers/packets.js'
import { writePcap } from './helpers/pcap.js'
import { createTestPki } from './helpers/test-pki.js'

const PEER = '127.0.0.2:500'
const cookieI = Buffer.from('0102030405060708', 'hex')
const cookieR = Buffer.from('a1a2a3a4a5a6a7a8', 'hex')
const header: HeaderInput = { initiatorCookie: cookieI, responderCookie: cookieR, majorVersion: 1, minorVersion: 0, exchangeType: ExchangeType.MAIN, flags: Flag.ENCRYPTION, messageId: 0 }

/** An encrypted-looking ISAKMP message of exactly `length` bytes (>= 28), E flag set, first payload ID. */
function message(length: number, over: Partial<HeaderInput> = {}): Buffer {
  const body = crypto.randomBytes(length - 28)
  return encodeMessage({ ...header, ...over }, body, PayloadType.ID)
}

function feed(r: Reassembler, fragments: readonly Buffer[], peer = PEER, now = 0): ReassemblyResult[] {
  return fragments.map((f) => r.add(f, peer, now))
}

function completed(results: readonly ReassemblyResult[]): Buffer[] {
  return results.flatMap((r) => (r && 'complete' in r ? [r.complete] : []))
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}

// --- sending ------------------------------------------------------------

test('fragment messages carry the header fields strongSwan sends', (t) => {
  // strongSwan create_fragment/clone_message/create_header: cookies and
  // version copied, next payload 132, exchange type ID_PROT (AGGRESSIVE for
  // Aggressive Mode connections), flags 0 (E cleared: the fragment payload
  // is not encrypted), message ID 0, length of this datagram. Fragment
  // payload: next 0, reserved 0, length 8 + data, ID, number from 1, flags
  // 0x01 on the last only.
  const original = message(3000, { flags: Flag.ENCRYPTION | Flag.COMMIT })
  const fragments = fragmentMessage(original, 1, 548)
  t.is(fragments.length, Math.ceil(3000 / (548 - 36)))
  fragments.forEach((f, i) => {
    t.true(f.length <= 548)
    t.true(f.subarray(0, 8).equals(cookieI), 'initiator cookie')
    t.true(f.subarray(8, 16).equals(cookieR), 'responder cookie')
    t.is(f[16], 132, 'next payload FRAGMENT')
    t.is(f[17], 0x10, 'version 1.0')
    t.is(f[18], ExchangeType.MAIN, 'exchange type ID_PROT')
    t.is(f[19], 0, 'flags')
    t.is(f.readUInt32BE(20), 0, 'message ID')
    t.is(f.readUInt32BE(24), f.length, 'length')
    t.is(f[28], 0, 'fragment payload next payload NONE')
    t.is(f[29], 0, 'reserved')
    t.is(f.readUInt16BE(30), f.length - 28, 'payload length')
    t.is(f.readUInt16BE(32), 1, 'fragment ID')
    t.is(f[34], i + 1, 'fragment number')
    t.is(f[35], i === fragments.length - 1 ? 1 : 0, 'flags: last')
    // The codec reads the same thing.
    const decoded = decodeMessage(f)
    const payload = findPayload(decoded.payloads, PayloadType.FRAGMENT)
    t.truthy(payload)
    t.is(payload?.number, i + 1)
    t.is(payload?.last, i === fragments.length - 1)
    t.is(decoded.payloads.length, 1)
    t.true(isFragment(f))
  })
  // The data is the whole original datagram, ISAKMP header included.
  t.true(Buffer.concat(fragments.map((f) => f.subarray(36))).equals(original))
  t.true(fragments[0]!.subarray(36, 64).equals(original.subarray(0, 28)))
})

test('exchange type: Aggressive Mode stays AGGRESSIVE, Quick Mode becomes ID_PROT with message ID 0, or as told', (t) => {
  const aggressive = fragmentMessage(message(600, { exchangeType: ExchangeType.AGGRESSIVE, flags: 0 }), 1, 300)
  t.true(aggressive.every((f) => f[18] === ExchangeType.AGGRESSIVE))
  const quick = fragmentMessage(message(600, { exchangeType: ExchangeType.QUICK, messageId: 0x12345678 }), 7, 300)
  t.true(quick.every((f) => f[18] === ExchangeType.MAIN && f.readUInt32BE(20) === 0 && f.readUInt16BE(32) === 7))
  const told = fragmentMessage(message(600, { exchangeType: ExchangeType.QUICK }), 1, 300, { exchangeType: ExchangeType.AGGRESSIVE })
  t.true(told.every((f) => f[18] === ExchangeType.AGGRESSIVE))
})

test('a message that fits is returned unchanged, as strongSwan sends it unfragmented', (t) => {
  for (const length of [28, 99, 100]) {
    const m = message(length)
    const out = fragmentMessage(m, 1, 100)
    t.is(out.length, 1)
    t.is(out[0], m)
    t.false(isFragment(out[0]!))
  }
})

test('fragments stay within maxSize; sizes around the per-fragment capacity', (t) => {
  const maxSize = 100
  const capacity = maxSize - FRAGMENT_OVERHEAD // 64 bytes of data per fragment
  const cases = [maxSize + 1, 2 * capacity - 1, 2 * capacity, 2 * capacity + 1, 3 * maxSize + 7, 3 * capacity + 1, 255 * capacity]
  for (const length of cases) {
    const m = message(length)
    const fragments = fragmentMessage(m, 1, maxSize)
    t.is(fragments.length, Math.ceil(length / capacity), `${length} bytes`)
    t.true(fragments.every((f) => f.length <= maxSize), `${length} bytes: every fragment <= ${maxSize}`)
    t.true(fragments.slice(0, -1).every((f) => f.length === maxSize), `${length} bytes: all but the last full`)
    t.is(fragments.at(-1)!.length - FRAGMENT_OVERHEAD, length - (fragments.length - 1) * capacity)
    const r = new Reassembler({ maxFragments: 255, maxBytes: 1 << 20 })
    const done = completed(feed(r, fragments))
    t.is(done.length, 1)
    t.true(done[0]!.equals(m), `${length} bytes round trip`)
    t.is(r.pending, 0)
  }
})

test('realistic sizes: strongSwan fragment_size 1280 budget, 5000-byte message', (t) => {
  t.is(maxIkeMessageSize(), 1252)
  t.is(maxIkeMessageSize(1280, { nonEspMarker: true }), 1248)
  t.is(maxIkeMessageSize(1280, { ipv6: true }), 1232)
  t.is(maxIkeMessageSize(576, { nonEspMarker: true }), 544)
  const budget = maxIkeMessageSize(1280, { nonEspMarker: true })
  const m = message(5000)
  const fragments = fragmentMessage(m, 1, budget)
  t.is(fragments.length, Math.ceil(5000 / (budget - 36)))
  t.true(fragments.every((f) => f.length + 4 + 8 + 20 <= 1280))
  t.true(completed(feed(new Reassembler(), fragments))[0]!.equals(m))
})

test('fragmentMessage rejects bad arguments with RangeError', (t) => {
  const m = message(400)
  t.throws(() => fragmentMessage(m, 1, 36), { instanceOf: RangeError })
  t.throws(() => fragmentMessage(m, 1, 36.5), { instanceOf: RangeError })
  t.throws(() => fragmentMessage(m, -1, 100), { instanceOf: RangeError })
  t.throws(() => fragmentMessage(m, 0x10000, 100), { instanceOf: RangeError })
  t.throws(() => fragmentMessage(Buffer.alloc(10), 1, 100), { instanceOf: RangeError })
  t.throws(() => fragmentMessage(Buffer.concat([m, Buffer.alloc(1)]), 1, 100), { instanceOf: RangeError }, 'length field disagrees')
  t.throws(() => fragmentMessage(message(256 * 10), 1, 46), { instanceOf: RangeError }, 'more than 255 fragments')
  t.notThrows(() => fragmentMessage(message(255 * 10), 1, 46))
  t.throws(() => fragmentMessage(m, 1, 100, { exchangeType: 256 }), { instanceOf: RangeError })
})

test('isFragment looks at the header next payload only', (t) => {
  t.false(isFragment(Buffer.alloc(10)))
  t.false(isFragment(message(100)))
  t.true(isFragment(fragmentMessage(message(200), 1, 100)[0]!))
  const odd = message(100)
  odd[16] = 132
  t.true(isFragment(odd))
  t.false(isFragment('nope' as unknown as Buffer))
})

// --- reassembly ---------------------------------------------------------

test('every order of 4 fragments reassembles, exactly when the fourth arrives', (t) => {
  const m = message(4 * 64 - 10)
  const fragments = fragmentMessage(m, 1, 100)
  t.is(fragments.length, 4)
  for (const order of permutations([0, 1, 2, 3])) {
    const r = new Reassembler()
    const results = order.map((i) => r.add(fragments[i]!, PEER, 0))
    t.deepEqual(results.slice(0, 3), [undefined, undefined, undefined], order.join(','))
    const last = results[3]
    t.true(last !== undefined && 'complete' in last && last.complete.equals(m), order.join(','))
    t.is(r.pending, 0)
  }
})

test('duplicates are ignored; a late retransmission starts a new reassembly that expires', (t) => {
  const m = message(300)
  const fragments = fragmentMessage(m, 1, 100)
  const r = new Reassembler({ timeout: 30 })
  const stream = [fragments[0]!, fragments[0]!, fragments[2]!, fragments[1]!, fragments[2]!, fragments[0]!, ...fragments.slice(3)]
  const done = completed(feed(r, stream))
  t.is(done.length, 1)
  t.true(done[0]!.equals(m))
  t.is(r.stats.duplicate, 3)
  t.is(r.pending, 0)
  // A retransmitted fragment after completion: waits again, then expires.
  t.is(r.add(fragments[1]!, PEER, 5), undefined)
  t.is(r.pending, 1)
  r.expire(34.9)
  t.is(r.pending, 1)
  r.expire(35)
  t.is(r.pending, 0)
  // A full retransmission completes again (the IKE layer sees a retransmit).
  t.true(completed(feed(r, fragments, PEER, 40))[0]!.equals(m))
})

test('a missing fragment never completes and the reassembly expires', (t) => {
  const fragments = fragmentMessage(message(500), 1, 100)
  const r = new Reassembler({ timeout: 10 })
  const results = feed(r, fragments.filter((_, i) => i !== 2), PEER, 100)
  t.true(results.every((x) => x === undefined))
  t.is(r.pending, 1)
  r.expire(109)
  t.is(r.pending, 1)
  // add() expires too: the missing fragment arriving too late starts over alone.
  t.is(r.add(fragments[2]!, PEER, 110), undefined)
  t.is(r.pending, 1)
  t.is(r.stats.expired, 1)
  r.expire(120)
  t.is(r.pending, 0)
})

test('too many fragments: numbers above maxFragments are dropped, the message never completes', (t) => {
  const m = message(17 * 64)
  const fragments = fragmentMessage(m, 1, 100)
  t.is(fragments.length, 17)
  const r = new Reassembler({ maxFragments: 16 })
  const results = feed(r, fragments)
  t.deepEqual(results.slice(0, 16), new Array(16).fill(undefined))
  t.deepEqual(results[16], { dropped: 'fragment: too many fragments' })
  t.is(r.stats['fragment: too many fragments'], 1)
  t.is(DEFAULT_REASSEMBLY_LIMITS.maxFragments, 16)
  // Same message within the default limit of a wider reassembler.
  t.true(completed(feed(new Reassembler({ maxFragments: 17 }), fragments))[0]!.equals(m))
})

test('too many bytes: the whole reassembly is discarded (strongSwan reset_defrag)', (t) => {
  const fragments = fragmentMessage(message(400), 1, 100)
  const r = new Reassembler({ maxBytes: 200 })
  const results = feed(r, fragments)
  t.deepEqual(results.slice(0, 3), [undefined, undefined, undefined])
  t.deepEqual(results[3], { dropped: 'fragment: message too large' })
  t.is(r.pending, 1, 'the fifth fragment started a new reassembly, the old one is gone')
  t.deepEqual(results.slice(4), new Array(results.length - 4).fill(undefined))
  t.is(completed(results).length, 0)
  // Exactly at the limit is fine.
  const m = message(200)
  t.true(completed(feed(new Reassembler({ maxBytes: 200 }), fragmentMessage(m, 1, 100)))[0]!.equals(m))
})

test('too many pending: new messages are dropped once maxPending are in progress; memory stays bounded', (t) => {
  const r = new Reassembler({ maxPending: 4, timeout: 30 })
  const firsts = Array.from({ length: 10 }, () => fragmentMessage(message(300, { initiatorCookie: crypto.randomBytes(8) }), 1, 100)[0]!)
  const results = feed(r, firsts)
  t.deepEqual(results.slice(0, 4), [undefined, undefined, undefined, undefined])
  t.true(results.slice(4).every((x) => x !== undefined && 'dropped' in x && x.dropped === 'fragment: too many pending'))
  t.is(r.pending, 4)
  // Fragments of messages already in progress still get in.
  const inProgress = fragmentMessage(message(150), 1, 100)
  const r2 = new Reassembler({ maxPending: 1 })
  t.is(r2.add(inProgress[0]!, PEER, 0), undefined)
  t.deepEqual(r2.add(firsts[0]!, PEER, 0), { dropped: 'fragment: too many pending' })
  t.truthy(completed([r2.add(inProgress[1]!, PEER, 0), r2.add(inProgress[2]!, PEER, 0)])[0])
  // A flood from random cookies and peers never holds more than maxPending.
  const flood = new Reassembler({ maxPending: 8, maxFragments: 16 })
  for (let i = 0; i < 5000; i++) {
    const f = fragmentMessage(message(300, { initiatorCookie: crypto.randomBytes(8) }), i & 0xffff, 100)[i % 3]!
    flood.add(f, `10.0.${i & 255}.1:500`, i / 1000)
    t.true(flood.pending <= 8)
  }
  // After the timeout there is room again.
  r.expire(30)
  t.is(r.pending, 0)
  t.is(r.add(firsts[9]!, PEER, 30), undefined)
})

test('peers cannot mix fragments, even with the same cookies', (t) => {
  const m = message(300)
  const fragments = fragmentMessage(m, 1, 100)
  const r = new Reassembler()
  t.is(r.add(fragments[0]!, '127.0.0.2:500', 0), undefined)
  t.is(r.add(fragments[1]!, '127.0.0.2:500', 0), undefined)
  const rest = feed(r, fragments.slice(2), '127.0.0.3:500')
  t.is(completed(rest).length, 0)
  t.is(r.pending, 2)
  t.true(completed(feed(r, fragments.slice(2), '127.0.0.2:500'))[0]!.equals(m))
})

test('a new fragment ID from the same peer and cookies replaces the older incomplete message', (t) => {
  const old = fragmentMessage(message(300), 1, 100)
  const m = message(300)
  const fresh = fragmentMessage(m, 2, 100)
  const r = new Reassembler()
  feed(r, old.slice(0, 3))
  t.is(r.pending, 1)
  const results = feed(r, fresh)
  t.true(completed(results)[0]!.equals(m))
  t.is(r.pending, 0)
  t.is(r.stats.replaced, 1)
  // The rest of the old one now starts its own reassembly, which cannot complete.
  t.is(completed(feed(r, old.slice(3))).length, 0)
})

test('the same number with other data starts over instead of splicing two messages (every sender uses ID 1)', (t) => {
  const a = fragmentMessage(message(300), 1, 100)
  const m = message(250)
  const b = fragmentMessage(m, 1, 100)
  const r = new Reassembler()
  feed(r, [a[0]!, a[1]!])
  const results = feed(r, b)
  t.deepEqual(completed(results).map((x) => x.equals(m)), [true])
  t.is(r.stats.replaced, 1)
})

test('the last flag fixes the count: numbers beyond it and a second, different last are dropped', (t) => {
  const m = message(200)
  const fragments = fragmentMessage(m, 1, 100) // 4 fragments, last = 4
  const r = new Reassembler()
  t.is(r.add(fragments[3]!, PEER, 0), undefined)
  const beyond = Buffer.from(fragments[1]!)
  beyond[34] = 5
  t.deepEqual(r.add(beyond, PEER, 0), { dropped: 'fragment: number beyond last' })
  const secondLast = Buffer.from(fragments[1]!)
  secondLast[35] = 1
  t.deepEqual(r.add(secondLast, PEER, 0), { dropped: 'fragment: conflicting last' })
  t.true(completed(feed(r, fragments.slice(0, 3)))[0]!.equals(m))
  // A last flag below a number already held conflicts too.
  const r2 = new Reassembler()
  t.is(r2.add(fragments[2]!, PEER, 0), undefined)
  const early = Buffer.from(fragments[1]!)
  early[35] = 1
  t.deepEqual(r2.add(early, PEER, 0), { dropped: 'fragment: conflicting last' })
})

test('malformed fragments are dropped with a reason, never thrown', (t) => {
  const good = fragmentMessage(message(300), 1, 100)[0]!
  const r = new Reassembler()
  const mutate = (fn: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good)
    fn(b)
    return b
  }
  const cases: [string, Buffer, string][] = [
    ['empty', Buffer.alloc(0), 'fragment: malformed header'],
    ['short', good.subarray(0, 20), 'fragment: malformed header'],
    ['not a fragment', message(100), 'fragment: not a fragment message'],
    ['major version 2', mutate((b) => (b[17] = 0x20)), 'fragment: malformed header'],
    ['header length beyond datagram', mutate((b) => b.writeUInt32BE(b.length + 1, 24)), 'fragment: malformed header'],
    ['no fragment payload', mutate((b) => b.writeUInt32BE(28, 24)).subarray(0, 28), 'fragment: truncated payload'],
    ['fragment payload header cut', mutate((b) => b.writeUInt32BE(34, 24)).subarray(0, 34), 'fragment: truncated payload'],
    ['payload length below 8', mutate((b) => b.writeUInt16BE(7, 30)), 'fragment: bad payload length'],
    ['payload length beyond message', mutate((b) => b.writeUInt16BE(b.length - 27, 30)), 'fragment: bad payload length'],
    ['another payload follows', mutate((b) => (b[28] = PayloadType.VENDOR_ID)), 'fragment: payload not alone'],
    ['number 0', mutate((b) => (b[34] = 0)), 'fragment: number 0'],
    ['number 200', mutate((b) => (b[34] = 200)), 'fragment: too many fragments'],
  ]
  for (const [what, datagram, reason] of cases) {
    t.deepEqual(r.add(datagram, PEER, 0), { dropped: reason }, what)
  }
  t.is(r.pending, 0)
  t.deepEqual(r.add(null as unknown as Buffer, PEER, 0), { dropped: 'fragment: malformed header' })
  // Trailing bytes after the header length are ignored (as the codec does), and the E flag (racoon) too.
  const trailing = Buffer.concat([mutate((b) => (b[19] = Flag.ENCRYPTION)), Buffer.alloc(16)])
  t.is(r.add(trailing, PEER, 0), undefined)
})

test('a reassembled datagram that is not an ISAKMP message of the same cookies is dropped', (t) => {
  const forge = (data: Buffer): Buffer[] => {
    // Fragments whose data is not a message: build them by hand.
    const halves = [data.subarray(0, 20), data.subarray(20)]
    return halves.map((h, i) => {
      const f = encodePlainMessage({ ...header, flags: 0 }, [{ type: PayloadType.FRAGMENT, fragmentId: 1, number: i + 1, last: i === 1, data: h }])
      return f
    })
  }
  const r = new Reassembler()
  const garbage = forge(crypto.randomBytes(40))
  t.deepEqual(feed(r, garbage)[1], { dropped: 'fragment: reassembled message malformed' })
  const otherCookies = forge(message(60, { initiatorCookie: Buffer.alloc(8, 9) }))
  t.deepEqual(feed(r, otherCookies)[1], { dropped: 'fragment: reassembled message malformed' })
  const nested = message(60)
  nested[16] = PayloadType.FRAGMENT
  t.deepEqual(feed(r, forge(nested))[1], { dropped: 'fragment: reassembled message malformed' })
  t.is(r.pending, 0)
  t.true(completed(feed(r, forge(message(60)))).length === 1)
})

test('fuzz: random mutations of fragments never throw and never exceed the limits', (t) => {
  const limits = { maxFragments: 8, maxBytes: 1000, maxPending: 5, timeout: 10 }
  const r = new Reassembler(limits)
  const base = fragmentMessage(message(500), 1, 100)
  let seed = 12345
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return seed % n
  }
  for (let i = 0; i < 20000; i++) {
    const f = Buffer.from(base[rand(base.length)]!)
    const flips = rand(4)
    for (let k = 0; k < flips; k++) f[rand(f.length)] = rand(256)
    const cut = rand(5) === 0 ? f.subarray(0, rand(f.length + 1)) : f
    const out = r.add(cut, `peer${rand(3)}`, i / 1000)
    if (out && 'complete' in out) t.true(out.complete.length <= limits.maxBytes)
    if (r.pending > limits.maxPending) t.fail(`pending ${r.pending}`)
  }
  t.pass()
})

test('limits: defaults and validation', (t) => {
  t.deepEqual(new Reassembler().limits, { maxFragments: 16, maxBytes: 65536, maxPending: 32, timeout: 30 })
  t.deepEqual(new Reassembler({ maxPending: 2 }).limits, { ...DEFAULT_REASSEMBLY_LIMITS, maxPending: 2 })
  t.throws(() => new Reassembler({ maxBytes: -1 }), { instanceOf: RangeError })
  t.throws(() => new Reassembler({ timeout: Number.NaN }), { instanceOf: RangeError })
})

// --- interop ------------------------------------------------------------

test('tshark reassembles our fragments (ports 500 and 4500) and dissects the original without malformed expert info', (t) => {
  // tshark is a test dependency (.ci/run installs it): without it this fails.
  const pki = createTestPki()
  let serverCert: string
  try {
    serverCert = pki.issue('server', '/CN=vpn.example.test', 'DNS:vpn.example.test').cert
  } finally {
    pki.dispose()
  }
  const der = (pem: string) => new crypto.X509Certificate(pem).raw
  // A Main Mode message 6 as it would look in plaintext: ID, two certificates, signature.
  const plain = encodePlainMessage({ ...header, flags: 0 }, [
    { type: PayloadType.ID, idType: 2, protocol: 17, port: 500, data: Buffer.from('vpn.example.test') },
    { type: PayloadType.CERT, encoding: 4, data: der(serverCert) },
    { type: PayloadType.CERT, encoding: 4, data: der(pki.ca) },
    { type: PayloadType.SIG, data: crypto.randomBytes(256) },
  ])
  // And as it is really sent: encrypted, E flag set.
  const encrypted = message(2400)
  const plainFragments = fragmentMessage(plain, 1, 548)
  const encryptedFragments = fragmentMessage(encrypted, 1, maxIkeMessageSize(576, { nonEspMarker: true }))
  const server = '127.0.0.1'
  const client = '127.0.0.2'
  const frames = [
    ...plainFragments.map((f, i) => ipv4(server, client, 17, udp(server, client, 500, 500, f), i + 1)),
    ...encryptedFragments.map((f, i) => ipv4(server, client, 17, udp(server, client, 4500, 4500, Buffer.concat([Buffer.alloc(4), f])), 100 + i)),
  ]
  t.true(frames.every((f) => f.length <= 576))
  const dir = mkdtempSync(join(tmpdir(), 'ike-fragments-'))
  try {
    const pcap = join(dir, 'fragments.pcap')
    writeFileSync(pcap, writePcap(frames))
    const out = execFileSync('tshark', [
      '-r', pcap, '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=,',
      '-e', 'isakmp.nextpayload', '-e', 'isakmp.exchangetype', '-e', 'isakmp.flags', '-e', 'isakmp.messageid',
      '-e', 'isakmp.frag.packetid', '-e', 'isakmp.frag.seq', '-e', 'isakmp.frag.last',
      '-e', 'isakmp.fragment.count', '-e', 'isakmp.reassembled.length', '-e', 'isakmp.cert.encoding', '-e', 'isakmp.id.data.fqdn',
      '-e', '_ws.malformed', '-e', '_ws.expert',
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    const rows = out.trim().split('\n').map((line) => line.split('|'))
    t.is(rows.length, frames.length)
    const all = [...plainFragments, ...encryptedFragments]
    rows.forEach((row, i) => {
      const [nextPayloads, exchangeTypes, flags, messageIds, packetId, seq, last, count, reassembled, certEncodings, fqdn, malformed, expert] = row
      const isLastOfPlain = i === plainFragments.length - 1
      const isLastOfEncrypted = i === all.length - 1
      const number = i < plainFragments.length ? i + 1 : i - plainFragments.length + 1
      t.is(nextPayloads!.split(',')[0], '132', `frame ${i + 1}: next payload`)
      t.is(exchangeTypes!.split(',')[0], '2', `frame ${i + 1}: exchange type`)
      t.is(flags!.split(',')[0], '0x00', `frame ${i + 1}: flags`)
      t.is(messageIds!.split(',')[0], '0x00000000', `frame ${i + 1}: message ID`)
      t.is(packetId, '0x0001', `frame ${i + 1}: fragment ID`)
      t.is(seq, String(number), `frame ${i + 1}: fragment number`)
      t.is(last, isLastOfPlain || isLastOfEncrypted ? '1' : '0', `frame ${i + 1}: last`)
      t.is(malformed, '', `frame ${i + 1}: malformed`)
      t.is(expert, '', `frame ${i + 1}: expert info`)
      if (isLastOfPlain) {
        t.is(count, String(plainFragments.length))
        t.is(reassembled, String(plain.length))
        t.is(nextPayloads, '132,0,5,6,6,9,0', 'reassembled: ID, CERT, CERT, SIG')
        t.is(certEncodings, '4,4')
        t.is(fqdn, 'vpn.example.test')
      } else if (isLastOfEncrypted) {
        t.is(count, String(encryptedFragments.length))
        t.is(reassembled, String(encrypted.length))
        t.is(flags, '0x00,0x01', 'the reassembled message is encrypted, its fragments are not')
      } else {
        t.is(reassembled, '', `frame ${i + 1}: not yet reassembled`)
      }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
