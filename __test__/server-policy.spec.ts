// Access policies end to end (zero trust): the server in one namespace, a
// host behind it on the inner network in a second, our L2tpClient in a
// third. What a session may reach comes from the user's `policies` in the
// configuration, the login callback, or `access` (default-deny); a denied
// packet is dropped in the data plane: a capture on the server's TUN
// device never sees it, the host never gets it, and the session's
// policyDenied, the data plane's policy_denied counter and the metric
// count it. Replies to allowed traffic come back (the policy filters what
// the client sends). A reload re-applies policies to live sessions.
// Needs root and dumpcap (tshark).
import test from 'ava'
import { fileURLToPath } from 'node:url'
import { L2tpClientError } from '../lib/client/l2tp-client.js'
import { createServerMetrics } from '../lib/metrics/index.js'
import type { L2tpServerOptions } from '../lib/server/l2tp-server.js'
import { createHostBehind, HOST_BEHIND, HOST_BEHIND_NET, type HostBehind } from '../lib/testing/host-behind.js'
import { RIG_USERS } from '../lib/testing/vpn-rig.js'
import { pingAsync, runNode } from './helpers/netns-run.js'
import { ipv4Summary, startCapture } from './helpers/tun-capture.js'
import { createRig, GATEWAY, type Rig } from './helpers/vpn-rig.js'

const UDP_SEND = fileURLToPath(new URL('./helpers/udp-send.mjs', import.meta.url))
const UDP_COUNT = fileURLToPath(new URL('./helpers/udp-count.mjs', import.meta.url))
const SERVER_TUN = 'l2tps0'
const HOST_ICMP = { 'host-icmp': { rules: [{ action: 'allow' as const, destination: HOST_BEHIND, protocol: 'icmp' as const }] } }

async function policyRig(t: Parameters<typeof createRig>[0], tag: string, overrides: Partial<L2tpServerOptions>): Promise<{ rig: Rig; host: HostBehind }> {
  const rig = await createRig(t, tag, overrides)
  const host = createHostBehind(rig.net.a, tag)
  t.teardown(() => host.cleanup())
  return { rig, host }
}

/** Sends `count` UDP datagrams from the client namespace. */
async function sendUdp(rig: Rig, address: string, port: number, count: number): Promise<void> {
  await runNode(rig.net.b, [UDP_SEND, address, String(port), '0', ...Array.from({ length: count }, (_, i) => Buffer.from(`policy-${i}`).toString('hex'))])
}

/** Counts UDP datagrams reaching the host behind the server on `port` while `during` runs. */
async function countAtHost(host: HostBehind, port: number, during: () => Promise<void>): Promise<number> {
  let ready: () => void = () => {}
  const listening = new Promise<void>((r) => (ready = r))
  const counted = runNode(host.ns, [UDP_COUNT, '0.0.0.0', String(port), '3'], (line) => line === 'listening' && ready())
  await listening
  await during()
  return Number((await counted).trim().split('\n').pop())
}

function metricValue(exposition: string, sample: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${sample} `))
  return line === undefined ? undefined : Number(line.slice(sample.length + 1))
}

test.serial("default-deny: the user's policy allows ICMP to the host behind, replies return; what it does not allow never reaches the TUN and is counted; a user without a policy reaches nothing", async (t) => {
  const { rig } = await policyRig(t, 'pdeny', {
    access: { default: 'deny' },
    policies: HOST_ICMP,
    users: [{ ...RIG_USERS[0]!, policies: ['host-icmp'] }, RIG_USERS[1]!],
  })
  const metrics = createServerMetrics(rig.server)
  t.teardown(() => metrics.stop())
  const alice = await rig.client({ routes: [HOST_BEHIND_NET] }).connect()
  const capture = await startCapture(rig.net.a, SERVER_TUN, rig.tempDir)

  const ping = await pingAsync(rig.net.b, HOST_BEHIND, 3, ['-I', alice.tun])
  t.is(ping.received, 3, `allowed: echo requests out, replies back\n${ping.output}`)
  await sendUdp(rig, HOST_BEHIND, 9999, 5)
  t.is((await pingAsync(rig.net.b, GATEWAY, 2, ['-I', alice.tun])).received, 0, 'the gateway is not in the policy')

  const bob = await rig.client({ user: 'bob', password: 'bob-pass-2', routes: [HOST_BEHIND_NET] }).connect()
  t.is((await pingAsync(rig.net.b, HOST_BEHIND, 2, ['-I', bob.tun])).received, 0, 'no policy: default deny')

  const frames = (await capture.stop()).map((f) => ipv4Summary(f.data)).filter((f) => f !== undefined)
  const fromAlice = frames.filter((f) => f.src === alice.address)
  t.is(fromAlice.filter((f) => f.protocol === 1 && f.dst === HOST_BEHIND).length, 3, 'the allowed echo requests crossed the TUN')
  t.deepEqual(fromAlice.filter((f) => f.protocol === 17 || f.dst === GATEWAY), [], 'no denied packet from alice on the TUN')
  t.deepEqual(frames.filter((f) => f.src === bob.address), [], 'nothing at all from bob on the TUN')
  t.is(frames.filter((f) => f.protocol === 1 && f.dst === alice.address).length, 3, 'the replies went back through the TUN')

  const sessions = new Map(rig.server.sessions().map((s) => [s.user, s]))
  t.is(sessions.get('alice')?.policyDenied, 5 + 2, '5 UDP datagrams and 2 echo requests to the gateway')
  t.is(sessions.get('bob')?.policyDenied, 2)
  t.is(rig.server.status().counters?.['policy_denied'], 9)
  t.is(metricValue(await metrics.metrics(), 'l2tp_ipsec_dataplane_packets_total{counter="policy_denied"}'), 9)
  t.deepEqual(rig.seen.errors, [])
})

test.serial('the login callback names a policy or brings its own rules; a policy name that is not configured refuses the login', async (t) => {
  const secrets: Record<string, { password: string; policy: { policies?: string[]; allow?: { action: 'allow'; destination: string; protocol: 'udp'; ports: [number, number] }[] } }> = {
    carol: { password: 'carol-pass-3', policy: { policies: ['host-icmp'] } },
    dave: { password: 'dave-pass-4', policy: { allow: [{ action: 'allow', destination: HOST_BEHIND, protocol: 'udp', ports: [9000, 9000] }] } },
    erin: { password: 'erin-pass-5', policy: { policies: ['no-such-policy'] } },
  }
  const { rig, host } = await policyRig(t, 'pcb', {
    access: { default: 'deny' },
    policies: HOST_ICMP,
    authenticate: (request) => {
      const entry = secrets[request.user]
      return entry ? { password: entry.password, policy: entry.policy } : { accept: false }
    },
  })
  const carol = await rig.client({ user: 'carol', password: 'carol-pass-3', routes: [HOST_BEHIND_NET] }).connect()
  t.is((await pingAsync(rig.net.b, HOST_BEHIND, 3, ['-I', carol.tun])).received, 3, "carol: the callback's policy name")

  await rig.client({ user: 'dave', password: 'dave-pass-4', routes: [HOST_BEHIND_NET] }).connect()
  t.is(await countAtHost(host, 9000, () => sendUdp(rig, HOST_BEHIND, 9000, 4)), 4, "dave: the callback's own rule lets UDP 9000 through")
  t.is(await countAtHost(host, 9001, () => sendUdp(rig, HOST_BEHIND, 9001, 4)), 0, 'and nothing else')
  const dave = rig.server.sessions().find((s) => s.user === 'dave')!
  t.is(dave.policyDenied, 4)

  const erin = rig.client({ user: 'erin', password: 'erin-pass-5', routes: [HOST_BEHIND_NET] })
  const error = await t.throwsAsync(erin.connect(), { instanceOf: L2tpClientError })
  t.is(error?.code, 'CLIENT_AUTH_FAILED', error?.message)
  t.true(rig.seen.authFailures.some((f) => f.user === 'erin' && f.reason === 'callback-error'), JSON.stringify(rig.seen.authFailures))
})

test.serial('a reload re-applies policies to live sessions: default-deny closes, a policy opens, the session stays', async (t) => {
  const base: Partial<L2tpServerOptions> = { policies: HOST_ICMP }
  const { rig } = await policyRig(t, 'prel', base)
  const up = await rig.client({ routes: [HOST_BEHIND_NET] }).connect()
  const [session] = rig.server.sessions()
  t.is((await pingAsync(rig.net.b, HOST_BEHIND, 2, ['-I', up.tun])).received, 2, 'access.default allow: unfiltered')

  const options = (extra: Partial<L2tpServerOptions>) => ({ ...rig.server.config, ...extra }) as L2tpServerOptions
  const closed = rig.server.reload(options({ access: { default: 'deny', policies: [] } }))
  t.deepEqual(closed, { changed: ['access'], kicked: 0 })
  t.is((await pingAsync(rig.net.b, HOST_BEHIND, 2, ['-I', up.tun])).received, 0, 'default-deny now')

  const opened = rig.server.reload(options({ access: { default: 'deny', policies: [] }, users: [{ ...RIG_USERS[0]!, policies: ['host-icmp'] }, RIG_USERS[1]!] }))
  t.deepEqual(opened, { changed: ['users'], kicked: 0 })
  t.is((await pingAsync(rig.net.b, HOST_BEHIND, 2, ['-I', up.tun])).received, 2, "the user's policy now")
  t.is((await pingAsync(rig.net.b, GATEWAY, 1, ['-I', up.tun])).received, 0, 'and only it')

  const after = rig.server.sessions()
  t.is(after.length, 1)
  t.is(after[0]!.id, session!.id, 'the same session throughout')
  t.is(after[0]!.policyDenied, 2 + 1, 'counted across reinstalls')
  t.deepEqual(rig.seen.down, [])
})
