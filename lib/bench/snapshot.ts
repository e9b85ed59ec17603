/** The server process's memory and descriptors for the soak and the sessions benchmark. */
import { readdirSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** The event-loop delay histogram records whole intervals between its timer's runs: the delay is what exceeds this. */
export const LAG_RESOLUTION_MS = 10

export interface Snapshot {
  /** RSS in MB (one decimal), and in bytes. */
  rss: number
  rssBytes: number
  heapUsed: number
  heapTotal: number
  fds: number
}

/** A full collection first (so RSS compares live memory), then RSS, the JS heap and open descriptors. */
export function snapshot(): Snapshot {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
  const m = process.memoryUsage()
  return { rss: Math.round((m.rss / 2 ** 20) * 10) / 10, rssBytes: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, fds: readdirSync('/proc/self/fd').length }
}
