/**
 * The admin socket's wire format: one JSON object per line each way.
 * Request  `{ "id": 1, "method": "kick", "params": { "id": 7 } }`
 * Response `{ "id": 1, "result": ... }` or `{ "id": 1, "error": { "code", "message" } }`.
 * Validation lives here so that the server only dispatches well-formed calls.
 */
import type { KeyExport } from '../debug/wireshark-keys.js'
import type { SessionInfo } from '../server/types.js'

export const ADMIN_METHODS = ['sessions', 'kick', 'status', 'keys'] as const
export type AdminMethod = (typeof ADMIN_METHODS)[number]

export interface AdminParams {
  sessions: Record<string, never>
  kick: { id: number }
  status: Record<string, never>
  keys: Record<string, never>
}

export interface AdminResults {
  sessions: SessionInfo[]
  kick: { id: number; kicked: true }
  status: Record<string, unknown>
  keys: KeyExport
}

export type AdminErrorCode =
  | 'ADMIN_BAD_REQUEST'
  | 'ADMIN_UNKNOWN_METHOD'
  | 'ADMIN_NO_SUCH_SESSION'
  | 'ADMIN_KEY_EXPORT_DISABLED'
  | 'ADMIN_REQUEST_TOO_LARGE'
  | 'ADMIN_INTERNAL'

export interface AdminErrorBody {
  code: string
  message: string
}

/** `id` is null when the request was too broken to carry one. */
export type AdminResponse = { id: number | null; result: unknown } | { id: number | null; error: AdminErrorBody }

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

export function encodeMessage(message: AdminRequest | AdminResponse): string {
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
