// Clients behind a real Linux NAT (nft masquerade in a router namespace):
// the server sees the router's public address and mapped ports, IKE floats
// to UDP 4500 and ESP travels inside UDP through the NAT, and two clients
// behind the same NAT address get separate sessions. Needs root.
import test from 'ava'
import { parseHostPort } from '../lib/server/bindings.js'
import { createNatRig, NAT_PORTS } from './helpers/nat-rig.js'
import { pingAsync, until } from './helpers/netns-run.js'
import { GATEWAY } from './helpers/vpn-rig.js'

test.serial('a client behind NAT: the server sees the public address and mapped NAT-T port, ESP goes inside UDP 4500, ping works', async (t) => {
  const rig = await createNatRig(t, 'nat1')
  const { net } = rig
  const client = rig.client()
  const up = await client.connect()
  t.is(up.gateway, GATEWAY)
  t.regex(up.address, /^192\.168\.42\.\d+$/)

  // IKE saw the NAT.
  t.is(rig.seen.ikeUp.length, 1)
  t.true(rig.seen.ikeUp[0]!.natDetected, 'NAT-D payloads revealed the NAT')
  t.is(rig.seen.ikeUp[0]!.peer.address, net.routerPublicAddr)

  const sessions = rig.server.sessions()
  t.is(sessions.length, 1)
  const session = sessions[0]!
  t.is(session.address, up.address)
  t.is(session.peer.address, net.routerPublicAddr, 'the router public address, not the private one')
  t.not(session.peer.address, net.clientAddr)
  t.true(session.udpEncapsulated)

  // The session's peer port is the port R mapped the client's NAT-T socket
  // to, as R's conntrack table says: the client floated from its IKE socket
  // (to 500) to its NAT-T socket (to 4500), and ESP goes there.
  const clientIke = parseHostPort(client.addresses()!.ike[0]!).port
  const clientNatt = parseHostPort(client.addresses()!.natt[0]!).port
  t.not(clientIke, clientNatt)
  const mappings = rig.natMappings()
  const natt = mappings.find((m) => m.sourcePort === clientNatt && m.destinationPort === 4500)
  const ike = mappings.find((m) => m.sourcePort === clientIke && m.destinationPort === 500)
  t.truthy(natt, `a conntrack entry for the client's NAT-T socket: ${JSON.stringify(mappings)}`)
  t.truthy(ike, `a conntrack entry for the client's IKE socket: ${JSON.stringify(mappings)}`)
  t.is(natt!.mappedAddress, net.routerPublicAddr)
  t.true(natt!.mappedPort >= NAT_PORTS.first && natt!.mappedPort <= NAT_PORTS.last, `mapped port ${natt!.mappedPort}`)
  t.is(session.peer.port, natt!.mappedPort, 'ESP goes to the mapped port of the NAT-T socket')
  t.not(session.peer.port, ike!.mappedPort)

  // Ping through the tunnel: every echo crosses R as UDP to 4500, none as raw ESP.
  const before = rig.routerCounters()
  const espInBefore = rig.server.status().counters?.esp_in ?? 0
  const ping = await pingAsync(net.client, GATEWAY, 5)
  t.is(ping.received, 5, ping.output)
  const after = rig.routerCounters()
  t.true(after.natt - before.natt >= 5, `UDP 4500 packets through R: ${before.natt} -> ${after.natt}`)
  t.is(after.esp, 0, 'no raw ESP crossed the NAT')
  t.true(before.ike > 0, 'IKE started on UDP 500')
  t.true((rig.server.status().counters?.esp_in ?? 0) - espInBefore >= 5, 'the server decrypted the echoes')
  const [afterPing] = rig.server.sessions()
  t.true(afterPing!.rxPackets >= 5 && afterPing!.txPackets >= 5, `counters: rx ${afterPing!.rxPackets} tx ${afterPing!.txPackets}`)

  await client.close()
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
  t.is(rig.seen.errors.length, 0, rig.seen.errors.map((e) => e.message).join('; '))
})

test.serial('two clients behind the same NAT: separate sessions and addresses, both ping, kicking one leaves the other working', async (t) => {
  const rig = await createNatRig(t, 'nat2')
  const { net } = rig
  const a = rig.client()
  const b = rig.client({ user: 'bob', password: 'bob-pass-2' })
  const [upA, upB] = await Promise.all([a.connect(), b.connect()])
  t.not(upA.address, upB.address)
  t.not(upA.tun, upB.tun)

  const sessions = rig.server.sessions()
  t.is(sessions.length, 2)
  const sa = sessions.find((s) => s.address === upA.address)
  const sb = sessions.find((s) => s.address === upB.address)
  t.truthy(sa)
  t.truthy(sb)
  t.is(sa!.user, 'alice')
  t.is(sb!.user, 'bob')
  t.is(sa!.peer.address, net.routerPublicAddr)
  t.is(sb!.peer.address, net.routerPublicAddr)
  t.not(sa!.peer.port, sb!.peer.port, 'the NAT gave each client its own port')
  t.true(sa!.udpEncapsulated && sb!.udpEncapsulated)
  const mapped = (c: typeof a) => rig.natMappings().find((m) => m.sourcePort === parseHostPort(c.addresses()!.natt[0]!).port && m.destinationPort === 4500)?.mappedPort
  t.is(sa!.peer.port, mapped(a) ?? -1, 'the mapped port of its NAT-T socket')
  t.is(sb!.peer.port, mapped(b) ?? -1, 'the mapped port of its NAT-T socket')

  const [pa, pb] = await Promise.all([pingAsync(net.client, GATEWAY, 4, ['-I', upA.tun]), pingAsync(net.client, GATEWAY, 4, ['-I', upB.tun])])
  t.is(pa.received, 4, pa.output)
  t.is(pb.received, 4, pb.output)
  const counted = rig.server.sessions()
  for (const s of counted) t.true(s.rxPackets >= 4, `${s.user}: rx ${s.rxPackets}`)

  const downs: string[] = []
  a.on('down', (d) => downs.push(d.reason))
  t.true(rig.server.kick(sa!.id))
  t.true(await until(() => downs.length > 0, 10_000), 'the kicked client saw its session end')
  t.true(await until(() => rig.server.sessions().length === 1, 10_000))
  t.is(rig.server.sessions()[0]!.id, sb!.id)
  t.is(rig.seen.down.length, 1)
  t.is(rig.seen.down[0]!.address, upA.address)
  t.is(rig.seen.down[0]!.reason, 'kicked')
  const still = await pingAsync(net.client, GATEWAY, 4, ['-I', upB.tun])
  t.is(still.received, 4, still.output)
  t.is(b.info?.address, upB.address, 'the other client is still up')
  t.is(rig.server.status().pool?.used, 1)

  await b.close()
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
  t.is(rig.seen.errors.length, 0, rig.seen.errors.map((e) => e.message).join('; '))
})
