// Issue #12 item 6 (soak: memory must be flat): a server that connects,
// rekeys and hangs up the same users over and over holds no more objects
// after 2,000 connects than after 1,000. The real ServerControlPlane with
// in-memory clients (lib/bench/churn-check.ts: 200 sessions alive, hung up
// and reconnected 100 at a time, each life rekeyed once, 20 s of the rig's
// clock between waves); at each checkpoint, the live objects of the
// process by constructor (a heap snapshot, after a full GC). Counts, not timings: with the same number of
// sessions alive at both checkpoints, anything that grows by 10 or more
// over 1,000 more connects is held per connect.
import test from 'ava'
import { runChurnCheck } from '../lib/bench/churn-check.js'

/** Kinds that are V8's own bookkeeping of compiled code and inline caches, which the JIT grows as it warms up, not state per connect. */
const JIT = /^(code:|hidden:|\(object shape\)|\(number\)|array:\(|native:system)/

test('1,000 more connects, rekeys and hang-ups of the same users leave no more live objects of any constructor', async (t) => {
  // 20 s of the clock between waves: each life sees its LCP echoes (every 30 s) and L2TP hellos come due.
  const r = await runChurnCheck({ slots: 200, wave: 100, checkpoints: [1000, 2000], stepSeconds: 20 })
  t.is(r.connects, 2000)
  t.true(r.rekeys >= 1800, `${r.rekeys} rekeys`)
  // 200 sessions alive at each checkpoint: each object once in the client and once in the server (two PPP automata per link).
  for (const c of r.checkpoints) t.deepEqual(c.session_objects, { IkeSa: 400, Tunnel: 400, Session: 400, PppLink: 400, Automaton: 800, ReliableChannel: 400 }, `after ${c.connects} connects`)
  const [a, b] = r.censuses as [Record<string, [number, number]>, Record<string, [number, number]>]
  const grown = Object.keys(b)
    .filter((key) => !JIT.test(key))
    .map((key) => ({ key, before: a[key]?.[0] ?? 0, after: b[key]![0] }))
    .filter((g) => g.after - g.before >= 10)
  t.deepEqual(grown, [], `live objects that grew over 1,000 connects: ${JSON.stringify(grown)}`)
})
