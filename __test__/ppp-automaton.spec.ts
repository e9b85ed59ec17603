// The RFC 1661 option-negotiation automaton (lib/ppp/automaton.ts), sans-IO:
// every cell of the 4.1 state transition table against the table as the RFC
// prints it (parsed here, independently of the module's typed copy), then two
// automatons linked in memory: start orders, renegotiation, Nak loops and
// Max-Failure, a silent peer, Terminate, stale identifiers, a lossy link.
import { prng } from './helpers/seeded.js'
import test, { type ExecutionContext } from 'ava'
import {
  Automaton,
  EVENTS,
  STATES,
  TRANSITIONS,
  type AutomatonEvent,
  type AutomatonOptions,
  type AutomatonState,
  type ConfigPacket,
  type ExtensionResult,
  type FsmEvent,
  type OptionPolicy,
  type RequestVerdict,
} from '../lib/ppp/automaton.js'

// --- a small option policy: options are [type, 3, value] --------------------

function option(type: number, value: number): Buffer {
  return Buffer.from([type, 3, value])
}

function parse(options: Buffer): [number, number][] | undefined {
  const out: [number, number][] = []
  for (let at = 0; at < options.length; at += 3) {
    if (options[at + 1] !== 3 || at + 3 > options.length) return undefined
    out.push([options[at]!, options[at + 2]!])
  }
  return out
}

interface PolicySpec {
  /** What we ask for: type -> value. */
  ours?: Record<number, number>
  /** Which of the peer's values we accept, per type; a type not listed is accepted as is. */
  accept?: Record<number, (value: number) => boolean>
  /** The value our Nak suggests, per type. */
  preferred?: Record<number, number>
  /** Types the peer must send: a request without them is Nak'd with the preferred value appended (RFC 1661 5.3). */
  demand?: number[]
  /** Types of the peer's we reject outright (as LCP rejects Windows' MRRU, 17). */
  rejectTypes?: number[]
  /** Take the value a Nak suggests (default true); false: insist on ours. */
  adoptNak?: boolean
  /** Our types that cannot be rejected: onReject returns false. */
  required?: number[]
}

class TestPolicy implements OptionPolicy {
  wishes = new Map<number, number>()
  acked: Buffer | undefined
  peerOptions: Buffer | undefined
  resets = 0
  codeRejected: number[] = []
  constructor(readonly spec: PolicySpec = {}) {
    this.reset()
    this.resets = 0
  }
  reset(): void {
    this.resets++
    this.wishes = new Map(Object.entries(this.spec.ours ?? { 1: 5 }).map(([k, v]) => [Number(k), v]))
  }
  buildRequest(): Buffer {
    return Buffer.concat([...this.wishes].map(([type, value]) => option(type, value)))
  }
  checkRequest(options: Buffer): RequestVerdict {
    const list = parse(options)
    if (!list) return { verdict: 'reject', options }
    const reject = list.filter(([type]) => this.spec.rejectTypes?.includes(type))
    if (reject.length) return { verdict: 'reject', options: Buffer.concat(reject.map(([t, v]) => option(t, v))) }
    const nak = list.filter(([type, value]) => !(this.spec.accept?.[type]?.(value) ?? true)).map(([type]) => option(type, this.spec.preferred?.[type] ?? 0))
    for (const type of this.spec.demand ?? []) if (!list.some(([t]) => t === type)) nak.push(option(type, this.spec.preferred?.[type] ?? 0))
    if (nak.length) return { verdict: 'nak', options: Buffer.concat(nak) }
    this.peerOptions = options
    return { verdict: 'ack' }
  }
  onAck(options: Buffer): void {
    this.acked = options
  }
  onNak(options: Buffer): boolean {
    if (this.spec.adoptNak ?? true) for (const [type, value] of parse(options) ?? []) this.wishes.set(type, value)
    return true
  }
  onReject(options: Buffer): boolean {
    for (const [type] of parse(options) ?? []) {
      if (this.spec.required?.includes(type)) return false
      this.wishes.delete(type)
    }
    return true
  }
  /** LCP-like: 9 Echo-Request answered by 10 Echo-Reply, 10/11 RXR, 8 Protocol-Reject RXJ+, others unknown. */
  handleExtension(packet: ConfigPacket): ExtensionResult {
    if (packet.code === 9) return { event: 'RXR', reply: { code: 10, identifier: packet.identifier, data: packet.data } }
    if (packet.code === 10 || packet.code === 11) return { event: 'RXR' }
    if (packet.code === 8) return { event: 'RXJ+' }
    return { event: 'RUC' }
  }
  onCodeReject(code: number): void {
    this.codeRejected.push(code)
  }
}

function drain(fsm: Automaton): { packets: ConfigPacket[]; events: AutomatonEvent[] } {
  const packets: ConfigPacket[] = []
  const events: AutomatonEvent[] = []
  for (let p = fsm.pollTransmit(); p; p = fsm.pollTransmit()) packets.push(p)
  for (let e = fsm.pollEvent(); e; e = fsm.pollEvent()) events.push(e)
  return { packets, events }
}

// --- RFC 1661 4.1 as printed --------------------------------------------------

const RFC_TABLE_STATES_0_5 = `
 Up   |    2     irc,scr/6     -         -         -         -
 Down |    -         -         0       tls/1       0         1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r
 Close|    0       tlf/0       2         2         4         4
  TO+ |    -         -         -         -       str/4     str/5
  TO- |    -         -         -         -       tlf/2     tlf/3
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
 RCA  |    -         -       sta/2     sta/3       4         5
 RCN  |    -         -       sta/2     sta/3       4         5
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
 RXJ+ |    -         -         2         3         4         5
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
 RXR  |    -         -         2         3         4         5
`

const RFC_TABLE_STATES_6_9 = `
 Up   |    -         -         -           -
 Down |    1         1         1         tld/1
 Open |    6         7         8           9r
 Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
  TO+ |  scr/6     scr/6     scr/8         -
  TO- |  tlf/3p    tlf/3p    tlf/3p        -
 RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
 RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    6         6         8       tld,scr/6
 RUC  |  scj/6     scj/7     scj/8       scj/9
 RXJ+ |    6         6         8           9
 RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
 RXR  |    6         7         8         ser/9
`

interface RfcCell {
  actions: string[]
  next: number
}

/** event -> 10 cells (undefined for '-'); footnote letters r/p/x dropped. */
function parseRfcTable(): Map<string, (RfcCell | undefined)[]> {
  const table = new Map<string, (RfcCell | undefined)[]>()
  for (const text of [RFC_TABLE_STATES_0_5, RFC_TABLE_STATES_6_9]) {
    for (const line of text.split('\n').filter((l) => l.includes('|'))) {
      const [head, body] = line.split('|') as [string, string]
      const cells = body.trim().split(/\s+/).map((token): RfcCell | undefined => {
        if (token === '-') return undefined
        const m = /^(?:([a-z,]+)\/)?(\d)[prx]?$/.exec(token)
        if (!m) throw new Error(`cannot read cell ${token}`)
        return { actions: m[1] ? m[1].split(',') : [], next: Number(m[2]) }
      })
      table.set(head.trim(), [...(table.get(head.trim()) ?? []), ...cells])
    }
  }
  return table
}

const RFC = parseRfcTable()

test('the typed TRANSITIONS equal RFC 1661 4.1 cell by cell (160 cells)', (t) => {
  t.is(RFC.size, 16)
  let cells = 0
  for (const event of EVENTS) {
    const row = RFC.get(event)!
    t.is(row.length, 10, event)
    for (let s = 0; s < 10; s++) {
      const rfc = row[s]
      const ours = TRANSITIONS[event][s]
      t.deepEqual(ours === undefined ? undefined : { actions: [...ours.actions], next: STATES.indexOf(ours.next) }, rfc, `${event} in ${STATES[s]}`)
      cells++
    }
  }
  t.is(cells, 160)
})

// --- driving every (state, event) pair through the public API ----------------

const GOOD = option(1, 5)
const BAD = option(1, 9)
const POLICY: PolicySpec = { ours: { 1: 5 }, accept: { 1: (v) => v === 5 }, preferred: { 1: 5 } }

interface Reached {
  fsm: Automaton
  policy: TestPolicy
  /** Every packet the automaton sent on the way. */
  sent: ConfigPacket[]
}

function lastOf(sent: ConfigPacket[], code: number): ConfigPacket | undefined {
  return sent.filter((p) => p.code === code).at(-1)
}

/** The automaton in RFC state `target` by legal events; at now = 0. A Configure-Request stays unanswered in 2-6. */
function reach(target: number, options: AutomatonOptions): Reached {
  const policy = new TestPolicy(POLICY)
  const fsm = new Automaton('test', policy, options)
  const sent: ConfigPacket[] = []
  const step = () => sent.push(...drain(fsm).packets)
  const ackOurs = () => {
    step()
    const request = lastOf(sent, 1)!
    fsm.receive({ code: 2, identifier: request.identifier, data: request.data }, 0)
  }
  if (target >= 1) fsm.open(0)
  if (target >= 2) fsm.up(0)
  switch (target) {
    case 2:
      fsm.close(0, 'to Closed')
      step()
      fsm.receive({ code: 6, identifier: lastOf(sent, 5)!.identifier, data: Buffer.alloc(0) }, 0)
      break
    case 3:
      fsm.receiveReject('protocol', true, 0)
      break
    case 4:
      fsm.close(0, 'to Closing')
      break
    case 5:
      fsm.close(0, 'to Closing')
      fsm.open(0)
      break
    case 7:
      ackOurs()
      break
    case 8:
      fsm.receive({ code: 1, identifier: 0x33, data: GOOD }, 0)
      break
    case 9:
      ackOurs()
      fsm.receive({ code: 1, identifier: 0x33, data: GOOD }, 0)
      break
  }
  step()
  if (fsm.state !== STATES[target]) throw new Error(`reached ${fsm.state}, not ${STATES[target]}`)
  return { fsm, policy, sent }
}

/**
 * A Configure-Ack/Nak is valid only for an unanswered Configure-Request
 * (RFC 1661 5.2; pppd's seen_ack). Ack-Rcvd and Opened are entered only after
 * a valid Ack, so these [x] cells cannot be reached through receive(): the
 * reply is discarded. TRANSITIONS still holds the RFC's cells (checked above).
 */
const UNREACHABLE = new Set(['RCA AckRcvd', 'RCN AckRcvd', 'RCA Opened', 'RCN Opened'])

const CODE_TO_ACTION: Record<number, string> = { 1: 'scr', 2: 'sca', 3: 'scn', 4: 'scn', 5: 'str', 6: 'sta', 7: 'scj', 10: 'ser' }
const EVENT_TO_ACTION: Record<AutomatonEvent['type'], string> = {
  'this-layer-up': 'tlu',
  'this-layer-down': 'tld',
  'this-layer-started': 'tls',
  'this-layer-finished': 'tlf',
}
const TIMER_STATES = new Set<AutomatonState>(['Closing', 'Stopping', 'ReqSent', 'AckRcvd', 'AckSent'])
const MAX_CONFIGURE = 10
const MAX_TERMINATE = 2

function fire(r: Reached, event: FsmEvent, now: number): ConfigPacket | undefined {
  const { fsm, sent } = r
  const request = lastOf(sent, 1)
  let packet: ConfigPacket | undefined
  switch (event) {
    case 'Up':
      fsm.up(now)
      return undefined
    case 'Down':
      fsm.down(now)
      return undefined
    case 'Open':
      fsm.open(now)
      return undefined
    case 'Close':
      fsm.close(now, 'table test')
      return undefined
    case 'TO+':
    case 'TO-':
      fsm.handleTimeout(fsm.pollTimeout() ?? 1e9)
      return undefined
    case 'RCR+':
      packet = { code: 1, identifier: 0x77, data: GOOD }
      break
    case 'RCR-':
      packet = { code: 1, identifier: 0x77, data: BAD }
      break
    case 'RCA':
      packet = { code: 2, identifier: request?.identifier ?? 1, data: request?.data ?? Buffer.alloc(0) }
      break
    case 'RCN':
      packet = { code: 3, identifier: request?.identifier ?? 1, data: option(1, 5) }
      break
    case 'RTR':
      packet = { code: 5, identifier: 0x55, data: Buffer.from('bye') }
      break
    case 'RTA':
      packet = { code: 6, identifier: 0x56, data: Buffer.alloc(0) }
      break
    case 'RUC':
      packet = { code: 0x42, identifier: 0x57, data: Buffer.from([1, 2, 3]) }
      break
    case 'RXJ+':
      // Code-Reject of Echo-Request (an extended code): permitted.
      packet = { code: 7, identifier: 0x58, data: Buffer.from([9, 1, 0, 8, 0, 0, 0, 0]) }
      break
    case 'RXJ-':
      // Code-Reject of Configure-Request: catastrophic.
      packet = { code: 7, identifier: 0x59, data: Buffer.from([1, 1, 0, 4]) }
      break
    case 'RXR':
      packet = { code: 9, identifier: 0x5a, data: Buffer.from([0, 0, 0, 0]) }
      break
  }
  fsm.receive(packet, now)
  return packet
}

function checkCell(t: ExecutionContext, s: number, event: FsmEvent): void {
  const label = `${event} in ${STATES[s]}`
  // TO- needs the Restart counter at 0 when the timer expires; Ack-Rcvd is always entered by irc, so Max-Configure 0.
  const r = reach(s, event === 'TO-' ? { maxConfigure: 0, maxTerminate: 0 } : { maxConfigure: MAX_CONFIGURE, maxTerminate: MAX_TERMINATE })
  const { fsm } = r
  const before = { counter: fsm.restartCounter, illegal: fsm.counters.illegalEvents, request: lastOf(r.sent, 1), terminate: lastOf(r.sent, 5), deadline: fsm.pollTimeout() }
  if (event === 'TO+' && TIMER_STATES.has(fsm.state)) t.true(fsm.restartCounter > 0, `${label}: counter > 0`)
  if (event === 'TO-' && TIMER_STATES.has(fsm.state)) t.is(fsm.restartCounter, 0, `${label}: counter 0`)
  const now = 1
  const packet = fire(r, event, now)
  const out = drain(fsm)
  const observed = [...out.packets.map((p) => CODE_TO_ACTION[p.code] ?? `code${p.code}`), ...out.events.map((e) => EVENT_TO_ACTION[e.type])].sort()
  const cell = RFC.get(event)![s]

  if (!cell || UNREACHABLE.has(`${event} ${STATES[s]}`)) {
    t.is(fsm.state, STATES[s]!, `${label}: state unchanged`)
    t.deepEqual(observed, [], `${label}: no action`)
    t.is(fsm.restartCounter, before.counter, `${label}: counter unchanged`)
    if (!cell && event !== 'TO+' && event !== 'TO-') t.is(fsm.counters.illegalEvents, before.illegal + 1, `${label}: counted illegal`)
    if (cell) t.is(fsm.counters.discardedReplies, 1, `${label}: reply discarded`)
    return
  }

  t.is(fsm.state, STATES[cell.next]!, `${label}: next state`)
  t.deepEqual(observed, cell.actions.filter((a) => a !== 'irc' && a !== 'zrc').sort(), `${label}: actions`)
  let counter = before.counter
  for (const action of cell.actions) {
    if (action === 'irc') counter = cell.actions.includes('str') ? (event === 'TO-' ? 0 : MAX_TERMINATE) : event === 'TO-' ? 0 : MAX_CONFIGURE
    if (action === 'zrc') counter = 0
    if (action === 'scr' || action === 'str') counter = Math.max(0, counter - 1)
  }
  t.is(fsm.restartCounter, counter, `${label}: Restart counter`)
  const timer = TIMER_STATES.has(fsm.state)
  t.is(fsm.pollTimeout() !== undefined, timer, `${label}: timer running iff ${fsm.state} has one`)
  const restarted = cell.actions.some((a) => a === 'scr' || a === 'str' || a === 'zrc')
  if (restarted) t.is(fsm.pollTimeout(), (event === 'TO+' ? before.deadline! : now) + 3, `${label}: timer restarted`)
  else if (timer) t.is(fsm.pollTimeout(), before.deadline, `${label}: timer left running`)

  for (const p of out.packets) {
    const action = CODE_TO_ACTION[p.code]
    if (action === 'scr') {
      if (event === 'TO+') t.deepEqual(p, before.request, `${label}: retransmission keeps identifier and options`)
      else t.not(p.identifier, before.request?.identifier, `${label}: new request, new identifier`)
    }
    if (action === 'str' && event === 'TO+') t.deepEqual(p, before.terminate, `${label}: Terminate-Request retransmitted`)
    if (action === 'sca') t.deepEqual(p, { code: 2, identifier: 0x77, data: GOOD }, `${label}: Ack echoes the request`)
    if (action === 'scn') t.deepEqual(p, { code: 3, identifier: 0x77, data: option(1, 5) }, `${label}: Nak with our value`)
    if (action === 'sta') t.is(p.identifier, packet!.identifier, `${label}: Terminate-Ack echoes the identifier`)
    if (action === 'scj') t.deepEqual(p.data, Buffer.from([0x42, 0x57, 0, 7, 1, 2, 3]), `${label}: Code-Reject carries the packet`)
    if (action === 'ser') t.deepEqual(p, { code: 10, identifier: 0x5a, data: Buffer.from([0, 0, 0, 0]) }, `${label}: Echo-Reply`)
  }
}

for (const event of EVENTS) {
  test(`RFC 1661 4.1 row ${event}: every state through the public API`, (t) => {
    for (let s = 0; s < 10; s++) checkCell(t, s, event)
  })
}

// --- two automatons linked in memory ----------------------------------------

type Side = 'a' | 'b'

class Link {
  readonly a: Automaton
  readonly b: Automaton
  readonly policyA: TestPolicy
  readonly policyB: TestPolicy
  readonly events: Record<Side, AutomatonEvent[]> = { a: [], b: [] }
  readonly wire: { from: Side; packet: ConfigPacket; at: number }[] = []
  now = 0
  /** Return false to drop a packet on the wire. */
  filter: (from: Side, packet: ConfigPacket) => boolean = () => true

  constructor(specA: PolicySpec = {}, specB: PolicySpec = {}, options: AutomatonOptions = {}) {
    this.policyA = new TestPolicy(specA)
    this.policyB = new TestPolicy(specB)
    this.a = new Automaton('A', this.policyA, options)
    this.b = new Automaton('B', this.policyB, options)
  }

  /** Delivers packets both ways until neither side has anything to send; no time passes. */
  deliver(): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false
      for (const [from, fsm, peer] of [['a', this.a, this.b], ['b', this.b, this.a]] as const) {
        for (let p = fsm.pollTransmit(); p; p = fsm.pollTransmit()) {
          moved = true
          this.wire.push({ from, packet: p, at: this.now })
          if (this.filter(from, p)) peer.receive(p, this.now)
        }
        for (let e = fsm.pollEvent(); e; e = fsm.pollEvent()) this.events[from].push(e)
      }
      if (!moved) return
    }
    throw new Error('packets never stop')
  }

  /** Delivers, then moves the clock to each timer in turn until no timer runs (or `limit` seconds pass). */
  settle(limit = 600): void {
    const end = this.now + limit
    for (;;) {
      this.deliver()
      const next = Math.min(this.a.pollTimeout() ?? Infinity, this.b.pollTimeout() ?? Infinity)
      if (next === Infinity || next > end) return
      this.now = Math.max(this.now, next)
      this.a.handleTimeout(this.now)
      this.b.handleTimeout(this.now)
    }
  }

  sent(from: Side, code: number): ConfigPacket[] {
    return this.wire.filter((w) => w.from === from && w.packet.code === code).map((w) => w.packet)
  }

  types(side: Side): string[] {
    return this.events[side].map((e) => e.type)
  }
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}

test('both sides reach Opened in every order of Open and Up (24 orders), with a Nak round on the way', (t) => {
  // A asks for 1=5, B wants 1=7 and Naks; A takes the suggestion.
  const specA: PolicySpec = { ours: { 1: 5 } }
  const specB: PolicySpec = { ours: { 2: 1 }, accept: { 1: (v) => v === 7 }, preferred: { 1: 7 } }
  const steps = ['A.open', 'A.up', 'B.open', 'B.up'] as const
  const orders = permutations(steps)
  t.is(orders.length, 24)
  for (const order of orders) {
    const link = new Link(specA, specB)
    for (const step of order) {
      const fsm = step.startsWith('A') ? link.a : link.b
      if (step.endsWith('open')) fsm.open(link.now)
      else fsm.up(link.now)
      link.deliver()
      link.now += 0.1
    }
    link.settle()
    const label = order.join(', ')
    t.is(link.a.state, 'Opened', label)
    t.is(link.b.state, 'Opened', label)
    t.is(link.types('a').at(-1), 'this-layer-up', label)
    t.is(link.types('b').at(-1), 'this-layer-up', label)
    t.deepEqual(link.policyA.acked, option(1, 7), `${label}: A's request as B acked it`)
    t.deepEqual(link.policyB.peerOptions, option(1, 7), label)
    t.deepEqual(link.policyA.peerOptions, option(2, 1), label)
    t.is(link.a.pollTimeout(), undefined)
    t.is(link.b.pollTimeout(), undefined)
    t.true(link.now < 30, `${label}: took ${link.now} s`)
  }
})

test('a passive peer (Up, no Open) answers Terminate-Ack until it opens; then both open', (t) => {
  const link = new Link()
  link.a.open(0)
  link.a.up(0)
  link.b.up(0)
  link.deliver()
  t.is(link.b.state, 'Closed')
  t.is(link.a.state, 'ReqSent', "A ignores B's Terminate-Ack in Req-Sent (RTA: 6)")
  t.deepEqual(link.sent('b', 6).map((p) => p.identifier), link.sent('a', 1).map((p) => p.identifier), 'Terminate-Ack echoes the request identifier')
  link.now = 6
  link.a.handleTimeout(6)
  link.deliver()
  t.is(link.sent('a', 1).length, 2)
  link.b.open(link.now)
  link.settle()
  t.is(link.a.state, 'Opened')
  t.is(link.b.state, 'Opened')
})

test('a peer that gave up (Stopped) is revived by the other side opening later', (t) => {
  const link = new Link()
  link.a.up(0)
  link.a.open(0)
  link.settle()
  t.is(link.a.state, 'Stopped', 'A gave up: B is not there')
  t.deepEqual(link.types('a'), ['this-layer-finished'])
  link.b.up(link.now)
  link.b.open(link.now)
  link.settle()
  t.is(link.a.state, 'Opened', 'Stopped answers a Configure-Request with irc,scr,sca/8')
  t.is(link.b.state, 'Opened')
})

test('one side restarted while Opened: the other renegotiates (tld, then tlu) with a new request identifier', (t) => {
  const link = new Link({ ours: { 1: 5 } }, { ours: { 1: 6 }, accept: { 1: (v) => v === 5 } })
  link.a.open(0)
  link.b.open(0)
  link.a.up(0)
  link.b.up(0)
  link.settle()
  t.is(link.a.state, 'Opened')
  t.is(link.b.state, 'Opened')
  const firstId = link.sent('a', 1).at(-1)!.identifier
  const resetsBefore = link.policyA.resets
  link.events.a.length = 0
  link.events.b.length = 0
  link.now = 100
  link.b.down(link.now)
  link.b.up(link.now)
  link.settle()
  t.is(link.a.state, 'Opened')
  t.is(link.b.state, 'Opened')
  t.deepEqual(link.types('a'), ['this-layer-down', 'this-layer-up'])
  t.deepEqual(link.types('b'), ['this-layer-down', 'this-layer-up'], 'Down in Opened is tld/1; Up in Starting is irc,scr/6')
  t.is(link.events.a[0]!.reason, 'peer sent Configure-Request')
  t.not(link.sent('a', 1).at(-1)!.identifier, firstId)
  t.is(link.policyA.resets, resetsBefore + 1, 'renegotiation starts from the initial wishes')
})

test('Nak loop: after Max-Failure (5) Naks the peer Rejects the option as we sent it; dropping it converges', (t) => {
  // A insists on 1=5; B only takes 1=7.
  const link = new Link({ ours: { 1: 5, 2: 1 }, adoptNak: false }, { accept: { 1: (v) => v === 7 }, preferred: { 1: 7 } })
  link.a.open(0)
  link.b.open(0)
  link.a.up(0)
  link.b.up(0)
  link.settle()
  const naks = link.sent('b', 3)
  const rejects = link.sent('b', 4)
  t.is(naks.length, 5)
  t.true(naks.every((p) => p.data.equals(option(1, 7))))
  t.is(rejects.length, 1)
  t.deepEqual(rejects[0]!.data, option(1, 5), "the Reject carries A's option, not B's suggestion")
  t.is(link.a.state, 'Opened')
  t.is(link.b.state, 'Opened')
  t.deepEqual(link.policyA.acked, option(2, 1))
  t.true(link.wire.length < 40, `${link.wire.length} packets`)
})

test('Nak loop: a Reject of a required option closes the side that needs it, and the other side stops (bounded)', (t) => {
  const link = new Link({ ours: { 1: 5 }, adoptNak: false, required: [1] }, { accept: { 1: (v) => v === 7 }, preferred: { 1: 7 } })
  link.a.open(0)
  link.b.open(0)
  link.a.up(0)
  link.b.up(0)
  link.settle()
  t.is(link.sent('b', 3).length, 5)
  t.is(link.sent('b', 4).length, 1)
  t.is(link.a.state, 'Closed')
  const finished = link.events.a.filter((e) => e.type === 'this-layer-finished')
  t.is(finished.length, 1)
  t.regex(finished[0]!.reason!, /cannot do without/)
  t.deepEqual(link.sent('a', 5)[0]!.data.toString(), finished[0]!.reason!.slice(0, 64), 'the reason travels in the Terminate-Request')
  t.true(link.b.state === 'Stopped' || link.b.state === 'Closed', link.b.state)
  t.is(link.a.pollTimeout(), undefined)
  t.is(link.b.pollTimeout(), undefined)
  t.true(link.wire.length < 60, `${link.wire.length} packets`)
})

test('Nak loop: a Nak that only asks for a missing option cannot become a Reject, so Max-Failure closes', (t) => {
  // B demands option 3 from A; A never sends it (and never adopts Naks).
  const link = new Link({ ours: { 1: 5 }, adoptNak: false }, { demand: [3], preferred: { 3: 1 } })
  link.a.open(0)
  link.b.open(0)
  link.a.up(0)
  link.b.up(0)
  link.settle()
  t.is(link.sent('b', 3).length, 5)
  t.is(link.sent('b', 4).length, 0)
  t.is(link.b.state, 'Closed')
  t.regex(link.events.b.find((e) => e.type === 'this-layer-finished')!.reason!, /Max-Failure/)
  t.is(link.a.pollTimeout(), undefined)
  t.is(link.b.pollTimeout(), undefined)
})

test('a peer that never answers: Max-Configure requests 3 s apart with one identifier, then this-layer-finished in Stopped', (t) => {
  const fsm = new Automaton('LCP', new TestPolicy())
  fsm.open(0)
  fsm.up(0)
  const sent: { at: number; packet: ConfigPacket }[] = []
  let now = 0
  for (;;) {
    for (let p = fsm.pollTransmit(); p; p = fsm.pollTransmit()) sent.push({ at: now, packet: p })
    const deadline = fsm.pollTimeout()
    if (deadline === undefined) break
    fsm.handleTimeout(deadline - 0.5) // early: nothing happens
    t.is(fsm.pollTransmit(), undefined)
    now = deadline
    fsm.handleTimeout(now)
  }
  t.is(sent.length, 10)
  t.deepEqual(sent.map((s) => s.at), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27])
  t.true(sent.every((s) => s.packet.code === 1 && s.packet.identifier === sent[0]!.packet.identifier && s.packet.data.equals(sent[0]!.packet.data)))
  t.is(now, 30)
  t.is(fsm.state, 'Stopped')
  t.deepEqual(drain(fsm).events, [{ type: 'this-layer-started' }, { type: 'this-layer-finished', reason: 'no answer to Configure-Request from peer' }])
})

test('Terminate from Opened: tld, Terminate-Request with the reason, Terminate-Ack; the peer stops after one restart period', (t) => {
  const link = new Link()
  link.a.open(0)
  link.b.open(0)
  link.a.up(0)
  link.b.up(0)
  link.settle()
  link.events.a.length = 0
  link.events.b.length = 0
  link.now = 50
  link.a.close(link.now, 'User request')
  link.deliver()
  t.is(link.a.state, 'Closed')
  t.is(link.b.state, 'Stopping', 'RTR in Opened: tld,zrc,sta/5')
  t.deepEqual(link.sent('a', 5).map((p) => p.data.toString()), ['User request'])
  t.is(link.sent('b', 6)[0]!.identifier, link.sent('a', 5)[0]!.identifier)
  t.deepEqual(link.events.a, [
    { type: 'this-layer-down', reason: 'User request' },
    { type: 'this-layer-finished', reason: 'User request' },
  ])
  t.is(link.b.pollTimeout(), 53)
  t.is(link.b.restartCounter, 0)
  link.settle()
  t.is(link.b.state, 'Stopped')
  t.deepEqual(link.events.b, [
    { type: 'this-layer-down', reason: 'peer sent Terminate-Request: User request' },
    { type: 'this-layer-finished', reason: 'peer sent Terminate-Request: User request' },
  ])
  // The lower layer goes down after tlf; a new Up with Open negotiates again.
  link.b.down(link.now)
  t.is(link.b.state, 'Starting')
})

test('Terminate-Request lost: Max-Terminate (2) requests with one identifier, then Closed with this-layer-finished', (t) => {
  const link = new Link()
  link.a.open(0)
  link.b.open(0)
  link.a.up(0)
  link.b.up(0)
  link.settle()
  link.filter = (from, p) => !(from === 'a' && p.code === 5)
  link.a.close(link.now, 'shutdown')
  link.settle()
  const requests = link.sent('a', 5)
  t.is(requests.length, 2)
  t.is(requests[0]!.identifier, requests[1]!.identifier)
  t.is(link.a.state, 'Closed')
  t.deepEqual(link.events.a.at(-1), { type: 'this-layer-finished', reason: 'shutdown' })
  // Nothing told B: it stays Opened until LCP echo (outside the automaton) or the lower layer notices.
  t.is(link.b.state, 'Opened')
})

test('stale identifiers, Acks not repeating our options and duplicate replies are discarded (RFC 1661 5.2-5.4)', (t) => {
  const policy = new TestPolicy({ ours: { 1: 5 } })
  const fsm = new Automaton('IPCP', policy, { initialIdentifier: 40 })
  fsm.open(0)
  fsm.up(0)
  const first = drain(fsm).packets[0]!
  t.is(first.identifier, 41)
  // A Nak moves to a new request with a new identifier.
  fsm.receive({ code: 3, identifier: 41, data: option(1, 6) }, 1)
  const second = drain(fsm).packets[0]!
  t.is(second.identifier, 42)
  t.deepEqual(second.data, option(1, 6))
  const onAck = policy.acked
  // Answers to the old request, to no request, and a wrong Ack.
  fsm.receive({ code: 2, identifier: 41, data: first.data }, 2)
  fsm.receive({ code: 3, identifier: 41, data: option(1, 7) }, 2)
  fsm.receive({ code: 4, identifier: 200, data: option(1, 6) }, 2)
  fsm.receive({ code: 2, identifier: 42, data: option(1, 5) }, 2)
  t.is(fsm.state, 'ReqSent')
  t.is(fsm.counters.discardedReplies, 4)
  t.is(policy.acked, onAck)
  t.deepEqual(policy.wishes.get(1), 6, 'the stale Nak changed nothing')
  t.deepEqual(drain(fsm), { packets: [], events: [] })
  fsm.receive({ code: 2, identifier: 42, data: second.data }, 2)
  t.is(fsm.state, 'AckRcvd')
  // The same Ack again (a duplicate on the link) is no crossed connection: discarded.
  fsm.receive({ code: 2, identifier: 42, data: second.data }, 2)
  t.is(fsm.state, 'AckRcvd')
  t.is(fsm.counters.discardedReplies, 5)
  fsm.receive({ code: 1, identifier: 9, data: option(1, 5) }, 2)
  t.is(fsm.state, 'Opened')
  fsm.receive({ code: 2, identifier: 42, data: second.data }, 3)
  fsm.receive({ code: 3, identifier: 42, data: second.data }, 3)
  t.is(fsm.state, 'Opened', 'a late duplicate does not take the link down')
  t.is(fsm.counters.discardedReplies, 7)
  t.deepEqual(drain(fsm).events, [{ type: 'this-layer-up' }])
})

test('a Configure-Reject from the policy (Windows MRRU, LCP option 17) is sent as received, and the peer converges', (t) => {
  const mrru = Buffer.from([17, 4, 0x06, 0x4e])
  const windows = new TestPolicy({ ours: {} })
  windows.buildRequest = () => (windows.wishes.has(17) ? Buffer.concat([option(1, 5), mrru]) : option(1, 5))
  windows.wishes.set(17, 1)
  windows.reset = () => {}
  const server = new TestPolicy({ rejectTypes: [17] })
  server.checkRequest = (options) => {
    const at = options.indexOf(17)
    return at >= 0 ? { verdict: 'reject', options: options.subarray(at) } : { verdict: 'ack' }
  }
  windows.onReject = (options) => {
    if (options[0] === 17) windows.wishes.delete(17)
    return true
  }
  const a = new Automaton('LCP', windows)
  const b = new Automaton('LCP', server)
  for (const fsm of [a, b]) {
    fsm.open(0)
    fsm.up(0)
  }
  const wire: ConfigPacket[] = []
  for (let round = 0; round < 20; round++) {
    for (let p = a.pollTransmit(); p; p = a.pollTransmit()) b.receive(p, 0)
    for (let p = b.pollTransmit(); p; p = b.pollTransmit()) {
      wire.push(p)
      a.receive(p, 0)
    }
  }
  const reject = wire.find((p) => p.code === 4)!
  t.deepEqual(reject.data, mrru)
  t.is(a.state, 'Opened')
  t.is(b.state, 'Opened')
})

test('Echo, Code-Reject and unknown codes: RXR answered only in Opened, RXJ+ keeps the link, RXJ- ends it, RUC is Code-Rejected', (t) => {
  const policy = new TestPolicy()
  const fsm = new Automaton('LCP', policy)
  fsm.open(0)
  fsm.up(0)
  const request = drain(fsm).packets[0]!
  const echo = { code: 9, identifier: 3, data: Buffer.from([1, 2, 3, 4]) }
  fsm.receive(echo, 0)
  t.deepEqual(drain(fsm).packets, [], 'Echo-Request outside Opened: silently discarded (RFC 1661 5.8)')
  fsm.receive({ code: 2, identifier: request.identifier, data: request.data }, 0)
  fsm.receive({ code: 1, identifier: 1, data: option(1, 5) }, 0)
  drain(fsm)
  t.is(fsm.state, 'Opened')
  fsm.receive(echo, 1)
  t.deepEqual(drain(fsm).packets, [{ code: 10, identifier: 3, data: Buffer.from([1, 2, 3, 4]) }])
  fsm.receive({ code: 7, identifier: 8, data: Buffer.from([9, 4, 0, 8, 0, 0, 0, 0]) }, 1)
  t.is(fsm.state, 'Opened')
  t.deepEqual(policy.codeRejected, [9], 'the policy learns to stop sending Echo-Request')
  fsm.receive({ code: 8, identifier: 9, data: Buffer.from([0x80, 0x57]) }, 1)
  t.is(fsm.state, 'Opened', 'Protocol-Reject of an NCP is RXJ+ for LCP')
  fsm.peerMru = 10
  fsm.receive({ code: 99, identifier: 4, data: Buffer.alloc(20, 0xaa) }, 1)
  const codeReject = drain(fsm).packets[0]!
  t.is(codeReject.code, 7)
  t.deepEqual(codeReject.data, Buffer.from([99, 4, 0, 24, 0xaa, 0xaa]), 'truncated so the Code-Reject fits the peer MRU')
  fsm.receiveReject('protocol', true, 2)
  t.is(fsm.state, 'Stopping')
  const out = drain(fsm)
  t.is(out.packets[0]!.code, 5)
  t.deepEqual(out.events, [{ type: 'this-layer-down', reason: 'peer sent Protocol-Reject' }])
  t.is(fsm.restartCounter, 1)
  fsm.handleTimeout(5)
  fsm.handleTimeout(8)
  t.is(fsm.state, 'Stopped')
  t.deepEqual(drain(fsm).events, [{ type: 'this-layer-finished', reason: 'peer sent Protocol-Reject' }])
})

test('Close and Open while Closing/Stopping follow the table; Down in Starting-like states needs no timer', (t) => {
  const fsm = new Automaton('IPV6CP', new TestPolicy())
  fsm.up(0)
  fsm.open(0)
  fsm.close(0, 'first')
  t.is(fsm.state, 'Closing')
  fsm.open(1)
  t.is(fsm.state, 'Stopping', 'Open in Closing: 5 (no restart option)')
  fsm.close(1, 'second')
  t.is(fsm.state, 'Closing')
  fsm.down(2)
  t.is(fsm.state, 'Initial')
  t.is(fsm.pollTimeout(), undefined)
  fsm.open(3)
  t.is(fsm.state, 'Starting')
  fsm.close(3)
  t.is(fsm.state, 'Initial')
  t.deepEqual(drain(fsm).events.map((e) => e.type), ['this-layer-started', 'this-layer-finished'])
})

// --- a lossy link ----------------------------------------------------------------

interface LossyResult {
  a: AutomatonState
  b: AutomatonState
  now: number
  packets: number
}

function lossyRun(seed: number, loss: number, duplicate: number, maxDelay: number): LossyResult {
  const random = prng(seed)
  const a = new Automaton('A', new TestPolicy({ ours: { 1: 5 } }))
  const b = new Automaton('B', new TestPolicy({ ours: { 2: 1 }, accept: { 1: (v) => v === 7 }, preferred: { 1: 7 } }))
  const inflight: { at: number; to: Automaton; packet: ConfigPacket }[] = []
  let now = 0
  let packets = 0
  a.open(0)
  b.open(0)
  a.up(0)
  b.up(0)
  const flush = () => {
    for (const [fsm, peer] of [[a, b], [b, a]] as const) {
      for (let p = fsm.pollTransmit(); p; p = fsm.pollTransmit()) {
        packets++
        if (random() < loss) continue
        const copies = random() < duplicate ? 2 : 1
        // Random delays also reorder packets.
        for (let c = 0; c < copies; c++) inflight.push({ at: now + random() * maxDelay, to: peer, packet: p })
      }
      while (fsm.pollEvent());
    }
  }
  for (let step = 0; step < 100_000; step++) {
    flush()
    const nextPacket = Math.min(...inflight.map((f) => f.at))
    const next = Math.min(nextPacket, a.pollTimeout() ?? Infinity, b.pollTimeout() ?? Infinity)
    if (next === Infinity) break
    now = next
    if (next === nextPacket) {
      const i = inflight.findIndex((f) => f.at === next)
      const [flight] = inflight.splice(i, 1)
      flight!.to.receive(flight!.packet, now)
    } else {
      a.handleTimeout(now)
      b.handleTimeout(now)
    }
  }
  return { a: a.state, b: b.state, now, packets }
}

test('a lossy link (25% loss, 15% duplicates, reordering) converges to Opened on both sides for 200 seeds', (t) => {
  let worst = 0
  for (let seed = 1; seed <= 200; seed++) {
    const r = lossyRun(seed, 0.25, 0.15, 0.8)
    t.is(r.a, 'Opened', `seed ${seed}`)
    t.is(r.b, 'Opened', `seed ${seed}`)
    worst = Math.max(worst, r.now)
  }
  t.log(`slowest convergence ${worst.toFixed(1)} s`)
})

test('a link that loses everything ends bounded: both sides give up in Stopped', (t) => {
  const r = lossyRun(7, 1, 0, 0.1)
  t.is(r.a, 'Stopped')
  t.is(r.b, 'Stopped')
  t.is(r.packets, 20)
  t.is(r.now, 30)
})
