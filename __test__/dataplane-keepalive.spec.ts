// LCP keepalive in the native data plane (issue #9), between two real data
// planes (lib/testing/dataplane-pair.ts: veth, ESP in UDP, L2TP, PPP): once
// a session's keepalive is handed over (setKeepalive / SessionOptions.
// keepalive), the peer's Echo-Requests are answered by the server's data
// plane and its Echo-Replies taken there, neither reaching the server's JS;
// the server's own Echo-Requests go out on the interval, and a peer that
// stops answering is reported once as session-echo-timeout. The peer here
// is the other data plane driven by hand (its JS sees every LCP frame), so
// it can also loop our Magic-Number back and Code-Reject Echo-Request.
// Needs root.
import test from 'ava'
import type { ControlBatch, KeepaliveOptions } from '../native/index.js'
import { packBatch } from '../lib/index.js'
import { createDataplanePair, type DataplanePair, type Side } from '../lib/testing/dataplane-pair.js'
import { sleep, until } from './helpers/netns-run.js'

const OURS = 0x1122_3344
const PEERS = 0xa1b2_c3d4
const keepalive = (o: Partial<KeepaliveOptions> = {}): KeepaliveOptions => ({ magic: OURS, peerMagic: PEERS, peerMru: 1400, intervalMs: 0, failures: 3, ...o })

function pair(t: { teardown: (fn: () => void) => void }): DataplanePair {
  const p = createDataplanePair('ka')
  t.teardown(p.close)
  return p
}

/** An LCP packet as a whole PPP frame: FF 03 C0 21, Code, Identifier, Length, data. */
function lcp(code: number, identifier: number, data: Buffer): Buffer {
  const header = Buffer.from([0xff, 0x03, 0xc0, 0x21, code, identifier, 0, 0])
  header.writeUInt16BE(4 + data.length, 6)
  return Buffer.concat([header, data])
}
const magic = (m: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(m)
  return b
}

/** The LCP frames a side's JS was handed, in order. */
function lcpUp(side: Side): Buffer[] {
  return side.batches.flatMap((b: ControlBatch) => b.meta.map((_, i) => b.packets.subarray(b.offsets[i], b.offsets[i + 1]))).filter((f) => f.readUInt16BE(2) === 0xc021)
}
const events = (side: Side, type: string) => side.batches.flatMap((b) => b.events).filter((e) => e.type === type)
const counters = (side: Side) => side.dp.summary().counters

/** changedSessionCounters()'s keepaliveHeard for session 1 (undefined: not listed). */
function heard(side: Side): number | undefined {
  const flat = side.dp.changedSessionCounters()
  for (let i = 0; i + 7 <= flat.length; i += 7) if (flat[i] === 1) return flat[i + 6]
  return undefined
}

/** The peer (the client data plane, session 7) sends one PPP frame. */
function peerSends(p: DataplanePair, frame: Buffer): void {
  const batch = packBatch([frame])
  if (p.client.dp.sendControl(batch.data, batch.offsets, [{ kind: 'ppp', session: 7 }]) !== 1) throw new Error('the peer could not send')
}

test.serial("the peer's Echo-Requests are answered in the data plane and never reach the server's JS; handed back, they do again", async (t) => {
  const p = pair(t)
  const { server, client } = p
  t.false(server.dp.setKeepalive(99, keepalive()), 'no such session')
  t.true(server.dp.setKeepalive(1, keepalive()))
  const before = counters(server)

  peerSends(p, lcp(9, 0x42, Buffer.concat([magic(PEERS), Buffer.from('hello')])))
  t.true(await until(() => lcpUp(client).length === 1, 5000), 'the peer got an answer')
  // RFC 1661 5.8: Echo-Reply, the request's Identifier, our Magic-Number, the request's data.
  t.deepEqual(lcpUp(client)[0], lcp(10, 0x42, Buffer.concat([magic(OURS), Buffer.from('hello')])))
  const after = counters(server)
  t.is(after.lcp_echo_requests_in! - before.lcp_echo_requests_in!, 1)
  t.is(after.lcp_echo_replies_out! - before.lcp_echo_replies_out!, 1)
  t.is(after.ppp_control_in, before.ppp_control_in, 'nothing went up')
  t.deepEqual(lcpUp(server), [])

  // The peer was heard: the control plane's counter refresh lists the session with the keepalive flag (DPD liveness), once.
  t.is(heard(server), 1, 'keepaliveHeard')
  t.not(heard(server), 1, 'not again without news')

  // Our own Magic-Number coming back is a looped-back link: not answered (RFC 1661 6.4), not passed up.
  peerSends(p, lcp(9, 0x43, magic(OURS)))
  t.true(await until(() => counters(server).lcp_echo_looped! > before.lcp_echo_looped!, 5000), 'the looped request was seen')
  await sleep(300)
  t.is(lcpUp(client).length, 1, 'and not answered')
  t.deepEqual(lcpUp(server), [])

  // Other LCP goes up as before (here a Discard-Request).
  const discard = lcp(11, 0x44, magic(PEERS))
  peerSends(p, discard)
  t.true(await until(() => lcpUp(server).length === 1, 5000))
  t.deepEqual(lcpUp(server)[0], discard)
  t.is(counters(server).ppp_control_in! - before.ppp_control_in!, 1)

  // Taken back (the link went down): the next Echo-Request is the control plane's again.
  t.true(server.dp.setKeepalive(1, null))
  const request = lcp(9, 0x45, magic(PEERS))
  peerSends(p, request)
  t.true(await until(() => lcpUp(server).length === 2, 5000), 'it went up')
  t.deepEqual(lcpUp(server)[1], request)
  await sleep(300)
  t.is(lcpUp(client).length, 1, 'the data plane no longer answers')
})

test.serial('our Echo-Requests go out on the interval, Echo-Replies keep the session, and a peer that stops answering is reported once', async (t) => {
  const p = pair(t)
  const { server, client } = p
  // Handed over with the control plane's last Identifier 0xfe: ours go on from it (and wrap).
  server.dp.upsertSession({ id: 1, binding: 1, localTunnel: 10, localSession: 20, peerTunnel: 30, peerSession: 40, ipv4: '192.168.77.10', mru: 1400, keepalive: keepalive({ intervalMs: 1000, failures: 2, identifier: 0xfe, firstMs: 0 }) })
  const requests = () => lcpUp(client).filter((f) => f[4] === 9)
  let answered = 0
  const answer = () => {
    for (const r of requests().slice(answered)) {
      peerSends(p, lcp(10, r[5]!, magic(PEERS)))
      answered++
    }
  }
  // Answer every request for a while: never lost, however many go out.
  for (let i = 0; i < 70 && requests().length < 4; i++) {
    answer()
    await sleep(100)
  }
  answer()
  t.true(requests().length >= 4, `${requests().length} requests in 7 s (the scan runs about once a second)`)
  t.deepEqual(
    requests().slice(0, 3).map((r) => r[5]),
    [0xff, 0x00, 0x01],
    'Identifiers go on from the handover, mod 256',
  )
  t.deepEqual(requests()[0], lcp(9, 0xff, magic(OURS)), 'Echo-Request: our Magic-Number, no data')
  await until(() => counters(server).lcp_echo_replies_in! >= 4, 3000)
  t.true(counters(server).lcp_echo_replies_in! >= 4)
  t.deepEqual(events(server, 'session-echo-timeout'), [], 'answered: no timeout')
  t.deepEqual(lcpUp(server), [], "no echo reached the server's JS")

  // The peer goes silent: two more requests, then the event, once.
  const silentFrom = requests().length
  t.true(await until(() => events(server, 'session-echo-timeout').length > 0, 8000), 'session-echo-timeout')
  t.true(requests().length - silentFrom >= 2, `${requests().length - silentFrom} unanswered requests before it`)
  t.like(events(server, 'session-echo-timeout')[0], { session: 1, count: 2 })
  t.is(counters(server).lcp_echo_timeouts, 1)
  const sent = requests().length
  await sleep(2500)
  t.is(events(server, 'session-echo-timeout').length, 1, 'reported once')
  t.is(requests().length, sent, 'and nothing more sent')
})

test.serial('a peer that Code-Rejects Echo-Request gets no more of them and is not timed out; its own requests are still answered', async (t) => {
  const p = pair(t)
  const { server, client } = p
  t.true(server.dp.setKeepalive(1, keepalive({ intervalMs: 1000, failures: 2, firstMs: 0 })))
  const requests = () => lcpUp(client).filter((f) => f[4] === 9)
  t.true(await until(() => requests().length === 1, 3000), 'the first request')
  // RFC 1661 5.6: Code-Reject carrying the rejected packet (from its Code on).
  const reject = lcp(7, 0x21, requests()[0]!.subarray(4))
  peerSends(p, reject)
  t.true(await until(() => lcpUp(server).length === 1, 5000), 'the Code-Reject went up to the control plane too')
  t.deepEqual(lcpUp(server)[0], reject)
  const after = requests().length
  await sleep(3500)
  t.is(requests().length, after, 'no more Echo-Requests')
  t.deepEqual(events(server, 'session-echo-timeout'), [], 'and no timeout although none was answered')
  peerSends(p, lcp(9, 0x22, magic(PEERS)))
  t.true(await until(() => lcpUp(client).some((f) => f[4] === 10 && f[5] === 0x22), 5000), 'the peer is still answered')
})

test.serial('installed again with the same Magic-Numbers a session keeps its keepalive; bad keepalive options are refused naming the field', async (t) => {
  const p = pair(t)
  const { server, client } = p
  const session = { id: 1, binding: 1, localTunnel: 10, localSession: 20, peerTunnel: 30, peerSession: 40, ipv4: '192.168.77.10', mru: 1400 }
  server.dp.upsertSession({ ...session, keepalive: keepalive({ intervalMs: 1000, failures: 5, identifier: 10, firstMs: 0 }) })
  const requests = () => lcpUp(client).filter((f) => f[4] === 9)
  t.true(await until(() => requests().length === 2, 4000))
  // A new route or policy installs the session again: the control plane's stale Identifier (10) is not taken.
  server.dp.upsertSession({ ...session, policy: { default: 'allow' }, keepalive: keepalive({ intervalMs: 1000, failures: 5, identifier: 10, firstMs: 0 }) })
  t.true(await until(() => requests().length === 3, 4000))
  t.deepEqual(
    requests().map((r) => r[5]),
    [11, 12, 13],
  )
  for (const [bad, field] of [
    [{ failures: 0 }, 'keepalive.failures'],
    [{ peerMru: 70_000 }, 'keepalive.peerMru'],
    [{ identifier: 256 }, 'keepalive.identifier'],
    [{ intervalMs: -1 }, 'keepalive.intervalMs'],
    [{ firstMs: Number.NaN }, 'keepalive.firstMs'],
  ] as const) {
    const err = t.throws(() => server.dp.setKeepalive(1, keepalive(bad)))
    t.true(err?.message.includes(field), `${err?.message} names ${field}`)
  }
})
