/**
 * An adversarial wire between two sans-IO protocol cores (client and
 * server): fast-check draws a list of actions, each applied to the datagram
 * at the head of the queue (deliver, drop, duplicate, reorder, mutate) or
 * to the wire as a whole (replay an earlier datagram, inject a mutated
 * recorded message into the server, let time pass). The real exchange runs
 * underneath, so the mutations reach every state, encrypted ones included.
 *
 * Properties every target shares: nothing the peer sends throws out of a
 * core; one step emits a bounded number of datagrams (no amplification
 * loop); and after the wire goes silent and the clock runs far ahead, the
 * server holds no state for the conversation (every half-open, stuck or
 * orphaned entry times out). Targets add their own bounds per step.
 */
import fc from 'fast-check'
import { applyEdits, editArbitrary, type Edit } from './mutate.js'
import { FuzzPropertyError } from './target.js'

export type WireAction =
  | { op: 'deliver' }
  | { op: 'drop' }
  | { op: 'duplicate' }
  | { op: 'reorder' }
  | { op: 'mutate'; edits: Edit[] }
  | { op: 'replay'; index: number }
  | { op: 'inject'; seed: number; edits: Edit[] }
  | { op: 'wait'; seconds: number }

export type Side = 'client' | 'server'

/** One end: take a datagram, run timers, give what it sends. */
export interface WirePeer {
  /** `meta` is what `drain` gave with the datagram (ports...); undefined for an injected one. */
  deliver(data: Buffer, now: number, meta?: unknown): void | Promise<void>
  /** Runs timers due at `now`; returns the next deadline if known. */
  tick(now: number): number | undefined | Promise<number | undefined>
  drain(): Datagram[]
}

export interface Datagram {
  data: Buffer
  meta?: unknown
}

export interface WireScenario {
  client: WirePeer
  server: WirePeer
  /** Recorded messages to inject into the server. */
  seeds: readonly Buffer[]
  /** Checked after every step (bounded state). */
  invariant(): void
  /** Checked after the long silence: the server holds nothing. */
  settled(): void
  /** Seconds of silence that must clean everything up. */
  horizon: number
}

const MAX_DATAGRAMS_PER_STEP = 64

interface Queued extends Datagram {
  to: Side
}

export function wireActions(maxLength = 40): fc.Arbitrary<WireAction[]> {
  const action: fc.Arbitrary<WireAction> = fc.oneof(
    { arbitrary: fc.constant({ op: 'deliver' as const }), weight: 8 },
    { arbitrary: fc.constant({ op: 'drop' as const }), weight: 1 },
    { arbitrary: fc.constant({ op: 'duplicate' as const }), weight: 1 },
    { arbitrary: fc.constant({ op: 'reorder' as const }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('mutate' as const), edits: fc.array(editArbitrary, { minLength: 1, maxLength: 4 }) }), weight: 3 },
    { arbitrary: fc.record({ op: fc.constant('replay' as const), index: fc.nat({ max: 1000 }) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('inject' as const), seed: fc.nat({ max: 1000 }), edits: fc.array(editArbitrary, { maxLength: 4 }) }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('wait' as const), seconds: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 400 })) }), weight: 2 },
  )
  return fc.array(action, { maxLength })
}

/** Runs `actions` over the scenario; throws FuzzPropertyError (or the core's own exception) when a property breaks. */
export async function runWire(scenario: WireScenario, actions: readonly WireAction[]): Promise<void> {
  const { client, server } = scenario
  const queue: Queued[] = []
  const seen: Queued[] = []
  let now = 0
  const peer = (side: Side) => (side === 'client' ? client : server)

  const collect = () => {
    for (const [from, to] of [['client', 'server'], ['server', 'client']] as const) {
      const out = peer(from).drain()
      if (out.length > MAX_DATAGRAMS_PER_STEP) throw new FuzzPropertyError(`${from} sent ${out.length} datagrams in one step`)
      for (const d of out) queue.push({ to, ...d })
    }
  }
  const deliver = async (d: Queued) => {
    seen.push(d)
    if (seen.length > 200) seen.shift()
    await peer(d.to).deliver(d.data, now, d.meta)
  }
  const step = async () => {
    collect()
    scenario.invariant()
  }

  await step()
  for (const a of actions) {
    const head = queue[0]
    switch (a.op) {
      case 'deliver':
        if (head) await deliver(queue.shift()!)
        break
      case 'drop':
        queue.shift()
        break
      case 'duplicate':
        if (head) await deliver(head)
        break
      case 'reorder':
        if (queue.length > 1) queue.push(queue.shift()!)
        break
      case 'mutate':
        if (head) await deliver({ ...queue.shift()!, data: applyEdits(head.data, a.edits) })
        break
      case 'replay':
        if (seen.length) {
          await deliver(seen[a.index % seen.length]!)
        }
        break
      case 'inject':
        if (scenario.seeds.length) await deliver({ to: 'server', data: applyEdits(scenario.seeds[a.seed % scenario.seeds.length]!, a.edits, scenario.seeds) })
        break
      case 'wait':
        now += a.seconds
        await client.tick(now)
        await server.tick(now)
        break
    }
    await step()
  }
  // Let the conversation finish over a clean wire...
  for (let round = 0; round < 200 && queue.length; round++) {
    await deliver(queue.shift()!)
    await step()
  }
  // ...then go silent: every timer runs, nothing is delivered.
  const end = now + scenario.horizon
  for (let i = 0; i < 5000 && now < end; i++) {
    const next = [await client.tick(now), await server.tick(now)].filter((t): t is number => t !== undefined && t > now)
    // No deadline on either side: nothing can happen before the end.
    now = Math.min(end, next.length ? Math.min(...next) : end)
    collect()
    queue.length = 0
  }
  await client.tick(end)
  await server.tick(end)
  collect()
  scenario.settled()
}

/** Wire actions as JSON are themselves (every field is a number or a string). */
export const wireJson = {
  toJson: (a: WireAction[]) => a,
  fromJson: (j: unknown) => j as WireAction[],
}
