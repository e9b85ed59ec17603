// SharedRecords (lib/util/shared-records.ts): one frozen copy per distinct record, bounded.
import test from 'ava'
import { SharedRecords } from '../lib/util/shared-records.js'

test('equal records share one frozen copy; different ones do not; the caller keeps its own', (t) => {
  const records = new SharedRecords<{ address: string; port: number }>()
  const mine = { address: '10.0.2.2', port: 4500 }
  const a = records.share('10.0.2.2/4500', mine)
  const b = records.share('10.0.2.2/4500', { address: '10.0.2.2', port: 4500 })
  const c = records.share('10.0.2.2/500', { address: '10.0.2.2', port: 500 })
  t.is(a, b)
  t.not(a, c)
  t.deepEqual(a, mine)
  t.not(a, mine, 'a copy: the caller may still change its own record')
  t.true(Object.isFrozen(a))
  t.throws(() => {
    ;(a as { port: number }).port = 1
  })
  t.is(records.size, 2)
})

test('bounded: a full table starts over, records handed out stay as they were', (t) => {
  const records = new SharedRecords<{ n: number }>(4)
  const first = records.share('0', { n: 0 })
  for (let n = 1; n < 10; n++) records.share(String(n), { n })
  t.true(records.size <= 4)
  t.deepEqual(first, { n: 0 })
  t.not(records.share('0', { n: 0 }), first, 'made again after the table started over')
})
