/**
 * Does the server's control plane keep anything per connect? The real
 * ServerControlPlane (IKE responder, L2TP LNS, PPP server with local users
 * and a pool) with in-memory clients (the control-plane bench's rig:
 * control-plane-bench.ts), churned the way the soak churns a real server:
 * `slots` sessions alive, in waves of `wave`; each step hangs up the oldest
 * wave (PPP Terminate, CDN, StopCCN, IKE Delete from the client), lets the
 * server's clock run until it holds exactly the sessions still alive, then
 * connects a new wave on the freed slots (each slot one user from one
 * address, as users reconnect from home: per-peer-address caches hold
 * `slots` entries; lib/ike/phase1.ts remembers 4,096 addresses' NAT-D
 * bytes) and rekeys the wave before it (Quick Mode under the IKE SA,
 * mid-life); then the clock runs `stepSeconds` (LCP echoes both ways, L2TP
 * hellos, deadlines come due). No sockets, no timing: the clock is the
 * rig's.
 *
 * At each checkpoint (a number of connects, the server steady with `slots`
 * sessions up): the JS heap in use after a full GC and a census of live
 * objects by constructor (churn-census.ts). The same users and the same
 * number of live sessions at every checkpoint: anything that grows from
 * one to the next grows per connect.
 */
import { writeHeapSnapshot } from 'node:v8'
import type { ServerControlPlane } from '../server/server-control-plane.js'
import { collectGarbage, deliver, liveInstances, newBenchClient, newBenchServer, routeServerOut, SERVER_ADDRESS, serverInbox, SESSION_CLASSES, setWiring, Wiring, type ClientEnd } from './control-plane-bench.js'
import { censusGrowth, heapCensus, type Census, type CensusGrowth } from './churn-census.js'

export interface ChurnOptions {
  /** Sessions alive (and users: slot i logs in as user i). */
  slots: number
  /** Sessions hung up and connected per step. */
  wave: number
  /** Connect counts at which to take a census, ascending. */
  checkpoints: number[]
  /** Seconds of the rig's clock between two waves, run 1 s at a time (LCP echoes, L2TP hellos, retransmissions, deadlines come due); default 6, the soak's pace at 1,000 sessions living 30-90 s in waves of 100. */
  stepSeconds?: number
}

export interface ChurnCheckpoint {
  connects: number
  /** The rig's clock, s. */
  clock_seconds: number
  /** JS heap in use after a full GC. */
  heap_used_bytes: number
  /** Session objects alive, the clients' and the server's (IkeSa, Tunnel, Session, PppLink, Automaton, ReliableChannel; by prototype, the inspector's queryObjects). */
  session_objects: Record<string, number>
  /** The census as JSON in a Buffer: its memory is outside the JS heap, so the next checkpoint does not count it. */
  census: Buffer
}

export interface ChurnRecord {
  bench: 'churn'
  slots: number
  wave: number
  connects: number
  rekeys: number
  checkpoints: Omit<ChurnCheckpoint, 'census'>[]
  /** Heap in use after a full GC, last checkpoint against the first, per connect between them. */
  heap_bytes_per_connect: number
  /** Constructors whose live count grew by at least one per 100 connects between the first and the last checkpoint. */
  growth: CensusGrowth[]
}

/** Seconds of the rig's clock a drain may take before the check gives up (StopCCN's hold is ~31 s). */
const DRAIN_LIMIT = 600

export async function runChurnCheck(o: ChurnOptions): Promise<ChurnRecord & { censuses: Census[] }> {
  if (o.slots % o.wave !== 0) throw new Error(`churn: slots (${o.slots}) must be a multiple of wave (${o.wave})`)
  let now = 0
  const clock = () => now
  let ups = 0
  const server = newBenchServer({
    users: o.slots,
    clock,
    emit: (event) => {
      if (event === 'session-up') ups++
    },
  })
  const wiring = new Wiring()
  setWiring(wiring)
  const waves: ClientEnd[][] = []
  /** Each live client's slot (the user it logs in as). */
  const slots = new WeakMap<ClientEnd, number>()
  let life = 0
  let rekeys = 0
  const checkpoints: ChurnCheckpoint[] = []
  const todo = [...o.checkpoints]
  try {
    while (todo.length) {
      if (waves.length * o.wave >= o.slots) {
        const gone = waves.shift()!
        for (const c of gone) if (!c.core.hangUp('churn')) throw new Error(`churn: client ${c.index} had no call to hang up`)
        await drain(server, waves.flat(), gone, o.slots - o.wave, (s) => (now += s))
        for (const c of gone) wiring.forget(c)
      }
      // The slots the hung-up wave had (the first waves: slots not used yet).
      const used = new Set(waves.flat().map((c) => slots.get(c)))
      const free = Array.from({ length: o.slots }, (_, i) => i).filter((i) => !used.has(i))
      const wave = free.slice(0, o.wave).map((slot) => {
        const c = newBenchClient(life++, clock, slot)
        slots.set(c, slot)
        wiring.byAddress.set(c.address, c)
        return c
      })
      const before = ups
      for (const c of wave) c.core.connect({ peer: { address: SERVER_ADDRESS, port: 500 }, local: { address: c.address, port: 500 } })
      await pump(server, [...waves.flat(), ...wave], () => wave.every((c) => c.up), (s) => (now += s))
      if (!wave.every((c) => c.up) || ups - before !== wave.length) throw new Error(`churn: ${wave.filter((c) => !c.up).length} of a wave of ${wave.length} did not come up (life ${life})`)
      // Mid-life rekey of the wave before: a new ESP SA pair under the same IKE SA.
      const mid = waves[waves.length - 1]
      if (mid) {
        for (const c of mid) if (c.core.rekey()) rekeys++
        await pump(server, [...waves.flat(), ...wave], () => false, (s) => (now += s))
      }
      waves.push(wave)
      for (let i = 0; i < (o.stepSeconds ?? 6); i++) {
        now += 1
        await pump(server, waves.flat(), () => false, (s) => (now += s))
      }
      if (life >= todo[0]!) {
        todo.shift()
        checkpoints.push(await checkpoint(life, now))
      }
    }
  } finally {
    setWiring(undefined)
  }
  const a = checkpoints[0]!
  const b = checkpoints[checkpoints.length - 1]!
  const between = b.connects - a.connects
  return {
    bench: 'churn',
    slots: o.slots,
    wave: o.wave,
    connects: life,
    rekeys,
    checkpoints: checkpoints.map(({ census: _, ...rest }) => rest),
    heap_bytes_per_connect: between > 0 ? Math.round((b.heap_used_bytes - a.heap_used_bytes) / between) : 0,
    growth: between > 0 ? censusGrowth(readCensus(a.census), readCensus(b.census), Math.max(1, Math.floor(between / 100))) : [],
    censuses: checkpoints.map((c) => readCensus(c.census)),
  }
}

const readCensus = (b: Buffer) => JSON.parse(b.toString('utf8')) as Census

async function checkpoint(connects: number, now: number): Promise<ChurnCheckpoint> {
  const session_objects = await liveInstances(SESSION_CLASSES)
  collectGarbage()
  collectGarbage()
  const heap_used_bytes = process.memoryUsage().heapUsed
  const census = Buffer.from(JSON.stringify(await heapCensus()))
  // CHURN_SNAPSHOT=prefix: the heap snapshot of each checkpoint too, for finding what holds a constructor that grows.
  if (process.env.CHURN_SNAPSHOT) writeHeapSnapshot(`${process.env.CHURN_SNAPSHOT}.${connects}.heapsnapshot`)
  return { connects, clock_seconds: Math.round(now), heap_used_bytes, session_objects, census }
}

/** One turn of the rig: the server's frames to the clients, the clients' to the server, timers of both that are due. */
function turn(server: ServerControlPlane, clients: ClientEnd[], now: number): boolean {
  routeServerOut()
  let moved = serverInbox.length > 0
  deliver(server, serverInbox)
  const next = server.nextDeadline()
  if (next !== undefined && next <= now) server.tick(now)
  routeServerOut()
  for (const c of clients) {
    const due = c.core.nextDeadline()
    if (due !== undefined && due <= now) c.core.tick(now)
    if (!c.port.inbox.length) continue
    moved = true
    deliver(c.core, c.port.inbox)
  }
  return moved || serverInbox.length > 0
}

/** Turns the rig (the clock 0.2 ms a turn) until `done` or nothing moves for 3 turns; authentication answers come on promises. */
async function pump(server: ServerControlPlane, clients: ClientEnd[], done: () => boolean, advance: (s: number) => number): Promise<void> {
  for (let idle = 0; idle < 3 && !done(); ) {
    const now = advance(0.0002)
    idle = turn(server, clients, now) ? 0 : idle + 1
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** After a wave hung up: the clock in 1 s steps until the server holds `alive` sessions, IKE SAs and tunnels. */
async function drain(server: ServerControlPlane, alive: ClientEnd[], gone: ClientEnd[], count: number, advance: (s: number) => number): Promise<void> {
  const clients = [...alive, ...gone]
  const held = () => server.sessionCount === count && server.ike.stats().ikeSas === count && server.l2tp.stats().tunnels === count
  await pump(server, clients, held, advance)
  for (let s = 0; s < DRAIN_LIMIT && !held(); s++) {
    advance(1)
    await pump(server, clients, held, advance)
  }
  if (!held()) throw new Error(`churn: ${server.sessionCount} sessions, ${server.ike.stats().ikeSas} IKE SAs, ${server.l2tp.stats().tunnels} tunnels held ${DRAIN_LIMIT} s after a hang-up; ${count} expected`)
}

export function formatChurnRecord(r: ChurnRecord): string {
  const mb = (b: number) => (b / 2 ** 20).toFixed(2)
  return (
    `churn ${r.slots} sessions alive, waves of ${r.wave}: ${r.connects} connects, ${r.rekeys} rekeys\n` +
    r.checkpoints.map((c) => `  after ${c.connects} connects (clock ${c.clock_seconds} s): heap used ${mb(c.heap_used_bytes)} MB; session objects ${JSON.stringify(c.session_objects)}`).join('\n') +
    `\n  heap per connect, first to last checkpoint: ${r.heap_bytes_per_connect} B\n` +
    `  growing by 1 per 100 connects or more: ${r.growth.length ? r.growth.map((g) => `${g.key} ${g.before} -> ${g.after} (+${g.bytes} B)`).join('; ') : 'none'}`
  )
}
