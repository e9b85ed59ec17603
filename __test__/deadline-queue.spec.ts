// The deadline queue behind the IKE, L2TP and call timers (lib/util/deadline-queue.ts):
// owners come out when due, in creation order, never when cancelled, and an
// earlier deadline replaces a later one; checked against a plain scan over
// every owner (what the cores did before) on random operation sequences.
import test from 'ava'
import fc from 'fast-check'
import { DeadlineQueue, nextTimerSeq, type Timed } from '../lib/util/deadline-queue.js'

interface Owner extends Timed {
  name: number
}

const owner = (name: number): Owner => ({ name, timerAt: undefined, timerSeq: nextTimerSeq() })

test('owners come out when due, earliest deadlines first across ticks, in creation order within one', (t) => {
  const q = new DeadlineQueue<Owner>()
  const [a, b, c] = [owner(1), owner(2), owner(3)]
  q.schedule(c, 5)
  q.schedule(b, 3)
  q.schedule(a, 5)
  t.is(q.next(), 3)
  t.deepEqual(q.due(2.9), [])
  t.deepEqual(q.due(3).map((o) => o.name), [2])
  t.is(q.next(), 5)
  // a was created before c: it comes first although c was queued first.
  t.deepEqual(q.due(10).map((o) => o.name), [1, 3])
  t.is(q.next(), undefined)
})

test('a cancelled owner never comes out; an earlier deadline replaces a later one, a later one waits for the earlier', (t) => {
  const q = new DeadlineQueue<Owner>()
  const [a, b] = [owner(1), owner(2)]
  q.schedule(a, 10)
  q.schedule(b, 4)
  q.cancel(b)
  t.is(q.next(), 10)
  q.schedule(a, 2)
  t.is(q.next(), 2)
  t.deepEqual(q.due(3).map((o) => o.name), [1])
  t.deepEqual(q.due(100), [], 'the replaced entry at 10 is stale')
  q.schedule(b, 7)
  q.schedule(b, 9)
  t.deepEqual(q.due(7).map((o) => o.name), [2], 'a later time does not move the queued one')
  q.schedule(a, Infinity)
  q.schedule(a, undefined)
  t.is(q.next(), undefined, 'Infinity and undefined queue nothing')
})

test('churn of far-off deadlines does not keep cancelled owners in the heap', (t) => {
  const q = new DeadlineQueue<Owner>()
  const live = owner(0)
  q.schedule(live, 1)
  for (let i = 1; i <= 10_000; i++) {
    const o = owner(i)
    q.schedule(o, 28_800 + i)
    q.cancel(o)
  }
  t.true(q.entries < 200, `${q.entries} entries left`)
  t.deepEqual(q.due(1e9).map((o) => o.name), [0])
})

type Op = { kind: 'schedule'; owner: number; at: number } | { kind: 'cancel'; owner: number } | { kind: 'tick'; advance: number }

test('matches a scan over every owner on random schedules, cancels and ticks', (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('schedule' as const), owner: fc.nat(19), at: fc.integer({ min: 0, max: 60 }) }),
    fc.record({ kind: fc.constant('cancel' as const), owner: fc.nat(19) }),
    fc.record({ kind: fc.constant('tick' as const), advance: fc.integer({ min: 0, max: 10 }) }),
  )
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops: Op[]) => {
      const q = new DeadlineQueue<Owner>()
      const owners = Array.from({ length: 20 }, (_, i) => owner(i))
      // The model: each owner's deadline, the earliest asked for since it last fired or was cancelled.
      const model = new Map<number, number>()
      let now = 0
      for (const o of ops) {
        if (o.kind === 'schedule') {
          const at = now + o.at
          const was = model.get(o.owner)
          if (was === undefined || at < was) model.set(o.owner, at)
          q.schedule(owners[o.owner]!, at)
        } else if (o.kind === 'cancel') {
          model.delete(o.owner)
          q.cancel(owners[o.owner]!)
        } else {
          now += o.advance
          const expected = [...model].filter(([, at]) => at <= now).map(([name]) => name).sort((x, y) => x - y)
          for (const name of expected) model.delete(name)
          const got = q.due(now).map((x) => x.name)
          if (JSON.stringify(got) !== JSON.stringify(expected)) return false
          const next = model.size ? Math.min(...model.values()) : undefined
          if (q.next() !== next) return false
        }
      }
      return true
    }),
    { numRuns: 300 },
  )
  t.pass()
})
