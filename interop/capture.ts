/**
 * The server side of every scenario on the wire: tshark captures IKE and
 * NAT-T (UDP 500 and 4500) inside the scenario's namespace, and afterwards
 * reads the capture back as an independent decoder:
 *
 * - no packet is malformed (IKE, ESP-in-UDP, and what is inside ESP);
 * - every ESP packet decrypts with the keys the *client's* kernel holds
 *   (`ip xfrm state` dumped by the guest), its ICV checks, and it carries
 *   L2TP (or, for a site-to-site scenario, an IP packet between the two
 *   LANs: `expect.inner`); so the server's ESP is what a real stack
 *   expects, checked by someone other than us;
 * - the ESP SPIs on the wire are the ones the server logged installing.
 */
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { INNER_FIELDS, innerJudge, L2TP_INNER, type EspInner } from '../lib/testing/esp-inner.js'
import { killGroup, spawnGroup, stopGroup } from './procs.js'

export interface Capture {
  file: string
  child: ChildProcess
  stop(): Promise<void>
}

/** Starts tshark in the namespace; resolves once it is capturing. */
export async function startCapture(netns: string, iface: string, file: string, ports = [500, 4500]): Promise<Capture> {
  // Raw ESP (IP protocol 50) too: the no-NAT topology could carry it.
  const filter = [...ports.map((p) => `udp port ${p}`), 'ip proto 50'].join(' or ')
  const child = spawnGroup('/usr/sbin/ip', ['netns', 'exec', netns, 'tshark', '-q', '-n', '-i', iface, '-f', filter, '-w', file])
  let err = ''
  child.stderr?.on('data', (d: Buffer) => (err += d))
  const deadline = Date.now() + 20_000
  while (!/Capturing on/.test(err)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tshark did not start: ${err}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    file,
    child,
    stop: async () => {
      await stopGroup(child, 10_000)
    },
  }
}

export interface XfrmSa {
  src: string
  dst: string
  spi: number
  /** tshark's names. */
  enc: string
  encKey: string
  auth: string
  authKey: string
  /** The kernel's description, for messages. */
  kernel: string
}

const ENC: Record<string, string> = {
  'cbc(aes)': 'AES-CBC [RFC3602]',
  'cbc(des3_ede)': 'TripleDES-CBC [RFC2451]',
  'rfc4106(gcm(aes))': 'AES-GCM with 16 octet ICV [RFC4106]',
  ecb_cipher_null: 'NULL',
}

function authName(alg: string, bits: number): string | undefined {
  const table: Record<string, string> = {
    'hmac(sha1)/96': 'HMAC-SHA-1-96 [RFC2404]',
    'hmac(md5)/96': 'HMAC-MD5-96 [RFC2403]',
    'hmac(sha256)/128': 'HMAC-SHA-256-128 [RFC4868]',
    'hmac(sha256)/96': 'HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]',
    'hmac(sha384)/192': 'HMAC-SHA-384-192 [RFC4868]',
    'hmac(sha512)/256': 'HMAC-SHA-512-256 [RFC4868]',
  }
  return table[`${alg}/${bits}`]
}

/** Every ESP SA in the guest's `ip xfrm state` dumps (deduplicated by SPI). */
export function parseXfrm(text: string): XfrmSa[] {
  const out = new Map<number, XfrmSa>()
  for (const block of text.split(/\n(?=src )/)) {
    const head = /^src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)/m.exec(block)
    if (!head) continue
    const spi = Number(head[3])
    const aead = /^\s*aead (\S+) 0x([0-9a-f]+) (\d+)/m.exec(block)
    const enc = /^\s*enc (\S+) 0x([0-9a-f]+)/m.exec(block)
    const auth = /^\s*auth-trunc (\S+) 0x([0-9a-f]+) (\d+)/m.exec(block)
    let sa: XfrmSa | undefined
    if (aead && ENC[aead[1]!]) {
      sa = { src: head[1]!, dst: head[2]!, spi, enc: ENC[aead[1]!]!, encKey: aead[2]!, auth: 'NULL', authKey: '', kernel: `${aead[1]}/${aead[3]}` }
    } else if (enc && auth && ENC[enc[1]!] && authName(auth[1]!, Number(auth[3]))) {
      sa = { src: head[1]!, dst: head[2]!, spi, enc: ENC[enc[1]!]!, encKey: enc[2]!, auth: authName(auth[1]!, Number(auth[3]))!, authKey: auth[2]!, kernel: `${enc[1]} ${auth[1]}/${auth[3]}` }
    }
    if (sa) out.set(spi, sa)
  }
  return [...out.values()]
}

export interface CaptureReport {
  packets: number
  ike: number
  malformed: { frame: number; protocols: string }[]
  esp: number
  espDecrypted: number
  /** ESP packets whose SPI no client key covers. */
  espUnknownSpi: number
  espIcvBad: number
  /** ESP packets with a good ICV but not the expected packet inside (L2TP, or IP between the LANs). */
  espBadInner: number
  spisOnWire: number[]
  /** Frames of the first few problems, for the failure message. */
  problems: string[]
}

/** tshark's output; asynchronous, so the runner's timers (other VMs' hard timeouts) keep running. */
function tshark(args: string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnGroup('tshark', ['-n', ...args])
    const out: Buffer[] = []
    let err = ''
    child.stdout?.on('data', (d: Buffer) => out.push(d))
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)))
    const timer = setTimeout(() => killGroup(child), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
      else reject(new Error(`tshark exited ${code}${code === null ? ` (killed after ${timeoutMs / 1000} s)` : ''}: ${err}`))
    })
  })
}

export async function analyseCapture(file: string, sas: XfrmSa[], inner: EspInner = L2TP_INNER): Promise<CaptureReport> {
  const report: CaptureReport = { packets: 0, ike: 0, malformed: [], esp: 0, espDecrypted: 0, espUnknownSpi: 0, espIcvBad: 0, espBadInner: 0, spisOnWire: [], problems: [] }
  const judge = innerJudge(inner)
  if (!existsSync(file)) {
    report.problems.push('no capture file')
    return report
  }
  const prefs = ['-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE']
  for (const sa of sas) {
    const spi = `0x${sa.spi.toString(16).padStart(8, '0')}`
    prefs.push('-o', `uat:esp_sa:"IPv4","*","*","${spi}","${sa.enc}","0x${sa.encKey}","${sa.auth}","${sa.authKey ? `0x${sa.authKey}` : ''}"`)
  }
  // One pass: every frame's protocols, the ESP fields and malformed flags.
  const fields = ['frame.number', 'frame.protocols', 'esp.spi', 'esp.icv_good', 'esp.icv_bad', '_ws.malformed', ...INNER_FIELDS]
  const out = await tshark(['-r', file, ...prefs, '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])])
  const known = new Set(sas.map((s) => s.spi))
  const spis = new Set<number>()
  for (const line of out.split('\n')) {
    if (!line) continue
    const [frame, protocols = '', spiText = '', good = '', bad = '', malformed = '', ipSrc = '', ipDst = ''] = line.split('|')
    report.packets++
    if (/isakmp/.test(protocols)) report.ike++
    if (malformed || /_ws\.malformed/.test(protocols)) {
      report.malformed.push({ frame: Number(frame), protocols })
      if (report.problems.length < 10) report.problems.push(`frame ${frame}: malformed (${protocols})`)
    }
    if (!spiText || !/:esp/.test(`:${protocols}`)) continue
    const spi = Number(spiText.split(',')[0])
    if (spi === 0) continue
    report.esp++
    spis.add(spi)
    if (!known.has(spi)) {
      report.espUnknownSpi++
      if (report.problems.length < 10) report.problems.push(`frame ${frame}: ESP SPI 0x${spi.toString(16)} not among the client's SAs`)
      continue
    }
    if (bad.startsWith('1') || bad === 'True') {
      report.espIcvBad++
      if (report.problems.length < 10) report.problems.push(`frame ${frame}: ESP ICV bad (SPI 0x${spi.toString(16)})`)
      continue
    }
    if (good.startsWith('1') || good === 'True' || /aes-gcm|gcm/i.test(sas.find((s) => s.spi === spi)?.kernel ?? '')) {
      const wrong = judge(protocols, ipSrc, ipDst)
      if (wrong === undefined) report.espDecrypted++
      else {
        report.espBadInner++
        if (report.problems.length < 10) report.problems.push(`frame ${frame}: ESP with good ICV but ${wrong}`)
      }
    }
  }
  report.spisOnWire = [...spis].sort((a, b) => a - b)
  return report
}

export function readXfrm(file: string): XfrmSa[] {
  return existsSync(file) ? parseXfrm(readFileSync(file, 'utf8')) : []
}

/**
 * A copy of the capture holding only the IKE messages, for reading them with
 * the server's keys. On QEMU's user network both ends are 127.0.0.1, and
 * Wireshark's IKEv1 decryption tells the initiator's KE payload from the
 * responder's by address alone: with both the same it computes a wrong IV
 * and decrypts nothing. In the copy the client's side (the port that is not
 * 500 or 4500) becomes 127.0.0.2; checksums are not checked by tshark.
 * Distinct addresses (the tap network) are copied unchanged.
 */
export async function ikeOnlyCopy(pcap: string, out: string): Promise<void> {
  const classic = `${out}.classic`
  await new Promise<void>((resolve, reject) => {
    const child = spawnGroup('editcap', ['-F', 'pcap', pcap, classic])
    let err = ''
    child.stderr?.on('data', (d: Buffer) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`editcap exited ${code}: ${err}`))))
  })
  const d = readFileSync(classic)
  rmSync(classic, { force: true })
  const little = d.readUInt32LE(0) === 0xa1b2c3d4 || d.readUInt32LE(0) === 0xa1b23c4d
  const u32 = (o: number) => (little ? d.readUInt32LE(o) : d.readUInt32BE(o))
  if (u32(20) !== 1) throw new Error(`ikeOnlyCopy: link type ${u32(20)}, expected Ethernet (1)`)
  const parts: Buffer[] = [d.subarray(0, 24)]
  const server = new Set([500, 4500])
  for (let off = 24; off + 16 <= d.length; ) {
    const incl = u32(off + 8)
    const record = Buffer.from(d.subarray(off, off + 16 + incl))
    off += 16 + incl
    const ip = 16 + 14
    if (record.length < ip + 28 || record[ip]! >> 4 !== 4 || record[ip + 9] !== 17) continue
    const udp = ip + (record[ip]! & 15) * 4
    const sport = record.readUInt16BE(udp)
    const dport = record.readUInt16BE(udp + 2)
    const payload = udp + 8
    const isIke = (sport === 500 || dport === 500) || ((sport === 4500 || dport === 4500) && record.length >= payload + 4 && record.readUInt32BE(payload) === 0)
    if (!isIke) continue
    if (record.subarray(ip + 12, ip + 16).equals(record.subarray(ip + 16, ip + 20))) {
      if (!server.has(sport)) record.set([127, 0, 0, 2], ip + 12)
      else if (!server.has(dport)) record.set([127, 0, 0, 2], ip + 16)
    }
    parts.push(record)
  }
  writeFileSync(out, Buffer.concat(parts))
}
