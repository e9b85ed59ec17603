// A server listening on 0.0.0.0 (or [::]) with two addresses, a client
// connecting to the second: the server must name itself by the address the
// client addressed (its Main Mode ID, which strongSwan with the usual
// `rightid` and libreswan check) and answer IKE from that address, not from
// the one the route would pick (10.250.0.1, the interface's first). The
// data plane learns the address from IP_PKTINFO on each datagram. Our
// client, bound to 0.0.0.0 too, learns its own address the same way from
// message 4 and names itself by it instead of 0.0.0.0.
import test from 'ava'
import type { IkeSaUpInfo } from '../lib/server/types.js'
import { ip } from '../lib/testing/netns.js'
import { pingAsync } from './helpers/netns-run.js'
import { parseIpv4 } from './helpers/packets.js'
import { startCapture } from './helpers/tun-capture.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'

const SECOND = '10.250.0.3'

for (const listen of ['0.0.0.0', '::']) {
  test.serial(`listening on ${listen} with two addresses: the ID and the source of every IKE reply are the address the client connected to`, async (t) => {
    const rig = await createRig(t, 'pktinfo', { listen: { address: listen } })
    // Added second on the same interface: replies chosen by the route would leave from rig.net.addrA.
    ip('-n', rig.net.a, 'addr', 'add', `${SECOND}/24`, 'dev', rig.net.vethA)
    const capture = await startCapture(rig.net.b, rig.net.vethB, rig.tempDir, 'udp port 500 or udp port 4500')

    const client = rig.client({ server: SECOND, local: { address: '0.0.0.0' } })
    const serverIds: string[] = []
    const clientIds: string[] = []
    client.on('ike-sa-up', (e: IkeSaUpInfo) => serverIds.push(e.peerId))
    rig.server.on('ike-sa-up', (e: IkeSaUpInfo) => clientIds.push(e.peerId))
    await client.connect()
    const ping = await pingAsync(rig.net.b, GATEWAY, 3)
    t.is(ping.received, 3, ping.output)
    await client.close()
    const frames = await capture.stop()

    t.deepEqual(serverIds, [SECOND], "the server's Main Mode ID is the address the client addressed, not 0.0.0.0")
    t.deepEqual(clientIds, [rig.net.addrB], "the client's ID is its address, not 0.0.0.0")
    const ikeSources = new Map<string, number>()
    const espSources = new Map<string, number>()
    for (const f of frames) {
      const p = parseIpv4(f.data, f.linkType)
      if (!p || p.protocol !== 17 || p.dst !== rig.net.addrB || p.payload.length < 8) continue
      const srcPort = p.payload.readUInt16BE(0)
      // On 4500 IKE follows the 4-byte non-ESP marker (zero); anything else there is ESP.
      const ike = srcPort !== 4500 || (p.payload.length >= 12 && p.payload.readUInt32BE(8) === 0)
      const key = `${p.src}:${srcPort}`
      const m = ike ? ikeSources : espSources
      m.set(key, (m.get(key) ?? 0) + 1)
    }
    const ports = [...ikeSources.keys()].map((k) => k.split(':')[1])
    t.true(ports.includes('500') && ports.includes('4500'), `IKE replies seen on 500 and 4500: ${JSON.stringify([...ikeSources])}`)
    t.deepEqual(
      [...new Set([...ikeSources.keys()].map((k) => k.split(':')[0]))],
      [SECOND],
      `every IKE datagram to the client comes from ${SECOND}: ${JSON.stringify([...ikeSources])}`,
    )
    t.log(`ESP in UDP to the client by source: ${JSON.stringify([...espSources])}`)
  })
}
