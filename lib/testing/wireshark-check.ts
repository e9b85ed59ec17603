/**
 * (Used by the tests and the interop harness; not part of the public API.)
 *
 * A capture read back by tshark with the server's exported keys (the lines
 * of `keys --wireshark` or `serve --keylog`): what decrypted and what did
 * not. IKE: every encrypted ISAKMP message whose initiator cookie has a key
 * must decrypt to the payloads its exchange carries — Main Mode 5/6 an ID
 * and a HASH (or SIG), Quick Mode a HASH first and, in messages 1/2, SA, Nonce and
 * the two IDs, Informational a HASH first. ESP: every packet must pass the
 * ICV check (GCM: decrypt) and carry what `inner` says (esp-inner.ts: L2TP
 * by default; an IP packet between two LANs for a site-to-site link); raw
 * (IP protocol 50) and UDP 4500 are counted apart. Malformed frames are
 * counted too.
 */
import { execFile } from 'node:child_process'
import { tsharkKeyArgs } from '../debug/wireshark-keys.js'
import { describeInner, INNER_FIELDS, innerJudge, L2TP_INNER, type EspInner } from './esp-inner.js'

export interface DecryptionReport {
  frames: number
  malformed: number
  ike: {
    /** Encrypted ISAKMP messages whose initiator cookie has a key. */
    encryptedWithKey: number
    /** Encrypted ISAKMP messages with no key for their cookie (e.g. a refused Main Mode). */
    encryptedWithoutKey: number
    /** Decrypted Main Mode messages (5/6) holding ID and HASH (or SIG). */
    mainMode: number
    /** Main Mode messages sent as IKE fragments (RFC-less IKEv1 fragmentation, e.g. strongSwan with certificates): tshark 4.0 reassembles but does not decrypt them. */
    mainModeFragmented: number
    /** Decrypted Quick Mode messages with HASH first; and those of them with SA, Nonce and two IDs (messages 1/2). */
    quickMode: number
    quickModeWithSa: number
    informational: number
  }
  esp: {
    total: number
    raw: number
    udp: number
    /** ICV good (or GCM opened) and the expected inner packet (L2TP by default). */
    decrypted: number
  }
  /** The first problems, frame by frame. */
  problems: string[]
}

const P = { SA: 1, ID: 5, HASH: 8, SIG: 9, NONCE: 10 }
const EXCHANGE = { MAIN: 2, INFORMATIONAL: 5, QUICK: 32 }

function run(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { maxBuffer: 512 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tshark ${err.message}: ${stderr.slice(-1000)}`))
      else resolve(stdout)
    })
  })
}

/** Reads `pcap` with the key lines; asynchronous (the harness keeps its timers running meanwhile). */
export async function checkDecryption(pcap: string, keyLines: readonly string[], inner: EspInner = L2TP_INNER, timeoutMs = 300_000): Promise<DecryptionReport> {
  const judge = innerJudge(inner)
  const keyed = new Set(keyLines.filter((l) => l.startsWith('uat:ikev1_decryption_table:')).map((l) => /^uat:ikev1_decryption_table:([0-9a-f]{16}),/.exec(l)?.[1]))
  const gcm = new Set<number>()
  for (const l of keyLines) {
    const m = /^uat:esp_sa:"[^"]*","[^"]*","[^"]*","(0x[0-9a-f]+)","AES-GCM/.exec(l)
    if (m) gcm.add(Number(m[1]))
  }
  const fields = ['frame.number', 'frame.protocols', '_ws.malformed', 'isakmp.ispi', 'isakmp.exchangetype', 'isakmp.flag_e', 'isakmp.typepayload', 'esp.spi', 'esp.icv_good', 'esp.icv_bad', ...INNER_FIELDS]
  const out = await run(['-n', '-r', pcap, ...tsharkKeyArgs(keyLines), '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])], timeoutMs)
  const r: DecryptionReport = {
    frames: 0,
    malformed: 0,
    ike: { encryptedWithKey: 0, encryptedWithoutKey: 0, mainMode: 0, mainModeFragmented: 0, quickMode: 0, quickModeWithSa: 0, informational: 0 },
    esp: { total: 0, raw: 0, udp: 0, decrypted: 0 },
    problems: [],
  }
  const problem = (s: string) => {
    if (r.problems.length < 10) r.problems.push(s)
  }
  for (const line of out.split('\n')) {
    if (!line) continue
    const [frame, protocols = '', malformed = '', ispi = '', exchange = '', flagE = '', payloadText = '', spi = '', good = '', bad = '', ipSrc = '', ipDst = ''] = line.split('|')
    r.frames++
    if (malformed || protocols.includes('_ws.malformed')) {
      r.malformed++
      problem(`frame ${frame}: malformed (${protocols})`)
    }
    // The last of an IKEv1 message's fragments carries the reassembled message (its header then listed after the fragment's).
    if (protocols.includes('isakmp') && payloadText.split(',').includes('132') && exchange.split(',')[0] === String(EXCHANGE.MAIN)) {
      if (flagE.split(',').includes('1')) r.ike.mainModeFragmented++
      continue
    }
    if (protocols.includes('isakmp') && (flagE === '1' || flagE === 'True')) {
      const cookie = ispi.split(',')[0]!.replace(/^0x/, '').replace(/:/g, '')
      if (!keyed.has(cookie)) {
        r.ike.encryptedWithoutKey++
        continue
      }
      r.ike.encryptedWithKey++
      // tshark lists the Proposal (2) and Transform (3) payloads inside an SA too.
      const types = payloadText ? payloadText.split(',').map(Number).filter((p) => p !== 2 && p !== 3) : []
      const kind = Number(exchange.split(',')[0])
      const ids = types.filter((p) => p === P.ID).length
      if (kind === EXCHANGE.MAIN) {
        // Pre-shared keys: ID and HASH; RSA signatures: ID, CERT and SIG.
        if (ids >= 1 && (types.includes(P.HASH) || types.includes(P.SIG))) r.ike.mainMode++
        else problem(`frame ${frame}: Main Mode message did not decrypt to ID and HASH or SIG (payloads ${types.join(',') || 'none'})`)
      } else if (kind === EXCHANGE.QUICK) {
        if (types[0] !== P.HASH) problem(`frame ${frame}: Quick Mode message did not decrypt to HASH first (payloads ${types.join(',') || 'none'})`)
        else {
          r.ike.quickMode++
          if (types.includes(P.SA)) {
            if (types.includes(P.NONCE) && ids === 2) r.ike.quickModeWithSa++
            else problem(`frame ${frame}: Quick Mode SA without Nonce and two IDs (payloads ${types.join(',')})`)
          }
        }
      } else if (kind === EXCHANGE.INFORMATIONAL) {
        if (types[0] === P.HASH) r.ike.informational++
        else problem(`frame ${frame}: Informational message did not decrypt to HASH first (payloads ${types.join(',') || 'none'})`)
      }
      continue
    }
    if (!spi || !/(^|:)esp(:|$)/.test(protocols)) continue
    const spiValue = Number(spi.split(',')[0])
    if (spiValue === 0) continue
    r.esp.total++
    if (/:udp(:udpencap)?:esp/.test(protocols)) r.esp.udp++
    else r.esp.raw++
    const icvBad = bad.startsWith('1') || bad === 'True'
    const icvGood = good.startsWith('1') || good === 'True'
    // GCM has no separate ICV flag: the expected packet found inside is the proof.
    const wrong = judge(protocols, ipSrc, ipDst)
    if (!icvBad && (icvGood || gcm.has(spiValue)) && wrong === undefined) r.esp.decrypted++
    else problem(`frame ${frame}: ESP SPI 0x${spiValue.toString(16)} did not decrypt to ${describeInner(inner)} (icv good ${good || '-'}, bad ${bad || '-'}${wrong ? `, ${wrong}` : `, ${protocols}`})`)
  }
  return r
}
