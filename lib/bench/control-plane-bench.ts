/**
 * The server's control plane at 1,000 and 10,000 established sessions
 * (issue #9), in one process and in memory: the real ServerControlPlane
 * (IKE responder, L2TP LNS, PPP server with local users and a pool) behind
 * a data-plane port that routes control frames to in-memory clients
 * (ClientControlPlane: IKE initiator, LAC, PPP client), batches in and out
 * as the native data plane hands them. No sockets, no ESP: what is measured
 * is the JavaScript side, which is where holding many sessions costs.
 *
 * - setup: clients come in waves of WAVE; the server's CPU time (its
 *   ingest, tick and nextDeadline calls, as L2tpServer makes them after
 *   every batch) per session set up, over sessions 501-1,000 and over the
 *   last 1,000. The clients' own work is not counted. Flat from 1k to 10k
 *   is the aim: nothing per setup may scan every session.
 * - memory: JS heap growth per established idle session (IKE SA, binding,
 *   L2TP tunnel and session, call, PPP link, pool entry), after a full GC,
 *   with the clients gone.
 * - echo round: every session's LCP Echo-Request due at once (the clock
 *   moved by ppp.echoInterval), the replies fed back in batches of 256:
 *   the server's CPU per session for the round.
 * - idle tick: a wake-up with nothing due (tick + nextDeadline): what
 *   each of the 10,000 spread-out echo timers, and each batch, costs the
 *   event loop beside its own work.
 * - teardown: the server shuts every session down (closeAll, StopCCN,
 *   Delete; the clients are gone and answer nothing, so the clock runs
 *   until every retransmission gave up) and, after a full GC, the heap is
 *   compared with the idle server's before the first session, and the
 *   session objects still alive are counted: anything left is a leak.
 */
import { Session } from 'node:inspector/promises'
import type { Runtime } from 'node:inspector'
import { writeFileSync } from 'node:fs'
import v8 from 'node:v8'
import vm from 'node:vm'
import type { ControlMeta, SaOptions, SessionOptions } from '../../native/index.js'
import { LocalUsersAuthenticator } from '../auth/index.js'
import { ClientControlPlane } from '../client/client-control-plane.js'
import { packBatch } from '../esp/batch.js'
import { PRESETS, type ProposalPolicy } from '../ike/policy.js'
import { Ipv4Pool } from '../pool/ip-pool.js'
import { pppAuthAlgorithms } from '../ppp/auth-algorithms.js'
import type { LogSink, PppSettings } from '../server/control-plane.js'
import type { ServerEvents } from '../server/types.js'
import { ServerControlPlane } from '../server/server-control-plane.js'
import { IkeSa } from '../ike/ike-sa.js'
import { Tunnel } from '../l2tp/tunnel.js'
import { Session as L2tpSession } from '../l2tp/session.js'
import { ReliableChannel } from '../l2tp/reliable.js'
import { PppLink } from '../ppp/link.js'
import { Automaton } from '../ppp/automaton.js'
import { NullDataPlanePort } from '../testing/null-dataplane.js'

export interface ControlPlaneBenchRecord {
  bench: 'control-plane'
  sessions: number
  /** JS heap bytes per established idle session, server side, at `sessions` and at 1,000 (the latter carries the JIT's warm-up). */
  heap_bytes_per_session: number
  heap_bytes_per_session_at_1k: number
  /** Bytes outside the JS heap (ArrayBuffers: the Buffers' memory) per session, at `sessions`. */
  external_bytes_per_session: number
  /** Server CPU µs per session set up, over sessions 501..1000 and over the last 1,000 before `sessions`. */
  setup_us_at_1k: number
  setup_us_at_10k: number
  /** Sessions set up per second of server CPU near `sessions`. */
  setups_per_cpu_second: number
  /** Server CPU for one LCP echo round of every session (requests out, replies in), ms, and per session µs. */
  echo_round_ms: number
  echo_round_us_per_session: number
  /** Server CPU for a wake-up with nothing due and every session idle (tick + nextDeadline), ms, at `sessions` and at 1,000. */
  tick_ms: number
  tick_ms_at_1k: number
  /** After every session was shut down and gave up: JS heap growth over the idle server before the first session (compiled code included), and session objects (IKE SAs, tunnels, sessions, PPP links, automata, reliable channels) still alive (0 = nothing leaked). */
  teardown_heap_bytes: number
  teardown_objects_left: number
  /** setup_us_at_10k / setup_us_at_1k: 1 is flat. */
  ratio: number
}

/** The classes of a session's state: none may outlive the teardown. */
export const SESSION_CLASSES = { IkeSa, Tunnel, Session: L2tpSession, PppLink, Automaton, ReliableChannel }

/** Live instances of each class (the inspector's queryObjects: a full GC first, then every object whose prototype is the class's). */
export async function liveInstances(classes: Record<string, { prototype: object }>): Promise<Record<string, number>> {
  const inspector = new Session()
  inspector.connect()
  const out: Record<string, number> = {}
  const probe = globalThis as { __sessionClassProbe?: object }
  try {
    for (const [name, c] of Object.entries(classes)) {
      probe.__sessionClassProbe = c.prototype
      const { result: proto } = await inspector.post('Runtime.evaluate', { expression: 'globalThis.__sessionClassProbe', objectGroup: 'count' })
      const { objects } = (await inspector.post('Runtime.queryObjects', { prototypeObjectId: proto.objectId!, objectGroup: 'count' })) as unknown as Runtime.QueryObjectsReturnType
      const { result } = (await inspector.post('Runtime.callFunctionOn', { functionDeclaration: 'function () { return this.length }', objectId: objects.objectId!, returnByValue: true })) as Runtime.CallFunctionOnReturnType
      out[name] = result.value as number
    }
  } finally {
    delete probe.__sessionClassProbe
    await inspector.post('Runtime.releaseObjectGroup', { objectGroup: 'count' })
    inspector.disconnect()
  }
  return out
}

export const SERVER_ADDRESS = '192.0.2.1'
const PSK = 'control-plane-bench-psk-8b1f'
export const PASSWORD = 'bench-password-5e2a'
const WAVE = 100
const BATCH = 256
export const PPP: PppSettings = { mtu: 1400, echoInterval: 30, echoFailures: 4, idleTimeout: 0, sessionTimeout: 0, ipv6: false }
const policy: ProposalPolicy = { ...PRESETS.modern, phase1: { ...PRESETS.modern.phase1, groups: [19] }, phase2: { ...PRESETS.modern.phase2, ciphers: ['aes128gcm-16'] } }

const quiet: LogSink = { debug() {}, info() {}, warn() {}, error() {} }

export function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc')
  ;(vm.runInNewContext('gc') as () => void)()
}

export const clientAddress = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

interface Frame {
  data: Buffer
  meta: ControlMeta
}

/** The data-plane port of one end: what it installs and sends goes to the wiring. */
export class Port extends NullDataPlanePort {
  readonly inbox: Frame[] = []
  constructor(
    private readonly wiring: () => Wiring | undefined,
    readonly client: ClientEnd | undefined,
  ) {
    super()
  }
  override installSa(sa: SaOptions): void {
    this.wiring()?.sa(this, sa)
  }
  override upsertSession(s: SessionOptions): void {
    this.wiring()?.session(this, s)
  }
  sendControl(data: Buffer, offsets: Uint32Array, meta: ControlMeta[]): number {
    // The server's batches are routed later, outside its timed calls: the data plane's work is not the control plane's.
    if (!this.client) {
      serverOut.push({ data, offsets, meta })
      return meta.length
    }
    for (let i = 0; i < meta.length; i++) {
      const frame = Buffer.from(data.subarray(offsets[i], offsets[i + 1]))
      if (this.client) this.wiring()?.fromClient(this.client, frame, meta[i]!)
    }
    return meta.length
  }
}

export interface ClientEnd {
  index: number
  address: string
  core: ClientControlPlane
  port: Port
  up: boolean
  /** Its L2TP Session IDs -> its data-plane session ids. */
  sessions: Map<number, number>
}

/** An LCP Echo-Request (FF 03 C0 21 09): answered at once with an Echo-Reply, as a live client would. */
function echoReply(frame: Buffer): Buffer | undefined {
  if (frame.length < 12 || frame[0] !== 0xff || frame[1] !== 0x03 || frame.readUInt16BE(2) !== 0xc021 || frame[4] !== 9) return undefined
  return Buffer.from([0xff, 0x03, 0xc0, 0x21, 10, frame[5]!, 0, 8, 0x12, 0x34, 0x56, 0x78])
}

let wiring: Wiring | undefined
/** Where the server's frames go from now on (the churn check keeps one wiring for the clients of every wave alive). */
export function setWiring(w: Wiring | undefined): void {
  wiring = w
}
export const serverInbox: Frame[] = []
const serverOut: { data: Buffer; offsets: Uint32Array; meta: ControlMeta[] }[] = []

/** Routes what the server sent since the last call. */
export function routeServerOut(): void {
  for (const { data, offsets, meta } of serverOut.splice(0)) {
    for (let i = 0; i < meta.length; i++) serverSent(Buffer.from(data.subarray(offsets[i], offsets[i + 1])), meta[i]!)
  }
}

/** False once the clients are all gone (the teardown): nothing answers the server any more. */
let answering = true

/** The server's frames: to the clients of the wave under way, or (LCP echoes) answered statelessly. */
function serverSent(frame: Buffer, meta: ControlMeta): void {
  if (!answering) return
  if (meta.kind === 'ppp') {
    const reply = echoReply(frame)
    if (reply) {
      serverInbox.push({ data: reply, meta: { kind: 'ppp', session: meta.session! } })
      return
    }
  }
  wiring?.fromServer(frame, meta)
}

/** How one wave of clients is joined to the server: bindings by SPI, sessions by L2TP Session ID. */
export class Wiring {
  readonly byAddress = new Map<string, ClientEnd>()
  /** Server binding -> the client and its binding, and back. */
  private readonly serverToClient = new Map<number, { client: ClientEnd; binding: number }>()
  private readonly clientToServer = new Map<string, number>()
  /** SPI -> the server's binding (its inbound SAs) / the client's binding (its outbound SAs). */
  private readonly serverSpi = new Map<number, number>()
  private readonly clientSpi = new Map<number, { client: ClientEnd; binding: number }>()
  /** Server session id -> its binding and the client's L2TP Session ID. */
  private readonly serverSessions = new Map<number, { binding: number; peerSession: number }>()

  sa(port: Port, sa: SaOptions): void {
    if (port.client) {
      if (sa.direction !== 'out') return
      this.clientSpi.set(sa.spi, { client: port.client, binding: sa.binding })
    } else {
      if (sa.direction !== 'in') return
      this.serverSpi.set(sa.spi, sa.binding)
    }
    const s = this.serverSpi.get(sa.spi)
    const c = this.clientSpi.get(sa.spi)
    if (s !== undefined && c) {
      this.serverToClient.set(s, c)
      this.clientToServer.set(`${c.client.index}/${c.binding}`, s)
    }
  }

  session(port: Port, s: SessionOptions): void {
    if (port.client) port.client.sessions.set(s.localSession, s.id)
    else this.serverSessions.set(s.id, { binding: s.binding, peerSession: s.peerSession })
  }

  fromClient(client: ClientEnd, data: Buffer, meta: ControlMeta): void {
    if (meta.kind === 'ike') {
      serverInbox.push({ data, meta: { kind: 'ike', peerAddress: client.address, peerPort: meta.localPort ?? 500, localPort: meta.peerPort ?? 500 } })
    } else if (meta.kind === 'l2tp') {
      const binding = this.clientToServer.get(`${client.index}/${meta.binding}`)
      if (binding !== undefined) serverInbox.push({ data, meta: { kind: 'l2tp', binding, l2tpPort: meta.l2tpPort ?? 1701 } })
    } else if (meta.kind === 'ppp') {
      // The client's session id -> its L2TP Session ID -> the server session whose peer session it is.
      for (const [id, s] of this.serverSessions) {
        const local = [...client.sessions].find(([, cid]) => cid === meta.session)?.[0]
        if (local !== undefined && s.peerSession === local && this.serverToClient.get(s.binding)?.client === client) {
          serverInbox.push({ data, meta: { kind: 'ppp', session: id } })
          return
        }
      }
    }
  }

  /** Drops every route of a client that is gone, so that a long-lived wiring holds the clients alive only. */
  forget(client: ClientEnd): void {
    this.byAddress.delete(client.address)
    for (const [binding, c] of this.serverToClient) {
      if (c.client !== client) continue
      this.serverToClient.delete(binding)
      for (const [id, s] of this.serverSessions) if (s.binding === binding) this.serverSessions.delete(id)
      for (const [spi, b] of this.serverSpi) if (b === binding) this.serverSpi.delete(spi)
    }
    for (const [spi, c] of this.clientSpi) if (c.client === client) this.clientSpi.delete(spi)
    for (const key of this.clientToServer.keys()) if (key.startsWith(`${client.index}/`)) this.clientToServer.delete(key)
  }

  fromServer(data: Buffer, meta: ControlMeta): void {
    if (meta.kind === 'ike') {
      this.byAddress.get(meta.peerAddress ?? '')?.port.inbox.push({ data, meta: { kind: 'ike', peerAddress: SERVER_ADDRESS, peerPort: meta.localPort ?? 500, localPort: meta.peerPort ?? 500 } })
    } else if (meta.kind === 'l2tp') {
      const c = this.serverToClient.get(meta.binding ?? -1)
      if (c) c.client.port.inbox.push({ data, meta: { kind: 'l2tp', binding: c.binding, l2tpPort: 1701 } })
    } else if (meta.kind === 'ppp') {
      const s = this.serverSessions.get(meta.session ?? -1)
      const c = s && this.serverToClient.get(s.binding)
      const id = c?.client.sessions.get(s!.peerSession)
      if (c && id !== undefined) c.client.port.inbox.push({ data, meta: { kind: 'ppp', session: id } })
    }
  }
}

/** Feeds frames to a control plane in data-plane-sized batches. */
export function deliver(core: { ingest: ServerControlPlane['ingest'] }, inbox: Frame[]): void {
  while (inbox.length) {
    const frames = inbox.splice(0, BATCH)
    const packed = packBatch(frames.map((f) => f.data))
    core.ingest({ packets: packed.data, offsets: packed.offsets, meta: frames.map((f) => f.meta), events: [] })
  }
}

export async function runControlPlaneBench(sessions: number): Promise<ControlPlaneBenchRecord> {
  let now = 0
  const clock = () => now
  // CPU time, not wall time: on a shared machine the process is often descheduled mid-call.
  let serverNs = 0n
  const cpuNs = () => {
    const u = process.cpuUsage()
    return BigInt(u.user + u.system) * 1000n
  }
  const timed = <T>(work: () => T): T => {
    const start = cpuNs()
    try {
      return work()
    } finally {
      serverNs += cpuNs() - start
    }
  }
  let up = 0
  const server = newBenchServer({
    users: sessions,
    clock,
    emit: (event) => {
      if (event === 'session-up') up++
    },
  })
  /** What L2tpServer does after every batch: ask for the next deadline; what its TimerLoop does: tick when it comes. */
  const serverTurn = () => {
    timed(() => {
      deliver(server, serverInbox)
      const next = server.nextDeadline()
      if (next !== undefined && next <= now) server.tick(now)
    })
    routeServerOut()
  }

  /** A wake-up with every session idle (what each timer of one session, and each batch's nextDeadline, costs beside its own work): CPU ns, the mean of 1,000. */
  const idleTick = (): number => {
    server.tick(now)
    routeServerOut()
    while (serverInbox.length) serverTurn()
    const start = cpuNs()
    for (let i = 0; i < 1000; i++) {
      server.tick(now)
      server.nextDeadline()
    }
    return Number(cpuNs() - start) / 1000
  }
  const memory = (): { heap: number; external: number } => {
    collectGarbage()
    const m = process.memoryUsage()
    return { heap: m.heapUsed, external: m.arrayBuffers }
  }

  const before0 = memory()
  if (process.env.CONTROL_PLANE_BENCH_SNAPSHOT) v8.writeHeapSnapshot(`${process.env.CONTROL_PLANE_BENCH_SNAPSHOT}.before`)
  const setupNs: bigint[] = []
  let at1kHeap = 0
  let at1kTick = 0
  /** One wave of clients set up against the server: its server CPU time. */
  const runWave = async (first: number): Promise<bigint> => {
    const count = Math.min(WAVE, sessions - first)
    wiring = new Wiring()
    const clients: ClientEnd[] = []
    for (let i = first; i < first + count; i++) {
      const end = newBenchClient(i, clock)
      wiring.byAddress.set(end.address, end)
      clients.push(end)
    }
    const before = serverNs
    for (const c of clients) c.core.connect({ peer: { address: SERVER_ADDRESS, port: 500 }, local: { address: c.address, port: 500 } })
    for (let idle = 0; idle < 3 && clients.some((c) => !c.up); ) {
      // What the server sent from an authentication answer (a promise, outside serverTurn).
      routeServerOut()
      let moved = serverInbox.length > 0
      serverTurn()
      for (const c of clients) {
        if (!c.port.inbox.length) continue
        moved = true
        deliver(c.core, c.port.inbox)
      }
      now += 0.0002
      // Authentication answers come back on a promise.
      await new Promise((resolve) => setImmediate(resolve))
      idle = moved ? 0 : idle + 1
    }
    const spent = serverNs - before
    if (clients.some((c) => !c.up)) throw new Error(`control-plane bench: ${clients.filter((c) => !c.up).length} of wave ${first / WAVE} did not come up`)
    return spent
  }
  for (let first = 0; first < sessions; first += WAVE) {
    if (first === 1000) {
      // The previous wave's clients are out of scope: the heap holds the server's 1,000 sessions.
      wiring = undefined
      at1kHeap = (memory().heap - before0.heap) / 1000
      at1kTick = idleTick()
    }
    // A function of its own: once it returns, nothing of the wave's clients stays on the stack (the heap then holds the server's sessions only).
    const spent = await runWave(first)
    setupNs.push(spent)
  }
  wiring = undefined
  serverTurn()
  if (up !== sessions) throw new Error(`control-plane bench: ${up} of ${sessions} sessions up`)
  const after = memory()
  const heapBytes = after.heap - before0.heap
  if (at1kHeap === 0) {
    at1kHeap = heapBytes / sessions
    at1kTick = idleTick()
  }
  if (process.env.CONTROL_PLANE_BENCH_SNAPSHOT) v8.writeHeapSnapshot(process.env.CONTROL_PLANE_BENCH_SNAPSHOT)

  const perSession = (fromWave: number, toWave: number) => {
    const waves = setupNs.slice(fromWave, toWave)
    return Number(waves.reduce((a, b) => a + b, 0n)) / 1000 / (waves.length * WAVE)
  }
  const at1k = perSession(Math.min(5, setupNs.length - 1), Math.min(10, setupNs.length))
  const at10k = perSession(Math.max(0, setupNs.length - 10), setupNs.length)

  // The acknowledgements the last L2TP messages are owed (0.2 s), sent before the round so that it is LCP echoes only.
  now += 1
  serverTurn()
  while (serverInbox.length) serverTurn()
  // Every echo due at once.
  now += PPP.echoInterval
  // CONTROL_PLANE_BENCH_PROFILE=file.cpuprofile: a CPU profile of the echo round and the ticks (for finding what costs).
  const profile = process.env.CONTROL_PLANE_BENCH_PROFILE ? new Session() : undefined
  if (profile) {
    profile.connect()
    await profile.post('Profiler.enable')
    await profile.post('Profiler.start')
  }
  const roundStart = serverNs
  timed(() => server.tick(now))
  routeServerOut()
  while (serverInbox.length) serverTurn()
  const roundNs = serverNs - roundStart

  now += 1
  const tickNs = idleTick()
  if (profile) {
    const { profile: result } = await profile.post('Profiler.stop')
    writeFileSync(process.env.CONTROL_PLANE_BENCH_PROFILE!, JSON.stringify(result))
    profile.disconnect()
  }

  // Teardown: what a shutdown does, then the clock runs (in 1 s steps: every retransmission is due in turn) until nothing is held.
  answering = false
  server.closeAll('closed', 'bench teardown')
  server.closeTunnelsAndIke()
  const held = () => server.sessionCount + server.ike.stats().ikeSas + server.l2tp.stats().tunnels
  for (let s = 0; s < 600 && held() > 0; s++) {
    now += 1
    serverTurn()
  }
  if (held() > 0) throw new Error(`control-plane bench: ${server.sessionCount} sessions, ${server.ike.stats().ikeSas} IKE SAs, ${server.l2tp.stats().tunnels} tunnels left 600 s after the shutdown`)
  // A day later every queued deadline has come (an entry of a gone owner keeps it until then, lib/util/deadline-queue.ts): what is still alive then is a leak.
  now += 86_400
  serverTurn()
  const left = await liveInstances(SESSION_CLASSES)
  const teardown = memory()
  if (process.env.CONTROL_PLANE_BENCH_SNAPSHOT) v8.writeHeapSnapshot(`${process.env.CONTROL_PLANE_BENCH_SNAPSHOT}.teardown`)
  answering = true
  return {
    bench: 'control-plane',
    sessions,
    heap_bytes_per_session: Math.round(heapBytes / sessions),
    heap_bytes_per_session_at_1k: Math.round(at1kHeap),
    external_bytes_per_session: Math.round((after.external - before0.external) / sessions),
    setup_us_at_1k: round(at1k),
    setup_us_at_10k: round(at10k),
    setups_per_cpu_second: Math.round(1e6 / at10k),
    echo_round_ms: round(Number(roundNs) / 1e6),
    echo_round_us_per_session: round(Number(roundNs) / 1e3 / sessions),
    tick_ms: round(tickNs / 1e6, 4),
    tick_ms_at_1k: round(at1kTick / 1e6, 4),
    teardown_heap_bytes: teardown.heap - before0.heap,
    teardown_objects_left: Object.values(left).reduce((a, b) => a + b, 0),
    ratio: round(at10k / at1k, 2),
  }
}

/** The server of the bench: local users user0..user<users - 1>, a /14 pool, its frames to the wiring set. */
export function newBenchServer(o: { users: number; clock: () => number; emit: (event: keyof ServerEvents) => void }): ServerControlPlane {
  const users = Array.from({ length: o.users }, (_, i) => ({ user: `user${i}`, password: PASSWORD }))
  return new ServerControlPlane({
    // DPD off: these clients answer LCP echoes only (an R-U-THERE needs the IKE SA's keys); the echo round is PPP's.
    ike: { policy, psk: Buffer.from(PSK), maxHalfOpen: 4 * WAVE, maxSasPerIdentity: o.users, dpdDelay: 0 },
    l2tp: { role: 'lns', hostName: 'bench' },
    ppp: PPP,
    dataplane: new Port(() => wiring, undefined),
    log: quiet,
    localAddress: SERVER_ADDRESS,
    emit: (event, ..._args) => o.emit(event),
    clock: o.clock,
    pool: new Ipv4Pool({ ranges: '10.128.0.0/14', gateway: '10.128.0.1' }),
    authenticator: new LocalUsersAuthenticator({ users, algorithms: pppAuthAlgorithms }),
    authMethods: ['mschapv2'],
    gateway: '10.128.0.1',
    dns: [],
  })
}

/** In-memory client `index` of slot `slot`: from address clientAddress(slot), logging in as `user<slot>`, routed by the wiring set. */
export function newBenchClient(index: number, clock: () => number, slot = index): ClientEnd {
  const end = { index, address: clientAddress(slot), up: false, sessions: new Map() } as unknown as ClientEnd
  end.port = new Port(() => wiring, end)
  end.core = new ClientControlPlane({
    ike: { policy, psk: Buffer.from(PSK) },
    l2tp: { role: 'lac', hostName: `client${index}` },
    ppp: PPP,
    dataplane: end.port,
    log: quiet,
    localAddress: end.address,
    emit: () => {},
    clock,
    user: `user${slot}`,
    password: PASSWORD,
    onUp: () => {
      end.up = true
    },
    onDown: () => {},
  })
  return end
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits))

export function formatControlPlaneRecord(r: ControlPlaneBenchRecord): string {
  return (
    `control plane ${r.sessions} sessions: ${r.heap_bytes_per_session} B heap + ${r.external_bytes_per_session} B buffers each (${r.heap_bytes_per_session_at_1k} B heap at 1k); ` +
    `setup ${r.setup_us_at_1k} us server CPU per session near 1k, ${r.setup_us_at_10k} us near ${r.sessions} (ratio ${r.ratio}, ${r.setups_per_cpu_second}/CPU-s); ` +
    `echo round ${r.echo_round_ms} ms (${r.echo_round_us_per_session} us/session); idle tick ${r.tick_ms} ms (${r.tick_ms_at_1k} ms at 1k); ` +
    `after teardown ${(r.teardown_heap_bytes / 2 ** 20).toFixed(1)} MB heap over the idle server, ${r.teardown_objects_left} session objects left`
  )
}
