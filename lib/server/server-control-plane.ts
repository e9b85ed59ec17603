/**
 * The server's end of the control plane: IKE responder, L2TP LNS, PPP
 * server that authenticates through the Authenticator and takes addresses
 * from the pool; each client's session routes its own address only.
 */
import type { SessionOptions } from '../../native/index.js'
import type { Authenticator, AuthResult, Method } from '../auth/index.js'
import type { SessionRef, TunnelUpEvent } from '../l2tp/endpoint.js'
import { PppLink, type PppLinkEvent } from '../ppp/link.js'
import type { Ipv4Pool, PoolStats } from '../pool/ip-pool.js'
import type { Binding } from './bindings.js'
import { ControlPlane, type Call, type ControlPlaneOptions } from './control-plane.js'

export interface ServerControlPlaneOptions extends ControlPlaneOptions {
  pool: Ipv4Pool
  authenticator: Authenticator
  /** Methods asked for, in order. */
  authMethods: readonly Method[]
  /** Our end of every PPP link (the pool's gateway). */
  gateway: string
  dns: readonly string[]
}

export class ServerControlPlane extends ControlPlane {
  private readonly server: ServerControlPlaneOptions

  constructor(options: ServerControlPlaneOptions) {
    super({ ...options, l2tp: { ...options.l2tp, role: 'lns' } })
    this.server = options
  }

  /**
   * A reload: new authenticator, pool, PPP and IKE settings for what comes
   * next; live sessions stay unless `keep` refuses their user or the new
   * pool cannot hold their address. Returns how many were ended.
   */
  reconfigure(next: Pick<ServerControlPlaneOptions, 'pool' | 'authenticator' | 'authMethods' | 'dns' | 'ppp' | 'ike'>, keep: (user: string) => boolean): number {
    const now = this.o.clock()
    let ended = 0
    for (const call of [...this.calls.values()]) {
      if (!call.up || call.ending) continue
      const allocation = keep(call.up.user) ? next.pool.allocate({ user: call.up.user, now, fixed: call.up.address }) : undefined
      if (allocation?.ok) continue
      ended++
      this.end(call, 'reload', allocation ? `address ${call.up.address} is outside the new pool` : `user ${call.up.user} is no longer allowed`, now)
    }
    Object.assign(this.server, next)
    this.o.ppp = next.ppp
    this.ike.reconfigure(next.ike)
    return ended
  }

  poolStats(): PoolStats {
    return this.server.pool.stats()
  }

  protected onBindingUp(): void {
    // The client opens the tunnel.
  }

  protected onTunnelUp(_e: TunnelUpEvent): void {
    // The client places the call.
  }

  protected newLink(_e: SessionRef, binding: Binding): PppLink {
    const ppp = this.o.ppp
    return new PppLink({
      role: 'server',
      mru: ppp.mtu,
      authMethods: this.server.authMethods,
      echoInterval: ppp.echoInterval,
      echoFailures: ppp.echoFailures,
      ipv6: ppp.ipv6,
      peer: { address: binding.peer.address, port: binding.peer.port, ikeId: binding.peerId },
      localAddress: this.server.gateway,
      dns: this.server.dns,
      assignAddress: (r) => {
        const a = this.server.pool.allocate({ user: r.user, now: this.o.clock(), ...(r.requested ? { requested: r.requested } : {}), ...(r.policy.address ? { fixed: r.policy.address } : {}) })
        return a.ok ? { ok: true, address: a.address } : { ok: false, reason: `${a.error}: ${a.reason}` }
      },
    })
  }

  protected sessionRouting(call: Call): Partial<SessionOptions> {
    return call.up ? { ipv4: call.up.address } : {}
  }

  protected onPppEvent(call: Call, e: PppLinkEvent, now: number): void {
    if (e.type === 'auth-request') {
      this.server.authenticator.authenticate(e.request).then(
        (result) => this.answer(call, e.id, result),
        (err: unknown) => this.answer(call, e.id, { ok: false, reason: 'internal-error', detail: String(err) }),
      )
    } else if (e.type === 'down') {
      if (e.address !== undefined) this.server.pool.release(e.address, now)
      if (!e.wasUp && /no address/i.test(e.reason)) {
        this.o.log.warn({ session: call.id, user: call.link.user, reason: e.reason }, 'session refused: no address')
        this.o.emit('session-refused', { user: call.link.user, peer: { ...call.binding.peer }, reason: 'pool-exhausted', detail: e.reason })
      }
    }
  }

  private answer(call: Call, id: number, result: AuthResult): void {
    if (call.finished) return
    call.link.authResult(id, result, this.o.clock())
    this.resume(call)
  }

  protected onCallFinished(): void {
    // The client decides whether its tunnel and IKE SA go too.
  }
}
