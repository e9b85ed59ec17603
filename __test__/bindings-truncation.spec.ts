// Android 6/7 negotiate HMAC-SHA2-256 for ESP but truncate the ICV to 96
// bits. Found with a real client (interop/scenarios/android-sha256-96:
// libreswan with sha2-truncbug=yes): the server installed aes256-sha256,
// every packet of the client was dropped, L2TP never came up. BindingTable
// now watches fresh SHA-256 pairs and reinstalls them as sha256_96 when the
// inbound SA sees bad packets and no good one. The "data plane" here is the
// real ESP core (EspSa) behind a SaSink, so the counters are the real ones.
import test from 'ava'
import { randomBytes } from 'node:crypto'
import type { SaOptions, SaStats } from '../native/index.js'
import { EspSa, ESP_STATUS, espSuiteInfo, packBatch } from '../lib/esp/index.js'
import type { IkeEvent } from '../lib/ike/types.js'
import { BindingTable, type SaSink } from '../lib/server/bindings.js'

type ChildUp = Extract<IkeEvent, { type: 'child-sa-up' }>

/** SAs as EspSa objects, keyed like the data plane: SPI + direction. */
class EspSink implements SaSink {
  readonly sas = new Map<string, { options: SaOptions; sa: EspSa }>()
  readonly installs: string[] = []
  installSa(o: SaOptions): void {
    this.installs.push(`${o.direction} ${o.spi.toString(16)} ${o.suite}`)
    this.sas.set(`${o.direction}:${o.spi}`, { options: o, sa: new EspSa({ spi: o.spi, suite: o.suite, encryptionKey: o.encryptionKey, integrityKey: o.integrityKey ?? Buffer.alloc(0), replayWindow: 1024 }) })
  }
  removeSa(spi: number, direction: string): boolean {
    return this.sas.delete(`${direction}:${spi}`)
  }
  open(spi: number, packet: Buffer): string {
    const entry = this.sas.get(`in:${spi}`)
    if (!entry) return 'NO_SA'
    const r = entry.sa.open(Buffer.from(packet), Uint32Array.of(0, packet.length))
    return ESP_STATUS[r.status[0]!]!
  }
  /** The data plane's saStats(spi, 'in'). */
  readonly inbound = (spi: number): SaStats | undefined => this.stats().find((s) => s.spi === spi && s.direction === 'in')
  stats(): SaStats[] {
    return [...this.sas.values()].map(({ options, sa }) => {
      const s = sa.stats()
      return { spi: options.spi, direction: options.direction, binding: options.binding, suite: options.suite, packets: options.direction === 'in' ? s.packetsIn : s.packetsOut, bytes: 0, icvFailures: s.icvFailures, replays: s.replays, malformed: s.malformed, lastSeqOut: s.lastSeqOut }
    })
  }
}

function childUp(suite: string, spiIn: number, spiOut: number): ChildUp {
  const info = espSuiteInfo(suite)
  const keys = (spi: number) => ({ spi, suite, encryptionKey: randomBytes(info.encryptionKeyLength), integrityKey: randomBytes(info.integrityKeyLength) })
  return { type: 'child-sa-up', ikeSa: 'a:b', peer: { address: '127.0.0.1', port: 40000 }, inbound: keys(spiIn), outbound: keys(spiOut), mode: 'transport', udpEncapsulated: true, peerL2tpPort: 1701, lifetimeSeconds: 3600 }
}

/** The client's end: its outbound SA is our inbound one, with its own ICV length. */
function clientPacket(e: ChildUp, suite: string, seq: number): Buffer {
  const sa = new EspSa({ spi: e.inbound.spi, suite, encryptionKey: e.inbound.encryptionKey, integrityKey: e.inbound.integrityKey })
  let sealed: Buffer = Buffer.alloc(0)
  for (let i = 0; i < seq; i++) {
    const b = packBatch([Buffer.from('an L2TP SCCRQ, more or less')])
    sealed = sa.seal(b.data, b.offsets, 17).data
  }
  return sealed
}

test('a peer that truncates HMAC-SHA-256 to 96 bits gets its pair reinstalled as sha256_96, and its next pairs go in that way', (t) => {
  const sink = new EspSink()
  const table = new BindingTable(sink)
  const e = childUp('aes256-sha256', 0x1000, 0x2000)
  const binding = table.up(e, '10.0.2.15', 100)
  t.is(sink.open(0x1000, clientPacket(e, 'aes256-sha256_96', 1)), 'ESP_BAD_LENGTH', 'a 96-bit ICV read as 128 bits')
  t.deepEqual(table.checkTruncation(sink.inbound, 105), [{ binding: binding.id, spiIn: 0x1000, spiOut: 0x2000, suite: 'aes256-sha256_96' }])
  t.is(binding.suite, 'aes256-sha256_96')
  t.is(sink.open(0x1000, clientPacket(e, 'aes256-sha256_96', 2)), 'OK', "the client's next packet opens")
  t.is(sink.sas.get(`out:${0x2000}`)!.options.suite, 'aes256-sha256_96', 'and ours carry 96-bit ICVs too')
  t.deepEqual(table.checkTruncation(sink.inbound, 110), [], 'switched once')
  // A rekey of the same peer goes in as sha256_96 at once.
  const rekey = childUp('aes256-sha256', 0x1001, 0x2001)
  table.up(rekey, '10.0.2.15', 200)
  t.deepEqual(sink.installs.slice(-2), ['in 1001 aes256-sha256_96', 'out 2001 aes256-sha256_96'])
  t.is(sink.open(0x1001, clientPacket(rekey, 'aes256-sha256_96', 1)), 'OK')
})

test('a peer with 128-bit ICVs keeps them; other suites are never touched; the watch ends', (t) => {
  const sink = new EspSink()
  const table = new BindingTable(sink)
  const e = childUp('aes128-sha256', 0x3000, 0x4000)
  table.up(e, '10.0.2.15', 0)
  t.deepEqual(table.checkTruncation(sink.inbound, 1), [], 'nothing received yet: nothing decided')
  t.is(sink.open(0x3000, clientPacket(e, 'aes128-sha256', 1)), 'OK')
  const forged = clientPacket(e, 'aes128-sha256', 2)
  forged[30]! ^= 1
  t.is(sink.open(0x3000, forged), 'ESP_ICV_MISMATCH', 'a forged packet later')
  t.deepEqual(table.checkTruncation(sink.inbound, 2), [], 'one good packet settles it: 128 bits')
  t.is(sink.sas.get(`in:${0x3000}`)!.options.suite, 'aes128-sha256')

  const sha1 = childUp('aes128-sha1', 0x5000, 0x6000)
  table.up({ ...sha1, peer: { address: '127.0.0.1', port: 40001 } }, '10.0.2.16', 0)
  const bad = clientPacket(sha1, 'aes128-sha1', 1)
  bad[30]! ^= 1
  t.is(sink.open(0x5000, bad), 'ESP_ICV_MISMATCH')
  t.deepEqual(table.checkTruncation(sink.inbound, 3), [], 'HMAC-SHA1 has no such variant')

  const quiet = childUp('aes256-sha256', 0x7000, 0x8000)
  table.up({ ...quiet, peer: { address: '127.0.0.1', port: 40002 } }, '10.0.2.17', 0)
  t.deepEqual(table.checkTruncation(sink.inbound, 500), [], 'after the watch window')
  t.is(sink.open(0x7000, clientPacket(quiet, 'aes256-sha256_96', 1)), 'ESP_BAD_LENGTH')
  t.deepEqual(table.checkTruncation(sink.inbound, 501), [], 'no longer watched')
})

test('garbage before the first good packet of a 128-bit peer: switched to 96 bits, then back for good', (t) => {
  const sink = new EspSink()
  const table = new BindingTable(sink)
  const e = childUp('aes256-sha256', 0x9000, 0xa000)
  const binding = table.up(e, '10.0.2.15', 0)
  const garbage = clientPacket(e, 'aes256-sha256', 1)
  garbage[40]! ^= 1
  t.is(sink.open(0x9000, garbage), 'ESP_ICV_MISMATCH', 'someone else got there first')
  t.deepEqual(table.checkTruncation(sink.inbound, 5).map((s) => s.suite), ['aes256-sha256_96'])
  t.not(sink.open(0x9000, clientPacket(e, 'aes256-sha256', 2)), 'OK', "the peer's 128-bit ICVs fail under 96 bits")
  t.deepEqual(table.checkTruncation(sink.inbound, 10).map((s) => s.suite), ['aes256-sha256'], 'back to 128 bits')
  t.false(binding.sha256Truncated)
  t.is(sink.open(0x9000, clientPacket(e, 'aes256-sha256', 3)), 'OK')
  t.not(sink.open(0x9000, garbage), 'OK')
  t.deepEqual(table.checkTruncation(sink.inbound, 15), [], 'no flapping')
  table.up(childUp('aes256-sha256', 0x9001, 0xa001), '10.0.2.15', 20)
  t.deepEqual(sink.installs.slice(-2), ['in 9001 aes256-sha256', 'out a001 aes256-sha256'], 'a rekey keeps 128 bits')
})
