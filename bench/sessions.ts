// npm run sessions [-- --counts 1000,10000] [--seconds 30] [--concurrency 50] [--json]
// The sessions benchmark (lib/bench/sessions-bench.ts): the server's memory
// with `counts` established idle sessions from one client fleet, setups per
// second, event-loop delay during LCP echoes, teardown. Also
// `npm run bench -- --only sessions`. Needs root.
import { parseArgs } from 'node:util'
import { formatSessionsRecord, runSessionsBench } from '../lib/bench/sessions-bench.js'

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '1000,10000' },
    seconds: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  },
})
const counts = values.counts.split(',').map(Number)
if (counts.some((n) => !(Number.isInteger(n) && n > 0 && n <= 16000))) throw new Error(`--counts: session counts of 1 to 16000, got ${values.counts}`)
const lagSeconds = Number(values.seconds)
if (!(lagSeconds > 0)) throw new Error(`--seconds: a positive number, got ${values.seconds}`)
const concurrency = Number(values.concurrency)
if (!(Number.isInteger(concurrency) && concurrency > 0)) throw new Error(`--concurrency: a positive integer, got ${values.concurrency}`)
for await (const r of runSessionsBench({ counts, lagSeconds, concurrency })) console.log(values.json ? JSON.stringify(r) : formatSessionsRecord(r))
