/**
 * The `l2tp-ipsec` command. Until the server lands (see the project's
 * issues), `start` runs the ESP benchmark, the one capability there is.
 */
import { Command, InvalidArgumentError } from 'commander'
import { readFileSync } from 'node:fs'
import { DEFAULT_SIZES, DEFAULT_SUITES, formatRow, runEspBench, TABLE_HEADER } from '../bench/index.js'
import { runDataplaneBench } from '../bench/dataplane-bench.js'
import { runIkeBench } from '../bench/ike-bench.js'
import { espSuiteInfo, espSuites } from '../esp/index.js'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

function positiveNumber(value: string): number {
  const n = Number(value)
  if (!(n > 0)) throw new InvalidArgumentError(`must be a positive number, got ${JSON.stringify(value)}`)
  return n
}

function sizeList(value: string): number[] {
  const sizes = value.split(',').map(Number)
  if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > 65000)) {
    throw new InvalidArgumentError(`must be comma-separated byte counts, got ${JSON.stringify(value)}`)
  }
  return sizes
}

function suiteName(value: string, previous: string[] = []): string[] {
  if (!espSuites().includes(value)) {
    throw new InvalidArgumentError(`unknown suite ${JSON.stringify(value)}; one of ${espSuites().join(', ')}`)
  }
  return [...previous, value]
}

const AREAS = ['esp', 'ike', 'dataplane'] as const
type Area = (typeof AREAS)[number]

function areaList(value: string): Area[] {
  const areas = value.split(',')
  const bad = areas.find((a) => !AREAS.includes(a as Area))
  if (bad) throw new InvalidArgumentError(`unknown area ${JSON.stringify(bad)}; one of ${AREAS.join(', ')}`)
  return areas as Area[]
}

interface BenchFlags {
  json: boolean
  seconds: number
  suite?: string[]
  sizes: number[]
  only: Area[]
}

async function bench(flags: BenchFlags): Promise<void> {
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
          : `ike group ${r.group}: ${r.exchanges_per_second} Main+Quick Mode exchanges/s, responder ${r.responder_cpu_ms_per_exchange} ms CPU each, openssl DH bound ${r.openssl_bound_per_second}/s, ratio ${r.ratio}, ${r.memory_per_ike_sa_bytes} B per IKE SA`,
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
            `${r.loss_percent === undefined ? '' : `  loss ${r.loss_percent}%`}  server ${r.server_cpu_s_per_gb} CPU-s/GB  JS calls/Mpkt ${r.js_callbacks_per_million_packets}`,
        )
    }
  }
}

export function program(): Command {
  const cli = new Command('l2tp-ipsec').description('L2TP/IPsec VPN server for Linux gateways').version(pkg.version)

  cli
    .command('bench')
    .description('measure ESP seal/open per core beside `openssl speed`, and the data plane through TUN and sockets')
    .option('--json', 'one JSON object per line', false)
    .option('--seconds <s>', 'seconds per measurement', positiveNumber, 1)
    .option('--suite <name>', 'a suite to measure (repeatable); default: one of each cipher and MAC', suiteName)
    .option('--sizes <list>', 'payload sizes in bytes (esp)', sizeList, [...DEFAULT_SIZES])
    .option('--only <areas>', `areas to run, comma-separated: ${AREAS.join(', ')}`, areaList, [...AREAS])
    .action(bench)

  cli
    .command('suites')
    .description('list the ESP suites and their key sizes')
    .action(() => {
      for (const name of espSuites()) {
        const i = espSuiteInfo(name)
        console.log(`${name.padEnd(18)} encryption key ${i.encryptionKeyLength} B, integrity key ${i.integrityKeyLength} B, ICV ${i.icvLength} B`)
      }
    })

  cli
    .command('start')
    .description('run the main job (for now: the ESP benchmark, until the server is built)')
    .option('--json', 'one JSON object per line', false)
    .action((flags: { json: boolean }) => {
      console.error(`l2tp-ipsec ${pkg.version}: the VPN server is not built yet; running the ESP benchmark instead.`)
      return bench({ json: flags.json, seconds: 0.5, sizes: [1400], suite: ['aes128gcm-16', 'aes256gcm-16', 'aes128-sha1', 'aes256-sha256'], only: ['esp'] })
    })

  return cli
}

// Run when executed directly (bin/l2tp-ipsec.js or `node --import tsx lib/cli/main.ts`).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await program().parseAsync()
}
