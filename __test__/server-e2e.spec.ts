// L2tpServer and L2tpClient end to end: server in one network namespace,
// clients in another, joined by veth; real sockets, ESP, TUN devices and
// the whole control plane (IKE, L2TP, PPP, auth, pool). Needs root.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { L2tpClientError } from '../lib/client/l2tp-client.js'
import { createTestPki } from './helpers/test-pki.js'
import { pingAsync, tcpTransfer, until } from './helpers/netns-run.js'
import { createRig, GATEWAY, PSK } from './helpers/vpn-rig.js'

test.serial('MS-CHAPv2: ping through the tunnel, the session listed with its counters, kick ends it on both sides', async (t) => {
  const rig = await createRig(t, 'ms')
  const client = rig.client()
  const downs: string[] = []
  client.on('down', (d) => downs.push(d.reason))
  const up = await client.connect()
  t.is(up.gateway, GATEWAY)
  t.regex(up.address, /^192\.168\.42\.\d+$/)
  t.is(up.authMethod, 'mschapv2')

  const ping = await pingAsync(rig.net.b, GATEWAY, 5)
  t.is(ping.received, 5, ping.output)
  const [session] = rig.server.sessions()
  t.truthy(session)
  t.is(session!.user, 'alice')
  t.is(session!.address, up.address)
  t.is(session!.authMethod, 'mschapv2')
  t.is(session!.peer.address, rig.net.addrB)
  t.true(session!.udpEncapsulated, 'ESP in UDP 4500 (the server asks every client to encapsulate)')
  t.true(session!.rxPackets >= 5 && session!.txPackets >= 5, `counters: rx ${session!.rxPackets} tx ${session!.txPackets}`)
  t.is(rig.seen.up.length, 1)
  t.deepEqual(rig.seen.up[0]!.address, up.address)

  t.true(rig.server.kick(session!.id))
  t.true(await until(() => downs.length > 0, 10_000), 'the client saw its session end')
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
  t.is(rig.seen.down.length, 1)
  t.is(rig.seen.down[0]!.reason, 'kicked')
  t.true(rig.seen.down[0]!.rxBytes >= 5 * 84)
  t.false(rig.server.kick(session!.id), 'a second kick finds nothing')
})

test.serial('100 MB over TCP through the full stack arrive byte for byte', async (t) => {
  const rig = await createRig(t, 'bulk')
  const client = rig.client()
  const up = await client.connect()
  const { sent, received } = await tcpTransfer(rig.net.b, rig.net.a, GATEWAY, 5001, 100 * 1024 * 1024, 'server-e2e')
  t.is(received, sent, 'count and SHA-256 equal')
  t.true(received.startsWith(`${100 * 1024 * 1024} `))
  const session = rig.server.sessions().find((s) => s.address === up.address)!
  t.true(session.rxBytes > 100 * 1024 * 1024, `rx bytes ${session.rxBytes}`)
})

for (const method of ['chap', 'pap'] as const) {
  test.serial(`${method.toUpperCase()} users connect when the server allows ${method}`, async (t) => {
    const rig = await createRig(t, method, { ppp: { auth: ['mschapv2', 'chap', 'pap'] } })
    const client = rig.client({ user: 'bob', password: 'bob-pass-2', auth: [method], routes: ['10.99.0.0/16'] })
    const up = await client.connect()
    t.regex(rig.net.exec(rig.net.b, ['ip', 'route']), new RegExp(`10\\.99\\.0\\.0/16 dev ${up.tun} .*src ${up.address.replace(/\./g, '\\.')}`), 'the routes asked for go into the tunnel')
    t.is(up.authMethod, method === 'chap' ? 'chap-md5' : 'pap')
    t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
    t.is(rig.seen.up[0]!.user, 'bob')
    t.is(rig.seen.up[0]!.authMethod, up.authMethod ?? 'none')
  })
}

test.serial('certificate authentication: both ends prove themselves with X.509; a certificate from another CA is refused', async (t) => {
  const pki = createTestPki()
  t.teardown(pki.dispose)
  const server = pki.issue('server', '/CN=vpn.example.test', 'DNS:vpn.example.test')
  const client = pki.issue('client', '/CN=alice-laptop', 'DNS:alice-laptop.example.test')
  const rogue = pki.issueRogue('mallory', '/CN=mallory', 'DNS:mallory.example.test')
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'l2tp-cert-'))
  t.teardown(() => (import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true }))))
  const file = (name: string, text: string) => {
    const path = join(dir, name)
    writeFileSync(path, text, { mode: 0o600 })
    return path
  }
  const rig = await createRig(t, 'cert', {
    ipsec: { certificate: { cert: file('server.pem', server.cert), key: file('server.key', server.key), ca: file('ca.pem', pki.ca) }, localId: 'vpn.example.test' },
  })
  const good = rig.client({ psk: undefined, certificate: { cert: client.cert, key: client.key, ca: pki.ca }, localId: 'alice-laptop.example.test' })
  const up = await good.connect()
  t.is((await pingAsync(rig.net.b, GATEWAY, 2)).received, 2)
  t.is(rig.seen.ikeUp[0]!.peerId, 'fqdn:alice-laptop.example.test')
  await good.close()
  t.true(await rig.idle())
  t.truthy(up.address)

  const bad = rig.client({ psk: undefined, certificate: { cert: rogue.cert, key: rogue.key, ca: pki.ca }, localId: 'mallory.example.test', connectTimeout: 8 })
  await t.throwsAsync(bad.connect(), { instanceOf: L2tpClientError })
  t.true(rig.seen.authFailures.some((f) => f.method === 'ike'), JSON.stringify(rig.seen.authFailures))
  t.is(rig.seen.up.length, 1, 'no session for the rogue certificate')
  t.true(await rig.idle())
})

test.serial('a wrong PSK is refused in IKE: auth-failure, no session, nothing held', async (t) => {
  const rig = await createRig(t, 'psk')
  const client = rig.client({ psk: `${PSK}-wrong`, connectTimeout: 8 })
  const error = await t.throwsAsync(client.connect(), { instanceOf: L2tpClientError })
  t.not(error?.code, 'CLIENT_AUTH_FAILED', 'PPP never started')
  t.true(await until(() => rig.seen.authFailures.length > 0, 5000), 'the server reported the failure')
  t.is(rig.seen.authFailures[0]!.method, 'ike')
  t.is(rig.seen.up.length, 0)
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
})

for (const [what, user, password, reason] of [
  ['a wrong password', 'alice', 'not-her-password', 'bad-password'],
  ['an unknown user', 'mallory', 'whatever-1', 'unknown-user'],
] as const) {
  test.serial(`${what} is refused in PPP: auth-failure (${reason}), the client told, nothing held`, async (t) => {
    const rig = await createRig(t, reason.slice(0, 4))
    const client = rig.client({ user, password })
    const error = await t.throwsAsync(client.connect(), { instanceOf: L2tpClientError })
    t.is(error?.code, 'CLIENT_AUTH_FAILED', error?.message)
    t.true(rig.seen.authFailures.length >= 1)
    t.is(rig.seen.authFailures[0]!.reason, reason)
    t.is(rig.seen.authFailures[0]!.user, user)
    t.is(rig.seen.up.length, 0)
    t.true(await rig.idle(), JSON.stringify(rig.server.status()))
  })
}

test.serial('an exhausted pool refuses the next client with session-refused, and frees nothing it did not hold', async (t) => {
  const rig = await createRig(t, 'pool', { pool: { range: '192.168.42.10-192.168.42.10', gateway: GATEWAY } })
  const first = rig.client()
  await first.connect()
  const second = rig.client({ user: 'bob', password: 'bob-pass-2', connectTimeout: 15 })
  await t.throwsAsync(second.connect(), { instanceOf: L2tpClientError })
  t.true(await until(() => rig.seen.refused.length > 0))
  t.is(rig.seen.refused[0]!.reason, 'pool-exhausted')
  t.is(rig.seen.refused[0]!.user, 'bob')
  t.is(rig.server.sessions().length, 1, 'the first session is untouched')
  t.is((await pingAsync(rig.net.b, GATEWAY, 2)).received, 2, 'and still carries traffic')
  await first.close()
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
})

test.serial('server close(): every client sees its session end; the server holds nothing', async (t) => {
  const rig = await createRig(t, 'close')
  const a = rig.client()
  const b = rig.client({ user: 'bob', password: 'bob-pass-2' })
  await Promise.all([a.connect(), b.connect()])
  const downs: string[] = []
  a.on('down', (d) => downs.push(`a:${d.reason}`))
  b.on('down', (d) => downs.push(`b:${d.reason}`))
  await rig.server.close()
  t.true(await until(() => downs.length === 2, 8000), downs.join(' '))
  t.deepEqual(rig.seen.down.map((d) => d.reason).sort(), ['closed', 'closed'])
  t.is(rig.server.status().state, 'closed')
})

test.serial('a client that vanishes is cleaned up by LCP echo within the configured time, and its address returns to the pool', async (t) => {
  const rig = await createRig(t, 'gone', { ppp: { echoInterval: 1, echoFailures: 2 }, ipsec: { psk: PSK, dpdDelay: 0 } })
  const client = rig.client()
  const up = await client.connect()
  t.is(rig.server.status().pool?.used, 1)
  // The client's host drops off the network: its veth goes down.
  rig.net.exec(rig.net.b, ['ip', 'link', 'set', 'dev', rig.net.vethB, 'down'])
  t.true(await until(() => rig.seen.down.length === 1, 15_000), 'session ended')
  t.is(rig.seen.down[0]!.reason, 'lcp-echo-timeout')
  t.is(rig.seen.down[0]!.address, up.address)
  t.is(rig.server.status().pool?.used, 0, 'address back in the pool')
  t.is(rig.server.sessions().length, 0)
})

test.serial('a client that vanishes is cleaned up by IKE dead peer detection when LCP echo is off', async (t) => {
  const rig = await createRig(t, 'dpd', { ppp: { echoInterval: 0 }, ipsec: { psk: PSK, dpdDelay: 1, dpdTimeout: 3 } })
  const client = rig.client({ ike: { dpdDelay: 0 } })
  const up = await client.connect()
  rig.net.exec(rig.net.b, ['ip', 'link', 'set', 'dev', rig.net.vethB, 'down'])
  t.true(await until(() => rig.seen.down.length === 1, 20_000), 'session ended')
  t.is(rig.seen.down[0]!.reason, 'ike-down')
  t.is(rig.seen.down[0]!.address, up.address)
  t.true(rig.seen.ikeDown.length >= 1)
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
})
