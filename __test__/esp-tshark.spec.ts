// Our ESP packets decrypted by an implementation nobody here wrote: tshark
// gets the keys through its esp_sa table, must find L2TP inside, and must
// report the ICV good (it shows a packet with a wrong ICV too, so the flag
// is what counts). See ../shared/INTEROP-NOTES.md.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { wiresharkEspAlgorithms } from '../lib/debug/wireshark-keys.js'
import { EspSa, espSuiteInfo, espSuites, packBatch, unpackBatch } from '../lib/index.js'
import { ipv4, l2tpHello, udp } from './helpers/packets.js'
import { writePcap } from './helpers/pcap.js'

const CLIENT = '127.0.0.2'
const SERVER = '127.0.0.1'

// tshark's display names for our algorithms (Wireshark's packet-esp.c), as `keys --wireshark` writes them.
function tsharkNames(suite: string): [string, string] {
  const { encryption, authentication } = wiresharkEspAlgorithms(suite)
  return [encryption, authentication]
}

interface Sealed {
  suite: string
  spi: number
  frames: { mode: string; frame: Buffer }[]
  uat: string
}

function sealForSuite(suite: string, spi: number): Sealed {
  const info = espSuiteInfo(suite)
  const encryptionKey = crypto.randomBytes(info.encryptionKeyLength)
  const integrityKey = crypto.randomBytes(info.integrityKeyLength)
  const sa = new EspSa({ spi, suite, encryptionKey, integrityKey })
  // Transport mode: the L2TP datagram itself (next header 17).
  const transport = udp(CLIENT, SERVER, 1701, 1701, l2tpHello(spi & 0xffff, 1))
  const [raw, natt] = unpackBatch(sa.seal(...batchOf([transport, transport]), 17))
  // Tunnel mode: a whole inner IPv4 packet (next header 4).
  const inner = ipv4('192.168.42.10', '192.168.42.1', 17, udp('192.168.42.10', '192.168.42.1', 1701, 1701, l2tpHello(7, 2)))
  const [tunnel] = unpackBatch(sa.seal(...batchOf([inner]), 4))
  const [enc, auth] = tsharkNames(suite)
  const spiHex = `0x${spi.toString(16).padStart(8, '0')}`
  const authKey = info.integrityKeyLength ? `0x${integrityKey.toString('hex')}` : ''
  return {
    suite,
    spi,
    frames: [
      { mode: 'raw ESP, transport', frame: ipv4(CLIENT, SERVER, 50, raw!) },
      { mode: 'ESP in UDP 4500, transport', frame: ipv4(CLIENT, SERVER, 17, udp(CLIENT, SERVER, 4500, 4500, natt!, true)) },
      { mode: 'ESP in UDP 4500, tunnel', frame: ipv4(CLIENT, SERVER, 17, udp(CLIENT, SERVER, 4500, 4500, tunnel!, true)) },
    ],
    uat: `"IPv4","*","*","${spiHex}","${enc}","0x${encryptionKey.toString('hex')}","${auth}","${authKey}"`,
  }
}

function batchOf(packets: Buffer[]): [Buffer, Uint32Array] {
  const b = packBatch(packets)
  return [b.data, b.offsets]
}

test('tshark decrypts our packets for every suite, finds L2TP inside, and reports the ICV good', (t) => {
  const sealed = espSuites().map((suite, i) => sealForSuite(suite, 0x10000 + i))
  const frames = sealed.flatMap((s) => s.frames.map((f) => ({ ...f, suite: s.suite })))
  const dir = mkdtempSync(join(tmpdir(), 'esp-tshark-'))
  try {
    const pcap = join(dir, 'esp.pcap')
    writeFileSync(pcap, writePcap(frames.map((f) => f.frame)))
    const args = [
      '-r', pcap,
      '-o', 'esp.enable_encryption_decode:TRUE',
      '-o', 'esp.enable_authentication_check:TRUE',
      ...sealed.flatMap((s) => ['-o', `uat:esp_sa:${s.uat}`]),
      '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.number', '-e', 'esp.spi', '-e', 'esp.icv_good', '-e', 'esp.icv_bad', '-e', 'frame.protocols', '-e', 'l2tp.avp.message_type',
    ]
    const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    const rows = out.trim().split('\n').map((line) => line.split('|'))
    t.is(rows.length, frames.length)
    rows.forEach((row, i) => {
      const [, spi, icvGood, icvBad, protocols, messageType] = row
      const what = `${frames[i]!.suite} (${frames[i]!.mode})`
      t.is(Number(spi), sealed.find((s) => s.suite === frames[i]!.suite)!.spi, what)
      t.is(icvGood, '1', `${what}: icv_good`)
      t.not(icvBad, '1', `${what}: icv_bad`)
      t.regex(protocols ?? '', /esp:.*udp:l2tp/, `${what}: protocols ${protocols}`)
      t.is(messageType, '6', `${what}: L2TP HELLO`)
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('tshark flags a packet whose ICV we did not make (the check above can fail)', (t) => {
  const s = sealForSuite('aes128-sha1', 0x20000)
  const frame = Buffer.from(s.frames[0]!.frame)
  frame[frame.length - 1]! ^= 0x80
  const dir = mkdtempSync(join(tmpdir(), 'esp-tshark-'))
  try {
    const pcap = join(dir, 'bad.pcap')
    writeFileSync(pcap, writePcap([frame]))
    const out = execFileSync('tshark', [
      '-r', pcap,
      '-o', 'esp.enable_encryption_decode:TRUE',
      '-o', 'esp.enable_authentication_check:TRUE',
      '-o', `uat:esp_sa:${s.uat}`,
      '-T', 'fields', '-e', 'esp.icv_good', '-e', 'esp.icv_bad',
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    t.is(out.trim(), '0\t1')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
