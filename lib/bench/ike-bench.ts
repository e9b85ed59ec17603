/**
 * IKE responder throughput: full Main Mode + Quick Mode exchanges handled
 * by one responder on one core (this process), with the initiators in
 * another process sending over a UDP socket pair on loopback; beside the
 * bound OpenSSL gives for the responder's two Diffie-Hellman operations
 * per exchange in the same group with the same exponent size
 * (ike-reference.ts), measured in the same run.
 *
 * The ratio compares CPU seconds with CPU seconds: exchanges per second of
 * the responder's CPU time (spent handling datagrams, from receive to send)
 * against openssl speed's operations per second of its (user) CPU time.
 * Also reported: wall-clock exchanges per second (on a shared or 2-core
 * machine they also depend on the initiators' process getting a core of
 * its own), and the whole process's CPU per exchange, which adds the event
 * loop's wake-up for each datagram when the responder is not saturated
 * (a saturated one, or the data plane's batches, amortise it) and V8's
 * helper threads.
 */
import { fork } from 'node:child_process'
import dgram from 'node:dgram'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { threadCpuMicros } from '../../native/index.js'
import { IkeEndpoint } from '../ike/endpoint.js'
import { PRESETS, type ProposalPolicy } from '../ike/policy.js'
import type { IkeEvent } from '../ike/types.js'
import { countingWindow } from './counting-window.js'
import { ioFloor } from './ike-io-floor.js'
import { dhReference } from './ike-reference.js'
import { BENCH_CLIENT_ADDRESS, BENCH_SERVER_ADDRESS, frameDatagram, unframeDatagram } from './ike-wire.js'

export interface IkeBenchRecord {
  bench: 'ike'
  group: number
  /** Exchanges completed per wall-clock second. */
  exchanges_per_second: number
  /** CPU time (of the responder's thread) handling the exchange's datagrams, receive callback to sends: the IKE core's work plus the socket sends. */
  responder_cpu_ms_per_exchange: number
  /** Of which the IKE core: handle() and the polls (decode, state, crypto, encode). */
  ike_core_cpu_ms_per_exchange: number
  /** Of which the 5 socket sends (on loopback a send also delivers to the initiators' socket and wakes them). */
  send_cpu_ms_per_exchange: number
  /** The whole responder process's CPU time per exchange: also event-loop wake-ups between datagrams and V8's helper threads. */
  process_cpu_ms_per_exchange: number
  /** 1000 / responder_cpu_ms_per_exchange: what one core fully given to the responder completes. */
  exchanges_per_cpu_second: number
  /**
   * Share of the wall-clock time the responder spent handling datagrams:
   * well below 1, the wall-clock rate is set by the initiators and the
   * machine's other load (both processes share its cores), not by the responder.
   */
  responder_busy_fraction: number
  /** `openssl speed` as it reports, and the algorithm. */
  openssl_speed: string
  openssl_speed_ops_per_second: number
  /** MODP: private exponent bits of openssl speed's keys and of ours. */
  openssl_exponent_bits?: number
  our_exponent_bits?: number
  /** The bound: exchanges per CPU second with nothing but the responder's two DH operations (OpenSSL, our exponent size). */
  openssl_bound_per_second: number
  /** exchanges_per_cpu_second / openssl_bound_per_second. */
  ratio: number
  /** The same with the IKE core's CPU alone (without the socket sends): (1000 / ike_core_cpu_ms_per_exchange) / openssl_bound_per_second. */
  ike_core_ratio: number
  /** The IKE core's CPU per exchange with warm caches (exchanges back to back in one process, no sockets), and its ratio to the bound. */
  warm_responder_cpu_ms_per_exchange: number
  warm_ratio: number
  memory_per_ike_sa_bytes: number
  /**
   * The floor under responder_cpu_ms_per_exchange: the same datagrams (5 in,
   * 4 out, the same sizes and transport, timed the same way) answered with
   * canned bytes, no IKE work (ike-io-floor.ts); and the whole process's.
   */
  io_floor_cpu_ms_per_exchange: number
  io_floor_process_cpu_ms_per_exchange: number
  /** 1-minute load average at the end of the run: CPU figures on a busy machine run slower (cold caches between wake-ups). */
  load_average: number
}

function policyFor(group: number): ProposalPolicy {
  const base = PRESETS.modern
  return { ...base, phase1: { ...base.phase1, encryption: ['aes128'], hash: ['sha256'], groups: [group] }, phase2: { ...base.phase2, ciphers: ['aes128gcm-16'] } }
}

const PSK = 'benchmark-psk'
const CONCURRENCY = 8

/** Resolves once `count()` reaches `target`, polling every 50 ms (at most 60 s). */
async function warmUp(count: () => number, target: number): Promise<void> {
  const deadline = Date.now() + 60_000
  while (count() < target) {
    if (Date.now() > deadline) throw new Error(`IKE bench: only ${count()} warm-up exchanges in 60 s`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export interface CrossProcessRun {
  /** Exchanges completed per wall-clock second. */
  rate: number
  /** The IKE core's CPU per exchange (this thread), and the socket sends'. */
  coreMs: number
  sendMs: number
  /** The whole process's CPU per exchange. */
  processCpuMs: number
  /** Share of wall-clock time spent in the core and the sends. */
  busy: number
}

export async function exchangesPerSecond(group: number, seconds: number): Promise<CrossProcessRun> {
  const policy = policyFor(group)
  const responder = new IkeEndpoint({ policy, psk: Buffer.from(PSK), forceEncapsulation: false, maxHalfOpen: 100000, maxHalfOpenPerSource: 100000 })
  const socket = dgram.createSocket('udp4')
  // After the child exits, a send may come back refused: nothing to do.
  socket.on('error', () => {})
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r))
  const child = fork(fileURLToPath(new URL('./ike-initiators.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let done = 0
  let warm = 0
  let counting = false
  let stopped = false
  let childPort = 0
  child.on('error', () => {})
  const failures: IkeEvent[] = []
  const ready = new Promise<void>((resolve) => {
    child.on('message', (m: { cmd: 'ready'; port: number } | { cmd: 'failure'; event: IkeEvent }) => {
      if (m.cmd === 'failure') failures.push(m.event)
      else if (m.cmd === 'ready') {
        childPort = m.port
        resolve()
      }
    })
  })
  // The responder's CPU time on this (the JS) thread, from a per-thread
  // clock: the IKE core's work per datagram (decode, exchange, crypto,
  // encode: handle() and the polls) and the socket sends of its answers,
  // apart. Without the event loop's wake-ups between datagrams.
  let coreMicros = 0
  let sendMicros = 0
  socket.on('message', (message: Buffer) => {
    if (stopped) return
    const c0 = counting ? threadCpuMicros() : 0
    const d = unframeDatagram(message)
    const peer = { address: BENCH_CLIENT_ADDRESS, port: d.fromPort === 4500 ? 4500 : 10000 + d.index }
    responder.handle(d.data, { peer, local: { address: BENCH_SERVER_ADDRESS, port: d.toPort } }, 0)
    const answers: Buffer[] = []
    for (let t = responder.pollTransmit(); t; t = responder.pollTransmit()) answers.push(frameDatagram(d.index, t.fromPort, d.fromPort, t.data))
    for (let e = responder.pollEvent(); e; e = responder.pollEvent()) {
      if (e.type !== 'child-sa-up') continue
      if (counting) done++
      else warm++
      // Forget finished SAs (without Delete messages: the initiator has
      // moved on) so memory stays flat over the run.
      responder.close(e.ikeSa, 0, 'benchmark', { notify: false })
    }
    const c1 = counting ? threadCpuMicros() : 0
    for (const a of answers) socket.send(a)
    if (counting) {
      coreMicros += c1 - c0
      sendMicros += threadCpuMicros() - c1
    }
  })
  await ready
  // Connected: a send names no address, so no lookup per datagram.
  await new Promise<void>((r) => socket.connect(childPort, '127.0.0.1', r))
  child.send({ cmd: 'start', policy, psk: PSK, concurrency: CONCURRENCY, port: (socket.address() as { port: number }).port })
  // The child is slow to start under tsx: count only once it runs and the JIT has settled.
  await warmUp(() => warm, 100)
  coreMicros = 0
  sendMicros = 0
  const { elapsed, processCpuMs } = await countingWindow(seconds, (on) => (counting = on))
  stopped = true
  child.send({ cmd: 'stop' })
  socket.close()
  if (failures.length) throw new Error(`IKE bench: ${failures.length} exchanges failed, first: ${JSON.stringify(failures[0])}`)
  const n = Math.max(done, 1)
  return {
    rate: done / elapsed,
    coreMs: coreMicros / 1000 / n,
    sendMs: sendMicros / 1000 / n,
    processCpuMs: processCpuMs / n,
    busy: (coreMicros + sendMicros) / 1e6 / elapsed,
  }
}

/**
 * The responder's CPU per exchange with warm caches: exchanges back to back
 * in this process, initiators included, only the responder's calls timed;
 * the median of `rounds` rounds. A busy machine slows the cross-process
 * figure (the responder wakes up cold for each datagram) far more than
 * this one.
 */
function warmCpuMs(group: number, perRound: number, rounds: number): number {
  const policy = policyFor(group)
  const responder = new IkeEndpoint({ policy, psk: Buffer.from(PSK), forceEncapsulation: false, maxHalfOpen: 100000, maxHalfOpenPerSource: 100000 })
  const server = { address: BENCH_SERVER_ADDRESS, port: 500 }
  const initiators = Array.from({ length: CONCURRENCY }, () => new IkeEndpoint({ policy, psk: Buffer.from(PSK), forceEncapsulation: false }))
  let micros = 0
  const exchange = (i: number): void => {
    const initiator = initiators[i % CONCURRENCY]!
    const peer = { address: BENCH_CLIENT_ADDRESS, port: 10000 + (i % CONCURRENCY) }
    initiator.connect({ peer: server, local: peer }, 0)
    let up = false
    for (let round = 0; round < 10 && !up; round++) {
      const requests: Buffer[] = []
      for (let t = initiator.pollTransmit(); t; t = initiator.pollTransmit()) requests.push(t.data)
      const answers: Buffer[] = []
      const c0 = threadCpuMicros()
      for (const data of requests) {
        responder.handle(data, { peer, local: server }, 0)
        for (let t = responder.pollTransmit(); t; t = responder.pollTransmit()) answers.push(t.data)
        for (let e = responder.pollEvent(); e; e = responder.pollEvent()) {
          if (e.type !== 'child-sa-up') continue
          up = true
          responder.close(e.ikeSa, 0, 'benchmark', { notify: false })
        }
      }
      micros += threadCpuMicros() - c0
      for (const data of answers) initiator.handle(data, { peer: server, local: peer }, 0)
    }
    for (let e = initiator.pollEvent(); e; e = initiator.pollEvent()) if (e.type === 'child-sa-up') initiator.close(e.ikeSa, 0, 'benchmark', { notify: false })
    if (!up) throw new Error('IKE bench: an in-process exchange did not complete')
  }
  for (let i = 0; i < perRound; i++) exchange(i)
  const results: number[] = []
  for (let r = 0; r < rounds; r++) {
    micros = 0
    for (let i = 0; i < perRound; i++) exchange(i)
    results.push(micros / 1000 / perRound)
  }
  return results.sort((a, b) => a - b)[Math.floor(rounds / 2)]!
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
    const peer = { address: BENCH_CLIENT_ADDRESS, port: 10000 + i }
    const server = { address: BENCH_SERVER_ADDRESS, port: 500 }
    initiator.connect({ peer: server, local: peer }, 0)
    for (let round = 0; round < 10; round++) {
      for (let t = initiator.pollTransmit(); t; t = initiator.pollTransmit()) responder.handle(t.data, { peer, local: server }, 0)
      for (let t = responder.pollTransmit(); t; t = responder.pollTransmit()) initiator.handle(t.data, { peer: server, local: peer }, 0)
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
    const { rate, coreMs, sendMs, processCpuMs, busy } = await exchangesPerSecond(group, options.seconds)
    const cpuMs = coreMs + sendMs
    const reference = dhReference(group, Math.max(1, Math.round(options.seconds / 2)))
    const perCpuSecond = 1000 / cpuMs
    const warm = warmCpuMs(group, 100, 5)
    const floor = await ioFloor(group, Math.max(1, Math.round(options.seconds / 2)))
    records.push({
      bench: 'ike',
      group,
      exchanges_per_second: Math.round(rate),
      responder_cpu_ms_per_exchange: Number(cpuMs.toFixed(3)),
      ike_core_cpu_ms_per_exchange: Number(coreMs.toFixed(3)),
      send_cpu_ms_per_exchange: Number(sendMs.toFixed(3)),
      process_cpu_ms_per_exchange: Number(processCpuMs.toFixed(3)),
      exchanges_per_cpu_second: Math.round(perCpuSecond),
      responder_busy_fraction: Number(busy.toFixed(2)),
      openssl_speed: reference.opensslAlgorithm,
      openssl_speed_ops_per_second: Math.round(reference.opensslSpeedOps),
      ...(reference.ourExponentBits === undefined ? {} : { openssl_exponent_bits: reference.opensslExponentBits, our_exponent_bits: reference.ourExponentBits }),
      openssl_bound_per_second: Math.round(reference.exchangesPerSecond),
      ratio: Number((perCpuSecond / reference.exchangesPerSecond).toFixed(2)),
      ike_core_ratio: Number((1000 / coreMs / reference.exchangesPerSecond).toFixed(2)),
      warm_responder_cpu_ms_per_exchange: Number(warm.toFixed(3)),
      warm_ratio: Number((1000 / warm / reference.exchangesPerSecond).toFixed(2)),
      memory_per_ike_sa_bytes: memoryPerSa(group, 300),
      io_floor_cpu_ms_per_exchange: Number((floor.callbackMs + floor.sendMs).toFixed(3)),
      io_floor_process_cpu_ms_per_exchange: Number(floor.processCpuMs.toFixed(3)),
      load_average: Number(os.loadavg()[0]!.toFixed(1)),
    })
  }
  return records
}
