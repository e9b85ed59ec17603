/**
 * (Soak and sessions benchmark helper, run inside the clients' namespace
 * with an IPC channel.) The client side: one ClientFleet holding every
 * session slot (each a real IKE/L2TP/PPP session from its own UDP port),
 * and the soak's traffic generated inside it (soak-traffic.ts). Slots
 * churn: connect, traffic, a rekey half-way, disconnect, reconnect.
 *
 * Over IPC: `start` connects every slot (`concurrency` setups in flight)
 * and answers `ready` (a later `start` with more sessions adds slots); `churn` cycles the slots for the given seconds,
 * then waits until every slot is up again and answers `steady`; `usage`
 * answers this process's memory; `close` hangs up everything and answers
 * `done` with the counts and the traffic totals.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { ClientFleet } from '../client/fleet.js'
import type { FleetPortCounters } from '../client/fleet-port.js'
import { sleep } from '../testing/wait.js'
import { soakUser, type TrafficReport } from './soak-plan.js'
import { SoakTraffic } from './soak-traffic.js'

export interface FleetStart {
  cmd: 'start'
  server: string
  psk: string
  clientAddress: string
  sessions: number
  /** Setups in flight at once (default 20). */
  concurrency?: number
  /** Seconds a session lives during churn, drawn uniformly. */
  lifetime: [number, number]
  /** Milliseconds between a session's datagrams (0: no traffic). */
  intervalMs: number
  /** The sessions' own LCP echo interval, seconds (default 30). */
  echoInterval?: number
}

export interface FleetCounts {
  connects: number
  connectFailures: number
  /** Sessions that ended without our asking (the fleet saw 'down'). */
  unexpectedDowns: number
  downReasons: Record<string, number>
  rekeys: number
  rekeyFailures: number
  closes: number
}

export type FleetCommand = FleetStart | { cmd: 'churn'; seconds: number } | { cmd: 'usage' } | { cmd: 'close' }

export type FleetMessage =
  | { type: 'ready'; connected: number; failed: number; seconds: number }
  | { type: 'steady'; counts: FleetCounts }
  | { type: 'usage'; rssMb: number; heapMb: number; up: number }
  | { type: 'done'; counts: FleetCounts; traffic: TrafficReport; port: FleetPortCounters; lag: FleetLag }
  | { type: 'error'; message: string }

/** The fleet's own event-loop delay during the churn, ms (10 ms resolution subtracted). */
export interface FleetLag {
  p50: number
  p99: number
  max: number
}

interface Slot {
  index: number
  up: boolean
  /** We are closing it: its end is expected. */
  closing: boolean
}

let options: FleetStart
let fleet: ClientFleet
let traffic: SoakTraffic
let slots: Slot[] = []
const counts: FleetCounts = { connects: 0, connectFailures: 0, unexpectedDowns: 0, downReasons: {}, rekeys: 0, rekeyFailures: 0, closes: 0 }
let churning = false
const lag = monitorEventLoopDelay({ resolution: 10 })

function send(m: FleetMessage): void {
  process.send!(m)
}

/** Connects a slot (up to three tries); true once up. */
async function connect(slot: Slot): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    counts.connects++
    try {
      const user = soakUser(slot.index)
      const up = await fleet.connect(slot.index, { user: user.name, password: user.password }, 60)
      slot.up = true
      slot.closing = false
      traffic.up(slot.index, up.address)
      return true
    } catch (e) {
      counts.connectFailures++
      console.error(`soak fleet: slot ${slot.index} connect failed: ${e instanceof Error ? e.message : String(e)}`)
      await sleep(1000 + Math.random() * 2000)
    }
  }
  return false
}

/** One life of a slot: traffic for its lifetime with a rekey half-way, then down and up again. */
async function cycle(slot: Slot, firstLife?: number): Promise<void> {
  while (churning) {
    if (!slot.up && !(await connect(slot))) return
    const [min, max] = options.lifetime
    const life = (firstLife ?? min + Math.random() * (max - min)) * 1000
    firstLife = undefined
    await sleep(life / 2)
    if (!slot.up) continue
    if (fleet.rekey(slot.index)) {
      counts.rekeys++
      traffic.rekey(slot.index)
    } else {
      counts.rekeyFailures++
    }
    await sleep(life / 2)
    if (!churning) return
    if (!slot.up) continue
    await hangUp(slot)
    await sleep(500 + Math.random() * 1500)
  }
}

async function hangUp(slot: Slot): Promise<void> {
  slot.closing = true
  traffic.down(slot.index)
  // Answers in flight come back before the session goes.
  await sleep(1500)
  await fleet.hangUp(slot.index)
  slot.up = false
  counts.closes++
}

/** Progress on stderr every 10 s (a soak runs for minutes). */
function progress(): void {
  const started = Date.now()
  setInterval(() => {
    console.error(`soak fleet +${Math.round((Date.now() - started) / 1000)} s: ${fleet.upCount}/${slots.length} up, ${counts.connects} connects, ${counts.connectFailures} failed, ${counts.unexpectedDowns} lost, ${counts.rekeys} rekeys`)
  }, 10_000).unref()
}

async function start(o: FleetStart): Promise<void> {
  if (slots.length === 0) open(o)
  options = o
  // A second start grows the fleet to o.sessions (the sessions benchmark: 1,000, then 10,000).
  const added = Array.from({ length: Math.max(0, o.sessions - slots.length) }, (_, i): Slot => ({ index: slots.length + i, up: false, closing: false }))
  slots.push(...added)
  const started = Date.now()
  let connected = 0
  let next = 0
  const worker = async () => {
    while (next < added.length) if (await connect(added[next++]!)) connected++
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 20, added.length) }, worker))
  send({ type: 'ready', connected, failed: added.length - connected, seconds: (Date.now() - started) / 1000 })
}

function open(o: FleetStart): void {
  fleet = new ClientFleet({
    server: o.server,
    psk: o.psk,
    localAddress: o.clientAddress,
    ike: { retransmitInterval: 1, retransmitTries: 5 },
    ppp: { echoInterval: o.echoInterval ?? 30 },
    onData: (slot, packet) => traffic.receive(slot, packet),
  })
  traffic = new SoakTraffic((slot, packet) => fleet.send(slot, packet), o.intervalMs)
  fleet.on('down', (index, d) => {
    const slot = slots[index]
    if (!slot || slot.closing || !slot.up) return
    slot.up = false
    counts.unexpectedDowns++
    counts.downReasons[d.reason] = (counts.downReasons[d.reason] ?? 0) + 1
    // The slot's cycle connects it again.
    traffic.down(index)
  })
  progress()
}

async function churn(seconds: number): Promise<void> {
  churning = true
  lag.enable()
  const [, max] = options.lifetime
  // First lives staggered over the longest lifetime, so the churn is even from the start.
  const running = slots.map((s) => cycle(s, Math.random() * max))
  await sleep(seconds * 1000)
  churning = false
  lag.disable()
  await Promise.all(running)
  // Whatever is down now (a failed reconnect) comes up again before the end snapshot.
  await Promise.all(slots.filter((s) => !s.up).map((s) => connect(s)))
  send({ type: 'steady', counts })
}

async function close(): Promise<void> {
  for (const s of slots) if (s.up) traffic.down(s.index)
  await sleep(1500)
  const totals = traffic.report()
  traffic.stop()
  for (const s of slots) s.closing = true
  await fleet.close()
  const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - 10) * 100) / 100)
  send({ type: 'done', counts, traffic: totals, port: fleet.counters(), lag: { p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max) } })
}

function usage(): void {
  const m = process.memoryUsage()
  send({ type: 'usage', rssMb: Math.round(m.rss / 2 ** 20), heapMb: Math.round(m.heapUsed / 2 ** 20), up: slots.length ? fleet.upCount : 0 })
}

process.on('message', (m: FleetCommand) => {
  const run = m.cmd === 'start' ? start(m) : m.cmd === 'churn' ? churn(m.seconds) : m.cmd === 'usage' ? Promise.resolve(usage()) : close()
  run.catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }))
})
process.on('disconnect', () => process.exit(0))
