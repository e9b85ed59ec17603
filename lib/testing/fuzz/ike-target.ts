/**
 * IkeEndpoint under an adversarial wire: our initiator and our responder
 * run Main Mode (PSK) and Quick Mode while the wire drops, duplicates,
 * reorders, mutates and replays their messages and injects mutated
 * recorded strongSwan messages into the responder. Per step: the half-open
 * limits hold (per source and in total). After the silence: the responder
 * holds no IKE SA, half-open SA or Quick Mode (DPD, lifetimes and the
 * half-open timeout reap everything).
 */
import { IkeEndpoint } from '../../ike/endpoint.js'
import { PRESETS, type ProposalPolicy } from '../../ike/policy.js'
import type { Endpoint, Transmit } from '../../ike/types.js'
import { ikeSeeds } from './seeds.js'
import { FuzzPropertyError, type FuzzTarget } from './target.js'
import { runWire, wireActions, wireJson, type Datagram, type WireAction, type WirePeer } from './wire.js'

const PSK = Buffer.from('fuzz-pre-shared-key-0123456789')
const SERVER = '10.0.2.2'
const CLIENT = '10.0.2.15'
const MAX_HALF_OPEN = 4
const MAX_HALF_OPEN_PER_SOURCE = 3

/** ECP-256 only: the fastest group, so more executions per second; the codec and state paths are the same. */
const FAST: ProposalPolicy = { ...PRESETS.modern, phase1: { ...PRESETS.modern.phase1, groups: [19] }, phase2: { ...PRESETS.modern.phase2, pfsGroups: [19] } }

function ikePeer(endpoint: IkeEndpoint, self: string, other: string): WirePeer {
  return {
    deliver(data, now, meta) {
      const t = meta as Transmit | undefined
      const path = { peer: { address: other, port: t?.fromPort ?? 500 }, local: { address: self, port: t?.to.port ?? 500 } }
      endpoint.handle(data, path, now)
    },
    tick: (now) => endpoint.handleTimeout(now),
    drain() {
      const out: Datagram[] = []
      for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) out.push({ data: t.data, meta: t })
      while (endpoint.pollEvent());
      return out
    },
  }
}

export const ikeEndpointTarget: FuzzTarget<WireAction[]> = {
  name: 'ike-endpoint',
  description: 'initiator <-> responder IkeEndpoint (Main Mode PSK + Quick Mode, NAT-T float) over an adversarial wire, recorded strongSwan messages injected; half-open limits per step, no state left after the silence',
  arbitrary: () => wireActions(),
  async check(actions) {
    const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, maxHalfOpen: MAX_HALF_OPEN, maxHalfOpenPerSource: MAX_HALF_OPEN_PER_SOURCE })
    const client = new IkeEndpoint({ policy: FAST, psk: PSK, forceEncapsulation: false })
    const serverEnd: Endpoint = { address: SERVER, port: 500 }
    client.connect({ peer: serverEnd, local: { address: CLIENT, port: 500 } }, 0, {})
    await runWire(
      {
        client: ikePeer(client, CLIENT, SERVER),
        server: ikePeer(server, SERVER, CLIENT),
        seeds: ikeSeeds(),
        horizon: 200_000,
        invariant() {
          const s = server.stats()
          if (s.halfOpen > MAX_HALF_OPEN) throw new FuzzPropertyError(`${s.halfOpen} half-open IKE SAs, limit ${MAX_HALF_OPEN}`)
          if (s.halfOpen > MAX_HALF_OPEN_PER_SOURCE) throw new FuzzPropertyError(`${s.halfOpen} half-open IKE SAs from one source, limit ${MAX_HALF_OPEN_PER_SOURCE}`)
        },
        settled() {
          const s = server.stats()
          if (s.ikeSas || s.halfOpen || s.quickModes) throw new FuzzPropertyError(`after the silence the responder still holds ${JSON.stringify({ ikeSas: s.ikeSas, halfOpen: s.halfOpen, quickModes: s.quickModes })}`)
        },
      },
      actions,
    )
  },
  ...wireJson,
}
