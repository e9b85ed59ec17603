/**
 * The floor under the IKE bench's responder figure: the CPU the responder
 * process spends on an exchange's datagrams alone — 5 received, 4 sent,
 * of the sizes a Main Mode + Quick Mode exchange has, through the same
 * transport (a node:dgram socket pair on loopback, the same framing) — with
 * no IKE work: each request answered with a canned datagram. Timed as
 * ike-bench.ts times the responder (per-thread clock from the receive
 * callback to the last send, sends apart; and the whole process). No
 * JavaScript IKE design, however lean, goes below it on this transport.
 */
import { fork } from 'node:child_process'
import dgram from 'node:dgram'
import { fileURLToPath } from 'node:url'
import { threadCpuMicros } from '../../native/index.js'
import { countingWindow } from './counting-window.js'
import { frameDatagram, unframeDatagram } from './ike-wire.js'

export interface IoFloor {
  /** Receive callback to the answer built (unframing, framing): this thread. */
  callbackMs: number
  /** The answers' socket sends: this thread. */
  sendMs: number
  /** The whole process (also libuv's receive and the event loop's wake-ups). */
  processCpuMs: number
  exchangesPerSecond: number
}

/** Datagram sizes of one exchange (AES-128, SHA-256, AES-GCM ESP, PSK): requests 0-4, answers 0-3. */
export function exchangeSizes(group: number): { requests: number[]; answers: number[] } {
  const ke = group === 14 ? 396 : 204
  return { requests: [204, ke, 108, 172, 76], answers: [144, ke, 76, 172] }
}

export async function ioFloor(group: number, seconds: number, concurrency = 8): Promise<IoFloor> {
  const { requests, answers } = exchangeSizes(group)
  const canned = answers.map((size, step) => Buffer.alloc(size, step))
  const socket = dgram.createSocket('udp4')
  socket.on('error', () => {})
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r))
  const child = fork(fileURLToPath(new URL('./ike-echo-initiators.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  child.on('error', () => {})
  const port = await new Promise<number>((resolve) => child.on('message', (m: { cmd: string; port: number }) => m.cmd === 'ready' && resolve(m.port)))
  let counting = false
  let stopped = false
  let done = 0
  let warm = 0
  let callbackMicros = 0
  let sendMicros = 0
  socket.on('message', (message: Buffer) => {
    if (stopped) return
    const c0 = counting ? threadCpuMicros() : 0
    const d = unframeDatagram(message)
    const step = d.data[0]!
    const answer = step < canned.length ? frameDatagram(d.index, 500, 500, canned[step]!) : undefined
    if (step === requests.length - 1) {
      if (counting) done++
      else warm++
    }
    const c1 = counting ? threadCpuMicros() : 0
    if (answer) socket.send(answer)
    if (counting) {
      callbackMicros += c1 - c0
      sendMicros += threadCpuMicros() - c1
    }
  })
  await new Promise<void>((r) => socket.connect(port, '127.0.0.1', r))
  child.send({ cmd: 'start', requests, concurrency, port: (socket.address() as { port: number }).port })
  const deadline = Date.now() + 60_000
  while (warm < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  const window = await countingWindow(seconds, (on) => (counting = on))
  stopped = true
  child.send({ cmd: 'stop' })
  socket.close()
  const n = Math.max(done, 1)
  return { callbackMs: callbackMicros / 1000 / n, sendMs: sendMicros / 1000 / n, processCpuMs: window.processCpuMs / n, exchangesPerSecond: done / window.elapsed }
}
