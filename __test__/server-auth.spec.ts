// Authentication end to end (issue #6): our L2tpClient against L2tpServer in
// two network namespaces (lib/testing/vpn-rig.ts), for what the in-memory
// tests of ppp-link.spec.ts cannot show: the methods work over the real
// stack (IKE, L2TP, data plane), and the outcome is what a user sees
// (connected and pinging, or refused with auth-failure).
import test from 'ava'
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
