// The RFC 5176 listener driven by FreeRADIUS's radclient: Disconnect-Request
// for a known session is ACKed after onDisconnect, an unknown one NAKed
// with Session-Context-Not-Found; CoA changes reach onCoa; unsupported or
// missing attributes and foreign NAS names are NAKed with their
// Error-Cause; requests with a wrong secret, from an unknown address, or
// with a stale Event-Timestamp are dropped unanswered; a retransmission
// gets the same answer without a second action.
import test from 'ava'
import dgram from 'node:dgram'
import {
  Attr,
  Code,
  attr,
  decodePacket,
  first,
  signRequest,
  startDaeServer,
  verifyResponse,
  type DaeChanges,
  type DaeMatch,
  type DaeServer,
} from '../lib/auth/radius/index.js'
import { RADCLIENT, INSTALL_HINT, radclient } from './helpers/freeradius.js'

const SECRET = 'dae-secret-5176'
const SESSIONS = [{ id: 5, user: 'dave', acctSessionId: 'gw-test-00000000000000a5', address: '10.9.0.5' }]

interface Rig {
  dae: DaeServer
  disconnects: DaeMatch[]
  coas: Array<[DaeMatch, DaeChanges]>
  kicked: number[]
}

function matching(match: DaeMatch) {
  return SESSIONS.filter((s) =>
    (match.acctSessionId === undefined || match.acctSessionId === s.acctSessionId) &&
    (match.user === undefined || match.user === s.user) &&
    (match.framedIpAddress === undefined || match.framedIpAddress === s.address))
}

async function rig(t: { teardown(fn: () => Promise<void>): void }): Promise<Rig> {
  if (!RADCLIENT) throw new Error(INSTALL_HINT)
  const r: Omit<Rig, 'dae'> = { disconnects: [], coas: [], kicked: [] }
  const dae = await startDaeServer({
    listen: { address: '127.0.0.1', port: 0 },
    clients: [{ address: '127.0.0.1', secret: SECRET }],
    nas: { nasIdentifier: 'l2tp-test', nasIpAddress: '192.0.2.1' },
    onDisconnect(match) {
      r.disconnects.push(match)
      const found = matching(match)
      r.kicked.push(...found.map((s) => s.id))
      return found.length > 0
    },
    onCoa(match, changes) {
      r.coas.push([match, changes])
      return matching(match).length > 0
    },
  })
  t.teardown(() => dae.close())
  return { dae, ...r }
}

async function send(rig: Rig, command: 'disconnect' | 'coa', attributes: string, secret = SECRET) {
  return radclient(['-x', '-r', '1', '-t', '1', `127.0.0.1:${rig.dae.address.port}`, command, secret], attributes)
}

test('radclient Disconnect-Request for a known Acct-Session-Id: onDisconnect runs, Disconnect-ACK', async (t) => {
  const r = await rig(t)
  const { output } = await send(r, 'disconnect', `Acct-Session-Id = "${SESSIONS[0]!.acctSessionId}"\nNAS-Identifier = "l2tp-test"\nMessage-Authenticator = 0x00\n`)
  t.regex(output, /Received Disconnect-ACK/, output)
  t.deepEqual(r.disconnects, [{ acctSessionId: SESSIONS[0]!.acctSessionId }])
  t.deepEqual(r.kicked, [5])
  t.is(r.dae.stats.acks, 1)
})

test('radclient Disconnect-Request by User-Name and Framed-IP-Address works too; an unknown session gets NAK 503', async (t) => {
  const r = await rig(t)
  const ok = await send(r, 'disconnect', 'User-Name = "dave"\nFramed-IP-Address = 10.9.0.5\n')
  t.regex(ok.output, /Received Disconnect-ACK/, ok.output)
  t.deepEqual(r.disconnects[0], { user: 'dave', framedIpAddress: '10.9.0.5' })
  const unknown = await send(r, 'disconnect', 'Acct-Session-Id = "gw-other-1"\n')
  t.regex(unknown.output, /Received Disconnect-NAK/, unknown.output)
  t.regex(unknown.output, /Error-Cause = Session-Context-Not-Found/)
  t.is(r.dae.stats.naks, 1)
})

test('radclient CoA-Request: the changes reach onCoa, CoA-ACK', async (t) => {
  const r = await rig(t)
  const { output } = await send(r, 'coa', 'User-Name = "dave"\nSession-Timeout = 600\nIdle-Timeout = 120\nFilter-Id = "quarantine"\n')
  t.regex(output, /Received CoA-ACK/, output)
  t.deepEqual(r.coas, [[{ user: 'dave' }, { sessionTimeout: 600, idleTimeout: 120, filterId: ['quarantine'] }]])
})

test('NAKs with Error-Cause: unsupported attribute (401), no session attribute (402), another NAS (403), Authorize-Only (405)', async (t) => {
  const r = await rig(t)
  const cases: Array<[string, 'disconnect' | 'coa', string, string]> = [
    ['unsupported', 'disconnect', 'User-Name = "dave"\nFramed-MTU = 1400\n', 'Unsupported-Attribute'],
    ['missing', 'disconnect', 'NAS-Identifier = "l2tp-test"\n', 'Missing-Attribute'],
    ['other NAS', 'disconnect', 'User-Name = "dave"\nNAS-IP-Address = 192.0.2.99\n', 'NAS-Identification-Mismatch'],
    ['authorize-only', 'coa', 'User-Name = "dave"\nService-Type = Authorize-Only\n', 'Unsupported-Service'],
  ]
  for (const [name, command, attributes, cause] of cases) {
    const { output } = await send(r, command, attributes)
    t.regex(output, new RegExp(`Received ${command === 'coa' ? 'CoA' : 'Disconnect'}-NAK[\\s\\S]*Error-Cause = ${cause}`), `${name}: ${output}`)
  }
  t.deepEqual(r.disconnects, [], 'no callback for a request that cannot be acted on')
  t.deepEqual(r.coas, [])
})

test('a request signed with another secret is dropped unanswered and counted; no callback', async (t) => {
  const r = await rig(t)
  const { output } = await send(r, 'disconnect', `Acct-Session-Id = "${SESSIONS[0]!.acctSessionId}"\n`, 'wrong-secret')
  t.notRegex(output, /Received/)
  t.regex(output, /No reply from server/i)
  t.true(r.dae.stats.dropped['bad-authenticator'] >= 1, JSON.stringify(r.dae.stats.dropped))
  t.deepEqual(r.disconnects, [])
})

/** Sends raw datagrams from `bindAddress` and collects what comes back within 300 ms. */
async function exchange(port: number, datagrams: Buffer[], bindAddress = '127.0.0.1'): Promise<Buffer[]> {
  const socket = dgram.createSocket('udp4')
  const replies: Buffer[] = []
  socket.on('message', (m) => replies.push(m))
  await new Promise<void>((resolve) => socket.bind(0, bindAddress, () => resolve()))
  for (const d of datagrams) socket.send(d, port, '127.0.0.1')
  await new Promise((resolve) => setTimeout(resolve, 300))
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return replies
}

test('retransmission gets the cached answer without a second disconnect; unknown source and stale Event-Timestamp are dropped', async (t) => {
  const r = await rig(t)
  const request = signRequest({ code: Code.DISCONNECT_REQUEST, identifier: 77, attributes: [attr.string(Attr.USER_NAME, 'dave'), attr.string(Attr.PROXY_STATE, 'ps-1')], secret: Buffer.from(SECRET), messageAuthenticator: true })
  const replies = await exchange(r.dae.address.port, [request.bytes, request.bytes])
  t.is(replies.length, 2)
  t.deepEqual(replies[0], replies[1])
  t.is(verifyResponse(replies[0]!, request.authenticator, Buffer.from(SECRET), true), undefined)
  const reply = decodePacket(replies[0]!)
  t.is(reply.code, Code.DISCONNECT_ACK)
  t.deepEqual(first(reply.attributes, Attr.PROXY_STATE), Buffer.from('ps-1'), 'Proxy-State echoed')
  t.is(r.disconnects.length, 1)
  t.is(r.dae.stats.duplicates, 1)

  const other = signRequest({ code: Code.DISCONNECT_REQUEST, identifier: 78, attributes: [attr.string(Attr.USER_NAME, 'dave')], secret: Buffer.from(SECRET) })
  t.deepEqual(await exchange(r.dae.address.port, [other.bytes], '127.0.0.2'), [])
  t.is(r.dae.stats.dropped['unknown-client'], 1)

  const stale = signRequest({ code: Code.DISCONNECT_REQUEST, identifier: 79, attributes: [attr.string(Attr.USER_NAME, 'dave'), attr.integer(Attr.EVENT_TIMESTAMP, Math.floor(Date.now() / 1000) - 3600)], secret: Buffer.from(SECRET) })
  t.deepEqual(await exchange(r.dae.address.port, [stale.bytes]), [])
  t.is(r.dae.stats.dropped.stale, 1)

  const garbage = Buffer.from(request.bytes.subarray(0, 30))
  t.deepEqual(await exchange(r.dae.address.port, [garbage, Buffer.alloc(0)]), [])
  t.is(r.dae.stats.dropped.malformed, 2)
  t.is(r.disconnects.length, 1)
})
