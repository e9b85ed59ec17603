/**
 * `l2tp-ipsec debug USER-or-PEER` and `l2tp-ipsec capture --session ID
 * --out FILE`: root-only troubleshooting over the admin socket, each
 * allowed by its operations key. Both last until Ctrl-C or --seconds.
 */
import { resolve } from 'node:path'
import { AdminClientError, openAdminSession, type AdminSession, type DebugEvent } from '../admin/index.js'
import { EXIT, type ExitCode } from './exit-codes.js'

interface Output {
  log(s: string): void
  error(s: string): void
}

export interface TroubleshootOptions {
  socket: string
  /** Stop after this many seconds (default: at SIGINT/SIGTERM). */
  seconds?: number
}

function rootOnly(what: string, out: Output): ExitCode | undefined {
  if (process.getuid?.() === 0) return undefined
  out.error(`${what} is root-only (it shows other users' traffic); run it with sudo`)
  return EXIT.PERMISSION
}

function failure(e: unknown, out: Output): ExitCode {
  out.error(e instanceof Error ? e.message : String(e))
  if (!(e instanceof AdminClientError)) return EXIT.INVALID
  if (e.code === 'ADMIN_NOT_RUNNING' || e.code === 'ADMIN_TIMEOUT') return EXIT.NOT_RUNNING
  if (e.code === 'ADMIN_PERMISSION') return EXIT.PERMISSION
  return EXIT.INVALID
}

/** Resolves at SIGINT/SIGTERM, after `seconds`, or when the server goes away. */
function untilStopped(session: AdminSession, seconds: number | undefined): Promise<'stopped' | 'server-closed'> {
  return new Promise((done) => {
    const finish = (how: 'stopped' | 'server-closed') => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      clearTimeout(timer)
      done(how)
    }
    const onSignal = () => finish('stopped')
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    const timer = seconds === undefined ? undefined : setTimeout(onSignal, seconds * 1000)
    void session.closed.then(() => finish('server-closed'))
  })
}

export function formatDebugEvent(e: DebugEvent): string {
  const time = e.time.slice(11, 23)
  return `${time} ${e.level === 'info' ? '' : `[${e.level}] `}${e.text}`
}

export async function debugCommand(target: string, opts: TroubleshootOptions & { json: boolean }, out: Output): Promise<ExitCode> {
  const denied = rootOnly('debug', out)
  if (denied !== undefined) return denied
  try {
    const session = await openAdminSession(opts.socket, (event) => out.log(opts.json ? JSON.stringify(event) : formatDebugEvent(event as DebugEvent)))
    try {
      await session.request('debug', { target })
    } catch (e) {
      session.close()
      return failure(e, out)
    }
    if (!opts.json) out.log(`following ${target}: each step of its negotiation appears as it happens (Ctrl-C stops)`)
    const how = await untilStopped(session, opts.seconds)
    session.close()
    if (how === 'server-closed') out.error('the server closed the connection')
    return EXIT.OK
  } catch (e) {
    return failure(e, out)
  }
}

export async function captureCommand(opts: TroubleshootOptions & { session: number; out: string }, out: Output): Promise<ExitCode> {
  const denied = rootOnly('capture', out)
  if (denied !== undefined) return denied
  const path = resolve(opts.out)
  try {
    const session = await openAdminSession(opts.socket)
    try {
      await session.request('capture-start', { session: opts.session, path })
    } catch (e) {
      session.close()
      return failure(e, out)
    }
    out.log(`capturing session ${opts.session} (decrypted) into ${path}; Ctrl-C stops`)
    const how = await untilStopped(session, opts.seconds)
    if (how === 'server-closed') {
      out.error('the server closed the connection; the capture ended with it')
      return EXIT.INVALID
    }
    try {
      const r = await session.request('capture-stop', { session: opts.session })
      out.log(`${r.packets} packets, ${r.bytes} bytes written to ${path}`)
    } catch (e) {
      // The session ended first: the data plane closed the file with it.
      if (e instanceof AdminClientError && e.code === 'ADMIN_REFUSED') out.log(`the session ended; ${path} holds its traffic up to then`)
      else return failure(e, out)
    } finally {
      session.close()
    }
    return EXIT.OK
  } catch (e) {
    return failure(e, out)
  }
}
