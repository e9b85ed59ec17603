/**
 * Optional host changes for `serve` (forwarding.enable): IPv4 forwarding
 * on, and with `masquerade` an nftables table of our own that NATs the
 * clients' pool addresses out of one interface. Nothing else on the host is
 * touched, and the table is deleted when the server stops.
 */
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { systemBinary } from './binaries.js'
import { poolRoutes } from './netconf.js'

const run = promisify(execFile)
export const NFT_TABLE = 'l2tp_ipsec'

export interface ForwardingOptions {
  pools: string | readonly string[]
  /** Outbound interface for NAT; null: forwarding only. */
  masquerade: string | null
  /** Apply inside this network namespace (name or /run/netns path). */
  netns?: string | null
}

export interface ForwardingHandle {
  /** Deletes our nftables table; forwarding stays as it was set (other services may rely on it). */
  remove(): Promise<void>
}

function inNamespace(netns: string | null | undefined, argv: [program: 'nft' | 'sysctl', ...args: string[]]): [string, string[]] {
  const [program, ...args] = argv
  const file = systemBinary(program)
  if (!netns) return [file, args]
  const name = netns.startsWith('/run/netns/') ? netns.slice('/run/netns/'.length) : netns
  return [systemBinary('ip'), ['netns', 'exec', name, file, ...args]]
}

async function exec(netns: string | null | undefined, argv: [program: 'nft' | 'sysctl', ...args: string[]], input?: string): Promise<void> {
  const [file, args] = inNamespace(netns, argv)
  try {
    if (input === undefined) await run(file, args, { timeout: 10_000 })
    else
      await new Promise<void>((resolve, reject) => {
        const child = execFile(file, args, { timeout: 10_000 }, (e) => (e ? reject(e) : resolve()))
        child.stdin?.end(input)
      })
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr?.trim()
    throw new Error(`${[file, ...args].join(' ')}: ${stderr || (e as Error).message}`)
  }
}

export async function applyForwarding(options: ForwardingOptions): Promise<ForwardingHandle> {
  if (options.netns) await exec(options.netns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
  else if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() !== '1') await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n')
  if (!options.masquerade) return { remove: async () => {} }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(options.masquerade)) throw new Error(`forwarding.masquerade: ${JSON.stringify(options.masquerade)} is not an interface name`)
  const sources = poolRoutes(options.pools).join(', ')
  const ruleset = `table ip ${NFT_TABLE} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr { ${sources} } oifname "${options.masquerade}" masquerade
  }
}
`
  // A table left by a server that died is replaced, not duplicated.
  await exec(options.netns, ['nft', 'delete', 'table', 'ip', NFT_TABLE]).catch(() => {})
  await exec(options.netns, ['nft', '-f', '-'], ruleset)
  return {
    remove: () => exec(options.netns, ['nft', 'delete', 'table', 'ip', NFT_TABLE]).catch(() => {}),
  }
}
