/**
 * PppLink under an adversarial wire: our client and our server run LCP,
 * authentication (MS-CHAPv2, CHAP or PAP, through the real
 * LocalUsersAuthenticator) and IPCP/IPV6CP while the wire drops,
 * duplicates, reorders, mutates and replays their frames and injects
 * mutated recorded pppd frames into the server. Per step: at most one
 * authentication request in flight and at most one address taken from the
 * pool. After the silence: the server link is Dead and its address is back
 * in the pool.
 */
import fc from 'fast-check'
import { LocalUsersAuthenticator } from '../../auth/index.js'
import type { Method } from '../../auth/types.js'
import { pppAuthAlgorithms } from '../../ppp/auth-algorithms.js'
import { PppLink } from '../../ppp/link.js'
import { Ipv4Pool } from '../../pool/ip-pool.js'
import { seededBytes } from '../seeded.js'
import { pppSeeds } from './seeds.js'
import { FuzzPropertyError, type FuzzTarget } from './target.js'
import { runWire, wireActions, type Datagram, type WireAction, type WirePeer } from './wire.js'

const METHODS: Method[] = ['mschapv2', 'chap-md5', 'pap']

interface PppInput {
  method: number
  ipv6: boolean
  actions: WireAction[]
}


export const pppLinkTarget: FuzzTarget<PppInput> = {
  name: 'ppp-link',
  description: 'client <-> server PppLink (LCP, MS-CHAPv2/CHAP/PAP through LocalUsersAuthenticator, IPCP, IPV6CP) over an adversarial wire, recorded pppd frames injected; one auth request and one address at most, the link Dead and the address returned after the silence',
  arbitrary: () => fc.record({ method: fc.nat({ max: METHODS.length - 1 }), ipv6: fc.boolean(), actions: wireActions() }),
  async check(input) {
    const pool = new Ipv4Pool({ ranges: '192.168.42.10-192.168.42.20', gateway: '192.168.42.1' })
    const authenticator = new LocalUsersAuthenticator({ users: [{ user: 'alice', password: 'alice-pass-1' }], algorithms: pppAuthAlgorithms })
    const method = METHODS[input.method]!
    let clock = 0
    const server = new PppLink({
      role: 'server',
      authMethods: [method],
      localAddress: '192.168.42.1',
      dns: ['192.168.42.1'],
      peer: { address: '198.51.100.7', port: 4500 },
      ipv6: input.ipv6,
      random: seededBytes(1),
      assignAddress: (r) => {
        const a = pool.allocate({ user: r.user, now: clock, ...(r.requested ? { requested: r.requested } : {}) })
        return a.ok ? { ok: true, address: a.address } : { ok: false, reason: a.reason }
      },
    })
    const client = new PppLink({ role: 'client', user: 'alice', password: 'alice-pass-1', authMethods: [method], ipv6: input.ipv6, random: seededBytes(2) })
    let pendingAuth = 0
    const serverEvents = async (now: number) => {
      for (let e = server.pollEvent(); e; e = server.pollEvent()) {
        if (e.type === 'auth-request') {
          pendingAuth++
          if (pendingAuth > 1) throw new FuzzPropertyError(`${pendingAuth} authentication requests in flight on one link`)
          const result = await authenticator.authenticate(e.request)
          pendingAuth--
          server.authResult(e.id, result, now)
        } else if (e.type === 'down' && e.address) {
          pool.release(e.address, now)
        }
      }
    }
    const peer = (link: PppLink, isServer: boolean): WirePeer => ({
      async deliver(data, now) {
        clock = now
        link.receive(data, now)
        if (isServer) await serverEvents(now)
      },
      async tick(now) {
        clock = now
        link.handleTimeout(now)
        if (isServer) await serverEvents(now)
        return link.nextTimeout()
      },
      drain() {
        const out: Datagram[] = []
        for (let f = link.pollTransmit(); f; f = link.pollTransmit()) out.push({ data: f })
        if (!isServer) while (client.pollEvent());
        return out
      },
    })
    server.open(0)
    client.open(0)
    await serverEvents(0)
    await runWire(
      {
        client: peer(client, false),
        server: peer(server, true),
        seeds: pppSeeds(),
        horizon: 3600,
        invariant() {
          const used = pool.stats().used
          if (used > 1) throw new FuzzPropertyError(`one link holds ${used} addresses of the pool`)
        },
        settled() {
          if (server.phase !== 'Dead') throw new FuzzPropertyError(`after the silence the server link is in phase ${server.phase}`)
          if (pool.stats().used !== 0) throw new FuzzPropertyError(`after the silence ${pool.stats().used} address(es) are still taken`)
        },
      },
      input.actions,
    )
  },
  toJson: (i) => i,
  fromJson: (j) => j as PppInput,
}
