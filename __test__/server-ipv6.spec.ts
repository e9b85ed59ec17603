// IPv6 end to end (issue #6): a /64 per PPP session from pool.ipv6,
// advertised by Router Advertisements; the client's kernel forms its
// address (SLAAC with the IPV6CP interface identifier as token) and reaches
// the server's IPv6 address through the tunnel. Server and clients in
// their own network namespaces, as in server-e2e.spec.ts. Needs root, and
// tshark (dumpcap) for the capture on the client's TUN device.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { L2tpClient, ClientIpv6Info } from '../lib/client/l2tp-client.js'
import { parseIpv6, parseIpv6Prefix } from '../lib/pool/ipv6.js'
import { parseRouterAdvertisement } from '../lib/ppp/ipv6-nd.js'
import { readCapture } from './helpers/pcap.js'
import { pingAsync, sleep, until } from './helpers/netns-run.js'
import { createRig, GATEWAY, type Rig, type Teardown } from './helpers/vpn-rig.js'

const PARENT = '2001:db8:42::/56'
const SERVER6 = '2001:db8:42::1'
const DNS6 = ['2001:db8:53::53']

function ipv6Rig(t: Teardown, tag: string): Promise<Rig> {
  return createRig(t, tag, {
    ppp: { ipv6: true, dns6: DNS6 },
    pool: { range: '192.168.42.10-192.168.42.250', gateway: GATEWAY, ipv6: { prefixes: PARENT } },
  })
}

/** Connects and waits for the address the kernel formed from the server's RA. */
async function connect6(client: L2tpClient): Promise<ClientIpv6Info> {
  const learned = new Promise<ClientIpv6Info>((resolve) => client.once('ipv6-up', resolve))
  await client.connect()
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no IPv6 address within 15 s')), 15_000).unref())
  return Promise.race([learned, timeout])
}

function inParent(prefix: string): boolean {
  const p = parseIpv6Prefix(prefix)
  const parent = parseIpv6Prefix(PARENT)!
  return p !== undefined && p.length === 64 && p.network >> 72n === parent.network >> 72n
}

test.serial('a client with ipv6 gets a /64 by RA, its TUN a global address in it, and pings the server over IPv6', async (t) => {
  const rig = await ipv6Rig(t, 'v6')
  const client = rig.client({ ipv6: true })
  const v6 = await connect6(client)
  const tun = client.info!.tun
  t.is(client.info!.ipv6, v6, 'info.ipv6 is what the event reported')
  t.true(inParent(v6.prefix!), `${v6.prefix} is a /64 of ${PARENT}`)
  t.not(v6.prefix, '2001:db8:42::/64', "the server's own /64 is never handed out")
  t.is(parseIpv6(v6.address!)! & 0xffff_ffff_ffff_ffffn, BigInt(`0x${v6.interfaceId}`), 'the address ends in the IPV6CP interface identifier')

  const addresses = rig.net.exec(rig.net.b, ['ip', '-6', 'addr', 'show', 'dev', tun])
  t.regex(addresses, new RegExp(`inet6 ${v6.address}/64 scope global`), addresses)
  t.regex(addresses, new RegExp(`inet6 ${v6.linkLocal}/64 scope link`), addresses)
  const routes = rig.net.exec(rig.net.b, ['ip', '-6', 'route', 'show', 'dev', tun])
  t.regex(routes, /default via fe80::[0-9a-f:]+ proto ra /, routes)
  t.is(rig.net.exec(rig.net.b, ['sysctl', '-n', `net.ipv6.conf.${tun}.mtu`]).trim(), '1400', 'the link MTU (the RA MTU option; the TUN device has it already)')

  const [session] = rig.server.sessions()
  t.is(session!.ipv6Prefix, v6.prefix, 'sessions() shows the prefix')
  t.is(rig.server.status().ipv6!.pool.used, 1)

  const ping = await pingAsync(rig.net.b, SERVER6, 4)
  t.is(ping.received, 4, ping.output)
  t.is((await pingAsync(rig.net.b, GATEWAY, 2)).received, 2, 'IPv4 still works')
  const status = rig.server.status().ipv6!
  t.true(status.routerSolicitations >= 1, 'the kernel solicited once it had its token')
  // One at once; the solicitation is answered too unless it came before the server's end was up (then the first RA came after the token).
  t.true(status.routerAdvertisements >= 1, JSON.stringify(status))

  // A reload may change ppp.dns6 (the next RAs carry it) but not pool.ipv6 (the TUN's address and routes).
  const config = rig.server.config
  const moved = { ...config, pool: { ...config.pool, ipv6: { prefixes: ['2001:db8:43::/56'], delegatedLength: 64 as const } } }
  const refused = t.throws(() => rig.server.reload({ config: moved, warnings: [] }))
  t.deepEqual((refused as { issues?: { key: string }[] }).issues?.map((i) => i.key), ['pool.ipv6'])
  t.deepEqual(rig.server.reload({ config: { ...config, ppp: { ...config.ppp, dns6: ['2001:db8:53::54'] } }, warnings: [] }), { changed: ['ppp'], kicked: 0 })
  t.is(rig.server.sessions()[0]!.ipv6Prefix, v6.prefix, 'the session keeps its prefix')

  await client.close()
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
})

test.serial('two clients get different prefixes; a kicked session returns its prefix, and its user gets it back', async (t) => {
  const rig = await ipv6Rig(t, 'v6two')
  const alice = rig.client({ ipv6: true })
  const bob = rig.client({ ipv6: true, user: 'bob', password: 'bob-pass-2' })
  const [a, b] = await Promise.all([connect6(alice), connect6(bob)])
  t.not(a.prefix, b.prefix)
  t.true(inParent(a.prefix!) && inParent(b.prefix!))
  const sessions = rig.server.sessions()
  t.deepEqual(sessions.map((s) => s.ipv6Prefix).sort(), [a.prefix, b.prefix].sort())
  t.is(rig.server.status().ipv6!.pool.used, 2)

  const aliceSession = sessions.find((s) => s.user === 'alice')!
  const down = new Promise((resolve) => alice.once('down', resolve))
  t.true(rig.server.kick(aliceSession.id))
  await down
  t.true(await until(() => rig.server.status().ipv6!.pool.used === 1, 10_000), JSON.stringify(rig.server.status().ipv6))
  t.is(rig.seen.down[0]!.reason, 'kicked')

  const again = rig.client({ ipv6: true })
  const c = await connect6(again)
  t.is(c.prefix, a.prefix, "a returning user gets their prefix back (sticky, like IPv4)")
  t.is(rig.server.status().ipv6!.pool.used, 2)
})

test.serial("a Router Solicitation from the client's TUN gets an RA with the prefix, MTU and RDNSS; answers are rate-limited to one per 3 s", async (t) => {
  const dumpcap = spawnSync('dumpcap', ['--version'], { encoding: 'utf8' })
  if (dumpcap.error || dumpcap.status !== 0) {
    t.fail(`dumpcap (tshark) is required for this test: ${dumpcap.error?.message ?? dumpcap.stderr}`)
    return
  }
  const rig = await ipv6Rig(t, 'v6rs')
  const client = rig.client({ ipv6: true })
  const v6 = await connect6(client)
  const tun = client.info!.tun
  await sleep(3100) // past the rate limit of the answer the connection got

  const file = join(rig.tempDir, 'tun.pcapng')
  const capture = spawn('ip', ['netns', 'exec', rig.net.b, 'dumpcap', '-q', '-i', tun, '-f', 'icmp6', '-a', 'duration:6', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let captureErr = ''
  capture.stderr.on('data', (d: Buffer) => (captureErr += d))
  const captured = new Promise<number | null>((resolve) => capture.on('close', resolve))
  await until(() => existsSync(file), 5000)
  await sleep(500)

  const before = rig.server.status().ipv6!
  // Setting the token again makes the kernel solicit (twice here, back to back).
  const token = ['ip', 'token', 'set', `::${v6.interfaceId.match(/.{4}/g)!.join(':')}/64`, 'dev', tun]
  rig.net.exec(rig.net.b, token)
  rig.net.exec(rig.net.b, token)
  t.true(await until(() => rig.server.status().ipv6!.routerSolicitations >= before.routerSolicitations + 2, 3000), 'both solicitations reached the server')
  await sleep(500)
  t.is(rig.server.status().ipv6!.routerAdvertisements, before.routerAdvertisements + 1, 'the first answered at once, the second waits')
  t.true(await until(() => rig.server.status().ipv6!.routerAdvertisements === before.routerAdvertisements + 2, 4000), 'the second answered 3 s after the first')
  await sleep(1000)
  t.is(rig.server.status().ipv6!.routerAdvertisements, before.routerAdvertisements + 2, 'and no more')

  t.is(await captured, 0, captureErr)
  const frames = readCapture(readFileSync(file))
  const icmpType = (f: Buffer) => (f[6] === 58 ? f[40] : undefined)
  const solicitations = frames.filter((f) => icmpType(f.data) === 133)
  const adverts = frames.filter((f) => icmpType(f.data) === 134).map((f) => parseRouterAdvertisement(f.data))
  t.true(solicitations.length >= 2, `${solicitations.length} RS on the TUN`)
  t.is(adverts.length, 2, `${adverts.length} RA on the TUN`)
  for (const ra of adverts) {
    t.true(ra.checksumOk)
    t.is(ra.hopLimit, 255)
    t.is(ra.destination, 'ff02::1')
    t.is(ra.source, `fe80::${v6.peerInterfaceId!.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, '')).join(':')}`)
    t.is(ra.routerLifetime, 1800)
    t.deepEqual(ra.prefixes, [{ prefix: v6.prefix!, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400 }])
    t.is(ra.mtu, 1400)
    t.deepEqual(ra.dns, { lifetime: 1800, servers: DNS6 })
  }
})

test.serial("the client's link-local traffic (MLD, pings to ff02::1 from fe80::<interface id>) is dropped as link-scoped, not counted as spoofed; a foreign global source is", async (t) => {
  const rig = await ipv6Rig(t, 'v6ll')
  const client = rig.client({ ipv6: true })
  const v6 = await connect6(client)
  const tun = client.info!.tun
  const counters = () => rig.server.status().counters!
  // The kernel's MLD reports (fe80:: to ff02::16) and RS went out as the TUN came up; now pings from the link-local address.
  const before = counters()
  // (The client's own stack answers these; nothing beyond the link may.)
  await pingAsync(rig.net.b, `ff02::1%${tun}`, 3)
  t.true(await until(() => counters().link_scoped! >= before.link_scoped! + 3, 3000), JSON.stringify(counters()))
  const mld = counters().link_scoped!
  t.true(mld >= 4, `the kernel's own MLD reports and the pings: ${mld}`)
  t.is(counters().spoofed, 0, 'none of it is spoofing')
  t.is((await pingAsync(rig.net.b, SERVER6, 2)).received, 2, 'the global address still works')
  t.is(counters().spoofed, 0)

  // A global source outside the session's /64 is still spoofing.
  rig.net.exec(rig.net.b, ['ip', '-6', 'addr', 'add', '2001:db8:99::7/128', 'dev', tun, 'nodad'])
  const forged = await pingAsync(rig.net.b, SERVER6, 2, ['-I', '2001:db8:99::7'])
  t.is(forged.received, 0, forged.output)
  t.true(await until(() => counters().spoofed === 2, 3000), JSON.stringify(counters()))
  t.truthy(v6.address)
})
