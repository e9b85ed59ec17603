/**
 * (Used by the tests and the benchmarks; not part of the public API.)
 *
 * A host on the inner network behind the server: its own namespace joined
 * to the server's by veth, the server's namespace forwarding between its
 * TUN device and that link. Clients reach it through the tunnel with
 * `routes: [HOST_BEHIND_NET]`.
 */
import { execFileSync } from 'node:child_process'
import { addNamespace, ip, netnsExec, removeNamespace } from './netns.js'

export const HOST_BEHIND_NET = '10.77.0.0/24'
/** The server's end of the link, and the host. */
export const HOST_BEHIND_ROUTER = '10.77.0.1'
export const HOST_BEHIND = '10.77.0.2'

export interface HostBehind {
  /** The host's namespace name. */
  ns: string
  address: string
  exec(args: string[], options?: { timeout?: number; input?: string }): string
  cleanup(): void
}

let counter = 0

/** `serverNs` forwards between its TUN device and a new host at HOST_BEHIND; `pool` is routed back through the server. */
export function createHostBehind(serverNs: string, tag: string, pool = '192.168.42.0/24'): HostBehind {
  const id = `${process.pid % 10000}${counter++}`
  const ns = `l2t-${tag}-${id}-h`
  const devServer = `hs${id}`
  const devHost = `hh${id}`
  const exec: HostBehind['exec'] = (args, o = {}) => netnsExec(ns, args, o)
  const cleanup = () => removeNamespace(ns)
  try {
    addNamespace(ns)
    ip('link', 'add', devServer, 'type', 'veth', 'peer', 'name', devHost)
    ip('link', 'set', devServer, 'netns', serverNs)
    ip('link', 'set', devHost, 'netns', ns)
    ip('-n', serverNs, 'addr', 'add', `${HOST_BEHIND_ROUTER}/24`, 'dev', devServer)
    ip('-n', ns, 'addr', 'add', `${HOST_BEHIND}/24`, 'dev', devHost)
    ip('-n', serverNs, 'link', 'set', devServer, 'up')
    ip('-n', ns, 'link', 'set', devHost, 'up')
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    ip('-n', ns, 'route', 'add', pool, 'via', HOST_BEHIND_ROUTER)
    execFileSync('ip', ['netns', 'exec', serverNs, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], { stdio: 'ignore' })
  } catch (e) {
    cleanup()
    throw e
  }
  return { ns, address: HOST_BEHIND, exec, cleanup }
}
