// The server hands LCP keepalive to its data plane once a session is up
// (issue #9): with L2tpServer and L2tpClient end to end (both echoing every
// second), echoes flow both ways while the server's JS sees no PPP control
// frame at all, IKE Dead Peer Detection stays quiet because the natively
// answered echoes still prove the peer alive, and a client that vanishes
// is taken down with 'echo timeout' by the data plane's keepalive. Needs root.
import test from 'ava'
import { sleep, until } from './helpers/netns-run.js'
import { createRig, PSK } from './helpers/vpn-rig.js'

test.serial("echoes flow both ways through the data plane, none reaches the server's JS, DPD stays quiet; a vanished client ends with 'echo timeout'", async (t) => {
  // DPD after 8 s without news of the peer: longer than the 5 s counter refresh that carries the keepalive's news.
  const rig = await createRig(t, 'kal', { ppp: { echoInterval: 1, echoFailures: 3 }, ipsec: { psk: PSK, dpdDelay: 8, dpdTimeout: 5 } })
  // The client's TUN without IPv6: the kernel's Router Solicitations would go up to the server's JS as PPP frames too.
  rig.net.exec(rig.net.b, ['sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'])
  const client = rig.client({ ppp: { echoInterval: 1, echoFailures: 3 }, ike: { dpdDelay: 0 } })
  const downs: string[] = []
  client.on('down', (d) => downs.push(d.reason))
  const up = await client.connect()
  const counters = () => rig.server.status().counters!
  // The server's first echo goes an interval after LCP opened: let setup's frames settle first.
  await sleep(1500)
  const before = counters()
  await sleep(12_000)
  const after = counters()
  const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0)
  const shown = JSON.stringify(Object.fromEntries(['ppp_control_in', 'ppp_control_out', 'lcp_echo_requests_in', 'lcp_echo_replies_out', 'lcp_echo_requests_out', 'lcp_echo_replies_in', 'ike_in', 'ike_out'].map((k) => [k, delta(k)])))
  t.is(delta('ppp_control_in'), 0, `no PPP control frame went up to the server's JS: ${shown}`)
  t.is(delta('ppp_control_out'), 0, `and none came down from it: ${shown}`)
  t.true(delta('lcp_echo_requests_in') >= 8 && delta('lcp_echo_replies_out') === delta('lcp_echo_requests_in'), `the client's echoes answered by the data plane: ${shown}`)
  t.true(delta('lcp_echo_requests_out') >= 8 && delta('lcp_echo_replies_in') >= delta('lcp_echo_requests_out') - 1, `the server's echoes answered by the client: ${shown}`)
  t.is(delta('ike_out'), 0, `no R-U-THERE: the echoes kept the IKE SA alive: ${shown}`)
  t.is(rig.server.sessions().length, 1)
  t.deepEqual(rig.seen.down, [])
  t.deepEqual(downs, [])

  // The client's host drops off the network: the data plane's echoes go unanswered.
  const timeouts = counters().lcp_echo_timeouts ?? 0
  rig.net.exec(rig.net.b, ['ip', 'link', 'set', 'dev', rig.net.vethB, 'down'])
  t.true(await until(() => rig.seen.down.length === 1, 15_000), 'session ended')
  t.is(rig.seen.down[0]!.reason, 'lcp-echo-timeout')
  t.is(rig.seen.down[0]!.detail, 'echo timeout')
  t.is(rig.seen.down[0]!.address, up.address)
  t.is((counters().lcp_echo_timeouts ?? 0) - timeouts, 1, "the data plane's keepalive found the peer gone")
  t.is(rig.server.status().pool?.used, 0, 'address back in the pool')
})
