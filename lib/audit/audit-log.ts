/**
 * The append-only audit file. Each record is written with one write(2) on
 * a descriptor opened O_APPEND, mode 0600, so a line is never interleaved
 * and a crash loses at most the record being written.
 *
 * Rotation keeps the chain: when the file has grown past `maxBytes` it is
 * renamed FILE.1 (FILE.1 to FILE.2 ..., the oldest beyond `keep` removed)
 * and the new FILE starts with a `rotated` record whose prev is the last
 * hash of FILE.1. `l2tp-ipsec audit verify FILE.2 FILE.1 FILE` then checks
 * the whole history in one chain.
 *
 * A restart continues the chain from the last line of the existing file.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { chainRecord, GENESIS, parseRecord, type AuditEvent, type ChainState } from './chain.js'

export interface AuditLogOptions {
  file: string
  /** Rotate once the file is larger than this (default 10 MiB). */
  maxBytes?: number
  /** Rotated files kept: FILE.1 .. FILE.keep (default 10). */
  keep?: number
  /** Injected for tests. */
  now?: () => Date
}

export class AuditLog {
  private fd: number
  private size: number
  private state: ChainState
  private readonly maxBytes: number
  private readonly keep: number
  private readonly now: () => Date

  constructor(private readonly options: AuditLogOptions) {
    this.maxBytes = options.maxBytes ?? 10 * 1024 * 1024
    this.keep = Math.max(1, options.keep ?? 10)
    this.now = options.now ?? (() => new Date())
    mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 })
    this.state = lastState(options.file)
    this.fd = openSync(options.file, 'a', 0o600)
    this.size = fstatSync(this.fd).size
  }

  get file(): string {
    return this.options.file
  }

  /** seq and hash of the last record written. */
  get head(): ChainState {
    return { ...this.state }
  }

  /** Appends one record (rotating first when the file is full). */
  append(event: AuditEvent): void {
    if (this.size >= this.maxBytes) this.rotate()
    const { line, state } = chainRecord(this.state, event, this.now())
    const bytes = Buffer.from(`${line}\n`, 'utf8')
    writeSync(this.fd, bytes)
    this.size += bytes.length
    this.state = state
  }

  close(): void {
    if (this.fd < 0) return
    closeSync(this.fd)
    this.fd = -1
  }

  private rotate(): void {
    const file = this.options.file
    closeSync(this.fd)
    rmSync(`${file}.${this.keep}`, { force: true })
    for (let n = this.keep - 1; n >= 1; n--) if (existsSync(`${file}.${n}`)) renameSync(`${file}.${n}`, `${file}.${n + 1}`)
    renameSync(file, `${file}.1`)
    this.fd = openSync(file, 'a', 0o600)
    this.size = 0
    this.append({ type: 'rotated', previousFile: `${basename(file)}.1` })
  }
}

/** The chain state at the end of an existing file: its last line's seq and hash. */
function lastState(file: string): ChainState {
  let size: number
  try {
    size = statSync(file).size
  } catch {
    return { seq: 0, hash: GENESIS }
  }
  if (size === 0) return { seq: 0, hash: GENESIS }
  // Records are short: the last 64 KiB hold the last line.
  const length = Math.min(size, 64 * 1024)
  const buf = Buffer.alloc(length)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, buf, 0, length, size - length)
  } finally {
    closeSync(fd)
  }
  const lines = buf.toString('utf8').split('\n').filter((l) => l !== '')
  const last = lines.at(-1)
  const parsed = last === undefined ? 'empty' : parseRecord(last)
  if (typeof parsed === 'string') throw new Error(`audit: the last record of ${file} cannot be continued (${parsed}); run \`l2tp-ipsec audit verify ${file}\`, then move the file aside`)
  return { seq: parsed.seq, hash: parsed.hash }
}
