/**
 * Checks audit files: every record's own hash, `prev` equal to the hash of
 * the record before it, and `seq` going up by one, across the files given
 * in order (oldest first, as rotation names them: audit.log.2, audit.log.1,
 * audit.log). The first failure is reported with its file, line and seq.
 */
import { readFileSync } from 'node:fs'
import { GENESIS, parseRecord } from './chain.js'

export interface VerifyOk {
  ok: true
  records: number
  /** seq and hash of the last record: note them elsewhere to detect a truncated tail later. */
  last: { seq: number; hash: string } | undefined
  /** True when the first record continues an earlier file not given (its prev is not GENESIS). */
  continuesEarlierFile: boolean
}

export interface VerifyFailure {
  ok: false
  file: string
  /** 1-based line number in `file`. */
  line: number
  /** The record's seq when the line could be read, else the seq expected there. */
  seq: number
  problem: string
}

export function verifyAuditFiles(files: readonly string[], read: (file: string) => string = (f) => readFileSync(f, 'utf8')): VerifyOk | VerifyFailure {
  let records = 0
  let last: { seq: number; hash: string } | undefined
  let continuesEarlierFile = false
  for (const file of files) {
    const text = read(file)
    const lines = text.split('\n')
    // A final newline leaves one empty string; a torn last write leaves a partial line, which fails below.
    if (lines.at(-1) === '') lines.pop()
    for (let i = 0; i < lines.length; i++) {
      const expected = (last?.seq ?? 0) + 1
      const fail = (seq: number, problem: string): VerifyFailure => ({ ok: false, file, line: i + 1, seq, problem })
      const parsed = parseRecord(lines[i]!)
      if (typeof parsed === 'string') return fail(expected, parsed)
      if (last === undefined) {
        continuesEarlierFile = parsed.prev !== GENESIS
        if (!continuesEarlierFile && parsed.seq !== 1) return fail(parsed.seq, `the chain starts at seq ${parsed.seq}, not 1`)
      } else {
        if (parsed.prev !== last.hash) return fail(parsed.seq, `its prev does not match the hash of record ${last.seq} (a record before it was changed, removed or reordered)`)
        if (parsed.seq !== expected) return fail(parsed.seq, `seq ${parsed.seq} follows ${last.seq} (a record is missing or repeated)`)
      }
      last = { seq: parsed.seq, hash: parsed.hash }
      records++
    }
  }
  return { ok: true, records, last, continuesEarlierFile }
}
