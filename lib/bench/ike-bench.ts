/**
 * IKE responder throughput: full Main Mode + Quick Mode exchanges per
 * second handled by one responder on one core (this process), with the
 * initiators in another process; beside the bound `openssl speed` gives for
 * the responder's two Diffie-Hellman operations per exchange (key
 * generation and shared secret) in the same group, on the same machine.
 */
import { execFileSync, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { IkeEndpoint } from '../ike/endpoint.js'
import { PRESETS, type ProposalPolicy } from '../ike/policy.js'
import type { IkeEvent } from '../ike/types.js'

export interface IkeBenchRecord {
  bench: 'ike'
  group: number
  exchanges_per_second: number
  responder_cpu_ms_per_exchange: number
  /** openssl speed: DH operations per second / 2 (keygen + derive per exchange). */
  openssl_bound_per_second: number
  ratio: number
  memory_per_ike_sa_bytes: number
}

const OPENSSL_DH: Record<number, string> = { 14: 'ffdh2048', 15: 'ffdh3072', 16: 'ffdh4096', 19: 'ecdhp256', 20: 'ecdhp384', 21: 'ecdhp521' }

function opensslOpsPerSecond(group: number): number {
  const out = execFileSync('openssl', ['speed', '-seconds', '1', OPENSSL_DH[group]!], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const last = out.trim().split('\n').pop() ?? ''
  return Number(/([\d.]+)\s*$/.exec(last)?.[1] ?? 0)
}

function policyFor(group: number): ProposalPolicy {
  const base = PRESETS.modern
  return { ...base, phase1: { ...base.phase1, encryption: ['aes128'], hash: ['sha256'], groups: [group] }, phase2: { ...base.phase2, ciphers: ['aes128gcm-16'] } }
}

const PSK = 'benchmark-psk'

async function exchangesPerSecond(group: number, seconds: number): Promise<{ rate: number; cpuMs: number }> {
  const policy = policyFor(group)
  const responder = new IkeEndpoint({ policy, psk: Buffer.from(PSK), forceEncapsulation: false, maxHalfOpen: 100000, maxHalfOpenPerSource: 100000 })
  const child = fork(fileURLToPath(new URL('./ike-initiators.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let done = 0
  let counting = false
  let stopped = false
  child.on('error', () => {})
  const failures: IkeEvent[] = []
  child.on('message', (m: { cmd: string; index: number; data: Uint8Array; fromPort: number; toPort: number; event?: IkeEvent }) => {
    if (stopped) return
    if (m.cmd === 'failure') return void failures.push(m.event!)
    const peer = { address: '198.51.100.2', port: 10000 + m.index }
    responder.handle(Buffer.from(m.data), { peer: { ...peer, port: m.fromPort === 4500 ? 4500 : peer.port }, local: { address: '192.0.2.1', port: m.toPort } }, 0)
    for (let t = responder.pollTransmit(); t; t = responder.pollTransmit()) {
      child.send({ cmd: 'datagram', index: m.index, data: t.data, fromPort: t.fromPort, toPort: m.fromPort })
    }
    for (let e = responder.pollEvent(); e; e = responder.pollEvent()) {
      if (e.type === 'child-sa-up' && counting) done++
      // Forget finished SAs so memory stays flat over the run.
      if (e.type === 'child-sa-up') responder.close(e.ikeSa, 0)
    }
    for (let t = responder.pollTransmit(); t; t = responder.pollTransmit()) {
      /* deletes go nowhere: the initiators have moved on */
    }
  })
  child.send({ cmd: 'start', policy, psk: PSK, concurrency: 8 })
  await new Promise((r) => setTimeout(r, 500))
  counting = true
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  counting = false
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  stopped = true
  child.send({ cmd: 'stop' })
  if (failures.length) throw new Error(`IKE bench: ${failures.length} exchanges failed, first: ${JSON.stringify(failures[0])}`)
  return { rate: done / elapsed, cpuMs: (cpu.user + cpu.system) / 1000 / Math.max(done, 1) }
}

/** A full garbage collection, so heap figures mean live objects only. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc')
  ;(vm.runInNewContext('gc') as () => void)()
}

/** Heap bytes per established IKE SA (with one ESP SA pair) held by the responder. */
function memoryPerSa(group: number, count: number): number {
  const policy = policyFor(group)
  const responder = new IkeEndpoint({ policy, psk: Buffer.from(PSK), maxHalfOpen: count + 10, maxHalfOpenPerSource: count + 10, forceEncapsulation: false })
  collectGarbage()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < count; i++) {
    const initiator = new IkeEndpoint({ policy, psk: Buffer.from(PSK), forceEncapsulation: false })
    const peer = { address: '198.51.100.2', port: 10000 + i }
    initiator.connect({ peer: { address: '192.0.2.1', port: 500 }, local: peer }, 0)
    for (let round = 0; round < 10; round++) {
      for (let t = initiator.pollTransmit(); t; t = initiator.pollTransmit()) responder.handle(t.data, { peer, local: { address: '192.0.2.1', port: 500 } }, 0)
      for (let t = responder.pollTransmit(); t; t = responder.pollTransmit()) initiator.handle(t.data, { peer: { address: '192.0.2.1', port: 500 }, local: peer }, 0)
    }
    while (responder.pollEvent());
  }
  collectGarbage()
  const after = process.memoryUsage().heapUsed
  const established = responder.stats().ikeSas
  return Math.round((after - before) / Math.max(established, 1))
}

export async function runIkeBench(options: { seconds: number; groups: readonly number[] }): Promise<IkeBenchRecord[]> {
  const records: IkeBenchRecord[] = []
  for (const group of options.groups) {
    const { rate, cpuMs } = await exchangesPerSecond(group, options.seconds)
    const bound = opensslOpsPerSecond(group) / 2
    records.push({
      bench: 'ike',
      group,
      exchanges_per_second: Math.round(rate),
      responder_cpu_ms_per_exchange: Number(cpuMs.toFixed(2)),
      openssl_bound_per_second: Math.round(bound),
      ratio: Number((rate / bound).toFixed(2)),
      memory_per_ike_sa_bytes: memoryPerSa(group, 300),
    })
  }
  return records
}
