/**
 * Sources that must never be delayed or locked out (an office NAT, the
 * monitoring host): addresses and CIDR prefixes, IPv4 and IPv6, matched
 * with node:net's BlockList. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * matches as its IPv4 address.
 */
import { BlockList, isIP } from 'node:net'

export class AllowListError extends Error {
  readonly code = 'ALLOW_LIST_BAD_ENTRY'
}

export class AllowList {
  private readonly list = new BlockList()
  readonly entries: readonly string[]

  /** Throws AllowListError naming the first entry that is not an address or a prefix. */
  constructor(entries: readonly string[] = []) {
    for (const entry of entries) {
      const why = allowListEntryProblem(entry)
      if (why) throw new AllowListError(why)
      const [address, length] = entry.split('/') as [string, string | undefined]
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
      if (length === undefined) this.list.addAddress(address, family)
      else this.list.addSubnet(address, Number(length), family)
    }
    this.entries = [...entries]
  }

  has(address: string): boolean {
    if (this.entries.length === 0) return false
    const bare = address.split('%')[0]!
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)
    const plain = mapped ? mapped[1]! : bare
    const family = isIP(plain)
    if (family === 0) return false
    return this.list.check(plain, family === 6 ? 'ipv6' : 'ipv4')
  }
}

/** Why `entry` is not an address or prefix ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"), or undefined. */
export function allowListEntryProblem(entry: string): string | undefined {
  const [address, length, extra] = entry.split('/')
  const family = isIP(address ?? '')
  if (extra !== undefined || family === 0) return `${JSON.stringify(entry)} is not an address or a prefix (e.g. "192.0.2.0/24", "2001:db8::/32")`
  if (length !== undefined && (!/^\d{1,3}$/.test(length) || Number(length) > (family === 6 ? 128 : 32))) return `${JSON.stringify(entry)}: prefix length must be 0..${family === 6 ? 128 : 32}`
  return undefined
}
