// A server (L2tpServer) in namespace S and L2tpClients in namespace C behind
// a masquerading router R (createNatTopology): the real stack through a
// real Linux NAT. R counts what C sends to UDP 500, UDP 4500 and as raw ESP,
// and its conntrack table shows which public port each client socket got.
// Everything is torn down in t.teardown.
import { L2tpClient, type L2tpClientOptions } from '../../lib/client/l2tp-client.js'
import { L2tpServer, type L2tpServerOptions } from '../../lib/server/l2tp-server.js'
import { createNatTopology, NFT, type NatTopology } from '../../lib/testing/netns.js'
import { until } from './netns-run.js'
import { GATEWAY, PSK, type ServerRecord } from './vpn-rig.js'

/** R maps UDP source ports into this range, so a mapped port never equals the port a client bound. */
export const NAT_PORTS = { first: 20000, last: 29999 }

export interface NatMapping {
  /** The client's own address and port, and where it sent to. */
  source: string
  sourcePort: number
  destinationPort: number
  /** What the server sees: R's public address and the mapped port. */
  mappedAddress: string
  mappedPort: number
}

export interface NatRig {
  net: NatTopology
  server: L2tpServer
  seen: ServerRecord
  /** A client in C, bound to C's private address; TUN devices l2tpn0, l2tpn1, ... */
  client(options?: Partial<L2tpClientOptions>): L2tpClient
  /** Packets R forwarded from C: to UDP 500, to UDP 4500, raw ESP (IP protocol 50). */
  routerCounters(): { ike: number; natt: number; esp: number }
  /** R's UDP conntrack entries from C to the server. */
  natMappings(): NatMapping[]
  idle(): Promise<boolean>
}

interface Teardown {
  teardown: (fn: () => void | Promise<void>) => void
}

export async function createNatRig(t: Teardown, tag: string, overrides: Partial<L2tpServerOptions> = {}): Promise<NatRig> {
  const net = createNatTopology(tag, { natPorts: `${NAT_PORTS.first}-${NAT_PORTS.last}` })
  const clients: L2tpClient[] = []
  let server: L2tpServer | undefined
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})))
    await server?.close().catch(() => {})
    net.cleanup()
  })
  const from = `iifname "${net.routerPrivateDev}" ip saddr ${net.clientAddr} ip daddr ${net.serverAddr}`
  net.exec(net.router, [NFT, '-f', '-'], {
    input: [
      'table ip watch {',
      '  counter ike { }',
      '  counter natt { }',
      '  counter raw_esp { }',
      '  chain counting {',
      '    type filter hook forward priority 0; policy accept;',
      `    ${from} udp dport 500 counter name "ike"`,
      `    ${from} udp dport 4500 counter name "natt"`,
      `    ${from} ip protocol esp counter name "raw_esp"`,
      '  }',
      '}',
      '',
    ].join('\n'),
  })
  server = new L2tpServer({
    listen: { address: net.serverAddr },
    ipsec: { psk: PSK },
    pool: { range: '192.168.42.10-192.168.42.250', gateway: GATEWAY },
    users: [
      { name: 'alice', password: 'alice-pass-1' },
      { name: 'bob', password: 'bob-pass-2' },
    ],
    tun: { name: 'l2tps0' },
    dataplane: { netns: net.path(net.server), workers: 1 },
    ...overrides,
  })
  const seen: ServerRecord = { up: [], down: [], authFailures: [], refused: [], ikeUp: [], ikeDown: [], errors: [] }
  server.on('session-up', (e) => seen.up.push(e))
  server.on('session-down', (e) => seen.down.push(e))
  server.on('auth-failure', (e) => seen.authFailures.push(e))
  server.on('session-refused', (e) => seen.refused.push(e))
  server.on('ike-sa-up', (e) => seen.ikeUp.push(e))
  server.on('ike-sa-down', (e) => seen.ikeDown.push(e))
  server.on('error', (e) => seen.errors.push(e))
  await server.listen()
  const s = server
  let tuns = 0
  const counter = (name: string): number => {
    const json = JSON.parse(net.exec(net.router, [NFT, '-j', 'list', 'counter', 'ip', 'watch', name])) as { nftables: { counter?: { packets: number } }[] }
    return json.nftables.find((x) => x.counter)?.counter?.packets ?? -1
  }
  return {
    net,
    server: s,
    seen,
    client(options = {}) {
      const c = new L2tpClient({
        server: net.serverAddr,
        psk: PSK,
        user: 'alice',
        password: 'alice-pass-1',
        local: { address: net.clientAddr },
        netns: net.path(net.client),
        tun: { name: `l2tpn${tuns++}` },
        reconnect: false,
        connectTimeout: 20,
        ike: { retransmitInterval: 0.5, retransmitTries: 3 },
        ...options,
      })
      clients.push(c)
      return c
    },
    routerCounters: () => ({ ike: counter('ike'), natt: counter('natt'), esp: counter('raw_esp') }),
    natMappings() {
      const out: NatMapping[] = []
      for (const line of net.exec(net.router, ['cat', '/proc/net/nf_conntrack']).split('\n')) {
        const m = /\budp\b.*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) .*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/.exec(line)
        if (!m || m[1] !== net.clientAddr || m[2] !== net.serverAddr) continue
        out.push({ source: m[1], sourcePort: Number(m[3]), destinationPort: Number(m[4]), mappedAddress: m[6]!, mappedPort: Number(m[8]) })
      }
      return out
    },
    idle: () =>
      until(() => {
        const st = s.status()
        const ike = st.ike as { ikeSas?: number } | undefined
        return st.sessions === 0 && st.bindings === 0 && st.dataplane?.sas === 0 && st.dataplane.sessions === 0 && st.pool?.used === 0 && (ike?.ikeSas ?? 0) === 0 && (st.l2tp as { tunnels?: number } | undefined)?.tunnels === 0
      }, 10_000),
  }
}
