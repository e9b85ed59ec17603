/**
 * (Used by the tests; not part of the public API.)
 *
 * A client that floods on purpose, over a real IKE SA and IPsec SA: our
 * IKE initiator and LAC (the control plane L2tpClient runs on), without a
 * TUN device, that opens tunnel after tunnel and call after call when told
 * to and records what the LNS answered: each tunnel up or refused with its
 * StopCCN Result Code, each call up or refused with its CDN Result Code.
 * Calls that come up log in over PPP with the given user (an authenticated
 * peer), so they hold real sessions on the server.
 */
import { DataPlane, type ControlBatch } from '../../native/index.js'
import { PRESETS } from '../ike/policy.js'
import type { L2tpEvent } from '../l2tp/endpoint.js'
import type { ResultCodeValue } from '../l2tp/avp.js'
import { silentLogger } from '../log/index.js'
import { PppLink } from '../ppp/link.js'
import { formatHost, parseHostPort, type Binding } from '../server/bindings.js'
import { ControlPlane, type DataPlanePort } from '../server/control-plane.js'
import { monotonicSeconds, TimerLoop } from '../server/timer-loop.js'
import { sleep } from './wait.js'

export interface FloodPeerOptions {
  server: string
  psk: string
  /** Our address (in `netns`); IKE and NAT-T bind any free port on it. */
  localAddress: string
  /** The IKE ID we send (default our address): peers sharing one count against ikeSasPerIdentity together. */
  localId?: string
  /** A /run/netns path. */
  netns: string
  user: string
  password: string
  /** IKE retransmission: first interval (s) and tries (default 0.5 s, 3). */
  ike?: { retransmitInterval?: number; retransmitTries?: number }
  /** Seconds connect() waits for the IPsec SA (default 20). */
  connectTimeout?: number
}

/** What the LNS made of one SCCRQ or ICRQ. */
export interface Outcome {
  id: number
  up: boolean
  /** The StopCCN's or CDN's Result Code, when refused. */
  result?: ResultCodeValue
}

class FloodControlPlane extends ControlPlane {
  binding: Binding | undefined
  ikeFailure: string | undefined
  /** Our Tunnel IDs and Session IDs -> what became of them (absent: no answer yet). */
  readonly tunnelOutcomes = new Map<number, Outcome>()
  readonly callOutcomes = new Map<number, Outcome>()

  constructor(
    options: ConstructorParameters<typeof ControlPlane>[0],
    private readonly login: { user: string; password: string },
  ) {
    super(options)
  }

  protected onBindingUp(binding: Binding): void {
    this.binding ??= binding
  }

  protected onTunnelUp(): void {}

  protected newLink(): PppLink {
    return new PppLink({ role: 'client', user: this.login.user, password: this.login.password, echoInterval: 0 })
  }

  protected sessionRouting(): Record<string, never> {
    return {}
  }

  protected onPppEvent(): void {}

  protected onCallFinished(): void {}

  protected override observeL2tp(e: L2tpEvent): void {
    if (e.type === 'tunnel-up' && !this.tunnelOutcomes.has(e.tunnelId)) this.tunnelOutcomes.set(e.tunnelId, { id: e.tunnelId, up: true })
    if (e.type === 'tunnel-down' && !this.tunnelOutcomes.has(e.tunnelId)) this.tunnelOutcomes.set(e.tunnelId, { id: e.tunnelId, up: false, ...(e.result ? { result: e.result } : {}) })
    if (e.type === 'session-up' && !this.callOutcomes.has(e.sessionId)) this.callOutcomes.set(e.sessionId, { id: e.sessionId, up: true })
    if (e.type === 'session-down' && !this.callOutcomes.has(e.sessionId)) this.callOutcomes.set(e.sessionId, { id: e.sessionId, up: false, ...(e.result ? { result: e.result } : {}) })
  }

  /** Refusals are what we are here to see: nothing is torn down for them. */
  protected override onLowerFailure(what: 'ike' | 'l2tp', reason: string): void {
    if (what === 'ike') this.ikeFailure ??= reason
  }
}

export class FloodPeer {
  private constructor(
    private readonly dp: DataPlane,
    private readonly core: FloodControlPlane,
    private readonly timers: TimerLoop,
  ) {}

  /** Main Mode and Quick Mode to the server; resolves once the IPsec SA is installed, rejects when IKE fails or times out. */
  static async connect(o: FloodPeerOptions): Promise<FloodPeer> {
    const host = formatHost(o.localAddress)
    let core: FloodControlPlane | undefined
    let timers: TimerLoop | undefined
    const dp = new DataPlane({ ike: [`${host}:0`], natt: [`${host}:0`], workers: 1, netns: o.netns }, (batch: ControlBatch) => {
      if (!core) return
      core.ingest(batch)
      timers?.arm(core.nextDeadline())
    })
    const addresses = dp.localAddresses()
    const ikePort = parseHostPort(addresses.ike[0]!).port
    core = new FloodControlPlane(
      {
        ike: {
          policy: PRESETS.compatible,
          psk: Buffer.from(o.psk),
          ...(o.localId ? { localId: o.localId } : {}),
          ikePort,
          nattPort: parseHostPort(addresses.natt[0]!).port,
          peerIkePort: 500,
          peerNattPort: 4500,
          forceEncapsulation: true,
          retransmitInterval: o.ike?.retransmitInterval ?? 0.5,
          retransmitTries: o.ike?.retransmitTries ?? 3,
          dpdDelay: 0,
        },
        // Our own limits out of the way: the server's are under test.
        l2tp: { role: 'lac', hostName: 'l2tp-flooder', maxTunnelsPerBinding: 100_000, maxSessionsPerTunnel: 100_000, maxSessionsPerBinding: 1_000_000, helloInterval: 0 },
        ppp: { mtu: 1400, echoInterval: 0, echoFailures: 4, idleTimeout: 0, sessionTimeout: 0, ipv6: false },
        dataplane: dp as DataPlanePort,
        log: silentLogger(),
        localAddress: o.localAddress,
        clock: monotonicSeconds,
        emit: () => {},
      },
      { user: o.user, password: o.password },
    )
    const c = core
    // Ticks at least every 250 ms: the IKE core tells its next deadline only
    // from a tick, so without one its retransmissions (and giving up) never run.
    timers = new TimerLoop((now) => Math.min(c.tick(now) ?? Infinity, now + 0.25), monotonicSeconds, () => {})
    const peer = new FloodPeer(dp, c, timers)
    c.ike.connect({ peer: { address: o.server, port: 500 }, local: { address: o.localAddress, port: ikePort } }, monotonicSeconds())
    c.flush()
    timers.arm(monotonicSeconds() + 0.25)
    const deadline = Date.now() + (o.connectTimeout ?? 20) * 1000
    while (!c.binding && !c.ikeFailure && Date.now() < deadline) await sleep(20)
    if (!c.binding) {
      peer.close()
      throw new Error(`flood peer ${o.localAddress}: no IPsec SA: ${c.ikeFailure ?? 'timed out'}`)
    }
    return peer
  }

  /** IKE messages we sent again (unanswered). */
  get ikeRetransmits(): number {
    return this.core.ike.stats().retransmits
  }

  /** Sends `count` SCCRQs at once over the IPsec SA; resolves with each tunnel's outcome once all are answered. */
  async openTunnels(count: number, timeoutMs = 20_000): Promise<Outcome[]> {
    const b = this.core.binding!
    const now = monotonicSeconds()
    const ids = Array.from({ length: count }, () => this.core.l2tp.openTunnel({ binding: b.id, address: b.peer.address, port: b.peer.port, l2tpPort: 1701 }, now))
    return this.settle(ids, this.core.tunnelOutcomes, timeoutMs)
  }

  /** Sends `count` ICRQs at once in our tunnel `tunnelId`; resolves with each call's outcome once all are answered. */
  async openCalls(tunnelId: number, count: number, timeoutMs = 20_000): Promise<Outcome[]> {
    const now = monotonicSeconds()
    const ids = Array.from({ length: count }, () => this.core.l2tp.openSession(tunnelId, {}, now))
    return this.settle(ids, this.core.callOutcomes, timeoutMs)
  }

  private async settle(ids: number[], outcomes: Map<number, Outcome>, timeoutMs: number): Promise<Outcome[]> {
    this.core.flush()
    this.timers.arm(this.core.nextDeadline())
    const deadline = Date.now() + timeoutMs
    while (!ids.every((id) => outcomes.has(id)) && Date.now() < deadline) await sleep(20)
    const missing = ids.filter((id) => !outcomes.has(id))
    if (missing.length > 0) throw new Error(`no answer for ${missing.length} of ${ids.length} requests`)
    return ids.map((id) => outcomes.get(id)!)
  }

  /** Stops at once: no StopCCN, no Delete (the server learns it from DPD or its timeouts, as of a vanished client). */
  close(): void {
    this.timers.stop()
    try {
      this.dp.close()
    } catch {
      // closed already
    }
  }

  /** Closes politely: StopCCN for every tunnel, Delete for the IKE SA, then stops. */
  async hangUp(): Promise<void> {
    this.core.closeAll('closed', 'flood peer closing')
    this.core.closeTunnelsAndIke()
    this.timers.arm(this.core.nextDeadline())
    await sleep(300)
    this.close()
  }
}
