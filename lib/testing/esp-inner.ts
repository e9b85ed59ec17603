/**
 * (Used by the tests and the interop harness; not part of the public API.)
 *
 * What a decrypted ESP packet must carry, judged from tshark's fields:
 *
 * - `l2tp`: L2TP (transport mode, the L2TP/IPsec clients);
 * - `ip`: an IPv4 packet right inside ESP (tunnel mode, a site-to-site
 *   link) going from one of the two LANs to the other, e.g. 10.2.0.0/24 ↔
 *   192.168.42.1/32; a packet inside ESP from or to anywhere else means
 *   the selectors or the routing let something through they should not.
 *   (IPv4 only: the interop networks are IPv4, and tshark names IPv6
 *   addresses in other fields.)
 */
import { BlockList, isIPv4 } from 'node:net'

export type EspInner = { kind: 'l2tp' } | { kind: 'ip'; lans: readonly [readonly string[], readonly string[]] }

export const L2TP_INNER: EspInner = { kind: 'l2tp' }

/** The tshark fields `innerProblem` reads besides frame.protocols (aggregated with ","). */
export const INNER_FIELDS = ['ip.src', 'ip.dst'] as const

function blockList(prefixes: readonly string[], what: string): BlockList {
  const list = new BlockList()
  for (const p of prefixes) {
    const [address = '', length, extra] = String(p).split('/')
    const bits = length === undefined ? 32 : Number(length)
    if (!isIPv4(address) || extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`${what}: ${JSON.stringify(p)} is not an IPv4 address or CIDR prefix`)
    list.addSubnet(address, bits, 'ipv4')
  }
  return list
}

/** An `ip` expectation, its prefixes checked (throws naming `what` and the bad prefix). */
export function ipInner(lans: unknown, what = 'lans'): EspInner {
  if (!Array.isArray(lans) || lans.length !== 2 || !lans.every((l) => Array.isArray(l) && l.length > 0)) throw new Error(`${what}: two non-empty lists of CIDR prefixes are needed, e.g. [[10.2.0.0/24], [192.168.42.1/32]]`)
  const [a, b] = lans as unknown[][]
  const pair = [a!.map(String), b!.map(String)] as const
  blockList(pair[0], what)
  blockList(pair[1], what)
  return { kind: 'ip', lans: pair }
}

export function describeInner(inner: EspInner): string {
  return inner.kind === 'l2tp' ? 'L2TP' : `IP between ${inner.lans[0].join(' ')} and ${inner.lans[1].join(' ')}`
}

/**
 * A judge of one decrypted ESP packet: `(protocols, ipSrc, ipDst)` — tshark's
 * frame.protocols and its ip.src/ip.dst, every IP header's address joined
 * with "," — gives why the packet is not what `inner` asks, or undefined.
 */
export function innerJudge(inner: EspInner): (protocols: string, ipSrc: string, ipDst: string) => string | undefined {
  if (inner.kind === 'l2tp') return (protocols) => (/(^|:)l2tp(:|$)/.test(protocols) ? undefined : `no L2TP inside (${protocols})`)
  const [a, b] = [blockList(inner.lans[0], 'lans'), blockList(inner.lans[1], 'lans')]
  const has = (list: BlockList, address: string) => isIPv4(address) && list.check(address, 'ipv4')
  return (protocols, ipSrc, ipDst) => {
    const layers = protocols.split(':')
    const esp = layers.indexOf('esp')
    if (esp < 0 || layers[esp + 1] !== 'ip') return `no IPv4 packet right inside ESP (${protocols})`
    // The inner header is the first IP header after ESP: as many IP headers come before it as precede ESP.
    const n = layers.slice(0, esp).filter((l) => l === 'ip').length
    const src = ipSrc.split(',')[n] ?? ''
    const dst = ipDst.split(',')[n] ?? ''
    if ((has(a, src) && has(b, dst)) || (has(b, src) && has(a, dst))) return undefined
    return `inner IP ${src || '?'} → ${dst || '?'} is not between the two LANs (${describeInner(inner)})`
  }
}
