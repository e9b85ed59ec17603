/** The server's logger with the debug tap (`l2tp-ipsec debug` reads the log as it is written). */
import { proposalPolicy, type ServerConfig } from '../config/index.js'
import { createLogger, type LogFormat, type Logger } from '../log/index.js'
import { DebugHub } from './debug/debug-hub.js'

export interface ServeLoggerOptions {
  level: string
  format: LogFormat
  /** operations.debug: only then does the log feed a tap. */
  debug: boolean
  /** ipsec.proposals, shown beside a refused proposal. */
  proposals: ServerConfig['ipsec']['proposals']
  destination?: NodeJS.WritableStream | number
}

export function createServeLogger(o: ServeLoggerOptions): { log: Logger; hub: DebugHub } {
  const hub = new DebugHub()
  hub.policy = proposalPolicy(o.proposals)
  const log = createLogger({ level: o.level, format: o.format, ...(o.destination !== undefined ? { destination: o.destination } : {}), ...(o.debug ? { tap: hub.tap } : {}) })
  hub.attach(log)
  return { log, hub }
}
