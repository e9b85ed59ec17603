/**
 * The whole stack between two network namespaces: an L2tpServer in one,
 * L2tpClients in the other (IKE, L2TP, PPP, ESP-in-UDP, TUN on both ends),
 * joined by veth. Measures iperf3 through the tunnel (TCP, and UDP packets
 * per second at 64-byte payloads) between the client's PPP address and the
 * gateway, beside the same iperf3 over the plain veth between the same
 * namespaces (the kernel path with no tunnel) as the reference; and session
 * setups and teardowns per second with fresh clients.
 *
 * Server and clients share this process (one event loop, as in the tests),
 * so setup figures count both ends' control-plane work; iperf3, both data
 * planes' workers and the veth share the machine's cores.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { L2tpClient, L2tpClientOptions } from '../client/l2tp-client.js'
import type { L2tpServer, L2tpServerOptions } from '../server/l2tp-server.js'
import type { SessionUpInfo } from '../server/types.js'
import { createNetnsPair, type NetnsPair } from '../testing/netns.js'
import type { IperfSum } from './dataplane-bench.js'
import { sleep, until } from '../testing/wait.js'
import { RIG_GATEWAY, RIG_PSK, serverIdle, startVpnRig, type VpnRig } from '../testing/vpn-rig.js'
import { buildWireguardGo, startWireguardPair, type WireguardPair } from './wireguard-go.js'

/** The PPP MTU the rig negotiates, and wireguard-go's device MTU. */
const TUNNEL_MTU = 1400

export interface TunnelBenchOptions {
  /** Seconds per iperf3 run. */
  seconds: number
  /** Sessions opened (and closed) for the setup figure; default 20. */
  sessions?: number
}

export type TunnelDirection = 'client-to-server' | 'server-to-client'

/** What one throughput line measured: iperf3 through our tunnel, wireguard-go's and the plain veth. */
export type TunnelMetric = 'tcp' | 'tcp-8' | 'udp-1400' | 'udp-64'

export interface TunnelThroughputRecord {
  bench: 'tunnel'
  /** tcp: one TCP stream; tcp-8: eight parallel streams (-P 8); udp-N: UDP datagrams of N-byte inner IP packets, offered without limit. */
  metric: TunnelMetric
  direction: TunnelDirection
  /** ESP suite the session negotiated. */
  suite: string
  /** Through our tunnel (PPP MTU 1400): goodput, and packets per second (UDP: received). */
  gbps: number
  pps: number
  /** UDP only: share of what iperf3 sent that did not arrive. */
  loss_percent?: number
  /** CPU seconds this process (both data planes and JS) used per GB moved. */
  cpu_s_per_gb: number
  /** wireguard-go between the same namespaces, same inner MTU, same cores (absent if it could not be built). */
  wireguard_go_gbps?: number
  wireguard_go_pps?: number
  wireguard_go_loss_percent?: number
  /** CPU seconds both wireguard-go processes used per GB moved. */
  wireguard_go_cpu_s_per_gb?: number
  /** Ours / wireguard-go: Gbit/s for TCP, received pps for UDP (0 without the reference). */
  ratio: number
  /** wireguard-go's CPU-s/GB / ours: above 1, we move a byte with less CPU (steadier than throughput on a shared machine). */
  cpu_ratio?: number
  /** The plain veth (the kernel path, no tunnel; GSO/TSO), for scale. */
  veth_gbps: number
  veth_pps: number
  ratio_veth: number
}

export interface TunnelSetupRecord {
  bench: 'tunnel'
  metric: 'setup'
  sessions: number
  /** Concurrent connect() calls at most (the server's maxHalfOpenPerSource is raised to this). */
  wave: number
  /** connect() calls that resolved / rejected. */
  established: number
  failed: number
  /** First connect() to the last one settled. */
  setup_seconds: number
  setups_per_second: number
  /** One connect() from its call to its resolution: median and slowest. */
  setup_latency_ms_median: number
  setup_latency_ms_max: number
  /** First close() to the last one settled (PPP Terminate, CDN, StopCCN, IKE Delete). */
  teardown_seconds: number
  teardowns_per_second: number
  /** First close() until the server holds no session, binding or IKE SA. */
  server_clean_seconds: number
  /** CPU time of this process (server and clients together) per session, setup and teardown. */
  cpu_ms_per_setup: number
  cpu_ms_per_teardown: number
  first_error?: string
}

/** TCP through the tunnel while a rate-bounded flood of garbage UDP hits the server's 500 and 4500. */
export interface TunnelFloodRecord {
  bench: 'tunnel'
  metric: 'flood'
  /** Garbage datagrams per second offered (half to 500, half to 4500; random sizes and bytes), and sent in all. */
  offered_pps: number
  sent: number
  /** What the sender reached (Python on the same shared cores may fall short of the offer). */
  achieved_pps: number
  /** TCP client → server through the tunnel just before, and during the flood. */
  gbps_without: number
  gbps_with: number
  /** With / without: the share of throughput the flood left. */
  ratio: number
  /** This process's RSS (server and client) before and after the flood, MiB. */
  rss_before_mib: number
  rss_after_mib: number
}

export interface TunnelSkipped {
  bench: 'tunnel'
  skipped: string
}

export type TunnelBenchRecord = TunnelThroughputRecord | TunnelSetupRecord | TunnelFloodRecord | TunnelSkipped


export interface TunnelRig {
  net: NetnsPair
  server: L2tpServer
  /** A client in the client namespace (reconnect off); `close()` closes it too. */
  client(options?: Partial<L2tpClientOptions>): L2tpClient
  /** Child processes killed by `close()`. */
  children: Set<ChildProcess>
  /** Closes every client, the server, kills the children, removes the namespaces. Never throws. */
  close(): Promise<void>
}

/**
 * An L2tpServer listening in namespace `a` and a factory for clients in
 * namespace `b` (the way __test__/helpers/vpn-rig.ts builds them). On
 * failure everything made so far is removed before the error is thrown.
 */
export async function createTunnelRig(tag: string, overrides: Partial<L2tpServerOptions> = {}): Promise<TunnelRig> {
  const net = createNetnsPair(tag)
  const children = new Set<ChildProcess>()
  let rig: VpnRig | undefined
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    for (const child of children) child.kill('SIGKILL')
    await rig?.close()
    net.cleanup()
  }
  try {
    rig = await startVpnRig(
      { serverAddress: net.addrA, serverNetns: net.path(net.a), clientAddress: net.addrB, clientNetns: net.path(net.b), tunPrefix: 'l2tpb' },
      // A pool for a few hundred sessions; an 'error' event without a listener would throw.
      { pool: { range: '192.168.42.10-192.168.45.250', gateway: RIG_GATEWAY }, ...overrides },
      { connectTimeout: 60, ike: {} },
    )
    rig.server.on('error', () => {})
  } catch (e) {
    await close()
    throw e
  }
  const started = rig
  return {
    net,
    server: started.server,
    children,
    close,
    client: (options = {}) => started.client(options),
  }
}

function missing(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux (network namespaces, TUN)'
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN)'
  if (spawnSync('iperf3', ['--version']).error) return 'needs iperf3 (apt-get install iperf3)'
  if (spawnSync('ip', ['-V']).error) return 'needs iproute2 (ip)'
  return undefined
}


/** Runs a command to its end without blocking the event loop (the server and clients live in it). */
function run(rig: TunnelRig, argv: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    rig.children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d))
    child.stderr!.on('data', (d: Buffer) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (e) => (stderr += String(e)))
    child.on('close', (code) => {
      clearTimeout(timer)
      rig.children.delete(child)
      resolve({ code, stdout, stderr })
    })
  })
}

let port = 5301


interface IperfEnd {
  sum?: IperfSum
  sum_sent?: IperfSum
  sum_received?: IperfSum
}

/** iperf3 server in namespace a bound to `serverAddress`, client in namespace b bound to `clientAddress`. */
async function iperf(rig: TunnelRig, serverAddress: string, clientAddress: string, args: string[], seconds: number): Promise<IperfEnd> {
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const serverPort = String(port++)
    const server = spawn('ip', ['netns', 'exec', rig.net.a, 'iperf3', '-s', '-1', '-B', serverAddress, '-p', serverPort], { stdio: 'ignore' })
    rig.children.add(server)
    server.on('error', () => {})
    try {
      await sleep(300)
      const r = await run(
        rig,
        ['ip', 'netns', 'exec', rig.net.b, 'iperf3', '-c', serverAddress, '-B', clientAddress, '-p', serverPort, '-t', String(seconds), '-J', ...args],
        (seconds + 20) * 1000,
      )
      let report: { error?: string; end?: IperfEnd }
      try {
        report = JSON.parse(r.stdout || '{}') as typeof report
      } catch {
        report = { error: `unreadable output (exit ${r.code}): ${r.stderr.trim() || r.stdout.slice(0, 200)}` }
      }
      if (!report.error && report.end) return report.end
      lastError = report.error ?? `no result (exit ${r.code}) ${r.stderr.trim()}`
      // A server not yet listening: try again on a fresh port.
      if (!/connect|refused|busy/i.test(lastError)) break
    } finally {
      server.kill('SIGKILL')
      rig.children.delete(server)
    }
  }
  throw new Error(`iperf3 ${serverAddress} ${args.join(' ')}: ${lastError}`)
}

interface Measured {
  gbps: number
  pps: number
  loss?: number
  cpuSPerGb: number
}

/** One iperf3 run with the CPU seconds `cpu()` counts over it. */
async function measure(
  rig: TunnelRig,
  ends: { server: string; client: string },
  run: { metric: TunnelMetric; args: string[]; packetBytes: number },
  seconds: number,
  cpu: () => number,
): Promise<Measured> {
  const cpu0 = cpu()
  const end = await iperf(rig, ends.server, ends.client, run.args, seconds)
  const used = cpu() - cpu0
  if (run.metric.startsWith('udp')) {
    // iperf3 3.x: `sum` carries the receiver's packet and loss counts.
    const sum = end.sum ?? {}
    const elapsed = sum.seconds || seconds
    const packets = sum.packets ?? 0
    const lost = Math.max(0, sum.lost_packets ?? 0)
    const received = packets - lost
    const bytes = received * run.packetBytes
    return {
      gbps: (bytes * 8) / elapsed / 1e9,
      pps: received / elapsed,
      loss: sum.lost_percent ?? (packets ? (lost / packets) * 100 : 0),
      cpuSPerGb: used / (bytes / 1e9 || 1),
    }
  }
  const received = end.sum_received ?? end.sum ?? {}
  const bytes = received.bytes ?? 0
  const elapsed = received.seconds || seconds
  // Full-sized segments: payload = MTU - 40.
  return { gbps: (bytes * 8) / elapsed / 1e9, pps: bytes / (run.packetBytes - 40) / elapsed, cpuSPerGb: used / (bytes / 1e9 || 1) }
}

const round = (n: number, digits: number) => Number(n.toFixed(digits))
const ratioOf = (ours: number, reference: number) => (reference > 0 ? round(ours / reference, 3) : 0)

/** The repository root (where target/ lives), found from this file upward. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'Cargo.toml')) && dirname(dir) !== dir) dir = dirname(dir)
  return existsSync(join(dir, 'Cargo.toml')) ? dir : process.cwd()
}

const RUNS: { metric: TunnelMetric; args: string[]; packetBytes: number }[] = [
  { metric: 'tcp', args: [], packetBytes: TUNNEL_MTU },
  { metric: 'tcp-8', args: ['-P', '8'], packetBytes: TUNNEL_MTU },
  // -l is the UDP payload: the inner IP packet is 28 bytes more.
  { metric: 'udp-1400', args: ['-u', '-l', String(TUNNEL_MTU - 28), '-b', '0'], packetBytes: TUNNEL_MTU },
  { metric: 'udp-64', args: ['-u', '-l', '64', '-b', '0'], packetBytes: 92 },
]

async function throughput(rig: TunnelRig, seconds: number): Promise<TunnelBenchRecord[]> {
  const records: TunnelBenchRecord[] = []
  const up: SessionUpInfo[] = []
  rig.server.on('session-up', (e) => up.push(e))
  const client = rig.client()
  const info = await client.connect()
  await until(() => up.length > 0, 5000)
  const suite = up[0]?.suite ?? 'unknown'
  const tunnel = { server: RIG_GATEWAY, client: info.address }
  const plain = { server: rig.net.addrA, client: rig.net.addrB }
  const built = buildWireguardGo(repoRoot())
  let wg: WireguardPair | undefined
  if ('skipped' in built) records.push({ bench: 'tunnel', skipped: `wireguard-go reference: ${built.skipped}` })
  else wg = await startWireguardPair(built.binary, rig.net, TUNNEL_MTU, rig.children)
  const ourCpu = () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1e6
  }
  const none = () => 0
  try {
    for (const run of RUNS) {
      for (const direction of ['client-to-server', 'server-to-client'] as const) {
        const r = { ...run, args: [...run.args, ...(direction === 'server-to-client' ? ['-R'] : [])] }
        // References first, then ours, run by run, so drift on a shared machine hits all alike.
        const veth = await measure(rig, plain, r, seconds, none)
        const ref = wg ? await measure(rig, { server: wg.addrA, client: wg.addrB }, r, seconds, () => wg.cpuSeconds()) : undefined
        const ours = await measure(rig, tunnel, r, seconds, ourCpu)
        const udp = run.metric.startsWith('udp')
        records.push({
          bench: 'tunnel',
          metric: run.metric,
          direction,
          suite,
          gbps: round(ours.gbps, 3),
          pps: Math.round(ours.pps),
          ...(udp ? { loss_percent: round(ours.loss ?? 0, 1) } : {}),
          cpu_s_per_gb: round(ours.cpuSPerGb, 2),
          ...(ref
            ? {
                wireguard_go_gbps: round(ref.gbps, 3),
                wireguard_go_pps: Math.round(ref.pps),
                ...(udp ? { wireguard_go_loss_percent: round(ref.loss ?? 0, 1) } : {}),
                wireguard_go_cpu_s_per_gb: round(ref.cpuSPerGb, 2),
                cpu_ratio: ratioOf(ref.cpuSPerGb, ours.cpuSPerGb),
              }
            : {}),
          ratio: ref ? (udp ? ratioOf(ours.pps, ref.pps) : ratioOf(ours.gbps, ref.gbps)) : 0,
          veth_gbps: round(veth.gbps, 3),
          veth_pps: Math.round(veth.pps),
          ratio_veth: udp ? ratioOf(ours.pps, veth.pps) : ratioOf(ours.gbps, veth.gbps),
        })
      }
    }
  } finally {
    wg?.close()
  }
  await client.close()
  return records
}

/** Python in namespace b: `pps` garbage datagrams per second to 500 and 4500 of `target` for `seconds`, then it stops; prints how many it sent. */
const FLOOD = `
import os, random, socket, sys, time
target, pps, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent, start, burst = 0, time.monotonic(), max(1, pps // 100)
while time.monotonic() - start < seconds:
    t = time.monotonic()
    for i in range(burst):
        try:
            s.sendto(os.urandom(random.randint(8, 300)), (target, 500 if i % 2 else 4500))
            sent += 1
        except OSError:
            pass
    time.sleep(max(0, 0.01 - (time.monotonic() - t)))
print(sent)
`

const FLOOD_PPS = 50_000

async function flood(rig: TunnelRig, seconds: number): Promise<TunnelFloodRecord> {
  const client = rig.client()
  const info = await client.connect()
  try {
    const tunnel = { server: RIG_GATEWAY, client: info.address }
    const tcp = { metric: 'tcp' as const, args: [], packetBytes: TUNNEL_MTU }
    const without = await measure(rig, tunnel, tcp, seconds, () => 0)
    const rssBefore = process.memoryUsage().rss
    const flooder = run(rig, ['ip', 'netns', 'exec', rig.net.b, 'python3', '-c', FLOOD, rig.net.addrA, String(FLOOD_PPS), String(seconds + 1)], (seconds + 30) * 1000)
    await sleep(300)
    const during = await measure(rig, tunnel, tcp, seconds, () => 0)
    const sent = Number((await flooder).stdout.trim()) || 0
    await sleep(500)
    const rssAfter = process.memoryUsage().rss
    return {
      bench: 'tunnel',
      metric: 'flood',
      offered_pps: FLOOD_PPS,
      sent,
      achieved_pps: Math.round(sent / (seconds + 1)),
      gbps_without: round(without.gbps, 3),
      gbps_with: round(during.gbps, 3),
      ratio: ratioOf(during.gbps, without.gbps),
      rss_before_mib: round(rssBefore / 2 ** 20, 1),
      rss_after_mib: round(rssAfter / 2 ** 20, 1),
    }
  } finally {
    await client.close()
  }
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since)
  return (u.user + u.system) / 1000
}

async function setups(rig: TunnelRig, sessions: number, wave: number): Promise<TunnelSetupRecord> {
  // Let the throughput client's teardown finish first.
  await until(() => serverIdle(rig.server.status()), 15_000)
  const clients = Array.from({ length: sessions }, () => rig.client({ ike: { retransmitInterval: 2, retransmitTries: 5 } }))
  let established = 0
  let failed = 0
  let firstError: string | undefined
  const latencies: number[] = []
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < clients.length; i += wave) {
    const results = await Promise.allSettled(
      clients.slice(i, i + wave).map(async (c) => {
        const start = performance.now()
        const up = await c.connect()
        latencies.push(performance.now() - start)
        return up
      }),
    )
    for (const r of results) {
      if (r.status === 'fulfilled') established++
      else {
        failed++
        firstError ??= r.reason instanceof Error ? `${r.reason.name}: ${r.reason.message}` : String(r.reason)
      }
    }
  }
  const setupSeconds = (performance.now() - t0) / 1000
  const setupCpu = cpuMs(cpu0)
  const cpu1 = process.cpuUsage()
  const t1 = performance.now()
  let serverClean = 0
  const clean = until(() => serverIdle(rig.server.status()), 30_000).then(() => (serverClean = (performance.now() - t1) / 1000))
  await Promise.allSettled(clients.map((c) => c.close()))
  const teardownSeconds = (performance.now() - t1) / 1000
  const teardownCpu = cpuMs(cpu1)
  await clean
  latencies.sort((a, b) => a - b)
  return {
    bench: 'tunnel',
    metric: 'setup',
    sessions,
    wave,
    established,
    failed,
    setup_seconds: round(setupSeconds, 3),
    setups_per_second: round(established / setupSeconds, 1),
    setup_latency_ms_median: Math.round(latencies[Math.floor((latencies.length - 1) / 2)] ?? 0),
    setup_latency_ms_max: Math.round(latencies[latencies.length - 1] ?? 0),
    teardown_seconds: round(teardownSeconds, 3),
    teardowns_per_second: round(established / teardownSeconds, 1),
    server_clean_seconds: round(serverClean, 3),
    cpu_ms_per_setup: round(setupCpu / Math.max(established, 1), 1),
    cpu_ms_per_teardown: round(teardownCpu / Math.max(established, 1), 1),
    ...(firstError ? { first_error: firstError } : {}),
  }
}

/** Concurrent connect() calls at most; the server's maxHalfOpenPerSource is raised to match. */
const WAVE = 50

export async function runTunnelBench(options: TunnelBenchOptions): Promise<TunnelBenchRecord[]> {
  const why = missing()
  if (why) return [{ bench: 'tunnel', skipped: why }]
  const sessions = options.sessions ?? 20
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > 900) throw new RangeError(`sessions must be an integer 1..900, got ${sessions}`)
  const wave = Math.min(sessions, WAVE)
  const rig = await createTunnelRig('tb', {
    ipsec: { psk: RIG_PSK, maxHalfOpenPerSource: wave, maxHalfOpen: Math.max(1000, wave) },
  })
  try {
    const records: TunnelBenchRecord[] = await throughput(rig, options.seconds)
    await until(() => serverIdle(rig.server.status()), 15_000)
    records.push(await flood(rig, options.seconds))
    records.push(await setups(rig, sessions, wave))
    return records
  } finally {
    await rig.close()
  }
}

/** One line for the table output of `l2tp-ipsec bench`. */
export function formatTunnelRecord(r: TunnelBenchRecord): string {
  if ('skipped' in r) return `tunnel: skipped, ${r.skipped}`
  if (r.metric === 'flood')
    return `tunnel flood    ${r.offered_pps} garbage pps to 500/4500 (${r.achieved_pps} pps reached): TCP ${r.gbps_with.toFixed(2)} Gbit/s during, ${r.gbps_without.toFixed(2)} before, ratio ${r.ratio}; RSS ${r.rss_before_mib} -> ${r.rss_after_mib} MiB`
  if (r.metric !== 'setup') {
    const udp = r.metric.startsWith('udp')
    const fig = (gbps: number | undefined, pps: number | undefined, loss: number | undefined) =>
      gbps === undefined ? 'n/a' : udp ? `${pps} pps${loss === undefined ? '' : ` (loss ${loss}%)`}` : `${gbps.toFixed(2)} Gbit/s`
    return (
      `tunnel ${r.metric.padEnd(8)} ${r.direction.padEnd(16)} ${r.suite}  ours ${fig(r.gbps, r.pps, r.loss_percent)} ${r.cpu_s_per_gb} CPU-s/GB` +
      `  wireguard-go ${fig(r.wireguard_go_gbps, r.wireguard_go_pps, r.wireguard_go_loss_percent)} ${r.wireguard_go_cpu_s_per_gb ?? 'n/a'} CPU-s/GB  ratio ${r.ratio} (CPU ${r.cpu_ratio ?? 'n/a'})` +
      `  (veth ${fig(r.veth_gbps, r.veth_pps, undefined)}, ratio ${r.ratio_veth})`
    )
  }
  return (
    `tunnel setup  ${r.established}/${r.sessions} sessions (waves of ${r.wave}): ${r.setups_per_second} setups/s (each ${r.setup_latency_ms_median} ms median), ${r.teardowns_per_second} teardowns/s` +
    ` (server clean after ${r.server_clean_seconds} s), ${r.cpu_ms_per_setup} / ${r.cpu_ms_per_teardown} ms CPU each${r.first_error ? `; first error: ${r.first_error}` : ''}`
  )
}
