/** The server's logger with the debug tap (`l2tp-ipsec debug` reads the log as it is written). */
import { proposalPolicy, type ServerConfig } from '../config/index.js'
import { createLogger, type LogFormat, type Logger } from '../log/index.js'
import { DebugHub } from './debug/debug-hub.js'

export function createServeLogger(c: ServerConfig, flags: { logLevel?: string; logFormat?: LogFormat }, destination?: NodeJS.WritableStream | number): { log: Logger; hub: DebugHub } {
  const hub = new DebugHub()
  hub.policy = proposalPolicy(c.ipsec.proposals)
  const log = createLogger({ level: flags.logLevel ?? c.log.level, format: flags.logFormat ?? c.log.format, ...(destination !== undefined ? { destination } : {}), ...(c.operations.debug ? { tap: hub.tap } : {}) })
  hub.attach(log)
  return { log, hub }
}
