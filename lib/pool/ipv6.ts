// IPv6 text <-> 128-bit integer, for the prefix pool (lib/pool/ip-pool.ts).
// Parsing follows RFC 4291 section 2.2 (hex groups, one "::", an optional
// trailing dotted IPv4); formatting is the canonical form of RFC 5952
// section 4 (lower case, no leading zeros, the longest run of two or more
// zero groups compressed, the first such run on a tie).

const MAX = (1n << 128n) - 1n

/** The address as an unsigned 128-bit integer, or undefined if `text` is not an IPv6 address. */
export function parseIpv6(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 45 || text.includes('%')) return undefined
  let head = text
  let tailV4: number[] | undefined
  const lastColon = text.lastIndexOf(':')
  if (lastColon >= 0 && text.indexOf('.', lastColon) > lastColon) {
    const v4 = text.slice(lastColon + 1).split('.')
    if (v4.length !== 4) return undefined
    tailV4 = []
    for (const part of v4) {
      if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined
      const n = Number(part)
      if (n > 255) return undefined
      tailV4.push(n)
    }
    // keep the colon so "::1.2.3.4" leaves "::" behind
    head = text.slice(0, lastColon + 1)
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const groupsWanted = tailV4 ? 6 : 8
  const doubleAt = head.indexOf('::')
  if (doubleAt >= 0 && head.indexOf('::', doubleAt + 1) >= 0) return undefined
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return []
    const out: number[] = []
    for (const group of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined
      out.push(parseInt(group, 16))
    }
    return out
  }
  let groups: number[]
  if (doubleAt >= 0) {
    const left = parseGroups(head.slice(0, doubleAt))
    const right = parseGroups(head.slice(doubleAt + 2))
    if (!left || !right) return undefined
    const missing = groupsWanted - left.length - right.length
    if (missing < 1) return undefined
    groups = [...left, ...new Array<number>(missing).fill(0), ...right]
  } else {
    const all = parseGroups(head)
    if (!all || all.length !== groupsWanted) return undefined
    groups = all
  }
  let value = 0n
  for (const g of groups) value = (value << 16n) | BigInt(g)
  if (tailV4) for (const b of tailV4) value = (value << 8n) | BigInt(b)
  return value
}

/** RFC 5952 canonical text of a 128-bit integer. */
export function formatIpv6(value: bigint): string {
  if (value < 0n || value > MAX) throw new RangeError(`not a 128-bit value: ${value}`)
  const groups: number[] = []
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn))
  // RFC 5952 4.2.2/4.2.3: compress the longest run of >= 2 zero groups, the first on a tie
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/** A parsed "address/length" with the host bits cleared. */
export interface Ipv6Prefix {
  network: bigint
  length: number
}

/**
 * Parses "2001:db8:42::/56". Host bits set below the prefix length are
 * rejected (`strict`, the default) rather than silently cleared, because a
 * typo in a pool prefix should be loud.
 */
export function parseIpv6Prefix(text: string, strict = true): Ipv6Prefix | undefined {
  const slash = text.indexOf('/')
  if (slash < 0) {
    const address = parseIpv6(text)
    return address === undefined ? undefined : { network: address, length: 128 }
  }
  const address = parseIpv6(text.slice(0, slash))
  const lengthText = text.slice(slash + 1)
  if (address === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(lengthText)) return undefined
  const length = Number(lengthText)
  if (length > 128) return undefined
  const hostMask = length === 128 ? 0n : (1n << BigInt(128 - length)) - 1n
  if (strict && (address & hostMask) !== 0n) return undefined
  return { network: address & ~hostMask & MAX, length }
}

/** "network/length" in canonical form. */
export function formatIpv6Prefix(prefix: Ipv6Prefix): string {
  return `${formatIpv6(prefix.network)}/${prefix.length}`
}
