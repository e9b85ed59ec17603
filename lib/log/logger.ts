/**
 * The project's logger: pino, JSON lines for machines (journald, log
 * shippers), pino-pretty for a human at a terminal. Both write
 * synchronously: a worker-thread transport would lose the last lines, the
 * ones that say why the server stopped, when the process exits.
 */
import { createHash } from 'node:crypto'
import { isatty } from 'node:tty'
import pino from 'pino'
import pinoPretty from 'pino-pretty'

export type Logger = pino.Logger

export type LogFormat = 'json' | 'pretty' | 'auto'

export interface LoggerOptions {
  /** A pino level: trace, debug, info, warn, error, fatal, silent. */
  level: string
  /** auto: pretty when the destination is a terminal, JSON lines otherwise. */
  format: LogFormat
  /** A stream or a file descriptor; default stderr, leaving stdout to command output. */
  destination?: NodeJS.WritableStream | number
  /**
   * Also receives every record at debug level and above, as a JSON line,
   * while the logger's level is lowered to 'debug' (`l2tp-ipsec debug`
   * does that while it runs): the destination keeps `level`.
   */
  tap?: { write(line: string): void }
}

/**
 * Keys that hold secrets, wherever code might log them: at the top of the
 * merge object or one level down (`{ user: { password } }`). Deeper nesting
 * is not covered (pino's redaction has no recursive wildcard): log a
 * fingerprint, not the object holding the key.
 */
export const REDACT_PATHS: readonly string[] = [
  'psk',
  'password',
  'secret',
  'encryptionKey',
  'integrityKey',
  'ntHash',
  '*.psk',
  '*.password',
  '*.secret',
  '*.encryptionKey',
  '*.integrityKey',
  '*.ntHash',
  '*.key',
]

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? 2
  const tty = isTerminal(destination)
  const pretty = options.format === 'pretty' || (options.format === 'auto' && tty)
  const stream = pretty
    ? pinoPretty({ colorize: tty, sync: true, destination })
    : typeof destination === 'number'
      ? pino.destination({ dest: destination, sync: true })
      : destination
  const settings = { level: options.level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }
  if (!options.tap) return pino(settings, stream)
  // Redaction happens before the streams: the tap sees what the log would.
  return pino(settings, pino.multistream([{ level: options.level as pino.Level, stream }, { level: 'debug', stream: options.tap }]))
}

/** For library users who pass no logger: same type, no output, no file descriptor touched. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' }, { write() {} })
}

/**
 * Names a key without revealing it, so two log lines can be matched to the
 * same PSK or SA key. An unsalted hash: a weak PSK can still be guessed
 * offline from it, as from any IKE exchange an attacker captured.
 */
export function fingerprint(secret: Buffer | string): string {
  return `sha256:${createHash('sha256').update(secret).digest().subarray(0, 8).toString('hex')}`
}

function isTerminal(destination: NodeJS.WritableStream | number): boolean {
  if (typeof destination === 'number') return isatty(destination)
  return (destination as { isTTY?: boolean }).isTTY === true
}
