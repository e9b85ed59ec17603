// Every ESP packet of five sessions between real strongSwan/xl2tpd/pppd
// peers (vectors/real) opens in our data plane with the keys the kernels
// used, and holds the L2TP, PPP and pings those sessions carried.
import test from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EspSa, ESP_STATUS, packBatch, unpackBatch } from '../lib/index.js'
import { parseIpv4 } from './helpers/packets.js'
import { readCapture } from './helpers/pcap.js'
import { parseXfrmState } from './helpers/xfrm.js'

const ROOT = new URL('./vectors/real/', import.meta.url).pathname
const SESSIONS = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)

/** PPP protocol of an L2TP data message (RFC 2661 3.1), or undefined for control. */
function pppProtocol(l2tp: Buffer): { protocol: number; payload: Buffer } | undefined {
  const flags = l2tp.readUInt16BE(0)
  if (flags & 0x8000) return undefined
  let at = 2
  if (flags & 0x4000) at += 2 // Length
  at += 4 // Tunnel ID, Session ID
  if (flags & 0x0800) at += 4 // Ns, Nr
  if (flags & 0x0200) at += 2 + l2tp.readUInt16BE(at) // Offset Size, padding
  let ppp = l2tp.subarray(at)
  if (ppp[0] === 0xff && ppp[1] === 0x03) ppp = ppp.subarray(2) // address/control
  // Protocol-Field-Compression: an odd first byte is a one-byte protocol.
  if (ppp[0]! & 1) return { protocol: ppp[0]!, payload: ppp.subarray(1) }
  return { protocol: ppp.readUInt16BE(0), payload: ppp.subarray(2) }
}

test('the recorded sessions are all here', (t) => {
  t.is(SESSIONS.length, 5)
})

for (const session of SESSIONS) {
  test(`${session}: every ESP packet opens and carries L2TP, PPP and the pings`, (t) => {
    const sas = parseXfrmState(readFileSync(join(ROOT, session, 'xfrm-state-client.txt'), 'utf8'))
    t.is(sas.length, 2)
    const frames = readCapture(readFileSync(join(ROOT, session, 'session.pcap')))
    const espBySpi = new Map<number, Buffer[]>()
    for (const f of frames) {
      const ip = parseIpv4(f.data, f.linkType)
      if (!ip || ip.protocol !== 17) continue
      const sport = ip.payload.readUInt16BE(0)
      const dport = ip.payload.readUInt16BE(2)
      const body = ip.payload.subarray(8)
      if (sport !== 4500 && dport !== 4500) continue
      if (body.length <= 1 || body.readUInt32BE(0) === 0) continue // keepalive or IKE
      const spi = body.readUInt32BE(0)
      espBySpi.set(spi, [...(espBySpi.get(spi) ?? []), body])
    }
    let echoRequests = 0
    let echoReplies = 0
    const pppSeen = new Set<number>()
    for (const sa of sas) {
      const packets = espBySpi.get(sa.spi) ?? []
      // Every packet the kernels had counted when their state was dumped is
      // in the capture (one session sent one more after the dump).
      t.true(packets.length >= sa.packets && packets.length <= sa.packets + 1, `${sa.suite} SPI ${sa.spi.toString(16)}: ${packets.length} vs ${sa.packets}`)
      const esp = new EspSa({ spi: sa.spi, suite: sa.suite, encryptionKey: sa.encryptionKey, integrityKey: sa.integrityKey })
      const batch = packBatch(packets)
      const opened = esp.open(batch.data, batch.offsets)
      t.deepEqual([...opened.status].map((s) => ESP_STATUS[s]), packets.map(() => 'OK'), sa.suite)
      t.deepEqual([...opened.nextHeaders], packets.map(() => 17), 'transport mode UDP')
      for (const udpSegment of unpackBatch(opened)) {
        t.is(udpSegment.readUInt16BE(0), 1701)
        t.is(udpSegment.readUInt16BE(2), 1701)
        const l2tp = udpSegment.subarray(8)
        t.is(l2tp.readUInt16BE(0) & 0x000f, 2, 'L2TP version 2')
        const ppp = pppProtocol(l2tp)
        if (!ppp) continue
        pppSeen.add(ppp.protocol)
        if (ppp.protocol === 0x21 && ppp.payload[9] === 1) {
          const icmpType = ppp.payload[(ppp.payload[0]! & 0x0f) * 4]
          if (icmpType === 8) echoRequests++
          if (icmpType === 0) echoReplies++
        }
      }
      t.is(esp.stats().packetsIn, packets.length)
    }
    t.true(pppSeen.has(0xc021), 'LCP')
    t.true(pppSeen.has(0x8021), 'IPCP')
    t.true(pppSeen.has(0xc223) || pppSeen.has(0xc023), 'CHAP or PAP')
    t.is(echoRequests, 3)
    t.is(echoReplies, 3)
  })
}
