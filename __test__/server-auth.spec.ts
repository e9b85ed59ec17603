// Authentication end to end (issue #6): our L2tpClient against L2tpServer in
// two network namespaces (lib/testing/vpn-rig.ts), for what the in-memory
// tests of ppp-link.spec.ts cannot show: the methods work over the real
// stack (IKE, L2TP, data plane), and the outcome is what a user sees
// (connected and pinging, or refused with auth-failure).
import test from 'ava'
import { Writable } from 'node:stream'
import { createLogger } from '../lib/log/index.js'
import { sleep } from './helpers/netns-run.js'
import { pingAsync } from './helpers/netns-run.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'

test.serial('EAP-MD5 with a local user: the server asks for EAP, our client answers Identity and MD5, and pings; a wrong password is refused', async (t) => {
  const rig = await createRig(t, 'eap', { ppp: { auth: ['eap'] } })
  const client = rig.client({ auth: ['eap'] })
  const up = await client.connect()
  t.is(up.authMethod, 'eap')
  t.is(rig.server.sessions()[0]!.authMethod, 'eap')
  t.is((await pingAsync(rig.net.b, GATEWAY, 2)).received, 2)
  await client.close()

  const wrong = rig.client({ auth: ['eap'], password: 'not-it', reconnect: false })
  const error = await t.throwsAsync(wrong.connect())
  t.regex(String(error), /authentication/i)
  t.like(rig.seen.authFailures.at(-1), { user: 'alice', method: 'eap' })
  await wrong.close()
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
})

test.serial('MS-CHAPv2 expired password: E=648, our client changes it (RFC 2759 7), onPasswordChange stores it, the session comes up; then only the new password works', async (t) => {
  const stored: { user: string; password: string; ntHash: string }[] = []
  const rig = await createRig(t, 'cpw', {
    users: [{ name: 'alice', password: 'alice-pass-1', passwordExpired: true }, { name: 'bob', password: 'bob-pass-2' }],
    onPasswordChange: (change) => void stored.push(change),
  })
  const refused = rig.client({ reconnect: false })
  t.regex(String(await t.throwsAsync(refused.connect())), /E=648/, 'without a new password the expired one cannot log in')
  await refused.close()

  const client = rig.client({ newPassword: 'alice-pass-3' })
  const up = await client.connect()
  t.like(up, { authMethod: 'mschapv2', passwordChanged: true })
  t.deepEqual(stored.map((c) => [c.user, c.password]), [['alice', 'alice-pass-3']])
  t.is((await pingAsync(rig.net.b, GATEWAY, 2)).received, 2)
  await client.close()

  const next = rig.client({ password: 'alice-pass-3' })
  t.false((await next.connect()).passwordChanged ?? false, 'no longer expired')
  await next.close()
  const old = rig.client({ reconnect: false })
  t.regex(String(await t.throwsAsync(old.connect())), /authentication/i)
  await old.close()
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
})

test.serial('a wrong password is logged as a security event and backs off that (user, source) pair: the right password at once is refused, a second later accepted; the password never reaches the log', async (t) => {
  let text = ''
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => ((text += chunk.toString()), done()) })
  const rig = await createRig(t, 'limit', { logger: createLogger({ level: 'info', format: 'json', destination: sink }) })
  const records = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; event?: { type: string; user?: string; reason?: string } })
  const wrong = rig.client({ password: 'guess-1', reconnect: false })
  await t.throwsAsync(wrong.connect())
  await wrong.close()
  const right = rig.client({ reconnect: false })
  t.regex(String(await t.throwsAsync(right.connect())), /authentication/i, 'within the back-off even the right password is refused')
  await right.close()
  const limiter = records().filter((r) => r.msg === 'authentication limiter').map((r) => r.event)
  t.like(limiter[0], { type: 'failure', user: 'alice' })
  t.like(limiter.find((e) => e?.type === 'blocked'), { user: 'alice', reason: 'backoff' })
  t.true(rig.seen.authFailures.length >= 2)
  await sleep(1100)
  const later = rig.client()
  t.truthy((await later.connect()).address, 'after the back-off the right password gets in')
  await later.close()
  t.false(text.includes('guess-1') || text.includes('alice-pass-1'), 'no password in the log')
})
