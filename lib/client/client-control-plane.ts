/**
 * The client's end of the control plane: IKE initiator, L2TP LAC, PPP
 * client. One IKE SA, one tunnel and one call; the data-plane session is
 * the default route of the client's TUN device.
 */
import type { SessionOptions } from '../../native/index.js'
import type { Method } from '../auth/index.js'
import type { Endpoint } from '../ike/types.js'
import type { SessionRef, TunnelUpEvent } from '../l2tp/endpoint.js'
import { PppLink, type PppLinkEvent, type PppLinkUpEvent } from '../ppp/link.js'
import type { Binding } from '../server/bindings.js'
import { ControlPlane, type Call, type ControlPlaneOptions } from '../server/control-plane.js'

export interface ClientControlPlaneOptions extends ControlPlaneOptions {
  user: string
  password: string
  /** Methods we agree to (default: all the PPP client knows). */
  authMethods?: readonly Method[]
  /** MS-CHAPv2: the password to change to when the server says ours expired. */
  newPassword?: string
  /** MS-CHAPv2: Responses sent again when a Failure says R=1. */
  authRetries?: number
  /** Told when the link is up or gone. */
  onUp: (e: PppLinkUpEvent) => void
  /** IPV6CP is Opened (ppp.ipv6): our interface identifier and the server's, 16 hex digits. */
  onIpv6Up?: (e: { localInterfaceId: string; peerInterfaceId: string | undefined }) => void
  onDown: (reason: string, detail: string) => void
}

export class ClientControlPlane extends ControlPlane {
  private readonly client: ClientControlPlaneOptions
  private ikeSa: string | undefined
  private tunnelId: number | undefined
  private done = false

  constructor(options: ClientControlPlaneOptions) {
    super({ ...options, l2tp: { ...options.l2tp, role: 'lac' } })
    this.client = options
  }

  /** Starts Main Mode and Quick Mode towards the server. */
  connect(path: { peer: Endpoint; local: Endpoint }): void {
    this.done = false
    this.ikeSa = this.ike.connect(path, this.o.clock())
    this.flush()
  }

  protected onBindingUp(binding: Binding, now: number): void {
    this.ikeSa = binding.ikeSa
    // A rekey installs a new pair under the same binding: the tunnel stays.
    if (this.tunnelId !== undefined) return
    this.tunnelId = this.l2tp.openTunnel({ binding: binding.id, address: binding.peer.address, port: binding.peer.port, l2tpPort: 1701 }, now)
  }

  protected onTunnelUp(e: TunnelUpEvent, now: number): void {
    this.l2tp.openSession(e.tunnelId, {}, now)
  }

  protected newLink(_e: SessionRef): PppLink {
    const ppp = this.o.ppp
    return new PppLink({
      role: 'client',
      mru: ppp.mtu,
      echoInterval: ppp.echoInterval,
      echoFailures: ppp.echoFailures,
      ipv6: ppp.ipv6,
      user: this.client.user,
      password: this.client.password,
      ...(this.client.authMethods ? { authMethods: this.client.authMethods } : {}),
      ...(this.client.newPassword !== undefined ? { newPassword: this.client.newPassword } : {}),
      ...(this.client.authRetries !== undefined ? { authRetries: this.client.authRetries } : {}),
    })
  }

  protected sessionRouting(): Partial<SessionOptions> {
    return { defaultRoute: true }
  }

  protected onPppEvent(call: Call, e: PppLinkEvent): void {
    if (e.type === 'up') this.client.onUp(e)
    else if (e.type === 'ipv6-up') this.client.onIpv6Up?.({ localInterfaceId: e.localInterfaceId, peerInterfaceId: e.peerInterfaceId })
    else if (e.type === 'auth-failed' && e.final) call.ending ??= { reason: 'error', detail: `authentication failed: ${e.reason}` }
  }

  /** The call is gone: the tunnel and the IKE SA go with it (one call per client). */
  protected onCallFinished(call: Call, now: number): void {
    const ending = call.ending ?? { reason: 'peer', detail: call.pppDown?.reason ?? 'ended' }
    this.report(ending.reason, ending.detail)
    this.teardown(now)
  }

  protected override onLowerFailure(what: 'ike' | 'l2tp', reason: string, now: number): void {
    // With a call, its own end reports (PPP goes down with the lower layer).
    if (this.hasCall) return
    if (what === 'l2tp') this.tunnelId = undefined
    else this.ikeSa = undefined
    this.teardown(now)
    this.report(what === 'ike' ? 'ike-failed' : 'l2tp-failed', reason)
  }

  /** StopCCN and IKE Delete; safe to call twice. */
  teardown(now = this.o.clock()): void {
    if (this.tunnelId !== undefined) {
      try {
        this.l2tp.closeTunnel(this.tunnelId, undefined, now)
      } catch {
        // already gone
      }
      this.tunnelId = undefined
    }
    if (this.ikeSa !== undefined) {
      this.ike.close(this.ikeSa, now, 'client closing')
      this.ikeSa = undefined
    }
    this.flush()
  }

  /** Lower layers failed before or under the call (IKE refused, tunnel lost). */
  report(reason: string, detail: string): void {
    if (this.done) return
    this.done = true
    this.client.onDown(reason, detail)
  }

  /** Starts a Quick Mode rekey: a new ESP SA pair under the same IKE SA and binding (the call stays); false when there is no IKE SA. */
  rekey(): boolean {
    if (this.ikeSa === undefined) return false
    const started = this.ike.startQuickMode(this.ikeSa, this.o.clock())
    this.flush()
    return started
  }

  get hasCall(): boolean {
    return this.calls.size > 0
  }

  /** Ends the call politely (PPP Terminate, CDN), then the tunnel and IKE SA follow. */
  hangUp(detail: string): boolean {
    const call = [...this.calls.values()][0]
    if (!call) return false
    this.end(call, 'closed', detail)
    return true
  }
}
