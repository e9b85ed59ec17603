/**
 * (Used by the tests and the benchmarks; not part of the public API.)
 *
 * Network namespaces for tests: two hosts joined by a veth pair, created
 * with `ip` and removed afterwards. Traffic stays inside namespaces this
 * test made (needs root, as CI has).
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

export interface NetnsPair {
  a: string
  b: string
  /** Addresses on the veth ends. */
  addrA: string
  addrB: string
  /** The veth ends' device names, in a and in b. */
  vethA: string
  vethB: string
  path: (ns: string) => string
  exec: (ns: string, args: string[], options?: { timeout?: number }) => string
  cleanup: () => void
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs `args` inside namespace `ns` and returns its stdout; throws on a non-zero exit or after `timeout` ms (default 60 s). */
export function netnsExec(ns: string, args: string[], options: { timeout?: number; input?: string } = {}): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...args], {
    encoding: 'utf8',
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    timeout: options.timeout ?? 60_000,
    ...(options.input === undefined ? {} : { input: options.input }),
  })
}

/**
 * Namespaces this process made and has not deleted. A test's teardown
 * deletes its own; these go at exit, or on SIGTERM, SIGINT or SIGHUP, for
 * when teardowns never run: ava ends a worker that hit its timeout with
 * SIGTERM, and an interrupted run never reaches them.
 */
const made = new Set<string>()
let hooked = false

function removeMade(): void {
  for (const ns of [...made]) removeNamespace(ns)
}

function hookExit(): void {
  if (hooked) return
  hooked = true
  process.on('exit', removeMade)
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      removeMade()
      // Die of the signal as if we had not listened, unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

/** `ip netns add name`, deleted again by removeNamespace, or at the latest when this process exits or is killed by a signal it can catch. */
export function addNamespace(name: string): void {
  hookExit()
  ip('netns', 'add', name)
  made.add(name)
}

/** Deletes a namespace; one already gone is fine. Never throws. */
export function removeNamespace(name: string): void {
  made.delete(name)
  try {
    ip('netns', 'del', name)
  } catch {
    // already gone
  }
}

/** Namespaces this process made and has not deleted (for tests of the teardowns). */
export function liveNamespaces(): string[] {
  return [...made]
}

let counter = 0

export function createNetnsPair(tag: string): NetnsPair {
  const id = `${process.pid % 10000}${counter++}`
  const a = `l2t-${tag}-${id}-a`
  const b = `l2t-${tag}-${id}-b`
  // Each pair lives in its own namespaces, so fixed addresses never clash.
  const addrA = '10.250.0.1'
  const addrB = '10.250.0.2'
  const vethA = `va${id}`
  const vethB = `vb${id}`
  const cleanup = () => {
    for (const ns of [a, b]) removeNamespace(ns)
  }
  try {
    addNamespace(a)
    addNamespace(b)
    ip('link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB)
    ip('link', 'set', vethA, 'netns', a)
    ip('link', 'set', vethB, 'netns', b)
    ip('-n', a, 'addr', 'add', `${addrA}/24`, 'dev', vethA)
    ip('-n', b, 'addr', 'add', `${addrB}/24`, 'dev', vethB)
    for (const [ns, dev] of [[a, vethA], [b, vethB]] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      ip('-n', ns, 'link', 'set', dev, 'up')
    }
  } catch (e) {
    cleanup()
    throw e
  }
  return {
    a,
    b,
    addrA,
    addrB,
    vethA,
    vethB,
    path: (ns) => `/run/netns/${ns}`,
    exec: netnsExec,
    cleanup,
  }
}

/**
 * Three hosts for NAT tests: a server (S), a router (R) and a client (C).
 * S–R is the public side (10.251.0.0/24), R–C the private side
 * (172.31.0.0/24). R forwards and masquerades what C sends towards S (nft,
 * inside R only); C's default route goes via R. `natPorts` ("20000-29999")
 * makes R map source ports into that range, so a mapped port is told apart
 * from the port the client bound.
 */
export interface NatTopology {
  server: string
  router: string
  client: string
  /** S's address, R's public address (what S sees as the source), R's private address, C's address. */
  serverAddr: string
  routerPublicAddr: string
  routerPrivateAddr: string
  clientAddr: string
  /** Device names: S's and R's ends of S–R, R's and C's ends of R–C. */
  serverDev: string
  routerPublicDev: string
  routerPrivateDev: string
  clientDev: string
  path: (ns: string) => string
  exec: (ns: string, args: string[], options?: { timeout?: number; input?: string }) => string
  cleanup: () => void
}

/**
 * nftables' `nft`, by absolute path: under `npm test` / `npx`, PATH starts
 * with node_modules/.bin, where @vercel/nft (pulled in by ava) installs an
 * unrelated `nft` that exits 0 whatever it is given.
 */
export const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft', '/usr/local/sbin/nft'].find((p) => existsSync(p)) ?? '/usr/sbin/nft'

export function createNatTopology(tag: string, options: { natPorts?: string } = {}): NatTopology {
  const id = `${process.pid % 10000}${counter++}`
  const server = `l2t-${tag}-${id}-s`
  const router = `l2t-${tag}-${id}-r`
  const client = `l2t-${tag}-${id}-c`
  const serverAddr = '10.251.0.1'
  const routerPublicAddr = '10.251.0.2'
  const routerPrivateAddr = '172.31.0.1'
  const clientAddr = '172.31.0.2'
  const serverDev = `ns${id}`
  const routerPublicDev = `nr${id}`
  const routerPrivateDev = `np${id}`
  const clientDev = `nc${id}`
  const exec: NatTopology['exec'] = netnsExec
  const cleanup = () => {
    for (const ns of [server, router, client]) removeNamespace(ns)
  }
  try {
    for (const ns of [server, router, client]) addNamespace(ns)
    ip('link', 'add', serverDev, 'type', 'veth', 'peer', 'name', routerPublicDev)
    ip('link', 'add', routerPrivateDev, 'type', 'veth', 'peer', 'name', clientDev)
    const ends = [
      [server, serverDev, `${serverAddr}/24`],
      [router, routerPublicDev, `${routerPublicAddr}/24`],
      [router, routerPrivateDev, `${routerPrivateAddr}/24`],
      [client, clientDev, `${clientAddr}/24`],
    ] as const
    for (const [ns, dev, cidr] of ends) {
      ip('link', 'set', dev, 'netns', ns)
      ip('-n', ns, 'addr', 'add', cidr, 'dev', dev)
      ip('-n', ns, 'link', 'set', dev, 'up')
    }
    for (const ns of [server, router, client]) ip('-n', ns, 'link', 'set', 'lo', 'up')
    ip('-n', client, 'route', 'add', 'default', 'via', routerPrivateAddr)
    exec(router, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
    const rules = [...(options.natPorts ? [`oifname "${routerPublicDev}" meta l4proto udp masquerade to :${options.natPorts}`] : []), `oifname "${routerPublicDev}" masquerade`]
    exec(router, [NFT, '-f', '-'], {
      input: ['table ip nat {', '  chain post {', '    type nat hook postrouting priority 100;', ...rules.map((r) => `    ${r}`), '  }', '}', ''].join('\n'),
    })
  } catch (e) {
    cleanup()
    throw e
  }
  return {
    server,
    router,
    client,
    serverAddr,
    routerPublicAddr,
    routerPrivateAddr,
    clientAddr,
    serverDev,
    routerPublicDev,
    routerPrivateDev,
    clientDev,
    path: (ns) => `/run/netns/${ns}`,
    exec,
    cleanup,
  }
}
