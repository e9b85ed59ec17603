// Operations against a real session (server and client in namespaces):
// /metrics counters move by the right amounts through a session, a failed
// login and a drain; /readyz turns 503 while draining; the audit chain
// holds the session and verifies; `debug` explains a proposal mismatch
// naming both sides; `capture` writes the inner ICMP of a ping, which
// tshark reads.
import test from 'ava'
import { execFile, spawn, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { openAdminSession, type DebugEvent } from '../lib/admin/index.js'
import { verifyAuditFiles } from '../lib/audit/index.js'
import { L2tpClientError } from '../lib/client/l2tp-client.js'
import { pingAsync, until } from './helpers/netns-run.js'
import { createOpsRig, sample } from './helpers/ops-rig.js'
import { GATEWAY } from './helpers/vpn-rig.js'

const CLI = ['--import', 'tsx', 'lib/cli/main.ts']
const execFileAsync = promisify(execFile)

/** Runs the CLI without blocking this process (the server under test lives here); `ready` resolves at the first line matching. */
function cli(args: string[], ready: RegExp) {
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let onReady: () => void
  const readyP = new Promise<void>((r) => (onReady = r))
  child.stdout.on('data', (d: Buffer) => {
    stdout += d
    if (ready.test(stdout)) onReady()
  })
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  return { child, ready: readyP, exited, out: () => stdout, err: () => stderr }
}

test.serial('metrics and readyz through a session, a failed login and a drain: the counters move by the right amounts; the audit chain holds it all', async (t) => {
  const o = await createOpsRig(t, 'opsm')
  t.is((await o.get('/healthz')).status, 200)
  t.deepEqual(await o.get('/readyz'), { status: 200, body: 'ready\n' })
  const before = (await o.get('/metrics')).body

  const client = o.rig.client()
  const up = await client.connect()
  const afterUp = (await o.get('/metrics')).body
  t.is(sample(afterUp, 'l2tp_ipsec_sessions_up'), 1)
  t.is(sample(afterUp, 'l2tp_ipsec_sessions_by_state', { state: 'up' }), 1)
  t.is(sample(afterUp, 'l2tp_ipsec_sessions_started_total') - sample(before, 'l2tp_ipsec_sessions_started_total'), 1)
  t.is(sample(afterUp, 'l2tp_ipsec_session_setups_total', { outcome: 'up' }) - sample(before, 'l2tp_ipsec_session_setups_total', { outcome: 'up' }), 1)
  t.is(sample(afterUp, 'l2tp_ipsec_ike_handshake_seconds_count') - sample(before, 'l2tp_ipsec_ike_handshake_seconds_count'), 1)
  t.is(sample(afterUp, 'l2tp_ipsec_session_setup_seconds_count') - sample(before, 'l2tp_ipsec_session_setup_seconds_count'), 1)
  t.true(sample(afterUp, 'l2tp_ipsec_session_setup_seconds_sum') > 0)
  t.true(afterUp.includes('nodejs_eventloop_lag_seconds'), 'event-loop lag is exported')
  t.true(/l2tp_ipsec_dataplane_queue_depth\{queue="to_control_plane"\} \d+/.test(afterUp))

  // 5 pings of 84-byte IPv4 packets (56 data + ICMP 8 + IP 20): 5 in, 5 out.
  t.is((await pingAsync(o.rig.net.b, GATEWAY, 5, ['-I', up.tun])).received, 5)
  const afterPing = (await o.get('/metrics')).body
  const delta = (name: string, labels: Record<string, string>) => sample(afterPing, name, labels) - sample(afterUp, name, labels)
  t.is(delta('l2tp_ipsec_session_packets_total', { direction: 'rx' }), 5)
  t.is(delta('l2tp_ipsec_session_packets_total', { direction: 'tx' }), 5)
  t.is(delta('l2tp_ipsec_session_bytes_total', { direction: 'rx' }), 5 * 84)
  t.is(delta('l2tp_ipsec_session_bytes_total', { direction: 'tx' }), 5 * 84)
  t.is(delta('l2tp_ipsec_esp_dropped_packets_total', { reason: 'replay' }), 0)
  t.is(delta('l2tp_ipsec_esp_dropped_packets_total', { reason: 'icv' }), 0)

  // A wrong password: one PPP auth failure, one failed setup at stage ppp-auth.
  const bad = o.rig.client({ user: 'bob', password: 'wrong-password-1' })
  await t.throwsAsync(bad.connect(), { instanceOf: L2tpClientError })
  const afterBad = (await o.get('/metrics')).body
  t.is(sample(afterBad, 'l2tp_ipsec_session_setup_failures_total', { stage: 'ppp-auth', reason: 'bad-password' }) - sample(afterPing, 'l2tp_ipsec_session_setup_failures_total', { stage: 'ppp-auth', reason: 'bad-password' }), 1)
  t.is(sample(afterBad, 'l2tp_ipsec_auth_failures_total', { method: 'mschapv2', reason: 'bad-password' }) - sample(afterPing, 'l2tp_ipsec_auth_failures_total', { method: 'mschapv2', reason: 'bad-password' }), 1)
  t.is(sample(afterBad, 'l2tp_ipsec_session_setups_total', { outcome: 'failed' }) - sample(afterPing, 'l2tp_ipsec_session_setups_total', { outcome: 'failed' }), 1)

  // Drain: not ready at once, the session ends with reason closed, the client is told.
  const downs: string[] = []
  client.on('down', (d) => downs.push(d.reason))
  const draining = o.ops.drain('SIGTERM')
  const during = await o.get('/readyz')
  t.is(during.status, 503)
  t.regex(during.body, /not ready: draining/)
  await draining
  const afterDrain = (await o.get('/metrics')).body
  t.is(sample(afterDrain, 'l2tp_ipsec_sessions_ended_total', { reason: 'closed' }) - sample(afterBad, 'l2tp_ipsec_sessions_ended_total', { reason: 'closed' }), 1)
  t.is(sample(afterDrain, 'l2tp_ipsec_sessions_up'), 0)
  t.is(sample(afterDrain, 'l2tp_ipsec_listening'), 0)
  t.is((await o.get('/readyz')).status, 503)
  t.true(await until(() => downs.length === 1, 10_000), 'the client saw its session end')

  await o.ops.close()
  const verified = verifyAuditFiles([o.auditFile])
  t.like(verified, { ok: true })
  const records = (await import('node:fs')).readFileSync(o.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.deepEqual(records.map((r) => r.type), ['server-start', 'session-up', 'auth-failure', 'server-stop', 'session-down'])
  t.like(records[1], { user: 'alice', address: up.address, authMethod: 'mschapv2', peer: { address: o.rig.net.addrB } })
  t.truthy(records[1]!.espSuite)
  t.truthy(records[1]!.ikeSuite)
  t.like(records[2], { user: 'bob', method: 'mschapv2', reason: 'bad-password' })
  t.like(records[4], { user: 'alice', reason: 'closed', rxPackets: 5, txPackets: 5 })
  t.false(JSON.stringify(records).includes('wrong-password-1'), 'no secret in the audit log')
  t.false(o.logLines.join('\n').includes('wrong-password-1'), 'no secret in the log')
})

test.serial('debug: a proposal mismatch names what the client offered and what the server allows; a user is followed from IKE to PPP', async (t) => {
  const o = await createOpsRig(t, 'opsd', { ipsec: { psk: 'rig-psk-6f1c2b9e4a', proposals: 'modern' } })
  t.timeout(240_000)
  const debug = cli(['debug', o.rig.net.addrB, '--socket', o.socket, '--seconds', '90'], /following/)
  t.teardown(() => debug.child.kill('SIGKILL'))
  await Promise.race([debug.ready, debug.exited])
  t.regex(debug.out(), /following/, debug.err())
  // What older Windows and Android offer (ike-scan's enc,hash,auth,group): AES-256/SHA1/MODP1024, 3DES/SHA1/MODP1024; none in 'modern'.
  // (Asynchronously: the server answering it runs in this process.)
  const { stdout: scan } = await execFileAsync('ip', ['netns', 'exec', o.rig.net.b, 'ike-scan', '-M', '--retry=1', '--trans=7/256,2,1,2', '--trans=5,2,1,2', o.rig.net.addrA], { timeout: 20_000 })
  t.regex(scan, /NO-PROPOSAL-CHOSEN/, scan)
  t.true(await until(() => /server allows/.test(debug.out()), 20_000), debug.out() + debug.err())
  debug.child.kill('SIGINT')
  t.is(await debug.exited, 0, debug.err())
  const text = debug.out()
  t.log(text)
  t.regex(text, /Main Mode from 10\.250\.0\.2:500 failed: client offered AES-256\/SHA1\/MODP1024, 3DES\/SHA1\/MODP1024; none allowed by preset 'modern'.*'compatible'/)
  t.regex(text, /server allows \(preset 'modern'\): AES-256, AES-128, AES-192 with SHA256, SHA384, SHA512 and MODP2048/)

  // By user, in-process: the steps before PPP knew the name are shown first, in order.
  const steps: string[] = []
  const session = await openAdminSession(o.socket, (e) => steps.push((e as DebugEvent).text))
  t.teardown(() => session.close())
  t.deepEqual(await session.request('debug', { target: 'alice' }), { following: 'alice' })
  const ok = o.rig.client({ proposals: 'modern' })
  await ok.connect()
  t.true(await until(() => steps.some((s) => s.startsWith('Session ')), 10_000), steps.join('\n'))
  const order = ['Main Mode done', 'Quick Mode done', 'L2TP: tunnel', 'L2TP: call', 'PPP: alice logged in', 'Session ']
  const at = order.map((p) => steps.findIndex((s) => s.startsWith(p)))
  t.log(steps.join('\n'))
  t.true(at.every((i) => i >= 0), `${JSON.stringify(at)}\n${steps.join('\n')}`)
  t.deepEqual([...at].sort((a, b) => a - b), at, 'in negotiation order')
  t.false(steps.some((s) => s.includes('bob')), 'only the followed user')
})

test.serial('capture: the CLI arms a capture of one session; tshark reads the inner ICMP of a ping from the pcap', async (t) => {
  const o = await createOpsRig(t, 'opsc')
  const client = o.rig.client()
  const up = await client.connect()
  const id = o.rig.server.sessions()[0]!.id
  const file = join(o.rig.tempDir, 'session.pcap')
  const capture = cli(['capture', '--session', String(id), '--out', file, '--socket', o.socket, '--seconds', '60'], /capturing session/)
  t.teardown(() => capture.child.kill('SIGKILL'))
  await capture.ready
  t.is((await pingAsync(o.rig.net.b, GATEWAY, 3, ['-I', up.tun])).received, 3)
  capture.child.kill('SIGINT')
  t.is(await capture.exited, 0, capture.err())
  t.regex(capture.out(), /6 packets, 504 bytes written to/)
  t.true(existsSync(file))
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type'], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const rows = r.stdout.trim().split('\n')
  t.deepEqual(rows, [
    `${up.address}\t${GATEWAY}\t8`,
    `${GATEWAY}\t${up.address}\t0`,
    `${up.address}\t${GATEWAY}\t8`,
    `${GATEWAY}\t${up.address}\t0`,
    `${up.address}\t${GATEWAY}\t8`,
    `${GATEWAY}\t${up.address}\t0`,
  ])
  // The file exists now: a second capture into it is refused, never overwriting it.
  const again = cli(['capture', '--session', String(id), '--out', file, '--socket', o.socket, '--seconds', '1'], /capturing/)
  t.is(await again.exited, 1)
  t.regex(again.err(), /EEXIST|exists/)
})
