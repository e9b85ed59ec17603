/**
 * The client fleet (lib/client/fleet.ts) that the soak and the sessions
 * benchmark use: 20 real sessions from ONE process in the clients'
 * namespace, each its own peer to the server (one address, 20 source
 * ports), each exchanging UDP echoes with its own target behind the
 * server; a short churn (rekey half-way, hang up, reconnect); then all
 * hung up and the server back to idle.
 */
import test from 'ava'
import { startFleetRig } from '../lib/bench/fleet-rig.js'
import { serverIdle } from '../lib/testing/vpn-rig.js'
import { sleep, until } from '../lib/testing/wait.js'

const SESSIONS = 20

test('one fleet process holds 20 real sessions from distinct ports, carries their traffic, rekeys, churns, and leaves the server idle', async (t) => {
  t.timeout(240_000)
  const fr = await startFleetRig({ tag: 'flt', sessions: SESSIONS, echo: true })
  try {
    const server = fr.rig.server
    fr.send({ cmd: 'start', ...fr.placement, sessions: SESSIONS, concurrency: 10, lifetime: [4, 6], intervalMs: 200 })
    const ready = await fr.next('ready', 120_000)
    t.is(ready.connected, SESSIONS, 'every slot came up')
    t.is(server.status().sessions, SESSIONS)
    const peers = fr.rig.seen.up.map((u) => u.peer)
    t.deepEqual(new Set(peers.map((p) => p.address)), new Set([fr.placement.clientAddress]), 'all from the fleet address')
    t.is(new Set(peers.map((p) => p.port)).size, SESSIONS, 'each session from its own source port')
    t.is(new Set(fr.rig.seen.up.map((u) => u.address)).size, SESSIONS, 'each session has its own pool address')

    await sleep(2000)
    fr.send({ cmd: 'churn', seconds: 8 })
    const steady = await fr.next('steady', 120_000)
    t.true(steady.counts.rekeys > 0, 'sessions rekeyed')
    t.true(steady.counts.closes > 0, 'sessions hung up and reconnected')
    t.is(steady.counts.rekeyFailures, 0)
    t.is(steady.counts.unexpectedDowns, 0, 'no session ended without the fleet asking')
    t.is(server.status().sessions, SESSIONS, 'every slot up again after the churn')

    fr.send({ cmd: 'close' })
    const done = await fr.next('done', 120_000)
    t.is(done.counts.connectFailures, 0)
    t.is(done.traffic.sessionsAnswered, SESSIONS, 'every slot got echoes back through its tunnel')
    t.true(done.traffic.received > SESSIONS * 10, `echoes received: ${done.traffic.received}`)
    t.true(await until(() => serverIdle(server.status()), 30_000), 'server idle after the fleet hung up')
    t.deepEqual(
      fr.rig.seen.down.filter((d) => d.reason !== 'peer').map((d) => d.reason),
      [],
      'the server saw only client hang-ups',
    )
    t.deepEqual(fr.rig.seen.errors, [])
  } finally {
    await fr.close()
  }
})
