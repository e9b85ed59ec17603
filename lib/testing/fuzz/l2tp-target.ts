/**
 * L2tpEndpoint under an adversarial wire: our LAC opens a tunnel and a
 * call to our LNS while the wire drops, duplicates, reorders, mutates and
 * replays their control messages and injects mutated recorded xl2tpd
 * messages into the LNS. Per step: the LNS keeps within its tunnel and
 * session limits. After the silence (HELLO unanswered, retransmissions
 * exhausted, lingering over): the LNS holds no tunnel and no session.
 */
import { L2tpEndpoint, type L2tpPeer } from '../../l2tp/endpoint.js'
import { l2tpSeeds } from './seeds.js'
import { FuzzPropertyError, type FuzzTarget } from './target.js'
import { runWire, wireActions, wireJson, type Datagram, type WireAction, type WirePeer } from './wire.js'

const MAX_TUNNELS = 2
const MAX_SESSIONS = 3
const LAC_SEEN_AS: L2tpPeer = { binding: 1, address: '198.51.100.7', port: 4500, l2tpPort: 1701 }
const LNS_SEEN_AS: L2tpPeer = { binding: 1, address: '203.0.113.1', port: 4500, l2tpPort: 1701 }

function l2tpPeer(endpoint: L2tpEndpoint, from: L2tpPeer): WirePeer {
  return {
    deliver: (data, now) => endpoint.handle(data, from, now),
    tick(now) {
      endpoint.handleTimeout(now)
      return endpoint.nextTimeout()
    },
    drain() {
      const out: Datagram[] = []
      for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) out.push({ data: t.datagram })
      while (endpoint.pollEvent());
      return out
    },
  }
}

export const l2tpEndpointTarget: FuzzTarget<WireAction[]> = {
  name: 'l2tp-endpoint',
  description: 'LAC <-> LNS L2tpEndpoint (tunnel with challenge, hidden AVPs, one call) over an adversarial wire, recorded xl2tpd messages injected; tunnel and session limits per step, nothing left after the silence',
  arbitrary: () => wireActions(),
  check(actions) {
    const common = { secret: 'fuzz-tunnel-secret', hideAvps: true, maxTunnelsPerBinding: MAX_TUNNELS, maxSessionsPerTunnel: MAX_SESSIONS, maxSessionsPerBinding: MAX_SESSIONS }
    const lns = new L2tpEndpoint({ role: 'lns', ...common })
    const lac = new L2tpEndpoint({ role: 'lac', ...common })
    const tunnel = lac.openTunnel(LNS_SEEN_AS, 0)
    lac.openSession(tunnel, {}, 0)
    return runWire(
      {
        client: l2tpPeer(lac, LNS_SEEN_AS),
        server: l2tpPeer(lns, LAC_SEEN_AS),
        seeds: l2tpSeeds(),
        horizon: 3600,
        invariant() {
          const live = lns.tunnels().filter((t) => t.state !== 'Closing' && t.state !== 'Idle')
          if (live.length > MAX_TUNNELS) throw new FuzzPropertyError(`LNS holds ${live.length} live tunnels for one binding, limit ${MAX_TUNNELS}`)
          const s = lns.stats()
          if (s.sessions > MAX_SESSIONS) throw new FuzzPropertyError(`LNS holds ${s.sessions} sessions for one binding, limit ${MAX_SESSIONS}`)
        },
        settled() {
          const s = lns.stats()
          if (s.tunnels || s.sessions) throw new FuzzPropertyError(`after the silence the LNS still holds ${s.tunnels} tunnels and ${s.sessions} sessions: ${JSON.stringify(lns.tunnels())}`)
        },
      },
      actions,
    )
  },
  ...wireJson,
}
