/**
 * PPP codec: every PPP control frame of the five recorded real sessions
 * (__test__/vectors/ppp/real-control-frames.txt, and the PPP frames of
 * crates/dataplane/tests/vectors/framing/real-sessions.txt) decodes and
 * re-encodes byte for byte; hand-built packets for what the sessions do not
 * carry (Windows' MRRU, IPCP DNS/NBNS and VJ, Protocol-Reject...); every
 * error path; and a property test that only PppCodecError escapes.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  PppCodecError,
  decodeCcp,
  decodeChap,
  decodeControl,
  decodeControlFrame,
  decodeEap,
  decodeFrame,
  decodeIpcp,
  decodeIpv6cp,
  decodeLcp,
  decodePap,
  decodeRawPacket,
  encodeChap,
  encodeControl,
  encodeControlFrame,
  encodeEap,
  encodeFrame,
  encodeLcpFamily,
  encodeOption,
  encodePap,
  isControlProtocol,
} from '../lib/ppp/codec.js'
import type { ControlMessage, IpcpOption, LcpOption, PppCodecErrorCode } from '../lib/ppp/codec.js'
import { ChapAlgorithm, Code, Protocol } from '../lib/ppp/constants.js'

const VECTORS = join(import.meta.dirname, 'vectors')

/** One frame of real-control-frames.txt. */
interface RealFrame {
  session: string
  frameNumber: number
  direction: string
  info: string
  l2tp: Buffer
  ppp: Buffer
}

function readRealFrames(): RealFrame[] {
  const frames: RealFrame[] = []
  let comment: RegExpExecArray | null = null
  let l2tp: Buffer | undefined
  for (const line of readFileSync(join(VECTORS, 'ppp', 'real-control-frames.txt'), 'utf8').split('\n')) {
    const head = /^# (strongswan-\S+) frame (\d+) \(([^)]+)\): (.*)$/.exec(line)
    if (head) comment = head
    else if (line.startsWith('l2tp ')) l2tp = Buffer.from(line.slice(5), 'hex')
    else if (line.startsWith('ppp ') && comment && l2tp) {
      frames.push({ session: comment[1]!, frameNumber: Number(comment[2]), direction: comment[3]!, info: comment[4]!, l2tp, ppp: Buffer.from(line.slice(4), 'hex') })
      comment = null
      l2tp = undefined
    }
  }
  return frames
}

const REAL = readRealFrames()

function real(session: string, frameNumber: number): RealFrame {
  const frame = REAL.find((f) => f.session === `strongswan-${session}` && f.frameNumber === frameNumber)
  if (!frame) throw new Error(`no frame ${frameNumber} of ${session}`)
  return frame
}

function throwsCode(t: ExecutionContext, fn: () => unknown, code: PppCodecErrorCode): void {
  const error = t.throws(fn, { instanceOf: PppCodecError })
  t.is(error?.code, code, error?.message)
}

/** Decode a whole frame and re-encode it from the decoded message. */
function roundTrip(frame: Buffer): { message: ControlMessage; again: Buffer } {
  const decoded = decodeFrame(frame)
  const message = decodeControl(decoded.protocol, decoded.information)
  const again = encodeFrame({ ...decoded, information: encodeControl(message) })
  return { message, again }
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// --- the real sessions ----------------------------------------------------------

test('the vector file holds the control frames of all five sessions', (t) => {
  t.is(REAL.length, 120)
  t.deepEqual([...new Set(REAL.map((f) => f.session))].sort(), [
    'strongswan-aes128-sha1-modp2048',
    'strongswan-apple-sha256-modp2048',
    'strongswan-esp-aes128gcm16',
    'strongswan-legacy-3des-modp1024',
    'strongswan-windows-ecp384',
  ])
  for (const f of REAL) {
    t.is(f.l2tp.length, 6)
    t.is(f.l2tp.readUInt16BE(0), 0x0002, 'L2TP data message, no length, no sequence')
  }
})

test('every real control frame decodes and re-encodes byte for byte', (t) => {
  const kinds = new Map<string, number>()
  for (const f of REAL) {
    const { message, again } = roundTrip(f.ppp)
    t.true(again.equals(f.ppp), `${f.session} frame ${f.frameNumber}: ${f.info}`)
    // No padding in these frames: the packet Length covers the whole information field.
    t.is(f.ppp.readUInt16BE(6), f.ppp.length - 4)
    const key = `${message.protocol.toString(16)}/${message.packet.kind}`
    kinds.set(key, (kinds.get(key) ?? 0) + 1)
  }
  // What the sessions exercise, by protocol and kind.
  t.deepEqual([...kinds.keys()].sort(), [
    '8021/configure-ack', '8021/configure-nak', '8021/configure-request',
    '8057/configure-ack', '8057/configure-request',
    'c021/configure-ack', 'c021/configure-nak', 'c021/configure-request', 'c021/echo-reply', 'c021/echo-request',
    'c023/authenticate-ack', 'c023/authenticate-request',
    'c223/challenge', 'c223/response', 'c223/success',
  ])
})

test('tshark and the codec agree on each real frame: protocol and packet name', (t) => {
  const names: Record<string, string> = {
    'configure-request': 'Configuration Request',
    'configure-ack': 'Configuration Ack',
    'configure-nak': 'Configuration Nak',
    'echo-request': 'Echo Request',
    'echo-reply': 'Echo Reply',
    challenge: 'Challenge',
    response: 'Response',
    success: 'Success',
    'authenticate-request': 'Authenticate-Request',
    'authenticate-ack': 'Authenticate-Ack',
  }
  for (const f of REAL) {
    const message = decodeControlFrame(f.ppp)
    t.true(f.info.startsWith(names[message.packet.kind]!), `${f.session} frame ${f.frameNumber}: ${f.info}`)
    t.true(message.frame.addressControl)
    t.false(message.frame.protocolCompressed)
  }
})

test('the PPP frames of the data plane\'s real-sessions.txt decode and re-encode too', (t) => {
  const text = readFileSync(join(import.meta.dirname, '..', 'crates', 'dataplane', 'tests', 'vectors', 'framing', 'real-sessions.txt'), 'utf8')
  let control = 0
  let data = 0
  for (const line of text.split('\n')) {
    if (!/^[0-9a-f]+$/.test(line) || !line.startsWith('0002')) continue
    const frame = Buffer.from(line, 'hex').subarray(6)
    const decoded = decodeFrame(frame)
    if (isControlProtocol(decoded.protocol)) {
      t.true(roundTrip(frame).again.equals(frame))
      t.true(REAL.some((f) => f.ppp.equals(frame)), 'also in real-control-frames.txt')
      control++
    } else {
      t.true([Protocol.IPV4, Protocol.IPV6].includes(decoded.protocol as 0x21))
      t.true(encodeFrame(decoded).equals(frame))
      data++
    }
  }
  t.is(control, 15)
  t.is(data, 6)
})

test('windows-ecp384 LCP: the server asks for EAP, the client Naks it for MS-CHAPv2, then both agree', (t) => {
  const serverRequest = decodeControlFrame(real('windows-ecp384', 21).ppp)
  t.is(serverRequest.protocol, Protocol.LCP)
  t.deepEqual(serverRequest.packet, {
    kind: 'configure-request',
    code: 1,
    identifier: 1,
    options: [
      { kind: 'mru', type: 1, mru: 1400 },
      { kind: 'accm', type: 2, accm: 0 },
      { kind: 'auth-protocol', type: 3, protocol: Protocol.EAP, algorithm: undefined, data: Buffer.alloc(0) },
      { kind: 'magic-number', type: 5, magic: 0x7bd1b4d1 },
    ],
  })
  const nak = decodeLcp(decodeFrame(real('windows-ecp384', 22).ppp).information)
  t.deepEqual(nak, {
    kind: 'configure-nak',
    code: 3,
    identifier: 1,
    options: [{ kind: 'auth-protocol', type: 3, protocol: Protocol.CHAP, algorithm: ChapAlgorithm.MSCHAPV2, data: Buffer.alloc(0) }],
  })
  const ack = decodeLcp(decodeFrame(real('windows-ecp384', 24).ppp).information)
  t.is(ack.kind, 'configure-ack')
  if (ack.kind !== 'configure-ack') return
  t.deepEqual(ack.options.find((o): o is Extract<LcpOption, { kind: 'auth-protocol' }> => o.kind === 'auth-protocol')?.algorithm, 0x81)
  const echo = decodeLcp(decodeFrame(real('windows-ecp384', 27).ppp).information)
  t.deepEqual(echo, { kind: 'echo-request', code: 9, identifier: 0, magic: 0x7bd1b4d1, data: Buffer.alloc(0) })
})

test('CHAP-MD5 and PAP sessions: the Naks name algorithm 5 and PAP', (t) => {
  const md5 = decodeLcp(decodeFrame(real('aes128-sha1-modp2048', 23).ppp).information)
  t.true(md5.kind === 'configure-nak' && md5.options.length === 1)
  if (md5.kind === 'configure-nak') t.like(md5.options[0], { kind: 'auth-protocol', protocol: Protocol.CHAP, algorithm: ChapAlgorithm.MD5 })
  const pap = decodeLcp(decodeFrame(real('legacy-3des-modp1024', 24).ppp).information)
  if (pap.kind !== 'configure-nak') return t.fail()
  t.like(pap.options[0], { kind: 'auth-protocol', protocol: Protocol.PAP, algorithm: undefined })
})

test('IPCP and IPV6CP of the windows session: addresses and interface identifiers', (t) => {
  t.deepEqual(decodeIpcp(decodeFrame(real('windows-ecp384', 34).ppp).information), {
    kind: 'configure-request', code: 1, identifier: 1, options: [{ kind: 'ip-address', type: 3, address: '192.168.242.1' }],
  })
  t.deepEqual(decodeIpcp(decodeFrame(real('windows-ecp384', 40).ppp).information), {
    kind: 'configure-nak', code: 3, identifier: 1, options: [{ kind: 'ip-address', type: 3, address: '192.168.242.10' }],
  })
  t.deepEqual(decodeIpv6cp(decodeFrame(real('windows-ecp384', 35).ppp).information), {
    kind: 'configure-request', code: 1, identifier: 1, options: [{ kind: 'interface-identifier', type: 1, identifier: hex('f8c32a5ece153e2f') }],
  })
})

test('PAP and CHAP packets of the real sessions', (t) => {
  t.deepEqual(decodePap(decodeFrame(real('legacy-3des-modp1024', 30).ppp).information), {
    kind: 'authenticate-request', code: 1, identifier: 1, peerId: Buffer.from('alice'), password: Buffer.from('alice-pass-1'),
  })
  t.deepEqual(decodePap(decodeFrame(real('legacy-3des-modp1024', 33).ppp).information), {
    kind: 'authenticate-ack', code: 2, identifier: 1, message: Buffer.from('Login ok'),
  })
  t.deepEqual(decodeChap(decodeFrame(real('aes128-sha1-modp2048', 28).ppp).information), {
    kind: 'challenge', code: 1, identifier: 0x10, value: hex('2a8f3ec6cbf4e28ef3e4c7eaeb00d1d5cc7398'), name: Buffer.from('l2tpd'),
  })
  t.deepEqual(decodeChap(decodeFrame(real('aes128-sha1-modp2048', 32).ppp).information), {
    kind: 'success', code: 3, identifier: 0x10, message: Buffer.from('Access granted'),
  })
})

// --- frames -----------------------------------------------------------------------

test('frames: ACFC and PFC are recognised and reproduced', (t) => {
  const information = hex('45000054')
  const cases: [string, boolean, boolean, number][] = [
    ['ff03002145000054', true, false, 0x21],
    ['002145000054', false, false, 0x21],
    ['ff032145000054', true, true, 0x21],
    ['2145000054', false, true, 0x21],
    ['ff03c02145000054', true, false, 0xc021],
    ['c02145000054', false, false, 0xc021],
  ]
  for (const [wire, addressControl, protocolCompressed, protocol] of cases) {
    const frame = decodeFrame(hex(wire))
    t.deepEqual(frame, { addressControl, protocolCompressed, protocol, information })
    t.true(encodeFrame(frame).equals(hex(wire)))
  }
  t.true(encodeFrame({ protocol: 0x8021, information }).equals(hex('ff03802145000054')), 'defaults: FF 03 and two protocol bytes')
})

test('frames: bad protocol fields', (t) => {
  throwsCode(t, () => decodeFrame(Buffer.alloc(0)), 'PPP_TRUNCATED')
  throwsCode(t, () => decodeFrame(hex('ff03')), 'PPP_TRUNCATED')
  throwsCode(t, () => decodeFrame(hex('ff03c0')), 'PPP_TRUNCATED')
  throwsCode(t, () => decodeFrame(hex('ff03c02001')), 'PPP_BAD_PROTOCOL')
  throwsCode(t, () => encodeFrame({ protocol: 0xc021, information: Buffer.alloc(0), protocolCompressed: true }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeFrame({ protocol: 0xc020, information: Buffer.alloc(0) }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeFrame({ protocol: 0x0121, information: Buffer.alloc(0) }), 'PPP_BAD_VALUE')
  throwsCode(t, () => decodeFrame('ff03' as unknown as Buffer), 'PPP_TRUNCATED')
})

test('encodeControlFrame: LCP always with FF 03, other protocols without it under ACFC', (t) => {
  const lcp: ControlMessage = { protocol: Protocol.LCP, packet: { kind: 'echo-reply', code: 10, identifier: 7, magic: 1, data: Buffer.alloc(0) } }
  t.true(encodeControlFrame(lcp, { addressControl: false }).equals(hex('ff03c021 0a070008 00000001')))
  const ipcp: ControlMessage = { protocol: Protocol.IPCP, packet: { kind: 'configure-ack', code: 2, identifier: 2, options: [] } }
  t.true(encodeControlFrame(ipcp, { addressControl: false }).equals(hex('8021 02020004')))
  t.true(encodeControlFrame(ipcp).equals(hex('ff038021 02020004')))
})

// --- packets: lengths and padding -------------------------------------------------

test('Length beyond the buffer is an error; bytes after Length are padding and ignored', (t) => {
  throwsCode(t, () => decodeLcp(hex('0901000c 00000001')), 'PPP_TRUNCATED')
  throwsCode(t, () => decodeLcp(hex('090100')), 'PPP_TRUNCATED')
  throwsCode(t, () => decodeLcp(hex('09010003 00000001')), 'PPP_BAD_LENGTH')
  const padded = decodeLcp(hex('0a010008 11223344 0000000000'))
  t.deepEqual(padded, { kind: 'echo-reply', code: 10, identifier: 1, magic: 0x11223344, data: Buffer.alloc(0) })
  t.true(encodeLcpFamily(padded).equals(hex('0a010008 11223344')))
  t.deepEqual(decodeRawPacket(hex('05020006 abcd ffff')), { code: 5, identifier: 2, data: hex('abcd') })
})

test('option lengths: below 2 or past the packet make the packet malformed; a wrong length for a known type is kept raw', (t) => {
  throwsCode(t, () => decodeLcp(hex('01010006 0101')), 'PPP_BAD_LENGTH')
  throwsCode(t, () => decodeLcp(hex('01010008 01050578')), 'PPP_BAD_LENGTH')
  throwsCode(t, () => decodeLcp(hex('01010005 01')), 'PPP_TRUNCATED')
  const odd = decodeLcp(hex('0101000d 0103ff 050600000001'))
  t.deepEqual(odd, {
    kind: 'configure-request', code: 1, identifier: 1,
    options: [{ kind: 'raw', type: 1, data: hex('ff') }, { kind: 'magic-number', type: 5, magic: 1 }],
  })
  t.true(encodeLcpFamily(odd).equals(hex('0101000d 0103ff 050600000001')))
})

// --- LCP, hand-built ------------------------------------------------------------

test('LCP Configure-Request with every typed option, Windows\' MRRU and an unknown option', (t) => {
  // MRU 1400, ACCM 0, CHAP MS-CHAPv2, LQR 0xc025 period 3000, magic, PFC, ACFC, MRRU 1614,
  // Endpoint-Discriminator (19, class 1 local, kept raw), Callback (13, kept raw).
  const wire = hex('01 05 0033 0104 0578 0206 00000000 0305 c223 81 0408 c025 00000bb8 0506 12345678 0702 0802 1104 064e 1307 01 6d61 6368 0d03 06')
  const packet = decodeLcp(wire)
  t.deepEqual(packet, {
    kind: 'configure-request',
    code: 1,
    identifier: 5,
    options: [
      { kind: 'mru', type: 1, mru: 1400 },
      { kind: 'accm', type: 2, accm: 0 },
      { kind: 'auth-protocol', type: 3, protocol: 0xc223, algorithm: 0x81, data: Buffer.alloc(0) },
      { kind: 'quality-protocol', type: 4, protocol: 0xc025, data: hex('00000bb8') },
      { kind: 'magic-number', type: 5, magic: 0x12345678 },
      { kind: 'pfc', type: 7 },
      { kind: 'acfc', type: 8 },
      { kind: 'mrru', type: 17, mrru: 1614 },
      { kind: 'raw', type: 19, data: hex('016d616368') },
      { kind: 'raw', type: 13, data: hex('06') },
    ],
  })
  t.true(encodeLcpFamily(packet).equals(wire))
})

test('LCP Configure-Reject of the MRRU, as sent back to Windows', (t) => {
  const reject = encodeControl({ protocol: Protocol.LCP, packet: { kind: 'configure-reject', code: 4, identifier: 5, options: [{ kind: 'mrru', type: 17, mrru: 1614 }] } })
  t.true(reject.equals(hex('04050008 1104064e')))
})

test('LCP Auth-Protocol for PAP, CHAP-MD5 and EAP', (t) => {
  const options: LcpOption[] = [
    { kind: 'auth-protocol', type: 3, protocol: Protocol.PAP, algorithm: undefined, data: Buffer.alloc(0) },
    { kind: 'auth-protocol', type: 3, protocol: Protocol.CHAP, algorithm: ChapAlgorithm.MD5, data: Buffer.alloc(0) },
    { kind: 'auth-protocol', type: 3, protocol: Protocol.EAP, algorithm: undefined, data: Buffer.alloc(0) },
  ]
  t.deepEqual(options.map((o) => encodeOption(o).toString('hex')), ['0304c023', '0305c22305', '0304c227'])
})

test('LCP Terminate, Code-Reject, Protocol-Reject, Echo, Discard and other codes', (t) => {
  const cases: [string, unknown][] = [
    ['05010011 55736572207265717565737400', { kind: 'terminate-request', code: 5, identifier: 1, data: Buffer.from('User request\0') }],
    ['06010004', { kind: 'terminate-ack', code: 6, identifier: 1, data: Buffer.alloc(0) }],
    ['07030008 20010004', { kind: 'code-reject', code: 7, identifier: 3, rejected: hex('20010004') }],
    ['08040010 80fd 0101000a 12060100 0060', { kind: 'protocol-reject', code: 8, identifier: 4, rejectedProtocol: 0x80fd, rejected: hex('0101000a120601000060') }],
    ['0909000c 11223344 70696e67', { kind: 'echo-request', code: 9, identifier: 9, magic: 0x11223344, data: Buffer.from('ping') }],
    ['0a09000c 55667788 70696e67', { kind: 'echo-reply', code: 10, identifier: 9, magic: 0x55667788, data: Buffer.from('ping') }],
    ['0b020008 00000000', { kind: 'discard-request', code: 11, identifier: 2, magic: 0, data: Buffer.alloc(0) }],
    // Identification (RFC 1570): magic + text, kept whole.
    ['0c010010 00000000 4d5346545f52 4153', { kind: 'other', code: 12, identifier: 1, data: hex('000000004d5346545f524153') }],
    ['2a010004', { kind: 'other', code: 42, identifier: 1, data: Buffer.alloc(0) }],
  ]
  for (const [wire, expected] of cases) {
    const packet = decodeLcp(hex(wire))
    t.deepEqual(packet, expected as ReturnType<typeof decodeLcp>, wire)
    t.true(encodeLcpFamily(packet).equals(hex(wire)), wire)
  }
  throwsCode(t, () => decodeLcp(hex('09010007 000000')), 'PPP_MALFORMED')
  throwsCode(t, () => decodeLcp(hex('08010005 80')), 'PPP_MALFORMED')
})

test('codes 8-11 are LCP only: on an NCP they come back as other', (t) => {
  t.deepEqual(decodeIpcp(hex('09010008 00000000')), { kind: 'other', code: 9, identifier: 1, data: hex('00000000') })
  t.deepEqual(decodeIpcp(hex('07010008 0e010004')), { kind: 'code-reject', code: 7, identifier: 1, rejected: hex('0e010004') })
})

// --- NCPs -------------------------------------------------------------------------

test('IPCP: IP-Addresses, VJ compression, IP-Address, DNS and NBNS (RFC 1332, RFC 1877)', (t) => {
  const wire = hex('01 07 0032 010a c0a80001 c0a80002 0206 002d 0f01 0306 00000000 8106 00000000 8206 00000000 8306 00000000 8406 00000000')
  const packet = decodeIpcp(wire)
  const options: IpcpOption[] = [
    { kind: 'ip-addresses', type: 1, source: '192.168.0.1', destination: '192.168.0.2' },
    { kind: 'ip-compression', type: 2, protocol: 0x002d, data: hex('0f01') },
    { kind: 'ip-address', type: 3, address: '0.0.0.0' },
    { kind: 'primary-dns', type: 129, address: '0.0.0.0' },
    { kind: 'primary-nbns', type: 130, address: '0.0.0.0' },
    { kind: 'secondary-dns', type: 131, address: '0.0.0.0' },
    { kind: 'secondary-nbns', type: 132, address: '0.0.0.0' },
  ]
  t.deepEqual(packet, { kind: 'configure-request', code: 1, identifier: 7, options })
  t.true(encodeLcpFamily(packet).equals(wire))
  // The server's Nak with real values, and the Reject of what it does not do.
  const nak = encodeControl({
    protocol: Protocol.IPCP,
    packet: {
      kind: 'configure-nak', code: 3, identifier: 7,
      options: [
        { kind: 'ip-address', type: 3, address: '10.20.30.40' },
        { kind: 'primary-dns', type: 129, address: '1.1.1.1' },
        { kind: 'secondary-dns', type: 131, address: '9.9.9.9' },
      ],
    },
  })
  t.true(nak.equals(hex('03070016 03060a141e28 810601010101 830609090909')))
  throwsCode(t, () => encodeOption({ kind: 'ip-address', type: 3, address: '10.0.0.256' }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeOption({ kind: 'ip-address', type: 3, address: '10.0.0' }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeOption({ kind: 'primary-dns', type: 129, address: '01.2.3.4' }), 'PPP_BAD_VALUE')
})

test('IPV6CP: Interface-Identifier and compression', (t) => {
  const wire = hex('0102 0014 010a 0011223344556677 0206 004f 0000')
  const packet = decodeIpv6cp(wire)
  t.deepEqual(packet, {
    kind: 'configure-request', code: 1, identifier: 2,
    options: [
      { kind: 'interface-identifier', type: 1, identifier: hex('0011223344556677') },
      { kind: 'ipv6-compression', type: 2, protocol: 0x004f, data: hex('0000') },
    ],
  })
  t.true(encodeLcpFamily(packet).equals(wire))
  throwsCode(t, () => encodeOption({ kind: 'interface-identifier', type: 1, identifier: hex('00') }), 'PPP_BAD_VALUE')
})

test('CCP: options kept raw, Reset-Request as other', (t) => {
  // MPPE (18) as Windows offers it, and Deflate (26).
  const wire = hex('0101000e 120601000060 1a04780f')
  const packet = decodeCcp(wire)
  t.deepEqual(packet, { kind: 'configure-request', code: 1, identifier: 1, options: [{ kind: 'raw', type: 18, data: hex('01000060') }, { kind: 'raw', type: 26, data: hex('780f') }] })
  t.true(encodeLcpFamily(packet).equals(wire))
  t.deepEqual(decodeCcp(hex('0e030004')), { kind: 'other', code: Code.RESET_REQUEST, identifier: 3, data: Buffer.alloc(0) })
})

// --- PAP, CHAP, EAP ---------------------------------------------------------------

test('PAP: Authenticate-Request, -Ack, -Nak; malformed fields', (t) => {
  const request = encodePap({ kind: 'authenticate-request', identifier: 1, peerId: 'alice', password: 'alice-pass-1' })
  t.true(request.equals(real('legacy-3des-modp1024', 30).ppp.subarray(4)))
  const nak = encodePap({ kind: 'authenticate-nak', identifier: 2, message: 'Login incorrect' })
  t.deepEqual(decodePap(nak), { kind: 'authenticate-nak', code: 3, identifier: 2, message: Buffer.from('Login incorrect') })
  t.deepEqual(decodePap(hex('02030004')), { kind: 'authenticate-ack', code: 2, identifier: 3, message: Buffer.alloc(0) })
  t.deepEqual(decodePap(hex('04030005 aa')), { kind: 'other', code: 4, identifier: 3, data: hex('aa') })
  throwsCode(t, () => decodePap(hex('01010004')), 'PPP_MALFORMED')
  throwsCode(t, () => decodePap(hex('01010007 05616c')), 'PPP_MALFORMED')
  throwsCode(t, () => decodePap(hex('01010007 01 61 01')), 'PPP_MALFORMED')
  throwsCode(t, () => decodePap(hex('01010008 01 61 00 ff')), 'PPP_MALFORMED')
  throwsCode(t, () => decodePap(hex('02010006 0261')), 'PPP_MALFORMED')
  throwsCode(t, () => encodePap({ kind: 'authenticate-request', identifier: 1, peerId: 'x'.repeat(256), password: '' }), 'PPP_BAD_VALUE')
})

test('CHAP: Challenge, Response, Success, Failure, Change-Password as other', (t) => {
  const challenge = { kind: 'challenge' as const, identifier: 0x55, value: hex('26f2b91e32e14e159d90330235cb9afb'), name: 'l2tpd' }
  t.true(encodeChap(challenge).equals(real('windows-ecp384', 28).ppp.subarray(4)))
  const failure = encodeChap({ kind: 'failure', identifier: 9, message: 'E=691 R=0' })
  t.deepEqual(decodeChap(failure), { kind: 'failure', code: 4, identifier: 9, message: Buffer.from('E=691 R=0') })
  const change = Buffer.concat([hex('0701024a'), Buffer.alloc(582)])
  t.like(decodeChap(change), { kind: 'other', code: 7, identifier: 1 })
  throwsCode(t, () => decodeChap(hex('01010004')), 'PPP_MALFORMED')
  throwsCode(t, () => decodeChap(hex('01010006 1000')), 'PPP_MALFORMED')
  throwsCode(t, () => encodeChap({ kind: 'response', identifier: 1, value: Buffer.alloc(256), name: '' }), 'PPP_BAD_VALUE')
})

test('EAP: Identity request and response, Success, Failure', (t) => {
  const cases: [string, unknown][] = [
    ['01010005 01', { kind: 'request', code: 1, identifier: 1, type: 1, typeData: Buffer.alloc(0) }],
    ['0201000a 01616c696365', { kind: 'response', code: 2, identifier: 1, type: 1, typeData: Buffer.from('alice') }],
    ['03020004', { kind: 'success', code: 3, identifier: 2, data: Buffer.alloc(0) }],
    ['04020004', { kind: 'failure', code: 4, identifier: 2, data: Buffer.alloc(0) }],
    ['05020004', { kind: 'other', code: 5, identifier: 2, data: Buffer.alloc(0) }],
  ]
  for (const [wire, expected] of cases) {
    const packet = decodeEap(hex(wire))
    t.deepEqual(packet, expected as ReturnType<typeof decodeEap>)
    t.true(encodeEap(packet).equals(hex(wire)))
  }
  throwsCode(t, () => decodeEap(hex('01010004')), 'PPP_MALFORMED')
})

test('decodeControl dispatches by protocol and refuses the rest', (t) => {
  t.is(decodeControl(Protocol.EAP, hex('03020004')).protocol, Protocol.EAP)
  t.is(decodeControl(Protocol.CCP, hex('0e030004')).packet.kind, 'other')
  throwsCode(t, () => decodeControl(Protocol.IPV4, hex('45000014')), 'PPP_BAD_PROTOCOL')
  throwsCode(t, () => decodeControl(0x8023, hex('01010004')), 'PPP_BAD_PROTOCOL')
  t.false(isControlProtocol(Protocol.IPV4))
  t.true(isControlProtocol(Protocol.CHAP))
})

test('encoders check their inputs', (t) => {
  throwsCode(t, () => encodeLcpFamily({ kind: 'echo-request', code: 9, identifier: 256, magic: 0, data: Buffer.alloc(0) }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeLcpFamily({ kind: 'echo-request', code: 9, identifier: 1, magic: 2 ** 32, data: Buffer.alloc(0) }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeOption({ kind: 'mru', type: 1, mru: 70000 }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeOption({ kind: 'raw', type: 200, data: Buffer.alloc(254) }), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeOption({ kind: 'nonsense' } as unknown as LcpOption), 'PPP_BAD_VALUE')
  throwsCode(t, () => encodeControl({ protocol: 0x21 } as unknown as ControlMessage), 'PPP_BAD_PROTOCOL')
})

// --- robustness ---------------------------------------------------------------------

test('random and mutated input throws nothing but PppCodecError', (t) => {
  // xorshift32, fixed seed: deterministic.
  let state = 0x9e3779b9
  const next = (): number => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return state >>> 0
  }
  const seeds = REAL.map((f) => f.ppp)
  let decoded = 0
  for (let i = 0; i < 20000; i++) {
    let input: Buffer
    if (i % 2 === 0) {
      input = Buffer.from(seeds[next() % seeds.length]!)
      const flips = 1 + (next() % 4)
      for (let j = 0; j < flips; j++) input[next() % input.length] = next() & 0xff
      if (next() % 4 === 0) input = input.subarray(0, next() % (input.length + 1))
    } else {
      input = Buffer.alloc(next() % 40)
      for (let j = 0; j < input.length; j++) input[j] = next() & 0xff
      if (input.length > 3 && next() % 2 === 0) input.set([0xff, 0x03, 0xc0, 0x21], 0)
    }
    try {
      const message = decodeControlFrame(input)
      decoded++
      // Whatever decodes must re-encode to its packet (up to padding).
      const information = encodeControl(message)
      const frame = decodeFrame(input)
      if (!frame.information.subarray(0, information.length).equals(information)) t.fail(input.toString('hex'))
    } catch (error) {
      if (!(error instanceof PppCodecError)) t.fail(`${input.toString('hex')}: ${String(error)}`)
    }
  }
  t.true(decoded > 1000, `${decoded} decoded`)
})
