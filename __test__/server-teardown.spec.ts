// Issue #9: after every session of a server is shut down, none of their state
// stays alive. The server's control plane (ServerControlPlane: IKE responder,
// L2TP LNS, PPP server) sets up real sessions with in-memory clients (the
// control-plane bench's rig), shuts them all down, lets every deadline come,
// and counts the live IkeSa, Tunnel, Session, PppLink, Automaton and
// ReliableChannel objects (the inspector's queryObjects after a full GC).
import test from 'ava'
import { runControlPlaneBench } from '../lib/bench/control-plane-bench.js'

test('no IKE SA, tunnel, session, PPP link, automaton or reliable channel outlives the teardown of 100 sessions', async (t) => {
  const r = await runControlPlaneBench(100)
  t.is(r.sessions, 100)
  t.is(r.teardown_objects_left, 0, `${r.teardown_objects_left} session objects alive after the teardown`)
})
