// npm run soak [-- --sessions 1000] [--seconds 180] [--json]
// The soak benchmark (lib/bench/soak.ts): `sessions` concurrent sessions with
// churn (connect, traffic, rekey, disconnect) for `seconds`, then one line:
// sessions and packets lost, RSS and file descriptors start/end, event-loop
// delay. Also `npm run bench -- --only soak`. Needs root. --malloc-trim: at
// the end, idle, glibc's malloc_trim(0) (the addon's mallocTrim) and RSS again.
import { parseArgs } from 'node:util'
import { formatSoakRecord, runSoakBench } from '../lib/bench/soak.js'

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '180' },
    json: { type: 'boolean', default: false },
    'malloc-trim': { type: 'boolean', default: false },
  },
})
const sessions = Number(values.sessions)
const seconds = Number(values.seconds)
if (!(Number.isInteger(sessions) && sessions > 0 && sessions <= 16000)) throw new Error(`--sessions: 1 to 16000, got ${values.sessions}`)
if (!(seconds > 0)) throw new Error(`--seconds: a positive number, got ${values.seconds}`)
const record = await runSoakBench({ sessions, seconds, mallocTrim: values['malloc-trim'] })
console.log(values.json ? JSON.stringify(record) : formatSoakRecord(record))
