// Reliable delivery of L2TP control messages (RFC 2661 5.8): two channels
// driven step by step in memory, through a seeded lossy, duplicating and
// reordering link; back-off and failure; duplicates; windows; wrap-around;
// and the LNS side of a recorded xl2tpd session replayed.
import { prng } from './helpers/seeded.js'
import test from 'ava'
import { readFileSync } from 'node:fs'
import { avp, avpValue, decodeControl, encodeControl } from '../lib/l2tp/codec.js'
import type { ControlMessage, DecodedControl } from '../lib/l2tp/codec.js'
import { AvpType, MessageType } from '../lib/l2tp/constants.js'
import { ReliableChannel, seqDistance, seqLessThan } from '../lib/l2tp/reliable.js'
import type { ReliableOptions } from '../lib/l2tp/reliable.js'

/** A HELLO numbered by its Call Serial Number AVP, so order can be checked. */
function numbered(i: number, tunnelId = 1): { tunnelId: number; sessionId: number; messageType: number; avps: ReturnType<typeof avp>[] } {
  return { tunnelId, sessionId: 0, messageType: MessageType.HELLO, avps: [avp(AvpType.CALL_SERIAL_NUMBER, i)] }
}

const serial = (m: ControlMessage): number => avpValue(m.avps, AvpType.CALL_SERIAL_NUMBER)!
const header = (d: Buffer): { ns: number; nr: number; zlb: boolean } => ({ ns: d.readUInt16BE(8), nr: d.readUInt16BE(10), zlb: d.length === 12 })

interface InFlight { at: number; to: 0 | 1; datagram: Buffer }

/** Drops, duplicates and delays (so reorders) datagrams, from a seed. */
class Link {
  private readonly queue: InFlight[] = []
  sent = 0
  dropped = 0
  duplicated = 0
  constructor(private readonly random: () => number, private readonly loss: number, private readonly duplicate: number, private readonly maxDelay: number) {}

  push(now: number, to: 0 | 1, datagram: Buffer): void {
    this.sent++
    if (this.random() < this.loss) return void this.dropped++
    const copies = this.random() < this.duplicate ? 2 : 1
    if (copies === 2) this.duplicated++
    for (let i = 0; i < copies; i++) this.queue.push({ at: now + this.random() * this.maxDelay, to, datagram })
  }

  due(now: number): InFlight[] {
    const ready = this.queue.filter((p) => p.at <= now).sort((a, b) => a.at - b.at)
    for (const p of ready) this.queue.splice(this.queue.indexOf(p), 1)
    return ready
  }

  get empty(): boolean {
    return this.queue.length === 0
  }
}

function drive(seed: number, counts: [number, number], options: ReliableOptions, link: { loss: number; duplicate: number; maxDelay: number }) {
  const random = prng(seed)
  const wire = new Link(random, link.loss, link.duplicate, link.maxDelay)
  const ends = [new ReliableChannel({ ...options, peerTunnelId: 2 }), new ReliableChannel({ ...options, peerTunnelId: 1 })] as const
  const delivered: number[][] = [[], []]
  const toSend = [0, 0]
  let now = 0
  for (let step = 0; step < 200_000; step++) {
    now = step * 0.05
    for (const p of wire.due(now)) {
      for (const m of ends[p.to].receive(decodeControl(p.datagram), now)) delivered[p.to]!.push(serial(m))
    }
    for (const i of [0, 1] as const) {
      // Each end offers new messages at random moments.
      if (toSend[i]! < counts[i] && random() < 0.3) ends[i].send(numbered(toSend[i]!++, i === 0 ? 2 : 1))
      for (const d of ends[i].poll(now)) wire.push(now, i === 0 ? 1 : 0, d)
    }
    const done = toSend[0] === counts[0] && toSend[1] === counts[1] && ends.every((e) => e.idle) && wire.empty
    if (done || ends.some((e) => e.failed)) break
  }
  return { ends, delivered, wire, now }
}

for (const seed of [1, 2, 3, 0xc0ffee, 20261126]) {
  test(`lossy, duplicating, reordering link (seed ${seed}): every message delivered once, in order`, (t) => {
    const { ends, delivered, wire } = drive(seed, [150, 120], { maxTries: 40, receiveWindow: 4, peerReceiveWindow: 4 }, { loss: 0.2, duplicate: 0.15, maxDelay: 0.6 })
    t.false(ends[0].failed || ends[1].failed)
    t.deepEqual(delivered[1], [...Array(150).keys()])
    t.deepEqual(delivered[0], [...Array(120).keys()])
    t.true(wire.dropped > 20 && wire.duplicated > 20, `dropped ${wire.dropped}, duplicated ${wire.duplicated}`)
    t.true(ends.every((e) => e.idle && e.unacknowledged === 0 && e.queued === 0))
  })
}

test('lossless link, across the 16-bit wrap, with windows of 1 and 8', (t) => {
  const { ends, delivered } = drive(7, [40, 40], { initialNs: 65520, initialNr: 65520, receiveWindow: 8, peerReceiveWindow: 1 }, { loss: 0, duplicate: 0, maxDelay: 0.3 })
  t.deepEqual(delivered[0], [...Array(40).keys()])
  t.deepEqual(delivered[1], [...Array(40).keys()])
  t.is(ends[0].ns, (65520 + 40) % 65536)
  t.is(ends[1].nr, (65520 + 40) % 65536)
})

test('retransmission backs off 1, 2, 4, 8, 8 s, then the channel fails', (t) => {
  const a = new ReliableChannel()
  a.send(numbered(0))
  const sentAt: number[] = []
  let now = 0
  for (let guard = 0; guard < 20 && !a.failed; guard++) {
    const out = a.poll(now)
    if (out.length > 0) {
      sentAt.push(now)
      t.deepEqual(out.map(header), [{ ns: 0, nr: 0, zlb: false }])
    }
    const next = a.nextTimeout()
    if (next === undefined) break
    now = next
  }
  t.deepEqual(sentAt, [0, 1, 3, 7, 15])
  t.is(now, 23)
  t.true(a.failed)
  t.deepEqual(a.poll(100), [])
  t.is(a.nextTimeout(), undefined)
})

test('back-off, cap and tries are configurable', (t) => {
  const a = new ReliableChannel({ initialTimeout: 0.5, maxTimeout: 1.5, maxTries: 7 })
  a.send(numbered(0))
  const sentAt: number[] = []
  for (let now: number | undefined = 0; now !== undefined && !a.failed; now = a.nextTimeout()) {
    if (a.poll(now).length) sentAt.push(now)
  }
  t.deepEqual(sentAt, [0, 0.5, 1.5, 3, 4.5, 6, 7.5])
  t.true(a.failed)
})

test('an acknowledgement stops retransmission; a stale or bogus Nr is ignored', (t) => {
  const a = new ReliableChannel()
  a.send(numbered(0))
  a.send(numbered(1))
  t.is(a.poll(0).length, 2)
  const ack = (nr: number): DecodedControl => decodeControl(encodeControl({ tunnelId: 1, sessionId: 0, ns: 0, nr }))
  a.receive(ack(5), 0.5) // acknowledges messages never sent
  t.is(a.unacknowledged, 2)
  a.receive(ack(1), 0.5)
  t.is(a.unacknowledged, 1)
  a.receive(ack(0), 0.6) // stale
  t.is(a.unacknowledged, 1)
  t.deepEqual(a.poll(1).map(header), [{ ns: 1, nr: 0, zlb: false }])
  a.receive(ack(2), 1.2)
  t.true(a.idle)
  t.is(a.nextTimeout(), undefined)
})

test('duplicates are re-acknowledged with a ZLB at once, not delivered again', (t) => {
  const a = new ReliableChannel({ peerTunnelId: 9 })
  const b = new ReliableChannel({ peerTunnelId: 1 })
  a.send(numbered(0, 1))
  const [d] = a.poll(0)
  t.is(b.receive(decodeControl(d!), 0).length, 1)
  t.deepEqual(b.poll(0), [], 'the ZLB waits for a reply to piggyback on')
  t.is(b.nextTimeout(), 0.2)
  t.is(b.receive(decodeControl(d!), 0.05).length, 0)
  const zlb = b.poll(0.05)
  t.deepEqual(zlb.map((z) => z.toString('hex')), ['c802000c000100000000' + '0001'], 'Tunnel ID: the peer\'s; Ns 0, Nr 1')
  t.is(b.receive(decodeControl(d!), 0.06).length, 0)
  t.deepEqual(b.flush(0.06).map(header), [{ ns: 0, nr: 1, zlb: true }])
})

test('a reply piggybacks the acknowledgement; otherwise a ZLB after ackDelay or on flush', (t) => {
  const a = new ReliableChannel()
  const b = new ReliableChannel({ ackDelay: 0.5 })
  a.send(numbered(0))
  b.receive(decodeControl(a.poll(0)[0]!), 0)
  b.send(numbered(100))
  t.deepEqual(b.poll(0.01).map(header), [{ ns: 0, nr: 1, zlb: false }])
  t.is(b.poll(1).length, 0, 'no ZLB: the reply carried Nr')
  b.receive(decodeControl(encodeControl({ tunnelId: 1, sessionId: 0, ns: 1, nr: 1 })), 1) // a's ZLB for the reply
  t.true(b.idle)

  a.send(numbered(1))
  b.receive(decodeControl(a.poll(0)[0]!), 2)
  t.deepEqual(b.poll(2.4), [])
  t.deepEqual(b.poll(2.5).map(header), [{ ns: 1, nr: 2, zlb: true }])
  a.send(numbered(2))
  b.receive(decodeControl(a.poll(0)[0]!), 3)
  t.deepEqual(b.flush(3).map(header), [{ ns: 1, nr: 3, zlb: true }])
})

test("the peer's receive window bounds messages in flight", (t) => {
  const a = new ReliableChannel({ peerReceiveWindow: 2 })
  for (let i = 0; i < 5; i++) a.send(numbered(i))
  t.deepEqual(a.poll(0).map((d) => header(d).ns), [0, 1])
  t.is(a.queued, 3)
  t.deepEqual(a.poll(0.5), [])
  a.receive(decodeControl(encodeControl({ tunnelId: 1, sessionId: 0, ns: 0, nr: 1 })), 0.6)
  t.deepEqual(a.poll(0.6).map((d) => header(d).ns), [2])
  a.setPeerReceiveWindow(8) // e.g. from the SCCRP's RWS
  t.deepEqual(a.poll(0.7).map((d) => header(d).ns), [3, 4])
  a.setPeerReceiveWindow(0)
  t.is(a.peerReceiveWindow, 1)
})

test('out-of-order messages within our window are queued and delivered in order; beyond it, dropped', (t) => {
  const a = new ReliableChannel({ peerReceiveWindow: 8 })
  const b = new ReliableChannel({ receiveWindow: 4 })
  for (let i = 0; i < 6; i++) a.send(numbered(i))
  const ds = a.poll(0).map((d) => decodeControl(d))
  t.deepEqual(b.receive(ds[2]!, 0), [])
  t.deepEqual(b.receive(ds[1]!, 0), [])
  t.deepEqual(b.receive(ds[1]!, 0), [])
  t.deepEqual(b.receive(ds[4]!, 0), [], 'ns 4 is outside a window of 4 from 0: dropped')
  t.deepEqual(b.receive(ds[0]!, 0).map(serial), [0, 1, 2])
  t.is(b.nr, 3)
  t.deepEqual(b.receive(ds[3]!, 0).map(serial), [3])
  t.deepEqual(b.receive(ds[5]!, 0), [])
  t.deepEqual(b.receive(ds[4]!, 0).map(serial), [4, 5])
})

test('sequence numbers wrap at 65536 and compare RFC 1982-style', (t) => {
  t.true(seqLessThan(65535, 0))
  t.true(seqLessThan(65000, 100))
  t.false(seqLessThan(100, 65000))
  t.false(seqLessThan(5, 5))
  t.is(seqDistance(2, 65534), 4)
  const a = new ReliableChannel({ initialNs: 65534, peerReceiveWindow: 8 })
  const b = new ReliableChannel({ initialNr: 65534 })
  for (let i = 0; i < 5; i++) a.send(numbered(i))
  const ds = a.poll(0)
  t.deepEqual(ds.map((d) => header(d).ns), [65534, 65535, 0, 1, 2])
  // Arriving in reverse: Ns 2 is 4 past 65534, outside a window of 4, so dropped; 1, 0 and 65535 wait for 65534.
  const reversed = [...ds].reverse().flatMap((d) => b.receive(decodeControl(d), 0)).map(serial)
  t.deepEqual(reversed, [0, 1, 2, 3])
  t.is(b.nr, 2)
  const b2 = new ReliableChannel({ initialNr: 65534 })
  t.deepEqual(ds.flatMap((d) => b2.receive(decodeControl(d), 0)).map(serial), [0, 1, 2, 3, 4])
  t.is(b2.nr, 3)
  // A duplicate from before the wrap is recognised as old.
  t.deepEqual(b2.receive(decodeControl(ds[0]!), 1), [])
  t.deepEqual(b2.poll(1).map(header), [{ ns: 0, nr: 3, zlb: true }])
  // The acknowledgement across the wrap clears all five.
  a.receive(decodeControl(encodeControl({ tunnelId: 1, sessionId: 0, ns: 0, nr: 3 })), 1)
  t.true(a.idle)
})

test('LNS side of a recorded xl2tpd session: our Ns/Nr match xl2tpd as LNS', (t) => {
  const real = JSON.parse(readFileSync(new URL('./vectors/l2tp/real-control.json', import.meta.url), 'utf8')) as { messages: { session: string; frame: number; hex: string }[] }
  const frame = (n: number): Buffer => Buffer.from(real.messages.find((m) => m.session === 'strongswan-aes128-sha1-modp2048' && m.frame === n)!.hex, 'hex')
  const lns = new ReliableChannel()
  // Frames 10 and 11: the client's SCCRQ and its retransmission.
  const sccrq = lns.receive(decodeControl(frame(10)), 0)
  t.is(sccrq.length, 1)
  lns.peerTunnelId = avpValue(sccrq[0]!.avps, AvpType.ASSIGNED_TUNNEL_ID)!
  lns.setPeerReceiveWindow(avpValue(sccrq[0]!.avps, AvpType.RECEIVE_WINDOW_SIZE)!)
  t.deepEqual(lns.receive(decodeControl(frame(11)), 0.1), [])
  // Frame 12: xl2tpd's SCCRP, sent through our channel, comes out byte for byte.
  const { ns: _ns, nr: _nr, ...sccrp } = decodeControl(frame(12))
  lns.send(sccrp)
  t.deepEqual(lns.poll(0.1), [frame(12)])
  // Frame 13, SCCCN; flushed: frame 15's ZLB exactly.
  t.is(lns.receive(decodeControl(frame(13)), 0.2).length, 1)
  t.deepEqual(lns.flush(0.2), [frame(15)])
  // Frame 14, ICRQ; the ICRP of frame 16 carries the acknowledgement.
  t.is(lns.receive(decodeControl(frame(14)), 0.3).length, 1)
  const { ns: _ns2, nr: _nr2, ...icrp } = decodeControl(frame(16))
  lns.send(icrp)
  t.deepEqual(lns.flush(0.3), [frame(16)])
  // Frame 18, ICCN (its Nr acknowledges our SCCRP and ICRP); frame 19's ZLB, but ours says session 0.
  t.is(lns.receive(decodeControl(frame(18)), 0.4).length, 1)
  t.true(lns.idle === false && lns.unacknowledged === 0)
  const [zlb] = lns.flush(0.4)
  t.deepEqual({ ...decodeControl(zlb!), sessionId: 0 }, { ...decodeControl(frame(19)), sessionId: 0 })
  t.true(lns.idle)
})

test('send refuses a ZLB; encoding errors surface from send', (t) => {
  const a = new ReliableChannel()
  t.throws(() => a.send({ tunnelId: 1, sessionId: 0 }), { instanceOf: RangeError })
  t.throws(() => a.send({ tunnelId: 70000, sessionId: 0, messageType: MessageType.HELLO }), { name: 'L2tpCodecError' })
  t.throws(() => new ReliableChannel({ initialNs: 65536 }), { instanceOf: RangeError })
})
