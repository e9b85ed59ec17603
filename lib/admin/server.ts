/**
 * The server end of the admin socket. Whoever can connect can list users and
 * end their sessions, so the socket is root-only (0600, in a 0700 directory
 * when we create it) and never exists, even briefly, with a looser mode.
 */
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { dirname } from 'node:path'
import type { AdminTarget } from '../server/types.js'
import { encodeMessage, MAX_REQUEST_BYTES, parseRequest, type AdminCall, type AdminResponse, type DebugEvent } from './protocol.js'

export interface AdminServer {
  readonly path: string
  /** Stops listening, drops open connections and removes the socket file. */
  close(): Promise<void>
}

export interface AdminServerOptions {
  /** Failures the clients are not told about in full: a throwing target, a broken connection. */
  onError?: (e: Error) => void
  /** The troubleshooting methods; absent ones answer ADMIN_DISABLED. */
  tools?: AdminTools
  /** Each state-changing request (kick, debug, capture) after it was answered: for the audit log. */
  onAction?: (action: AdminAction) => void
}

export interface AdminAction {
  method: string
  params: Record<string, unknown>
  ok: boolean
  /** The error code when refused. */
  error?: string
}

/** Thrown by a tool to refuse a request with a code the client sees. */
export class AdminRefusal extends Error {
  constructor(
    readonly code: 'ADMIN_DISABLED' | 'ADMIN_REFUSED' | 'ADMIN_NO_SUCH_SESSION',
    message: string,
  ) {
    super(message)
    this.name = 'AdminRefusal'
  }
}

export interface AdminTools {
  /** Starts following `target`; `send` takes each event. Returns what stops it (called when the connection closes). */
  debug?(target: string, send: (event: DebugEvent) => void): () => void
  captureStart?(session: number, path: string): void
  captureStop?(session: number): { packets: number; bytes: number } | undefined
}

/** What a connection holds that must end with it: a debug stream, captures it started. */
interface ConnectionState {
  cleanups: Map<string, () => void>
  stream(id: number, event: unknown): void
}

export type AdminServerErrorCode = 'ADMIN_IN_USE' | 'ADMIN_NOT_A_SOCKET'

export class AdminServerError extends Error {
  constructor(
    readonly code: AdminServerErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'AdminServerError'
  }
}

export async function startAdminServer(path: string, target: AdminTarget, options: AdminServerOptions = {}): Promise<AdminServer> {
  const report = options.onError ?? (() => {})
  // mode applies only to directories created here: an existing parent such as /run keeps its own.
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await removeStaleSocket(path)

  const connections = new Set<Socket>()
  // allowHalfOpen: a client may send its last request and shut its side; it still gets the answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket)
    socket.once('close', () => connections.delete(socket))
    serveConnection(socket, target, report, options)
  })
  await listen(server, path)
  let identity: { ino: number; dev: number }
  try {
    // Redundant when the umask could be set (see listen), the only guard when it could not.
    await chmod(path, 0o600)
    identity = await lstat(path)
  } catch (e) {
    server.close()
    throw e
  }
  server.on('error', report)

  let closing: Promise<void> | undefined
  return {
    path,
    close() {
      closing ??= (async () => {
        for (const socket of connections) socket.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
        await removeIfSame(path, identity)
      })()
      return closing
    },
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' ? new AdminServerError('ADMIN_IN_USE', `another server is running on ${path}`) : e)
    })
    // bind() runs synchronously inside listen() (exclusive: no round trip to a
    // cluster primary), so the narrowed umask covers exactly the socket's
    // creation. Files the thread pool creates meanwhile come out stricter, not looser.
    const previous = trySetUmask(0o177)
    try {
      server.listen({ path, exclusive: true }, () => {
        server.removeAllListeners('error')
        resolve()
      })
    } finally {
      if (previous !== undefined) process.umask(previous)
    }
  })
}

/** Worker threads may not change the umask; the caller then relies on chmod alone. */
function trySetUmask(mask: number): number | undefined {
  try {
    return process.umask(mask)
  } catch {
    return undefined
  }
}

/** A socket file left by a crashed server would make bind() fail; one a live server answers on must not be taken over. */
async function removeStaleSocket(path: string): Promise<void> {
  let stat
  try {
    stat = await lstat(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw e
  }
  if (!stat.isSocket()) throw new AdminServerError('ADMIN_NOT_A_SOCKET', `${path} exists and is not a socket; refusing to replace it`)
  if (await isAnswered(path)) throw new AdminServerError('ADMIN_IN_USE', `another server is running on ${path}`)
  await unlink(path).catch(ignoreMissing)
}

function isAnswered(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createConnection(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve(false)
      // A full backlog still means someone is listening.
      else if (e.code === 'EAGAIN') resolve(true)
      else reject(e)
    })
  })
}

/** Only our own socket: never one a later server put at the same path. */
async function removeIfSame(path: string, identity: { ino: number; dev: number }): Promise<void> {
  try {
    const now = await lstat(path)
    if (now.ino === identity.ino && now.dev === identity.dev) await unlink(path)
  } catch (e) {
    ignoreMissing(e)
  }
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
}

function serveConnection(socket: Socket, target: AdminTarget, report: (e: Error) => void, options: AdminServerOptions): void {
  const state: ConnectionState = {
    cleanups: new Map(),
    stream: (id, event) => {
      if (!socket.destroyed && socket.writable) socket.write(encodeMessage({ id, event }))
    },
  }
  socket.once('close', () => {
    for (const cleanup of state.cleanups.values()) {
      try {
        cleanup()
      } catch (e) {
        report(e instanceof Error ? e : new Error(String(e)))
      }
    }
    state.cleanups.clear()
  })
  let pending: Buffer[] = []
  let pendingBytes = 0
  let finished = false

  const send = (encoded: string): void => {
    // Backpressure: a client that sends requests without reading answers stops being read.
    if (!socket.write(encoded)) {
      socket.pause()
      socket.once('drain', () => socket.resume())
    }
  }
  const tooLarge = (): void => {
    finished = true
    const message = `request line longer than ${MAX_REQUEST_BYTES} bytes`
    socket.end(encodeMessage({ id: null, error: { code: 'ADMIN_REQUEST_TOO_LARGE', message } }), () => socket.destroy())
  }
  const handleLine = (bytes: Buffer): void => {
    const line = bytes.toString('utf8').trim()
    if (line !== '') send(answer(line, target, report, options, state))
  }

  socket.on('data', (chunk: Buffer) => {
    if (finished) return
    let start = 0
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      if (pendingBytes + nl - start > MAX_REQUEST_BYTES) return tooLarge()
      const line = pending.length === 0 ? chunk.subarray(start, nl) : Buffer.concat([...pending, chunk.subarray(start, nl)])
      pending = []
      pendingBytes = 0
      start = nl + 1
      handleLine(line)
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start))
      pendingBytes += chunk.length - start
      if (pendingBytes > MAX_REQUEST_BYTES) tooLarge()
    }
  })
  socket.on('end', () => {
    if (finished) return
    // A last request without its newline (`printf ... | nc -U`) is still a request.
    if (pending.length > 0) handleLine(Buffer.concat(pending))
    // The client is done (a debug stream ends with it too: close runs the cleanups).
    socket.end()
  })
  socket.on('error', (e: NodeJS.ErrnoException) => {
    // The client going away mid-answer is its business, not a server fault.
    if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') report(e)
  })
}

/** The encoded answer to one request line. */
function answer(line: string, target: AdminTarget, report: (e: Error) => void, options: AdminServerOptions, state: ConnectionState): string {
  const parsed = parseRequest(line)
  if (!parsed.ok) return encodeMessage({ id: parsed.id, error: { code: parsed.code, message: parsed.message } })
  const call = parsed.call
  const audited = call.method !== 'sessions' && call.method !== 'status'
  let encoded: string
  let response: AdminResponse
  try {
    // Encoding inside the try: a bigint or a cycle in status() is a target fault like a throw.
    response = dispatch(call, target, options.tools ?? {}, state)
    encoded = encodeMessage(response)
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e))
    if (e instanceof AdminRefusal) response = { id: call.id, error: { code: e.code, message: e.message } }
    else {
      report(error)
      response = { id: call.id, error: { code: 'ADMIN_INTERNAL', message: error.message } }
    }
    encoded = encodeMessage(response)
  }
  if (audited) {
    try {
      options.onAction?.({ method: call.method, params: { ...call.params }, ok: 'result' in response, ...('error' in response ? { error: response.error.code } : {}) })
    } catch (e) {
      report(e instanceof Error ? e : new Error(String(e)))
    }
  }
  return encoded
}

const KEY_EXPORT_DISABLED =
  'key export is off: set admin.allowKeyExport: true in the configuration and restart the server (whoever can use the admin socket then reads every session)'

function dispatch(call: AdminCall, target: AdminTarget, tools: AdminTools, state: ConnectionState): AdminResponse {
  switch (call.method) {
    case 'debug': {
      if (!tools.debug) throw new AdminRefusal('ADMIN_DISABLED', 'debug is off: set operations.debug: true in the configuration and restart')
      if (state.cleanups.has('debug')) throw new AdminRefusal('ADMIN_REFUSED', 'this connection already follows a client')
      const id = call.id
      state.cleanups.set('debug', tools.debug(call.params.target, (event) => state.stream(id, event)))
      return { id, result: { following: call.params.target } }
    }
    case 'capture-start': {
      if (!tools.captureStart || !tools.captureStop) throw new AdminRefusal('ADMIN_DISABLED', 'capture is off: set operations.capture: true in the configuration and restart')
      const { session, path } = call.params
      tools.captureStart(session, path)
      const stop = tools.captureStop
      state.cleanups.set(`capture:${session}`, () => void stop(session))
      return { id: call.id, result: { session, path } }
    }
    case 'capture-stop': {
      if (!tools.captureStop) throw new AdminRefusal('ADMIN_DISABLED', 'capture is off: set operations.capture: true in the configuration and restart')
      const session = call.params.session
      state.cleanups.delete(`capture:${session}`)
      const result = tools.captureStop(session)
      if (!result) throw new AdminRefusal('ADMIN_REFUSED', `session ${session} is not being captured`)
      return { id: call.id, result: { session, ...result } }
    }
    case 'sessions':
      return { id: call.id, result: target.sessions() }
    case 'status':
      return { id: call.id, result: target.status() }
    case 'kick': {
      const session = call.params.id
      if (target.kick(session)) return { id: call.id, result: { id: session, kicked: true } }
      return { id: call.id, error: { code: 'ADMIN_NO_SUCH_SESSION', message: `no session with id ${session}` } }
    }
    case 'keys': {
      const keys = target.exportKeys?.()
      if (keys) return { id: call.id, result: keys }
      return { id: call.id, error: { code: 'ADMIN_KEY_EXPORT_DISABLED', message: KEY_EXPORT_DISABLED } }
    }
  }
}
