/**
 * (Soak benchmark helper, run inside the clients' namespace.) For each
 * session that is up, sends one numbered UDP datagram every INTERVAL ms
 * from the session's address to its target's echo port, and counts the
 * answers. Commands arrive as JSON lines on stdin (soak-plan.ts); a
 * `report` prints the totals as one JSON line. A session going down stops
 * sending at once and is tallied a second later (answers in flight count).
 * Usage: node --import tsx soak-traffic.ts INTERVAL_MS
 */
import dgram from 'node:dgram'
import { createInterface } from 'node:readline'
import { REKEY_WINDOW, SOAK_ECHO_PORT, soakTarget, type TrafficCommand, type TrafficReport } from './soak-plan.js'

const interval = Number(process.argv[2] ?? 500)
const LATE_MS = 1000

interface Flow {
  socket: dgram.Socket
  target: string
  seq: number
  /** Requests not answered yet: seq -> ms sent. */
  pending: Map<number, number>
  nextAt: number
  sending: boolean
  rekeys: number[]
}

const flows = new Map<number, Flow>()
const totals: TrafficReport = { sent: 0, received: 0, lost: 0, lostNearRekey: 0, late: 0 }

function tally(flow: Flow, olderThan: number): void {
  for (const [seq, at] of flow.pending) {
    if (at > olderThan) continue
    flow.pending.delete(seq)
    totals.lost++
    if (flow.rekeys.some((r) => at >= r - REKEY_WINDOW.before * 1000 && at <= r + REKEY_WINDOW.after * 1000)) totals.lostNearRekey++
  }
}

function up(slot: number, address: string): void {
  const socket = dgram.createSocket('udp4')
  const flow: Flow = { socket, target: soakTarget(slot), seq: 0, pending: new Map(), nextAt: Date.now() + Math.random() * interval, sending: false, rekeys: [] }
  socket.on('message', (msg) => {
    if (msg.length < 8 || msg.readUInt32BE(0) !== slot) return
    const at = flow.pending.get(msg.readUInt32BE(4))
    if (at === undefined) return
    flow.pending.delete(msg.readUInt32BE(4))
    totals.received++
    if (Date.now() - at > LATE_MS) totals.late++
  })
  socket.on('error', (e) => console.error(`traffic slot ${slot}: ${e.message}`))
  socket.bind(0, address, () => (flow.sending = true))
  flows.set(slot, flow)
}

function down(slot: number): void {
  const flow = flows.get(slot)
  if (!flow) return
  flows.delete(slot)
  flow.sending = false
  setTimeout(() => {
    tally(flow, Infinity)
    flow.socket.close()
  }, 1000)
}

setInterval(() => {
  const now = Date.now()
  for (const [slot, flow] of flows) {
    if (!flow.sending || flow.nextAt > now) continue
    flow.nextAt += interval
    const seq = flow.seq++
    const msg = Buffer.alloc(64)
    msg.writeUInt32BE(slot, 0)
    msg.writeUInt32BE(seq, 4)
    flow.pending.set(seq, now)
    totals.sent++
    flow.socket.send(msg, SOAK_ECHO_PORT, flow.target)
  }
}, 20)

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as TrafficCommand
  if (c.cmd === 'up') up(c.slot, c.address)
  else if (c.cmd === 'down') down(c.slot)
  else if (c.cmd === 'rekey') flows.get(c.slot)?.rekeys.push(Date.now())
  else if (c.cmd === 'report') {
    for (const flow of flows.values()) tally(flow, Date.now() - 2000)
    console.log(JSON.stringify(totals))
  }
})
process.stdin.on('end', () => process.exit(0))
