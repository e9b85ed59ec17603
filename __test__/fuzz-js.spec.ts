// The JS fuzz harness (lib/testing/fuzz, README "Fuzzing and Miri"): a
// bounded run of every target (seconds each; `npm run fuzz:js` runs longer),
// and every crash it ever found replayed from __test__/vectors/fuzz/<target>/.
// FUZZ_SECONDS changes the budget per target, FUZZ_SEED fixes fast-check's seed.
import test from 'ava'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { applyEdits } from '../lib/testing/fuzz/mutate.js'
import { runFuzzTarget } from '../lib/testing/fuzz/run.js'
import { VECTORS } from '../lib/testing/fuzz/seeds.js'
import { FUZZ_TARGETS } from '../lib/testing/fuzz/targets.js'
import { onlyTyped, FuzzPropertyError } from '../lib/testing/fuzz/target.js'

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 2)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

for (const target of FUZZ_TARGETS) {
  test.serial(`fuzz ${target.name}: ${SECONDS} s of mutated inputs break no property`, async (t) => {
    const result = await runFuzzTarget(target, { seconds: SECONDS, ...(SEED !== undefined ? { seed: SEED } : {}) })
    t.log(`${target.name}: ${result.executions} executions in ${result.seconds.toFixed(1)} s (seed ${result.seed})`)
    t.is(result.failure, undefined, `seed ${result.seed}, input ${JSON.stringify(result.failure?.input)}: ${result.failure?.error}`)
    t.true(result.executions >= 10, `only ${result.executions} executions`)
  })

  const dir = join(VECTORS, 'fuzz', target.name)
  for (const file of existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []) {
    test(`fuzz ${target.name} crash vector ${file} no longer breaks a property`, async (t) => {
      const vector = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { input: unknown }
      await t.notThrowsAsync(async () => target.check(target.fromJson(vector.input)))
    })
  }
}

test('every target is named after a folder or has none; no stray crash folder', (t) => {
  const names = new Set(FUZZ_TARGETS.map((f) => f.name))
  const folders = existsSync(join(VECTORS, 'fuzz')) ? readdirSync(join(VECTORS, 'fuzz'), { withFileTypes: true }).filter((d) => d.isDirectory()) : []
  for (const d of folders) t.true(names.has(d.name), `__test__/vectors/fuzz/${d.name} names no target`)
})

test('the mutator applies every edit to any input, the empty one included', (t) => {
  const seed = Buffer.from('0102030405', 'hex')
  t.deepEqual(applyEdits(seed, [{ op: 'flip', at: 7, bit: 0 }]), Buffer.from('0102020405', 'hex'))
  t.deepEqual(applyEdits(seed, [{ op: 'u16', at: 4, value: 0xffff }]), Buffer.from('010203ffff', 'hex'))
  t.deepEqual(applyEdits(seed, [{ op: 'delete', at: 1, length: 2 }]), Buffer.from('010405', 'hex'))
  t.deepEqual(applyEdits(seed, [{ op: 'truncate', at: 2 }]), Buffer.from('0102', 'hex'))
  t.deepEqual(applyEdits(seed, [{ op: 'splice', seed: 0, at: 1, from: 3 }], [Buffer.from('aabbccdd', 'hex')]), Buffer.from('01dd', 'hex'))
  for (const op of ['flip', 'byte', 'u16', 'u32', 'insert', 'delete', 'duplicate', 'truncate', 'splice'] as const) {
    t.notThrows(() => applyEdits(Buffer.alloc(0), [{ op, at: 5, bit: 1, value: 1, bytes: [1], length: 3, seed: 0, from: 2 } as never]))
  }
})

test('a property breaks on an untyped exception and holds on a typed one', (t) => {
  class Typed extends Error {}
  t.notThrows(() => onlyTyped('typed', () => { throw new Typed('x') }, (e) => e instanceof Typed))
  t.throws(() => onlyTyped('untyped', () => { throw new TypeError('x') }, (e) => e instanceof Typed), { instanceOf: FuzzPropertyError })
})
