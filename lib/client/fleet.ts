/**
 * `ClientFleet`: many real L2TP/IPsec client sessions in one process, for
 * load generation (the soak and the `sessions` benchmark). Each session is
 * a full client control plane (IKEv1 Main + Quick Mode as initiator, L2TP
 * LAC, PPP with authentication, IPCP, LCP echo answers) over its own UDP
 * socket, so the server sees each one as a distinct peer (its own source
 * port), exactly as it sees clients behind one NAT. The per-session data
 * plane is JS (fleet-port.ts); inner IP packets are handed to `onData`
 * instead of a TUN device, and `send()` puts packets into a session.
 *
 * Sockets are opened in the process's own network namespace: run the
 * process inside the clients' namespace (`ip netns exec`).
 *
 *   const fleet = new ClientFleet({ server: '10.0.0.1', psk, localAddress: '10.0.0.2' })
 *   const up = await fleet.connect(0, { user: 'u0', password: 'p0' })
 *   fleet.send(0, ipPacket)
 *   await fleet.hangUp(0)
 */
import dgram from 'node:dgram'
import { EventEmitter } from 'node:events'
import { PRESETS, type PresetName } from '../ike/policy.js'
import { reusedKeyPair } from '../ike/reused-key-pair.js'
import { silentLogger, type Logger } from '../log/index.js'
import type { PppLinkUpEvent } from '../ppp/link.js'
import { monotonicSeconds, TimerLoop } from '../server/timer-loop.js'
import { ClientControlPlane } from './client-control-plane.js'
import { FleetPort, type FleetPortCounters } from './fleet-port.js'

export interface ClientFleetOptions {
  server: string
  serverPort?: number
  serverNattPort?: number
  psk: string | Buffer
  /** The address the sessions' sockets bind to (one ephemeral port each). */
  localAddress: string
  proposals?: PresetName
  ike?: { retransmitInterval?: number; retransmitTries?: number; dpdDelay?: number; dpdTimeout?: number }
  ppp?: { echoInterval?: number; echoFailures?: number; mtu?: number }
  /** Share one Main Mode Diffie-Hellman key pair among all sessions (default true; see lib/ike/reused-key-pair.ts). */
  reuseDhKeys?: boolean
  /** Inner IP packets that came through session `slot`. */
  onData?: (slot: number, packet: Buffer) => void
  logger?: Logger
}

export interface FleetUpInfo {
  address: string
  gateway: string | undefined
  /** The session's UDP source port (what the server sees as the peer's port). */
  localPort: number
}

export interface FleetEvents {
  /** A session ended without hangUp() (the server ended it, or a lower layer failed). */
  down: [slot: number, info: { reason: string; detail: string }]
}

interface Slot {
  index: number
  port: FleetPort
  core: ClientControlPlane
  timers: TimerLoop
  up: FleetUpInfo | undefined
  /** Set once the session has ended (either way). */
  ended: { reason: string; detail: string } | undefined
  hangingUp: boolean
  pending: { resolve: (u: FleetUpInfo) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined
  /** The PPP session id in our port (the client has one call, id 1 after the first). */
  sessionId: number | undefined
  /** The last IKE negotiation failure's reason. */
  lastFailure?: string
}

export class ClientFleet extends EventEmitter<FleetEvents> {
  private readonly o: ClientFleetOptions
  private readonly log: Logger
  private readonly slots = new Map<number, Slot>()
  /** Counters of the sessions already released. */
  private readonly retired: FleetPortCounters = { ikeIn: 0, ikeOut: 0, espIn: 0, espOut: 0, espDropped: 0, unknownSpi: 0, sendFailed: 0 }

  constructor(options: ClientFleetOptions) {
    super()
    this.o = options
    this.log = options.logger ?? silentLogger()
  }

  /** Sessions up now. */
  get upCount(): number {
    let n = 0
    for (const s of this.slots.values()) if (s.up && !s.ended) n++
    return n
  }

  info(slot: number): FleetUpInfo | undefined {
    const s = this.slots.get(slot)
    return s && !s.ended ? s.up : undefined
  }

  /** Sums of every session's port counters since the fleet started (released sessions' included). */
  counters(): FleetPortCounters {
    const total: FleetPortCounters = { ...this.retired }
    for (const s of this.slots.values()) for (const k of Object.keys(total) as (keyof FleetPortCounters)[]) total[k] += s.port.counters[k]
    return total
  }

  /** Opens session `slot` (a slot holds one session at a time); resolves once PPP is up with its address. */
  async connect(slot: number, credentials: { user: string; password: string }, timeoutSeconds = 60): Promise<FleetUpInfo> {
    if (this.slots.has(slot)) throw new Error(`fleet slot ${slot} is in use`)
    const socket = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, this.o.localAddress, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    socket.on('error', (err) => this.log.debug({ err, slot }, 'fleet socket error'))
    const o = this.o
    const port = new FleetPort(socket, o.serverNattPort ?? 4500)
    const localPort = port.localPort
    let self: Slot | undefined
    const core = new ClientControlPlane({
      ike: {
        policy: PRESETS[o.proposals ?? 'compatible'],
        psk: Buffer.from(o.psk),
        ikePort: localPort,
        nattPort: localPort,
        peerIkePort: o.serverPort ?? 500,
        peerNattPort: o.serverNattPort ?? 4500,
        forceEncapsulation: true,
        ...o.ike,
      },
      ...(o.reuseDhKeys === false ? {} : { initiatorKeyPair: reusedKeyPair }),
      l2tp: { role: 'lac', hostName: 'l2tp-ipsec-fleet' },
      ppp: { mtu: o.ppp?.mtu ?? 1400, echoInterval: o.ppp?.echoInterval ?? 30, echoFailures: o.ppp?.echoFailures ?? 4, idleTimeout: 0, sessionTimeout: 0, ipv6: false },
      dataplane: port,
      log: this.log,
      localAddress: o.localAddress,
      clock: monotonicSeconds,
      // Why a negotiation failed (IKE refused, a bad message): named in the connect error.
      emit: (event, ...args) => {
        if (event === 'negotiation-failure' && self) self.lastFailure = (args[0] as { stage: string; reason: string }).reason
      },
      user: credentials.user,
      password: credentials.password,
      onUp: (e) => self && this.onUp(self, e),
      onDown: (reason, detail) => self && this.onDown(self, reason, detail),
    })
    const timers = new TimerLoop((now) => core.tick(now), monotonicSeconds, (err) => this.log.error({ err, slot }, 'fleet timer failed'))
    self = { index: slot, port, core, timers, up: undefined, ended: undefined, hangingUp: false, pending: undefined, sessionId: undefined }
    const s = self
    this.slots.set(slot, s)
    port.sink = {
      control: (batch) => {
        core.ingest(batch)
        timers.arm(core.nextDeadline())
      },
      data: (packet) => o.onData?.(slot, packet),
    }
    return new Promise<FleetUpInfo>((resolve, reject) => {
      const timer = setTimeout(() => this.failConnect(s, new Error(`no session within ${timeoutSeconds} s`)), timeoutSeconds * 1000)
      s.pending = { resolve, reject, timer }
      try {
        core.connect({ peer: { address: o.server, port: o.serverPort ?? 500 }, local: { address: o.localAddress, port: localPort } })
        timers.arm(core.nextDeadline())
      } catch (e) {
        this.failConnect(s, e instanceof Error ? e : new Error(String(e)))
      }
    })
  }

  /** Sends an inner IP packet through session `slot`; false when it is not up. */
  send(slot: number, packet: Buffer): boolean {
    const s = this.slots.get(slot)
    if (!s?.up || s.ended || s.sessionId === undefined) return false
    return s.port.sendIp(s.sessionId, packet)
  }

  /** Rekeys the session's ESP SAs (Quick Mode under its IKE SA); false when it is not up. */
  rekey(slot: number): boolean {
    const s = this.slots.get(slot)
    if (!s?.up || s.ended) return false
    const started = s.core.rekey()
    s.timers.arm(s.core.nextDeadline())
    return started
  }

  /** Ends session `slot` politely (PPP Terminate, CDN, StopCCN, IKE Delete) and frees the slot. */
  async hangUp(slot: number, waitSeconds = 4): Promise<void> {
    const s = this.slots.get(slot)
    if (!s) return
    s.hangingUp = true
    if (!s.ended && s.core.hasCall) {
      s.core.hangUp('fleet hang-up')
      s.timers.arm(s.core.nextDeadline())
      const deadline = monotonicSeconds() + waitSeconds
      while (!s.ended && monotonicSeconds() < deadline) await new Promise((r) => setTimeout(r, 25))
    }
    if (!s.ended) {
      s.core.teardown()
      s.core.report('closed', 'fleet hang-up')
    }
    // Let the last Delete / StopCCN leave first.
    await new Promise((r) => setTimeout(r, 50))
    this.release(s)
  }

  /** Hangs up every session, `concurrency` at a time. */
  async close(concurrency = 200): Promise<void> {
    const all = [...this.slots.keys()]
    for (let i = 0; i < all.length; i += concurrency) await Promise.all(all.slice(i, i + concurrency).map((slot) => this.hangUp(slot)))
  }

  private onUp(s: Slot, e: PppLinkUpEvent): void {
    // The client's single call: the port holds exactly one session.
    s.sessionId = s.port.stats().sessions[0]?.id
    s.up = { address: e.address, gateway: e.localAddress, localPort: s.port.localPort }
    if (s.pending) {
      clearTimeout(s.pending.timer)
      s.pending.resolve(s.up)
      s.pending = undefined
    }
  }

  private onDown(s: Slot, reason: string, detail: string): void {
    if (s.ended) return
    s.ended = { reason, detail }
    if (s.pending) return this.failConnect(s, new Error(`${reason}: ${detail}${s.lastFailure ? ` (${s.lastFailure})` : ''}`))
    if (s.hangingUp) return
    this.emit('down', s.index, s.ended)
    // Not ours to keep: the slot is free for the next connect().
    setTimeout(() => this.release(s), 50)
  }

  private failConnect(s: Slot, e: Error): void {
    const pending = s.pending
    s.pending = undefined
    if (pending) clearTimeout(pending.timer)
    if (!s.ended) {
      s.ended = { reason: 'failed', detail: e.message }
      s.core.teardown()
    }
    setTimeout(() => this.release(s), 50)
    pending?.reject(e)
  }

  private release(s: Slot): void {
    s.timers.stop()
    s.port.close()
    if (this.slots.get(s.index) !== s) return
    this.slots.delete(s.index)
    for (const k of Object.keys(this.retired) as (keyof FleetPortCounters)[]) this.retired[k] += s.port.counters[k]
  }
}
