/**
 * The soak's traffic, generated inside the client fleet: for each session
 * that is up, one numbered UDP datagram every `intervalMs` from the
 * session's address to its target's echo port (soak-plan.ts), sent into
 * the session as an inner IPv4 packet, and the echoes counted. A session
 * going down stops sending at once; its answers still in flight are
 * matched for DRAIN_MS more, then what is unanswered is tallied as lost.
 *
 * Every lost datagram is put in one bucket by when it was sent (soak-plan.ts
 * `LostBuckets`): within CONNECT_WINDOW of its session coming up, within
 * REKEY_WINDOW of a rekey, within END_WINDOW before its session went down,
 * or none of these. The generator's own lateness (how late its 20 ms timer
 * ran, the most it was behind) is reported too.
 */
import { CONNECT_WINDOW, END_WINDOW, REKEY_WINDOW, SOAK_ECHO_PORT, soakTarget, type TrafficReport } from './soak-plan.js'

const LATE_MS = 1000
/** How long a session's answers are still matched after it stopped sending. */
const DRAIN_MS = 1000
const SOURCE_PORT = 40000
const PAYLOAD = 64
const TICK_MS = 20

interface Flow {
  /** Distinguishes a slot's lives: an answer to an earlier life's datagram is not this life's. */
  id: number
  source: Buffer
  target: Buffer
  seq: number
  /** Requests not answered yet: seq -> ms sent. */
  pending: Map<number, number>
  nextAt: number
  upAt: number
  downAt: number
  rekeys: number[]
}

export class SoakTraffic {
  private readonly flows = new Map<number, Flow>()
  /** Flows that stopped sending and are still matching answers: flow id -> flow. */
  private readonly draining = new Map<number, Flow>()
  private readonly totals: TrafficReport = {
    sent: 0,
    received: 0,
    lost: 0,
    lostNearRekey: 0,
    lostByWindow: { connect: 0, rekey: 0, end: 0, other: 0 },
    answersUnmatched: 0,
    late: 0,
    sessionsAnswered: 0,
    tickLateMsMax: 0,
    sendsSkipped: 0,
  }
  private readonly timer: NodeJS.Timeout | undefined
  private readonly answered = new Set<number>()
  private nextFlowId = 1
  private lastTick = Date.now()

  /** `send(slot, packet)` puts an inner IPv4 packet into session `slot`; intervalMs 0: no traffic. */
  constructor(
    private readonly send: (slot: number, packet: Buffer) => boolean,
    private readonly intervalMs: number,
  ) {
    if (intervalMs > 0) this.timer = setInterval(() => this.tick(), TICK_MS)
  }

  up(slot: number, address: string): void {
    if (this.intervalMs <= 0) return
    const now = Date.now()
    const old = this.flows.get(slot)
    if (old) this.end(old, now)
    this.flows.set(slot, { id: this.nextFlowId++ >>> 0, source: ipv4Bytes(address), target: ipv4Bytes(soakTarget(slot)), seq: 0, pending: new Map(), nextAt: now + Math.random() * this.intervalMs, upAt: now, downAt: Infinity, rekeys: [] })
  }

  down(slot: number): void {
    const flow = this.flows.get(slot)
    if (!flow) return
    this.flows.delete(slot)
    this.end(flow, Date.now())
  }

  rekey(slot: number): void {
    this.flows.get(slot)?.rekeys.push(Date.now())
  }

  /** An inner packet that came through session `slot`: an echo of ours? */
  receive(slot: number, packet: Buffer): void {
    const ihl = ((packet[0] ?? 0) & 0x0f) * 4
    if (packet.length < ihl + 8 + 12 || packet[9] !== 17) return
    const body = packet.subarray(ihl + 8)
    const current = this.flows.get(slot)
    const id = body.readUInt32BE(8)
    const flow = body.readUInt32BE(0) !== slot ? undefined : current?.id === id ? current : this.draining.get(id)
    const seq = body.readUInt32BE(4)
    const at = flow?.pending.get(seq)
    if (!flow || at === undefined) {
      this.totals.answersUnmatched++
      return
    }
    flow.pending.delete(seq)
    this.totals.received++
    this.answered.add(slot)
    if (Date.now() - at > LATE_MS) this.totals.late++
  }

  /** Totals so far; requests older than 2 s count as lost. */
  report(): TrafficReport {
    for (const flow of this.flows.values()) this.tally(flow, Date.now() - 2000)
    for (const flow of this.draining.values()) this.tally(flow, Infinity)
    this.draining.clear()
    return { ...this.totals, lostByWindow: { ...this.totals.lostByWindow }, sessionsAnswered: this.answered.size }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  private end(flow: Flow, now: number): void {
    flow.downAt = now
    this.draining.set(flow.id, flow)
    setTimeout(() => {
      this.draining.delete(flow.id)
      this.tally(flow, Infinity)
    }, DRAIN_MS)
  }

  private tally(flow: Flow, olderThan: number): void {
    const w = this.totals.lostByWindow
    for (const [seq, at] of flow.pending) {
      if (at > olderThan) continue
      flow.pending.delete(seq)
      this.totals.lost++
      const nearRekey = flow.rekeys.some((r) => at >= r - REKEY_WINDOW.before * 1000 && at <= r + REKEY_WINDOW.after * 1000)
      if (nearRekey) this.totals.lostNearRekey++
      // One bucket each, in this order: the first that applies.
      if (at - flow.upAt < CONNECT_WINDOW * 1000) w.connect++
      else if (nearRekey) w.rekey++
      else if (flow.downAt - at < END_WINDOW * 1000) w.end++
      else w.other++
    }
  }

  private tick(): void {
    const now = Date.now()
    this.totals.tickLateMsMax = Math.max(this.totals.tickLateMsMax, now - this.lastTick - TICK_MS)
    this.lastTick = now
    for (const [slot, flow] of this.flows) {
      if (flow.nextAt > now) continue
      // A tick that ran late sends one datagram, not every one it missed:
      // a burst of 1,000 sessions' backlog at once is the generator's
      // stall, not traffic a server should be measured on.
      const missed = Math.floor((now - flow.nextAt) / this.intervalMs)
      this.totals.sendsSkipped += missed
      flow.nextAt += (missed + 1) * this.intervalMs
      const seq = flow.seq++
      if (!this.send(slot, udpPacket(flow, slot, seq))) continue
      flow.pending.set(seq, now)
      this.totals.sent++
    }
  }
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number))
}

/** IPv4 + UDP (checksum 0, allowed over IPv4) carrying the slot, the sequence number and the flow's id. */
function udpPacket(flow: Flow, slot: number, seq: number): Buffer {
  const p = Buffer.alloc(20 + 8 + PAYLOAD)
  p[0] = 0x45
  p.writeUInt16BE(p.length, 2)
  p.writeUInt16BE(0x4000, 6) // DF
  p[8] = 64
  p[9] = 17
  flow.source.copy(p, 12)
  flow.target.copy(p, 16)
  p.writeUInt16BE(ipChecksum(p.subarray(0, 20)), 10)
  p.writeUInt16BE(SOURCE_PORT, 20)
  p.writeUInt16BE(SOAK_ECHO_PORT, 22)
  p.writeUInt16BE(8 + PAYLOAD, 24)
  p.writeUInt32BE(slot, 28)
  p.writeUInt32BE(seq, 32)
  p.writeUInt32BE(flow.id, 36)
  return p
}

function ipChecksum(header: Buffer): number {
  let sum = 0
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}
