// The deadline queue behind the IKE, L2TP and call timers (lib/util/deadline-queue.ts):
// owners come out when due, in creation order, never when cancelled, and an
// earlier deadline replaces a later one; checked against a plain scan over
// every owner (what the cores did before) on random operation sequences.
import test from 'ava'
import fc from 'fast-check'
import { DeadlineQueue, nextTimerSeq, type Timed } from '../lib/util/deadline-queue.js'

interface Owner extends Timed {
  name: number
  /** The owner's real deadline, as its core would compute it. */
  deadline: number | undefined
}

const owner = (name: number): Owner => ({ name, deadline: undefined, timerAt: undefined, timerSeq: nextTimerSeq() })
const queue = () => new DeadlineQueue<Owner>((o) => o.deadline)
const set = (q: DeadlineQueue<Owner>, o: Owner, deadline: number | undefined) => {
  o.deadline = deadline
  q.update(o)
}

test('owners come out when due, earliest deadlines first across ticks, in creation order within one', (t) => {
  const q = queue()
  const [a, b, c] = [owner(1), owner(2), owner(3)]
  set(q, c, 5)
  set(q, b, 3)
  set(q, a, 5)
  t.is(q.next(), 3)
  t.deepEqual(q.due(2.9), [])
  t.deepEqual(q.due(3).map((o) => o.name), [2])
  t.is(q.next(), 5)
  // a was created before c: it comes first although c was queued first.
  t.deepEqual(q.due(10).map((o) => o.name), [1, 3])
})

test('due with a limit takes the earliest owners only and leaves the rest due for the next turn', (t) => {
  const q = queue()
  const owners = [owner(1), owner(2), owner(3), owner(4), owner(5)]
  for (const [i, o] of owners.entries()) set(q, o, 10 - i) // 5 earliest (6), 1 latest (10)
  t.deepEqual(q.due(20, 2).map((o) => o.name), [4, 5], 'the two earliest, in creation order')
  t.is(q.next(), 8, 'the rest still queued, due already')
  t.deepEqual(q.due(20, 2).map((o) => o.name), [2, 3])
  t.deepEqual(q.due(20, 2).map((o) => o.name), [1])
  t.is(q.next(), undefined)
})

test('a cancelled owner never comes out; a deadline moved earlier or later is found where it is now', (t) => {
  const q = queue()
  const [a, b] = [owner(1), owner(2)]
  set(q, a, 10)
  set(q, b, 4)
  q.cancel(b)
  t.is(q.next(), 10)
  t.deepEqual(q.due(100).map((o) => o.name), [1])
  a.deadline = undefined
  t.is(q.next(), undefined)
  set(q, a, 2)
  set(q, b, 7)
  t.is(q.next(), 2)
  set(q, a, 9)
  t.is(q.next(), 7, 'a moved later, from 2 to 9: b is next')
  t.deepEqual(q.due(8).map((o) => o.name), [2], 'a is not due at 8 although it was queued for 2')
  t.is(q.next(), 9)
  set(q, a, undefined)
  t.is(q.next(), undefined, 'nothing waits')
  set(q, a, Infinity)
  t.is(q.next(), undefined, 'Infinity queues nothing')
})

test('churn of far-off deadlines does not keep cancelled owners in the heap', (t) => {
  const q = queue()
  const live = owner(0)
  set(q, live, 1)
  for (let i = 1; i <= 10_000; i++) {
    const o = owner(i)
    set(q, o, 28_800 + i)
    q.cancel(o)
  }
  t.true(q.entries < 200, `${q.entries} entries left`)
  t.deepEqual(q.due(1e9).map((o) => o.name), [0])
})

test('cancelled owners among many live ones are let go once they are an eighth of the heap (a dead session is not kept until its old deadline)', (t) => {
  const q = queue()
  const owners = Array.from({ length: 8000 }, (_, i) => owner(i))
  for (const o of owners) set(q, o, 28_800 + o.name)
  for (const o of owners.slice(0, 3000)) q.cancel(o)
  // 5,000 live: at most an eighth of the heap may be stale entries (half was allowed before: 8,000 entries here).
  t.true(q.entries <= 5000 + Math.ceil(5000 / 7), `${q.entries} entries for 5,000 live owners`)
  t.is(q.due(1e9).length, 5000)
})

type Op = { kind: 'set'; owner: number; at: number | undefined } | { kind: 'cancel'; owner: number } | { kind: 'tick'; advance: number }

test('matches a scan over every owner on random deadline changes, cancels and ticks', (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), owner: fc.nat(19), at: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }) }),
    fc.record({ kind: fc.constant('cancel' as const), owner: fc.nat(19) }),
    fc.record({ kind: fc.constant('tick' as const), advance: fc.integer({ min: 0, max: 10 }) }),
  )
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops: Op[]) => {
      const q = queue()
      const owners = Array.from({ length: 20 }, (_, i) => owner(i))
      let now = 0
      for (const o of ops) {
        const x = o.kind === 'tick' ? undefined : owners[o.owner]!
        if (o.kind === 'set') set(q, x!, o.at === undefined ? undefined : now + o.at)
        else if (o.kind === 'cancel') {
          x!.deadline = undefined
          q.cancel(x!)
        } else {
          now += o.advance
          // The scan the cores did before: every owner, in creation order.
          const expected = owners.filter((w) => w.deadline !== undefined && w.deadline <= now).map((w) => w.name)
          const got = q.due(now).map((w) => w.name)
          if (JSON.stringify(got) !== JSON.stringify(expected)) return false
          // What fired has run: nothing more waits for it until it says so.
          for (const name of got) set(q, owners[name]!, undefined)
          const waiting = owners.filter((w) => w.deadline !== undefined).map((w) => w.deadline!)
          if (q.next() !== (waiting.length ? Math.min(...waiting) : undefined)) return false
        }
      }
      return true
    }),
    { numRuns: 300 },
  )
  t.pass()
})
