// Records freeradius-mschapv2.json: one real MS-CHAPv2 Access-Request (sent
// by our RadiusAuthenticator) and FreeRADIUS's Access-Accept, through a UDP
// relay, with everything needed to check it independently (password,
// challenges, NT-Response). Run once:
//   node --import tsx __test__/vectors/radius/capture.ts
// The test then checks the reply's authenticators, its S= against RFC 2759
// and its MPPE keys against RFC 3079, without FreeRADIUS.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { RadiusAuthenticator } from '../../../lib/auth/radius/index.js'
import { generateNtResponse } from '../../../lib/ppp/mschapv2.js'
import { FREERADIUS, FreeRadius, UdpRelay } from '../../helpers/freeradius.js'

const secret = 'capture-secret-2548'
const user = 'mppe-user'
const password = 'clientPass'
const fr = await FreeRadius.start({ secret, users: [{ name: user, password }] })
const relay = await UdpRelay.start(fr.authPort)
const auth = new RadiusAuthenticator({ servers: [{ host: '127.0.0.1', port: relay.port, secret }], nas: { nasIdentifier: 'capture' } })
// RFC 2759 section 9.2's challenges, so the numbers are recognisable
const authenticatorChallenge = Buffer.from('5B5D7C7D7B3F2F3E3C2C602132262628', 'hex')
const peerChallenge = Buffer.from('21402324255E262A28295F2B3A337C7E', 'hex')
const ntResponse = generateNtResponse(authenticatorChallenge, peerChallenge, user, { password })
const result = await auth.authenticate({ method: 'mschapv2', user, authenticatorChallenge, peerChallenge, ntResponse, peer: { address: '192.0.2.10', port: 1701 } })
if (!('ok' in result) || !result.ok) throw new Error(`not accepted: ${JSON.stringify(result)}`)
const exchange = relay.exchanges.at(-1)!
const version = execFileSync(FREERADIUS!, ['-v']).toString().split('\n')[0]
writeFileSync(new URL('./freeradius-mschapv2.json', import.meta.url), `${JSON.stringify({
  source: `${version}; captured by capture.ts`,
  secret, user, password,
  authenticatorChallenge: authenticatorChallenge.toString('hex'),
  peerChallenge: peerChallenge.toString('hex'),
  ntResponse: ntResponse.toString('hex'),
  request: exchange.request.toString('hex'),
  accept: exchange.reply.toString('hex'),
}, null, 2)}\n`)
await auth.close()
await relay.close()
await fr.close()
