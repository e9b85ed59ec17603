/**
 * `l2tp-ipsec bench`: ESP beside `openssl speed`, IKE exchanges, the data
 * plane and the whole tunnel.
 */
import { InvalidArgumentError } from 'commander'
import { DEFAULT_SIZES, DEFAULT_SUITES, formatRow, runEspBench, TABLE_HEADER } from '../bench/index.js'
import { runDataplaneBench, runSessionMemoryBench } from '../bench/dataplane-bench.js'
import { runIkeBench } from '../bench/ike-bench.js'
import { formatTunnelRecord, runTunnelBench } from '../bench/tunnel-bench.js'
import { formatSessionsRecord, runSessionsBench } from '../bench/sessions-bench.js'
import { formatSoakRecord, runSoakBench } from '../bench/soak.js'
import { formatControlPlaneRecord, runControlPlaneBench } from '../bench/control-plane-bench.js'
import { espSuites } from '../esp/index.js'

export { DEFAULT_SIZES }

export function positiveNumber(value: string): number {
  const n = Number(value)
  if (!(n > 0)) throw new InvalidArgumentError(`must be a positive number, got ${JSON.stringify(value)}`)
  return n
}

export function sizeList(value: string): number[] {
  const sizes = value.split(',').map(Number)
  if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > 65000)) {
    throw new InvalidArgumentError(`must be comma-separated byte counts, got ${JSON.stringify(value)}`)
  }
  return sizes
}

export function suiteName(value: string, previous: string[] = []): string[] {
  if (!espSuites().includes(value)) {
    throw new InvalidArgumentError(`unknown suite ${JSON.stringify(value)}; one of ${espSuites().join(', ')}`)
  }
  return [...previous, value]
}

export const AREAS = ['esp', 'ike', 'dataplane', 'tunnel', 'soak', 'sessions', 'control-plane'] as const
/** What runs without --only: the soak and the sessions benchmark take minutes and run only when asked. */
export const DEFAULT_AREAS: readonly Area[] = ['esp', 'ike', 'dataplane', 'tunnel', 'control-plane']
type Area = (typeof AREAS)[number]

export function areaList(value: string): Area[] {
  const areas = value.split(',')
  const bad = areas.find((a) => !AREAS.includes(a as Area))
  if (bad) throw new InvalidArgumentError(`unknown area ${JSON.stringify(bad)}; one of ${AREAS.join(', ')}`)
  return areas as Area[]
}

export interface BenchFlags {
  json: boolean
  seconds: number
  suite?: string[]
  sizes: number[]
  only: Area[]
}

export async function bench(flags: BenchFlags): Promise<void> {
  if (flags.only.includes('esp')) {
    if (!flags.json) console.log(TABLE_HEADER)
    for (const record of runEspBench({ seconds: flags.seconds, suites: flags.suite ?? DEFAULT_SUITES, sizes: flags.sizes })) {
      console.log(flags.json ? JSON.stringify(record) : formatRow(record))
    }
  }
  if (flags.only.includes('ike')) {
    for (const r of await runIkeBench({ seconds: Math.max(2, Math.round(flags.seconds * 3)), groups: [14, 19] })) {
      console.log(
        flags.json
          ? JSON.stringify(r)
          : `ike group ${r.group}: ${r.exchanges_per_second} Main+Quick Mode exchanges/s, responder ${r.responder_cpu_ms_per_exchange} ms CPU each (IKE core ${r.ike_core_cpu_ms_per_exchange} + sends ${r.send_cpu_ms_per_exchange}; ${r.exchanges_per_cpu_second}/CPU-s; busy ${r.responder_busy_fraction}; process ${r.process_cpu_ms_per_exchange} ms), OpenSSL DH bound ${r.openssl_bound_per_second}/CPU-s (${r.openssl_speed} ${r.openssl_speed_ops_per_second} ops/s${r.our_exponent_bits ? `, exponent ${r.openssl_exponent_bits} -> ${r.our_exponent_bits} bits` : ''}), ratio ${r.ratio} (IKE core ${r.ike_core_ratio}); warm ${r.warm_responder_cpu_ms_per_exchange} ms, ratio ${r.warm_ratio}; ${r.memory_per_ike_sa_bytes} B per IKE SA`,
      )
    }
  }
  if (flags.only.includes('dataplane')) {
    const suite = flags.suite?.[0] ?? 'aes128gcm-16'
    const records = runDataplaneBench({ seconds: Math.max(2, Math.round(flags.seconds * 3)), workers: [1, 2], sizes: [1400, 64], suite })
    for (const r of records) {
      if (flags.json) console.log(JSON.stringify(r))
      else if ('skipped' in r) console.log(`dataplane: skipped, ${r.skipped}`)
      else
        console.log(
          `dataplane ${r.suite} ${r.direction.padEnd(10)} ${r.protocol} workers=${r.workers} ${String(r.bytes).padStart(4)} B  ${r.gbps.toFixed(2).padStart(6)} Gbit/s ${String(r.pps).padStart(8)} pps` +
            `${r.loss_percent === undefined ? '' : `  loss ${r.loss_percent}%`}  server ${r.server_cpu_s_per_gb} CPU-s/GB  JS calls/Mpkt ${r.js_callbacks_per_million_packets}` +
            `  pkts/call: udp recv ${r.udp_packets_per_recv_call} send ${r.udp_packets_per_send_call}, tun read ${r.tun_packets_per_read} write ${r.tun_packets_per_write}`,
        )
    }
    for (const r of runSessionMemoryBench([1000, 10000])) {
      console.log(
        flags.json
          ? JSON.stringify(r)
          : `dataplane session memory ${r.sessions} sessions (${r.suite}): ${r.native_bytes_per_session} B native per session, ${r.rss_bytes_per_session} B RSS, ${r.install_us_per_session} us to install each`,
      )
    }
  }
  if (flags.only.includes('tunnel')) {
    for (const r of await runTunnelBench({ seconds: Math.max(2, Math.round(flags.seconds * 3)) })) console.log(flags.json ? JSON.stringify(r) : formatTunnelRecord(r))
  }
  if (flags.only.includes('control-plane')) {
    // In memory: the server's control plane set up to 10,000 sessions, measured at 1,000 and at 10,000 (issue #9).
    const r = await runControlPlaneBench(10000)
    console.log(flags.json ? JSON.stringify(r) : formatControlPlaneRecord(r))
  }
  if (flags.only.includes('soak')) {
    // 1000 sessions; --seconds scales the churn (default 1: 180 s).
    const r = await runSoakBench({ sessions: 1000, seconds: Math.round(180 * flags.seconds) })
    console.log(flags.json ? JSON.stringify(r) : formatSoakRecord(r))
  }
  if (flags.only.includes('sessions')) {
    // 1,000 then 10,000 established idle sessions; --seconds scales the LCP echo window (default 1: 30 s).
    for await (const r of runSessionsBench({ counts: [1000, 10000], lagSeconds: Math.max(5, Math.round(30 * flags.seconds)) })) console.log(flags.json ? JSON.stringify(r) : formatSessionsRecord(r))
  }
}

