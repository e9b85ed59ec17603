/**
 * The admin socket's wire format: one JSON object per line each way.
 * Request  `{ "id": 1, "method": "kick", "params": { "id": 7 } }`
 * Response `{ "id": 1, "result": ... }` or `{ "id": 1, "error": { "code", "message" } }`.
 * Validation lives here so that the server only dispatches well-formed calls.
 */
import type { KeyExport } from '../debug/wireshark-keys.js'
import type { SessionInfo } from '../server/types.js'

export const ADMIN_METHODS = ['sessions', 'kick', 'status', 'debug', 'capture-start', 'capture-stop', 'keys'] as const
export type AdminMethod = (typeof ADMIN_METHODS)[number]

export interface AdminParams {
  sessions: Record<string, never>
  kick: { id: number }
  status: Record<string, never>
  /** A user name or a peer address: the answer is a stream of `{ id, event }` lines until the connection closes. */
  debug: { target: string }
  /** An absolute path for a new pcap file. The capture stops when this connection closes. */
  'capture-start': { session: number; path: string }
  'capture-stop': { session: number }
  keys: Record<string, never>
}

export interface AdminResults {
  sessions: SessionInfo[]
  kick: { id: number; kicked: true }
  status: Record<string, unknown>
  /** The first line of the stream: what is followed. */
  debug: { following: string }
  'capture-start': { session: number; path: string }
  'capture-stop': { session: number; packets: number; bytes: number }
  keys: KeyExport
}

/** One line of a `debug` stream after its result: a step of a client's negotiation in plain words. */
export interface DebugEvent {
  time: string
  level: string
  text: string
}

export type AdminErrorCode =
  | 'ADMIN_BAD_REQUEST'
  | 'ADMIN_UNKNOWN_METHOD'
  | 'ADMIN_NO_SUCH_SESSION'
  | 'ADMIN_KEY_EXPORT_DISABLED'
  | 'ADMIN_REQUEST_TOO_LARGE'
  | 'ADMIN_INTERNAL'
  /** debug or capture while the configuration does not allow it. */
  | 'ADMIN_DISABLED'
  /** capture: bad path, file exists, not captured... */
  | 'ADMIN_REFUSED'

export interface AdminErrorBody {
  code: string
  message: string
}

/** `id` is null when the request was too broken to carry one. */
export type AdminResponse = { id: number | null; result: unknown } | { id: number | null; error: AdminErrorBody }

/** A line of a stream (debug), after the request's result. */
export interface AdminStreamLine {
  id: number
  event: unknown
}

/** The longest request line the server reads; a client has no reason to send more than a few hundred bytes. */
export const MAX_REQUEST_BYTES = 64 * 1024

export interface AdminRequest<M extends AdminMethod = AdminMethod> {
  id: number
  method: M
  params: AdminParams[M]
}

/** A validated request, narrowed by its method. */
export type AdminCall = { [M in AdminMethod]: AdminRequest<M> }[AdminMethod]

export type ParsedRequest = { ok: true; call: AdminCall } | { ok: false; id: number | null; code: AdminErrorCode; message: string }

/** Which params each method takes, and how each is checked; anything else is refused so a typo is not silently ignored. */
const PARAMS: { [M in AdminMethod]: Record<string, (v: unknown) => string | undefined> } = {
  sessions: {},
  kick: { id: (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'must be a non-negative integer (a session id from `sessions`)') },
  status: {},
  debug: { target: (v) => (typeof v === 'string' && v.length > 0 && v.length <= 256 ? undefined : 'must be a user name or a peer address') },
  'capture-start': {
    session: (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'must be a non-negative integer (a session id from `sessions`)'),
    path: (v) => (typeof v === 'string' && v.startsWith('/') && !v.includes('\0') ? undefined : 'must be an absolute path'),
  },
  'capture-stop': { session: (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'must be a non-negative integer') },
  keys: {},
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function parseRequest(line: string): ParsedRequest {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (e) {
    return { ok: false, id: null, code: 'ADMIN_BAD_REQUEST', message: `request is not valid JSON: ${(e as Error).message}` }
  }
  if (!isRecord(value)) return { ok: false, id: null, code: 'ADMIN_BAD_REQUEST', message: 'request must be a JSON object' }
  if (!Number.isSafeInteger(value.id)) return { ok: false, id: null, code: 'ADMIN_BAD_REQUEST', message: 'request "id" must be an integer' }
  const id = value.id as number
  const bad = (code: AdminErrorCode, message: string): ParsedRequest => ({ ok: false, id, code, message })
  if (typeof value.method !== 'string') return bad('ADMIN_BAD_REQUEST', 'request "method" must be a string')
  const method = value.method
  if (!(ADMIN_METHODS as readonly string[]).includes(method)) {
    return bad('ADMIN_UNKNOWN_METHOD', `unknown method ${JSON.stringify(method)}; one of ${ADMIN_METHODS.join(', ')}`)
  }
  const params = value.params ?? {}
  if (!isRecord(params)) return bad('ADMIN_BAD_REQUEST', 'request "params" must be an object')
  const checks = PARAMS[method as AdminMethod]
  for (const name of Object.keys(params)) {
    if (!Object.hasOwn(checks, name)) return bad('ADMIN_BAD_REQUEST', `unknown param "${name}" for ${method}`)
  }
  for (const [name, check] of Object.entries(checks)) {
    const problem = check(params[name])
    if (problem) return bad('ADMIN_BAD_REQUEST', `param "${name}" ${problem}, got ${JSON.stringify(params[name]) ?? 'nothing'}`)
  }
  return { ok: true, call: { id, method, params } as AdminCall }
}

export function encodeMessage(message: AdminRequest | AdminResponse | AdminStreamLine): string {
  return JSON.stringify(message) + '\n'
}

/** Checks the shape of a response line; the result itself is trusted (same package on both ends). */
export function parseResponse(line: string): AdminResponse | undefined {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!isRecord(value) || !(value.id === null || typeof value.id === 'number')) return undefined
  if ('error' in value) {
    const error = value.error
    if (!isRecord(error) || typeof error.code !== 'string' || typeof error.message !== 'string') return undefined
    return { id: value.id, error: { code: error.code, message: error.message } }
  }
  if (!('result' in value)) return undefined
  return { id: value.id, result: value.result }
}
