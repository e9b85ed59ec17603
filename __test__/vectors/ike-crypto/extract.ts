// Regenerates the <session>.json files beside this script from the recorded
// sessions in ../real/: every value the charon logs dump (with the log line
// it came from), the nonces and cookies from the capture's clear Main Mode
// messages, and the ESP keys from the xfrm-state files.
//
//   node --import tsx __test__/vectors/ike-crypto/extract.ts
//
// Every value the client and the server both dump must agree, or this
// script stops: the JSON then cites both lines.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseIpv4 } from '../../helpers/packets.js'
import { readCapture } from '../../helpers/pcap.js'
import { parseXfrmState } from '../../helpers/xfrm.js'

const HERE = new URL('.', import.meta.url).pathname
const REAL = join(HERE, '../real')

interface Dump {
  label: string
  hex: string
  /** `file:first-last`, 1-based lines, the label line first. */
  source: string
}

/** Every `LABEL => N bytes` hex dump of a charon log, in order. */
function dumps(dir: string, file: string): Dump[] {
  const lines = readFileSync(join(dir, file), 'utf8').split('\n')
  const out: Dump[] = []
  for (let i = 0; i < lines.length; i++) {
    const m = /^\d+ (\d+)\[IKE\] (.+) => (\d+) bytes$/.exec(lines[i]!)
    if (!m) continue
    const thread = m[1]!
    let remaining = Number(m[3])
    const bytes: string[] = []
    let j = i + 1
    while (remaining > 0) {
      const d = new RegExp(`^\\d+ ${thread}\\[IKE\\] +\\d+: (.*)$`).exec(lines[j] ?? '')
      if (!d) throw new Error(`${file}:${j + 1}: dump of ${m[2]} ends early`)
      const take = Math.min(16, remaining)
      const tokens = d[1]!.split(' ').slice(0, take)
      if (!tokens.every((t) => /^[0-9A-F]{2}$/.test(t))) throw new Error(`${file}:${j + 1}: bad hex`)
      bytes.push(...tokens)
      remaining -= take
      j++
    }
    out.push({ label: m[2]!, hex: bytes.join('').toLowerCase(), source: `${file}:${i + 1}-${j}` })
    i = j - 1
  }
  return out
}

function lineOf(dir: string, file: string, pattern: RegExp): { match: RegExpExecArray; source: string } {
  const lines = readFileSync(join(dir, file), 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const match = pattern.exec(lines[i]!)
    if (match) return { match, source: `${file}:${i + 1}` }
  }
  throw new Error(`${file}: no line matches ${pattern}`)
}

interface Value {
  hex: string
  source: string
}

/** The n-th dump labelled `label` in the client log, checked against the server's. */
function agreed(client: Dump[], server: Dump[], label: string, n = 0): Value {
  const c = client.filter((d) => d.label === label)[n]
  const s = server.filter((d) => d.label === label)[n]
  if (!c) throw new Error(`client log has no ${label} #${n}`)
  if (s && s.hex !== c.hex) throw new Error(`${label} #${n}: client ${c.source} and server ${s.source} disagree`)
  return { hex: c.hex, source: s ? `${c.source}, ${s.source}` : c.source }
}

interface IkeMessage {
  frame: number
  fromInitiator: boolean
  ike: Buffer
}

function ikeMessages(dir: string): IkeMessage[] {
  const out: IkeMessage[] = []
  readCapture(readFileSync(join(dir, 'session.pcap'))).forEach((f, index) => {
    const ip = parseIpv4(f.data, f.linkType)
    if (!ip || ip.protocol !== 17) return
    const sport = ip.payload.readUInt16BE(0)
    const dport = ip.payload.readUInt16BE(2)
    let body = ip.payload.subarray(8)
    if (sport === 4500 || dport === 4500) {
      if (body.length < 4 || body.readUInt32BE(0) !== 0) return // keepalive or ESP
      body = body.subarray(4) // non-ESP marker, RFC 3948 section 2.2
    } else if (sport !== 500 && dport !== 500) {
      return
    }
    out.push({ frame: index + 1, fromInitiator: dport === 500 || dport === 4500, ike: body })
  })
  return out
}

/** Payloads of a clear IKE message: [type, body]. */
function payloads(ike: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = []
  let type = ike[16]!
  let at = 28
  while (type !== 0) {
    const length = ike.readUInt16BE(at + 2)
    out.push([type, ike.subarray(at + 4, at + length)])
    type = ike[at]!
    at += length
  }
  return out
}

const IKE_SUITES: Record<string, { hash: string; cipher: string; keyLength: number; dhGroup: number }> = {
  'IKE:AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048': { hash: 'sha1', cipher: 'aes', keyLength: 16, dhGroup: 14 },
  'IKE:AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/ECP_384': { hash: 'sha1', cipher: 'aes', keyLength: 32, dhGroup: 20 },
  'IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048': { hash: 'sha256', cipher: 'aes', keyLength: 32, dhGroup: 14 },
  'IKE:3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024': { hash: 'sha1', cipher: 'des3', keyLength: 24, dhGroup: 2 },
}

// ESP key lengths: RFC 3602 (AES-CBC), RFC 2451 (3DES, 192 bits with parity),
// RFC 4106 section 8.1 (GCM: key + 4-byte salt), RFC 2403/2404 (HMAC keys).
const ESP_SUITES: Record<string, { encryptionKeyLength: number; integrityKeyLength: number }> = {
  'ESP:AES_CBC_128/HMAC_SHA1_96/NO_EXT_SEQ': { encryptionKeyLength: 16, integrityKeyLength: 20 },
  'ESP:AES_CBC_256/HMAC_SHA1_96/NO_EXT_SEQ': { encryptionKeyLength: 32, integrityKeyLength: 20 },
  'ESP:3DES_CBC/HMAC_MD5_96/NO_EXT_SEQ': { encryptionKeyLength: 24, integrityKeyLength: 16 },
  'ESP:AES_GCM_16_128/NO_EXT_SEQ': { encryptionKeyLength: 20, integrityKeyLength: 0 },
}

for (const session of readdirSync(REAL, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
  const dir = join(REAL, session)
  const client = dumps(dir, 'charon-client.log')
  const server = dumps(dir, 'charon-server.log')
  const ike = lineOf(dir, 'charon-client.log', /selected proposal: (IKE:\S+)/)
  const esp = lineOf(dir, 'charon-client.log', /selected proposal: (ESP:\S+)/)
  const suite = IKE_SUITES[ike.match[1]!]
  const espSuite = ESP_SUITES[esp.match[1]!]
  if (!suite || !espSuite) throw new Error(`${session}: unknown proposal ${ike.match[1]} / ${esp.match[1]}`)
  const child = lineOf(dir, 'charon-client.log', /CHILD_SA \S+ established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o/)

  // Main Mode messages 3 and 4 carry KE and Nonce in clear (RFC 2409 5.4).
  const messages = ikeMessages(dir)
  const kePayloads = messages.filter((m) => m.ike[18] === 2 && !(m.ike[19]! & 1) && payloads(m.ike).some(([t]) => t === 4))
  const mm3 = kePayloads.find((m) => m.fromInitiator)!
  const mm4 = kePayloads.find((m) => !m.fromInitiator)!
  const nonce = (m: IkeMessage): Value => ({
    hex: payloads(m.ike).find(([t]) => t === 10)![1].toString('hex'),
    source: `session.pcap frame ${m.frame} (Main Mode message ${m.fromInitiator ? 3 : 4}, Nonce payload body)`,
  })
  const ke = (m: IkeMessage): Value => ({
    hex: payloads(m.ike).find(([t]) => t === 4)![1].toString('hex'),
    source: `session.pcap frame ${m.frame} (Main Mode message ${m.fromInitiator ? 3 : 4}, Key Exchange payload body)`,
  })

  const hashIData = agreed(client, server, 'HASH_I data')
  const gxi = ke(mm3)
  const gxr = ke(mm4)
  const publicLength = gxi.hex.length / 2
  const data = Buffer.from(hashIData.hex, 'hex')
  // HASH_I data = g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b (RFC 2409 section 5)
  if (data.subarray(0, publicLength).toString('hex') !== gxi.hex) throw new Error(`${session}: HASH_I data does not start with g^xi`)
  if (data.subarray(publicLength, 2 * publicLength).toString('hex') !== gxr.hex) throw new Error(`${session}: HASH_I data lacks g^xr`)
  const cookies = data.subarray(2 * publicLength, 2 * publicLength + 16)
  if (cookies.toString('hex') !== mm3.ike.subarray(0, 16).toString('hex')) throw new Error(`${session}: cookies differ from the capture`)
  const cookieSource = `session.pcap frame ${mm3.frame} (ISAKMP header); also ${hashIData.source} bytes ${2 * publicLength}-${2 * publicLength + 15}`

  // Each side's NAT-D inputs and hashes: the client's go into Main Mode
  // message 3, the server's (over the addresses and NAT port it sees) into 4.
  const natd = [client, server].flatMap((log) =>
    log
      .map((d, i) => ({ d, next: log[i + 1] }))
      .filter(({ d, next }) => d.label === 'natd_chunk' && next?.label === 'natd_hash')
      .map(({ d, next }) => ({ chunk: d.hex, hash: next!.hex, source: `${d.source}, ${next!.source}` })),
  )

  const ivs = client
    .filter((d) => d.label.startsWith('next IV for MID '))
    .map((d) => ({ messageId: Number(d.label.slice('next IV for MID '.length)), hex: d.hex, source: d.source }))
  const qmId = ivs.find((iv) => iv.messageId !== 0)!.messageId

  const xfrm = ['client', 'server'].flatMap((side) =>
    parseXfrmState(readFileSync(join(dir, `xfrm-state-${side}.txt`), 'utf8')).map((sa) => ({
      spi: sa.spi.toString(16).padStart(8, '0'),
      src: sa.src,
      dst: sa.dst,
      encryptionKey: sa.encryptionKey.toString('hex'),
      integrityKey: sa.integrityKey.toString('hex'),
      source: `xfrm-state-${side}.txt`,
    })),
  )

  const vector = {
    session,
    about:
      'Values from ../real/' +
      session +
      ' for __test__/ike-crypto.spec.ts, written by extract.ts. "source" names the log lines (file:first-last, label line first) or capture frame each value came from; where both charon logs dump a value they agree and both are cited.',
    psk: { utf8: 'hidden-case-psk-7f3a9c1e5b', source: '../real/README.md' },
    ike: { proposal: ike.match[1], source: ike.source, ...suite },
    esp: { proposal: esp.match[1], source: esp.source, protocol: 3, ...espSuite },
    childSpis: { inbound: child.match[1], outbound: child.match[2], source: child.source, note: 'as the client (initiator) names them' },
    ckyI: { hex: cookies.subarray(0, 8).toString('hex'), source: cookieSource },
    ckyR: { hex: cookies.subarray(8, 16).toString('hex'), source: cookieSource },
    ni: nonce(mm3),
    nr: nonce(mm4),
    gxi,
    gxr,
    gxy: agreed(client, server, 'shared Diffie Hellman secret'),
    skeyid: agreed(client, server, 'SKEYID'),
    skeyidD: agreed(client, server, 'SKEYID_d'),
    skeyidA: agreed(client, server, 'SKEYID_a'),
    skeyidE: agreed(client, server, 'SKEYID_e'),
    ka: agreed(client, server, 'encryption key Ka'),
    initialIv: agreed(client, server, 'initial IV'),
    hashIData,
    hashI: agreed(client, server, 'HASH_I'),
    hashRData: agreed(client, server, 'HASH_R data'),
    hashR: agreed(client, server, 'HASH_R'),
    quickMode: {
      messageId: qmId,
      hash1: agreed(client, server, 'Hash(1)'),
      hash2: agreed(client, server, 'Hash(2)'),
      hash3: agreed(client, server, 'Hash(3)'),
    },
    natd,
    ivs: {
      note: "the client's 'next IV for MID' dumps in order: MID 0 after Main Mode message 5 is sent and after 6 is received (each the last ciphertext block); then for the Quick Mode MID the initial phase 2 IV, then after Quick Mode messages 1, 2 and 3",
      list: ivs,
    },
    xfrm,
  }
  writeFileSync(join(HERE, `${session}.json`), `${JSON.stringify(vector, null, 2)}\n`)
  console.log(`${session}: ${natd.length} NAT-D pairs, ${ivs.length} IVs, QM MID ${qmId}`)
}
