// A durable FIFO of JSON records for accounting: an append-only file of
// lines, `{"a":seq,"r":record}` when a record is queued and `{"d":seq}` when
// it was delivered, each fdatasync'ed before the call returns, so a record
// that `push` returned for survives a crash of the process (and of the
// machine, as far as the disk keeps its promise).
//
// Opening replays the file and rewrites it with only the undelivered
// records (temp file, fsync, rename, fsync of the directory), which also
// discards a last line torn by a crash. While running, the file is
// rewritten the same way once delivered lines outnumber `compactAfter` and
// the live records.
//
// Synchronous I/O on purpose: it orders the lines without a write queue,
// and accounting writes a few records per session, not per packet. Without
// a path the queue lives in memory only (nothing survives a restart).
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'

export interface QueueOptions {
  /** The file; absent: in memory. */
  path?: string
  /** Oldest records are dropped (and counted) beyond this many (default 100,000). */
  maxRecords?: number
  /** Compact once this many delivered lines are in the file (default 1,000). */
  compactAfter?: number
}

export interface QueueEntry<T> {
  seq: number
  record: T
}

export class PersistentQueue<T> {
  /** Records dropped because the queue was full, and torn or unreadable lines skipped when opening. */
  readonly counters = { dropped: 0, skippedLines: 0, compactions: 0 }
  private readonly path: string | undefined
  private readonly maxRecords: number
  private readonly compactAfter: number
  private readonly entries = new Map<number, T>()
  private fd: number | undefined
  private nextSeq = 1
  private doneLines = 0

  constructor(options: QueueOptions = {}) {
    this.path = options.path
    this.maxRecords = options.maxRecords ?? 100_000
    this.compactAfter = options.compactAfter ?? 1000
    if (this.path) {
      this.load(this.path)
      this.compact()
    }
  }

  get size(): number {
    return this.entries.size
  }

  /** Undelivered records, oldest first. */
  pending(): QueueEntry<T>[] {
    return [...this.entries].map(([seq, record]) => ({ seq, record }))
  }

  /** Undelivered records, oldest first, lazily (the delivery loop reads only the first few). */
  *iterate(): IterableIterator<QueueEntry<T>> {
    for (const [seq, record] of this.entries) yield { seq, record }
  }

  has(seq: number): boolean {
    return this.entries.has(seq)
  }

  /** Queues a record durably; returns its sequence number. */
  push(record: T): number {
    const seq = this.nextSeq++
    this.entries.set(seq, record)
    this.append({ a: seq, r: record })
    while (this.entries.size > this.maxRecords) {
      const oldest = this.entries.keys().next().value as number
      this.done(oldest)
      this.counters.dropped++
    }
    return seq
  }

  /** Marks a record delivered (idempotent). */
  done(seq: number): void {
    if (!this.entries.delete(seq)) return
    this.append({ d: seq })
    this.doneLines++
    if (this.doneLines >= this.compactAfter && this.doneLines > this.entries.size) this.compact()
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }

  private append(line: object): void {
    if (!this.path) return
    this.fd ??= openSync(this.path, 'a', 0o600)
    writeSync(this.fd, `${JSON.stringify(line)}\n`)
    fdatasyncSync(this.fd)
  }

  private load(path: string): void {
    if (!existsSync(path)) return
    const text = readFileSync(path, 'utf8')
    for (const line of text.split('\n')) {
      if (!line) continue
      let parsed: { a?: unknown; r?: unknown; d?: unknown }
      try {
        parsed = JSON.parse(line) as typeof parsed
      } catch {
        this.counters.skippedLines++ // a line torn by a crash
        continue
      }
      if (typeof parsed.a === 'number' && parsed.r !== undefined) this.entries.set(parsed.a, parsed.r as T)
      else if (typeof parsed.d === 'number') this.entries.delete(parsed.d)
      else this.counters.skippedLines++
      const seq = typeof parsed.a === 'number' ? parsed.a : typeof parsed.d === 'number' ? parsed.d : 0
      if (seq >= this.nextSeq) this.nextSeq = seq + 1
    }
  }

  /** Rewrites the file with the live records only, atomically. */
  private compact(): void {
    if (!this.path) return
    this.close()
    const temp = `${this.path}.tmp`
    const fd = openSync(temp, 'w', 0o600)
    try {
      const body = [...this.entries].map(([a, r]) => `${JSON.stringify({ a, r })}\n`).join('')
      if (body) writeSync(fd, body)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, this.path)
    const dir = openSync(dirname(this.path), 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
    this.doneLines = 0
    this.counters.compactions++
  }
}
