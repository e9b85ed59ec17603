/**
 * The audit log's hash chain. Each record is one JSON line; its `prev` is
 * the `hash` of the record before it (GENESIS for the very first), and its
 * `hash` is the SHA-256 of the line as written without the hash field:
 *
 *   body = {"seq":7,"time":"…","type":"session-up",…,"prev":"<64 hex>"}
 *   line = body minus its closing brace + ,"hash":"<sha256(body)>"}
 *
 * Changing any byte of a record breaks its own hash; removing or reordering
 * records breaks the next record's `prev` or the `seq` sequence. The hash
 * covers the exact bytes, so verification never depends on re-serialising.
 */
import { createHash } from 'node:crypto'

/** The `prev` of the first record of a new chain. */
export const GENESIS = '0'.repeat(64)

/** A record before it is chained: `type` names the event, the rest are its fields. */
export interface AuditEvent {
  type: string
  [field: string]: unknown
}

export interface ChainState {
  /** The last record's seq (0 before the first). */
  seq: number
  /** The last record's hash (GENESIS before the first). */
  hash: string
}

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** The next line of the chain (without its newline) and the state after it. */
export function chainRecord(state: ChainState, event: AuditEvent, time: Date): { line: string; state: ChainState } {
  const seq = state.seq + 1
  const { type, ...fields } = event
  const body = JSON.stringify({ seq, time: time.toISOString(), type, ...fields, prev: state.hash })
  const hash = sha256Hex(body)
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, state: { seq, hash } }
}

export interface ParsedRecord {
  seq: number
  type: string
  prev: string
  hash: string
  /** The record's fields (seq, time, type, prev and the event's own). */
  record: Record<string, unknown>
}

/** One line taken apart; a string says what is wrong with it. */
export function parseRecord(line: string): ParsedRecord | string {
  const m = HASH_SUFFIX.exec(line)
  if (!m) return 'no "hash" field at the end of the line'
  const body = `${line.slice(0, m.index)}}`
  const hash = m[1]!
  if (sha256Hex(body) !== hash) return 'its hash does not match its content (the record was changed)'
  let record: unknown
  try {
    record = JSON.parse(body)
  } catch {
    return 'not valid JSON'
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return 'not a JSON object'
  const r = record as Record<string, unknown>
  if (!Number.isSafeInteger(r.seq) || typeof r.type !== 'string' || typeof r.prev !== 'string' || !/^[0-9a-f]{64}$/.test(r.prev)) return 'seq, type or prev missing or malformed'
  return { seq: r.seq as number, type: r.type, prev: r.prev, hash, record: r }
}
