// npm run churn [-- --slots 500] [--wave 100] [--checkpoints 5000,20000] [--json]
// The churn check (lib/bench/churn-check.ts): the server's control plane in
// memory with `slots` sessions alive, hung up and reconnected a wave at a
// time (each life rekeyed once); at each checkpoint (connects so far) the
// JS heap in use after a full GC and live objects by constructor. Reports
// the heap per connect between the first and the last checkpoint and every
// constructor whose live count grew by one per 100 connects or more.
// No root, no sockets.
import { parseArgs } from 'node:util'
import { formatChurnRecord, runChurnCheck } from '../lib/bench/churn-check.js'

const { values } = parseArgs({
  options: {
    slots: { type: 'string', default: '500' },
    wave: { type: 'string', default: '100' },
    checkpoints: { type: 'string', default: '5000,20000' },
    json: { type: 'boolean', default: false },
  },
})
const slots = Number(values.slots)
const wave = Number(values.wave)
const checkpoints = values.checkpoints.split(',').map(Number)
if (!(Number.isInteger(wave) && wave > 0)) throw new Error(`--wave: a positive integer, got ${values.wave}`)
if (!(Number.isInteger(slots) && slots >= 2 * wave && slots % wave === 0)) throw new Error(`--slots: a multiple of --wave, at least two waves, got ${values.slots}`)
if (checkpoints.length < 2 || checkpoints.some((c, i) => !(Number.isInteger(c) && c >= slots && (i === 0 || c > checkpoints[i - 1]!)))) {
  throw new Error(`--checkpoints: two or more ascending connect counts, each at least --slots, got ${values.checkpoints}`)
}
const { censuses: _, ...record } = await runChurnCheck({ slots, wave, checkpoints })
console.log(values.json ? JSON.stringify(record) : formatChurnRecord(record))
