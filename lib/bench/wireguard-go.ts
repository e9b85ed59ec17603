/**
 * wireguard-go as the tunnel benchmark's reference: a userspace VPN with
 * the same shape as ours (TUN on both ends, UDP between them, one process
 * per end), built from the Go module proxy at a pinned version and run in
 * the same two namespaces over the same veth with the same inner MTU.
 * Configured through its UAPI socket (no `wg` tool needed). Recent
 * wireguard-go uses TUN offloads (IFF_VNET_HDR TSO/GRO) and UDP GSO/GRO,
 * which is why it is the figure to beat.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import type { NetnsPair } from '../testing/netns.js'
import { ip } from '../testing/netns.js'
import { sleep, until } from '../testing/wait.js'

/** The module version the reference figures were taken with. */
export const WIREGUARD_GO_VERSION = 'v0.0.0-20260522210424-ecfc5a8d5446'
const MODULE = 'golang.zx2c4.com/wireguard'

/** Builds (once; cached under target/) and returns the binary, or why it cannot. */
export function buildWireguardGo(root: string): { binary: string } | { skipped: string } {
  const dir = join(root, 'target', 'wireguard-go', WIREGUARD_GO_VERSION)
  const binary = join(dir, 'wireguard')
  if (existsSync(binary)) return { binary }
  if (spawnSync('go', ['version']).error) return { skipped: 'needs Go to build wireguard-go (the reference)' }
  mkdirSync(dir, { recursive: true })
  const r = spawnSync('go', ['install', `${MODULE}@${WIREGUARD_GO_VERSION}`], {
    env: { ...process.env, GOBIN: dir, CGO_ENABLED: '0' },
    encoding: 'utf8',
    timeout: 600_000,
  })
  if (r.status !== 0 || !existsSync(binary)) return { skipped: `building wireguard-go failed: ${(r.stderr || String(r.error)).trim().slice(-300)}` }
  return { binary }
}

interface Key {
  privateHex: string
  publicHex: string
}

function x25519(): Key {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  const der = (k: Buffer) => k.subarray(k.length - 32).toString('hex')
  return { privateHex: der(privateKey.export({ format: 'der', type: 'pkcs8' })), publicHex: der(publicKey.export({ format: 'der', type: 'spki' })) }
}

/** One UAPI `set` transaction; resolves when wireguard-go answers errno=0. */
function uapiSet(socket: string, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket)
    let answer = ''
    conn.on('error', reject)
    conn.on('data', (d) => {
      answer += String(d)
      if (answer.includes('\n\n')) {
        conn.end()
        if (/errno=0\n/.test(answer)) resolve()
        else reject(new Error(`wireguard-go UAPI: ${answer.trim()}`))
      }
    })
    conn.write(`set=1\n${lines.join('\n')}\n\n`)
  })
}

export interface WireguardPair {
  /** Inner addresses: `a` in namespace a (the server side), `b` in namespace b. */
  addrA: string
  addrB: string
  /** CPU seconds both wireguard-go processes have used so far. */
  cpuSeconds(): number
  close(): void
}

const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return 0
  try {
    // Fields after the command name: utime is 14th, stime 15th overall.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS
  } catch {
    return 0
  }
}

/**
 * Starts wireguard-go in both namespaces of `net` (devices `wgr<id>a` and
 * `wgr<id>b`, MTU `mtu`, peers at the veth addresses) and waits until a
 * handshake has gone through.
 */
export async function startWireguardPair(binary: string, net: NetnsPair, mtu: number, children: Set<ChildProcess>): Promise<WireguardPair> {
  const id = `${process.pid % 10000}`
  const ends = [
    { ns: net.a, dev: `wgr${id}a`, underlay: net.addrA, inner: '192.168.77.1', port: 51820, key: x25519() },
    { ns: net.b, dev: `wgr${id}b`, underlay: net.addrB, inner: '192.168.77.2', port: 51821, key: x25519() },
  ]
  const procs: ChildProcess[] = []
  const close = () => {
    for (const p of procs) p.kill('SIGTERM')
  }
  try {
    for (const end of ends) {
      // The UAPI socket lives in /var/run/wireguard, which namespaces share: names differ per end.
      const p = spawn('ip', ['netns', 'exec', end.ns, binary, '-f', end.dev], {
        stdio: 'ignore',
        env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
      })
      p.on('error', () => {})
      procs.push(p)
      children.add(p)
    }
    for (const end of ends) await until(() => existsSync(`/var/run/wireguard/${end.dev}.sock`), 10_000)
    for (const [i, end] of ends.entries()) {
      const peer = ends[1 - i]!
      await uapiSet(`/var/run/wireguard/${end.dev}.sock`, [
        `private_key=${end.key.privateHex}`,
        `listen_port=${end.port}`,
        'replace_peers=true',
        `public_key=${peer.key.publicHex}`,
        `endpoint=${peer.underlay}:${peer.port}`,
        'replace_allowed_ips=true',
        `allowed_ip=${peer.inner}/32`,
      ])
      ip('-n', end.ns, 'addr', 'add', `${end.inner}/24`, 'dev', end.dev)
      ip('-n', end.ns, 'link', 'set', end.dev, 'mtu', String(mtu), 'up')
    }
    // The first packet triggers the handshake; wait until one gets through.
    await until(() => spawnSync('ip', ['netns', 'exec', net.b, 'ping', '-c', '1', '-W', '1', ends[0]!.inner]).status === 0, 15_000)
  } catch (e) {
    close()
    throw e
  }
  // `ip netns exec` execs the binary, so the child's pid is wireguard-go's.
  return {
    addrA: ends[0]!.inner,
    addrB: ends[1]!.inner,
    cpuSeconds: () => procs.reduce((sum, p) => sum + processCpuSeconds(p.pid), 0),
    close: () => {
      close()
      void sleep(0)
    },
  }
}
