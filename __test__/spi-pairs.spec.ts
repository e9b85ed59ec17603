// SpiPairs (lib/util/spi-pairs.ts): the ESP SA pairs an IKE SA and a binding
// keep, in a flat array instead of a Map; it must answer as the Map did.
import test from 'ava'
import { SpiPairs } from '../lib/util/spi-pairs.js'

test('set, get, has, size and delete answer as a Map, SPIs above 2^31 included', (t) => {
  const pairs = new SpiPairs()
  const map = new Map<number, number>()
  const ops: [number, number][] = [[0xc0000001, 0x80000002], [7, 8], [0xc0000001, 0xfffffffe], [9, 10]]
  for (const [i, o] of ops) {
    pairs.set(i, o)
    map.set(i, o)
  }
  t.is(pairs.size, map.size)
  t.deepEqual([...pairs], [...map])
  t.deepEqual([...pairs.keys()], [...map.keys()])
  t.is(pairs.get(0xc0000001), 0xfffffffe)
  t.is(pairs.get(1), undefined)
  t.true(pairs.has(7))
  t.false(pairs.delete(1))
  t.true(pairs.delete(7))
  map.delete(7)
  t.false(pairs.has(7))
  t.deepEqual([...pairs], [...map])
  t.true(pairs.delete(0xc0000001))
  t.true(pairs.delete(9))
  t.is(pairs.size, 0)
  t.deepEqual([...pairs], [])
  // Empty again, it takes pairs as before.
  pairs.set(1, 2)
  t.deepEqual([...pairs], [[1, 2]])
})

test('deleting while iterating visits every pair the loop started with, once', (t) => {
  const pairs = new SpiPairs()
  for (let i = 1; i <= 4; i++) pairs.set(i, i + 100)
  const seen: number[] = []
  for (const [inbound] of pairs) {
    seen.push(inbound)
    pairs.delete(inbound)
  }
  t.deepEqual(seen, [1, 2, 3, 4])
  t.is(pairs.size, 0)
})
