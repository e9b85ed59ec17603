// A server (L2tpServer) in namespace S and L2tpClients in namespace C behind
// a masquerading router R (createNatTopology): the real stack through a
// real Linux NAT. R counts what C sends to UDP 500, UDP 4500 and as raw ESP,
// and its conntrack table shows which public port each client socket got.
// Everything is torn down in t.teardown.
import type { L2tpClient, L2tpClientOptions } from '../../lib/client/l2tp-client.js'
import type { L2tpServer, L2tpServerOptions } from '../../lib/server/l2tp-server.js'
import { createNatTopology, NFT, type NatTopology } from '../../lib/testing/netns.js'
import { until, within } from './netns-run.js'
import type { Teardown } from './vpn-rig.js'
import { serverIdle, startVpnRig, type ServerRecord } from '../../lib/testing/vpn-rig.js'

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

export async function createNatRig(t: Teardown, tag: string, overrides: Partial<L2tpServerOptions> = {}): Promise<NatRig> {
  const net = createNatTopology(tag, { natPorts: `${NAT_PORTS.first}-${NAT_PORTS.last}` })
  let close = async () => {}
  t.teardown(async () => {
    // The namespaces go even when closing hangs or throws.
    try {
      await within(close(), 30_000)
    } finally {
      net.cleanup()
    }
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
  const rig = await startVpnRig({ serverAddress: net.serverAddr, serverNetns: net.path(net.server), clientAddress: net.clientAddr, clientNetns: net.path(net.client), tunPrefix: 'l2tpn' }, overrides)
  close = rig.close
  const counter = (name: string): number => {
    const json = JSON.parse(net.exec(net.router, [NFT, '-j', 'list', 'counter', 'ip', 'watch', name])) as { nftables: { counter?: { packets: number } }[] }
    return json.nftables.find((x) => x.counter)?.counter?.packets ?? -1
  }
  return {
    net,
    server: rig.server,
    seen: rig.seen,
    client: rig.client,
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
    idle: () => until(() => serverIdle(rig.server.status()), 10_000),
  }
}
