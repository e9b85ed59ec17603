/**
 * The client end of the admin socket: one connection per request, so a CLI
 * invocation never has state to clean up.
 */
import { createConnection } from 'node:net'
import { encodeMessage, parseResponse, type AdminErrorCode, type AdminMethod, type AdminParams, type AdminRequest, type AdminResults } from './protocol.js'

export type AdminClientErrorCode = 'ADMIN_NOT_RUNNING' | 'ADMIN_PERMISSION' | 'ADMIN_TIMEOUT' | 'ADMIN_PROTOCOL' | AdminErrorCode

export class AdminClientError extends Error {
  constructor(
    /** One of AdminClientErrorCode, or whatever code a newer server sends. */
    readonly code: AdminClientErrorCode | (string & {}),
    message: string,
  ) {
    super(message)
    this.name = 'AdminClientError'
  }
}

export interface AdminRequestOptions {
  /** Connect plus answer (default 5000). */
  timeoutMs?: number
}

/** The result is as the server sent it: both ends ship in the same package, so it is not re-validated. */
export function adminRequest<M extends AdminMethod>(
  path: string,
  method: M,
  params?: AdminParams[M],
  options: AdminRequestOptions = {},
): Promise<AdminResults[M]> {
  const timeoutMs = options.timeoutMs ?? 5000
  const id = 1
  return new Promise((resolve, reject) => {
    const socket = createConnection(path)
    let buffered = ''
    let settled = false
    const settle = (error: AdminClientError | undefined, result?: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(result as AdminResults[M])
    }
    const timer = setTimeout(() => settle(new AdminClientError('ADMIN_TIMEOUT', `no answer from the server on ${path} within ${timeoutMs} ms`)), timeoutMs)

    socket.setEncoding('utf8')
    socket.once('connect', () => socket.write(encodeMessage({ id, method, params: params ?? {} } as AdminRequest<M>)))
    socket.on('data', (chunk: string) => {
      buffered += chunk
      const nl = buffered.indexOf('\n')
      if (nl === -1) return
      const response = parseResponse(buffered.slice(0, nl))
      if (!response) return settle(new AdminClientError('ADMIN_PROTOCOL', `the server on ${path} sent an answer that is not an admin response`))
      if ('error' in response) return settle(new AdminClientError(response.error.code, response.error.message))
      settle(undefined, response.result)
    })
    socket.once('end', () => settle(new AdminClientError('ADMIN_PROTOCOL', `the server on ${path} closed the connection without answering`)))
    socket.on('error', (e: NodeJS.ErrnoException) => settle(connectError(path, e)))
  })
}

function connectError(path: string, e: NodeJS.ErrnoException): AdminClientError {
  switch (e.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
    case 'ENOTDIR': {
      const why = e.code === 'ECONNREFUSED' ? 'the socket file is stale' : 'the socket does not exist'
      return new AdminClientError(
        'ADMIN_NOT_RUNNING',
        `no server is listening on ${path} (${why}); start one with: l2tp-ipsec serve --config FILE`,
      )
    }
    case 'EACCES':
    case 'EPERM':
      return new AdminClientError('ADMIN_PERMISSION', `permission denied on ${path}: the admin socket is root-only; run this command as root (sudo)`)
    default:
      return new AdminClientError('ADMIN_PROTOCOL', `cannot talk to the server on ${path}: ${e.message}`)
  }
}
