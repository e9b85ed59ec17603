// TUN and UDP offloads of the data plane, end to end between two network
// namespaces: TCP through the tunnel is read from TUN as super-packets and
// cut (TSO), sealed datagrams go out in UDP_SEGMENT runs and arrive as
// UDP_GRO runs, and segments are joined again before the TUN write; every
// byte checked. With L2TP_IPSEC_NO_OFFLOAD=all the plain path (one packet
// per read, write and datagram) moves the same bytes.
import test from 'ava'
import { CLIENT_INNER, createDataplanePair, SERVER_INNER, type DataplanePair } from '../lib/testing/dataplane-pair.js'
import { tcpTransfer } from './helpers/netns-run.js'

function pair(t: { teardown: (fn: () => void) => void }, noOffload?: string): DataplanePair {
  // Read once when a data plane opens; set only around the constructor.
  if (noOffload) process.env.L2TP_IPSEC_NO_OFFLOAD = noOffload
  try {
    const p = createDataplanePair('off', { suite: 'aes128gcm-16' })
    t.teardown(p.close)
    return p
  } finally {
    delete process.env.L2TP_IPSEC_NO_OFFLOAD
  }
}

type Counters = Record<string, number | undefined>
const n = (c: Counters, name: string) => c[name] ?? 0
const MB = 1024 * 1024

test.serial('TCP through the tunnel uses TSO from TUN, UDP GSO/GRO and coalesced TUN writes; every byte arrives', async (t) => {
  const { net, server, client } = pair(t)

  const up = await tcpTransfer(net.b, net.a, SERVER_INNER, 5101, 40 * MB, 'offload-up')
  t.is(up.received, up.sent, 'client -> server: same count and SHA-256')
  const down = await tcpTransfer(net.a, net.b, CLIENT_INNER, 5102, 40 * MB, 'offload-down')
  t.is(down.received, down.sent, 'server -> client: same count and SHA-256')
  const v6 = await tcpTransfer(net.b, net.a, 'fd00:77::1', 5103, 10 * MB, 'offload-v6')
  t.is(v6.received, v6.sent, 'IPv6 client -> server')

  const s = server.dp.stats().counters as Counters
  const c = client.dp.stats().counters as Counters
  for (const [side, k] of [['server', s], ['client', c]] as const) {
    // Both ends sent TCP data (one direction each) and received it.
    t.true(n(k, 'tun_gso_reads') > 0, `${side}: TCP super-packets read from TUN`)
    t.true(n(k, 'tun_gso_writes') > 0, `${side}: coalesced super-packets written to TUN`)
    t.true(n(k, 'tun_out') / n(k, 'tun_write_calls') > 2, `${side}: ${n(k, 'tun_out')} packets in ${n(k, 'tun_write_calls')} TUN writes`)
    t.true(n(k, 'esp_out') / n(k, 'udp_send_calls') > 2, `${side}: ${n(k, 'esp_out')} datagrams in ${n(k, 'udp_send_calls')} send calls`)
    t.true(n(k, 'esp_in') / n(k, 'udp_recv_calls') > 2, `${side}: ${n(k, 'esp_in')} datagrams in ${n(k, 'udp_recv_calls')} receive calls`)
    for (const bad of ['tun_malformed', 'tun_write_failed', 'send_failed', 'esp_icv_failures', 'esp_replays', 'ip_malformed']) t.is(n(k, bad), 0, `${side}: ${bad}`)
  }
  // Every segment cut from a super-packet was sealed as its own ESP packet
  // and counted as a TUN packet in.
  t.true(n(c, 'tun_in') > n(c, 'tun_read_calls'))
})

test.serial('with L2TP_IPSEC_NO_OFFLOAD=all the plain path moves the same bytes, one packet per call on the TUN side', async (t) => {
  const { net, server, client } = pair(t, 'all')
  const up = await tcpTransfer(net.b, net.a, SERVER_INNER, 5111, 20 * MB, 'plain-up')
  t.is(up.received, up.sent)
  const down = await tcpTransfer(net.a, net.b, CLIENT_INNER, 5112, 20 * MB, 'plain-down')
  t.is(down.received, down.sent)
  for (const [side, k] of [['server', server.dp.stats().counters as Counters], ['client', client.dp.stats().counters as Counters]] as const) {
    t.is(n(k, 'tun_gso_reads'), 0, `${side}: no super-packets`)
    t.is(n(k, 'tun_gso_writes'), 0, `${side}: no coalescing`)
    t.is(n(k, 'tun_write_calls'), n(k, 'tun_out'), `${side}: one write per packet`)
    t.true(n(k, 'tun_read_calls') >= n(k, 'tun_in'), `${side}: one read per packet`)
    t.is(n(k, 'tun_malformed'), 0)
  }
})
