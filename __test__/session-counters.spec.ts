// Per-session counters after the refresh became incremental: the data plane
// reports only the sessions whose traffic changed since the last poll
// (changedSessionCounters), and the control plane keeps the rest. What a user
// sees must not change: sessions() shows each session's own traffic, a
// session with no new traffic keeps its figures (not zeroed by an empty
// delta), one session's traffic never shows on another, and the figures a
// session ends with (read fresh from the data plane) equal the last listing.
// Needs root.
import test from 'ava'
import { pingAsync, until } from './helpers/netns-run.js'
import { createRig, GATEWAY } from './helpers/vpn-rig.js'

const counters = (s: { rxPackets: number; txPackets: number; rxBytes: number; txBytes: number; policyDenied: number }) => ({ rxPackets: s.rxPackets, txPackets: s.txPackets, rxBytes: s.rxBytes, txBytes: s.txBytes, policyDenied: s.policyDenied })

test('sessions() counters stay per session and whole when only some sessions carry traffic', async (t) => {
  const rig = await createRig(t, 'ctr')
  const a = rig.client()
  const b = rig.client({ user: 'bob', password: 'bob-pass-2' })
  const upA = await a.connect()
  const upB = await b.connect()
  const byAddress = (address: string) => rig.server.sessions().find((s) => s.address === address)!

  const p1 = await pingAsync(rig.net.b, GATEWAY, 5, ['-I', upA.tun])
  t.is(p1.received, 5, p1.output)
  const a1 = byAddress(upA.address)
  const b1 = byAddress(upB.address)
  t.true(a1.rxPackets >= 5 && a1.txPackets >= 5, `A after 5 pings: ${JSON.stringify(counters(a1))}`)
  t.true(a1.rxBytes >= 5 * 84 && a1.txBytes >= 5 * 84, `A's bytes: ${JSON.stringify(counters(a1))}`)

  // Nothing sent since: a second listing (an empty delta for A) shows the same figures, not zeros.
  t.deepEqual(counters(byAddress(upA.address)), counters(a1), 'no new traffic: the figures are kept')

  const p2 = await pingAsync(rig.net.b, GATEWAY, 3, ['-I', upB.tun])
  t.is(p2.received, 3, p2.output)
  const a2 = byAddress(upA.address)
  const b2 = byAddress(upB.address)
  t.deepEqual(counters(a2), counters(a1), "B's traffic does not show on A")
  t.is(b2.rxPackets - b1.rxPackets, 3, `B received the 3 pings: ${JSON.stringify(counters(b1))} -> ${JSON.stringify(counters(b2))}`)
  t.is(b2.txPackets - b1.txPackets, 3, 'and sent the 3 replies')

  // Past the 5-second periodic refresh too: still the same figures.
  await new Promise((r) => setTimeout(r, 5500))
  t.deepEqual(counters(byAddress(upA.address)), counters(a2), 'after a periodic refresh with no traffic')

  // The figures a session ends with are read from the data plane directly: equal to the listing.
  const last = counters(byAddress(upA.address))
  t.true(rig.server.kick(a1.id))
  t.true(await until(() => rig.seen.down.some((d) => d.address === upA.address), 10_000), 'A went down')
  const down = rig.seen.down.find((d) => d.address === upA.address)!
  t.deepEqual(counters(down), last, 'session-down counters = the last sessions() figures')
})
