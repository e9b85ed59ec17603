// What the interop harness demands inside decrypted ESP (lib/testing/esp-inner.ts,
// `expect.inner` of a scenario): L2TP for the L2TP clients, an IP packet
// between the two LANs for a site-to-site link. Judged by tshark — a decoder
// nobody here wrote — on two real captures: an L2TP session between
// strongSwan peers (vectors/real) and the interop run of
// strongswan-site-to-site (vectors/interop: strongSwan in tunnel mode against
// our server). Each capture passes its own check and fails the other's, so
// neither check passes whatever it is given. Needs tshark (fails without it).
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { analyseCapture, readXfrm } from '../interop/capture.js'
import { innerJudge, ipInner, L2TP_INNER } from '../lib/testing/esp-inner.js'
import { checkDecryption } from '../lib/testing/wireshark-check.js'

const L2TP_SESSION = new URL('./vectors/real/strongswan-aes128-sha1-modp2048/', import.meta.url).pathname
const SITE = new URL('./vectors/interop/strongswan-site-to-site/', import.meta.url).pathname
const SITE_LANS = ipInner([['10.2.0.0/24'], ['192.168.42.1/32']])

test('the judge: L2TP, an IP packet between the LANs either way, nothing else', (t) => {
  const l2tp = innerJudge(L2TP_INNER)
  t.is(l2tp('eth:ethertype:ip:udp:udpencap:esp:udp:l2tp:ppp:ip:icmp:data', '10.0.2.15,192.168.42.10', '10.0.2.2,192.168.42.1'), undefined)
  t.regex(l2tp('eth:ethertype:ip:udp:udpencap:esp:ip:icmp:data', '', '') ?? '', /no L2TP/)
  const site = innerJudge(SITE_LANS)
  const tunnel = 'eth:ethertype:ip:udp:udpencap:esp:ip:icmp:data'
  t.is(site(tunnel, '10.0.2.15,10.2.0.1', '10.0.2.2,192.168.42.1'), undefined)
  t.is(site(tunnel, '10.0.2.2,192.168.42.1', '10.0.2.15,10.2.0.7'), undefined)
  t.is(site('eth:ethertype:ip:esp:ip:icmp:data', '10.0.2.15,10.2.0.1', '10.0.2.2,192.168.42.1'), undefined, 'raw ESP too')
  t.regex(site(tunnel, '10.0.2.15,10.2.1.1', '10.0.2.2,192.168.42.1') ?? '', /10\.2\.1\.1 → 192\.168\.42\.1 is not between the two LANs/)
  t.regex(site(tunnel, '10.0.2.15,10.2.0.1', '10.0.2.2,10.2.0.2') ?? '', /not between/, 'both ends in one LAN')
  t.regex(site(tunnel, '10.0.2.15,192.168.42.1', '10.0.2.2,192.168.42.1') ?? '', /not between/)
  // The outer header's addresses are never taken for the inner ones.
  t.regex(site(tunnel, '10.2.0.1', '192.168.42.1') ?? '', /\? → \?/)
  t.regex(site('eth:ethertype:ip:udp:udpencap:esp:udp:l2tp:ppp:ip:icmp:data', '10.0.2.15,10.2.0.1', '10.0.2.2,192.168.42.1') ?? '', /no IPv4 packet right inside ESP/)
  // An ICMP error quotes a third IP header: still the first one after ESP counts.
  t.is(site('eth:ethertype:ip:udp:udpencap:esp:ip:icmp:ip:udp', '10.0.2.15,10.2.0.1,192.168.42.1', '10.0.2.2,192.168.42.1,10.2.0.1'), undefined)
})

test('ipInner refuses what is not two lists of IPv4 prefixes, naming the key', (t) => {
  t.throws(() => ipInner(undefined, 'expect.lans'), { message: /^expect\.lans: two non-empty lists/ })
  t.throws(() => ipInner([['10.2.0.0/24']], 'expect.lans'), { message: /two non-empty lists/ })
  t.throws(() => ipInner([['10.2.0.0/24'], []], 'expect.lans'), { message: /two non-empty lists/ })
  t.throws(() => ipInner([['10.2.0.0/33'], ['192.168.42.1']], 'expect.lans'), { message: /expect\.lans: "10\.2\.0\.0\/33" is not an IPv4 address or CIDR prefix/ })
  t.throws(() => ipInner([['lan'], ['192.168.42.1']], 'expect.lans'), { message: /"lan" is not/ })
  t.throws(() => ipInner([['fd00::/64'], ['192.168.42.1']], 'expect.lans'), { message: /"fd00::\/64" is not an IPv4/ })
  t.deepEqual(ipInner([['10.2.0.0/24'], ['192.168.42.1']]), { kind: 'ip', lans: [['10.2.0.0/24'], ['192.168.42.1']] })
})

test('an L2TP session (transport mode): every ESP packet is L2TP, none is an IP packet between LANs', async (t) => {
  const sas = readXfrm(join(L2TP_SESSION, 'xfrm-state-client.txt'))
  t.is(sas.length, 2)
  const pcap = join(L2TP_SESSION, 'session.pcap')
  const l2tp = await analyseCapture(pcap, sas)
  t.true(l2tp.esp >= 20, `${l2tp.esp} ESP packets`)
  t.is(l2tp.espDecrypted, l2tp.esp, l2tp.problems.join('; '))
  t.is(l2tp.malformed.length, 0)
  const ip = await analyseCapture(pcap, sas, SITE_LANS)
  t.is(ip.espDecrypted, 0)
  t.is(ip.espBadInner, ip.esp)
  t.regex(ip.problems[0] ?? '', /good ICV but no IPv4 packet right inside ESP \(.*esp:udp:l2tp/)
})

test('the site-to-site run (tunnel mode): every ESP packet decrypts to IP between the LANs with the client\'s and the server\'s keys, none to L2TP', async (t) => {
  const pcap = join(SITE, 'capture.pcap')
  const sas = readXfrm(join(SITE, 'xfrm.txt'))
  t.true(sas.length >= 4, `${sas.length} client SAs: the first pair and the rekeyed one`)
  const client = await analyseCapture(pcap, sas, SITE_LANS)
  t.true(client.esp >= 150, `${client.esp} ESP packets`)
  t.is(client.espDecrypted, client.esp, client.problems.join('; '))
  t.is(client.malformed.length, 0)
  t.true(client.spisOnWire.length >= 4, 'ESP on both pairs: before and after the rekey')
  const asL2tp = await analyseCapture(pcap, sas)
  t.is(asL2tp.espDecrypted, 0)
  t.is(asL2tp.espBadInner, asL2tp.esp)
  const elsewhere = await analyseCapture(pcap, sas, ipInner([['10.3.0.0/24'], ['192.168.42.1/32']]))
  t.is(elsewhere.espDecrypted, 0, 'other LANs: nothing passes')
  t.regex(elsewhere.problems[0] ?? '', /inner IP 10\.2\.0\.1 → 192\.168\.42\.1 is not between the two LANs|inner IP 192\.168\.42\.1 → 10\.2\.0\.1/)

  const keylog = readFileSync(join(SITE, 'keylog.txt'), 'utf8').split('\n')
  const server = await checkDecryption(pcap, keylog, SITE_LANS)
  t.is(server.esp.total, client.esp)
  t.is(server.esp.decrypted, server.esp.total, server.problems.join('; '))
  t.is(server.malformed, 0)
  const serverAsL2tp = await checkDecryption(pcap, keylog)
  t.is(serverAsL2tp.esp.decrypted, 0)
  t.regex(serverAsL2tp.problems[0] ?? '', /did not decrypt to L2TP .*no L2TP inside/)
})
