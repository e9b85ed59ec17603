/**
 * Site-to-site links of the server (config `sites`): routed ESP tunnel-mode
 * SAs to other gateways, no L2TP or PPP. Each site is a data-plane site
 * (its selectors and routes, see crates/dataplane/src/tunnel_mode) pointed
 * at the binding whose SAs IKE negotiated for it. A `connect: true` site is
 * called and called again after a loss or a failed attempt (back-off 1, 2,
 * 4 ... 60 s), and its Quick Mode is rekeyed by us before it expires: the
 * new pair goes in (the data plane swaps to it at once) and the old one is
 * deleted a few seconds later, so no packet is lost. Other sites wait for
 * their peer, which rekeys.
 */
import type { SiteOptions, SiteStats } from '../../native/index.js'
import type { IkeEndpoint } from '../ike/endpoint.js'
import type { IkeSite } from '../ike/sites.js'
import type { IkeEvent } from '../ike/types.js'
import type { Binding } from './bindings.js'
import type { LogSink } from './control-plane.js'
import type { ServerEvents, SiteInfo } from './types.js'

type ChildUp = Extract<IkeEvent, { type: 'child-sa-up' }>
type ChildDown = Extract<IkeEvent, { type: 'child-sa-down' }>

/** The data plane as sites use it. */
export interface SitePort {
  upsertSite(site: SiteOptions): void
  rebindSite(id: number, binding: number): boolean
  removeSite(id: number): boolean
}

/** One configured site as the server runs it. */
export interface SiteSettings extends IkeSite {
  connect: boolean
  /** Phase 2 lifetime we ask for (seconds). */
  lifetime: number
}

export interface SiteManagerOptions {
  sites: readonly SiteSettings[]
  dataplane: SitePort
  ike: IkeEndpoint
  log: LogSink
  emit: <K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]) => void
  /** Our address and IKE port for calls. */
  local: { address: string; port: number }
  /** The peer's IKE port. */
  peerIkePort: number
}

/** Seconds an attempt may take before it counts as failed. */
const ATTEMPT_TIMEOUT = 35
const BACKOFF_MAX = 60
/** Seconds the old SA pair stays after a rekey, for packets already in flight. */
const REKEY_GRACE = 5
/** Rekey at this fraction of the Phase 2 lifetime. */
const REKEY_AT = 0.85

interface SiteState {
  id: number
  settings: SiteSettings
  binding?: Binding
  ikeSa?: string
  /** Our inbound SPI -> when the pair came up, and its IKE SA. */
  pairs: Map<number, { at: number; ikeSa: string }>
  up: boolean
  upSince?: Date
  /** Calling: when the attempt started; the next attempt's time and how many failed in a row. */
  attemptAt?: number
  nextAttemptAt?: number
  failures: number
  rekeyAt?: number
  /** Old pairs to delete after a rekey: inbound SPI -> when. */
  retire: Map<number, { at: number; ikeSa: string }>
  lastError?: string
}

export class SiteManager {
  private readonly sites = new Map<string, SiteState>()

  constructor(private readonly o: SiteManagerOptions) {
    o.sites.forEach((settings, i) => this.sites.set(settings.name, { id: i + 1, settings, pairs: new Map(), up: false, failures: 0, retire: new Map() }))
  }

  /** Puts every site's selectors and routes in the data plane, with no binding yet (packets to them are counted as no_outbound_sa). */
  install(now: number): void {
    for (const s of this.sites.values()) {
      this.o.dataplane.upsertSite({ id: s.id, binding: 0, local: [...s.settings.local], remote: [...s.settings.remote] })
      if (s.settings.connect) s.nextAttemptAt = now
    }
  }

  /** A tunnel-mode pair is installed on `binding` for the site its IKE SA authenticated as. */
  childUp(e: ChildUp, binding: Binding, now: number): void {
    const s = e.site === undefined ? undefined : this.sites.get(e.site)
    if (!s) {
      this.o.log.warn({ ikeSa: e.ikeSa, selectors: e.selectors }, 'tunnel-mode ESP SA for no configured site: not used')
      return
    }
    if (s.binding?.id !== binding.id) {
      try {
        this.o.dataplane.rebindSite(s.id, binding.id)
      } catch (err) {
        this.o.log.error({ err, site: s.settings.name, binding: binding.id }, 'the data plane refused the site binding')
        return
      }
    }
    // A site we call: its older pairs go a few seconds after the new one is in (the data plane
    // sends on the newest at once). A site that calls us deletes its own old pairs.
    if (s.settings.connect) for (const [spi, pair] of s.pairs) s.retire.set(spi, { at: now + REKEY_GRACE, ikeSa: pair.ikeSa })
    s.binding = binding
    s.ikeSa = e.ikeSa
    s.pairs.set(e.inbound.spi, { at: now, ikeSa: e.ikeSa })
    s.attemptAt = undefined
    s.nextAttemptAt = undefined
    s.failures = 0
    s.lastError = undefined
    if (s.settings.connect) s.rekeyAt = now + Math.max(30, e.lifetimeSeconds * REKEY_AT)
    this.o.log.info({ site: s.settings.name, binding: binding.id, selectors: e.selectors, suite: e.inbound.suite }, 'site SA pair up')
    if (!s.up) {
      s.up = true
      s.upSince = new Date()
      this.o.emit('site-up', { name: s.settings.name, peer: { ...binding.peer }, peerId: binding.peerId, suite: binding.suite, selectors: e.selectors })
    }
  }

  /** An SA pair is gone; a site left with none is down (and called again if it is ours to call). */
  childDown(e: ChildDown, now: number): void {
    for (const s of this.sites.values()) {
      if (!s.pairs.delete(e.inboundSpi)) continue
      s.retire.delete(e.inboundSpi)
      if (s.pairs.size > 0) return
      this.down(s, e.reason, now)
      return
    }
  }

  private down(s: SiteState, reason: string, now: number): void {
    if (!s.up) return
    s.up = false
    s.rekeyAt = undefined
    try {
      this.o.dataplane.rebindSite(s.id, 0)
    } catch {
      // binding 0 is always accepted
    }
    s.binding = undefined
    this.o.log.warn({ site: s.settings.name, reason }, 'site down')
    this.o.emit('site-down', { name: s.settings.name, reason })
    if (s.settings.connect) s.nextAttemptAt = now + 1
  }

  private failed(s: SiteState, reason: string, now: number): void {
    s.attemptAt = undefined
    s.failures++
    s.lastError = reason
    const wait = Math.min(BACKOFF_MAX, 2 ** (s.failures - 1))
    s.nextAttemptAt = now + wait
    this.o.log.warn({ site: s.settings.name, reason, retryIn: wait }, 'site connection attempt failed')
  }

  /** Calls, rekeys and retires what is due; returns when next to call. */
  tick(now: number): number | undefined {
    for (const s of this.sites.values()) {
      if (s.attemptAt !== undefined && !s.up && now - s.attemptAt >= ATTEMPT_TIMEOUT) this.failed(s, s.lastError ?? 'no SA within the attempt time', now)
      if (s.settings.connect && !s.up && s.attemptAt === undefined && s.nextAttemptAt !== undefined && now >= s.nextAttemptAt) this.call(s, now)
      // A rekey that got no answer is tried again every 30 s until a new pair is up.
      if (s.up && s.rekeyAt !== undefined && now >= s.rekeyAt && s.ikeSa) {
        this.rekey(s.settings.name, now)
        s.rekeyAt = now + 30
      }
      for (const [spi, r] of s.retire) {
        if (now < r.at) continue
        s.retire.delete(spi)
        this.o.ike.deleteChildSa(this.o.ike.ikeSaOfChild(spi) ?? r.ikeSa, spi, now, 'rekeyed')
      }
    }
    return this.nextDeadline()
  }

  nextDeadline(): number | undefined {
    let next: number | undefined
    const consider = (t: number | undefined) => {
      if (t !== undefined && (next === undefined || t < next)) next = t
    }
    for (const s of this.sites.values()) {
      if (s.attemptAt !== undefined) consider(s.attemptAt + ATTEMPT_TIMEOUT)
      if (!s.up && s.attemptAt === undefined) consider(s.nextAttemptAt)
      if (s.up) consider(s.rekeyAt)
      for (const r of s.retire.values()) consider(r.at)
    }
    return next
  }

  private call(s: SiteState, now: number): void {
    const peer = s.settings.peer
    if (peer === undefined) return
    s.attemptAt = now
    s.ikeSa = undefined
    this.o.log.info({ site: s.settings.name, peer }, 'calling site')
    this.o.ike.connect({ peer: { address: peer, port: this.o.peerIkePort }, local: { ...this.o.local } }, now, this.quickRequest(s.settings), { site: s.settings.name })
  }

  private quickRequest(settings: SiteSettings) {
    return { tunnel: { local: settings.local[0]!, remote: settings.remote[0]! }, lifetimeSeconds: settings.lifetime }
  }

  /** Starts a Quick Mode for a new SA pair of an up site (ours to call); false when it is not up. */
  rekey(name: string, now: number): boolean {
    const s = this.sites.get(name)
    if (!s?.up || !s.ikeSa) return false
    // After a Phase 1 rekey the pairs live under the new IKE SA.
    const newest = [...s.pairs.keys()].pop()
    s.ikeSa = (newest !== undefined ? this.o.ike.ikeSaOfChild(newest) : undefined) ?? s.ikeSa
    const started = this.o.ike.startQuickMode(s.ikeSa, now, this.quickRequest(s.settings))
    if (started) this.o.log.info({ site: name }, 'rekeying site SA pair')
    return started
  }

  /** ESP from a site proves its peer alive: no DPD probe needed. */
  touch(stats: readonly SiteStats[], withinMs: number, now: number): void {
    for (const s of this.sites.values()) {
      const st = stats.find((x) => x.id === s.id)
      if (s.ikeSa && st && st.idleMs >= 0 && st.idleMs <= withinMs) this.o.ike.touch(s.ikeSa, now)
    }
  }

  list(stats: readonly SiteStats[]): SiteInfo[] {
    return [...this.sites.values()].map((s) => {
      const st = stats.find((x) => x.id === s.id)
      return {
        name: s.settings.name,
        state: s.up ? 'up' : s.attemptAt !== undefined ? 'connecting' : 'down',
        peer: s.binding ? { ...s.binding.peer } : s.settings.peer !== undefined ? { address: s.settings.peer, port: 0 } : undefined,
        ...(s.binding ? { peerId: s.binding.peerId, suite: s.binding.suite } : {}),
        localSubnets: [...s.settings.local],
        remoteSubnets: [...s.settings.remote],
        connect: s.settings.connect,
        ...(s.upSince && s.up ? { upSince: s.upSince.toISOString() } : {}),
        ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
        rxBytes: st?.rxBytes ?? 0,
        txBytes: st?.txBytes ?? 0,
        rxPackets: st?.rxPackets ?? 0,
        txPackets: st?.txPackets ?? 0,
        selectorMismatch: st?.selectorMismatch ?? 0,
      }
    })
  }

  /** Sites whose SAs are up, by name. */
  upSites(): string[] {
    return [...this.sites.values()].filter((s) => s.up).map((s) => s.settings.name)
  }

  /** Deletes every site's SAs (server shutdown): the IKE SAs go with closeTunnelsAndIke. */
  removeAll(): void {
    for (const s of this.sites.values()) this.o.dataplane.removeSite(s.id)
  }
}
