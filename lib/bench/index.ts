/** The benchmarks behind `npm run bench` and `l2tp-ipsec bench`. */
import { benchEsp } from './esp-bench.js'
import { opensslReference } from './openssl-speed.js'

export interface BenchOptions {
  /** Seconds per measurement (ours and OpenSSL's). */
  seconds: number
  suites: readonly string[]
  sizes: readonly number[]
}

export interface EspBenchRecord {
  bench: 'esp'
  suite: string
  op: 'seal' | 'open'
  bytes: number
  gbps: number
  pps: number
  openssl_gbps: number
  ratio: number
}

/** Every cipher and every MAC at least once, the common pairs first. */
export const DEFAULT_SUITES = [
  'aes128gcm-16',
  'aes256gcm-16',
  'aes128-sha1',
  'aes256-sha1',
  'aes128-sha256',
  'aes256-sha256',
  'aes192-sha1',
  'aes256-sha384',
  'aes256-sha512',
  'aes128-md5',
  '3des-sha1',
  '3des-md5',
] as const

export const DEFAULT_SIZES = [64, 512, 1400] as const

const round = (n: number, digits = 3) => Number(n.toFixed(digits))

export function* runEspBench(options: BenchOptions): Generator<EspBenchRecord> {
  for (const suite of options.suites) {
    for (const op of ['seal', 'open'] as const) {
      for (const bytes of options.sizes) {
        const ours = benchEsp(suite, op, bytes, options.seconds)
        const reference = opensslReference(suite, op, bytes, Math.max(1, Math.round(options.seconds)))
        yield {
          bench: 'esp',
          suite,
          op,
          bytes,
          gbps: round(ours.gbps),
          pps: Math.round(ours.pps),
          openssl_gbps: round(reference),
          ratio: round(ours.gbps / reference, 2),
        }
      }
    }
  }
}

export function formatRow(r: EspBenchRecord): string {
  return [
    r.suite.padEnd(14),
    r.op.padEnd(5),
    String(r.bytes).padStart(5),
    r.gbps.toFixed(2).padStart(8),
    String(r.pps).padStart(10),
    r.openssl_gbps.toFixed(2).padStart(9),
    r.ratio.toFixed(2).padStart(6),
  ].join(' ')
}

export const TABLE_HEADER = 'suite          op    bytes   Gbit/s        pps  openssl  ratio'
