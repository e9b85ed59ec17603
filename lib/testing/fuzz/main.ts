/**
 * `npm run fuzz:js -- [--seconds S] [--seed N] [TARGET...]`: the JS fuzz
 * targets of lib/testing/fuzz for S seconds each (default 60), one JSON
 * line per target: {"target","executions","seconds","seed"[,"failure"]}.
 * A failure is also written to __test__/vectors/fuzz/<target>/crash-<sha1>.json
 * (input and error): fix the code, add what it was to the file, and the
 * tests replay it from then on. Exit 1 if any target failed.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runFuzzTarget } from './run.js'
import { VECTORS } from './seeds.js'
import { FUZZ_TARGETS } from './targets.js'

const { values, positionals } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, seed: { type: 'string' } }, allowPositionals: true })
const unknown = positionals.filter((p) => !FUZZ_TARGETS.some((t) => t.name === p))
if (unknown.length) {
  console.error(`unknown target(s) ${unknown.join(', ')}; targets: ${FUZZ_TARGETS.map((t) => t.name).join(', ')}`)
  process.exit(2)
}
let failed = false
for (const target of FUZZ_TARGETS) {
  if (positionals.length && !positionals.includes(target.name)) continue
  const result = await runFuzzTarget(target, { seconds: Number(values.seconds), ...(values.seed !== undefined ? { seed: Number(values.seed) } : {}) })
  console.log(JSON.stringify(result))
  if (result.failure) {
    failed = true
    const dir = join(VECTORS, 'fuzz', target.name)
    mkdirSync(dir, { recursive: true })
    const name = `crash-${createHash('sha1').update(JSON.stringify(result.failure.input)).digest('hex').slice(0, 12)}.json`
    writeFileSync(join(dir, name), `${JSON.stringify({ found: `npm run fuzz:js, seed ${result.seed}`, error: result.failure.error, input: result.failure.input }, null, 2)}\n`)
    console.error(`${target.name}: failure kept in ${join(dir, name)}`)
  }
}
process.exit(failed ? 1 : 0)
