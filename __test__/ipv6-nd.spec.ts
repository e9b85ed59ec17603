// Router Solicitations in and Router Advertisements out as PPP frames
// (lib/ppp/ipv6-nd.ts): RFC 4861 6.1.1 checks on a solicitation the Linux
// kernel sent, our checksum against a second implementation, and our RA
// decoded by tshark (a decoder nobody here wrote) without expert warnings.
import test from 'ava'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildRouterAdvertisement, buildRouterAdvertisementPacket, icmpv6Checksum, linkLocalFromInterfaceId, parseRouterAdvertisement, parseRouterSolicitation } from '../lib/ppp/ipv6-nd.js'
import { writePcap } from './helpers/pcap.js'

/** A Router Solicitation as Linux 6.18 sent it on a TUN device (fe80::82f9:b70:e74f:2ddc -> ff02::2), checksum 0xd9a1. */
const KERNEL_RS = Buffer.from('6000000000083afffe8000000000000082f90b70e74f2ddcff0200000000000000000000000000028500d9a100000000', 'hex')
const PPP_IPV6 = Buffer.from('ff030057', 'hex')
const LINKTYPE_PPP = 9

const IID = '0211223344556677'
const RA_OPTIONS = { interfaceId: IID, prefix: '2001:db8:42:7::/64', mtu: 1400, dns: ['2001:db8:53::1', '2001:db8:53::2'] }

/** The ICMPv6 checksum written out another way: the pseudo-header as bytes, summed with BigInt, folded once at the end. */
function referenceChecksum(packet: Buffer): number {
  const length = packet.readUInt16BE(4)
  const icmp = Buffer.from(packet.subarray(40, 40 + length))
  icmp.writeUInt16BE(0, 2)
  const pseudo = Buffer.alloc(40)
  packet.copy(pseudo, 0, 8, 40)
  pseudo.writeUInt32BE(length, 32)
  pseudo[39] = 58
  const all = Buffer.concat([pseudo, icmp, Buffer.alloc(icmp.length % 2)])
  let sum = 0n
  for (let i = 0; i < all.length; i += 2) sum += BigInt(all.readUInt16BE(i))
  while (sum >> 16n) sum = (sum & 0xffffn) + (sum >> 16n)
  return Number(~sum & 0xffffn)
}

/** A solicitation with its checksum recomputed after `edit` (so one check fails at a time). */
function rs(edit: (packet: Buffer) => Buffer = (p) => p): Buffer {
  const packet = edit(Buffer.from(KERNEL_RS))
  packet.writeUInt16BE(packet.length - 40, 4)
  packet.writeUInt16BE(0, 42)
  packet.writeUInt16BE(referenceChecksum(packet), 42)
  return Buffer.concat([PPP_IPV6, packet])
}

test('a Router Solicitation the kernel sent parses, with or without FF 03 and with a 1-byte protocol', (t) => {
  t.is(referenceChecksum(KERNEL_RS), 0xd9a1, 'the reference checksum agrees with the kernel')
  t.is(icmpv6Checksum(KERNEL_RS.subarray(8, 24), KERNEL_RS.subarray(24, 40), KERNEL_RS.subarray(40)), 0, 'ours finds the packet good')
  for (const header of [PPP_IPV6, Buffer.from('0057', 'hex'), Buffer.from('57', 'hex'), Buffer.from('ff0357', 'hex')]) {
    const result = parseRouterSolicitation(Buffer.concat([header, KERNEL_RS]))
    t.deepEqual(result, { ok: true, source: 'fe80::82f9:b70:e74f:2ddc', destination: 'ff02::2', sourceLinkLayer: undefined }, header.toString('hex'))
  }
  t.true(rs().equals(Buffer.concat([PPP_IPV6, KERNEL_RS])), 'the test helper leaves a good packet as it was')
})

test('RFC 4861 6.1.1: every validity check of a Router Solicitation is applied', (t) => {
  const reason = (frame: Buffer) => {
    const r = parseRouterSolicitation(frame)
    return r.ok ? 'ok' : r.reason
  }
  t.regex(reason(rs((p) => ((p[7] = 254), p))), /hop limit 254 is not 255/)
  const badSum = rs()
  badSum[4 + 43] = badSum[4 + 43]! ^ 1
  t.is(reason(badSum), 'bad ICMPv6 checksum')
  t.regex(reason(rs((p) => ((p[41] = 1), p))), /code 1 is not 0/)
  t.regex(reason(rs((p) => p.subarray(0, 46))), /ICMPv6 length 6 is below 8/)
  t.regex(reason(rs((p) => Buffer.concat([p, Buffer.from('0101000000000000', 'hex')]))), /ok/, 'a Source Link-Layer Address option from a real source is fine')
  t.regex(reason(rs((p) => Buffer.concat([p, Buffer.from('0300000000000000', 'hex')]))), /length 0/)
  const unspecified = (p: Buffer) => (p.fill(0, 8, 24), p)
  t.is(reason(rs(unspecified)), 'ok', 'from :: without options')
  t.regex(reason(rs((p) => Buffer.concat([unspecified(p), Buffer.from('0101000000000000', 'hex')]))), /unspecified address/)
  t.regex(reason(rs((p) => ((p[40] = 128), p))), /type 128 is not a Router Solicitation/)
  t.regex(reason(rs((p) => ((p[6] = 17), p))), /next header 17/)
  t.regex(reason(Buffer.concat([Buffer.from('ff030021', 'hex'), KERNEL_RS])), /0x0021 is not IPv6/)
  t.regex(reason(Buffer.concat([PPP_IPV6, KERNEL_RS.subarray(0, 44)])), /runs past the frame/)
  t.regex(reason(Buffer.alloc(1)), /bad PPP frame/)
})

test('our Router Advertisement: the fields the issue asks for, the checksum agreeing with a second implementation', (t) => {
  const frame = buildRouterAdvertisement(RA_OPTIONS)
  t.true(frame.subarray(0, 4).equals(PPP_IPV6), 'FF 03 00 57, like every frame PppLink sends')
  const packet = frame.subarray(4)
  t.true(packet.equals(buildRouterAdvertisementPacket(RA_OPTIONS)))
  t.is(packet.readUInt16BE(42), referenceChecksum(packet))
  const ra = parseRouterAdvertisement(frame, true)
  t.deepEqual(ra, {
    source: linkLocalFromInterfaceId(IID),
    destination: 'ff02::1',
    hopLimit: 255,
    curHopLimit: 64,
    managed: false,
    other: false,
    routerLifetime: 1800,
    reachableTime: 0,
    retransTimer: 0,
    prefixes: [{ prefix: '2001:db8:42:7::/64', onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400 }],
    mtu: 1400,
    dns: { lifetime: 1800, servers: ['2001:db8:53::1', '2001:db8:53::2'] },
    checksumOk: true,
  })
  t.is(ra.source, 'fe80::211:2233:4455:6677')

  const plain = parseRouterAdvertisement(buildRouterAdvertisementPacket({ interfaceId: IID, prefix: '2001:db8::/64', destination: 'fe80::1', mtu: 1270 }))
  t.is(plain.destination, 'fe80::1', 'unicast to the solicitor')
  t.is(plain.mtu, undefined, 'no MTU option below the IPv6 minimum of 1280')
  t.is(plain.dns, undefined, 'no RDNSS option without servers')
  t.true(plain.checksumOk)
  t.throws(() => buildRouterAdvertisement({ interfaceId: 'xyz', prefix: '2001:db8::/64' }), { message: /16 hex digits/ })
  t.throws(() => buildRouterAdvertisement({ interfaceId: IID, prefix: '2001:db8::1/64' }), { message: /host bits/ })
})

test('tshark decodes our Router Advertisement in PPP with the right fields and no expert warnings', (t) => {
  const version = spawnSync('tshark', ['--version'], { encoding: 'utf8' })
  if (version.error || version.status !== 0) {
    t.fail(`tshark is required for this test and was not found or failed: ${version.error?.message ?? version.stderr}`)
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'ipv6-nd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'ra.pcap')
  writeFileSync(file, writePcap([buildRouterAdvertisement(RA_OPTIONS), rs()], LINKTYPE_PPP))
  const fields = [
    'ppp.protocol', 'ipv6.src', 'ipv6.dst', 'ipv6.hlim', 'icmpv6.type', 'icmpv6.code', 'icmpv6.checksum.status',
    'icmpv6.nd.ra.cur_hop_limit', 'icmpv6.nd.ra.flag.m', 'icmpv6.nd.ra.flag.o', 'icmpv6.nd.ra.router_lifetime', 'icmpv6.nd.ra.reachable_time', 'icmpv6.nd.ra.retrans_timer',
    'icmpv6.opt.prefix', 'icmpv6.opt.prefix.length', 'icmpv6.opt.prefix.flag.l', 'icmpv6.opt.prefix.flag.a', 'icmpv6.opt.prefix.valid_lifetime', 'icmpv6.opt.prefix.preferred_lifetime',
    'icmpv6.opt.mtu', 'icmpv6.opt.rdnss', 'icmpv6.opt.rdnss.lifetime',
  ]
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const [raLine, rsLine] = out.trim().split('\n')
  const ra = Object.fromEntries(fields.map((f, i) => [f, raLine!.split('|')[i]]))
  t.like(ra, {
    'ppp.protocol': '0x0057',
    'ipv6.src': 'fe80::211:2233:4455:6677',
    'ipv6.dst': 'ff02::1',
    'ipv6.hlim': '255',
    'icmpv6.type': '134',
    'icmpv6.code': '0',
    'icmpv6.checksum.status': '1',
    'icmpv6.nd.ra.cur_hop_limit': '64',
    'icmpv6.nd.ra.router_lifetime': '1800',
    'icmpv6.nd.ra.reachable_time': '0',
    'icmpv6.nd.ra.retrans_timer': '0',
    'icmpv6.opt.prefix': '2001:db8:42:7::',
    'icmpv6.opt.prefix.length': '64',
    'icmpv6.opt.prefix.valid_lifetime': '86400',
    'icmpv6.opt.prefix.preferred_lifetime': '14400',
    'icmpv6.opt.mtu': '1400',
    'icmpv6.opt.rdnss': '2001:db8:53::1,2001:db8:53::2',
    'icmpv6.opt.rdnss.lifetime': '1800',
  })
  // Booleans print as True/False or 1/0 depending on the version.
  for (const [f, want] of [['icmpv6.nd.ra.flag.m', false], ['icmpv6.nd.ra.flag.o', false], ['icmpv6.opt.prefix.flag.l', true], ['icmpv6.opt.prefix.flag.a', true]] as const) {
    t.is(/^(1|True)$/i.test(ra[f] ?? ''), want, `${f} = ${ra[f]}`)
  }
  t.regex(rsLine ?? '', /^0x0057\|fe80::82f9:b70:e74f:2ddc\|ff02::2\|255\|133\|0\|1\|/, 'the solicitation decodes too')
  const expert = execFileSync('tshark', ['-r', file, '-q', '-z', 'expert,note'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  t.notRegex(expert, /\b(Warns?|Errors?|Notes?)\b.*\(\d+\)/, expert)

  // The check can fail: one flipped bit and tshark warns.
  const bad = buildRouterAdvertisement(RA_OPTIONS)
  bad[4 + 43] = bad[4 + 43]! ^ 1
  writeFileSync(file, writePcap([bad], LINKTYPE_PPP))
  const flagged = execFileSync('tshark', ['-r', file, '-q', '-z', 'expert,note'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  t.regex(flagged, /Warns \(1\)[\s\S]*Bad checksum/)
})
