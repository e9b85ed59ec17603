// IKEv1 key derivation (lib/ike/crypto.ts) and Diffie-Hellman (lib/ike/dh.ts)
// against five real strongSwan sessions (vectors/real, values extracted into
// vectors/ike-crypto/<session>.json with the log line of each), the
// Main Mode and Quick Mode messages of their captures decrypted with our
// own decrypt, the ESP keys the kernels used, and strongSwan's
// known-answer DH vectors (vectors/ike-crypto/strongswan-ke-vectors.json).
import test from 'ava'
import { createDiffieHellman, createECDH, getDiffieHellman } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  blockSize,
  decrypt,
  deriveSkeyids,
  digest,
  encrypt,
  encryptInPlace,
  encryptionKey,
  hashI,
  hashLength,
  hashR,
  IkeCryptoError,
  informationalHash,
  keymat,
  natD,
  phase1Iv,
  phase2Iv,
  prf,
  quickHash1,
  quickHash2,
  quickHash3,
  skeyidPsk,
  skeyidSig,
  type CipherName,
  type HashName,
} from '../lib/ike/crypto.js'
import { DhKeyPair, dhGroup, SUPPORTED_DH_GROUPS } from '../lib/ike/dh.js'
import { parseIpv4 } from './helpers/packets.js'
import { readCapture } from './helpers/pcap.js'

const VECTORS = new URL('./vectors/ike-crypto/', import.meta.url).pathname
const REAL = new URL('./vectors/real/', import.meta.url).pathname

interface Value {
  hex: string
  source: string
}

interface SessionVector {
  session: string
  psk: { utf8: string }
  ike: { proposal: string; hash: HashName; cipher: CipherName; keyLength: number; dhGroup: number }
  esp: { proposal: string; protocol: number; encryptionKeyLength: number; integrityKeyLength: number }
  childSpis: { inbound: string; outbound: string }
  ckyI: Value
  ckyR: Value
  ni: Value
  nr: Value
  gxi: Value
  gxr: Value
  gxy: Value
  skeyid: Value
  skeyidD: Value
  skeyidA: Value
  skeyidE: Value
  ka: Value
  initialIv: Value
  hashIData: Value
  hashI: Value
  hashRData: Value
  hashR: Value
  quickMode: { messageId: number; hash1: Value; hash2: Value; hash3: Value }
  natd: Array<{ chunk: string; hash: string; source: string }>
  ivs: { list: Array<{ messageId: number; hex: string; source: string }> }
  xfrm: Array<{ spi: string; src: string; dst: string; encryptionKey: string; integrityKey: string; source: string }>
}

interface KeVector {
  group: number
  name: string
  privateI: string
  privateR: string
  publicI: string
  publicR: string
  shared: string
}

const SESSIONS: SessionVector[] = readdirSync(VECTORS)
  .filter((f) => f.startsWith('strongswan-') && f.endsWith('.json') && f !== 'strongswan-ke-vectors.json')
  .sort()
  .map((f) => JSON.parse(readFileSync(join(VECTORS, f), 'utf8')) as SessionVector)

const KE_VECTORS = (JSON.parse(readFileSync(join(VECTORS, 'strongswan-ke-vectors.json'), 'utf8')) as { vectors: KeVector[] }).vectors

const hex = (v: { hex: string } | string): Buffer => Buffer.from(typeof v === 'string' ? v : v.hex, 'hex')

// --- the captures: IKE messages and their payloads ---------------------------

interface IkeMessage {
  frame: number
  fromInitiator: boolean
  exchange: number
  encrypted: boolean
  messageId: number
  firstPayload: number
  /** Everything after the 28-byte ISAKMP header. */
  body: Buffer
}

function ikeMessages(session: string): IkeMessage[] {
  const out: IkeMessage[] = []
  readCapture(readFileSync(join(REAL, session, 'session.pcap'))).forEach((f, index) => {
    const ip = parseIpv4(f.data, f.linkType)
    if (!ip || ip.protocol !== 17) return
    const sport = ip.payload.readUInt16BE(0)
    const dport = ip.payload.readUInt16BE(2)
    let ike = ip.payload.subarray(8)
    if (sport === 4500 || dport === 4500) {
      if (ike.length < 4 || ike.readUInt32BE(0) !== 0) return // NAT keepalive or ESP
      ike = ike.subarray(4) // non-ESP marker, RFC 3948 section 2.2
    } else if (sport !== 500 && dport !== 500) {
      return
    }
    out.push({
      frame: index + 1,
      fromInitiator: dport === 500 || dport === 4500, // the server listens on 500/4500
      exchange: ike[18]!,
      encrypted: (ike[19]! & 1) === 1,
      messageId: ike.readUInt32BE(20),
      firstPayload: ike[16]!,
      body: ike.subarray(28, ike.readUInt32BE(24)),
    })
  })
  return out
}

interface Payload {
  type: number
  /** The payload without its generic header. */
  body: Buffer
  /** Offset of its generic header in the message body. */
  start: number
  end: number
}

/** Walks the generic payload headers (RFC 2408 section 3.2); stops at next payload 0, leaving any padding. */
function payloads(body: Buffer, first: number): Payload[] {
  const out: Payload[] = []
  let type = first
  let at = 0
  while (type !== 0) {
    const length = body.readUInt16BE(at + 2)
    if (length < 4 || at + length > body.length) throw new Error(`payload ${type} at ${at} overruns the message`)
    out.push({ type, body: body.subarray(at + 4, at + length), start: at, end: at + length })
    type = body[at]!
    at += length
  }
  return out
}

const PAYLOAD = { SA: 1, KE: 4, ID: 5, HASH: 8, NONCE: 10, NATD: 20 } as const

function only(list: Payload[], type: number): Payload {
  const found = list.filter((p) => p.type === type)
  if (found.length !== 1) throw new Error(`expected one payload ${type}, found ${found.length}`)
  return found[0]!
}

/** The SPI of the first proposal of an SA payload body (RFC 2408 sections 3.4, 3.5). */
function proposalSpi(saBody: Buffer): Buffer {
  const proposal = saBody.subarray(8) // DOI, Situation
  const spiSize = proposal[6]!
  return proposal.subarray(8, 8 + spiSize)
}

interface Exchange {
  mm1: IkeMessage
  mm3: IkeMessage
  mm4: IkeMessage
  mm5: IkeMessage
  mm6: IkeMessage
  qm1: IkeMessage
  qm2: IkeMessage
  qm3: IkeMessage
}

function exchange(session: string, quickModeId: number): Exchange {
  const messages = ikeMessages(session)
  const main = messages.filter((m) => m.exchange === 2)
  const pick = (list: IkeMessage[], fromInitiator: boolean, encrypted: boolean, n: number): IkeMessage => {
    const m = list.filter((x) => x.fromInitiator === fromInitiator && x.encrypted === encrypted)[n]
    if (!m) throw new Error(`${session}: missing message`)
    return m
  }
  const quick = messages.filter((m) => m.exchange === 32 && m.messageId === quickModeId)
  return {
    mm1: pick(main, true, false, 0),
    mm3: pick(main, true, false, 1),
    mm4: pick(main, false, false, 1),
    mm5: pick(main, true, true, 0),
    mm6: pick(main, false, true, 0),
    qm1: pick(quick, true, true, 0),
    qm2: pick(quick, false, true, 0),
    qm3: pick(quick, true, true, 1),
  }
}

// --- phase 1 keys from the logged values ---------------------------------------

test('the five recorded sessions have vectors, and strongSwan KE vectors cover every MODP/ECP group we know', (t) => {
  t.deepEqual(
    SESSIONS.map((s) => s.session),
    [
      'strongswan-aes128-sha1-modp2048',
      'strongswan-apple-sha256-modp2048',
      'strongswan-esp-aes128gcm16',
      'strongswan-legacy-3des-modp1024',
      'strongswan-windows-ecp384',
    ],
  )
  t.deepEqual(KE_VECTORS.map((v) => v.group).sort((a, b) => a - b), [1, 2, 5, 14, 15, 16, 19, 20, 21])
})

for (const v of SESSIONS) {
  const hash = v.ike.hash
  const cipher = v.ike.cipher
  const bs = blockSize(cipher)

  test(`${v.session}: SKEYID = prf(PSK, Ni_b | Nr_b)`, (t) => {
    t.deepEqual(skeyidPsk(hash, Buffer.from(v.psk.utf8), hex(v.ni), hex(v.nr)), hex(v.skeyid))
    t.is(hex(v.skeyid).length, hashLength(hash))
  })

  test(`${v.session}: SKEYID_d, SKEYID_a, SKEYID_e from g^xy and the cookies`, (t) => {
    t.is(hex(v.gxy).length, dhGroup(v.ike.dhGroup)!.kind === 'ecp' ? dhGroup(v.ike.dhGroup)!.publicLength / 2 : dhGroup(v.ike.dhGroup)!.publicLength)
    const s = deriveSkeyids(hash, hex(v.skeyid), hex(v.gxy), hex(v.ckyI), hex(v.ckyR))
    t.deepEqual(s.d, hex(v.skeyidD))
    t.deepEqual(s.a, hex(v.skeyidA))
    t.deepEqual(s.e, hex(v.skeyidE))
  })

  test(`${v.session}: encryption key Ka (${v.ike.keyLength} bytes from a ${hashLength(hash)}-byte SKEYID_e)`, (t) => {
    const ka = encryptionKey(hash, hex(v.skeyidE), v.ike.keyLength)
    t.deepEqual(ka, hex(v.ka))
    if (hex(v.skeyidE).length < v.ike.keyLength) {
      // Appendix B: Ka = K1 | K2 with K1 = prf(SKEYID_e, 0), K2 = prf(SKEYID_e, K1);
      // SKEYID_e itself is not part of Ka.
      const k1 = prf(hash, hex(v.skeyidE), Buffer.from([0]))
      const k2 = prf(hash, hex(v.skeyidE), k1)
      t.deepEqual(ka, Buffer.concat([k1, k2]).subarray(0, v.ike.keyLength))
      t.notDeepEqual(ka.subarray(0, 16), hex(v.skeyidE).subarray(0, 16))
    } else {
      t.deepEqual(ka, hex(v.skeyidE).subarray(0, v.ike.keyLength))
    }
  })

  test(`${v.session}: initial IV = hash(g^xi | g^xr) truncated to the block`, (t) => {
    t.deepEqual(phase1Iv(hash, hex(v.gxi), hex(v.gxr), bs), hex(v.initialIv))
    t.is(hex(v.initialIv).length, bs)
  })

  test(`${v.session}: HASH_I and HASH_R over the logged data, assembled from the wire`, (t) => {
    const x = exchange(v.session, v.quickMode.messageId)
    // SAi_b: the body of the initiator's SA payload in Main Mode message 1.
    const saiB = only(payloads(x.mm1.body, x.mm1.firstPayload), PAYLOAD.SA).body
    const prefix = Buffer.concat([hex(v.gxi), hex(v.gxr), hex(v.ckyI), hex(v.ckyR), saiB])
    const dataI = hex(v.hashIData)
    t.deepEqual(dataI.subarray(0, prefix.length), prefix, 'HASH_I data = g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b')
    const idiiB = dataI.subarray(prefix.length)
    t.deepEqual(hashI(hash, hex(v.skeyid), hex(v.gxi), hex(v.gxr), hex(v.ckyI), hex(v.ckyR), saiB, idiiB), hex(v.hashI))

    const prefixR = Buffer.concat([hex(v.gxr), hex(v.gxi), hex(v.ckyR), hex(v.ckyI), saiB])
    const dataR = hex(v.hashRData)
    t.deepEqual(dataR.subarray(0, prefixR.length), prefixR, 'HASH_R data = g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b')
    const idirB = dataR.subarray(prefixR.length)
    t.deepEqual(hashR(hash, hex(v.skeyid), hex(v.gxi), hex(v.gxr), hex(v.ckyI), hex(v.ckyR), saiB, idirB), hex(v.hashR))
    // ID_IPV4_ADDR (1), protocol and port 0, 10.0.2.15: the address inside each VM.
    t.deepEqual(idiiB, Buffer.from([1, 0, 0, 0, 10, 0, 2, 15]))
  })

  test(`${v.session}: NAT-D hashes of the logged chunks and in Main Mode messages 3 and 4`, (t) => {
    t.is(v.natd.length, 8, 'four chunk/hash pairs in each log')
    const computed = v.natd.map((n) => {
      const chunk = hex(n.chunk)
      t.is(chunk.length, 22)
      const value = natD(hash, chunk.subarray(0, 8), chunk.subarray(8, 16), chunk.subarray(16, 20), chunk.readUInt16BE(20))
      t.deepEqual(value, hex(n.hash), n.source)
      t.deepEqual(chunk.subarray(0, 16), Buffer.concat([hex(v.ckyI), hex(v.ckyR)]))
      return value.toString('hex')
    })
    const x = exchange(v.session, v.quickMode.messageId)
    for (const m of [x.mm3, x.mm4]) {
      const natds = payloads(m.body, m.firstPayload).filter((p) => p.type === PAYLOAD.NATD)
      t.is(natds.length, 2)
      for (const p of natds) t.true(computed.includes(p.body.toString('hex')), `frame ${m.frame}`)
    }
    // The wire KE payloads are the g^x in the HASH data.
    t.deepEqual(only(payloads(x.mm3.body, x.mm3.firstPayload), PAYLOAD.KE).body, hex(v.gxi))
    t.deepEqual(only(payloads(x.mm4.body, x.mm4.firstPayload), PAYLOAD.KE).body, hex(v.gxr))
  })

  test(`${v.session}: Main Mode messages 5 and 6 decrypt to ID and HASH payloads`, (t) => {
    const x = exchange(v.session, v.quickMode.messageId)
    const ivs = v.ivs.list
    const ka = hex(v.ka)

    const mm5 = decrypt(cipher, ka, hex(v.initialIv), x.mm5.body)
    t.is(x.mm5.firstPayload, PAYLOAD.ID, 'the ISAKMP header announces an ID payload')
    t.is(mm5.plaintext[0], PAYLOAD.HASH, 'the ID payload is followed by HASH_I')
    t.is(mm5.plaintext[1], 0, 'RESERVED')
    const p5 = payloads(mm5.plaintext, x.mm5.firstPayload)
    t.deepEqual(only(p5, PAYLOAD.ID).body, hex(v.hashIData).subarray(hex(v.hashIData).length - 8))
    t.deepEqual(only(p5, PAYLOAD.HASH).body, hex(v.hashI))
    t.deepEqual(mm5.lastBlock, hex(ivs[0]!.hex), ivs[0]!.source)
    // Our encrypt reproduces the capture from strongSwan's plaintext (padding included).
    t.deepEqual(encrypt(cipher, ka, hex(v.initialIv), mm5.plaintext).ciphertext, x.mm5.body)
    // And where it lies (how the endpoint seals the buffer it sends), with the next IV.
    const inPlace = Buffer.from(mm5.plaintext)
    t.deepEqual(encryptInPlace(cipher, ka, hex(v.initialIv), inPlace), mm5.lastBlock)
    t.deepEqual(inPlace, x.mm5.body)

    const mm6 = decrypt(cipher, ka, mm5.lastBlock, x.mm6.body)
    const p6 = payloads(mm6.plaintext, x.mm6.firstPayload)
    t.is(x.mm6.firstPayload, PAYLOAD.ID)
    t.deepEqual(only(p6, PAYLOAD.ID).body, hex(v.hashRData).subarray(hex(v.hashRData).length - 8))
    t.deepEqual(only(p6, PAYLOAD.HASH).body, hex(v.hashR))
    t.deepEqual(mm6.lastBlock, hex(ivs[1]!.hex), ivs[1]!.source)
  })

  test(`${v.session}: Quick Mode IVs, HASH(1), HASH(2), HASH(3) and KEYMAT = the kernel's ESP keys`, (t) => {
    const x = exchange(v.session, v.quickMode.messageId)
    const ivs = v.ivs.list
    const ka = hex(v.ka)
    const mid = v.quickMode.messageId
    const skeyidA = hex(v.skeyidA)
    t.true(ivs.slice(2).every((iv) => iv.messageId === mid))

    // The phase 2 IV chains from the last CBC block of phase 1 (Main Mode message 6).
    const lastPhase1Block = x.mm6.body.subarray(x.mm6.body.length - bs)
    const iv0 = phase2Iv(hash, lastPhase1Block, mid, bs)
    t.deepEqual(iv0, hex(ivs[2]!.hex), ivs[2]!.source)

    const qm1 = decrypt(cipher, ka, iv0, x.qm1.body)
    t.deepEqual(qm1.lastBlock, hex(ivs[3]!.hex), ivs[3]!.source)
    const p1 = payloads(qm1.plaintext, x.qm1.firstPayload)
    t.is(p1[0]!.type, PAYLOAD.HASH)
    const after1 = qm1.plaintext.subarray(p1[0]!.end, p1[p1.length - 1]!.end)
    const hash1 = quickHash1(hash, skeyidA, mid, after1)
    t.deepEqual(hash1, hex(v.quickMode.hash1), v.quickMode.hash1.source)
    t.deepEqual(p1[0]!.body, hash1)

    const qm2 = decrypt(cipher, ka, qm1.lastBlock, x.qm2.body)
    t.deepEqual(qm2.lastBlock, hex(ivs[4]!.hex), ivs[4]!.source)
    const p2 = payloads(qm2.plaintext, x.qm2.firstPayload)
    const niB = only(p1, PAYLOAD.NONCE).body
    const nrB = only(p2, PAYLOAD.NONCE).body
    const after2 = qm2.plaintext.subarray(p2[0]!.end, p2[p2.length - 1]!.end)
    const hash2 = quickHash2(hash, skeyidA, mid, niB, after2)
    t.deepEqual(hash2, hex(v.quickMode.hash2), v.quickMode.hash2.source)
    t.deepEqual(p2[0]!.body, hash2)

    const qm3 = decrypt(cipher, ka, qm2.lastBlock, x.qm3.body)
    t.deepEqual(qm3.lastBlock, hex(ivs[5]!.hex), ivs[5]!.source)
    const p3 = payloads(qm3.plaintext, x.qm3.firstPayload)
    t.deepEqual(p3.map((p) => p.type), [PAYLOAD.HASH])
    const hash3 = quickHash3(hash, skeyidA, mid, niB, nrB)
    t.deepEqual(hash3, hex(v.quickMode.hash3), v.quickMode.hash3.source)
    t.deepEqual(p3[0]!.body, hash3)

    // SPIs: each side's SA payload carries the SPI it receives on.
    const spiI = proposalSpi(only(p1, PAYLOAD.SA).body)
    const spiR = proposalSpi(only(p2, PAYLOAD.SA).body)
    t.is(spiI.toString('hex'), v.childSpis.inbound)
    t.is(spiR.toString('hex'), v.childSpis.outbound)

    // KEYMAT per SPI: the encryption key (for GCM with its salt), then the integrity key.
    const { encryptionKeyLength, integrityKeyLength, protocol } = v.esp
    t.is(v.xfrm.length, 4)
    for (const sa of v.xfrm) {
      const km = keymat(hash, hex(v.skeyidD), protocol, hex(sa.spi), niB, nrB, encryptionKeyLength + integrityKeyLength)
      t.is(km.subarray(0, encryptionKeyLength).toString('hex'), sa.encryptionKey, `${sa.source} SPI ${sa.spi} encryption key`)
      t.is(km.subarray(encryptionKeyLength).toString('hex'), sa.integrityKey, `${sa.source} SPI ${sa.spi} integrity key`)
    }
    t.deepEqual([...new Set(v.xfrm.map((sa) => sa.spi))].sort(), [v.childSpis.inbound, v.childSpis.outbound].sort())
  })

  test(`${v.session}: the recorded public values are accepted by computeSecret`, (t) => {
    // The logs dump g^xy but no private value, so our computeSecret cannot
    // be checked against this session's secret; it must accept both peers'
    // public values and give a secret of the logged length.
    const ours = new DhKeyPair(dhGroup(v.ike.dhGroup)!)
    for (const pub of [hex(v.gxi), hex(v.gxr)]) t.is(ours.computeSecret(pub).length, hex(v.gxy).length)
  })
}

// --- Diffie-Hellman -------------------------------------------------------------

test('SUPPORTED_DH_GROUPS and dhGroup', (t) => {
  t.deepEqual([...SUPPORTED_DH_GROUPS], [2, 5, 14, 15, 16, 19, 20, 21])
  const expect: Record<number, [string, 'modp' | 'ecp', number]> = {
    1: ['modp768', 'modp', 96],
    2: ['modp1024', 'modp', 128],
    5: ['modp1536', 'modp', 192],
    14: ['modp2048', 'modp', 256],
    15: ['modp3072', 'modp', 384],
    16: ['modp4096', 'modp', 512],
    19: ['ecp256', 'ecp', 64],
    20: ['ecp384', 'ecp', 96],
    21: ['ecp521', 'ecp', 132],
  }
  for (const [id, [name, kind, publicLength]] of Object.entries(expect)) {
    t.deepEqual(dhGroup(Number(id)), { id: Number(id), name, kind, publicLength })
  }
  t.is(dhGroup(3), undefined)
  t.is(dhGroup(22), undefined)
  t.throws(() => new DhKeyPair({ id: 99, name: 'x', kind: 'modp', publicLength: 1 }), { instanceOf: IkeCryptoError, message: /unknown/ })
})

const EXPONENT_BITS: Record<number, number> = { 2: 256, 5: 256, 14: 320, 15: 420, 16: 480 }
const NODE_MODP: Record<number, string> = { 1: 'modp1', 2: 'modp2', 5: 'modp5', 14: 'modp14', 15: 'modp15', 16: 'modp16' }
const NODE_CURVE: Record<number, string> = { 19: 'prime256v1', 20: 'secp384r1', 21: 'secp521r1' }

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n
  let b = base % modulus
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus
    b = (b * b) % modulus
  }
  return result
}

for (const id of SUPPORTED_DH_GROUPS) {
  const group = dhGroup(id)!
  test(`DH group ${id} (${group.name}): two key pairs agree, public values on the wire format`, (t) => {
    const a = new DhKeyPair(group)
    const b = new DhKeyPair(group)
    t.is(a.publicKey.length, group.publicLength)
    t.is(b.publicKey.length, group.publicLength)
    t.notDeepEqual(a.publicKey, b.publicKey)
    const secret = a.computeSecret(b.publicKey)
    t.deepEqual(secret, b.computeSecret(a.publicKey))
    if (group.kind === 'modp') {
      t.is(secret.length, group.publicLength)
      // A short exponent: RFC 3526 section 8 sizes, never below 256 bits, never full length.
      t.is(a.privateKeyBits, EXPONENT_BITS[id]!)
      t.true(a.privateKeyBits <= 512)
      // Cross-check with an independent prime (node's RFC 2409/3526 table) and its own DH.
      const prime = getDiffieHellman(NODE_MODP[id]!).getPrime()
      const nodeDh = createDiffieHellman(prime, Buffer.from([2]))
      nodeDh.generateKeys()
      const theirs = nodeDh.computeSecret(a.publicKey)
      t.deepEqual(a.computeSecret(Buffer.concat([Buffer.alloc(group.publicLength - nodeDh.getPublicKey().length), nodeDh.getPublicKey()])).subarray(-theirs.length), theirs)
    } else {
      t.is(secret.length, group.publicLength / 2, 'the x coordinate only')
      // x | y with no 0x04: prefixing 0x04 makes a valid SEC 1 point for node's own ECDH.
      const nodeEcdh = createECDH(NODE_CURVE[id]!)
      nodeEcdh.generateKeys()
      const theirs = nodeEcdh.computeSecret(Buffer.concat([Buffer.from([4]), a.publicKey]))
      t.deepEqual(a.computeSecret(nodeEcdh.getPublicKey().subarray(1)), theirs)
    }
  })
}

for (const kv of KE_VECTORS) {
  test(`DH group ${kv.group} (${kv.name}): strongSwan known-answer vector`, (t) => {
    const group = dhGroup(kv.group)!
    const i = new DhKeyPair(group, hex(kv.privateI))
    const r = new DhKeyPair(group, hex(kv.privateR))
    t.is(i.publicKey.toString('hex'), kv.publicI)
    t.is(r.publicKey.toString('hex'), kv.publicR)
    t.is(i.computeSecret(r.publicKey).toString('hex'), kv.shared)
    t.is(r.computeSecret(i.publicKey).toString('hex'), kv.shared)
  })
}

test('DH group 14: public value and secret against BigInt arithmetic, padded to the prime length', (t) => {
  const group = dhGroup(14)!
  const p = BigInt(`0x${getDiffieHellman('modp14').getPrime('hex')}`)
  const x = hex('5f1e0c9a7b3d2e41a6c8b0f3e2d1c4b5a69788796a5b4c3d2e1f00112233445566778899')
  const a = new DhKeyPair(group, x)
  t.is(a.publicKey.toString('hex'), modPow(2n, BigInt(`0x${x.toString('hex')}`), p).toString(16).padStart(512, '0'))
  // Private exponent 2: g^x = 4, sent as 255 zero bytes and 0x04.
  const small = new DhKeyPair(group, Buffer.from([2]))
  t.deepEqual(small.publicKey, Buffer.concat([Buffer.alloc(255), Buffer.from([4])]))
  t.deepEqual(small.computeSecret(small.publicKey), Buffer.concat([Buffer.alloc(255), Buffer.from([16])]))
})

test('DH: bad public values throw IKE_BAD_KE', (t) => {
  for (const id of [2, 14]) {
    const group = dhGroup(id)!
    const a = new DhKeyPair(group)
    const p = BigInt(`0x${getDiffieHellman(NODE_MODP[id]!).getPrime('hex')}`)
    const value = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(group.publicLength * 2, '0'), 'hex')
    for (const bad of [0n, 1n, p - 1n, p, p + 1n, (1n << BigInt(group.publicLength * 8)) - 1n]) {
      const err = t.throws(() => a.computeSecret(value(bad)), { instanceOf: IkeCryptoError })
      t.is(err?.code, 'IKE_BAD_KE')
    }
    t.is(a.computeSecret(value(2n)).length, group.publicLength, '2 is in range')
    t.is(t.throws(() => a.computeSecret(a.publicKey.subarray(1)), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_KE')
    t.is(t.throws(() => a.computeSecret(Buffer.concat([Buffer.alloc(1), a.publicKey])), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_KE')
  }
  for (const id of [19, 20, 21]) {
    const group = dhGroup(id)!
    const a = new DhKeyPair(group)
    const b = new DhKeyPair(group)
    const offCurve = Buffer.from(b.publicKey)
    offCurve[offCurve.length - 1]! ^= 1
    for (const bad of [offCurve, Buffer.alloc(group.publicLength), b.publicKey.subarray(1), Buffer.concat([Buffer.from([4]), b.publicKey])]) {
      t.is(t.throws(() => a.computeSecret(bad), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_KE', `group ${id}`)
    }
  }
})

test('DH: private keys out of range are refused', (t) => {
  t.is(t.throws(() => new DhKeyPair(dhGroup(14)!, Buffer.from([1])), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_PRIVATE_KEY')
  t.is(t.throws(() => new DhKeyPair(dhGroup(19)!, Buffer.alloc(32)), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_PRIVATE_KEY')
  t.is(t.throws(() => new DhKeyPair(dhGroup(19)!, Buffer.alloc(33, 1)), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_PRIVATE_KEY')
})

// --- the rest of crypto.ts ------------------------------------------------------

test('prf is HMAC; skeyidSig = prf(Ni_b | Nr_b, g^xy); hash lengths', (t) => {
  // RFC 2202 test case 2 (HMAC-SHA1) and RFC 4231 test case 2 (HMAC-SHA-256).
  t.is(prf('sha1', Buffer.from('Jefe'), Buffer.from('what do ya want '), Buffer.from('for nothing?')).toString('hex'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79')
  t.is(prf('sha256', Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843')
  t.is(prf('md5', Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex'), '750c783e6ab0b503eaa86e310a5db738')
  const ni = Buffer.alloc(16, 1)
  const nr = Buffer.alloc(16, 2)
  const gxy = Buffer.alloc(32, 3)
  t.deepEqual(skeyidSig('sha384', ni, nr, gxy), prf('sha384', Buffer.concat([ni, nr]), gxy))
  t.deepEqual((['md5', 'sha1', 'sha256', 'sha384', 'sha512'] as const).map(hashLength), [16, 20, 32, 48, 64])
  t.deepEqual(digest('sha1', Buffer.from('abc')).toString('hex'), 'a9993e364706816aba3e25717850c26c9cd0d89d')
})

test('encryptionKey: appendix B expansion for long keys, truncation for short ones', (t) => {
  const e = Buffer.alloc(16, 0xab) // an MD5 SKEYID_e
  const k1 = prf('md5', e, Buffer.from([0]))
  const k2 = prf('md5', e, k1)
  t.deepEqual(encryptionKey('md5', e, 32), Buffer.concat([k1, k2]))
  t.deepEqual(encryptionKey('md5', e, 24), Buffer.concat([k1, k2]).subarray(0, 24))
  t.deepEqual(encryptionKey('md5', e, 16), e)
  t.deepEqual(encryptionKey('sha512', Buffer.alloc(64, 7), 32), Buffer.alloc(32, 7))
})

test('keymat: K1 | K2 | ... with and without PFS', (t) => {
  const d = Buffer.alloc(20, 9)
  const spi = Buffer.from('c0ffee01', 'hex')
  const ni = Buffer.alloc(32, 1)
  const nr = Buffer.alloc(32, 2)
  const seed = Buffer.concat([Buffer.from([3]), spi, ni, nr])
  const k1 = prf('sha1', d, seed)
  const k2 = prf('sha1', d, k1, seed)
  const k3 = prf('sha1', d, k2, seed)
  t.deepEqual(keymat('sha1', d, 3, spi, ni, nr, 52), Buffer.concat([k1, k2, k3]).subarray(0, 52))
  const g = Buffer.alloc(256, 5)
  const p1 = prf('sha1', d, g, seed)
  t.deepEqual(keymat('sha1', d, 3, spi, ni, nr, 40, g), Buffer.concat([p1, prf('sha1', d, p1, g, seed)]))
})

test('informationalHash = prf(SKEYID_a, M-ID | N/D)', (t) => {
  const a = Buffer.alloc(20, 4)
  const notify = Buffer.from('0000000c0000000101106002', 'hex')
  t.deepEqual(informationalHash('sha1', a, 0x01020304, notify), prf('sha1', a, Buffer.from([1, 2, 3, 4]), notify))
  t.deepEqual(quickHash1('sha1', a, 0x01020304, notify), informationalHash('sha1', a, 0x01020304, notify))
})

test('encrypt/decrypt: zero padding, chaining block, errors', (t) => {
  for (const [cipher, keyLength] of [['des3', 24], ['aes', 16], ['aes', 24], ['aes', 32]] as const) {
    const key = Buffer.alloc(keyLength, 0x42)
    const iv = Buffer.alloc(blockSize(cipher), 0x24)
    const plain = Buffer.from('an ISAKMP payload of 29 bytes')
    const { ciphertext, lastBlock } = encrypt(cipher, key, iv, plain)
    const padded = Math.ceil(plain.length / blockSize(cipher)) * blockSize(cipher)
    t.is(ciphertext.length, padded)
    t.deepEqual(lastBlock, ciphertext.subarray(-blockSize(cipher)))
    const back = decrypt(cipher, key, iv, ciphertext)
    t.deepEqual(back.plaintext, Buffer.concat([plain, Buffer.alloc(padded - plain.length)]))
    t.deepEqual(back.lastBlock, lastBlock)
    t.is(t.throws(() => decrypt(cipher, key, iv, ciphertext.subarray(1)), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_CIPHERTEXT')
    t.is(t.throws(() => decrypt(cipher, key, iv, Buffer.alloc(0)), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_CIPHERTEXT')
    t.is(t.throws(() => encrypt(cipher, key.subarray(1), iv, plain), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_KEY_LENGTH')
    t.is(t.throws(() => encrypt(cipher, key, iv.subarray(1), plain), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_IV')
  }
  t.deepEqual([blockSize('des3'), blockSize('aes')], [8, 16])
})

test('natD and message IDs: argument checks', (t) => {
  const cky = Buffer.alloc(8)
  t.is(natD('sha1', cky, cky, Buffer.alloc(16), 4500).length, 20, 'IPv6')
  t.is(t.throws(() => natD('sha1', cky, cky, Buffer.alloc(5), 500), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_ARGUMENT')
  t.is(t.throws(() => quickHash3('sha1', cky, 2 ** 32, cky, cky), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_ARGUMENT')
  t.is(t.throws(() => deriveSkeyids('sha1', cky, cky, Buffer.alloc(4), cky), { instanceOf: IkeCryptoError })?.code, 'IKE_BAD_ARGUMENT')
})

test('encryptInPlace refuses data that is not whole blocks, or that shares memory with the key or IV', (t) => {
  const key = Buffer.alloc(16, 1)
  const iv = Buffer.alloc(16, 2)
  t.throws(() => encryptInPlace('aes', key, iv, Buffer.alloc(20)), { instanceOf: IkeCryptoError })
  t.throws(() => encryptInPlace('aes', key, iv, Buffer.alloc(0)), { instanceOf: IkeCryptoError })
  const shared = Buffer.alloc(64, 3)
  const data = shared.subarray(16, 48)
  const before = Buffer.from(data)
  t.throws(() => encryptInPlace('aes', shared.subarray(0, 16), shared.subarray(40, 56), data), { code: 'IKE_BAD_ARGUMENT' })
  t.throws(() => encryptInPlace('aes', shared.subarray(32, 48), iv, data), { code: 'IKE_BAD_ARGUMENT' })
  t.deepEqual(data, before, 'nothing written when refused')
  // Disjoint views of one ArrayBuffer are fine, and give what encrypt gives.
  const ok = Buffer.from(shared)
  const expected = encrypt('aes', ok.subarray(0, 16), ok.subarray(48, 64), Buffer.from(ok.subarray(16, 48))).ciphertext
  encryptInPlace('aes', ok.subarray(0, 16), ok.subarray(48, 64), ok.subarray(16, 48))
  t.deepEqual(ok.subarray(16, 48), expected)
})
