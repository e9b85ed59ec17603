/**
 * Reliable delivery of L2TP control messages (RFC 2661 5.8), sans-IO: one
 * `ReliableChannel` per tunnel assigns Ns, acknowledges with Nr, keeps
 * unacknowledged messages for retransmission with exponential back-off,
 * respects the peer's receive window, queues out-of-order messages within
 * our own window, re-acknowledges duplicates and sends ZLB acknowledgements
 * when no message carries the acknowledgement in time. Time is the caller's
 * `now`, in seconds; nothing here reads a clock or touches a socket.
 *
 * Use: `send(message)` for each message to deliver; `receive(decoded, now)`
 * for each control message from the peer, which returns the messages to
 * process, in order, each once; then `poll(now)` (or `flush(now)` after a
 * batch) for the datagrams to transmit; wake at `nextTimeout()` and poll
 * again. `failed` turns true when a message went unacknowledged after
 * `maxTries` transmissions: the tunnel must then be torn down (RFC 2661 5.8).
 *
 * Sequence numbers are 16-bit and wrap; they compare RFC 1982-style, over a
 * half-space of 32768.
 */
import { CONTROL_HEADER_LENGTH, DEFAULT_RECEIVE_WINDOW } from './constants.js'
import { encodeControl } from './codec.js'
import type { ControlMessage, ControlMessageInput, EncodeOptions } from './codec.js'
import { NONE, pushed } from '../util/queues.js'

export interface ReliableOptions {
  /** Told of each message sent again (the server counts them for its metrics); an object shared by every channel, not a closure per channel. */
  counter?: { countRetransmit?(): void }
  /** Our receive window, to advertise in the Receive Window Size AVP: how many messages from the next expected Ns on are accepted. Default 4. */
  receiveWindow?: number
  /** The peer's Receive Window Size, from its SCCRQ/SCCRP; default 4 (RFC 2661 4.4.3) until `setPeerReceiveWindow`. */
  peerReceiveWindow?: number
  /** Seconds before the first retransmission. Default 1. */
  initialTimeout?: number
  /** Cap on the seconds between two transmissions of a message (the back-off doubles up to it). Default 8. */
  maxTimeout?: number
  /** Transmissions of a message, the first included, before the channel fails. Default 5. */
  maxTries?: number
  /** Seconds to wait for a message to piggyback an acknowledgement before sending a ZLB. Default 0.2; `flush(now)` cuts it short. */
  ackDelay?: number
  /** Ns of our first message. Default 0. */
  initialNs?: number
  /** Ns expected of the peer's first message. Default 0. */
  initialNr?: number
  /** The peer's Assigned Tunnel ID, the Tunnel ID of our ZLBs. Default 0; see `peerTunnelId`. */
  peerTunnelId?: number
  /** Passed to encodeControl: the tunnel secret and randomness for hidden AVPs. */
  encode?: EncodeOptions
}

/** A message to send: Ns and Nr are the channel's to fill. */
export type OutgoingMessage = Omit<ControlMessageInput, 'ns' | 'nr'>

const SEQ = 0x10000
const HALF = 0x8000

/** `(a - b) mod 65536`: how far sequence number `a` is after `b`. */
export function seqDistance(a: number, b: number): number {
  return (((a - b) % SEQ) + SEQ) % SEQ
}

/** RFC 1982 "a < b" on 16-bit sequence numbers. */
export function seqLessThan(a: number, b: number): boolean {
  const d = seqDistance(b, a)
  return d > 0 && d < HALF
}

interface Outgoing {
  ns: number
  /** Encoded once, so hidden AVPs and padding stay the same across retransmissions; Ns/Nr are patched. */
  datagram: Buffer
  tries: number
  /** When the next retransmission is due. */
  due: number
}

function positive(value: number | undefined, fallback: number, what: string, integer = false): number {
  const v = value ?? fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) throw new RangeError(`${what} must be a non-negative ${integer ? 'integer' : 'number'}, got ${String(v)}`)
  return v
}

function seqOption(value: number | undefined, what: string): number {
  const v = value ?? 0
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${what} must be an integer in 0..65535, got ${String(v)}`)
  return v
}

export class ReliableChannel {
  /** Our advertised receive window. */
  readonly receiveWindow: number
  /** The Tunnel ID our ZLBs carry: the peer's Assigned Tunnel ID. */
  peerTunnelId: number

  private peerWindow: number
  private readonly initialTimeout: number
  private readonly maxTimeout: number
  private readonly maxTries: number
  private readonly ackDelay: number
  private readonly encodeOptions: EncodeOptions
  private readonly counter: { countRetransmit?(): void } | undefined

  /** Ns of the next message given to `send`. */
  private nextNs: number
  /** Ns expected next from the peer: our Nr. */
  private expectedNr: number
  // An idle tunnel's channel holds nothing: an empty queue is the shared empty array (lib/util/queues.ts; a
  // drained one goes back to it) and the reorder map exists only while a message waits in it (issue #9).
  /** Transmitted, not yet acknowledged, oldest first (consecutive Ns). */
  private inFlight: Outgoing[] = NONE
  /** Waiting for the peer's window to open, oldest first. */
  private waiting: Outgoing[] = NONE
  /** Received ahead of `expectedNr`, within our window. */
  private outOfOrder: Map<number, ControlMessage> | undefined
  /** When an acknowledgement must go out, if one is owed. */
  private ackDue: number | undefined
  private hasFailed = false

  constructor(options: ReliableOptions = {}) {
    this.receiveWindow = Math.max(1, Math.min(HALF - 1, positive(options.receiveWindow, DEFAULT_RECEIVE_WINDOW, 'receiveWindow', true)))
    this.peerWindow = DEFAULT_RECEIVE_WINDOW
    this.setPeerReceiveWindow(options.peerReceiveWindow ?? DEFAULT_RECEIVE_WINDOW)
    this.initialTimeout = positive(options.initialTimeout, 1, 'initialTimeout')
    this.maxTimeout = Math.max(this.initialTimeout, positive(options.maxTimeout, 8, 'maxTimeout'))
    this.maxTries = Math.max(1, positive(options.maxTries, 5, 'maxTries', true))
    this.ackDelay = positive(options.ackDelay, 0.2, 'ackDelay')
    this.nextNs = seqOption(options.initialNs, 'initialNs')
    this.expectedNr = seqOption(options.initialNr, 'initialNr')
    this.peerTunnelId = seqOption(options.peerTunnelId, 'peerTunnelId')
    this.encodeOptions = options.encode ?? {}
    this.counter = options.counter
  }

  /** The peer's Receive Window Size AVP (RFC 2661 4.4.3); 0 is taken as 1 so the channel can still move. */
  setPeerReceiveWindow(size: number): void {
    if (!Number.isInteger(size) || size < 0 || size > 0xffff) throw new RangeError(`receive window size must be an integer in 0..65535, got ${String(size)}`)
    this.peerWindow = Math.max(1, Math.min(HALF - 1, size))
  }

  /** The peer's receive window in use. */
  get peerReceiveWindow(): number {
    return this.peerWindow
  }

  /** True once a message went unacknowledged after `maxTries` transmissions; the channel then sends nothing more. */
  get failed(): boolean {
    return this.hasFailed
  }

  /** Our next Ns (the Ns a ZLB carries). */
  get ns(): number {
    return this.waiting[0]?.ns ?? this.nextNs
  }

  /** Our Nr: the Ns we expect next from the peer. */
  get nr(): number {
    return this.expectedNr
  }

  /** Messages transmitted and not yet acknowledged. */
  get unacknowledged(): number {
    return this.inFlight.length
  }

  /** Messages waiting for the peer's window to open. */
  get queued(): number {
    return this.waiting.length
  }

  /** Nothing to transmit, retransmit or acknowledge. */
  get idle(): boolean {
    return this.inFlight.length === 0 && this.waiting.length === 0 && this.ackDue === undefined
  }

  /**
   * Queues a message for reliable delivery and gives it the next Ns. It is
   * encoded now (so encoding errors are thrown here, as L2tpCodecError) and
   * goes out at the next `poll` the peer's window allows. A ZLB is not a
   * message: the channel makes its own.
   */
  send(message: OutgoingMessage): void {
    const ns = this.nextNs
    const datagram = encodeControl({ ...message, ns, nr: 0 }, this.encodeOptions)
    if (datagram.length === CONTROL_HEADER_LENGTH) throw new RangeError('a ZLB cannot be sent reliably: the channel sends its own')
    this.nextNs = (ns + 1) % SEQ
    this.waiting = pushed(this.waiting, { ns, datagram, tries: 0, due: Infinity })
  }

  /**
   * One control message from the peer, decoded. Its Nr acknowledges ours.
   * Returns the messages now deliverable, in Ns order: this one if it was
   * the next expected, followed by any queued out-of-order ones it unblocks;
   * nothing for a ZLB, a duplicate (which is re-acknowledged at the next
   * poll) or a message beyond our window (dropped: the peer will
   * retransmit).
   */
  receive<M extends ControlMessage>(message: M, now: number): M[] {
    this.acknowledge(message.nr)
    if (message.avps.length === 0) return []
    const distance = seqDistance(message.ns, this.expectedNr)
    if (distance === 0) {
      const delivered: M[] = [message]
      this.expectedNr = (this.expectedNr + 1) % SEQ
      for (let next = this.outOfOrder?.get(this.expectedNr); next; next = this.outOfOrder?.get(this.expectedNr)) {
        this.outOfOrder!.delete(this.expectedNr)
        delivered.push(next as M)
        this.expectedNr = (this.expectedNr + 1) % SEQ
      }
      if (this.outOfOrder?.size === 0) this.outOfOrder = undefined
      this.owe(now + this.ackDelay)
      return delivered
    }
    if (distance >= HALF) {
      // Ns before our Nr: already delivered. Our acknowledgement was lost; repeat it now.
      this.owe(now)
    } else if (distance < this.receiveWindow && !this.outOfOrder?.has(message.ns)) {
      ;(this.outOfOrder ??= new Map()).set(message.ns, message)
    }
    return []
  }

  /**
   * The datagrams to transmit now, Ns and Nr filled: retransmissions that
   * are due, new messages the peer's window admits, and a ZLB when an
   * acknowledgement is due and nothing else carries it.
   */
  poll(now: number): Buffer[] {
    if (this.hasFailed) return []
    const out: Buffer[] = []
    for (const o of this.inFlight) {
      if (o.due > now) continue
      if (o.tries >= this.maxTries) {
        this.fail()
        return []
      }
      o.tries++
      o.due = now + this.backoff(o.tries)
      out.push(this.stamp(o))
      this.counter?.countRetransmit?.()
    }
    if (this.waiting.length > 0 && this.inFlight.length < this.peerWindow) {
      while (this.waiting.length > 0 && this.inFlight.length < this.peerWindow) {
        const o = this.waiting.shift()!
        o.tries = 1
        o.due = now + this.backoff(1)
        this.inFlight = pushed(this.inFlight, o)
        out.push(this.stamp(o))
      }
      if (this.waiting.length === 0) this.waiting = NONE
    }
    if (out.length > 0) {
      this.ackDue = undefined
    } else if (this.ackDue !== undefined && this.ackDue <= now) {
      this.ackDue = undefined
      out.push(encodeControl({ tunnelId: this.peerTunnelId, sessionId: 0, ns: this.ns, nr: this.expectedNr }))
    }
    return out
  }

  /** `poll(now)`, with any owed acknowledgement due at once: call after handling a batch, when no reply is coming to piggyback on. */
  flush(now: number): Buffer[] {
    if (this.ackDue !== undefined) this.ackDue = Math.min(this.ackDue, now)
    return this.poll(now)
  }

  /** When `poll` must next be called for a retransmission or an acknowledgement; undefined when nothing waits on time. After `send`, poll at once. */
  nextTimeout(): number | undefined {
    if (this.hasFailed) return undefined
    let at = this.ackDue ?? Infinity
    for (const o of this.inFlight) at = Math.min(at, o.due)
    return at === Infinity ? undefined : at
  }

  private owe(at: number): void {
    this.ackDue = this.ackDue === undefined ? at : Math.min(this.ackDue, at)
  }

  /** Drops our messages with Ns before `nr`. An Nr outside [oldest unacknowledged, next transmitted] is stale or bogus and ignored. */
  private acknowledge(nr: number): void {
    const oldest = this.inFlight[0]
    if (!oldest) return
    const count = seqDistance(nr, oldest.ns)
    if (count > this.inFlight.length) return
    if (count === 0) return
    if (count === this.inFlight.length) this.inFlight = NONE
    else this.inFlight.splice(0, count)
  }

  private backoff(tries: number): number {
    return Math.min(this.initialTimeout * 2 ** (tries - 1), this.maxTimeout)
  }

  private stamp(o: Outgoing): Buffer {
    const d = Buffer.from(o.datagram)
    // Header: flags (2) Length (2) Tunnel ID (2) Session ID (2) Ns (2) Nr (2).
    d.writeUInt16BE(o.ns, 8)
    d.writeUInt16BE(this.expectedNr, 10)
    return d
  }

  private fail(): void {
    this.hasFailed = true
    this.ackDue = undefined
  }
}

