/**
 * A long-lived admin connection, for the methods whose effect lasts as long
 * as the connection: `debug` (a stream of events) and `capture-start` (the
 * capture stops when the connection closes). Requests are answered in
 * order; stream lines (`{ id, event }`) go to `onEvent`.
 */
import { createConnection, type Socket } from 'node:net'
import { AdminClientError } from './client.js'
import { encodeMessage, type AdminMethod, type AdminParams, type AdminRequest, type AdminResults } from './protocol.js'

export interface AdminSession {
  request<M extends AdminMethod>(method: M, params: AdminParams[M]): Promise<AdminResults[M]>
  /** Resolves when the server closes the connection or close() is called. */
  readonly closed: Promise<void>
  close(): void
}

export function openAdminSession(path: string, onEvent: (event: unknown) => void = () => {}, timeoutMs = 5000): Promise<AdminSession> {
  return new Promise((resolve, reject) => {
    const socket: Socket = createConnection(path)
    const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
    let nextId = 1
    let buffered = ''
    let resolveClosed!: () => void
    const closed = new Promise<void>((r) => (resolveClosed = r))
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new AdminClientError('ADMIN_TIMEOUT', `no connection to ${path} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.once('connect', () => {
      clearTimeout(timer)
      resolve({
        request: (method, params) =>
          new Promise((ok, fail) => {
            const id = nextId++
            waiting.set(id, { resolve: ok as (v: unknown) => void, reject: fail })
            socket.write(encodeMessage({ id, method, params } as AdminRequest))
          }),
        closed,
        close: () => socket.destroy(),
      })
    })
    socket.on('data', (chunk: string) => {
      buffered += chunk
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        let message: { id?: unknown; result?: unknown; error?: { code: string; message: string }; event?: unknown }
        try {
          message = JSON.parse(line) as typeof message
        } catch {
          continue
        }
        if ('event' in message) {
          onEvent(message.event)
          continue
        }
        const w = typeof message.id === 'number' ? waiting.get(message.id) : undefined
        if (!w) continue
        waiting.delete(message.id as number)
        if (message.error) w.reject(new AdminClientError(message.error.code, message.error.message))
        else w.resolve(message.result)
      }
    })
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const error =
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? new AdminClientError('ADMIN_NOT_RUNNING', `no server is listening on ${path}`)
          : e.code === 'EACCES' || e.code === 'EPERM'
            ? new AdminClientError('ADMIN_PERMISSION', `permission denied on ${path}: the admin socket is root-only; run this command as root (sudo)`)
            : new AdminClientError('ADMIN_PROTOCOL', `cannot talk to the server on ${path}: ${e.message}`)
      reject(error)
      for (const w of waiting.values()) w.reject(error)
      waiting.clear()
    })
    socket.once('close', () => {
      for (const w of waiting.values()) w.reject(new AdminClientError('ADMIN_PROTOCOL', `the server on ${path} closed the connection`))
      waiting.clear()
      resolveClosed()
    })
  })
}
