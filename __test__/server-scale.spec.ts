// 100 concurrent sessions on one L2tpServer: 100 L2tpClients (each its own
// data plane and TUN device) in one namespace, all from one address, each
// pinging the gateway from its own TUN. Needs root.
import test from 'ava'
import type { ClientUpInfo, L2tpClient } from '../lib/client/l2tp-client.js'
import { pingAsync } from './helpers/netns-run.js'
import { createRig, GATEWAY, PSK } from './helpers/vpn-rig.js'

const CLIENTS = 100
/** Clients connecting at once; all come from one address, so the server's half-open limit per source is raised above it. */
const WAVE = 20
/** Pings running at once (each a process in the client namespace). */
const PING_PARALLEL = 10

/** Runs `job` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, job: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await job(items[i]!, i)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

test.serial(`${CLIENTS} concurrent sessions: distinct addresses, each pings from its own TUN, the server returns to idle`, async (t) => {
  t.timeout(5 * 60_000)
  const started = Date.now()
  const rig = await createRig(t, 'scale', { ipsec: { psk: PSK, maxHalfOpenPerSource: 2 * WAVE } })
  const clients: L2tpClient[] = []
  for (let i = 0; i < CLIENTS; i++) clients.push(rig.client({ tun: { name: `l2tpc${i}` }, workers: 1, connectTimeout: 60 }))

  const ups: ClientUpInfo[] = []
  const failures: string[] = []
  for (let i = 0; i < CLIENTS; i += WAVE) {
    const wave = await Promise.allSettled(clients.slice(i, i + WAVE).map((c) => c.connect()))
    wave.forEach((r, j) => (r.status === 'fulfilled' ? ups.push(r.value) : failures.push(`client ${i + j}: ${String(r.reason)}`)))
  }
  const connected = Date.now()
  t.log(`${ups.length} sessions up in ${((connected - started) / 1000).toFixed(1)} s`)
  t.deepEqual(failures, [])
  t.is(ups.length, CLIENTS)
  t.is(new Set(ups.map((u) => u.address)).size, CLIENTS, 'every client got its own address')
  t.is(new Set(ups.map((u) => u.tun)).size, CLIENTS)

  const sessions = rig.server.sessions()
  t.is(sessions.length, CLIENTS)
  t.is(rig.server.status().pool?.used, CLIENTS)
  t.is(rig.seen.up.length, CLIENTS)
  const byAddress = new Map(sessions.map((s) => [s.address, s]))
  t.deepEqual([...byAddress.keys()].sort(), ups.map((u) => u.address).sort(), 'the server lists exactly the addresses the clients hold')
  t.is(new Set(sessions.map((s) => `${s.peer.address}:${s.peer.port}`)).size, CLIENTS, 'each client is its own IPsec peer (by port)')
  const rxBefore = new Map(sessions.map((s) => [s.id, s.rxPackets]))

  const pings = await pool(ups, PING_PARALLEL, (u) => pingAsync(rig.net.b, GATEWAY, 2, ['-I', u.tun]))
  const pinged = Date.now()
  t.log(`${CLIENTS} × ping -c 2 in ${((pinged - connected) / 1000).toFixed(1)} s`)
  const lost = pings.flatMap((p, i) => (p.received === 2 ? [] : [`${ups[i]!.tun} (${ups[i]!.address}): ${p.received}/2 ${p.output}`]))
  t.deepEqual(lost, [], 'every client pinged the gateway from its own TUN')

  const after = rig.server.sessions()
  t.is(after.length, CLIENTS)
  const flat = after.filter((s) => s.rxPackets < (rxBefore.get(s.id) ?? Infinity) + 2).map((s) => `${s.address}: rx ${rxBefore.get(s.id)} -> ${s.rxPackets}`)
  t.deepEqual(flat, [], "each session's rx counters rose by its echoes")

  await Promise.all(clients.map((c) => c.close()))
  const closed = Date.now()
  t.true(await rig.idle(), JSON.stringify(rig.server.status()))
  t.log(`clients closed in ${((closed - pinged) / 1000).toFixed(1)} s, server idle ${((Date.now() - closed) / 1000).toFixed(1)} s later`)
  t.is(rig.seen.down.length, CLIENTS)
  t.is(rig.seen.errors.length, 0, rig.seen.errors.map((e) => e.message).join('; '))
  t.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
