// npm run bench [-- --json] [--seconds S] [--suite NAME ...] [--sizes 64,512,1400]
// Prints one JSON object per line with --json, a table otherwise.
import { parseArgs } from 'node:util'
import { DEFAULT_SIZES, DEFAULT_SUITES, formatRow, runEspBench, TABLE_HEADER } from '../lib/bench/index.js'

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '1' },
    suite: { type: 'string', multiple: true },
    sizes: { type: 'string' },
  },
})

const seconds = Number(values.seconds)
if (!(seconds > 0)) {
  console.error(`--seconds must be a positive number, got ${values.seconds}`)
  process.exit(2)
}
const sizes = values.sizes ? values.sizes.split(',').map(Number) : [...DEFAULT_SIZES]
if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > 65000)) {
  console.error(`--sizes must be comma-separated byte counts, got ${values.sizes}`)
  process.exit(2)
}
const suites = values.suite ?? [...DEFAULT_SUITES]

if (!values.json) console.log(TABLE_HEADER)
for (const record of runEspBench({ seconds, suites, sizes })) {
  console.log(values.json ? JSON.stringify(record) : formatRow(record))
}
