/**
 * (Soak benchmark helper, forked by soak.ts.) The
 * client side of the soak: one L2tpClient per session slot (each its own
 * small data plane and TUN device in the clients' namespace, routing only
 * its slot's target), and the traffic generator in that namespace. Slots
 * churn: connect, traffic, a rekey half-way, disconnect, reconnect.
 *
 * Over IPC: `start` connects every slot (in waves) and answers `ready`;
 * `churn` cycles the slots for the given seconds, then waits until every
 * slot is up again and answers `steady`; `close` closes everything and
 * answers `done` with the counts.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { L2tpClient } from '../client/l2tp-client.js'
import { sleep } from '../testing/wait.js'
import { soakTarget, soakUser, type TrafficCommand, type TrafficReport } from './soak-plan.js'

export interface FleetStart {
  cmd: 'start'
  server: string
  psk: string
  clientAddress: string
  clientNetns: string
  clientNetnsName: string
  sessions: number
  /** Seconds a session lives during churn, drawn uniformly. */
  lifetime: [number, number]
  /** Milliseconds between a session's datagrams. */
  intervalMs: number
}

export interface FleetCounts {
  connects: number
  connectFailures: number
  /** Sessions that ended without our asking (the client saw 'down'). */
  unexpectedDowns: number
  downReasons: Record<string, number>
  rekeys: number
  rekeyFailures: number
  closes: number
}

export type FleetMessage =
  | { type: 'ready'; connected: number; failed: number; seconds: number }
  | { type: 'steady'; counts: FleetCounts }
  | { type: 'done'; counts: FleetCounts; traffic: TrafficReport }
  | { type: 'error'; message: string }

const TRAFFIC = fileURLToPath(new URL('./soak-traffic.ts', import.meta.url))
const WAVE = 20

interface Slot {
  index: number
  client: L2tpClient
  up: boolean
  /** We are closing it: its 'down' is expected. */
  closing: boolean
}

let options: FleetStart
let slots: Slot[] = []
const counts: FleetCounts = { connects: 0, connectFailures: 0, unexpectedDowns: 0, downReasons: {}, rekeys: 0, rekeyFailures: 0, closes: 0 }
let traffic: ReturnType<typeof spawn>
let churning = false
const reports: ((r: TrafficReport) => void)[] = []

function send(m: FleetMessage): void {
  process.send!(m)
}

function tell(c: TrafficCommand): void {
  traffic.stdin!.write(`${JSON.stringify(c)}\n`)
}

function makeSlot(index: number): Slot {
  const user = soakUser(index)
  const client = new L2tpClient({
    server: options.server,
    psk: options.psk,
    user: user.name,
    password: user.password,
    local: { address: options.clientAddress },
    netns: options.clientNetns,
    tun: { name: `sk${index}` },
    routes: [`${soakTarget(index)}/32`],
    workers: 1,
    reconnect: false,
    connectTimeout: 60,
    ike: { retransmitInterval: 1, retransmitTries: 5 },
  })
  const slot: Slot = { index, client, up: false, closing: false }
  client.on('down', (d) => {
    if (slot.closing || !slot.up) return
    slot.up = false
    counts.unexpectedDowns++
    counts.downReasons[d.reason] = (counts.downReasons[d.reason] ?? 0) + 1
    // The slot's cycle connects it again.
    tell({ cmd: 'down', slot: index })
  })
  client.on('error', () => {})
  return slot
}

/** Connects a slot (retrying while churning); true once up. */
async function connect(slot: Slot): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    counts.connects++
    try {
      const up = await slot.client.connect()
      slot.up = true
      slot.closing = false
      tell({ cmd: 'up', slot: slot.index, address: up.address })
      return true
    } catch {
      counts.connectFailures++
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
    if (slot.client.rekey()) {
      counts.rekeys++
      tell({ cmd: 'rekey', slot: slot.index })
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
  tell({ cmd: 'down', slot: slot.index })
  // The generator tallies a second after it stops; answers in flight come first.
  await sleep(1500)
  await slot.client.close()
  slot.up = false
  counts.closes++
}

function report(): Promise<TrafficReport> {
  return new Promise((resolve) => {
    reports.push(resolve)
    tell({ cmd: 'report' })
  })
}

async function start(o: FleetStart): Promise<void> {
  options = o
  traffic = spawn('ip', ['netns', 'exec', o.clientNetnsName, process.execPath, '--import', 'tsx', TRAFFIC, String(o.intervalMs)], { stdio: ['pipe', 'pipe', 'inherit'] })
  createInterface({ input: traffic.stdout! }).on('line', (line) => reports.shift()?.(JSON.parse(line) as TrafficReport))
  slots = Array.from({ length: o.sessions }, (_, i) => makeSlot(i))
  const started = Date.now()
  let connected = 0
  for (let i = 0; i < slots.length; i += WAVE) {
    const wave = await Promise.all(slots.slice(i, i + WAVE).map((s) => connect(s)))
    connected += wave.filter(Boolean).length
  }
  send({ type: 'ready', connected, failed: o.sessions - connected, seconds: (Date.now() - started) / 1000 })
}

async function churn(seconds: number): Promise<void> {
  churning = true
  const [, max] = options.lifetime
  // First lives staggered over the longest lifetime, so the churn is even from the start.
  const running = slots.map((s) => cycle(s, Math.random() * max))
  await sleep(seconds * 1000)
  churning = false
  await Promise.all(running)
  // Whatever is down now (a failed reconnect) comes up again before the end snapshot.
  await Promise.all(slots.filter((s) => !s.up).map((s) => connect(s)))
  send({ type: 'steady', counts })
}

async function close(): Promise<void> {
  for (const s of slots) if (s.up) tell({ cmd: 'down', slot: s.index })
  await sleep(1500)
  const totals = await report()
  for (let i = 0; i < slots.length; i += 100) {
    await Promise.all(
      slots.slice(i, i + 100).map(async (s) => {
        s.closing = true
        await s.client.close()
      }),
    )
  }
  traffic.stdin!.end()
  send({ type: 'done', counts, traffic: totals })
}

process.on('message', (m: FleetStart | { cmd: 'churn'; seconds: number } | { cmd: 'close' }) => {
  const run = m.cmd === 'start' ? start(m) : m.cmd === 'churn' ? churn(m.seconds) : close()
  run.catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }))
})
