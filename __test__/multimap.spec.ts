// MultiMap (lib/util/multimap.ts), the compact index behind SAs per identity,
// tunnels and calls per binding: the same answers as a Map of Sets on random
// adds and deletes, across its one-value and many-value forms.
import test from 'ava'
import fc from 'fast-check'
import { MultiMap } from '../lib/util/multimap.js'

test('a lone value, then a group, then a lone value again', (t) => {
  const m = new MultiMap<string, { n: number }>()
  const [a, b] = [{ n: 1 }, { n: 2 }]
  m.add('k', a)
  m.add('k', a)
  t.deepEqual(m.get('k'), [a])
  m.add('k', b)
  t.is(m.count('k'), 2)
  m.delete('k', a)
  t.deepEqual(m.get('k'), [b])
  t.true(m.has('k', b))
  t.false(m.has('k', a))
  m.delete('k', b)
  t.is(m.count('k'), 0)
  t.deepEqual(m.get('k'), [])
})

test('matches a Map of Sets on random adds and deletes', (t) => {
  const values = Array.from({ length: 6 }, (_, n) => ({ n }))
  const op = fc.record({ add: fc.boolean(), key: fc.nat(3), value: fc.nat(5) })
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const m = new MultiMap<number, { n: number }>()
      const model = new Map<number, Set<{ n: number }>>()
      for (const o of ops) {
        const v = values[o.value]!
        if (o.add) {
          m.add(o.key, v)
          model.set(o.key, (model.get(o.key) ?? new Set()).add(v))
        } else {
          m.delete(o.key, v)
          model.get(o.key)?.delete(v)
        }
        for (let k = 0; k < 4; k++) {
          const want = [...(model.get(k) ?? [])].map((x) => x.n).sort()
          const got = m.get(k).map((x) => x.n).sort()
          if (JSON.stringify(want) !== JSON.stringify(got) || m.count(k) !== want.length) return false
        }
      }
      return true
    }),
  )
  t.pass()
})
