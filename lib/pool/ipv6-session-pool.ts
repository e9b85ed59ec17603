/**
 * The server's IPv6 prefixes (`pool.ipv6`): its own address on the TUN
 * device is the first address of the first parent prefix
 * (2001:db8:42::/56 -> 2001:db8:42::1), and the delegated prefix holding it
 * is kept out of the pool, so every session's /64 is its own. The config
 * check and the server build the pool here, the same way.
 */
import { Ipv6PrefixPool } from './ip-pool.js'
import { formatIpv6, parseIpv6Prefix } from './ipv6.js'

export interface Ipv6PoolSettings {
  prefixes: readonly string[]
  delegatedLength: number
}

/** The server's IPv6 address: network + 1 of the first prefix. */
export function serverIpv6Address(prefixes: readonly string[]): string {
  const first = prefixes[0] === undefined ? undefined : parseIpv6Prefix(prefixes[0].trim())
  if (!first) throw new Error(`not an IPv6 prefix: ${JSON.stringify(prefixes[0])}`)
  return formatIpv6(first.network + 1n)
}

/** The pool of session prefixes: the parent prefixes minus the delegated prefix holding the server's address. */
export function sessionPrefixPool(settings: Ipv6PoolSettings): Ipv6PrefixPool {
  return new Ipv6PrefixPool({
    prefixes: [...settings.prefixes],
    delegatedLength: settings.delegatedLength,
    exclude: [`${serverIpv6Address(settings.prefixes)}/128`],
  })
}
