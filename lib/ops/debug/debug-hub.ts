/**
 * Feeds `l2tp-ipsec debug` sessions from the server's log. The logger's
 * tap (lib/log) receives every record at debug level and above; nothing is
 * parsed while no one is debugging, and only then is the logger's level
 * lowered to 'debug' (its destination keeps the configured level).
 */
import type { Logger } from '../../log/index.js'
import type { ProposalPolicy } from '../../ike/policy.js'
import type { DebugEvent } from '../../admin/index.js'
import { Follower } from './follow.js'
import { plainWords, type LogRecord } from './plain-words.js'

const HISTORY = 500
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

interface Watcher {
  follower: Follower
  send: (event: DebugEvent) => void
  seenUser: boolean
}

export class DebugHub {
  private readonly watchers = new Set<Watcher>()
  private readonly history: LogRecord[] = []
  private logger: Logger | undefined
  private configuredLevel = 'info'

  /** What the server accepts, shown beside a refused proposal; follows reloads. */
  policy: ProposalPolicy | undefined

  /** The tap to give createLogger. */
  readonly tap = {
    write: (line: string): void => {
      if (this.watchers.size === 0) return
      let r: LogRecord
      try {
        r = JSON.parse(line) as LogRecord
      } catch {
        return
      }
      this.history.push(r)
      if (this.history.length > HISTORY) this.history.shift()
      for (const w of this.watchers) this.offer(w, r)
    },
  }

  /** The logger whose level is lowered while someone follows a client. */
  attach(logger: Logger): void {
    this.logger = logger
    this.configuredLevel = logger.level
  }

  /** Starts following `target` (a user or a peer address); returns what stops it. */
  follow(target: string, send: (event: DebugEvent) => void): () => void {
    const w: Watcher = { follower: new Follower(target), send, seenUser: false }
    this.watchers.add(w)
    this.setLevel()
    return () => {
      this.watchers.delete(w)
      if (this.watchers.size === 0) this.history.length = 0
      this.setLevel()
    }
  }

  private offer(w: Watcher, r: LogRecord): void {
    if (!w.follower.matches(r)) return
    if (w.follower.byUser && !w.seenUser && r.user !== undefined) {
      w.seenUser = true
      for (const earlier of w.follower.backfill(r, this.history)) this.emit(w, earlier)
    }
    this.emit(w, r)
  }

  private emit(w: Watcher, r: LogRecord): void {
    try {
      w.send({ time: new Date(typeof r.time === 'number' ? r.time : Date.now()).toISOString(), level: LEVELS[r.level ?? 30] ?? 'info', text: plainWords(r, this.policy) })
    } catch {
      // a closed connection: its cleanup removes the watcher
    }
  }

  private setLevel(): void {
    if (!this.logger) return
    const want = this.watchers.size > 0 && this.logger.levels.values[this.configuredLevel]! > this.logger.levels.values['debug']! ? 'debug' : this.configuredLevel
    if (this.logger.level !== want) this.logger.level = want
  }
}
