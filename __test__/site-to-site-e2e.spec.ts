// Site-to-site end to end: two of our servers as gateways A and B, each
// with a LAN namespace behind it (veth), a routed ESP tunnel-mode link
// between them (A calls, B answers). LAN-A pings LAN-B through the tunnel;
// tshark, given the SA keys, decrypts the ESP between the gateways and
// finds the inner ICMP; a Quick Mode rekey under ping loses at most one
// ping; packets from outside the site's subnets are dropped and counted.
// Needs root and tshark.
import test from 'ava'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DataPlane, type SaOptions } from '../native/index.js'
import { L2tpServer } from '../lib/server/l2tp-server.js'
import type { SiteDownInfo, SiteUpInfo } from '../lib/server/types.js'
import { addNamespace, ip, removeNamespace } from '../lib/testing/netns.js'
import { pingAsync, sleep, until } from './helpers/netns-run.js'

const SITE_PSK = 'site-link-psk-5d0e27c1'
const WAN_A = '192.0.2.1'
const WAN_B = '192.0.2.2'
const HOST_A = '10.1.0.10'
const HOST_B = '10.2.0.10'
/** A second address of LAN-A's host: inside A's local subnets, not inside what B takes from A. */
const HOST_A_OTHER = '10.1.5.7'

// Every SA the data planes install, keys included: the test's way to hand tshark the keys.
const installed: SaOptions[] = []
const installSa = DataPlane.prototype.installSa
DataPlane.prototype.installSa = function (sa: SaOptions) {
  installed.push(sa)
  return installSa.call(this, sa)
}

interface Topology {
  lanA: string
  gwA: string
  gwB: string
  lanB: string
  wanDevA: string
  exec: (ns: string, args: string[]) => string
  cleanup: () => void
}

/** lanA — gwA ==wan== gwB — lanB, forwarding on in the gateways. */
function topology(): Topology {
  const id = `${process.pid % 10000}`
  const [lanA, gwA, gwB, lanB] = ['la', 'ga', 'gb', 'lb'].map((n) => `l2t-s2s-${id}-${n}`) as [string, string, string, string]
  const cleanup = () => {
    for (const ns of [lanA, gwA, gwB, lanB]) removeNamespace(ns)
  }
  const exec = (ns: string, args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  const link = (nsX: string, devX: string, addrX: string, nsY: string, devY: string, addrY: string) => {
    ip('link', 'add', devX, 'type', 'veth', 'peer', 'name', devY)
    ip('link', 'set', devX, 'netns', nsX)
    ip('link', 'set', devY, 'netns', nsY)
    ip('-n', nsX, 'addr', 'add', addrX, 'dev', devX)
    ip('-n', nsY, 'addr', 'add', addrY, 'dev', devY)
    ip('-n', nsX, 'link', 'set', devX, 'up')
    ip('-n', nsY, 'link', 'set', devY, 'up')
  }
  try {
    for (const ns of [lanA, gwA, gwB, lanB]) {
      addNamespace(ns)
      ip('-n', ns, 'link', 'set', 'lo', 'up')
    }
    link(lanA, `sla${id}`, `${HOST_A}/24`, gwA, `sga${id}`, '10.1.0.1/24')
    link(gwA, `swa${id}`, `${WAN_A}/24`, gwB, `swb${id}`, `${WAN_B}/24`)
    link(gwB, `sgb${id}`, '10.2.0.1/24', lanB, `slb${id}`, `${HOST_B}/24`)
    ip('-n', lanA, 'addr', 'add', `${HOST_A_OTHER}/32`, 'dev', `sla${id}`)
    ip('-n', lanA, 'route', 'add', 'default', 'via', '10.1.0.1')
    ip('-n', lanB, 'route', 'add', 'default', 'via', '10.2.0.1')
    ip('-n', gwA, 'route', 'add', '10.1.5.0/24', 'via', HOST_A)
    for (const ns of [gwA, gwB]) exec(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
  } catch (e) {
    cleanup()
    throw e
  }
  return { lanA, gwA, gwB, lanB, wanDevA: `swa${id}`, exec, cleanup }
}

function gateway(ns: string, name: string, wan: string, pool: string, site: Record<string, unknown>): L2tpServer {
  return new L2tpServer({
    listen: { address: wan },
    ipsec: { psk: 'the-l2tp-clients-key-0a9b' },
    pool: { range: `${pool}.10-${pool}.20`, gateway: `${pool}.1` },
    tun: { name: `s2s${name}` },
    dataplane: { netns: `/run/netns/${ns}`, workers: 1 },
    sites: [site as never],
  })
}

interface Recorded {
  up: SiteUpInfo[]
  down: SiteDownInfo[]
}

function record(server: L2tpServer): Recorded {
  const seen: Recorded = { up: [], down: [] }
  server.on('site-up', (e) => seen.up.push(e))
  server.on('site-down', (e) => seen.down.push(e))
  return seen
}

// tshark's names for the suites a 'compatible' gateway pair picks (Wireshark's packet-esp.c).
const TSHARK_ENCRYPTION: Record<string, string> = {
  aes128: 'AES-CBC [RFC3602]',
  aes256: 'AES-CBC [RFC3602]',
  'aes128gcm-16': 'AES-GCM with 16 octet ICV [RFC4106]',
  'aes256gcm-16': 'AES-GCM with 16 octet ICV [RFC4106]',
}
const TSHARK_AUTHENTICATION: Record<string, string> = { sha1: 'HMAC-SHA-1-96 [RFC2404]', sha256: 'HMAC-SHA-256-128 [RFC4868]' }

function uat(sa: SaOptions): string {
  const gcm = sa.suite.includes('gcm')
  const [cipher, mac] = gcm ? [sa.suite, undefined] : (sa.suite.split('-') as [string, string])
  const spi = `0x${sa.spi.toString(16).padStart(8, '0')}`
  return `"IPv4","*","*","${spi}","${TSHARK_ENCRYPTION[cipher]}","0x${sa.encryptionKey.toString('hex')}","${gcm ? 'NULL' : TSHARK_AUTHENTICATION[mac!]}","${sa.integrityKey ? `0x${sa.integrityKey.toString('hex')}` : ''}"`
}

function capture(net: Topology, file: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', net.gwA, 'tshark', '-q', '-i', net.wanDevA, '-f', 'udp port 4500', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] })
}

test.serial('two gateways: LAN to LAN through ESP tunnel mode, tshark sees the inner ICMP, a rekey under ping, wrong sources dropped', async (t) => {
  const net = topology()
  const dir = mkdtempSync(join(tmpdir(), 's2s-'))
  const a = gateway(net.gwA, 'a', WAN_A, '192.168.50', {
    name: 'b',
    peer: WAN_B,
    psk: SITE_PSK,
    localSubnets: ['10.1.0.0/24', '10.1.5.0/24'],
    remoteSubnets: ['10.2.0.0/24'],
    connect: true,
  })
  const b = gateway(net.gwB, 'b', WAN_B, '192.168.60', {
    name: 'a',
    peer: WAN_A,
    psk: SITE_PSK,
    localSubnets: ['10.2.0.0/24'],
    remoteSubnets: ['10.1.0.0/24'],
  })
  const seenA = record(a)
  const seenB = record(b)
  let tshark: ChildProcess | undefined
  try {
    await b.listen()
    const pcap = join(dir, 'wan.pcap')
    tshark = capture(net, pcap)
    // tshark creates the file once its capture is open: then the first ESP packet cannot be missed.
    t.true(await until(() => existsSync(pcap), 60_000), 'tshark started capturing')
    await sleep(500)
    await a.listen()
    t.true(await until(() => seenA.up.length > 0 && seenB.up.length > 0, 30_000), JSON.stringify({ a: a.sites(), b: b.sites() }))
    t.like(seenA.up[0], { name: 'b', peer: { address: WAN_B, port: 4500 }, selectors: { initiator: '10.1.0.0/255.255.255.0 any', responder: '10.2.0.0/255.255.255.0 any' } })
    t.like(seenB.up[0], { name: 'a', peer: { address: WAN_A } })
    t.like(a.sites()[0], { name: 'b', state: 'up', connect: true, localSubnets: ['10.1.0.0/24', '10.1.5.0/24'], remoteSubnets: ['10.2.0.0/24'] })
    t.like(b.status().sites[0], { name: 'a', state: 'up', connect: false })
    t.regex(net.exec(net.gwA, ['ip', 'route']), /10\.2\.0\.0\/24 dev s2sa/, 'the remote subnet is routed into the TUN device')

    const ping = await pingAsync(net.lanA, HOST_B, 5)
    t.is(ping.received, 5, ping.output)
    const siteA = a.sites()[0]!
    t.true(siteA.txPackets >= 5 && siteA.rxPackets >= 5, JSON.stringify(siteA))

    // tshark decrypts the ESP between the gateways with the SA keys and finds ICMP inside an inner IP header.
    await sleep(500)
    tshark.kill('SIGINT')
    await new Promise((r) => tshark!.once('close', r))
    tshark = undefined
    const rows = execFileSync(
      'tshark',
      [
        '-r', pcap,
        '-o', 'esp.enable_encryption_decode:TRUE',
        '-o', 'esp.enable_authentication_check:TRUE',
        ...installed.flatMap((sa) => ['-o', `uat:esp_sa:${uat(sa)}`]),
        '-Y', 'esp',
        '-T', 'fields', '-E', 'separator=|',
        '-e', 'esp.spi', '-e', 'frame.protocols', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'esp.icv_good',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    )
      .trim()
      .split('\n')
      .map((line) => line.split('|'))
    const icmp = rows.filter((r) => /esp:ip:icmp/.test(r[1] ?? ''))
    t.true(icmp.length >= 10, `ESP packets with inner ICMP: ${icmp.length} of ${rows.length}\n${rows.map((r) => r.join(' ')).join('\n')}`)
    t.true(icmp.some((r) => r[2] === `${WAN_A},${HOST_A}` && r[3] === `${WAN_B},${HOST_B}` && r[4] === '8'), 'an echo request from LAN-A to LAN-B, inside A -> B')
    t.true(icmp.some((r) => r[2] === `${WAN_B},${HOST_B}` && r[3] === `${WAN_A},${HOST_A}` && r[4] === '0'), 'its reply, inside B -> A')
    t.true(icmp.every((r) => r[5] === '1'), 'every ICV verified')

    // A Quick Mode rekey under ping loses at most one ping; the old pair is deleted afterwards.
    const outboundBefore = installed.filter((sa) => sa.direction === 'out').length
    const pinging = pingAsync(net.lanA, HOST_B, 50)
    await sleep(2000)
    t.true(a.rekeySite('b'))
    const rekeyed = await pinging
    const sent = Number(/(\d+) packets transmitted/.exec(rekeyed.output)?.[1] ?? 0)
    t.is(sent, 50, rekeyed.output)
    t.true(rekeyed.received >= 49, `lost ${sent - rekeyed.received} pings across the rekey\n${rekeyed.output}`)
    t.is(installed.filter((sa) => sa.direction === 'out').length, outboundBefore + 2, 'a new outbound SA on each gateway')
    t.true(await until(() => (a.status().dataplane?.sas ?? 0) === 2 && (b.status().dataplane?.sas ?? 0) === 2, 15_000), `old pair deleted: ${JSON.stringify([a.status().dataplane, b.status().dataplane])}`)
    t.is(seenA.down.length, 0, 'the site stayed up')
    t.is((await pingAsync(net.lanA, HOST_B, 3)).received, 3, 'traffic on the new pair')

    // From A's second subnet: A seals it (it is A's), B refuses it (not what B takes from A) and counts it.
    const beforeB = b.status().counters?.tunnel_selector_mismatch ?? 0
    const wrong = await pingAsync(net.lanA, HOST_B, 3, ['-I', HOST_A_OTHER])
    t.is(wrong.received, 0, wrong.output)
    t.is((b.status().counters?.tunnel_selector_mismatch ?? 0) - beforeB, 3, 'dropped by B and counted')
    t.is(b.sites()[0]!.selectorMismatch, 3)
    // From outside A's subnets altogether: A drops it before sealing.
    ip('-n', net.lanA, 'addr', 'add', '10.9.9.9/32', 'dev', `sla${process.pid % 10000}`)
    ip('-n', net.gwA, 'route', 'add', '10.9.9.9/32', 'via', HOST_A)
    const beforeA = a.status().counters?.tunnel_selector_mismatch ?? 0
    const foreign = await pingAsync(net.lanA, HOST_B, 2, ['-I', '10.9.9.9'])
    t.is(foreign.received, 0)
    t.is((a.status().counters?.tunnel_selector_mismatch ?? 0) - beforeA, 2, 'dropped by A and counted')

    // B going away takes the site down on A, which calls again once B is back.
    await b.close()
    t.true(await until(() => seenA.down.length > 0, 10_000), 'site-down on A when B deletes its SAs')
    t.like(seenA.down[0], { name: 'b' })
  } finally {
    tshark?.kill('SIGINT')
    await a.close().catch(() => {})
    await b.close().catch(() => {})
    net.cleanup()
    rmSync(dir, { recursive: true, force: true })
  }
})
