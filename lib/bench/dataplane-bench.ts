/**
 * Data-plane throughput through real sockets and TUN devices: two data
 * planes in two network namespaces joined by veth (see
 * lib/testing/dataplane-pair.ts), iperf3 inside the tunnel. Client -> server
 * traffic measures the server's ESP-in-UDP -> TUN path (and the client's
 * TUN -> ESP); `-R` the reverse.
 */
import { spawn, spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { DataPlane } from '../dataplane/index.js'
import { createDataplanePair, keysFor, SERVER_INNER, threadCpuSeconds, type DataplanePair } from '../testing/dataplane-pair.js'

export interface DataplaneBenchOptions {
  seconds: number
  workers: readonly number[]
  sizes: readonly number[]
  suite: string
}

export interface DataplaneBenchRecord {
  bench: 'dataplane'
  suite: string
  /** At the server: udp-to-tun (client sends) or tun-to-udp (server sends). */
  direction: 'udp-to-tun' | 'tun-to-udp'
  protocol: 'udp' | 'tcp'
  workers: number
  /** Inner IP packet size (UDP), or the path MTU (TCP). */
  bytes: number
  gbps: number
  pps: number
  /** UDP: share of what iperf3 sent that did not arrive (the sender outruns the path). */
  loss_percent?: number
  /** CPU seconds the server's worker threads used per GB through them. */
  server_cpu_s_per_gb: number
  js_callbacks_per_million_packets: number
  /** Packets per system call at the server over the run (0 where that side moved nothing): UDP 4500 recvmmsg and sendmmsg (with UDP GRO/GSO), TUN read and write(v) (with IFF_VNET_HDR TSO and coalescing). */
  udp_packets_per_recv_call: number
  udp_packets_per_send_call: number
  tun_packets_per_read: number
  tun_packets_per_write: number
  /** Share of TUN reads that were TCP super-packets, and of TUN writes that were coalesced super-packets. */
  tun_gso_read_share: number
  tun_gso_write_share: number
}

/** Data-plane memory per session: SA pair, binding and session installed directly (no control plane). */
export interface SessionMemoryRecord {
  bench: 'dataplane'
  metric: 'session-memory'
  sessions: number
  suite: string
  /** Growth of the process RSS less the JS heap's growth, per session (the native tables). */
  native_bytes_per_session: number
  /** Growth of the whole RSS per session (includes the JS objects made to install them). */
  rss_bytes_per_session: number
  /** Time to install one SA pair and session. */
  install_us_per_session: number
}

export interface Skipped {
  bench: 'dataplane'
  skipped: string
}

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN)'
  if (spawnSync('iperf3', ['--version']).error) return 'needs iperf3 (apt-get install iperf3)'
  return undefined
}

let port = 5201

function iperf(pair: DataplanePair, args: string[], seconds: number): Record<string, unknown> {
  const serverPort = String(port++)
  const server = spawn('ip', ['netns', 'exec', pair.net.a, 'iperf3', '-s', '-1', '-B', SERVER_INNER, '-p', serverPort], { stdio: 'ignore' })
  try {
    spawnSync('sleep', ['0.3'])
    const r = spawnSync('ip', ['netns', 'exec', pair.net.b, 'iperf3', '-c', SERVER_INNER, '-p', serverPort, '-t', String(seconds), '-J', ...args], {
      encoding: 'utf8',
      timeout: (seconds + 20) * 1000,
    })
    const report = JSON.parse(r.stdout || '{}') as Record<string, unknown>
    if (report.error) throw new Error(`iperf3: ${report.error}`)
    return report
  } finally {
    server.kill()
  }
}

/** The `end.sum` of an iperf3 -J report. */
export interface IperfSum {
  bytes?: number
  bits_per_second?: number
  packets?: number
  lost_packets?: number
  lost_percent?: number
  seconds?: number
}

export function* runDataplaneBench(options: DataplaneBenchOptions): Generator<DataplaneBenchRecord | Skipped> {
  const why = missing()
  if (why) {
    yield { bench: 'dataplane', skipped: why }
    return
  }
  for (const workers of options.workers) {
    const pair = createDataplanePair('bench', { suite: options.suite, workers })
    try {
      const runs: { protocol: 'udp' | 'tcp'; bytes: number; args: string[] }[] = [
        ...options.sizes.map((bytes) => ({ protocol: 'udp' as const, bytes, args: ['-u', '-b', '0', '-l', String(bytes - 28)] })),
        { protocol: 'tcp', bytes: 1400, args: [] },
      ]
      for (const run of runs) {
        for (const direction of ['udp-to-tun', 'tun-to-udp'] as const) {
          const cpuBefore = threadCpuSeconds(pair.server.workerTids)
          const countersBefore = { ...pair.server.dp.stats().counters }
          const callsBefore = countersBefore.js_callbacks ?? 0
          const report = iperf(pair, [...run.args, ...(direction === 'tun-to-udp' ? ['-R'] : [])], options.seconds)
          const cpu = threadCpuSeconds(pair.server.workerTids) - cpuBefore
          const after = pair.server.dp.stats().counters
          const calls = (after.js_callbacks ?? 0) - callsBefore
          const delta = (name: string) => (after[name] ?? 0) - (countersBefore[name] ?? 0)
          const per = (packets: number, calls: number) => (calls > 0 ? Number((packets / calls).toFixed(1)) : 0)
          const end = report.end as { sum?: IperfSum; sum_received?: IperfSum; sum_sent?: IperfSum }
          const received = end.sum_received ?? end.sum ?? {}
          const seconds = received.seconds || options.seconds
          const bytes = received.bytes ?? 0
          const packets =
            run.protocol === 'udp' ? (end.sum?.packets ?? 0) - (end.sum?.lost_packets ?? 0) : bytes / (run.bytes - 40)
          yield {
            bench: 'dataplane',
            suite: options.suite,
            direction,
            protocol: run.protocol,
            workers,
            bytes: run.bytes,
            gbps: Number(((bytes * 8) / seconds / 1e9).toFixed(3)),
            pps: Math.round(packets / seconds),
            ...(run.protocol === 'udp' ? { loss_percent: Number((end.sum?.lost_percent ?? 0).toFixed(1)) } : {}),
            server_cpu_s_per_gb: Number((cpu / (bytes / 1e9 || 1)).toFixed(2)),
            js_callbacks_per_million_packets: Math.round((calls / Math.max(packets, 1)) * 1e6),
            udp_packets_per_recv_call: per(delta('esp_in'), delta('udp_recv_calls')),
            udp_packets_per_send_call: per(delta('esp_out'), delta('udp_send_calls')),
            tun_packets_per_read: per(delta('tun_in'), delta('tun_read_calls')),
            tun_packets_per_write: per(delta('tun_out'), delta('tun_write_calls')),
            tun_gso_read_share: Number((delta('tun_gso_reads') / Math.max(delta('tun_read_calls'), 1)).toFixed(2)),
            tun_gso_write_share: Number((delta('tun_gso_writes') / Math.max(delta('tun_write_calls'), 1)).toFixed(2)),
          }
        }
      }
    } finally {
      pair.close()
    }
  }
}

/**
 * Memory of `counts` sessions in one data plane (no traffic, no sockets
 * beyond one UDP 4500 on loopback): each an inbound and an outbound SA, a
 * binding and an L2TP session with its policy, as the server installs them.
 */
export function runSessionMemoryBench(counts: readonly number[], suite = 'aes256gcm-16'): SessionMemoryRecord[] {
  const records: SessionMemoryRecord[] = []
  for (const sessions of counts) {
    const dp = new DataPlane({ natt: ['127.0.0.1:0'], workers: 1 }, () => {})
    try {
      const keys = Array.from({ length: 2 }, () => keysFor(suite))
      const settle = () => {
        global.gc?.()
        return process.memoryUsage()
      }
      const m0 = settle()
      const t0 = performance.now()
      for (let i = 0; i < sessions; i++) {
        const peer = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:4500`
        dp.installSa({ spi: 0x10000 + i, direction: 'in', binding: i + 1, suite, ...keys[0]!, peer, encap: 'udp' })
        dp.installSa({ spi: 0x80000 + i, direction: 'out', binding: i + 1, suite, ...keys[1]!, peer, encap: 'udp' })
        const a = 10 + (i >> 8)
        dp.upsertSession({ id: i + 1, binding: i + 1, localTunnel: i + 1, localSession: 1, peerTunnel: 7, peerSession: 9, ipv4: `100.64.${a & 255}.${i & 255}`, mru: 1400 })
      }
      const us = ((performance.now() - t0) * 1000) / sessions
      const m1 = settle()
      const native = m1.rss - m0.rss - (m1.heapTotal - m0.heapTotal)
      records.push({
        bench: 'dataplane',
        metric: 'session-memory',
        sessions,
        suite,
        native_bytes_per_session: Math.round(native / sessions),
        rss_bytes_per_session: Math.round((m1.rss - m0.rss) / sessions),
        install_us_per_session: Number(us.toFixed(1)),
      })
    } finally {
      dp.close()
    }
  }
  return records
}
