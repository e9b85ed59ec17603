/**
 * Addresses and routes on the TUN device, through iproute2. The data plane
 * creates the device and brings it up; routes to the clients' addresses are
 * ours. Routes on a TUN device vanish with the device, so a server that
 * stops (or dies) leaves none behind.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { formatIpv4, parseIpv4 } from '../pool/ip-pool.js'
import { systemBinary } from './binaries.js'

const run = promisify(execFile)

export class NetconfError extends Error {
  override readonly name = 'NetconfError'
  readonly code = 'NETCONF_FAILED'
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(`${command}: ${message}`)
  }
}

/** `ip` commands, in a network namespace when one is given (a path like /run/netns/NAME, or a name). */
export class Netconf {
  constructor(private readonly netns?: string | null) {}

  private prefix(): string[] {
    if (!this.netns) return []
    const name = this.netns.startsWith('/run/netns/') ? this.netns.slice('/run/netns/'.length) : this.netns.includes('/') ? undefined : this.netns
    if (name === undefined) throw new NetconfError('ip', `namespace ${this.netns} is not under /run/netns; give its name`)
    return ['-n', name]
  }

  async ip(...args: string[]): Promise<void> {
    await this.ipOutput(...args)
  }

  /** Runs `ip ARGS`; resolves with its standard output. */
  async ipOutput(...args: string[]): Promise<string> {
    const argv = [...this.prefix(), ...args]
    try {
      return (await run(systemBinary('ip'), argv, { timeout: 10_000 })).stdout
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr?.trim()
      throw new NetconfError(`ip ${argv.join(' ')}`, stderr || (e as Error).message)
    }
  }

  addAddress(device: string, address: string, peer?: string): Promise<void> {
    return peer ? this.ip('addr', 'replace', `${address}/32`, 'peer', `${peer}/32`, 'dev', device) : this.ip('addr', 'replace', `${address}/32`, 'dev', device)
  }

  addRoute(device: string, prefix: string, source?: string): Promise<void> {
    return this.ip('route', 'replace', prefix, 'dev', device, ...(source ? ['src', source] : []))
  }

  /** An IPv6 address on the device: a /128 unless `address` has a length ("fe80::1/64"). */
  addAddress6(device: string, address: string): Promise<void> {
    return this.ip('-6', 'addr', 'replace', address.includes('/') ? address : `${address}/128`, 'dev', device)
  }

  addRoute6(device: string, prefix: string): Promise<void> {
    return this.ip('-6', 'route', 'replace', prefix, 'dev', device)
  }

  /** The device's global IPv6 addresses with their prefix lengths ("2001:db8:42:1::5/64"). */
  async globalAddresses6(device: string): Promise<string[]> {
    const out = await this.ipOutput('-j', '-6', 'addr', 'show', 'dev', device, 'scope', 'global')
    const parsed = JSON.parse(out || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[]
    return parsed.flatMap((l) => l.addr_info ?? []).flatMap((a) => (a.local ? [`${a.local}/${a.prefixlen ?? 128}`] : []))
  }

  /** A sysctl in the namespace, keyed with slashes so interface names may hold dots ("net/ipv6/conf/eth0.5/accept_ra"). */
  async sysctl(key: string, value: string | number): Promise<void> {
    const name = this.prefix()[1]
    const sysctl = [systemBinary('sysctl'), '-q', '-w', `${key}=${value}`]
    const [file, argv] = name ? [systemBinary('ip'), ['netns', 'exec', name, ...sysctl]] : [sysctl[0]!, sysctl.slice(1)]
    try {
      await run(file, argv, { timeout: 10_000 })
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr?.trim()
      throw new NetconfError(`sysctl ${key}=${value}`, stderr || (e as Error).message)
    }
  }

  /** Removes a route; one already gone is not an error. */
  async deleteRoute(device: string, prefix: string): Promise<void> {
    try {
      await this.ip('route', 'del', prefix, 'dev', device)
    } catch (e) {
      if (!/No such process|Cannot find device/.test((e as Error).message)) throw e
    }
  }
}

/** The fewest CIDR blocks that cover first..last (IPv4, as numbers). */
export function rangeToCidrs(first: number, last: number): string[] {
  const out: string[] = []
  let start = first
  while (start <= last) {
    let size = 32
    while (size > 0) {
      const block = 2 ** (32 - (size - 1))
      if (start % block !== 0 || start + block - 1 > last) break
      size--
    }
    out.push(`${formatIpv4(start)}/${size}`)
    start += 2 ** (32 - size)
  }
  return out
}

/** Routes covering pool ranges as the config gives them: "a-b", a CIDR block, or one address. */
export function poolRoutes(ranges: string | readonly string[]): string[] {
  const out: string[] = []
  for (const range of typeof ranges === 'string' ? [ranges] : ranges) {
    if (range.includes('/')) {
      out.push(range)
      continue
    }
    const [from = '', to = from] = range.split('-').map((s) => s.trim())
    const first = parseIpv4(from)
    const last = parseIpv4(to)
    if (first === undefined || last === undefined || last < first) throw new NetconfError('pool route', `not an IPv4 range: ${range}`)
    out.push(...rangeToCidrs(first, last))
  }
  return out
}
