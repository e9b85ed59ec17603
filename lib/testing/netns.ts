/**
 * (Used by the tests and the benchmarks; not part of the public API.)
 *
 * Network namespaces for tests: two hosts joined by a veth pair, created
 * with `ip` and removed afterwards. Traffic stays inside namespaces this
 * test made (needs root, as CI has).
 */
import { execFileSync } from 'node:child_process'

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
    for (const ns of [a, b]) {
      try {
        ip('netns', 'del', ns)
      } catch {
        // already gone
      }
    }
  }
  try {
    ip('netns', 'add', a)
    ip('netns', 'add', b)
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
    exec: (ns, args, options = {}) =>
      execFileSync('ip', ['netns', 'exec', ns, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: options.timeout ?? 60_000,
      }),
    cleanup,
  }
}
