// L2tpServer with RADIUS, end to end: the server in one network namespace
// (its data plane), clients in another, and a real FreeRADIUS 3 on the
// host's 127.0.0.1 (the server's RADIUS and DAE sockets live in the host
// namespace; nothing leaves loopback or the test's namespaces). Users known
// only to RADIUS log in with MS-CHAPv2 and PAP, get the Framed-IP-Address,
// are accounted (Start / Interim / Stop in the detail file, with Class and
// byte counts), are disconnected by radclient (Acct-Session-Id, User-Name),
// end at RADIUS's Session-Timeout, have their Filter-Id policy and timeouts
// changed by CoA; two gateways share one FreeRADIUS. Needs root.
import test from 'ava'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { L2tpClientError } from '../lib/client/l2tp-client.js'
import type { L2tpServerOptions } from '../lib/server/l2tp-server.js'
import { FreeRadius, freeUdpPorts, radclient, type DetailRecord } from './helpers/freeradius.js'
import { fileURLToPath } from 'node:url'
import { pingAsync, runNode, tcpTransfer, until } from './helpers/netns-run.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'

const SECRET = 'radius-e2e-secret-10'
const UDP_SEND = fileURLToPath(new URL('./helpers/udp-send.mjs', import.meta.url))
const CLASS = Buffer.from('e2e-class-ms')
const MB = 1024 * 1024

let fr: FreeRadius | undefined

test.before(async () => {
  fr = await FreeRadius.start({
    secret: SECRET,
    users: [
      { name: 'rad-ms', password: 'ms-pass-radius', reply: { 'Framed-IP-Address': '192.168.42.77', Class: `0x${CLASS.toString('hex')}`, 'Acct-Interim-Interval': '2', 'Framed-MTU': '1300' } },
      { name: 'rad-pap', password: 'pap-pass-radius' },
      { name: 'rad-short', password: 'short-pass-radius', reply: { 'Session-Timeout': '3' } },
      { name: 'rad-filtered', password: 'filter-pass-radius', reply: { 'Filter-Id': '"no-gateway-ping"' } },
      { name: 'rad-unknown-filter', password: 'unknown-pass-radius', reply: { 'Filter-Id': '"nonexistent"' } },
      { name: 'rad-gw-icmp', password: 'gwicmp-pass-radius', reply: { 'Filter-Id': '"gw-icmp"' } },
    ],
  })
})

test.after.always(async () => {
  await fr?.close()
})

interface RadiusRig {
  rig: Awaited<ReturnType<typeof createRig>>
  daePort: number
}

/** A server with RADIUS (auth, accounting to the detail file, DAE on 127.0.0.1) in its own namespaces. */
async function radiusRig(t: Parameters<typeof createRig>[0], tag: string, gatewayId: string, extra: Partial<L2tpServerOptions> = {}): Promise<RadiusRig> {
  const queueDir = mkdtempSync(join(tmpdir(), 'l2tp-radius-'))
  t.teardown(() => rmSync(queueDir, { recursive: true, force: true }))
  const [daePort] = await freeUdpPorts(1)
  const rig = await createRig(t, tag, {
    radius: {
      servers: [{ host: '127.0.0.1', port: fr!.authPort, secret: SECRET, timeout: 1, retries: 2 }],
      accounting: { servers: [{ host: '127.0.0.1', port: fr!.acctPort, secret: SECRET, timeout: 1 }], queueFile: join(queueDir, 'acct.queue') },
      nas: { identifier: gatewayId },
      // no secret: the one of the servers entry with host 127.0.0.1
      dae: { listen: `127.0.0.1:${daePort}`, clients: [{ address: '127.0.0.1' }] },
      gatewayId,
    },
    policies: {
      'no-gateway-ping': { default: 'allow', rules: [{ action: 'deny', destination: GATEWAY, protocol: 'icmp' }] },
      open: {},
      'gw-icmp': { rules: [{ action: 'allow', destination: GATEWAY, protocol: 'icmp' }] },
    },
    ...extra,
  })
  return { rig, daePort: daePort! }
}

/** The detail records matching `where`, polled until `done` says they are all there. */
async function records(where: (r: DetailRecord) => boolean, done: (found: DetailRecord[]) => boolean, timeoutMs = 10_000): Promise<DetailRecord[]> {
  let found: DetailRecord[] = []
  await until(() => {
    found = fr!.detail().filter(where)
    return done(found)
  }, timeoutMs)
  return found
}

const ofSession = (id: string) => (r: DetailRecord) => r['Acct-Session-Id'] === id
const kinds = (found: DetailRecord[]) => found.map((r) => r['Acct-Status-Type'])

function dae(port: number, command: 'disconnect' | 'coa', attributes: Record<string, string>) {
  const text = Object.entries({ ...attributes, 'Message-Authenticator': '0x00' }).map(([k, v]) => `${k} = ${v}`).join('\n')
  return radclient(['-x', '-r', '2', '-t', '2', `127.0.0.1:${port}`, command, SECRET], `${text}\n`)
}

test.serial('MS-CHAPv2, user known only to RADIUS: Framed-IP-Address, Start/Interim/Stop with Class and byte counts, Disconnect-Request by Acct-Session-Id', async (t) => {
  const { rig, daePort } = await radiusRig(t, 'rms', 'gw-ms')
  const client = rig.client({ user: 'rad-ms', password: 'ms-pass-radius' })
  const downs: string[] = []
  client.on('down', (d) => downs.push(d.reason))
  const up = await client.connect()
  t.is(up.authMethod, 'mschapv2')
  t.is(up.address, '192.168.42.77', 'Framed-IP-Address from FreeRADIUS')
  t.is(rig.seen.up[0]!.user, 'rad-ms')

  const [start] = await records((r) => r['User-Name'] === 'rad-ms' && r['NAS-Identifier'] === 'gw-ms', (f) => f.length >= 1)
  t.truthy(start, fr!.output.slice(-2000))
  const acctSessionId = start!['Acct-Session-Id']!
  t.regex(acctSessionId, /^gw-ms-[0-9a-f]{16}$/)
  t.is(start!['Acct-Status-Type'], 'Start')
  t.is(start!['Framed-IP-Address'], '192.168.42.77')
  t.is(start!['Class'], `0x${CLASS.toString('hex')}`)
  t.is(start!['Acct-Authentic'], 'RADIUS')
  t.is(start!['Calling-Station-Id'], rig.net.addrB)

  const ping = await pingAsync(rig.net.b, GATEWAY, 10)
  t.is(ping.received, 10, ping.output)
  const transfer = await tcpTransfer(rig.net.b, rig.net.a, GATEWAY, 5002, MB, 'radius-e2e')
  t.is(transfer.received, transfer.sent)
  // Acct-Interim-Interval 2 from the Accept
  const interims = await records(ofSession(acctSessionId), (f) => kinds(f).filter((k) => k === 'Interim-Update').length >= 2)
  t.true(kinds(interims).filter((k) => k === 'Interim-Update').length >= 2, JSON.stringify(kinds(interims)))

  const { output } = await dae(daePort, 'disconnect', { 'Acct-Session-Id': `"${acctSessionId}"` })
  t.regex(output, /Received Disconnect-ACK/, output)
  t.true(await until(() => downs.length > 0, 10_000), 'the client saw its session end')
  t.true(await until(() => rig.seen.down.length > 0, 10_000))
  t.is(rig.seen.down[0]!.reason, 'radius-disconnect')
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))

  const all = await records(ofSession(acctSessionId), (f) => kinds(f).includes('Stop'))
  const stop = all.find((r) => r['Acct-Status-Type'] === 'Stop')!
  t.truthy(stop, JSON.stringify(kinds(all)))
  t.is(stop['Acct-Terminate-Cause'], 'Admin-Reset')
  t.is(stop['Class'], `0x${CLASS.toString('hex')}`)
  t.true(Number(stop['Acct-Input-Octets']) >= MB + 10 * 84, `input octets ${stop['Acct-Input-Octets']}`)
  t.true(Number(stop['Acct-Input-Packets']) >= 10 + MB / 1400, `input packets ${stop['Acct-Input-Packets']}`)
  t.true(Number(stop['Acct-Output-Octets']) >= 10 * 84, `output octets ${stop['Acct-Output-Octets']}`)
  t.true(Number(stop['Acct-Output-Packets']) >= 10)
  t.is(Number(stop['Acct-Input-Octets']), rig.seen.down[0]!.rxBytes)
  t.is(Number(stop['Acct-Output-Octets']), rig.seen.down[0]!.txBytes)
  // the interim updates never count more than the Stop
  for (const r of all.filter((x) => x['Acct-Status-Type'] === 'Interim-Update')) t.true(Number(r['Acct-Input-Octets']) <= Number(stop['Acct-Input-Octets']))

  const again = await dae(daePort, 'disconnect', { 'Acct-Session-Id': `"${acctSessionId}"` })
  t.regex(again.output, /Received Disconnect-NAK/, 'a session that is gone is not found')
  t.deepEqual(rig.seen.errors, [])
})

test.serial('PAP user known only to RADIUS, a local user still local, a RADIUS reject refused with auth-failure, Disconnect-Request by User-Name', async (t) => {
  const { rig, daePort } = await radiusRig(t, 'rpap', 'gw-pap')
  // another user: the limiter would hold back the next attempt of this one for a moment
  const bad = rig.client({ user: 'rad-short', password: 'not-the-password', auth: ['pap'] })
  const error = await t.throwsAsync(bad.connect(), { instanceOf: L2tpClientError })
  t.is(error?.code, 'CLIENT_AUTH_FAILED', error?.message)
  t.is(rig.seen.authFailures[0]?.reason, 'rejected')
  t.is(rig.seen.authFailures[0]?.user, 'rad-short')
  await bad.close()

  const client = rig.client({ user: 'rad-pap', password: 'pap-pass-radius', auth: ['pap'] })
  const downs: string[] = []
  client.on('down', (d) => downs.push(d.reason))
  const up = await client.connect()
  t.is(up.authMethod, 'pap')
  t.regex(up.address, /^192\.168\.42\.\d+$/)
  const local = rig.client() // alice, a local user
  await local.connect()
  const [localStart] = await records((r) => r['User-Name'] === 'alice' && r['NAS-Identifier'] === 'gw-pap', (f) => f.length >= 1)
  t.is(localStart?.['Acct-Authentic'], 'Local', 'local users are accounted too')

  const { output } = await dae(daePort, 'disconnect', { 'User-Name': '"rad-pap"' })
  t.regex(output, /Received Disconnect-ACK/, output)
  t.true(await until(() => downs.length > 0, 10_000), 'the client saw its session end')
  t.true(await until(() => rig.seen.down.length === 1, 10_000))
  t.is(rig.seen.down[0]!.user, 'rad-pap')
  t.is(rig.seen.down[0]!.reason, 'radius-disconnect')
  t.is(rig.server.sessions().length, 1, 'alice is untouched')
  t.is(rig.server.sessions()[0]!.user, 'alice')

  const unknown = rig.client({ user: 'rad-unknown-filter', password: 'unknown-pass-radius', auth: ['pap'] })
  await t.throwsAsync(unknown.connect(), { instanceOf: L2tpClientError })
  t.true(rig.seen.authFailures.some((f) => f.user === 'rad-unknown-filter' && f.reason === 'callback-error'), 'an Accept naming an unknown policy is refused')
})

test.serial('Session-Timeout from RADIUS ends the session with session-timeout (Stop says Session-Timeout)', async (t) => {
  const { rig } = await radiusRig(t, 'rst', 'gw-st', { ppp: { sessionTimeout: 3600 } })
  const client = rig.client({ user: 'rad-short', password: 'short-pass-radius' })
  const downs: string[] = []
  client.on('down', (d) => downs.push(d.reason))
  await client.connect()
  const upAt = Date.now()
  t.true(await until(() => rig.seen.down.length > 0, 15_000), 'session ended')
  const took = Date.now() - upAt
  t.is(rig.seen.down[0]!.reason, 'session-timeout')
  t.true(took >= 2000 && took < 9000, `ended after ${took} ms (Session-Timeout 3 s, over ppp.sessionTimeout 3600)`)
  t.true(await until(() => downs.length > 0, 10_000), 'the client saw its session end')
  const found = await records((r) => r['User-Name'] === 'rad-short' && r['NAS-Identifier'] === 'gw-st', (f) => kinds(f).includes('Stop'))
  t.is(found.find((r) => r['Acct-Status-Type'] === 'Stop')?.['Acct-Terminate-Cause'], 'Session-Timeout')
})

test.serial('Filter-Id picks a data-plane policy; CoA changes it (Filter-Id) and the Session-Timeout', async (t) => {
  const { rig, daePort } = await radiusRig(t, 'rcoa', 'gw-coa')
  const client = rig.client({ user: 'rad-filtered', password: 'filter-pass-radius' })
  await client.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 0, 'no-gateway-ping denies ICMP to the gateway')
  const [session] = rig.server.sessions()
  const before = session!.rxPackets

  const coa = await dae(daePort, 'coa', { 'User-Name': '"rad-filtered"', 'Filter-Id': '"open"', 'Session-Timeout': '2' })
  t.regex(coa.output, /Received CoA-ACK/, coa.output)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3, 'the CoA opened it')
  t.true(rig.server.sessions()[0]!.rxPackets >= before + 3, 'counters survive the policy change')
  t.true(await until(() => rig.seen.down.length > 0, 10_000), 'the CoA Session-Timeout ended it')
  t.is(rig.seen.down[0]!.reason, 'session-timeout')

  const nak = await dae(daePort, 'coa', { 'User-Name': '"rad-filtered"', 'Filter-Id': '"open"' })
  t.regex(nak.output, /Received CoA-NAK/, 'no session left to change')
})

test.serial('default-deny: a RADIUS user without Filter-Id reaches nothing, one whose Filter-Id names a policy reaches what it allows; drops counted', async (t) => {
  const { rig } = await radiusRig(t, 'rdeny', 'gw-deny', { access: { default: 'deny' } })
  const plain = await rig.client({ user: 'rad-pap', password: 'pap-pass-radius', auth: ['pap'] }).connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3, ['-I', plain.tun])).received, 0, 'no Filter-Id: access.default deny')
  const filtered = await rig.client({ user: 'rad-gw-icmp', password: 'gwicmp-pass-radius' }).connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 3, ['-I', filtered.tun])).received, 3, 'Filter-Id gw-icmp allows ICMP to the gateway (and its replies return)')
  await runNode(rig.net.b, [UDP_SEND, GATEWAY, '9', '0', '01', '02', '03', '04'])
  const sessions = new Map(rig.server.sessions().map((s) => [s.user, s]))
  // The UDP leaves by whichever TUN holds the gateway's route now: either session denies it.
  t.true((sessions.get('rad-pap')?.policyDenied ?? 0) >= 3)
  t.is((sessions.get('rad-pap')?.policyDenied ?? 0) + (sessions.get('rad-gw-icmp')?.policyDenied ?? 0), 3 + 4)
  t.is(sessions.get('rad-gw-icmp')?.rxPackets, 3, 'only the echo requests crossed')
  t.is(rig.server.status().counters?.['policy_denied'], 7)
})

test.serial('two gateways, one FreeRADIUS: both authenticate and account, with distinct Acct-Session-Ids', async (t) => {
  const one = await radiusRig(t, 'rg1', 'gw-one')
  const two = await radiusRig(t, 'rg2', 'gw-two')
  const a = one.rig.client({ user: 'rad-pap', password: 'pap-pass-radius', auth: ['pap'] })
  const b = two.rig.client({ user: 'rad-ms', password: 'ms-pass-radius' })
  const [upA, upB] = await Promise.all([a.connect(), b.connect()])
  t.regex(upA.address, /^192\.168\.42\.\d+$/)
  t.is(upB.address, '192.168.42.77')
  const starts = await records((r) => r['Acct-Status-Type'] === 'Start' && (r['NAS-Identifier'] === 'gw-one' || r['NAS-Identifier'] === 'gw-two'), (f) => f.length >= 2)
  t.is(starts.length, 2)
  const ids = starts.map((r) => r['Acct-Session-Id']!)
  t.not(ids[0], ids[1])
  t.deepEqual(ids.map((id) => id.replace(/-[0-9a-f]{16}$/, '')).sort(), ['gw-one', 'gw-two'])
  t.is((await pingAsync(one.rig.net.b, GATEWAY, 3)).received, 3)
  t.is((await pingAsync(two.rig.net.b, GATEWAY, 3)).received, 3)

  await Promise.all([one.rig.server.close(), two.rig.server.close()])
  for (const id of ids) {
    const found = await records(ofSession(id), (f) => kinds(f).includes('Stop'))
    t.deepEqual(kinds(found).filter((k) => k !== 'Interim-Update'), ['Start', 'Stop'], id)
    t.is(found.find((r) => r['Acct-Status-Type'] === 'Stop')?.['Acct-Terminate-Cause'], 'Admin-Reboot')
  }
  const offs = await records((r) => r['Acct-Status-Type'] === 'Accounting-Off' && (r['NAS-Identifier'] === 'gw-one' || r['NAS-Identifier'] === 'gw-two'), (f) => f.length >= 2)
  t.is(offs.length, 2, 'each gateway said Accounting-Off')
  t.true(fr!.detail().filter((r) => r['Acct-Status-Type'] === 'Accounting-On' && r['NAS-Identifier'] === 'gw-one').length >= 1, 'and Accounting-On at listen')
})
