/**
 * Data-plane throughput through real sockets and TUN devices: two data
 * planes in two network namespaces joined by veth (see
 * lib/testing/dataplane-pair.ts), iperf3 inside the tunnel. Client -> server
 * traffic measures the server's ESP-in-UDP -> TUN path (and the client's
 * TUN -> ESP); `-R` the reverse.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createDataplanePair, SERVER_INNER, threadCpuSeconds, type DataplanePair } from '../testing/dataplane-pair.js'

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
          const callsBefore = pair.server.dp.stats().counters.js_callbacks ?? 0
          const report = iperf(pair, [...run.args, ...(direction === 'tun-to-udp' ? ['-R'] : [])], options.seconds)
          const cpu = threadCpuSeconds(pair.server.workerTids) - cpuBefore
          const calls = (pair.server.dp.stats().counters.js_callbacks ?? 0) - callsBefore
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
          }
        }
      }
    } finally {
      pair.close()
    }
  }
}
