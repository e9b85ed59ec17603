/**
 * The soak's traffic, generated inside the client fleet: for each session
 * that is up, one numbered UDP datagram every `intervalMs` from the
 * session's address to its target's echo port (soak-plan.ts), sent into
 * the session as an inner IPv4 packet, and the echoes counted. A session
 * going down stops sending at once and is tallied a second later (answers
 * in flight count).
 */
import { REKEY_WINDOW, SOAK_ECHO_PORT, soakTarget, type TrafficReport } from './soak-plan.js'

const LATE_MS = 1000
const SOURCE_PORT = 40000
const PAYLOAD = 64

interface Flow {
  source: Buffer
  target: Buffer
  seq: number
  /** Requests not answered yet: seq -> ms sent. */
  pending: Map<number, number>
  nextAt: number
  rekeys: number[]
}

export class SoakTraffic {
  private readonly flows = new Map<number, Flow>()
  private readonly totals: TrafficReport = { sent: 0, received: 0, lost: 0, lostNearRekey: 0, late: 0, sessionsAnswered: 0 }
  private readonly timer: NodeJS.Timeout | undefined
  private readonly answered = new Set<number>()

  /** `send(slot, packet)` puts an inner IPv4 packet into session `slot`; intervalMs 0: no traffic. */
  constructor(
    private readonly send: (slot: number, packet: Buffer) => boolean,
    private readonly intervalMs: number,
  ) {
    if (intervalMs > 0) this.timer = setInterval(() => this.tick(), 20)
  }

  up(slot: number, address: string): void {
    if (this.intervalMs <= 0) return
    this.flows.set(slot, { source: ipv4Bytes(address), target: ipv4Bytes(soakTarget(slot)), seq: 0, pending: new Map(), nextAt: Date.now() + Math.random() * this.intervalMs, rekeys: [] })
  }

  down(slot: number): void {
    const flow = this.flows.get(slot)
    if (!flow) return
    this.flows.delete(slot)
    setTimeout(() => this.tally(flow, Infinity), 1000)
  }

  rekey(slot: number): void {
    this.flows.get(slot)?.rekeys.push(Date.now())
  }

  /** An inner packet that came through session `slot`: an echo of ours? */
  receive(slot: number, packet: Buffer): void {
    const flow = this.flows.get(slot)
    const ihl = ((packet[0] ?? 0) & 0x0f) * 4
    if (!flow || packet.length < ihl + 8 + 8 || packet[9] !== 17) return
    const body = packet.subarray(ihl + 8)
    if (body.readUInt32BE(0) !== slot) return
    const seq = body.readUInt32BE(4)
    const at = flow.pending.get(seq)
    if (at === undefined) return
    flow.pending.delete(seq)
    this.totals.received++
    this.answered.add(slot)
    if (Date.now() - at > LATE_MS) this.totals.late++
  }

  /** Totals so far; requests older than 2 s count as lost. */
  report(): TrafficReport {
    for (const flow of this.flows.values()) this.tally(flow, Date.now() - 2000)
    return { ...this.totals, sessionsAnswered: this.answered.size }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  private tally(flow: Flow, olderThan: number): void {
    for (const [seq, at] of flow.pending) {
      if (at > olderThan) continue
      flow.pending.delete(seq)
      this.totals.lost++
      if (flow.rekeys.some((r) => at >= r - REKEY_WINDOW.before * 1000 && at <= r + REKEY_WINDOW.after * 1000)) this.totals.lostNearRekey++
    }
  }

  private tick(): void {
    const now = Date.now()
    for (const [slot, flow] of this.flows) {
      if (flow.nextAt > now) continue
      flow.nextAt += this.intervalMs
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

/** IPv4 + UDP (checksum 0, allowed over IPv4) carrying the slot and sequence number. */
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
  return p
}

function ipChecksum(header: Buffer): number {
  let sum = 0
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}
