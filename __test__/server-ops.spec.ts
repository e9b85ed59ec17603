// Operating a running server and client: the client reconnects after its
// session is lost, reload() keeps the sessions that still satisfy the new
// configuration, and a login callback that throws ends that login only.
import test from 'ava'
import { L2tpClientError } from '../lib/client/l2tp-client.js'
import { ConfigError } from '../lib/config/index.js'
import { pingAsync, until } from './helpers/netns-run.js'
import { createRig, GATEWAY, PSK } from './helpers/vpn-rig.js'

test.serial('the client reconnects with back-off after the server kicks it, and traffic flows again', async (t) => {
  const rig = await createRig(t, 'recon')
  const client = rig.client({ reconnect: { initialDelay: 0.2, maxDelay: 1 } })
  const first = await client.connect()
  const reconnecting: number[] = []
  client.on('reconnecting', (r) => reconnecting.push(r.delaySeconds))
  const ups: string[] = []
  client.on('up', (u) => ups.push(u.address))
  t.true(rig.server.kick(rig.server.sessions()[0]!.id))
  t.true(await until(() => ups.length === 1, 15_000), 'connected again')
  t.deepEqual(reconnecting, [0.2])
  t.is(ups[0], first.address, 'the pool gives the user its sticky address back')
  t.is((await pingAsync(rig.net.b, GATEWAY, 3)).received, 3)
  t.is(rig.seen.up.length, 2)
  t.is(rig.seen.down[0]!.reason, 'kicked')
})

test.serial('reload: a removed user is ended with reason reload, the others stay and keep their traffic; restart-only keys are refused', async (t) => {
  const rig = await createRig(t, 'reload')
  const alice = rig.client()
  const bob = rig.client({ user: 'bob', password: 'bob-pass-2' })
  await Promise.all([alice.connect(), bob.connect()])
  const bobDown: string[] = []
  bob.on('down', (d) => bobDown.push(d.reason))
  const base = { listen: { address: rig.net.addrA }, ipsec: { psk: PSK }, tun: { name: 'l2tps0' }, dataplane: { netns: rig.net.path(rig.net.a), workers: 1 } }
  const result = rig.server.reload({ ...base, pool: { range: '192.168.42.10-192.168.42.250', gateway: GATEWAY }, users: [{ name: 'alice', password: 'alice-pass-1' }], ppp: { dns: ['9.9.9.9'] } })
  t.is(result.kicked, 1)
  t.true(result.changed.includes('users') && result.changed.includes('ppp'))
  t.true(await until(() => rig.seen.down.length === 1, 10_000))
  t.is(rig.seen.down[0]!.user, 'bob')
  t.is(rig.seen.down[0]!.reason, 'reload')
  t.true(await until(() => bobDown.length === 1, 10_000), 'bob was told')
  t.is(rig.server.sessions().length, 1)
  t.is((await pingAsync(rig.net.b, GATEWAY, 3, ['-I', alice.info!.tun])).received, 3, 'alice untouched')

  const before = JSON.stringify(rig.server.config)
  const refused = t.throws(() => rig.server.reload({ ...base, listen: { address: rig.net.addrA, ikePort: 501 }, pool: { range: '192.168.42.10-192.168.42.250', gateway: GATEWAY } }), { instanceOf: ConfigError })
  t.is(refused?.issues[0]?.key, 'listen')
  t.is(JSON.stringify(rig.server.config), before, 'nothing changed')
  const bad = t.throws(() => rig.server.reload({ ...base, pool: { range: 'not-a-range', gateway: GATEWAY } }), { instanceOf: ConfigError })
  t.is(bad?.issues[0]?.key, 'pool.range')

  // bob is not a user any more; with the reloaded users he cannot come back.
  const again = rig.client({ user: 'bob', password: 'bob-pass-2' })
  await t.throwsAsync(again.connect(), { instanceOf: L2tpClientError })
  t.is(rig.seen.authFailures.at(-1)?.reason, 'unknown-user')
})

test.serial('a login callback that throws refuses that login only: logged as an error, other sessions untouched', async (t) => {
  const rig = await createRig(t, 'throw', {
    users: [{ name: 'alice', password: 'alice-pass-1' }],
    authenticate: (request) => {
      if (request.user === 'crash') throw new Error('directory unreachable')
      return { password: 'callback-pass-9' }
    },
  })
  const alice = rig.client()
  await alice.connect()
  const viaCallback = rig.client({ user: 'dave', password: 'callback-pass-9' })
  const dave = await viaCallback.connect()
  t.truthy(dave.address, 'a user known only to the callback logs in')
  const crash = rig.client({ user: 'crash', password: 'whatever-1' })
  const error = await t.throwsAsync(crash.connect(), { instanceOf: L2tpClientError })
  t.is(error?.code, 'CLIENT_AUTH_FAILED')
  t.true(rig.seen.authFailures.some((f) => f.user === 'crash' && f.reason === 'callback-error'), JSON.stringify(rig.seen.authFailures))
  t.is(rig.server.sessions().length, 2)
  t.is((await pingAsync(rig.net.b, GATEWAY, 2, ['-I', alice.info!.tun])).received, 2)
})

test.serial('idle and session timeouts end sessions with their reasons; LCP echoes do not count as activity', async (t) => {
  const idle = await createRig(t, 'idle', { ppp: { idleTimeout: 2, echoInterval: 1 } })
  const a = idle.client()
  await a.connect()
  t.is((await pingAsync(idle.net.b, GATEWAY, 2)).received, 2)
  t.true(await until(() => idle.seen.down.length === 1, 10_000), 'ended after 2 s without traffic although LCP echoes flowed')
  t.is(idle.seen.down[0]!.reason, 'idle')

  const timed = await createRig(t, 'stime', { ppp: { sessionTimeout: 2 } })
  const b = timed.client()
  await b.connect()
  const started = Date.now()
  const pinging = pingAsync(timed.net.b, GATEWAY, 30)
  t.true(await until(() => timed.seen.down.length === 1, 10_000), 'ended while traffic flowed')
  t.is(timed.seen.down[0]!.reason, 'session-timeout')
  t.true(Date.now() - started >= 1900)
  await pinging
})
